declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0-16383) of a key, its hash tag honoured (CRC16/XMODEM mod 16384). */
  export default function calculateSlot(key: string): number;
}

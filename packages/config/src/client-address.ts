// Client addresses behind load balancers, shared by the services that limit requests per address.

/**
 * The key a client address is limited under: IPv4 as is, IPv6 by its /64 (one subscriber's
 * allocation, so rotating addresses within it does not reset the budget).
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return groups.slice(0, 4).join(':') + '::/64';
}

/** Express's `trust proxy` value from its text form (`false`, `true`, a hop count, or addresses). */
export function trustProxy(value: string): boolean | number | string {
  if (value === 'false' || value === '') return false;
  if (value === 'true') return true;
  return /^\d+$/.test(value) ? Number(value) : value;
}

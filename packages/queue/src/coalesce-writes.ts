import type { Cluster, Redis } from 'ioredis';

const coalesced = Symbol('toolplane.coalescedWrites');

/**
 * Sends the commands a connection issues in one turn of the event loop as one socket write. ioredis
 * writes every command on its own: one `write` system call (and, over loopback, one pass through the
 * receiving TCP stack) per command, the largest single cost in the edge's and the worker's CPU
 * profiles. The socket is corked at the first write of a turn and uncorked in that turn's check phase
 * (`setImmediate`), after every socket event of its poll phase: the enqueues of all requests that
 * arrived together leave as one write. The order of commands is unchanged (unlike ioredis's
 * auto-pipelining, which BullMQ does not support), only their packing. Applied to each new socket of
 * the connection (reconnects). A Cluster's node connections are each corked the same way (ADR 0043).
 */
export function coalesceWrites<C extends Redis | Cluster>(client: C): C {
  if (client.isCluster) {
    // A cluster writes over one connection per node: each node's, present and to come, is corked the same way.
    const cluster = client as Cluster;
    if ((cluster as Cluster & { [coalesced]?: true })[coalesced]) return client;
    (cluster as Cluster & { [coalesced]?: true })[coalesced] = true;
    for (const node of cluster.nodes()) coalesceWrites(node);
    cluster.on('+node', (node: Redis) => coalesceWrites(node));
    return client;
  }
  const redis = client as Redis;
  if ((redis as Redis & { [coalesced]?: true })[coalesced]) return client;
  (redis as Redis & { [coalesced]?: true })[coalesced] = true;
  const patch = () => {
    const socket = redis.stream as (typeof redis.stream & { [coalesced]?: true }) | undefined;
    if (!socket || socket[coalesced]) return;
    socket[coalesced] = true;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    let corked = false;
    const uncork = () => {
      corked = false;
      socket.uncork();
    };
    socket.write = ((...args: unknown[]) => {
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(uncork);
      }
      return write(...args);
    }) as typeof socket.write;
  };
  redis.on('connect', patch);
  patch();
  return client;
}

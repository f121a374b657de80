import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type Prisma } from '../generated/prisma/client.ts';

export type Db = PrismaClient;
/** The client handed to `$transaction(async (tx) => …)` callbacks. */
export type Tx = Prisma.TransactionClient;

/**
 * Prisma over node-postgres (driver adapter): no query-engine binary, pure JS + wasm. A connection
 * lost while idle (PostgreSQL restarted) is reported to `onError`, never thrown: unhandled, the
 * pool's 'error' event would end the process; the pool opens a new connection for the next query.
 * Connecting gives up after 5 s (an unreachable host answers 503, not a hung request). `max`: the pool's connections.
 */
export function createDb(connectionString: string, onError: (err: Error) => void = () => undefined, max = 10): Db {
  return new PrismaClient({
    adapter: new PrismaPg(
      { connectionString, max, connectionTimeoutMillis: 5_000 },
      { onPoolError: onError, onConnectionError: onError },
    ),
  });
}

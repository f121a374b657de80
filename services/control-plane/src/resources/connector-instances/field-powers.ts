import type { Caller } from '../../http/auth.ts';
import { changedFields, refuseOriginChange, type FieldPower } from '../governing.ts';
import type { CreateInstanceBody, UpdateInstanceBody } from './schemas.ts';

/**
 * Every field of `POST /connector_instances` and `PATCH /connector_instances/{id}`. An instance is created with the
 * credentials its creator gives: its origin fields are `origin` once it holds credentials, that is on a change.
 */
export const instanceFields = {
  connector_id: 'free',
  name: 'free',
  createServer: 'free',
  // New values, written by the caller: never readable by them, never sent anywhere but the instance's origin.
  credentials: 'free',
  webhook_secret: 'free',
  base_url: 'origin',
  oauth_urls: 'origin',
} as const satisfies Record<keyof CreateInstanceBody | keyof UpdateInstanceBody, FieldPower>;

/** 403 when `body` changes where `row`'s stored credentials go and `caller` may not write the workspace's secrets. */
export function refuseInstanceOriginChange(
  caller: Caller,
  row: { name: string; baseUrl: unknown; oauthUrls: unknown },
  body: UpdateInstanceBody,
): void {
  const stored: Record<string, unknown> = { base_url: row.baseUrl, oauth_urls: row.oauthUrls };
  const moved = changedFields(instanceFields, 'origin', body, (f) => stored[f] ?? null);
  refuseOriginChange(caller, `connector instance ${row.name}`, moved);
}

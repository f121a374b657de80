import type { FieldPower } from '../governing.ts';
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

import { z } from 'zod';

const timestamp = z.iso.datetime();

/** A debug session as the API shows it (`presentSession` in sessions.ts). */
export const DebugSession = z
  .strictObject({
    id: z.uuid(),
    server_id: z.uuid(),
    opened_at: timestamp,
    ends_at: timestamp,
    closed_at: timestamp.nullable().describe('When it was stopped; null: not stopped (it may still have ended).'),
    active: z.boolean().describe('Whether it is open now: neither stopped nor past `ends_at`.'),
  })
  .meta({ id: 'DebugSession' });

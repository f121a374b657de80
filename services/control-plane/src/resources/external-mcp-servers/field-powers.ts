import type { FieldPower } from '../governing.ts';
import type { CreateExternalServerBody, UpdateExternalServerBody } from './schemas.ts';

/**
 * Every field of `POST /external_mcp_servers` and `PATCH /external_mcp_servers/{id}` (the workspace's registered
 * external MCP servers, ADR 0059/0061). Its sealed headers are its credential: a new `url` while headers are stored is
 * `origin`.
 */
export const externalServerFields = {
  name: 'free',
  url: 'origin',
  // New values, written by the caller (the others keep theirs, and their URL).
  headers: 'free',
  // Publishes every change of its tools at once: no review of what the pins hold back.
  autoAccept: 'governing',
  onChange: 'free',
  notifyWebhookUrl: 'free',
} as const satisfies Record<keyof CreateExternalServerBody | keyof UpdateExternalServerBody, FieldPower>;

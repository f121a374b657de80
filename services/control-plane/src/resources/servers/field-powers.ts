import type { FieldPower } from '../governing.ts';
import type { CreateServer, UpdateServer } from './schemas.ts';

/** Every field of `POST /mcp_manager` and `PATCH /mcp_manager/{id}`. */
export const serverFields = {
  name: 'free',
  description: 'free',
  mode: 'exposure',
  connectorInstanceId: 'exposure',
  selectedTools: 'exposure',
  externalMcpConfigs: 'exposure',
  externalMcpServers: 'exposure',
  // The caller's own upstream credential instead of the stored one: the upstream checks it; every rule still applies.
  perRequestAuth: 'exposure',
  // The staging twin (ADR 0112): turning it off sends the server's callers to production.
  twin: 'exposure',
  // Anonymous callers, whom no access policy names.
  isPublic: 'governing',
  // `run_code`: programs calling the server's tools.
  codeMode: 'governing',
  confirmTools: 'governing',
  approvalTools: 'governing',
  approvalRule: 'governing',
  // Portable rules' settings (ADR 0101): raising or removing a limit loosens it.
  ruleSettings: 'governing',
  // Result shapes, the result cache, task-only tools, forwarding the caller's token upstream, the labels every result
  // brings (`dataLabels`, ADR 0078: taking one away loosens a rule that sees the session).
  config: 'governing',
} as const satisfies Record<keyof CreateServer | keyof UpdateServer, FieldPower>;

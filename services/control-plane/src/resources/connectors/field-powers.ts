import type { FieldPower } from '../governing.ts';

/**
 * The parts of a connector's document (`PUT /connectors/{id}` replaces it whole): where its operations send its
 * instances' credentials, what each call costs against cost quotas, the result shapes its tools declare, the data-flow
 * labels its tools declare (ADR 0078: a rule that sees the session holds a call of an `external_write` tool; taking
 * the label away, or `private` from a read, loosens it).
 */
export const connectorParts = {
  origins: 'origin',
  cost: 'governing',
  result_shape: 'governing',
  labels: 'governing',
  other: 'free',
} as const satisfies Record<string, FieldPower>;

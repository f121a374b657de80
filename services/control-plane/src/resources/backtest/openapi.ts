import { z } from 'zod';

const Value = z.strictObject({
  value: z.string().nullable().describe('The API key id, person, tool or UTC day (null: the calls had none).'),
  calls: z.number().int(),
  examples: z.array(z.string()).describe('A few record ids (never of a call changed through its arguments).'),
});

const Change = z
  .strictObject({
    calls: z.number().int(),
    examples: z
      .array(z.string())
      .describe('Up to 20 record ids (`GET /execution_records/{id}`), of calls changed without their arguments.'),
    byKey: z.array(Value),
    byPerson: z.array(Value),
    byTool: z.array(Value),
    byDay: z.array(Value),
    others: z
      .strictObject({
        byKey: z.number().int(),
        byPerson: z.number().int(),
        byTool: z.number().int(),
        byDay: z.number().int(),
      })
      .describe('Calls of values past the 500 listed per dimension.'),
    fromArguments: z
      .number()
      .int()
      .nullable()
      .describe(
        'Calls whose change depends on their recorded arguments (a condition or a guardrail on arguments read them, ' +
          'or a quota or session rule after such a change; ADR 0091): counted in `calls` and the values, never in ' +
          '`examples`. Null: fewer than 5 (none included), left out of every count, value and reason.',
      ),
  })
  .meta({ id: 'BacktestChange' });

export const Backtest = z
  .strictObject({
    period: z.strictObject({ from: z.iso.datetime(), to: z.iso.datetime() }),
    calls: z.strictObject({
      replayed: z.number().int().describe('Recorded calls judged by both sets of rules.'),
      skipped: z.number().int().describe('Records of no tool of their catalog (a program of code mode, a read).'),
      withoutArguments: z
        .number()
        .int()
        .describe('Replayed calls whose record kept no arguments (refused at the edge, or no key to seal them).'),
      limit: z.number().int(),
      truncated: z.boolean().describe('The period held more records than `limit`: the newest were not replayed.'),
    }),
    changes: z.strictObject({
      newlyRefused: Change.describe('Calls the current rules let through (or hold) that the proposed ones refuse.'),
      newlyHeld: Change.describe('Calls the current rules allow that the proposed ones hold for approval.'),
      newlyAllowed: Change.describe('Calls the current rules refuse or hold that the proposed ones allow.'),
      newlyAskedToConfirm: Change.describe(
        'Calls of tools the proposed servers’ `confirmTools` newly mark: a person would be asked to confirm each first.',
      ),
      chargedDifferently: Change.describe('Calls allowed by both, charged to other quotas or amounts.'),
      newFindings: Change.describe('Calls in whose arguments the proposed guardrails find what the current do not.'),
      unjudged: Change.describe(
        'Calls whose record kept no arguments, judged differently by rules that read them: not known.',
      ),
    }),
    reasons: z
      .array(
        z.strictObject({
          change: z.enum(['newlyRefused', 'newlyHeld']),
          code: z.string().describe('`access.denied`, `access.condition`, `guardrail.blocked`, `quota.exceeded`, …'),
          rule: z.string().nullable().describe('The proposed rule that refuses or holds, by name, when one does.'),
          calls: z.number().int(),
        }),
      )
      .describe('Why the proposed rules refuse or hold those calls.'),
    findings: z
      .array(
        z.strictObject({ guardrail: z.string(), detector: z.string(), action: z.string(), calls: z.number().int() }),
      )
      .describe('The new findings in arguments, per guardrail, detector and action (never a value).'),
    notReplayed: z.array(z.string()).describe('What the replay does not judge, in words.'),
  })
  .meta({ id: 'Backtest' });

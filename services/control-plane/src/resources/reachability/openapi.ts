import { z } from 'zod';

const Witness = z
  .strictObject({
    args: z.record(z.string(), z.unknown()).describe('Arguments of a call that goes through.'),
    session: z
      .strictObject({
        labels: z.array(z.string()),
        tools_called: z.array(z.string()),
        calls: z.array(z.unknown()),
      })
      .optional()
      .describe('The session as conditions see it, when a condition reads it.'),
  })
  .describe('A call that goes through: the principal (above) and these arguments.');

const Verdict = z.strictObject({
  answer: z.enum(['yes', 'no', 'undecided']),
  witness: Witness.optional().describe('With `yes`.'),
  proof: z
    .enum(['unsat', 'not granted', 'a person must act'])
    .optional()
    .describe(
      'With `no`: the solver found no call (`unsat`), no policy grants the tool, or every call needs a person.',
    ),
  why: z.string().optional().describe('With `undecided`: what the analysis does not translate; with `no`, why.'),
  needs: z
    .array(z.string())
    .optional()
    .describe('With a person: what the call waits for (`confirmation`, `approval`, an access policy’s approval).'),
});

const Principal = z.strictObject({
  type: z.enum(['api_key', 'person']),
  key_id: z.string().optional(),
  key_name: z.string().optional(),
  username: z.string().optional(),
  groups: z.array(z.string()).optional().describe('A person’s groups (as the access policies name them).'),
});

const NewlyReachable = z.strictObject({
  principal: Principal,
  condition: z
    .string()
    .describe('The calls the change newly lets through: the condition after it and not the one before (`!(…)`).'),
  before: z.string().describe('The condition before the change (`false`: the tool was not granted).'),
  after: z.string().describe('The condition after the change.'),
  without_person: Verdict.describe('A call with nobody at hand that goes through after the change and not before.'),
  with_person: Verdict.describe('The same with a person: what the new call waits for in `needs`.'),
});

export const Reachability = z
  .strictObject({
    server: z.strictObject({ id: z.string(), name: z.string() }),
    tool: z.string(),
    principals: z.array(
      z.strictObject({
        principal: Principal,
        granted: z.boolean().describe('Some policy lets the principal see the tool.'),
        condition: z
          .string()
          .describe('What each call must meet: the policies’ conditions, `||` within a grant, `&&` across grants.'),
        policies: z.array(z.string()).describe('The ids of the policies whose conditions decide.'),
        without_person: Verdict.describe('A call with nobody at hand to confirm or approve.'),
        with_person: Verdict.describe('A call the caller’s person confirms and others approve where a rule asks.'),
      }),
    ),
    ms: z.number().describe('How long the analysis took.'),
    change: z
      .strictObject({
        newly_reachable: z
          .array(NewlyReachable)
          .describe('Each principal a call of whose goes through after the change and did not before (others: none).'),
        asked: z.number().int().describe('The principals asked about (of the rules before and after).'),
        ms: z.number().describe('How long the change’s analysis took.'),
      })
      .optional()
      .describe('With a `change` in the request: what it newly lets through, for any arguments and the session.'),
  })
  .meta({ id: 'Reachability' });

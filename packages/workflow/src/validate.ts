import type { ProblemIssue } from '@toolplane/errors';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { arazzoSchema, flowerSchema } from './schemas.ts';

/**
 * Schema validation of workflow documents, with Ajv's raw errors turned into one `{path, message}`
 * per problem (paths are JSON pointers into the submitted document).
 */

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * The Flower schema's `specificationExtension` is `oneOf: [{type: object}, {}]`, which no object can
 * satisfy (it matches both branches); any `x-` value is allowed instead, as the README intends.
 */
function patchedFlowerSchema(): Record<string, unknown> {
  const s = clone(flowerSchema) as { definitions: Record<string, unknown> };
  s.definitions.specificationExtension = {};
  return s;
}

/**
 * OAI/Arazzo-Specification#341: the 1.0 schema requires `stepId` or `workflowId` on every `retry`
 * failure action, while the specification makes them optional (a plain retry re-runs the step). We
 * keep the requirement for `goto` and only forbid giving both for `retry`.
 */
function patchedArazzoSchema(): Record<string, unknown> {
  const s = clone(arazzoSchema) as { $defs: Record<string, { allOf: Record<string, unknown>[] }> };
  const fa = s.$defs['failure-action-object']!;
  fa.allOf[0] = {
    if: { properties: { type: { const: 'goto' } }, required: ['type'] },
    then: { oneOf: [{ required: ['workflowId'] }, { required: ['stepId'] }] },
  };
  fa.allOf.push({
    if: { properties: { type: { const: 'retry' } }, required: ['type'] },
    then: { not: { required: ['workflowId', 'stepId'] } },
  });
  return s;
}

let flowerValidator: ValidateFunction | undefined;
let arazzoValidator: ValidateFunction | undefined;

/** `unicodeRegExp: false`: the Flower schema's patterns escape `_`, which unicode-mode RegExp rejects. */
function flowerValidate(): ValidateFunction {
  flowerValidator ??= new Ajv({ allErrors: true, strict: false, validateFormats: false, unicodeRegExp: false }).compile(
    patchedFlowerSchema(),
  );
  return flowerValidator;
}

function arazzoValidate(): ValidateFunction {
  arazzoValidator ??= new Ajv2020({ allErrors: true, strict: false, validateFormats: false }).compile(
    patchedArazzoSchema(),
  );
  return arazzoValidator;
}

export function validateFlowerSchema(doc: unknown): ProblemIssue[] {
  const v = flowerValidate();
  return v(doc) ? [] : toIssues(v.errors ?? []);
}

export function validateArazzoSchema(doc: unknown): ProblemIssue[] {
  const v = arazzoValidate();
  return v(doc) ? [] : toIssues(v.errors ?? []);
}

function escape(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Ajv errors → issues: the offending member named in the path, one line per problem, no branch noise. */
function toIssues(errors: readonly ErrorObject[]): ProblemIssue[] {
  const issues: (ProblemIssue & { keyword: string })[] = [];
  const consts = new Map<string, Set<string>>();
  for (const e of errors) {
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required':
        issues.push({
          keyword: e.keyword,
          path: `${e.instancePath}/${escape(String(p.missingProperty))}`,
          message: 'is required',
        });
        break;
      case 'additionalProperties':
        issues.push({
          keyword: e.keyword,
          path: `${e.instancePath}/${escape(String(p.additionalProperty))}`,
          message: 'is not an allowed property here',
        });
        break;
      case 'unevaluatedProperties':
        issues.push({
          keyword: e.keyword,
          path: `${e.instancePath}/${escape(String(p.unevaluatedProperty))}`,
          message: 'is not an allowed property here',
        });
        break;
      case 'const': {
        const set = consts.get(e.instancePath) ?? new Set<string>();
        set.add(JSON.stringify(p.allowedValue));
        consts.set(e.instancePath, set);
        break;
      }
      case 'enum':
        issues.push({
          keyword: e.keyword,
          path: e.instancePath,
          message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
        });
        break;
      case 'if':
        break;
      default:
        issues.push({ keyword: e.keyword, path: e.instancePath, message: e.message ?? e.keyword });
    }
  }
  for (const [path, values] of consts)
    issues.push({
      keyword: 'const',
      path,
      message: `must be ${[...values].length > 1 ? 'one of ' : ''}${[...values].join(', ')}`,
    });
  // A discriminator (`do`, `type`) that matches no branch makes the other branches' complaints noise.
  const discriminated = [...consts.keys()].map((p) => p.slice(0, p.lastIndexOf('/'))).filter((p) => p !== '');
  for (let k = issues.length - 1; k >= 0; k--) {
    const i = issues[k]!;
    if (i.keyword !== 'const' && discriminated.some((d) => i.path.startsWith(`${d}/`))) issues.splice(k, 1);
  }
  // A oneOf / anyOf / not failure says little when a more precise problem sits at or under its path.
  const precise = issues.filter((i) => !['oneOf', 'anyOf', 'not'].includes(i.keyword));
  const kept = issues.filter(
    (i) =>
      !['oneOf', 'anyOf'].includes(i.keyword) ||
      !precise.some((o) => o.path === i.path || o.path.startsWith(`${i.path}/`)),
  );
  const seen = new Set<string>();
  const out: ProblemIssue[] = [];
  for (const i of kept) {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: i.path, message: i.message });
  }
  return out;
}

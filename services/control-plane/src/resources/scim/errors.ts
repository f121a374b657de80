import { UserError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { ErrorRequestHandler } from 'express';
import { ScimError as PatchError } from 'scim-patch';

const errorSchema = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The `scimType`s of RFC 7644 §3.12 this service answers with. */
type ScimType =
  | 'invalidFilter'
  | 'uniqueness'
  | 'invalidValue'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'mutability'
  | 'tooMany';

/** A SCIM error (RFC 7644 §3.12): its HTTP status, the RFC's `scimType` where one applies, a detail for people. */
export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;
  constructor(status: number, detail: string, scimType?: ScimType) {
    super(detail);
    this.status = status;
    this.scimType = scimType;
  }
}

export const invalidValue = (detail: string) => new ScimError(400, detail, 'invalidValue');
export const notFound = (what: string, id: string) => new ScimError(404, `${what} ${id} not found`);

/** An error of scim-patch (it names the RFC's scimType, e.g. `invalidPath`, `noTarget`) as a SCIM error. */
function patchError(err: PatchError): ScimError {
  const known = ['invalidPath', 'noTarget', 'invalidValue', 'invalidSyntax', 'mutability'];
  const scimType = known.includes(err.scimCode ?? '') ? (err.scimCode as ScimType) : 'invalidValue';
  return new ScimError(400, err.message, scimType);
}

/** Every error on `/scim/v2` as RFC 7644 §3.12 says: `{schemas, status, scimType, detail}`, never problem+json. */
function scimErrorOf(err: unknown): ScimError {
  if (err instanceof ScimError) return err;
  if (err instanceof PatchError) return patchError(err);
  const parse = err as { type?: unknown; status?: unknown };
  if (parse.type === 'entity.parse.failed') return new ScimError(400, 'the body is not valid JSON', 'invalidSyntax');
  if (parse.type === 'entity.too.large') return new ScimError(413, 'the body is too large');
  if (err instanceof UserError) return new ScimError(err.status, err.message);
  return new ScimError(500, 'internal error');
}

export function scimErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const scim = scimErrorOf(err);
    if (scim.status >= 500) log.error({ err }, 'a SCIM request failed');
    if (scim.status === 401) res.setHeader('www-authenticate', 'Bearer realm="scim"');
    res
      .status(scim.status)
      .type('application/scim+json')
      .send(
        JSON.stringify({
          schemas: [errorSchema],
          status: String(scim.status),
          ...(scim.scimType ? { scimType: scim.scimType } : {}),
          detail: scim.message,
        }),
      );
  };
}

import { randomUUID } from 'node:crypto';
import { auditActor } from '@toolplane/access';
import { clientKey } from '@toolplane/config';
import { delegationActors, type AuditEventInput, type DelegatedToken } from '@toolplane/contracts';
import type { Request, Response } from 'express';
import { hashApiKey } from './api-keys.ts';
import type { DelegatedTokens } from './delegated-tokens.ts';
import { overBudget, tokenRequestSource } from './token-exchange.ts';

/**
 * RFC 7009 token revocation for narrowed tokens (ADR 0084, addendum), `POST /oauth/revoke` on the edge: `token` (and
 * an optional `token_type_hint`, ignored) revokes that token and, through their chains, every token narrowed from it,
 * on every edge at their next call. Who may: the token's holder (the token itself is its client authentication:
 * narrowed tokens belong to no registered client, and giving one up only takes rights away), its root API key
 * (`x-api-key`), or a narrowed token it was narrowed from (`Authorization: Bearer`); both at once is
 * `invalid_request` (400: one client authentication per request, RFC 6749 §2.3). Another credential is
 * `invalid_client` (401); an unknown, expired or already revoked token is answered 200, as §2.2 asks. The parent key
 * keeps working. Each revocation is a `token.revoked` audit event naming the chain of actors.
 */

export interface TokenRevocationDeps {
  tokens: Pick<DelegatedTokens, 'isToken' | 'read' | 'revoke'>;
  audit: { add(event: AuditEventInput): void };
  /** The edge's budget of unauthenticated requests per address: a refused client counts; past it, 429. */
  limiter: { blockedFor(address: string): Promise<number>; count(address: string): void };
}

/** Who revoked: the holder (the token alone), its root key, or an ancestor token (its id). */
type Revoker = { kind: 'holder' } | { kind: 'api_key' } | { kind: 'ancestor'; tokenId: string };

export function tokenRevocationRoute(deps: TokenRevocationDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    res.setHeader('cache-control', 'no-store');
    const address = clientKey(req.ip);
    if (await overBudget(deps.limiter, address, res)) return;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token : '';
    if (!token) return void res.status(400).json({ error: 'invalid_request', error_description: 'token is required.' });
    // One client authentication per request (RFC 6749 §2.3): a root key and a bearer token at once is neither.
    if (req.header('x-api-key') !== undefined && req.header('authorization') !== undefined)
      return void res.status(400).json({
        error: 'invalid_request',
        error_description: 'one client authentication per request: x-api-key or Authorization, not both.',
      });
    const record = deps.tokens.isToken(token) ? await deps.tokens.read(token) : null;
    // Unknown, expired or revoked already (or not a narrowed token): nothing to do, and nothing said (§2.2).
    if (!record) return void res.status(200).end();
    const revoker = await revokerOf(deps, req, record);
    if (!revoker) {
      deps.limiter.count(address);
      res.setHeader('www-authenticate', 'Bearer');
      return void res.status(401).json({
        error: 'invalid_client',
        error_description: 'the credential sent is neither the token’s root API key nor a token it was narrowed from.',
      });
    }
    await deps.tokens.revoke(record);
    deps.audit.add(revokedEvent(req, record, revoker));
    res.status(200).end();
  };
}

/** The client authentication of the request, if it may revoke `record`; undefined when it may not. */
async function revokerOf(
  deps: TokenRevocationDeps,
  req: Request,
  record: DelegatedToken,
): Promise<Revoker | undefined> {
  const key = req.header('x-api-key');
  const bearer = /^Bearer (.+)$/i.exec(req.header('authorization') ?? '')?.[1];
  if (key !== undefined)
    return record.parent.kind === 'key' && hashApiKey(key) === record.parent.keyHash ? { kind: 'api_key' } : undefined;
  if (bearer === undefined) return { kind: 'holder' };
  const ancestor = deps.tokens.isToken(bearer) ? await deps.tokens.read(bearer) : null;
  if (!ancestor || ancestor.workspaceId !== record.workspaceId || !record.chain.includes(ancestor.jti))
    return undefined;
  return { kind: 'ancestor', tokenId: ancestor.jti };
}

/** `token.revoked`: the root acts (its key or OAuth subject); the details say who revoked and the chain of actors. */
function revokedEvent(req: Request, t: DelegatedToken, revoker: Revoker): AuditEventInput {
  const actor =
    t.parent.kind === 'key'
      ? auditActor({ workspaceId: t.workspaceId, keyId: t.parent.keyId })
      : auditActor({ workspaceId: t.workspaceId, subject: t.parent.subject });
  return {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: t.workspaceId,
    actor,
    action: 'token.revoked',
    resource: { type: 'narrowed_token', id: t.jti },
    outcome: 'success',
    status: 200,
    source: tokenRequestSource(req),
    changes: null,
    details: {
      revokedBy: revoker.kind,
      ...(revoker.kind === 'ancestor' ? { byTokenId: revoker.tokenId } : {}),
      actors: delegationActors(t),
      chain: t.chain,
      expiresAt: new Date(t.exp * 1000).toISOString(),
    },
  };
}

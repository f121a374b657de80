import { randomUUID } from 'node:crypto';
import { auditActor, printable } from '@toolplane/access';
import { compileCondition, usesSession } from '@toolplane/conditions';
import { clientKey } from '@toolplane/config';
import {
  DELEGATED_TOKEN_MAX_TTL_SECONDS,
  DelegationRequest,
  delegationActors,
  taskGrantLimit,
  type ActClaim,
  type ApiKeyRecord,
  type AuditActor,
  type AuditEventInput,
  type DelegatedToken,
  type DelegationParent,
  type TaskGrant,
  type WorkspaceAccess,
} from '@toolplane/contracts';
import type { Request, Response } from 'express';
import { hashApiKey } from './api-keys.ts';
import type { DelegatedTokens } from './delegated-tokens.ts';
import { DpopRefusal, requestUrl, tokenBinding, type ProofChecker } from '@toolplane/dpop';
import type { OAuthResourceServer, TokenCheck } from './oauth.ts';

/**
 * RFC 8693 token exchange for narrowed tokens (ADR 0084), `POST /oauth/token-exchange` on the edge: the caller's
 * API key or narrowed token (`subject_token`) for a new narrowed token carrying a subset of its rights, asked for in
 * one RFC 9396 `authorization_details` entry of type `toolplane_delegation`. A narrowed subject can only narrow: each
 * right asked for must be within its own (`invalid_target` for servers and tools, `invalid_request` for calls and
 * lifetime); conditions add up. Every token made is a `token.narrowed` audit event naming the chain of actors.
 */

const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** An API key as a subject token (not a registered token type: Toolplane's own). */
const API_KEY_TYPE = 'urn:toolplane:params:oauth:token-type:api_key';

export interface TokenExchangeDeps {
  tokens: DelegatedTokens;
  keys: { authenticateHash(hash: string): Promise<ApiKeyRecord | null> };
  catalogs: { get(serverId: string): Promise<{ catalog: { workspaceId: string } } | null> };
  audit: { add(event: AuditEventInput): void };
  /** OAuth access tokens of the edge's issuer as subjects; absent: keys and narrowed tokens only. */
  oauth?: Pick<OAuthResourceServer, 'verify'> | undefined;
  /** The claim naming the external user a token is for (`OAUTH_USER_CLAIM`). */
  userClaim: string;
  /** The edge's budget of unauthenticated requests per address: a refused subject counts; past it, 429. */
  limiter: { blockedFor(address: string): Promise<number>; count(address: string): void };
  /** DPoP proofs (RFC 9449): a proof with the exchange binds the token made to its key. */
  dpop: ProofChecker;
  /** The edge's `PUBLIC_URL`, the base of the URL a proof's `htu` names (unset: the Host the request reached). */
  publicUrl?: string | undefined;
  /** The workspaces' published access, with their task grants (ADR 0108); absent: no grant can be redeemed. */
  accessPolicies?: { get(workspaceId: string): Promise<WorkspaceAccess> } | undefined;
}

/** An OAuth error answer (RFC 6749 §5.2). */
class ExchangeError extends Error {
  readonly error: string;
  /** The subject token was refused (unknown, expired, revoked): counted as an unauthenticated request. */
  readonly subject: boolean;
  constructor(error: string, description: string, subject = false) {
    super(description);
    this.error = error;
    this.subject = subject;
  }
}

/** The subject of an exchange: the credential at the root of its chain, and the narrowed token it is, if one. */
interface Subject {
  readonly parent: DelegationParent;
  readonly workspaceId: string;
  /** The root as the token's `sub` names it: `api_key:<id>` or `oauth_subject:<sub>`. */
  readonly sub: string;
  /** Who the audit trail names as acting (the key, or the OAuth subject). */
  readonly actor: AuditActor;
  /** The servers it may reach (null: every server of its workspace). */
  readonly servers: readonly string[] | null;
  /** When it expires (seconds since the epoch), if it does. */
  readonly exp?: number | undefined;
  readonly token?: DelegatedToken;
  /** The `cnf` of an OAuth subject token (its sender constraint, RFC 9449), if it carries one. */
  readonly cnf?: unknown;
}

export function tokenExchangeRoute(deps: TokenExchangeDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    res.setHeader('cache-control', 'no-store');
    const address = clientKey(req.ip);
    if (await overBudget(deps.limiter, address, res)) return;
    try {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const params = exchangeParams(body);
      const subject = await subjectOf(deps, params, params.details.servers);
      const jkt = await boundKey(deps, req, subject);
      const claims = await narrowed(deps, subject, params.details);
      const issued = await deps.tokens.issue({ ...claims.token, ...(jkt ? { cnf: { jkt } } : {}) }, claims.ancestry);
      deps.audit.add(narrowedEvent(req, subject, issued.record));
      res.json({
        access_token: issued.token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: jkt ? 'DPoP' : 'Bearer',
        expires_in: issued.record.exp - Math.floor(Date.now() / 1000),
        authorization_details: [rightsOf(issued.record)],
      });
    } catch (err) {
      if (!(err instanceof ExchangeError)) throw err;
      if (err.subject) deps.limiter.count(address);
      res.status(400).json({ error: err.error, error_description: err.message });
    }
  };
}

/**
 * The key the token made is bound to: the one of the request's DPoP proof, if it carries one (RFC 9449 §5). A bound
 * subject token is exchanged only with a proof of its own key, and its children stay bound to it.
 */
async function boundKey(deps: TokenExchangeDeps, req: Request, subject: Subject): Promise<string | undefined> {
  const proof = req.header('dpop');
  const bound = subject.token?.cnf?.jkt ?? boundJkt(subject.cnf);
  if (proof === undefined && bound === undefined) return undefined;
  let jkt: string;
  try {
    jkt = await deps.dpop.verify({ proof, method: req.method, url: requestUrl(req, deps.publicUrl) });
  } catch (err) {
    if (err instanceof DpopRefusal) throw new ExchangeError('invalid_dpop_proof', `${err.message}.`, true);
    throw err;
  }
  if (bound !== undefined && jkt !== bound)
    throw new ExchangeError('invalid_dpop_proof', 'subject_token is bound to another DPoP key.', true);
  return jkt;
}

/** The DPoP key an OAuth subject token is bound to; bound by another method (no `jkt`), refused. */
function boundJkt(cnf: unknown): string | undefined {
  const binding = tokenBinding(cnf);
  if (binding.kind === 'unchecked')
    throw new ExchangeError('invalid_request', 'subject_token is bound to a key by a method this edge does not check.');
  return binding.kind === 'dpop' ? binding.jkt : undefined;
}

function exchangeParams(body: Record<string, unknown>) {
  const text = (name: string) => (typeof body[name] === 'string' ? body[name] : undefined);
  if (text('grant_type') !== GRANT_TYPE)
    throw new ExchangeError('unsupported_grant_type', `grant_type must be ${GRANT_TYPE}.`);
  const subjectToken = text('subject_token');
  const subjectType = text('subject_token_type');
  if (!subjectToken || !subjectType)
    throw new ExchangeError('invalid_request', 'subject_token and subject_token_type are required.');
  const requested = text('requested_token_type');
  if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE)
    throw new ExchangeError('invalid_request', `requested_token_type must be ${ACCESS_TOKEN_TYPE}.`);
  if (body.actor_token !== undefined)
    throw new ExchangeError(
      'invalid_request',
      'actor_token is not supported: name the actor in authorization_details.',
    );
  return { subjectToken, subjectType, details: detailsOf(text('authorization_details')) };
}

/** The one `toolplane_delegation` entry of `authorization_details` (a JSON array); none: the subject's rights. */
function detailsOf(raw: string | undefined): DelegationRequest {
  if (raw === undefined) return { type: 'toolplane_delegation' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ExchangeError('invalid_authorization_details', 'authorization_details is not JSON.');
  }
  if (!Array.isArray(parsed) || parsed.length !== 1)
    throw new ExchangeError('invalid_authorization_details', 'authorization_details must hold exactly one entry.');
  const entry = DelegationRequest.safeParse(parsed[0]);
  if (!entry.success)
    throw new ExchangeError(
      'invalid_authorization_details',
      `authorization_details: ${entry.error.issues.map((i) => `${i.path.join('.') || 'entry'}: ${i.message}`).join('; ')}`,
    );
  return entry.data;
}

async function subjectOf(
  deps: TokenExchangeDeps,
  { subjectToken, subjectType }: { subjectToken: string; subjectType: string },
  servers: string[] | undefined,
): Promise<Subject> {
  if (deps.tokens.isToken(subjectToken)) {
    if (subjectType !== ACCESS_TOKEN_TYPE)
      throw new ExchangeError('invalid_request', `a narrowed token's subject_token_type is ${ACCESS_TOKEN_TYPE}.`);
    const token = await deps.tokens.read(subjectToken);
    if (!token) throw new ExchangeError('invalid_request', 'subject_token is invalid or expired.', true);
    const { parent } = token;
    const key = parent.kind === 'key' ? await deps.keys.authenticateHash(parent.keyHash) : undefined;
    if (key === null)
      throw new ExchangeError('invalid_request', 'the API key subject_token was narrowed from is revoked.', true);
    const actor = key ? keyActor(key) : subjectActor(token.workspaceId, token.sub);
    const servers = token.servers ?? key?.serverIds ?? null;
    return { parent, workspaceId: token.workspaceId, sub: token.sub, actor, servers, exp: token.exp, token };
  }
  if (subjectType === ACCESS_TOKEN_TYPE) return oauthSubject(deps, subjectToken, servers);
  if (subjectType !== API_KEY_TYPE)
    throw new ExchangeError(
      'invalid_request',
      `subject_token_type must be ${API_KEY_TYPE} (an API key) or ${ACCESS_TOKEN_TYPE} (an OAuth or narrowed token).`,
    );
  const keyHash = hashApiKey(subjectToken);
  const key = await deps.keys.authenticateHash(keyHash);
  if (!key) throw new ExchangeError('invalid_request', 'subject_token is not a valid API key.', true);
  if (!key.scopes.includes('runtime'))
    throw new ExchangeError('invalid_request', 'subject_token is an API key without the "runtime" scope.');
  return {
    parent: { kind: 'key', keyId: key.keyId, keyHash },
    workspaceId: key.workspaceId,
    sub: `api_key:${key.keyId}`,
    actor: keyActor(key),
    servers: key.serverIds ?? null,
  };
}

/**
 * An OAuth access token of the edge's issuer: its audience is one server's URL, so the servers must be named and the
 * token valid for each; the chain lives no longer than the token.
 */
async function oauthSubject(deps: TokenExchangeDeps, token: string, servers: string[] | undefined): Promise<Subject> {
  if (!deps.oauth) throw new ExchangeError('invalid_request', 'this edge accepts no OAuth access tokens.');
  if (!servers || servers.includes('*'))
    throw new ExchangeError('invalid_target', 'servers: name the MCP servers the OAuth access token is for.');
  let check: Extract<TokenCheck, { ok: true }> | undefined;
  for (const serverId of servers) {
    const result = await deps.oauth.verify(token, serverId);
    if (!result.ok) throw new ExchangeError('invalid_target', `servers: ${serverId}: ${result.description}.`, true);
    check = result;
  }
  const loaded = await deps.catalogs.get(servers[0]!);
  if (!loaded) throw new ExchangeError('invalid_target', `servers: no MCP server ${servers[0]}.`);
  const { workspaceId } = loaded.catalog;
  const user = check!.claims[deps.userClaim];
  return {
    parent: {
      kind: 'oauth',
      subject: check!.subject,
      groups: check!.groups,
      claims: check!.claims as Record<string, unknown>,
      ...(typeof user === 'string' && user.length > 0 ? { tokenUser: user } : {}),
    },
    workspaceId,
    sub: `oauth_subject:${check!.subject}`,
    actor: auditActor({ workspaceId, subject: check!.subject }),
    servers,
    exp: check!.claims.exp,
    ...(check!.claims.cnf !== undefined ? { cnf: check!.claims.cnf } : {}),
  };
}

const keyActor = (key: ApiKeyRecord) => auditActor({ workspaceId: key.workspaceId, keyId: key.keyId }, key.name);
const subjectActor = (workspaceId: string, sub: string) =>
  auditActor({ workspaceId, subject: sub.replace(/^oauth_subject:/, '') });

/** Each asked-for right within the subject's (refused otherwise), or the subject's where none is asked for. */
async function narrowed(deps: TokenExchangeDeps, subject: Subject, ask: DelegationRequest) {
  const { token: parent } = subject;
  const servers = await serversOf(deps, subject, ask.servers);
  const tools = within('tools', ask.tools, parent?.tools ?? null);
  const conditions = [...(parent?.conditions ?? [])];
  if (ask.condition !== undefined) {
    const compiled = compileCondition(ask.condition);
    if (!compiled.ok)
      throw new ExchangeError('invalid_request', `condition: ${compiled.problems.map((p) => p.message).join('; ')}`);
    if (usesSession(compiled))
      throw new ExchangeError('invalid_request', 'condition: a narrowed token’s condition cannot read the session.');
    conditions.push(ask.condition);
  }
  const most = Math.min(...(parent?.limits ?? []).map((l) => l.calls));
  if (ask.calls !== undefined && ask.calls > most)
    throw new ExchangeError('invalid_request', `calls: ${ask.calls} is more than the subject token's ${most}.`);
  const now = Math.floor(Date.now() / 1000);
  const longest = Math.min(now + DELEGATED_TOKEN_MAX_TTL_SECONDS, subject.exp ?? Infinity);
  const exp = ask.expires_in === undefined ? longest : now + ask.expires_in;
  if (exp > longest)
    throw new ExchangeError(
      'invalid_request',
      `expires_in: at most ${longest - now} seconds (${DELEGATED_TOKEN_MAX_TTL_SECONDS} s, and never past the subject token).`,
    );
  const act: ActClaim = { sub: ask.actor ?? `token:${randomUUID()}`, ...(parent ? { act: parent.act } : {}) };
  const redeemedGrant = await redeemed(deps, subject, ask.grant);
  const grant = redeemedGrant?.grant;
  const limits = [...(parent?.limits ?? [])];
  // A sub-grant's token spends its ancestors' budgets too (ADR 0113): each grant's limit once in the chain.
  for (const g of redeemedGrant?.chain ?? [])
    if (!limits.some((l) => l.jti === taskGrantLimit(g).jti)) limits.push(taskGrantLimit(g));
  return {
    token: {
      v: 1 as const,
      workspaceId: subject.workspaceId,
      sub: subject.sub,
      parent: subject.parent,
      act,
      iat: now,
      exp,
      servers,
      tools,
      conditions,
      ...(grant ? { grant: grant.id } : parent?.grant ? { grant: parent.grant } : {}),
    },
    ancestry: { chain: parent?.chain ?? [], limits, calls: ask.calls },
  };
}

/**
 * The task grant asked for (ADR 0108), published for the subject's workspace, neither revoked nor expired, with its
 * ancestors (a sub-grant's, ADR 0113: their budgets are spent too). A token narrowed from a grant's token keeps its
 * grant, and redeems only a sub-grant of it (a sub-agent's part of the task).
 */
async function redeemed(
  deps: TokenExchangeDeps,
  subject: Subject,
  id: string | undefined,
): Promise<{ grant: TaskGrant; chain: TaskGrant[] } | undefined> {
  if (id === undefined) return undefined;
  const grants = deps.accessPolicies ? (await deps.accessPolicies.get(subject.workspaceId)).taskGrants : undefined;
  const grant = grants?.find((g) => g.id === id);
  if (!grant) throw new ExchangeError('invalid_target', `grant: no task grant ${id} in this workspace.`);
  const held = subject.token?.grant;
  if (held !== undefined && !grant.parents?.includes(held))
    throw new ExchangeError(
      'invalid_request',
      `grant: subject_token was redeemed from task grant ${held}; it redeems only a grant derived from that one.`,
    );
  if (grant.revokedAt !== undefined) throw new ExchangeError('invalid_target', `grant: task grant ${id} was revoked.`);
  if (Date.parse(grant.expiresAt) <= Date.now())
    throw new ExchangeError('invalid_target', `grant: task grant ${id} expired.`);
  const ancestors = (grant.parents ?? []).flatMap((p) => grants!.filter((g) => g.id === p));
  return { grant, chain: [grant, ...ancestors] };
}

/** The servers asked for, each within the subject's and its key's, and of its workspace. */
async function serversOf(deps: TokenExchangeDeps, subject: Subject, asked: string[] | undefined) {
  const servers = within('servers', asked, subject.servers);
  for (const id of servers ?? []) {
    const loaded = await deps.catalogs.get(id);
    if (loaded?.catalog.workspaceId !== subject.workspaceId)
      throw new ExchangeError('invalid_target', `servers: no MCP server ${id} in this workspace.`);
  }
  return servers;
}

/** `asked` when within `limit` (null: no limit), `limit` when nothing is asked; more than `limit` is refused. */
function within(what: string, asked: string[] | undefined, limit: readonly string[] | null): string[] | null {
  if (asked === undefined || asked.includes('*')) return limit && [...limit];
  const beyond = limit ? asked.filter((x) => !limit.includes(x)) : [];
  if (beyond.length > 0)
    throw new ExchangeError('invalid_target', `${what}: ${beyond.join(', ')} beyond what subject_token may use.`);
  return [...new Set(asked)];
}

/** What a token may do, as the answer's `authorization_details` says it. */
function rightsOf(t: DelegatedToken) {
  const own = t.limits.find((l) => l.jti === t.jti);
  return {
    type: 'toolplane_delegation',
    ...(t.servers ? { servers: t.servers } : {}),
    ...(t.tools ? { tools: t.tools } : {}),
    ...(t.conditions.length > 0 ? { conditions: t.conditions } : {}),
    ...(own ? { calls: own.calls } : {}),
    ...(t.grant ? { grant: t.grant } : {}),
    actor: t.act.sub,
    actors: delegationActors(t),
    token_id: t.jti,
  };
}

/** `token.narrowed`: the root acts (a key or an OAuth subject); the details name every actor and what it may do. */
/** 429 (`slow_down`, `Retry-After`) for an address past its budget of refused requests at the token endpoints. */
export async function overBudget(
  limiter: { blockedFor(address: string): Promise<number> },
  address: string,
  res: Response,
): Promise<boolean> {
  const blockedMs = await limiter.blockedFor(address);
  if (blockedMs <= 0) return false;
  res.setHeader('retry-after', String(Math.ceil(blockedMs / 1000)));
  res.status(429).json({ error: 'slow_down', error_description: 'Too many refused requests.' });
  return true;
}

/** An audit event's source for a request to the token endpoints: the client's address and user agent. */
export function tokenRequestSource(req: Request): AuditEventInput['source'] {
  return {
    requestId: null,
    traceId: null,
    clientAddress: req.ip ?? null,
    userAgent: printable(req.header('user-agent') ?? '', 1024) || null,
  };
}

function narrowedEvent(req: Request, subject: Subject, t: DelegatedToken): AuditEventInput {
  return {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: subject.workspaceId,
    actor: subject.actor,
    action: 'token.narrowed',
    resource: { type: 'narrowed_token', id: t.jti },
    outcome: 'success',
    status: 200,
    source: tokenRequestSource(req),
    changes: null,
    details: {
      ...rightsOf(t),
      ...(subject.token ? { parentTokenId: subject.token.jti } : {}),
      expiresAt: new Date(t.exp * 1000).toISOString(),
    },
  };
}

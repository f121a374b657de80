import { createHash } from 'node:crypto';
import { decideAccess, type CallerIdentity } from '@toolplane/access';
import { clientKey } from '@toolplane/config';
import type { ApiKeyRecord, DelegationParent, Principal, StepCaller, WorkspaceAccess } from '@toolplane/contracts';
import type { ExecutionRecordSink } from '@toolplane/queue';
import { restrictCatalog, writeDenial } from '../governance/access.ts';
import { callerFactsOf, type CallerFacts } from '../pipeline/caller-facts.ts';
import { keyHashOf } from './api-keys.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { dpopChallenge, requestUrl, senderRefusal, type DpopRefusal, type ProofChecker } from '@toolplane/dpop';
import { delegatedCaller, narrowedView, type CallDelegation, type DelegationStore } from './delegated-tokens.ts';
import type { TokenCheck } from './oauth.ts';
import type { StreamCredential } from '../protocol/open-streams.ts';
import { conditionCallerOf, type ResolvedCaller } from './resolved-caller.ts';

/**
 * Who calls one MCP server, as the edge authenticated them, and the catalog they reach: made once per request by
 * `authenticate`, complete, and never changed after (every field is read-only).
 */
export interface Caller {
  /** What a job carries of the caller: its workspace, key id or OAuth subject, the external user it acts as and why. */
  readonly principal: Readonly<Principal>;
  /** The server's catalog as this caller may see it (access policies applied: `restrictCatalog`). */
  readonly loaded: LoadedCatalog;
  /** The key id, or `oauth:<sub>` (`oauth:anonymous` on a public server): scopes 2025-era session state. */
  readonly clientId: string;
  /** What the caller authenticated with: a long-lived answer ends with it (protocol/open-streams.ts). */
  readonly credential: StreamCredential;
  /** The verified OAuth access token (never an API key); undefined for key and anonymous callers. */
  readonly accessToken: string | undefined;
  /** The API key's name (key callers whose record has one): what audit events name the key by. */
  readonly keyName?: string | undefined;
  /**
   * The caller as the worker decides a workflow's steps calling hosted servers' tools (ADR 0045): made only for the
   * calls of such workflows (a plain call pays one closure, not the objects).
   */
  readonly stepCaller?: (() => StepCaller) | undefined;
  /**
   * What each rule knows of this caller, under the rule's name, each derived by the rule from what authentication
   * resolved (`pipeline/caller-facts.ts`); every call of the request reads the same.
   */
  readonly facts: CallerFacts;
}

/**
 * A request refused before MCP handling: the HTTP status, the JSON-RPC error code and message, and the headers of
 * its answer (`WWW-Authenticate`, `Retry-After`). Thrown by `authenticate`; the HTTP layer writes it as it is.
 */
export class AuthRefusal extends Error {
  readonly status: number;
  readonly code: number;
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(status: number, code: number, message: string, headers?: Readonly<Record<string, string>>) {
    super(message);
    this.name = 'AuthRefusal';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** What `authenticate` reads of a request (an express `Request` is one). */
export interface AuthRequest {
  /** The client's address as the HTTP layer resolved it (`trust proxy`): unauthenticated requests are limited by it. */
  readonly ip?: string | undefined;
  /** The route's `:serverId`. */
  readonly params: { readonly serverId?: string | undefined };
  /** The method, scheme and URL a DPoP proof names (`htm`, `htu`; RFC 9449). */
  readonly method?: string | undefined;
  readonly protocol?: string | undefined;
  readonly originalUrl?: string | undefined;
  readonly url?: string | undefined;
  /** The parsed JSON-RPC body: a `tools/call` refused by access policies leaves an execution record. */
  readonly body?: unknown;
  header(name: string): string | undefined;
}

/** What authentication reads and counts, as interfaces of the edge's own caches (fakes in authenticate.test.ts). */
export interface AuthenticatorDeps {
  /** API key records by hash, null for an unknown or revoked key (`ApiKeyCache`); `touch` records a key's last use. */
  keys: { authenticateHash(hash: string): Promise<ApiKeyRecord | null>; touch(keyId: string): void };
  catalogs: { get(serverId: string): Promise<LoadedCatalog | null> };
  accessPolicies: { get(workspaceId: string): Promise<WorkspaceAccess> };
  /** The id of a workspace's external user by name, null for none. */
  userId(workspaceId: string, username: string): Promise<string | null>;
  /**
   * Whether the name is one of a person gone (deleted, deactivated, renamed away; `formerUsers`): a token whose user
   * claim names one is refused. Absent: no name is known as gone (only the edges' own tokens are then refused).
   */
  formerUser?(workspaceId: string, username: string): Promise<boolean>;
  /** Throws the retryable `state.unavailable` unless the published state is complete: called before trusting a miss. */
  state: { assertComplete(): Promise<void> };
  /** Requests that end unauthenticated, per client address (`UnauthenticatedLimiter`). */
  limiter: { blockedFor(address: string): Promise<number>; count(address: string): void };
  /** Where a refused `tools/call` is recorded. */
  records: Pick<ExecutionRecordSink, 'add'>;
  /** OAuth access tokens (`OAuthResourceServer`); absent: API keys (and public servers) only. */
  oauth?: OAuthVerifier | undefined;
  /** Browser origins allowed to call (`ALLOWED_ORIGINS`; `*`: any). */
  allowedOrigins: readonly string[];
  /** The token claim naming the workspace's external user a token is for (`OAUTH_USER_CLAIM`). */
  userClaim: string;
  /** Narrowed tokens (ADR 0084); absent: a `tpd_` bearer is an OAuth token like any other. */
  delegations?: DelegationStore | undefined;
  /** DPoP proofs of sender-constrained tokens (RFC 9449, ADR 0106), and the `PUBLIC_URL` their `htu` is read against. */
  dpop?: { proofs: ProofChecker; publicUrl?: string | undefined } | undefined;
}

export interface OAuthVerifier {
  verify(token: string, serverId: string): Promise<TokenCheck>;
  /** The `WWW-Authenticate` value of a 401 or 403. */
  challenge(serverId: string, error?: { error: string; description: string }): string;
}

/** What a credential (or a public server's open door) established, before acting-as and access policies. */
interface Credentialed {
  readonly serverId: string;
  readonly workspaceId: string;
  /** The principal's key id (key callers) or subject (token callers; `anonymous`). */
  readonly keyId?: string;
  /** The key's name (key callers, from its record; absent from records published before names were). */
  readonly keyName?: string | undefined;
  readonly subject?: string;
  /** The caller as access decisions see the credential. */
  readonly identity: CallerIdentity;
  /** The server's whole catalog. */
  readonly loaded: LoadedCatalog;
  readonly credential: StreamCredential;
  readonly accessToken?: string | undefined;
  /** The external user an OAuth token names through its user claim. */
  readonly tokenUser?: string | undefined;
  /** An edges' own token (ADR 0082): the enterprise IdP it came from; the token's user acts `id-jag:<idp>`. */
  readonly idp?: string | undefined;
  /** The verified token's claims (for policy conditions). */
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
  /** A narrowed token's caller: the key it was narrowed from is `keyId`. */
  readonly delegation?: CallDelegation | undefined;
  /** The key is in twin mode (ADR 0112): its calls go to the staging twin on every server. */
  readonly twin?: boolean | undefined;
}

/** The external user a request acts as (`x-username`, or a token's user claim). */
interface ActingAs {
  readonly username: string;
  /** Unset for an anonymous caller: its user is never looked up (the access decision refuses it). */
  readonly userId?: string;
  /** The OAuth token's own user claim names this user: the caller is that user. */
  readonly selfUser: boolean;
}

const API_KEY_CHALLENGE = { 'www-authenticate': 'ApiKey header="x-api-key"' } as const;

/**
 * Authentication and authorisation of an MCP request, in this order: the browser origin, the budget of
 * unauthenticated requests per address, the credential (an `x-api-key`, else an OAuth bearer token when OAuth is
 * configured, else nothing on a public server), the external user it acts as (`x-username`, or the token's user
 * claim), then the workspace's access policies (ADR 0013). Resolves the `Caller`, or rejects with an `AuthRefusal`
 * (or the retryable `state.unavailable` while Redis is unreachable or its state is being restored).
 */
export function createAuthenticator(deps: AuthenticatorDeps): (req: AuthRequest) => Promise<Caller> {
  const anyOrigin = deps.allowedOrigins.includes('*');
  return async function authenticate(req) {
    const origin = req.header('origin');
    if (origin !== undefined && !anyOrigin && !deps.allowedOrigins.includes(origin))
      throw new AuthRefusal(403, -32001, `Origin ${origin} is not allowed.`);
    const address = clientKey(req.ip);
    const blockedMs = await deps.limiter.blockedFor(address);
    if (blockedMs > 0) throw tooManyUnauthenticated(blockedMs);
    const serverId = String(req.params.serverId ?? '');
    const key = req.header('x-api-key');
    const c = key
      ? await keyCaller(deps, keyHashOf(key), { serverId, address })
      : await keylessCaller(deps, req, serverId, address);
    const requested = req.header('x-username');
    // Most requests act as no one: no lookup, not even a promise.
    const acting =
      requested === undefined && c.tokenUser === undefined ? undefined : await actingAs(deps, c, requested);
    // Access policies (ADR 0013): no access to the server is a 403 (a `tools/call` among it is recorded); partial
    // access narrows the catalog this caller sees and may call.
    const identity: CallerIdentity = acting
      ? { ...c.identity, username: acting.username, ...(acting.selfUser ? { selfUser: true } : {}) }
      : c.identity;
    const access = await deps.accessPolicies.get(c.workspaceId);
    const decision = decideAccess(access, identity, serverId);
    if (!decision.allowed)
      throw accessDenied(deps, req, principalOf(c, acting, undefined), { c, reason: decision.reason });
    const principal = principalOf(c, acting, decision.actingVia);
    const who: Resolution = {
      serverId,
      principal,
      identity,
      keyName: c.keyName,
      claims: c.claims,
      narrowed: c.delegation,
      access,
      conditions: decision.conditions,
      req,
      address,
      client: undefined,
      anonymousClient,
    };
    // Each rule's facts about the caller (`pipeline/caller-facts.ts`), derived by the rule itself.
    const facts = callerFactsOf(who);
    // An anonymous caller's client a rule keyed something by: its records say which, for the backtest's replay.
    if (who.client !== undefined) principal.client = who.client;
    const loaded = restrictCatalog(c.loaded, decision.grant, decision.who);
    return {
      principal,
      loaded: c.delegation ? narrowedView(loaded, c.delegation.token) : loaded,
      clientId: c.delegation ? `delegated:${c.delegation.token.jti}` : (c.keyId ?? `oauth:${c.subject}`),
      credential: c.credential,
      accessToken: c.accessToken,
      ...(c.keyName !== undefined ? { keyName: c.keyName } : {}),
      // Not `who`: a caller kept by a long-lived answer keeps no request through it.
      stepCaller: () => ({
        identity,
        condition: conditionCallerOf({ principal, identity, keyName: c.keyName, claims: c.claims }),
      }),
      facts,
    };
  };
}

/** What authentication resolved (`ResolvedCaller`), with what an anonymous client is worked out from. */
interface Resolution extends ResolvedCaller {
  readonly req: AuthRequest;
  readonly address: string;
  /** The anonymous client, once a rule asked for it. */
  client: string | undefined;
}

/** An anonymous caller's own client: its MCP session, else its address, as a digest (the Redis key names no address). */
function anonymousClient(this: Resolution): string {
  if (this.client !== undefined) return this.client;
  const mcpSession = this.req.header('mcp-session-id');
  const client = mcpSession ? `m:${mcpSession}` : `ip:${this.address}`;
  return (this.client = createHash('sha256').update(client).digest('base64url').slice(0, 22));
}

function tooManyUnauthenticated(blockedMs: number): AuthRefusal {
  const seconds = Math.ceil(blockedMs / 1000);
  return new AuthRefusal(429, -32000, `Too many unauthenticated requests; retry in ${seconds} s.`, {
    'retry-after': String(seconds),
  });
}

/** The `WWW-Authenticate` header of a 401 (and of an OAuth 403). */
function challenge(deps: AuthenticatorDeps, serverId: string, error?: { error: string; description: string }) {
  return deps.oauth ? { 'www-authenticate': deps.oauth.challenge(serverId, error) } : API_KEY_CHALLENGE;
}

/** A request that counts against its address's budget of unauthenticated requests: 401, with the challenge. */
function unauthenticated(deps: AuthenticatorDeps, address: string, refusal: AuthRefusal): AuthRefusal {
  deps.limiter.count(address);
  return refusal;
}

/**
 * A narrowed token's caller (delegated-tokens.ts): a token bound to a DPoP key (RFC 9449) is accepted only with the
 * DPoP scheme and a valid proof of that key for this request (401 with a `DPoP` challenge otherwise); an unbound one
 * is a bearer token.
 */
function narrowedCaller(deps: AuthenticatorDeps, req: AuthRequest, presented: PresentedToken): Promise<Credentialed> {
  const { bearer, serverId, address } = presented;
  const refuse = (status: 401 | 403, message: string, headers: Record<string, string> = API_KEY_CHALLENGE) =>
    status === 401
      ? unauthenticated(deps, address, new AuthRefusal(401, -32001, message, headers))
      : new AuthRefusal(status, -32001, message);
  return delegatedCaller(deps.delegations!, bearer, {
    keyCaller: (hash) => keyCaller(deps, hash, { serverId, address }, 'The API key this token was narrowed from'),
    oauthCaller: (parent, workspaceId) => narrowedOAuthCaller(deps, parent, { serverId, workspaceId }),
    refuse,
    serverId,
    sender: (token) => checkSender(deps, req, presented, token.cnf),
  });
}

/** A token as the request presented it: `Authorization: Bearer` or `DPoP` (`dpop`), to this server, from this address. */
interface PresentedToken {
  readonly bearer: string;
  readonly dpop: boolean;
  readonly serverId: string;
  readonly address: string;
}

/** A token's sender constraint (`senderRefusal`): a failure is a 401 with the `DPoP` challenge, counted. */
async function checkSender(deps: AuthenticatorDeps, req: AuthRequest, presented: PresentedToken, cnf: unknown) {
  const refusal = await edgeSenderRefusal(deps.dpop, req, { ...presented, cnf });
  if (!refusal) return;
  const headers = { 'www-authenticate': dpopChallenge(refusal) };
  throw unauthenticated(
    deps,
    presented.address,
    new AuthRefusal(401, -32001, `Unauthorized: ${refusal.message}.`, headers),
  );
}

/** The package's judgement (`@toolplane/dpop` `senderRefusal`) on this request, its `htu` as the client called it. */
function edgeSenderRefusal(
  dpop: AuthenticatorDeps['dpop'],
  req: AuthRequest,
  presented: PresentedToken & { cnf: unknown },
): Promise<DpopRefusal | undefined> {
  const url = requestUrl(
    {
      protocol: req.protocol ?? 'http',
      originalUrl: req.originalUrl,
      url: req.url ?? '',
      header: (name) => req.header(name),
    },
    dpop?.publicUrl,
  );
  return senderRefusal(dpop?.proofs, {
    cnf: presented.cnf,
    dpopScheme: presented.dpop,
    proof: req.header('dpop'),
    method: req.method ?? '',
    url,
    accessToken: presented.bearer,
  });
}

/** A request without an API key: an OAuth token (when OAuth is configured), else the anonymous caller of a public server. */
async function keylessCaller(
  deps: AuthenticatorDeps,
  req: AuthRequest,
  serverId: string,
  address: string,
): Promise<Credentialed> {
  const [, scheme, bearer] = /^(Bearer|DPoP) (.+)$/i.exec(req.header('authorization') ?? '') ?? [];
  // The DPoP scheme (RFC 9449 §7.1): a DPoP-bound token with a proof of its key, checked with the token.
  const presented = { dpop: scheme?.toLowerCase() === 'dpop', serverId, address };
  if (bearer && deps.delegations?.isToken(bearer)) return narrowedCaller(deps, req, { ...presented, bearer });
  if (bearer && deps.oauth) return tokenCaller(deps, req, { ...presented, bearer });
  const loaded = await deps.catalogs.get(serverId);
  // `isPublic`: anyone may list and call this server's tools, without a key.
  if (loaded?.catalog.isPublic)
    return {
      serverId,
      workspaceId: loaded.catalog.workspaceId,
      subject: 'anonymous',
      identity: { anonymous: true },
      loaded,
      credential: { kind: 'anonymous' },
    };
  const message = deps.oauth
    ? 'Authentication required: send an OAuth access token or an x-api-key header.'
    : 'Authentication required: send your API key in the x-api-key header.';
  throw unauthenticated(deps, address, new AuthRefusal(401, -32001, message, challenge(deps, serverId)));
}

async function keyCaller(
  deps: AuthenticatorDeps,
  keyHash: string,
  { serverId, address }: { serverId: string; address: string },
  named = 'Invalid API key',
): Promise<Credentialed> {
  const record = await deps.keys.authenticateHash(keyHash);
  if (!record) {
    const message = named === 'Invalid API key' ? 'Invalid API key.' : `${named} is revoked, expired or unknown.`;
    throw unauthenticated(deps, address, new AuthRefusal(401, -32001, message, challenge(deps, serverId)));
  }
  if (!record.scopes.includes('runtime')) throw new AuthRefusal(403, -32001, 'This API key has no "runtime" scope.');
  const loaded = await deps.catalogs.get(serverId);
  // A server of another workspace is indistinguishable from a missing one.
  if (!loaded || loaded.catalog.workspaceId !== record.workspaceId) throw serverNotFound(serverId);
  deps.keys.touch(record.keyId);
  return {
    serverId,
    workspaceId: record.workspaceId,
    keyId: record.keyId,
    keyName: record.name,
    identity: { keyId: record.keyId, keyServerIds: record.serverIds },
    loaded,
    credential: { kind: 'key', keyHash },
    ...(record.twin ? { twin: true } : {}),
  };
}

/**
 * An OAuth access token's caller (the external issuer's or the edges' own, ADR 0082): verified for this server, then
 * its sender constraint: a token carrying `cnf.jkt` needs the DPoP scheme and a proof of that key (RFC 9449, ADR 0106).
 */
async function tokenCaller(
  deps: AuthenticatorDeps,
  req: AuthRequest,
  presented: PresentedToken,
): Promise<Credentialed> {
  const { bearer, serverId } = presented;
  const oauth = deps.oauth!;
  // The token's audience is this server's resource URL, so a valid token is valid for this server only.
  const check = await oauth.verify(bearer, serverId);
  if (!check.ok) {
    const { status, error, description } = check;
    const refusal = new AuthRefusal(status, -32001, `Unauthorized: ${description}.`, {
      'www-authenticate': oauth.challenge(serverId, { error, description }),
    });
    throw unauthenticated(deps, presented.address, refusal);
  }
  await checkSender(deps, req, presented, check.claims.cnf);
  const loaded = await deps.catalogs.get(serverId);
  if (!loaded) throw serverNotFound(serverId);
  const exp = check.claims.exp;
  const claim = check.claims[deps.userClaim];
  return {
    serverId,
    workspaceId: loaded.catalog.workspaceId,
    subject: check.subject,
    identity: { subject: check.subject, groups: check.groups },
    loaded,
    credential: { kind: 'token', expiresAt: typeof exp === 'number' ? exp * 1000 : undefined },
    // Only workflows of servers that opted in ever receive it (`$current_user.token`, see calls/tool-calls.ts).
    accessToken: bearer,
    // The edges' own tokens (ADR 0082) name their person; others by the user claim.
    tokenUser: check.user ?? (typeof claim === 'string' && claim.length > 0 ? claim : undefined),
    idp: check.idp,
    claims: check.claims,
  };
}

/** A narrowed token's OAuth parent, as `tokenCaller` makes a verified token's caller (the exchange verified it). */
async function narrowedOAuthCaller(
  deps: AuthenticatorDeps,
  parent: Extract<DelegationParent, { kind: 'oauth' }>,
  { serverId, workspaceId }: { serverId: string; workspaceId: string },
): Promise<Credentialed> {
  const loaded = await deps.catalogs.get(serverId);
  if (!loaded || loaded.catalog.workspaceId !== workspaceId) throw serverNotFound(serverId);
  return {
    serverId,
    workspaceId,
    subject: parent.subject,
    identity: { subject: parent.subject, groups: parent.groups },
    loaded,
    credential: { kind: 'token' },
    tokenUser: parent.tokenUser,
    claims: parent.claims,
  };
}

function serverNotFound(serverId: string): AuthRefusal {
  return new AuthRefusal(404, -32002, `MCP server ${serverId} not found.`);
}

/**
 * The external user the request acts as, if any: `x-username`, or without it the user an OAuth token's user claim
 * names (that token then is the user). An unknown user is refused; an anonymous caller's is never looked up.
 */
async function actingAs(
  deps: AuthenticatorDeps,
  c: Credentialed,
  requested: string | undefined,
): Promise<ActingAs | undefined> {
  const { tokenUser, workspaceId } = c;
  const claimedUserId =
    tokenUser !== undefined && (requested === undefined || requested === tokenUser)
      ? await deps.userId(workspaceId, tokenUser)
      : null;
  if (tokenUser !== undefined && claimedUserId === null && requested === undefined)
    await refuseGonePerson(deps, c, tokenUser);
  const username = requested ?? (claimedUserId ? tokenUser : undefined);
  if (username === undefined) return undefined;
  // Never looked up: an unauthenticated caller learns nothing about the workspace's users (decideAccess refuses).
  if (c.identity.anonymous) return { username, selfUser: false };
  // Tools run with this external user's connections; an unknown user is refused.
  const userId = claimedUserId ?? (await deps.userId(workspaceId, username));
  if (!userId) await deps.state.assertComplete();
  if (!userId)
    throw new AuthRefusal(
      403,
      -32001,
      `Unknown user "${username}" (x-username): no active external user has this name. Create one with POST ` +
        '/api/v1/external_users; a person your identity provider deactivated (SCIM `active: false`) is reactivated ' +
        'there (`active: true`), not created again.',
    );
  return { username, userId, selfUser: Boolean(claimedUserId) };
}

/**
 * A token whose user claim names no active person: an edges' own token (ID-JAG) always names its person,
 * and an outside issuer's token naming a person gone (deleted, deactivated, renamed away) was that person's. Either is
 * refused (403), never run as the token's subject with the shared credentials. A claim that never named a person is
 * the subject's own (docs/identity.md).
 */
async function refuseGonePerson(deps: AuthenticatorDeps, c: Credentialed, tokenUser: string): Promise<void> {
  const gone = c.idp !== undefined || ((await deps.formerUser?.(c.workspaceId, tokenUser)) ?? false);
  if (!gone) return;
  // A miss while Redis's published state is being restored is not a verdict.
  await deps.state.assertComplete();
  throw new AuthRefusal(
    403,
    -32001,
    `This token acts for the person "${tokenUser}", who is no longer an active external user of the workspace: ` +
      'it is refused (never run with the shared credentials). Reactivate the person (`active: true`), or sign in again.',
  );
}

/** A caller the access policies refuse: 403, and a refused `tools/call` leaves an execution record. */
function accessDenied(
  deps: AuthenticatorDeps,
  req: AuthRequest,
  principal: Principal,
  { c, reason }: { c: Credentialed; reason: string },
): AuthRefusal {
  const body = req.body as { method?: unknown; params?: { name?: unknown } } | undefined;
  if (body?.method === 'tools/call' && typeof body.params?.name === 'string')
    writeDenial(deps.records, principal, { catalog: c.loaded.catalog, tool: body.params.name, message: reason });
  return new AuthRefusal(403, -32001, reason);
}

/** The job's principal, made whole at once: workspace, key id or subject, then the external user and why. */
function principalOf(c: Credentialed, acting: ActingAs | undefined, actingVia: string | undefined): Principal {
  const principal: Principal =
    c.keyId !== undefined
      ? { workspaceId: c.workspaceId, keyId: c.keyId }
      : { workspaceId: c.workspaceId, subject: c.subject! };
  if (acting) {
    principal.username = acting.username;
    if (acting.userId !== undefined) principal.userId = acting.userId;
  }
  // The person an ID-JAG named acts as themself: through which IdP is what the records keep.
  if (actingVia) principal.actingVia = actingVia === 'token-user' && c.idp ? `id-jag:${c.idp}` : actingVia;
  // The staging twin (ADR 0112): the key's setting, or the server's.
  if (c.twin || c.loaded.catalog.twin === 'on') principal.twin = true;
  if (c.delegation) {
    const { token, actors } = c.delegation;
    principal.delegation = {
      tokenId: token.jti,
      actors: [...actors],
      ...(token.grant ? { grantId: token.grant } : {}),
    };
  }
  return principal;
}

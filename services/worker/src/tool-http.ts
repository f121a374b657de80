import type { ToolInvokeJob, ToolInvokeResult, HttpOperationPlan } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { idempotencyKeyFor } from './execution-lease.ts';
import { buildRequest, errorResult, sendRequest, toToolResult, type HttpLimits } from './http-operation.ts';
import { rateLimitMessage, RateLimitedError } from './rate-limits.ts';
import { recordRateLimited } from '@toolplane/telemetry';
import { redactSecrets, sentSecretForms } from './redact.ts';
import { jobDebugScrubber } from './guardrails.ts';
import type { RunOutcome } from './result-chain.ts';
import { perRequestCredentials } from './request-credentials.ts';
import { oauthAppOf, personToken, type PersonAuth } from './connect-links.ts';
import { type Invocation, type ProcessorDeps, answer, guardDeps } from './invocation.ts';

/** An HTTP tool (a connector route or an OpenAPI operation): credentials, the request, a person's token refreshed once. */

/**
 * A call past a connector instance's `rate_limits` (a plain call before it sends, or a workflow step: the run
 * stops there): recorded `rate_limited`, answered with when to retry. Nothing more is sent.
 */
export function rateLimited(call: Invocation, refusal: RateLimitedError['refusal']): ToolInvokeResult {
  const { job } = call;
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  recordRateLimited(job.serverId, job.tool);
  call.record('rejected', { errorCode: 'rate_limited', message: `retry after ${seconds} s` });
  return answer(job, errorResult(rateLimitMessage(refusal)));
}

/** A connector or OpenAPI operation: rate limits, credentials, one request, its result redacted and recorded. */
export async function runHttpTool(
  deps: ProcessorDeps,
  call: Invocation,
  plan: HttpOperationPlan,
  keyHeader: string | undefined,
): Promise<RunOutcome | ToolInvokeResult> {
  const { job, now } = call;
  // A user's calls spend that user's budget (their own account upstream).
  const allowed = await deps.rateLimits.take(plan.rateLimits, job.principal.userId);
  if (!allowed.ok) return rateLimited(call, allowed);
  const limits = { ...deps.limits, timeoutMs: Math.min(deps.limits.timeoutMs, call.remaining) };
  const { request, outcome, secretValues } = await exchangeHttp(deps, call, { plan, keyHeader, limits });
  const result = toToolResult(outcome, limits, plan.output);
  const session = await deps.debug.active(job.serverId);
  const scrub = session ? await jobDebugScrubber(guardDeps(deps), job) : undefined;
  deps.log.debug(
    { invocationId: job.invocationId, tool: job.tool, outcome: outcome.kind, ms: now() - call.started },
    'invocation done',
  );
  // The guardrails (the call's own credentials echoed back are theirs to find too), then the redaction: the chain.
  return {
    result,
    secretValues,
    ok: !result.isError,
    ...(result.isError
      ? { failure: { errorCode: outcome.kind === 'response' ? 'upstream.http_error' : `upstream.${outcome.kind}` } }
      : {}),
    ...(session
      ? { debug: { sessionId: session.sessionId, ...deps.debug.exchange(request, outcome, secretValues, scrub) } }
      : {}),
  };
}

/** An HTTP tool's request: its plan, the idempotency key's header (none: no key is added) and the limits it runs in. */
interface HttpExchange {
  plan: HttpOperationPlan;
  keyHeader: string | undefined;
  limits: HttpLimits;
}

/**
 * An HTTP tool's request with its credentials, sent; a person's token the upstream refused (401: it did nothing) is
 * refreshed once and the request sent once more (ADR 0027).
 */
export async function exchangeHttp(deps: ProcessorDeps, call: Invocation, exchange: HttpExchange) {
  const { plan, limits } = exchange;
  let credentials = await httpCredentials(deps, call, plan);
  let sent = await sendHttp(deps, call, { ...exchange, credentials, first: true });
  if (credentials.person && sent.outcome.kind === 'response' && sent.outcome.status === 401 && !call.cancel.aborted) {
    credentials = await personCredentials(deps, call, plan, credentials.person.token);
    const left = { ...limits, timeoutMs: Math.max(1, Math.min(limits.timeoutMs, call.job.deadlineAt - call.now())) };
    sent = await sendHttp(deps, call, { ...exchange, credentials, limits: left, first: false });
  }
  return sent;
}

/** One request of an HTTP tool, as `sendHttp` takes it. */
interface SendHttpOptions extends HttpExchange {
  credentials: HttpCredentials;
  /** The first request of this delivery: the lease is written before it leaves. */
  first: boolean;
}

/** One request of an HTTP tool: built with `credentials`, sent (after the lease when `first`), recorded as a step. */
async function sendHttp(deps: ProcessorDeps, call: Invocation, options: SendHttpOptions) {
  const { plan, keyHeader, limits, first } = options;
  const { credentials, given } = options.credentials;
  const { job, now } = call;
  const request = buildRequest(plan, job.arguments, credentials);
  // The same key on every delivery, so the API can drop a repeat (unless the caller passed one).
  if (keyHeader && request.headers[keyHeader.toLowerCase()] === undefined)
    request.headers[keyHeader.toLowerCase()] = idempotencyKeyFor(job.invocationId);
  // The values, and the forms they took in the bytes of this request (redact.ts).
  const secretValues = [...given, ...sentSecretForms(request, given)];
  const redactedUrl = redactSecrets({ content: [{ type: 'text', text: request.url }] }, secretValues).content[0]!
    .text as string;
  if (first) await call.markSent();
  const sentAt = now();
  const outcome = await sendRequest(request, limits, call.cancel, { urlTemplate: plan.url, url: redactedUrl });
  call.steps.push({
    kind: 'http',
    name: job.tool,
    method: request.method,
    urlTemplate: plan.url,
    url: redactedUrl,
    ...(outcome.kind === 'response' ? { status: outcome.status } : {}),
    outcome: outcome.kind,
    durationMs: now() - sentAt,
    attempt: call.delivery,
  });
  return { request, outcome, secretValues };
}

interface HttpCredentials {
  credentials: Record<string, string | undefined>;
  /** Values to redact from what comes back. */
  given: (string | undefined)[];
  /** A person's OAuth connection (`oauth2_authorization_code`): the token sent, refreshed on a 401. */
  person?: { token: string };
}

/**
 * The credentials of an HTTP tool's request and the secret values to redact: the caller's own for this call
 * (per-request authentication, no stored one is read), an external user's own connection (or, with
 * `fallbackToShared`, the shared credentials as a whole, never mixed), or the server's.
 */
async function httpCredentials(
  deps: ProcessorDeps,
  call: Invocation,
  plan: HttpOperationPlan,
): Promise<HttpCredentials> {
  const { job } = call;
  if (plan.auth?.kind === 'oauth2_authorization_code' && job.upstreamAuthorization === undefined)
    return personCredentials(deps, call, plan);
  const userId = job.principal.userId;
  if (job.upstreamAuthorization !== undefined) {
    const perRequest = perRequestCredentials(
      plan,
      await openUpstreamAuthorization(deps, job.upstreamAuthorization, job),
    );
    return { credentials: perRequest.credentials, given: perRequest.secretValues };
  }
  let credentials: Record<string, string | undefined> = {};
  for (const [field, secretName] of Object.entries(plan.secrets)) {
    const name = userId ? plan.userSecrets?.[field]?.replace('{user}', userId) : secretName;
    // A user's own credentials are read fresh for each call (per-request authentication).
    credentials[field] = name ? await deps.secrets.resolve(name, { fresh: userId !== undefined }) : undefined;
    if (userId && credentials[field] === undefined) {
      if (await call.fallback()) {
        credentials = {};
        for (const [f, shared] of Object.entries(plan.secrets)) credentials[f] = await deps.secrets.resolve(shared);
        break;
      }
      throw new UserError(
        'secret.not_found',
        `User "${job.principal.username}" has no connection for this tool's API. Connect one with ` +
          'PUT /api/v1/external_users/{name}/connections/{connector_instance_id}.',
      );
    }
  }
  if (plan.auth) credentials.__authorization = await deps.authorizer.authorization(plan.auth, credentials);
  return { credentials, given: Object.values(credentials) };
}

/**
 * `oauth2_authorization_code`: the calling person's own token for this connector instance, from their
 * connection (`personToken`: refreshed when it expires, or when `stale` is the token the upstream just refused;
 * no connection: a `connection.required` error with a connect link). The instance's `client_id`/`client_secret`
 * are the workspace's OAuth app.
 */
async function personCredentials(
  deps: ProcessorDeps,
  call: Invocation,
  plan: HttpOperationPlan,
  stale?: string,
): Promise<HttpCredentials> {
  const auth = plan.auth as PersonAuth;
  if (!auth.connection) throw new Error('a person’s tool compiled without its connection');
  const connection = auth.connection;
  const { token, client } = await personToken(deps, {
    call: call.job,
    auth,
    app: () => oauthAppOf(deps.secrets, plan, auth),
    connection: (userId) => connection.replace('{user}', userId),
    stale,
  });
  return {
    credentials: { __authorization: `Bearer ${token}` },
    given: [token, client.clientSecret],
    person: { token },
  };
}

/** The caller's `X-Upstream-Authorization` of this job, opened. */
function openUpstreamAuthorization(deps: ProcessorDeps, sealed: string, job: ToolInvokeJob): Promise<string> {
  if (!deps.openRequestCredential)
    throw new UserError(
      'auth.upstream_authorization_unavailable',
      'The workers cannot open per-request credentials (no REQUEST_CREDENTIALS_PRIVATE_KEY_FILE): call without the ' +
        'X-Upstream-Authorization header.',
    );
  return deps.openRequestCredential(sealed, job.invocationId);
}

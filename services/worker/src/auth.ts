import { createHash } from 'node:crypto';
import type { AuthPlan } from '@toolplane/contracts';
import { InternalError, UserError } from '@toolplane/errors';
import { LRUCache } from 'lru-cache';
import { sendRequest, type HttpLimits, type UpstreamOutcome } from './http-operation.ts';

interface CachedToken {
  value: string;
  expiresAt: number;
}

const utf8 = new TextDecoder();

/**
 * Computes the `Authorization` value of built-in authentication methods from resolved credential
 * fields. OAuth2 client-credentials tokens are fetched from the token endpoint and cached until
 * shortly before they expire, keyed by endpoint, client and a hash of the secret (a rotated secret
 * never reuses an old token).
 */
export class Authorizer {
  /** At most `maxTokens` (least recently used evicted); each is used until shortly before it expires. */
  private readonly tokens: LRUCache<string, CachedToken>;
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  private readonly limits: HttpLimits;
  private readonly now: () => number;

  constructor(limits: HttpLimits, now: () => number = Date.now, maxTokens = 10_000) {
    this.tokens = new LRUCache({ max: maxTokens });
    this.limits = limits;
    this.now = now;
  }

  async authorization(plan: AuthPlan, credentials: Record<string, string | undefined>): Promise<string> {
    const need = (field: string): string => {
      const v = credentials[field];
      if (v === undefined) throw new UserError('secret.not_found', `the connection has no "${field}" credential`);
      return v;
    };
    switch (plan.kind) {
      case 'basic':
        return `Basic ${Buffer.from(`${need(plan.username)}:${need(plan.password)}`).toString('base64')}`;
      case 'bearer':
        return `Bearer ${need(plan.token)}`;
      case 'oauth2_client_credentials': {
        const clientId = need(plan.clientId);
        const clientSecret = need(plan.clientSecret);
        const key = `${plan.tokenUrl}|${clientId}|${createHash('sha256').update(clientSecret).digest('hex')}|${plan.scopes.join(' ')}`;
        const cached = this.tokens.get(key);
        if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.value}`;
        let pending = this.inflight.get(key);
        if (!pending) {
          pending = this.fetchToken(plan, clientId, clientSecret).finally(() => this.inflight.delete(key));
          this.inflight.set(key, pending);
        }
        const token = await pending;
        this.tokens.set(key, token);
        return `Bearer ${token.value}`;
      }
      case 'oauth2_authorization_code':
        // A person's token, not the app's: HTTP tools and workflow steps ask the UserTokenKeeper (`personToken`).
        throw new InternalError('internal.unexpected', 'a person’s token is never computed by the Authorizer');
    }
  }

  private async fetchToken(
    plan: Extract<AuthPlan, { kind: 'oauth2_client_credentials' }>,
    clientId: string,
    clientSecret: string,
  ): Promise<CachedToken> {
    const form: Record<string, string> = { grant_type: 'client_credentials' };
    if (plan.scopes.length > 0) form.scope = plan.scopes.join(' ');
    const { outcome, body } = await postTokenForm(plan.tokenUrl, { clientId, clientSecret }, form, this.limits);
    if (outcome.kind !== 'response')
      throw new UserError(
        'upstream.unreachable',
        `could not obtain an OAuth2 token from ${plan.tokenUrl} (${outcome.kind})`,
      );
    if (outcome.status < 200 || outcome.status >= 300)
      throw new UserError('upstream.http_error', `the OAuth2 token endpoint answered HTTP ${outcome.status}`);
    if (!body) throw new UserError('upstream.http_error', 'the OAuth2 token endpoint did not answer JSON');
    if (typeof body.access_token !== 'string')
      throw new UserError('upstream.http_error', 'the OAuth2 token response has no access_token');
    const lifetimeS = typeof body.expires_in === 'number' ? body.expires_in : 300;
    // Renew 30 s early (or at half-life for short tokens) so calls never carry an expiring token.
    const margin = Math.min(30, lifetimeS / 2);
    return { value: body.access_token, expiresAt: this.now() + (lifetimeS - margin) * 1000 };
  }
}

/** A token endpoint's JSON answer (RFC 6749 5.1 and 5.2), unchecked. */
export interface TokenAnswer {
  access_token?: unknown;
  refresh_token?: unknown;
  expires_in?: unknown;
  scope?: unknown;
  error?: unknown;
}

/**
 * One form POST to an OAuth 2.0 token endpoint, the client authenticated by HTTP Basic (RFC 6749 2.3.1), through
 * the outbound guard and the worker's limits. `body`: the answer's JSON object, when it is one.
 */
export async function postTokenForm(
  tokenUrl: string,
  client: { clientId: string; clientSecret: string },
  form: Record<string, string>,
  limits: HttpLimits,
): Promise<{ outcome: UpstreamOutcome; body: TokenAnswer | undefined }> {
  const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`);
  const outcome = await sendRequest(
    {
      method: 'POST',
      url: tokenUrl,
      headers: {
        authorization: `Basic ${basic.toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams(form).toString(),
    },
    limits,
  );
  if (outcome.kind !== 'response') return { outcome, body: undefined };
  try {
    const parsed: unknown = JSON.parse(utf8.decode(outcome.body));
    return { outcome, body: parsed && typeof parsed === 'object' ? (parsed as TokenAnswer) : undefined };
  } catch {
    return { outcome, body: undefined };
  }
}

import { createHash } from 'node:crypto';
import type { AuthPlan } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { LRUCache } from 'lru-cache';
import { sendRequest, type HttpLimits } from './http-operation.ts';

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
    }
  }

  private async fetchToken(
    plan: Extract<AuthPlan, { kind: 'oauth2_client_credentials' }>,
    clientId: string,
    clientSecret: string,
  ): Promise<CachedToken> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (plan.scopes.length > 0) form.set('scope', plan.scopes.join(' '));
    const outcome = await sendRequest(
      {
        method: 'POST',
        url: plan.tokenUrl,
        headers: {
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
      },
      this.limits,
    );
    if (outcome.kind !== 'response')
      throw new UserError(
        'upstream.unreachable',
        `could not obtain an OAuth2 token from ${plan.tokenUrl} (${outcome.kind})`,
      );
    if (outcome.status < 200 || outcome.status >= 300)
      throw new UserError('upstream.http_error', `the OAuth2 token endpoint answered HTTP ${outcome.status}`);
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(utf8.decode(outcome.body)) as typeof body;
    } catch {
      throw new UserError('upstream.http_error', 'the OAuth2 token endpoint did not answer JSON');
    }
    if (typeof body.access_token !== 'string')
      throw new UserError('upstream.http_error', 'the OAuth2 token response has no access_token');
    const lifetimeS = typeof body.expires_in === 'number' ? body.expires_in : 300;
    // Renew 30 s early (or at half-life for short tokens) so calls never carry an expiring token.
    const margin = Math.min(30, lifetimeS / 2);
    return { value: body.access_token, expiresAt: this.now() + (lifetimeS - margin) * 1000 };
  }
}

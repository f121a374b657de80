import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { passesFilters, pointerValue } from './fan-out.ts';
import { verifyDelivery, type VerifyInput } from './verify.ts';

const now = Date.UTC(2026, 10, 28, 12, 0, 0);
const seconds = Math.floor(now / 1000);
const toleranceMs = 300_000;
const hmac = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('hex');

const input = (over: Partial<VerifyInput> & Pick<VerifyInput, 'provider' | 'secret' | 'headers'>, body: string) => ({
  now,
  toleranceMs,
  body: Buffer.from(body),
  ...over,
});

describe('verifyDelivery', () => {
  it('GitHub: the HMAC of the body, the event and its action, the delivery id', () => {
    const body = JSON.stringify({ action: 'opened', issue: { number: 1 } });
    const headers = {
      'x-github-event': 'issues',
      'x-github-delivery': 'd-1',
      'x-hub-signature-256': `sha256=${hmac('s3cret', body)}`,
    };
    expect(verifyDelivery(input({ provider: 'github', secret: 's3cret', headers }, body))).toMatchObject({
      ok: true,
      deliveryId: 'd-1',
      types: ['issues.opened', 'issues'],
    });
    expect(verifyDelivery(input({ provider: 'github', secret: 'other', headers }, body))).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    // One byte changed after signing.
    expect(verifyDelivery(input({ provider: 'github', secret: 's3cret', headers }, `${body} `))).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('GitHub and Jira: a signed body is known by its digest, whatever unsigned id or event type it comes under', () => {
    const body = JSON.stringify({ action: 'opened', issue: { number: 1 } });
    const signed = { 'x-hub-signature-256': `sha256=${hmac('s3cret', body)}` };
    const as = (event: string, delivery: string) =>
      verifyDelivery(
        input(
          {
            provider: 'github',
            secret: 's3cret',
            headers: { ...signed, 'x-github-event': event, 'x-github-delivery': delivery },
          },
          body,
        ),
      );
    const first = as('issues', 'd-1');
    const relabelled = as('pull_request', 'd-2');
    expect(first.ok && relabelled.ok).toBe(true);
    if (!first.ok || !relabelled.ok) return;
    expect(relabelled.deliveryId).toBe('d-2');
    expect(relabelled.replayKey).toBe(first.replayKey);
    expect(first.replayKey).not.toContain('d-1');
    const other = as('issues', 'd-1');
    expect(other.ok && other.replayKey).toBe(first.replayKey);
    const jiraBody = JSON.stringify({ webhookEvent: 'jira:issue_created' });
    const jira = (id: string) =>
      verifyDelivery(
        input(
          {
            provider: 'jira',
            secret: 'j',
            headers: { 'x-hub-signature': `sha256=${hmac('j', jiraBody)}`, 'x-atlassian-webhook-identifier': id },
          },
          jiraBody,
        ),
      );
    const [j1, j2] = [jira('1'), jira('2')];
    expect(j1.ok && j2.ok && j1.replayKey === j2.replayKey).toBe(true);
  });

  it('Stripe: t=,v1= over "t.body", within the tolerance; any of several v1 signatures', () => {
    const body = JSON.stringify({ id: 'evt_1', type: 'payment_intent.succeeded', data: { object: {} } });
    const sign = (t: number) => ({
      'stripe-signature': `t=${t},v1=${'0'.repeat(64)},v1=${hmac('whsec_x', `${t}.${body}`)}`,
    });
    expect(
      verifyDelivery(input({ provider: 'stripe', secret: 'whsec_x', headers: sign(seconds) }, body)),
    ).toMatchObject({
      ok: true,
      deliveryId: 'evt_1',
      types: ['payment_intent.succeeded'],
    });
    expect(
      verifyDelivery(input({ provider: 'stripe', secret: 'whsec_x', headers: sign(seconds - 301) }, body)),
    ).toMatchObject({ ok: false, reason: 'stale' });
    expect(
      verifyDelivery(input({ provider: 'stripe', secret: 'whsec_x', headers: { 'stripe-signature': 'v1=abc' } }, body)),
    ).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('Slack: v0= over "v0:ts:body" with x-slack-request-timestamp, within the tolerance', () => {
    const body = JSON.stringify({ type: 'event_callback', event_id: 'Ev1', event: { type: 'message' } });
    const headers = (ts: number, secret = 'signing') => ({
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': `v0=${hmac(secret, `v0:${ts}:${body}`)}`,
    });
    expect(
      verifyDelivery(input({ provider: 'slack', secret: 'signing', headers: headers(seconds) }, body)),
    ).toMatchObject({
      ok: true,
      deliveryId: 'Ev1',
      types: ['message'],
    });
    expect(
      verifyDelivery(input({ provider: 'slack', secret: 'signing', headers: headers(seconds - 3600) }, body)),
    ).toMatchObject({ ok: false, reason: 'stale' });
    expect(
      verifyDelivery(input({ provider: 'slack', secret: 'signing', headers: headers(seconds, 'other') }, body)),
    ).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('Standard Webhooks: checked by the standardwebhooks package; a signature too old is stale', () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const body = JSON.stringify({ type: 'invoice.paid', data: { id: 'in_1' } });
    const realNow = Date.now();
    const headers = (at: number) => ({
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(at / 1000)),
      'webhook-signature': new Webhook(secret).sign('msg_1', new Date(at), body),
    });
    const at = { now: realNow };
    expect(
      verifyDelivery({ ...input({ provider: 'standard', secret, headers: headers(realNow) }, body), ...at }),
    ).toMatchObject({
      ok: true,
      deliveryId: 'msg_1',
      types: ['invoice.paid'],
    });
    expect(
      verifyDelivery({
        ...input({ provider: 'standard', secret, headers: headers(realNow - 3_600_000) }, body),
        ...at,
      }),
    ).toMatchObject({ ok: false, reason: 'stale' });
    const other = `whsec_${randomBytes(24).toString('base64')}`;
    expect(
      verifyDelivery({ ...input({ provider: 'standard', secret: other, headers: headers(realNow) }, body), ...at }),
    ).toMatchObject({ ok: false, reason: 'bad_signature' });
  });
});

describe('verifyDelivery, Jira and Google Calendar', () => {
  it('Jira: x-hub-signature over the body, webhookEvent, the webhook identifier', () => {
    const body = JSON.stringify({ webhookEvent: 'jira:issue_created', issue: { key: 'OPS-1' } });
    const headers = {
      'x-hub-signature': `sha256=${hmac('jira-secret', body)}`,
      'x-atlassian-webhook-identifier': '42',
    };
    expect(verifyDelivery(input({ provider: 'jira', secret: 'jira-secret', headers }, body))).toMatchObject({
      ok: true,
      deliveryId: '42',
      types: ['jira:issue_created'],
    });
    expect(verifyDelivery(input({ provider: 'jira', secret: 'other', headers }, body))).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('Google Calendar: the channel token, the notification from its headers', () => {
    const headers = {
      'x-goog-channel-token': 'channel-token',
      'x-goog-channel-id': 'ch-1',
      'x-goog-message-number': '7',
      'x-goog-resource-state': 'exists',
    };
    expect(verifyDelivery(input({ provider: 'google_calendar', secret: 'channel-token', headers }, ''))).toMatchObject({
      ok: true,
      deliveryId: 'ch-1:7',
      types: ['exists'],
      data: { channelId: 'ch-1', resourceState: 'exists' },
    });
    expect(verifyDelivery(input({ provider: 'google_calendar', secret: 'another', headers }, ''))).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
  });
});

describe('filters', () => {
  it('reads JSON Pointers (escapes included) and compares the named arguments only', () => {
    const data = { repository: { full_name: 'acme/app' }, 'a/b': { '~x': 1 } };
    expect(pointerValue(data, '/a~1b/~0x')).toBe(1);
    expect(pointerValue(data, '/missing/deeper')).toBeUndefined();
    const type = { filters: { repository: '/repository/full_name' } } as unknown as Parameters<typeof passesFilters>[0];
    expect(passesFilters(type, { repository: 'acme/app' }, data)).toBe(true);
    expect(passesFilters(type, { repository: 'acme/other' }, data)).toBe(false);
    expect(passesFilters(type, {}, data)).toBe(true);
  });
});

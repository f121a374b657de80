import { describe, expect, it } from '@jest/globals';
import { compileWorkflowDocument } from './document.ts';
import { HttpTransportError, runWorkflow } from './engine.ts';
import { fakeClock, fakeHttp, secretsFrom } from './test-support.ts';

/** Engine behaviour through small Flower documents (the dialect with every action type). */

const flow = (steps: unknown[], extra: Record<string, unknown> = {}) =>
  compileWorkflowDocument({ flower: '0.1', id: 'doc', flows: [{ id: 'f', steps, ...extra }] }).ir;
const get = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  request: { method: 'GET', url: `https://api.example/${id}` },
  ...extra,
});
const none = secretsFrom({});

describe('actions', () => {
  it('next (default and explicit) runs the steps in order', async () => {
    const ir = flow([get('a', { actions: [{ do: 'next' }] }), get('b')]);
    const up = fakeHttp(() => ({ body: {} }));
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none });
    expect(r.ok).toBe(true);
    expect(up.lines()).toEqual(['GET /a', 'GET /b']);
  });

  it('end stops the flow; outputs of steps that never ran are left out', async () => {
    const ir = flow(
      [
        get('a', { actions: [{ when: '$response.body.done', do: 'end' }], outputs: { x: '$response.body.x' } }),
        get('b', { outputs: { y: '$response.body.y' } }),
      ],
      {
        outputs: { x: '$steps.a.outputs.x', y: '$steps.b.outputs.y' },
      },
    );
    const up = fakeHttp(() => ({ body: { done: true, x: 1, y: 2 } }));
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none });
    expect(r.outputs).toEqual({ x: 1 });
    expect(up.lines()).toEqual(['GET /a']);
  });

  it('goto jumps forward and back; the first matching `when` wins', async () => {
    const ir = flow(
      [
        get('a', { outputs: { n: '$response.body.n' } }),
        get('b', {
          actions: [
            { when: '$response.body.n < 3', do: 'goto', step: 'a' },
            { when: '$response.body.n < 100', do: 'goto', step: 'd' },
            { do: 'next' },
          ],
        }),
        get('c'),
        get('d'),
      ],
      { outputs: { n: '$steps.a.outputs.n' } },
    );
    let n = 0;
    const up = fakeHttp((req) => (req.url.pathname === '/a' ? { body: { n: ++n } } : { body: { n } }));
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none });
    expect(up.lines()).toEqual(['GET /a', 'GET /b', 'GET /a', 'GET /b', 'GET /a', 'GET /b', 'GET /d']);
    expect(r.outputs).toEqual({ n: 3 });
    const b = r.trace
      .filter((e) => e.name === 'step.run' && e.stepId === 'b')
      .map((e) => `${e.attributes.action}:${e.attributes.target}`);
    expect(b).toEqual(['goto:a', 'goto:a', 'goto:d']);
  });

  it('a goto loop ends at the step budget with a clear error', async () => {
    const ir = flow([get('a'), get('b', { actions: [{ do: 'goto', step: 'a' }] })]);
    const up = fakeHttp(() => ({ body: {} }));
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none, limits: { maxSteps: 9 } });
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ code: 'step_budget_exhausted', stepId: 'b' });
    expect(r.error!.message).toMatch(/budget of 9 step executions.*goto or retry loop/);
    expect(up.requests).toHaveLength(9);
    expect(r.steps).toBe(9);
  });

  it('retry waits `wait` seconds between attempts (5 s by default) and fails after max_retry', async () => {
    const ir = flow([
      get('a', { actions: [{ when: '$statusCode == 503', do: 'retry', wait: 2, max_retry: 3 }] }),
      get('b', { actions: [{ when: '$statusCode == 429', do: 'retry' }] }),
    ]);
    const clock = fakeClock();
    const up = fakeHttp(() => ({ status: 503 }));
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none, clock });
    expect(r.error).toMatchObject({ code: 'retries_exhausted', stepId: 'a' });
    expect(up.requests).toHaveLength(4);
    expect(clock.sleeps).toEqual([2000, 2000, 2000]);

    let calls = 0;
    const clock2 = fakeClock();
    const up2 = fakeHttp((req) => (req.url.pathname === '/b' && ++calls <= 2 ? { status: 429 } : { body: {} }));
    const r2 = await runWorkflow(ir, 'f', {}, { http: up2.http, secret: none, clock: clock2 });
    expect(r2.ok).toBe(true);
    expect(clock2.sleeps).toEqual([5000, 5000]);
    // Timing bounds: two retries of 5 s, nothing else waited.
    expect(r2.durationMs).toBeGreaterThanOrEqual(10_000);
    expect(r2.durationMs).toBeLessThan(10_100);
  });

  it('a Retry-After header overrides wait, and a wait past the deadline fails at once', async () => {
    const ir = flow([get('a', { actions: [{ when: '$statusCode == 429', do: 'retry', wait: 1 }] })]);
    let calls = 0;
    const clock = fakeClock();
    const up = fakeHttp(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '7' } } : { body: {} }));
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none, clock });
    expect(r.ok).toBe(true);
    expect(clock.sleeps).toEqual([7000]);

    const clock2 = fakeClock();
    const up2 = fakeHttp(() => ({ status: 429, headers: { 'retry-after': '120' } }));
    const r2 = await runWorkflow(
      ir,
      'f',
      {},
      { http: up2.http, secret: none, clock: clock2, limits: { deadlineMs: 30_000 } },
    );
    expect(r2.error).toMatchObject({ code: 'deadline_exceeded', stepId: 'a' });
    expect(clock2.sleeps).toEqual([]);
  });

  it('a failed step with no matching action fails the flow; a 4xx handled by an action does not', async () => {
    const ir = flow([get('a', { actions: [{ when: '$statusCode == 404', do: 'end' }] }), get('b')], {
      outputs: { s: '$steps.a.response.status' },
    });
    const r = await runWorkflow(ir, 'f', {}, { http: fakeHttp(() => ({ status: 500 })).http, secret: none });
    expect(r.error).toMatchObject({
      code: 'step_failed',
      stepId: 'a',
      message: 'step "a" failed (HTTP 500): its success criteria were not met',
    });
    const r2 = await runWorkflow(ir, 'f', {}, { http: fakeHttp(() => ({ status: 404 })).http, secret: none });
    expect(r2).toMatchObject({ ok: true, outputs: { s: 404 } });
  });
});

describe('bounds', () => {
  it('passes the per-request timeout (shortened to the time left) and the size cap to http', async () => {
    const ir = flow([get('a'), get('b')]);
    const clock = fakeClock();
    const up = fakeHttp((req) => {
      if (req.url.pathname === '/a') clock.advance(25_000);
      return { body: {} };
    });
    await runWorkflow(
      ir,
      'f',
      {},
      {
        http: up.http,
        secret: none,
        clock,
        limits: { requestTimeoutMs: 10_000, deadlineMs: 30_000, maxResponseBytes: 1234 },
      },
    );
    expect(up.requests.map((r) => [r.timeoutMs, r.maxResponseBytes])).toEqual([
      [10_000, 1234],
      [5_000, 1234],
    ]);
  });

  it('fails when the deadline passed between steps', async () => {
    const ir = flow([get('a'), get('b')]);
    const clock = fakeClock();
    const up = fakeHttp(() => {
      clock.advance(31_000);
      return { body: {} };
    });
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none, clock, limits: { deadlineMs: 30_000 } });
    expect(r.error).toMatchObject({ code: 'deadline_exceeded', stepId: 'b' });
  });

  it('rejects a response larger than the cap, even when http delivered it', async () => {
    const ir = flow([get('a')]);
    const r = await runWorkflow(
      ir,
      'f',
      {},
      { http: fakeHttp(() => ({ body: 'x'.repeat(2000) })).http, secret: none, limits: { maxResponseBytes: 1000 } },
    );
    expect(r.error).toMatchObject({ code: 'response_too_large', stepId: 'a' });
  });

  it('transport failures: a timeout can be retried; unreachable fails with its code; too_large is final', async () => {
    const ir = flow([get('a', { actions: [{ when: '!$statusCode', do: 'retry', wait: 1, max_retry: 1 }] })], {
      outputs: { ok: '$steps.a.response.body.ok' },
    });
    let calls = 0;
    const flaky = async () => {
      if (++calls === 1) throw new HttpTransportError('timeout', 'no answer within 10000 ms');
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}', size: 11 };
    };
    const r = await runWorkflow(ir, 'f', {}, { http: flaky, secret: none, clock: fakeClock() });
    expect(r).toMatchObject({ ok: true, outputs: { ok: true } });

    const plain = flow([get('a')]);
    const down = async (): Promise<never> => {
      throw new HttpTransportError('unreachable', 'ECONNREFUSED');
    };
    expect((await runWorkflow(plain, 'f', {}, { http: down, secret: none })).error).toMatchObject({
      code: 'upstream_unreachable',
      stepId: 'a',
    });
    const big = async (): Promise<never> => {
      throw new HttpTransportError('too_large', 'over the cap');
    };
    expect((await runWorkflow(ir, 'f', {}, { http: big, secret: none, clock: fakeClock() })).error).toMatchObject({
      code: 'response_too_large',
    });
  });

  it('stops before the next step when cancelled', async () => {
    const ir = flow([get('a'), get('b')]);
    const controller = new AbortController();
    const up = fakeHttp(() => {
      controller.abort();
      return { body: {} };
    });
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none, signal: controller.signal });
    expect(r.error).toMatchObject({ code: 'cancelled', stepId: 'b' });
    expect(up.requests).toHaveLength(1);
  });
});

describe('secrets, per-caller config and outputs', () => {
  const ir = flow(
    [
      {
        id: 'call',
        request: {
          method: 'POST',
          url: 'https://api.example/orgs/$config.org_id/items?key=$secrets.API_KEY',
          headers: {
            Authorization: 'Bearer $secrets.API_KEY',
            'X-User': '$current_user.token',
            'X-Org': '$current_user.Org-Id',
            'X-Missing': '[$config.nothing]',
          },
          body: { echo: '$secrets.API_KEY' },
        },
        outputs: { id: '$response.body.id', echoed: '$response.body.echo', secretish: 'key=$secrets.API_KEY' },
      },
    ],
    { outputs: { id: '$steps.call.outputs.id', echoed: '$steps.call.outputs.echoed', note: 'org $config.ORG_ID' } },
  );
  const secret = secretsFrom({ API_KEY: 'sk-live-1234567890' });

  it('resolves $secrets, $config (Config-* headers, any case, _ for -) and $current_user', async () => {
    const up = fakeHttp((req) => ({ body: { id: 'it-1', echo: JSON.parse(req.body!).echo } }));
    const r = await runWorkflow(
      ir,
      'f',
      {},
      {
        http: up.http,
        secret,
        config: { 'org-id': 'acme-eu', 'api-key': 'user-key' },
        currentUserToken: 'oauth-token-abc',
      },
    );
    const req = up.requests[0]!;
    expect(req.url.pathname).toBe('/orgs/acme-eu/items');
    expect(req.url.searchParams.get('key')).toBe('sk-live-1234567890');
    expect(req.headers).toMatchObject({
      authorization: 'Bearer sk-live-1234567890',
      'x-user': 'oauth-token-abc',
      'x-org': 'acme-eu',
      'x-missing': '[]',
    });
    // Only declared flow outputs come back, and secret values never do.
    expect(r.outputs).toEqual({ id: 'it-1', echoed: '[REDACTED]', note: 'org [REDACTED]' });
  });

  it('$current_user.token is absent when the caller has none (the header is not sent); an absent $config reads empty', async () => {
    const up = fakeHttp(() => ({ body: {} }));
    await runWorkflow(ir, 'f', {}, { http: up.http, secret, config: { other: 'x' } });
    await runWorkflow(ir, 'f', {}, { http: up.http, secret, config: { ORG_ID: 'any-case' } });
    expect(up.requests[0]!.headers).not.toHaveProperty('x-user');
    expect(up.requests[0]!.url.pathname).toBe('/orgs//items');
    expect(up.requests[1]!.url.pathname).toBe('/orgs/any-case/items');
  });

  it('$current_user.name is the verified external user, and a Config-Name header cannot claim another', async () => {
    const named = flow([
      {
        id: 'call',
        request: { method: 'GET', url: 'https://api.example/me', headers: { 'X-Name': '$current_user.name' } },
      },
    ]);
    const up = fakeHttp(() => ({ body: {} }));
    await runWorkflow(
      named,
      'f',
      {},
      { http: up.http, secret, config: { name: 'mallory' }, currentUser: { name: 'alice' } },
    );
    await runWorkflow(named, 'f', {}, { http: up.http, secret, config: { name: 'bob' } });
    expect(up.requests.map((r) => r.headers['x-name'])).toEqual(['alice', 'bob']);
  });

  it('keeps secret values out of the trace (URLs, errors) and fails early when a secret is missing', async () => {
    const up = fakeHttp(() => ({ status: 500 }));
    const r = await runWorkflow(ir, 'f', {}, { http: up.http, secret });
    const trace = JSON.stringify(r.trace);
    expect(trace).not.toContain('sk-live-1234567890');
    const action = r.trace.find((e) => e.name === 'action.run')!;
    expect(action.attributes).toMatchObject({
      method: 'POST',
      urlTemplate: 'https://api.example/orgs/$config.org_id/items?key=$secrets.API_KEY',
      status: 500,
      action: 'fail',
    });
    expect(action.attributes.url).toBe('https://api.example/orgs//items?key=[REDACTED]');
    expect(r.trace.map((e) => e.name)).toEqual(['flow.run', 'step.run', 'action.run']);
    expect(r.trace[1]!.parentId).toBe(r.trace[0]!.id);
    expect(r.trace[2]!.parentId).toBe(r.trace[1]!.id);

    const missing = await runWorkflow(ir, 'f', {}, { http: up.http, secret: none });
    expect(missing.error).toEqual({
      code: 'secret_missing',
      message: 'the secret "API_KEY" is not set',
      workflowId: 'f',
    });
    expect(up.requests).toHaveLength(1);
  });

  it('applies input defaults and reports an unknown workflow', async () => {
    const withDefault = flow(
      [{ id: 'a', request: { method: 'GET', url: 'https://api.example/t', query: { unit: '$inputs.unit' } } }],
      {
        inputs: { properties: { unit: { type: 'string', default: 'celsius' } } },
      },
    );
    const up = fakeHttp(() => ({ body: {} }));
    await runWorkflow(withDefault, 'f', {}, { http: up.http, secret: none });
    expect(up.requests[0]!.url.searchParams.get('unit')).toBe('celsius');
    expect((await runWorkflow(withDefault, 'nope', {}, { http: up.http, secret: none })).error).toMatchObject({
      code: 'unknown_workflow',
    });
  });

  it('reports a JMESPath query that fails at run time as an expression error of its step', async () => {
    const jm = flow([get('a', { outputs: { n: 'length($response.body.items)' } })]);
    const r = await runWorkflow(jm, 'f', {}, { http: fakeHttp(() => ({ body: { items: 5 } })).http, secret: none });
    expect(r.error).toMatchObject({ code: 'expression_error', stepId: 'a' });
  });
});

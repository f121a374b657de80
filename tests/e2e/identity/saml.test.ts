// SAML 2.0 sign-in of people (ADR 0083, docs/identity.md "SAML sign-in") against the real stack and a local identity provider of
// the tests' own (tests/helpers/saml-idp.ts: an HTTP server that reads AuthnRequests and signs assertions with
// xml-crypto, RSA-SHA256, with a self-signed certificate from openssl): SP-initiated through Debian's Chromium (the dashboard shows the person with
// the role their group maps to), IdP-initiated at the ACS, and the refusals: an unsigned assertion, a wrong audience,
// an expired one, a replayed one, signature-wrapping variants, XML with an external entity, a response to a request
// never sent, another recipient. Each refusal: a clear reason, no session, a `saml.sign_in` refusal in the audit trail.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { buildDashboard, dashboardEnv, launchChromium, newDashboardPage } from '../../helpers/browser.ts';
import { iso, samlSpEntityId as spEntityId, startSamlIdp, type SamlIdp } from '../../helpers/saml-idp.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const budget = 60;

let stack: Stack;
/** The control plane past the contract proxy: its PUBLIC_API_URL, under which the ACS is. */
let direct: string;
let admin: ManagementClient;
let workspaceId: string;
let idp: SamlIdp;
let browser: Browser;
let page: Page;
let pageProblems: string[];
let db: pg.Client;
/** Every session token and sign-in code handed out in this file: none may appear in any service output. */
const issued: string[] = [];
/** The person the local identity provider signs in next (its NameID and groups). */
let person = { subject: 'rita@example.com', groups: ['readers'] };

const assertion: SamlIdp['assertion'] = (o) => idp.assertion(o);
const signed: SamlIdp['signed'] = (xml) => idp.signed(xml);
const signedResponse: SamlIdp['signedResponse'] = (xml) => idp.signedResponse(xml);
const response: SamlIdp['response'] = (assertions, o) => idp.response(assertions, o);

function acsUrl(): string {
  return `${direct}/saml/acs`;
}

/** Posts a response to the ACS as an identity provider would (IdP-initiated): where it sends the person, and its id. */
async function post(xml: string, relayState?: string): Promise<{ location: URL; requestId: string }> {
  const form = new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64') });
  if (relayState) form.set('RelayState', relayState);
  const res = await fetch(acsUrl(), { method: 'POST', body: form, redirect: 'manual' });
  expect(res.status).toBe(303);
  return {
    location: new URL(res.headers.get('location') ?? '', direct),
    requestId: res.headers.get('x-request-id') ?? '',
  };
}

/** The session token a sign-in's code redeems for (the dashboard's step, done here by hand). */
async function redeem(code: string): Promise<Response> {
  return fetch(`${direct}/saml/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
}

/** The audit row of the ACS request `requestId`. */
function auditRow(requestId: string): Promise<Record<string, unknown>> {
  return waitFor(`the audit event of ${requestId}`, async () => {
    const { rows } = await db.query<Record<string, unknown>>('SELECT * FROM audit_events WHERE request_id = $1', [
      requestId,
    ]);
    return rows[0];
  });
}

/** A response the ACS must refuse: the reason it names, no code, and its refusal in the unauthenticated chain. */
async function expectRefused(xml: string, reason: RegExp): Promise<void> {
  const { location, requestId } = await post(xml);
  expect(location.pathname).toBe('/saml/callback');
  expect(location.searchParams.get('code')).toBeNull();
  expect(location.searchParams.get('error')).toMatch(reason);
  expect(await auditRow(requestId)).toMatchObject({
    chain: 'unauthenticated',
    action: 'saml.sign_in',
    outcome: 'refused',
    actor_type: 'anonymous',
    details: { method: 'saml', reason: expect.stringMatching(reason) },
  });
}

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  idp = await startSamlIdp({ acsUrl, workspaceId: () => workspaceId, person: () => person });
  ({
    stack,
    api: admin,
    directControlPlaneUrl: direct,
  } = await startTestStack('saml', {
    logLevel: 'info',
    serviceEnv: {
      'control-plane': {
        ...idp.env(),
        // The unauthenticated budget per address (refused SAML responses spend it too): the file stays under it
        // until its last case spends the rest.
        UNAUTH_RATE_LIMIT: String(budget),
        ...dashboardEnv(build)['control-plane'],
      },
    },
  }));
  workspaceId = (await unwrap(admin.GET('/workspaces/current'))).id;
  // The mapping names another claim for OIDC tokens (`teams`): SAML's groups attribute maps all the same.
  await unwrap(
    admin.PUT('/role_mappings', {
      body: {
        groupsClaim: 'teams',
        assignments: [
          { group: 'readers', roles: ['viewer'] },
          { group: 'auditors', roles: ['auditor'] },
        ],
      },
    }),
  );
  db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await db?.end();
  await browser?.close();
  await stack?.stop();
  await idp?.close();
});

describe('SAML sign-in', () => {
  it('publishes the service provider metadata: entity id, ACS, signed assertions wanted', async () => {
    const res = await fetch(`${direct}/saml/metadata`);
    expect(res.headers.get('content-type')).toMatch(/^application\/samlmetadata\+xml/);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${spEntityId}"`);
    expect(xml).toContain(`Location="${acsUrl()}"`);
    expect(xml).toContain('WantAssertionsSigned="true"');
  });

  it('signs a person in through Chromium (SP-initiated): the dashboard shows them with their group’s role', async () => {
    person = { subject: 'rita@example.com', groups: ['readers'] };
    // The one-time code the browser carries to the dashboard (in its address, once): searched for in the logs too.
    page.on('request', (r) => {
      const code = new URL(r.url()).searchParams.get('code');
      if (r.url().includes('/saml/callback') && code) issued.push(code);
    });
    await page.goto('/servers');
    await page.getByRole('button', { name: 'Sign in with SAML' }).click();
    await page.getByRole('button', { name: 'Continue to Toolplane' }).click();
    await page.getByRole('heading', { level: 1, name: 'MCP servers' }).waitFor();
    await page.locator('.who', { hasText: 'rita@example.com' }).waitFor();
    const nav = page.getByRole('navigation', { name: 'Main' });
    // The navigation lists every page until the person's powers are known (the workspace's name shows then).
    await page.locator('header .workspace').waitFor();
    await nav.getByRole('link', { name: 'MCP servers', exact: true }).waitFor();
    expect(await nav.getByRole('link', { name: 'Audit trail', exact: true }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Secrets', exact: true }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Create a server' }).count()).toBe(0);
    const { you, token } = await page.evaluate(async () => {
      const stored = JSON.parse(sessionStorage.getItem('toolplane.credential') ?? '{}') as { token?: string };
      const res = await fetch('/api/v1/workspaces/current', { headers: { authorization: `Bearer ${stored.token}` } });
      return { you: ((await res.json()) as { you: unknown }).you, token: stored.token ?? '' };
    });
    expect(token).toMatch(/^tps_/);
    issued.push(token);
    expect(you).toMatchObject({ kind: 'person', subject: 'rita@example.com', roles: ['viewer'] });
    // The sign-in is in the workspace's trail: the ACS's, then the dashboard's.
    const events = await unwrap(admin.GET('/audit_events', { params: { query: { actor: 'rita@example.com' } } }));
    expect(events.data.map((e) => [e.action, e.outcome])).toEqual(
      expect.arrayContaining([
        ['saml.sign_in', 'success'],
        ['dashboard.sign_in', 'success'],
      ]),
    );
    expect(pageProblems).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in with SAML' }).waitFor();
    // Signing out ended the session: its token is refused from then on.
    await waitFor('the signed-out session refused', async () => {
      const res = await fetch(`${direct}/api/v1/workspaces/current`, { headers: { authorization: `Bearer ${token}` } });
      return res.status === 401;
    });
  });

  it('accepts an IdP-initiated response: one code, once, for a session the management API takes', async () => {
    const xml = response(signed(assertion({ subject: 'aldo@example.com', groups: ['auditors'] })));
    const { location, requestId } = await post(xml, '/audit');
    const code = location.searchParams.get('code');
    expect(code).toBeTruthy();
    issued.push(code!);
    expect(await auditRow(requestId)).toMatchObject({ chain: workspaceId, action: 'saml.sign_in', outcome: 'success' });
    const first = await redeem(code!);
    expect(first.status).toBe(200);
    const session = (await first.json()) as { access_token: string; subject: string; return_to: string };
    expect(session).toMatchObject({ subject: 'aldo@example.com', return_to: '/audit' });
    issued.push(session.access_token);
    expect((await redeem(code!)).status).toBe(400);
    const aldo = createManagementClient(stack.controlPlaneUrl, { accessToken: session.access_token });
    expect((await unwrap(aldo.GET('/workspaces/current'))).you).toMatchObject({ roles: ['auditor'] });
    expect((await aldo.GET('/mcp_manager')).response.status).toBe(403);
    // The same response again is a replay.
    await expectRefused(xml, /used already \(replay\)/);
  });

  it('refuses an unsigned assertion, even in a response the identity provider signed', async () => {
    await expectRefused(response(assertion()), /signature is not accepted/);
    // The response's own signature verifies; the assertion's is required all the same (wantAssertionsSigned).
    await expectRefused(signedResponse(response(assertion())), /signature is not accepted/);
  });

  it('refuses an assertion whose signature no longer matches (a group added after signing)', async () => {
    const tampered = signed(assertion()).replace(
      '<saml:AttributeValue>readers</saml:AttributeValue>',
      '<saml:AttributeValue>readers</saml:AttributeValue><saml:AttributeValue>auditors</saml:AttributeValue>',
    );
    await expectRefused(response(tampered), /signature is not accepted/);
  });

  it('refuses a wrong audience, an expired assertion, another recipient and another issuer', async () => {
    await expectRefused(response(signed(assertion({ audience: 'https://other.test/sp' }))), /another audience/);
    await expectRefused(response(signed(assertion({ notOnOrAfter: iso(-60 * 60_000) }))), /has expired/);
    await expectRefused(
      response(signed(assertion({ recipient: 'https://elsewhere.test/saml/acs' }))),
      /another recipient/,
    );
    await expectRefused(
      response(signed(assertion({ issuer: 'https://rogue-idp.test' }))),
      /signature|another identity provider/,
    );
  });

  it('refuses a response to a sign-in it never started (InResponseTo)', async () => {
    const id = `_never${randomUUID()}`;
    await expectRefused(
      response(signed(assertion({ inResponseTo: id })), { inResponseTo: id }),
      /answers no sign-in this control plane started/,
    );
  });

  it('refuses signature wrapping: an unsigned assertion beside the signed one, or around it', async () => {
    const good = signed(assertion());
    const evil = assertion({ subject: 'mallory@example.com', groups: ['auditors'] });
    await expectRefused(response(evil + good), /signature is not accepted/);
    await expectRefused(response(good + evil), /signature is not accepted/);
    // The signed assertion hidden in the unsigned one's Advice: the assertion read would be mallory's.
    const wrapped = evil.replace('<saml:Conditions', `<saml:Advice>${good}</saml:Advice><saml:Conditions`);
    await expectRefused(response(wrapped), /signature is not accepted/);
  });

  it('refuses XML with an external entity before any parser reads it', async () => {
    const xxe = response(signed(assertion()).replace('rita@example.com', '&xxe;'), {
      prolog: '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    });
    await expectRefused(xxe, /declares a document type/);
  });

  it('shows a refused sign-in in the dashboard, and leaves it signed out', async () => {
    const { location } = await post(response(assertion()));
    await page.goto(location.pathname + location.search);
    await page
      .getByRole('alert')
      .filter({ hasText: /SAML sign-in was refused: the response's signature/ })
      .waitFor();
    await page.getByRole('button', { name: 'Sign in with SAML' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('toolplane.credential'))).toBeNull();
  });

  it('answers 429 to an address past its budget of failed attempts, before checking anything', async () => {
    const junk = new URLSearchParams({ SAMLResponse: 'not base64!' });
    let status = 303;
    for (let i = 0; i <= budget && status === 303; i++)
      status = (await fetch(acsUrl(), { method: 'POST', body: junk, redirect: 'manual' })).status;
    expect(status).toBe(429);
    // A valid response from that address waits too, and so does a new AuthnRequest.
    const valid = new URLSearchParams({ SAMLResponse: Buffer.from(response(signed(assertion()))).toString('base64') });
    const refused = await fetch(acsUrl(), { method: 'POST', body: valid, redirect: 'manual' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await fetch(`${direct}/saml/login`, { redirect: 'manual' })).status).toBe(429);
  });

  it('wrote no session token or sign-in code into any service output', () => {
    const output = stack.processes.map((p) => p.output()).join('\n');
    expect(output).toContain('SAML sign-in refused'); // the refusals were logged, with their reasons only
    expect(issued.length).toBeGreaterThanOrEqual(4);
    for (const secret of issued) expect(output).not.toContain(secret);
    expect(output).not.toMatch(/tps_[A-Za-z0-9_-]{20,}/);
  });
});

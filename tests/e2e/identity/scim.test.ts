// SCIM 2.0 (RFC 7643/7644, ADR 0062) on the real stack: an identity provider's requests (plain fetch with the
// workspace's SCIM token, as a SCIM client sends them) create, list, patch, replace, deactivate and delete people
// (external users) and groups. A group named by an access policy (`external_group`) grants its members' calls and
// stops when a member is removed; deactivating a person revokes their own OAuth account at the local provider and
// stops their calls. The RFC's errors, and a token that sees its own workspace only (SCIM is not in the management
// API's document: isolation is tested here).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import * as rfc from '../../fixtures/scim-rfc-examples.ts';
import { callToolAs, connectLinkIn, followConnectLink, setUpCalendar } from '../../fixtures/calendar-connector.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

const userSchema = 'urn:ietf:params:scim:schemas:core:2.0:User';
const groupSchema = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const patchOp = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const errorSchema = 'urn:ietf:params:scim:api:messages:2.0:Error';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let scimBase: string;
let token: string;
let mcpUrl: string;
let serverId: string;
const ids: Record<string, string> = {};

interface ScimAnswer {
  status: number;
  type: string | null;
  body: Record<string, unknown> & { Resources?: Record<string, unknown>[] };
}

/** One SCIM request as an identity provider sends it (`application/scim+json`, the bearer token). */
async function scim(method: string, path: string, body?: unknown, bearer = token): Promise<ScimAnswer> {
  const res = await fetch(`${scimBase}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${bearer}`,
      accept: 'application/scim+json',
      ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: text ? JSON.parse(text) : {} };
}

const user = (userName: string, more: Record<string, unknown> = {}) => ({ schemas: [userSchema], userName, ...more });
const patch = (...Operations: unknown[]) => ({ schemas: [patchOp], Operations });
const userNames = (a: ScimAnswer) => a.body.Resources!.map((r) => r.userName);

/**
 * A waiting approval request of a call made for `person` (the row the control plane makes of an edge's request; the
 * approvals tests make them through the edge), its id.
 */
async function pendingRequestOf(person: string): Promise<string> {
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    const id = randomUUID();
    const { rows } = await db.query<{ workspace_id: string }>('SELECT workspace_id FROM mcp_servers WHERE id = $1', [
      serverId,
    ]);
    const requester = { type: 'person', id: null, name: person, keyId: 'k', person };
    const rule = { approvers: { apiKeys: ['k'] }, approvals: 1, expiresInSeconds: 3600 };
    await db.query(
      `INSERT INTO approvals (id, workspace_id, server_id, server_name, tool, binding, arguments_digest, arguments,
         requester, rule_version, rule, state, requested_at, expires_at, updated_at)
       VALUES ($1, $2, $3, 'calendar', 'my_events', $4, 'digest', '{}', $5, 'v', $6, 'pending', now(),
         now() + interval '1 hour', now())`,
      [id, rows[0]!.workspace_id, serverId, `binding-${id}`, requester, rule],
    );
    return id;
  } finally {
    await db.end();
  }
}

/** A tool call as `username`: its outcome, or the refusal that ended the MCP session's start. */
async function callAs(username: string): Promise<{ isError: boolean; text: string }> {
  try {
    const { isError, text } = await callToolAs(mcpUrl, stack.bootstrapKey, username);
    return { isError, text };
  } catch (err) {
    // The SDK quotes the refusal's JSON-RPC body as it came: its quotes escaped.
    return { isError: true, text: `refused: ${(err as Error).message.replaceAll('\\"', '"')}` };
  }
}

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  let direct: string;
  ({ stack, api, directControlPlaneUrl: direct } = await startTestStack('scim'));
  scimBase = `${direct}/scim/v2`;
  const calendar = await setUpCalendar(api, provider, []);
  mcpUrl = calendar.server.url;
  serverId = calendar.server.id;
  // Only the `engineering` group's members may call: the fixture's policy for every external user goes.
  const policies = await unwrap(api.GET('/access_policies'));
  for (const p of policies.data) await unwrap(api.DELETE('/access_policies/{id}', { params: { path: { id: p.id } } }));
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'engineering',
        principals: [{ type: 'external_group', value: 'engineering' }],
        servers: ['*'],
        tools: ['*'],
      },
    }),
  );
  const created = await unwrap(api.POST('/scim_token'));
  token = created.token;
  ids.token = created.id;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await provider?.close();
});

describe('SCIM', () => {
  it('serves discovery as application/scim+json to its token only; the management API shows the token, never its value', async () => {
    const config = await scim('GET', '/ServiceProviderConfig');
    expect(config.status).toBe(200);
    expect(config.type).toMatch(/^application\/scim\+json/);
    expect(config.body).toMatchObject({
      patch: { supported: true },
      filter: { supported: true },
      bulk: { supported: false },
    });
    const types = await scim('GET', '/ResourceTypes');
    expect(types.body.Resources!.map((t) => t.endpoint)).toEqual(['/Users', '/Groups']);
    const schemas = await scim('GET', '/Schemas');
    expect(schemas.body.Resources!.map((s) => s.id)).toEqual([userSchema, groupSchema]);

    const refused = await scim('GET', '/Users', undefined, 'tpscim_not-a-token');
    expect(refused).toMatchObject({ status: 401, body: { schemas: [errorSchema], status: '401' } });
    const shown = await unwrap(api.GET('/scim_token'));
    expect(shown).toMatchObject({ id: ids.token, prefix: token.slice(0, 12), endpoint: '/scim/v2' });
    expect(JSON.stringify(shown)).not.toContain(token);
  });

  it('creates, filters, pages, patches and replaces people, with the RFC errors for what is wrong', async () => {
    const ann = await scim('POST', '/Users', user('ann', { externalId: 'idp-ann', name: { givenName: 'Ann' } }));
    expect(ann.status).toBe(201);
    expect(ann.body).toMatchObject({ userName: 'ann', externalId: 'idp-ann', active: true, groups: [] });
    ids.ann = ann.body.id as string;
    ids.bob = (await scim('POST', '/Users', user('bob', { externalId: 'idp-bob' }))).body.id as string;
    await scim('POST', '/Users', user('cid', { active: false }));
    // People are external users: the management API lists them too.
    const listed = await unwrap(api.GET('/external_users'));
    expect(listed.data.map((u) => u.name)).toEqual(['ann', 'bob', 'cid']);

    expect(userNames(await scim('GET', '/Users?filter=' + encodeURIComponent('userName eq "ANN"')))).toEqual(['ann']);
    expect(userNames(await scim('GET', '/Users?filter=' + encodeURIComponent('externalId eq "idp-bob"')))).toEqual([
      'bob',
    ]);
    const active = await scim('GET', '/Users?filter=' + encodeURIComponent('active eq true and userName sw "b"'));
    expect(userNames(active)).toEqual(['bob']);
    const second = await scim('GET', '/Users?startIndex=2&count=1');
    expect(second.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1 });
    expect(userNames(second)).toEqual(['bob']);

    const patched = await scim(
      'PATCH',
      `/Users/${ids.ann}`,
      patch({ op: 'replace', path: 'displayName', value: 'Ann A.' }, { op: 'add', value: { title: 'Engineer' } }),
    );
    expect(patched.body).toMatchObject({ userName: 'ann', displayName: 'Ann A.', title: 'Engineer' });
    const replaced = await scim('PUT', `/Users/${ids.bob}`, user('bob', { externalId: 'idp-bob', nickName: 'B' }));
    expect(replaced.body).toMatchObject({ userName: 'bob', nickName: 'B', active: true });
    expect((await scim('GET', `/Users/${ids.bob}`)).body.nickName).toBe('B');

    // RFC 7644 §3.12: a taken userName (ignoring case), an unknown attribute or path, a filter that does not parse.
    const duplicate = await scim('POST', '/Users', user('Ann'));
    expect(duplicate).toMatchObject({ status: 409, body: { schemas: [errorSchema], scimType: 'uniqueness' } });
    // The management API compares names the same way: no second person a `userName eq` lookup would also return.
    const sameButCase = await api.POST('/external_users', { body: { name: 'ANN' } });
    expect(sameButCase.response.status).toBe(409);
    expect(JSON.stringify(sameButCase.error)).toContain(
      'named \\"ann\\" already exists (names are compared ignoring case)',
    );
    expect(userNames(await scim('GET', '/Users?filter=' + encodeURIComponent('userName eq "Ann"')))).toEqual(['ann']);
    expect(await scim('POST', '/Users', user('dee', { shoeSize: 42 }))).toMatchObject({
      status: 400,
      body: { scimType: 'invalidValue', detail: expect.stringContaining('shoeSize') },
    });
    expect(
      await scim('PATCH', `/Users/${ids.ann}`, patch({ op: 'replace', path: 'shoeSize', value: 1 })),
    ).toMatchObject({
      status: 400,
      body: { scimType: 'invalidPath' },
    });
    expect(await scim('GET', '/Users?filter=' + encodeURIComponent('userName eq'))).toMatchObject({
      status: 400,
      body: { scimType: 'invalidFilter' },
    });
    expect(await scim('GET', '/Users?filter=' + encodeURIComponent('shoeSize gt 40'))).toMatchObject({
      status: 400,
      body: { scimType: 'invalidFilter' },
    });
    expect(await scim('POST', '/Users', '{"userName": ')).toMatchObject({
      status: 400,
      body: { scimType: 'invalidSyntax' },
    });
    expect(await scim('PATCH', `/Users/${ids.ann}`, { Operations: [] })).toMatchObject({
      status: 400,
      body: { scimType: 'invalidSyntax' },
    });
    expect((await scim('GET', '/Users/7d9a4a9e-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it("a group named by a policy grants its members' calls, and stops granting a member it removes", async () => {
    expect((await callAs('ann')).text).toMatch(/no access policy grants external user "ann"/);
    const group = await scim('POST', '/Groups', {
      schemas: [groupSchema],
      displayName: 'engineering',
      members: [{ value: ids.ann }],
    });
    expect(group.status).toBe(201);
    ids.group = group.body.id as string;
    expect((await scim('GET', `/Users/${ids.ann}`)).body.groups).toEqual([
      expect.objectContaining({ value: ids.group, display: 'engineering' }),
    ]);
    // Granted: ann has no account connected yet, so the call answers with her connect link; she follows it.
    const first = await waitFor(
      'ann granted by her group',
      async () => {
        const r = await callAs('ann');
        return r.text.includes('/connect/') && r;
      },
      PROPAGATION_DEADLINE_MS,
    );
    provider.consentAs = 'ann';
    expect((await followConnectLink(connectLinkIn(first.text))).status).toBe(200);
    expect(await callAs('ann')).toMatchObject({ isError: false });
    expect((await callAs('bob')).text).toMatch(/no access policy grants external user "bob"/);

    await scim('PATCH', `/Groups/${ids.group}`, patch({ op: 'add', path: 'members', value: [{ value: ids.bob }] }));
    await scim('PATCH', `/Groups/${ids.group}`, patch({ op: 'remove', path: `members[value eq "${ids.ann}"]` }));
    const members = await scim('GET', `/Groups/${ids.group}`);
    expect((members.body.members as { display: string }[]).map((m) => m.display)).toEqual(['bob']);
    await waitFor(
      'ann no longer granted',
      async () => /no access policy grants external user "ann"/.test((await callAs('ann')).text),
      PROPAGATION_DEADLINE_MS,
    );
    expect((await callAs('bob')).text).toContain('/connect/');
    expect(
      await scim('PATCH', `/Groups/${ids.group}`, patch({ op: 'add', path: 'members', value: [{ value: 'nobody' }] })),
    ).toMatchObject({
      status: 400,
      body: { scimType: 'invalidValue' },
    });
    const filtered = await scim(
      'GET',
      '/Groups?excludedAttributes=members&filter=' + encodeURIComponent('displayName eq "Engineering"'),
    );
    expect(filtered.body.Resources).toEqual([expect.not.objectContaining({ members: expect.anything() })]);
    await scim('PATCH', `/Groups/${ids.group}`, patch({ op: 'add', path: 'members', value: [{ value: ids.ann }] }));
    await waitFor('ann granted again', async () => !(await callAs('ann')).isError, PROPAGATION_DEADLINE_MS);
  });

  it('deactivating a person revokes their own account at the provider and stops their calls; deleting ends them', async () => {
    const revocations = provider.revocations.length;
    const waiting = await pendingRequestOf('ann');
    const off = await scim('PATCH', `/Users/${ids.ann}`, patch({ op: 'replace', value: { active: false } }));
    expect(off).toMatchObject({ status: 200, body: { active: false } });
    expect(provider.revocations.slice(revocations)).toEqual([expect.objectContaining({ hint: 'refresh_token' })]);
    // She is told what works: reactivation at the identity provider; creating her again is a 409 saying so.
    expect((await callAs('ann')).text).toMatch(/Unknown user "ann".*deactivated \(SCIM `active: false`\)/);
    const again = await api.POST('/external_users', { body: { name: 'ann' } });
    expect(again.response.status).toBe(409);
    expect(JSON.stringify(again.error)).toContain('deactivated by the identity provider (SCIM): reactivate them there');
    const listed = await unwrap(api.GET('/external_users/{name}/connections', { params: { path: { name: 'ann' } } }));
    expect(listed.data).toEqual([]);
    const request = await unwrap(api.GET('/approvals/{id}', { params: { path: { id: waiting } } }));
    expect(request.state).toBe('expired');
    // Active again: known to the edge, granted by her group, but her account must be connected anew.
    await scim('PATCH', `/Users/${ids.ann}`, patch({ op: 'replace', path: 'active', value: true }));
    await waitFor(
      'ann active again',
      async () => (await callAs('ann')).text.includes('/connect/'),
      PROPAGATION_DEADLINE_MS,
    );

    expect((await scim('DELETE', `/Users/${ids.bob}`)).status).toBe(204);
    expect((await scim('GET', `/Users/${ids.bob}`)).status).toBe(404);
    const group = await scim('GET', `/Groups/${ids.group}`);
    expect((group.body.members as { display: string }[]).map((m) => m.display)).toEqual(['ann']);
    expect((await callAs('bob')).text).toMatch(/Unknown user "bob"/);
    expect((await scim('DELETE', `/Groups/${ids.group}`)).status).toBe(204);
    await waitFor(
      'ann no longer granted',
      async () => /no access policy grants/.test((await callAs('ann')).text),
      PROPAGATION_DEADLINE_MS,
    );

    const events = await unwrap(api.GET('/audit_events', { params: { query: { action: 'scim.*', limit: 100 } } }));
    expect(new Set(events.data.map((e) => e.action))).toEqual(
      new Set([
        'scim.user.create',
        'scim.user.update',
        'scim.user.deactivate',
        'scim.user.reactivate',
        'scim.user.delete',
        'scim.group.create',
        'scim.group.update',
        'scim.group.delete',
      ]),
    );
    expect(events.data.every((e) => e.actor.type === 'system' && e.actor.id === ids.token)).toBe(true);
  });

  it("a workspace's token never sees another's people; a rotated or deleted token is refused", async () => {
    const other = await unwrap(api.POST('/workspaces', { body: { name: 'scim-elsewhere' } }));
    const otherApi = createManagementClient(stack.controlPlaneUrl, other.apiKey.key);
    const otherToken = (await unwrap(otherApi.POST('/scim_token'))).token;
    const theirs = await scim('POST', '/Users', user('ann'), otherToken);
    expect(theirs.status).toBe(201); // the same userName in another workspace is no duplicate
    expect(userNames(await scim('GET', '/Users', undefined, otherToken))).toEqual(['ann']);
    expect((await scim('GET', `/Users/${ids.ann}`, undefined, otherToken)).status).toBe(404);
    expect(
      (await scim('PATCH', `/Users/${ids.ann}`, patch({ op: 'replace', path: 'active', value: false }), otherToken))
        .status,
    ).toBe(404);
    expect((await scim('GET', `/Users/${theirs.body.id as string}`)).status).toBe(404);
    expect(userNames(await scim('GET', '/Users'))).toEqual(['ann', 'cid']);

    const rotated = await unwrap(api.POST('/scim_token'));
    expect((await scim('GET', '/Users')).status).toBe(401);
    token = rotated.token;
    expect((await scim('GET', '/Users')).status).toBe(200);
    await unwrap(api.DELETE('/scim_token'));
    expect((await scim('GET', '/Users')).status).toBe(401);
    expect((await api.GET('/scim_token')).response.status).toBe(404);
  });

  it("answers the RFCs' own examples: 7643 §8's resources, 7644's filters, PATCH operations, pages and errors", async () => {
    token = (await unwrap(api.POST('/scim_token'))).token;
    const enterprise = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
    // §8.1 creates Babs (the service's id and meta, never the client's); §8.2, the same userName, is a duplicate;
    // as a PUT it replaces her (the password and the read-only groups not kept); §8.3 adds the enterprise extension.
    const minimal = await scim('POST', '/Users', rfc.minimalUser);
    expect(minimal).toMatchObject({ status: 201, body: { userName: 'bjensen@example.com', active: true } });
    const babs = minimal.body.id as string;
    expect(babs).not.toBe(rfc.rfcIds.babs);
    expect((minimal.body.meta as { created: string }).created).not.toBe('2010-01-23T04:56:22Z');
    expect(await scim('POST', '/Users', rfc.fullUser)).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });
    const full = await scim('PUT', `/Users/${babs}`, rfc.fullUser);
    expect(full.status).toBe(200);
    const { schemas: _s, id: _i, meta: _m, password: _p, groups: _g, ...kept } = rfc.fullUser;
    expect(full.body).toMatchObject({ ...kept, id: babs, schemas: [userSchema], groups: [] });
    expect(full.body).not.toHaveProperty('password');
    const withExtension = await scim('PUT', `/Users/${babs}`, rfc.enterpriseUser);
    expect(withExtension.body).toMatchObject({
      schemas: [userSchema, enterprise],
      [enterprise]: rfc.enterpriseUser[enterprise],
    });
    // An extension this service does not support: the RFC's invalidValue, naming it.
    const other = 'urn:example:params:scim:schemas:extension:badge:2.0:User';
    expect(
      await scim('PUT', `/Users/${babs}`, { ...rfc.fullUser, schemas: [userSchema, other], [other]: { badge: 7 } }),
    ).toMatchObject({ status: 400, body: { scimType: 'invalidValue', detail: expect.stringContaining(other) } });

    // The people the filter and PATCH examples name.
    const mandy = await scim('POST', '/Users', {
      schemas: [userSchema],
      userName: 'mpepperidge',
      displayName: 'Mandy Pepperidge',
      userType: 'Intern',
      emails: [{ value: 'mandy@example.org', type: 'work' }],
      ims: [{ value: 'mandy@foo.com', type: 'xmpp' }],
    });
    const james = await scim('POST', '/Users', {
      schemas: [userSchema],
      userName: 'jsmith',
      displayName: 'James Smith',
      name: { familyName: "O'Malley" },
      title: 'Tour Manager',
      userType: 'Contractor',
      emails: [{ value: 'jsmith@example.net', type: 'work' }],
    });
    const ours: Record<string, string> = {
      [rfc.rfcIds.babs]: babs,
      [rfc.rfcIds.mandy]: mandy.body.id as string,
      [rfc.rfcIds.james]: james.body.id as string,
    };
    const mapped = <T>(example: T): T =>
      JSON.parse(JSON.stringify(example).replace(/[0-9a-f-]{36}/g, (id) => ours[id] ?? id)) as T;

    // RFC 7644 §3.4.2.2, every example (ann, with a title, and cid are there from the cases above).
    const found: string[][] = [];
    for (const filter of rfc.filterExamples) {
      const answer = await scim('GET', '/Users?filter=' + encodeURIComponent(filter));
      expect({ filter, status: answer.status }).toEqual({ filter, status: 200 });
      found.push(userNames(answer).sort() as string[]);
    }
    const everyone = ['ann', 'bjensen@example.com', 'cid', 'jsmith', 'mpepperidge'];
    expect(found).toEqual([
      [],
      ['jsmith'],
      ['jsmith'],
      ['jsmith'],
      ['ann', 'bjensen@example.com', 'jsmith'],
      everyone,
      everyone,
      [],
      [],
      ['bjensen@example.com'],
      ['ann', 'bjensen@example.com', 'jsmith', 'mpepperidge'],
      ['bjensen@example.com'],
      ['bjensen@example.com'],
      ['jsmith'],
      ['bjensen@example.com'],
      ['bjensen@example.com'],
      ['bjensen@example.com', 'mpepperidge'],
    ]);
    // What no User has, and a path of the Group schema on /Users: the RFC's invalidFilter.
    for (const filter of ['shoeSize pr', 'urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"'])
      expect(await scim('GET', '/Users?filter=' + encodeURIComponent(filter))).toMatchObject({
        status: 400,
        body: { schemas: [errorSchema], status: '400', scimType: 'invalidFilter' },
      });

    // RFC 7643 §8.4: as printed, its members are no Users here (invalidValue); with their ids here, created.
    expect(await scim('POST', '/Groups', rfc.group)).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    const guides = await scim('POST', '/Groups', mapped(rfc.group));
    expect(guides.status).toBe(201);
    const members = async () =>
      ((await scim('GET', `/Groups/${guides.body.id as string}`)).body.members as { display: string }[])
        .map((m) => m.display)
        .sort();
    expect(await members()).toEqual(['bjensen@example.com', 'mpepperidge']);
    // RFC 7644 §3.5.2: remove by a value filter, add, replace, remove all.
    const patchGroup = (body: unknown) => scim('PATCH', `/Groups/${guides.body.id as string}`, mapped(body));
    expect((await patchGroup(rfc.patchExamples.removeMember)).status).toBe(200);
    expect(await members()).toEqual(['mpepperidge']);
    await patchGroup(rfc.patchExamples.addMember);
    expect(await members()).toEqual(['bjensen@example.com', 'mpepperidge']);
    await patchGroup(rfc.patchExamples.replaceMembers);
    expect(await members()).toEqual(['bjensen@example.com', 'jsmith']);
    await patchGroup(rfc.patchExamples.removeAllMembers);
    expect(await members()).toEqual([]);
    // …and on a user: add without a path (`nickname` in the RFC's case), the work address and its street replaced.
    const patchUser = (body: unknown) => scim('PATCH', `/Users/${ours[rfc.rfcIds.mandy]!}`, body);
    expect((await patchUser(rfc.patchExamples.addToUser)).body).toMatchObject({
      nickName: 'Babs',
      emails: [
        { value: 'mandy@example.org', type: 'work' },
        { value: 'babs@jensen.org', type: 'home' },
      ],
    });
    await scim('PATCH', `/Users/${babs}`, rfc.patchExamples.replaceWorkAddress);
    const street = await scim('PATCH', `/Users/${babs}`, rfc.patchExamples.replaceStreet);
    expect(street.body.addresses).toEqual([
      expect.objectContaining({ type: 'work', streetAddress: '1010 Broadway Ave', country: 'US' }),
      rfc.fullUser.addresses[1],
    ]);
    const replaced = await patchUser(rfc.patchExamples.replaceUser);
    const [replace] = rfc.patchExamples.replaceUser.Operations as [{ value: { emails: unknown[] } }];
    expect(replaced.body).toMatchObject({ nickName: 'Babs', emails: replace.value.emails });

    // RFC 7644 §3.4.2.4: 1-based pages; a count of 0 (or below) answers the total only.
    const all = await scim('GET', '/Users?startIndex=1&count=10');
    expect(all.body).toMatchObject({ totalResults: 5, startIndex: 1, itemsPerPage: 5 });
    const page2 = await scim('GET', '/Users?startIndex=2&count=2');
    expect(page2.body).toMatchObject({ totalResults: 5, startIndex: 2, itemsPerPage: 2 });
    expect(userNames(page2)).toEqual(userNames(all).slice(1, 3));
    expect((await scim('GET', '/Users?count=-1')).body).toMatchObject({ totalResults: 5, itemsPerPage: 0 });
    expect((await scim('GET', '/Users?startIndex=0&count=1')).body).toMatchObject({ startIndex: 1, itemsPerPage: 1 });
    expect((await scim('GET', '/Users?startIndex=9')).body).toMatchObject({ totalResults: 5, Resources: [] });

    // RFC 7644 §3.12's example: the RFC's own id is no resource here.
    expect(await scim('GET', `/Users/${rfc.rfcIds.babs}`)).toMatchObject({
      status: 404,
      body: { schemas: [errorSchema], status: '404', detail: expect.stringContaining(rfc.rfcIds.babs) },
    });
  });
});

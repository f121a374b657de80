import { describe, expect, it } from '@jest/globals';
import { credentialPaths, loosenedFields } from './loosening.ts';

const rule = { approvers: { apiKeys: ['k1', 'k2'] }, approvals: 2, expiresInSeconds: 3600 };

describe('loosenedFields', () => {
  it('enterprise IdP: adding one, or another issuer, keys, client or user claim lets people in; removing, renaming, rotating does not', () => {
    const idp = {
      id: 'i1',
      name: 'corp',
      issuer: 'https://idp.example.com',
      jwksUrl: 'https://idp.example.com/jwks',
      clientId: 'c1',
      userClaim: 'sub',
    };
    const { id: _id, ...body } = idp;
    expect(loosenedFields('enterprise_idp', { stored: {}, body })).toEqual(['(created)']);
    const other = {
      issuer: 'https://evil.example.com',
      jwksUrl: 'https://evil.example.com/jwks',
      clientId: 'c2',
      userClaim: 'email',
    };
    expect(loosenedFields('enterprise_idp', { stored: idp, body: other })).toEqual([
      'issuer',
      'jwksUrl',
      'clientId',
      'userClaim',
    ]);
    expect(loosenedFields('enterprise_idp', { stored: idp, body: { jwksUrl: 'https://idp.example.com/k2' } })).toEqual([
      'jwksUrl',
    ]);
    expect(loosenedFields('enterprise_idp', { stored: idp, body })).toEqual([]);
    expect(loosenedFields('enterprise_idp', { stored: idp, body: { name: 'corp-2', rotateSecret: true } })).toEqual([]);
    expect(loosenedFields('enterprise_idp', { stored: idp, body: undefined })).toEqual([]);
  });

  it('server: public, confirmations and approvals lifted, config changed; the reverse tightens', () => {
    const tight = { isPublic: false, codeMode: false, confirmTools: ['a'], approvalTools: ['b'], approvalRule: rule };
    const loose = { isPublic: true, confirmTools: [], approvalTools: [], approvalRule: null };
    expect(loosenedFields('server', { stored: tight, body: loose })).toEqual([
      'isPublic',
      'confirmTools',
      'approvalTools',
      'approvalRule',
    ]);
    const stored = { isPublic: true, codeMode: false, confirmTools: [], approvalTools: [], approvalRule: null };
    expect(loosenedFields('server', { stored, body: tight })).toEqual([]);
    expect(loosenedFields('server', { stored: tight, body: { approvalRule: { ...rule, approvals: 1 } } })).toEqual([
      'approvalRule',
    ]);
    expect(loosenedFields('server', { stored: tight, body: { approvalRule: { ...rule, approvals: 3 } } })).toEqual([]);
    expect(loosenedFields('server', { stored: { config: {} }, body: { config: { cache: true } } })).toEqual(['config']);
    expect(loosenedFields('server', { stored: tight, body: { codeMode: true } })).toEqual(['codeMode']);
    expect(loosenedFields('server', { stored: tight, body: undefined })).toEqual([]);
  });

  it('access policy: principals, servers, tools added, condition removed or changed, log only; deletion narrows unless it frees a key', () => {
    const p = {
      principals: [{ type: 'api_key', value: 'k1' }],
      servers: ['s1'],
      tools: ['read'],
      condition: 'args.amount < 10',
      onFalse: 'refuse',
      enforce: true,
    };
    const wider = {
      principals: [...p.principals, { type: 'api_key', value: 'k2' }],
      servers: ['*'],
      tools: ['read', 'refund'],
      condition: null,
      enforce: false,
    };
    expect(loosenedFields('access_policy', { stored: p, body: wider })).toEqual([
      'principals',
      'servers',
      'tools',
      'condition',
      'enforce',
    ]);
    expect(loosenedFields('access_policy', { stored: p, body: { condition: 'args.amount < 5' } })).toEqual([
      'condition',
    ]);
    expect(loosenedFields('access_policy', { stored: p, body: { condition: p.condition } })).toEqual([]);
    expect(
      loosenedFields('access_policy', { stored: p, body: { onFalse: 'require_approval', approval: rule } }),
    ).toEqual(['onFalse']);
    const narrower = { principals: [], servers: [], tools: ['read'] };
    // (Other policies still name its keys.)
    const stillNamed = { ...wider, otherPrincipals: wider.principals };
    expect(loosenedFields('access_policy', { stored: stillNamed, body: narrower })).toEqual([]);
    expect(loosenedFields('access_policy', { stored: { ...p, condition: null }, body: { condition: 'x' } })).toEqual(
      [],
    );
    const approving = { ...p, onFalse: 'require_approval', approval: rule };
    expect(loosenedFields('access_policy', { stored: approving, body: { approval: null } })).toEqual(['approval']);
    expect(loosenedFields('access_policy', { stored: approving, body: { onFalse: 'refuse' } })).toEqual([]);
    expect(loosenedFields('access_policy', { stored: p, body: undefined })).toEqual(['principals']);
    // Another policy still names the key: deleting this one, or taking the key out, narrows.
    const named = { ...p, otherPrincipals: [{ type: 'api_key', value: 'k1' }] };
    expect(loosenedFields('access_policy', { stored: named, body: undefined })).toEqual([]);
    const other = [{ type: 'oauth_subject', value: 's' }];
    const both = [...p.principals, ...other];
    expect(
      loosenedFields('access_policy', { stored: { ...named, principals: both }, body: { principals: other } }),
    ).toEqual([]);
    // The last policy naming the key: the key would call every tool.
    expect(
      loosenedFields('access_policy', { stored: { ...p, principals: both }, body: { principals: other } }),
    ).toEqual(['principals']);
  });

  it('api key: restriction lifted or servers added; fewer servers tighten', () => {
    const k = { serverIds: ['s1'], scopes: ['runtime'] };
    expect(loosenedFields('api_key', { stored: k, body: { serverIds: null } })).toEqual(['serverIds']);
    expect(loosenedFields('api_key', { stored: k, body: { serverIds: ['s1', 's2'] } })).toEqual(['serverIds']);
    expect(loosenedFields('api_key', { stored: k, body: { scopes: ['runtime', 'management'] } })).toEqual(['scopes']);
    expect(loosenedFields('api_key', { stored: { serverIds: ['s1', 's2'] }, body: { serverIds: ['s1'] } })).toEqual([]);
    expect(loosenedFields('api_key', { stored: { serverIds: null }, body: { serverIds: ['s1'] } })).toEqual([]);
    expect(loosenedFields('api_key', { stored: k, body: undefined })).toEqual([]);
  });

  it('api key: out of the staging twin loosens (its calls reach production again); into it does not', () => {
    expect(loosenedFields('api_key', { stored: { serverIds: null, twin: true }, body: { twin: false } })).toEqual([
      'twin',
    ]);
    expect(loosenedFields('api_key', { stored: { serverIds: null, twin: false }, body: { twin: true } })).toEqual([]);
    expect(loosenedFields('api_key', { stored: { serverIds: null, twin: true }, body: { twin: true } })).toEqual([]);
  });

  it('quota: raised, log only or deleted; lowered or enforced tightens', () => {
    const q = { limit: 10, enforce: true };
    expect(loosenedFields('quota', { stored: q, body: { limit: 11, enforce: false } })).toEqual(['limit', 'enforce']);
    expect(loosenedFields('quota', { stored: q, body: undefined })).toEqual(['(deleted)']);
    expect(loosenedFields('quota', { stored: q, body: { limit: 9 } })).toEqual([]);
    expect(loosenedFields('quota', { stored: { limit: 10, enforce: false }, body: { enforce: true } })).toEqual([]);
    expect(loosenedFields('quota', { stored: { limit: 10, enforce: false }, body: undefined })).toEqual([]);
  });

  it('guardrail: log only, detectors reduced or deleted; more detectors tighten', () => {
    const g = { enforce: true, detectors: ['secrets', 'pii'] };
    expect(loosenedFields('guardrail', { stored: g, body: { enforce: false, detectors: ['secrets'] } })).toEqual([
      'enforce',
      'detectors',
    ]);
    expect(loosenedFields('guardrail', { stored: g, body: undefined })).toEqual(['(deleted)']);
    expect(loosenedFields('guardrail', { stored: g, body: { detectors: ['secrets', 'pii', 'injection'] } })).toEqual(
      [],
    );
  });

  it('quota: a shorter window, another way of counting, a counter per caller, a narrower match loosen', () => {
    const q = { limit: 10, enforce: true, counts: 'calls', window: 'day', match: { tools: ['a', 'b'] } };
    expect(loosenedFields('quota', { stored: q, body: { window: 'hour' } })).toEqual(['window']);
    expect(loosenedFields('quota', { stored: q, body: { window: 'month' } })).toEqual([]);
    expect(loosenedFields('quota', { stored: q, body: { counts: 'cost' } })).toEqual(['counts']);
    expect(loosenedFields('quota', { stored: q, body: { per: 'api_key' } })).toEqual(['per']);
    expect(loosenedFields('quota', { stored: { ...q, per: 'api_key' }, body: { per: null } })).toEqual([]);
    expect(loosenedFields('quota', { stored: q, body: { match: { tools: ['a'] } } })).toEqual(['match']);
    expect(loosenedFields('quota', { stored: q, body: { match: { tools: ['a', 'b'], apiKeys: ['k'] } } })).toEqual([
      'match',
    ]);
    // A field dropped, or a tool added, counts more calls: a tightening.
    expect(loosenedFields('quota', { stored: q, body: { match: {} } })).toEqual([]);
    expect(loosenedFields('quota', { stored: q, body: { match: { tools: ['a', 'b', 'c'] } } })).toEqual([]);
  });

  it('guardrail: a weaker action, fewer targets, a narrower scope, a larger unscanned size loosen', () => {
    const g = {
      enforce: true,
      detectors: ['secrets'],
      action: 'block',
      on: ['results', 'arguments'],
      serverId: null,
      tools: [],
    };
    expect(loosenedFields('guardrail', { stored: g, body: { action: 'flag' } })).toEqual(['action']);
    expect(loosenedFields('guardrail', { stored: { ...g, action: 'flag' }, body: { action: 'redact' } })).toEqual([]);
    expect(loosenedFields('guardrail', { stored: g, body: { on: ['results'] } })).toEqual(['on']);
    expect(loosenedFields('guardrail', { stored: g, body: { serverId: 's1', tools: ['x'] } })).toEqual(['serverId']);
    const one = { ...g, serverId: 's1', tools: ['x', 'y'] };
    expect(loosenedFields('guardrail', { stored: one, body: { tools: ['x'] } })).toEqual(['tools']);
    expect(loosenedFields('guardrail', { stored: one, body: { tools: [] } })).toEqual([]);
    expect(loosenedFields('guardrail', { stored: one, body: { serverId: null, tools: [] } })).toEqual([]);
    expect(loosenedFields('guardrail', { stored: { ...g, maxBytes: 10 }, body: { maxBytes: 20 } })).toEqual([
      'maxBytes',
    ]);
    expect(loosenedFields('guardrail', { stored: { ...g, maxBytes: 10 }, body: { maxBytes: 5 } })).toEqual([]);
  });

  it('external server: autoAccept turned on publishes its changes unreviewed; off tightens', () => {
    const e = { autoAccept: false, onChange: 'withhold' };
    expect(loosenedFields('external_server', { stored: e, body: { autoAccept: true } })).toEqual(['autoAccept']);
    expect(loosenedFields('external_server', { stored: { autoAccept: true }, body: { autoAccept: false } })).toEqual(
      [],
    );
    expect(loosenedFields('external_server', { stored: e, body: { name: 'other' } })).toEqual([]);
    expect(loosenedFields('external_server', { stored: e, body: undefined })).toEqual([]);
  });

  it('connector: an operation costs less, a tool declares fewer labels, a result shape changed; the reverse tightens', () => {
    const source = (cost: number | undefined, labels: string[], shape: unknown, extension?: number) => ({
      descriptor: {
        operations: [{ operation_id: 'get', ...(cost !== undefined ? { cost } : {}) }],
        mcp_config: { route_mappings: [{ operation_id: 'get', mcp_tool_name: 'get', labels, result_shape: shape }] },
      },
      document: extension === undefined ? null : { paths: { '/x': { get: { 'x-toolplane-cost': extension } } } },
    });
    const stored = source(5, ['private', 'external_write'], { items: 10 }, 3);
    expect(loosenedFields('connector', { stored, body: source(undefined, ['private'], { items: 20 }, 2) })).toEqual([
      'cost',
      'labels',
      'result_shape',
    ]);
    expect(
      loosenedFields('connector', { stored, body: source(6, ['private', 'external_write', 'x'], { items: 10 }, 3) }),
    ).toEqual([]);
    // Without a declared cost an operation costs 1: declaring 0 lowers it.
    expect(loosenedFields('connector', { stored: source(undefined, [], null), body: source(0, [], null) })).toEqual([
      'cost',
    ]);
    expect(loosenedFields('connector', { stored, body: undefined })).toEqual([]);
  });

  it('connector: a renamed or moved operation may not cost less than it did (issue #89)', () => {
    const op = (id: string, endpoint: string, cost?: number) => ({
      operation_id: id,
      method: 'GET',
      endpoint,
      ...(cost !== undefined ? { cost } : {}),
    });
    const of = (...operations: unknown[]) => ({ descriptor: { operations }, document: null });
    const stored = of(op('get', 'https://api/t/{id}', 5), op('list', 'https://api/t'));
    // Renamed: the same method and endpoint, cheaper.
    expect(
      loosenedFields('connector', { stored, body: of(op('fetch', 'https://api/t/{id}'), op('list', 'https://api/t')) }),
    ).toEqual(['cost']);
    // Renamed and moved: a new operation cheaper than the dearest one dropped.
    expect(
      loosenedFields('connector', {
        stored,
        body: of(op('fetch', 'https://api/t/{key}', 2), op('list', 'https://api/t')),
      }),
    ).toEqual(['cost']);
    // Renamed at the same cost, or a new operation beside the old ones: nothing loosens.
    expect(
      loosenedFields('connector', {
        stored,
        body: of(op('fetch', 'https://api/t/{id}', 5), op('list', 'https://api/t')),
      }),
    ).toEqual([]);
    expect(
      loosenedFields('connector', { stored, body: of(...stored.descriptor.operations, op('new', 'https://api/n', 0)) }),
    ).toEqual([]);
    // An OpenAPI operation moved to another path without its cost extension costs 1, less than 3.
    const doc = (path: string, ext?: number) => ({
      descriptor: null,
      document: {
        paths: { [path]: { get: { operationId: path, ...(ext !== undefined ? { 'x-toolplane-cost': ext } : {}) } } },
      },
    });
    expect(loosenedFields('connector', { stored: doc('/a', 3), body: doc('/b') })).toEqual(['cost']);
    expect(loosenedFields('connector', { stored: doc('/a', 3), body: doc('/b', 3) })).toEqual([]);
  });

  it('creations are judged by what they grant (issue #89)', () => {
    const created = (kind: Parameters<typeof loosenedFields>[0], body: Record<string, unknown>, stored = {}) =>
      loosenedFields(kind, { stored, body, created: true });
    const policy = { name: 'p', servers: ['*'], tools: ['*'] };
    const subject = [{ type: 'oauth_subject', value: 'mallory' }];
    const key = [{ type: 'api_key', value: 'k1' }];
    expect(created('access_policy', { ...policy, principals: subject })).toEqual(['(created)']);
    expect(created('access_policy', { ...policy, principals: subject, enforce: false })).toEqual(['(created)']);
    // A key no policy names calls every tool: the first policy naming it narrows it.
    expect(created('access_policy', { ...policy, principals: key }, { otherPrincipals: [] })).toEqual([]);
    expect(created('access_policy', { ...policy, principals: key }, { otherPrincipals: key })).toEqual(['(created)']);
    expect(created('api_key', { name: 'k', scopes: ['runtime'] })).toEqual(['(created)']);
    expect(created('server', { name: 's', isPublic: true })).toEqual(['isPublic']);
    expect(created('server', { name: 's', isPublic: false, codeMode: true })).toEqual([]);
    expect(created('external_server', { name: 'e', autoAccept: true })).toEqual(['autoAccept']);
    expect(created('external_server', { name: 'e', autoAccept: false })).toEqual([]);
  });

  it('role mapping: a role given, another groups claim or the mapping removed loosen; a first mapping narrows', () => {
    const stored = {
      configured: true,
      groupsClaim: null,
      assignments: [
        { subject: 'ada', roles: ['admin'] },
        { group: 'ops', roles: ['operator'] },
      ],
    };
    const body = (assignments: unknown[], groupsClaim: string | null = null) => ({ groupsClaim, assignments });
    expect(
      loosenedFields('role_mapping', {
        stored,
        body: body([
          { subject: 'ada', roles: ['admin'] },
          { group: 'ops', roles: ['operator', 'approver'] },
        ]),
      }),
    ).toEqual(['assignments[group ops: approver]']);
    expect(loosenedFields('role_mapping', { stored, body: body(stored.assignments, 'roles') })).toEqual([
      'groupsClaim',
    ]);
    expect(loosenedFields('role_mapping', { stored, body: body([{ subject: 'ada', roles: ['admin'] }]) })).toEqual([]);
    expect(loosenedFields('role_mapping', { stored, body: undefined })).toEqual(['(deleted)']);
    const none = { configured: false, groupsClaim: null, assignments: [] };
    expect(loosenedFields('role_mapping', { stored: none, body: body([{ subject: 'x', roles: ['admin'] }]) })).toEqual(
      [],
    );
  });

  it('session settings: a rule removed, log only or reduced, ttl shortened; the reverse tightens', () => {
    const r = { id: 'r1', after: ['private', 'untrusted'], toolLabels: ['external_write'], action: 'refuse' };
    const s = { configured: true, ttlSeconds: 3600, rules: [{ ...r, enforce: true }] };
    expect(loosenedFields('session_settings', { stored: s, body: { ttlSeconds: 60, rules: [] } })).toEqual([
      'rules[r1]',
      'ttlSeconds',
    ]);
    const logOnly = { ttlSeconds: 3600, rules: [{ ...r, enforce: false }] };
    expect(loosenedFields('session_settings', { stored: s, body: logOnly })).toEqual(['rules[r1]']);
    const fewer = { ttlSeconds: 3600, rules: [{ ...r, after: ['private'], enforce: true }] };
    expect(loosenedFields('session_settings', { stored: s, body: fewer })).toEqual(['rules[r1]']);
    expect(loosenedFields('session_settings', { stored: s, body: undefined })).toEqual(['rules']);
    const tighter = {
      ttlSeconds: 7200,
      rules: [
        { ...r, enforce: true },
        { ...r, id: 'r2', enforce: true },
      ],
    };
    expect(loosenedFields('session_settings', { stored: s, body: tighter })).toEqual([]);
    expect(loosenedFields('session_settings', { stored: { configured: false }, body: tighter })).toEqual([]);
  });

  it('the four-eyes setting: off, fewer approvals, an approver added or none named; on, or an approver removed, tightens', () => {
    const on = { enabled: true, approvers: { apiKeys: ['k1'] }, approvals: 2, expiresInSeconds: 3600 };
    expect(loosenedFields('change_approvals', { stored: on, body: { ...on, enabled: false } })).toEqual(['enabled']);
    expect(loosenedFields('change_approvals', { stored: on, body: { ...on, approvals: 1 } })).toEqual(['approvals']);
    expect(loosenedFields('change_approvals', { stored: on, body: { ...on, approvers: {} } })).toEqual(['approvers']);
    // An approver added gains a say; one removed leaves fewer who decide (no one gains one).
    const two = { ...on, approvers: { apiKeys: ['k1', 'k2'] } };
    expect(loosenedFields('change_approvals', { stored: on, body: two })).toEqual(['approvers']);
    expect(loosenedFields('change_approvals', { stored: two, body: on })).toEqual([]);
    const other = { ...on, approvers: { apiKeys: ['k1'], subjects: ['ada'] } };
    expect(loosenedFields('change_approvals', { stored: on, body: other })).toEqual(['approvers']);
    expect(loosenedFields('change_approvals', { stored: { ...on, approvers: {} }, body: on })).toEqual([]);
    expect(loosenedFields('change_approvals', { stored: { ...on, enabled: false }, body: on })).toEqual([]);
    expect(loosenedFields('change_approvals', { stored: on, body: undefined })).toEqual(['enabled']);
  });

  it('finds the credentials a change request must never store', () => {
    const body = {
      isPublic: true,
      externalMcpConfigs: [
        { name: 'a', url: 'https://a.example', headers: { Authorization: 'Bearer x' } },
        { name: 'b', url: 'https://b.example', headers: {} },
      ],
    };
    expect(credentialPaths(body)).toEqual(['/externalMcpConfigs/0/headers']);
    expect(credentialPaths({ credentials: { api_key: 'k' } })).toEqual(['/credentials']);
    expect(credentialPaths({ limit: 3, match: { tools: ['x'] } })).toEqual([]);
  });
});

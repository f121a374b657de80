import { describe, expect, it } from '@jest/globals';
import type { WorkspaceAccess } from '@toolplane/contracts';
import { decideAccess, type AccessDecision } from './decide.ts';

const access = (policies: WorkspaceAccess['policies']): WorkspaceAccess => ({ v: 1, workspaceId: 'w', policies });
const rule = (principals: WorkspaceAccess['policies'][number]['principals'], servers: string[], tools: string[]) => ({
  id: `p${Math.random()}`,
  principals,
  servers,
  tools,
});
const tools = (d: AccessDecision) => (d.allowed ? (d.grant === 'all' ? 'all' : [...d.grant].sort()) : d.reason);

describe('decideAccess', () => {
  it('gives an unnamed key every tool, within its serverIds', () => {
    expect(tools(decideAccess(access([]), { keyId: 'k' }, 's1'))).toBe('all');
    expect(tools(decideAccess(access([]), { keyId: 'k', keyServerIds: ['s1'] }, 's2'))).toMatch(
      /limited to other MCP servers/,
    );
  });

  it('governs a key by policies once one names it', () => {
    const a = access([rule([{ type: 'api_key', value: 'k' }], ['s1'], ['get'])]);
    expect(tools(decideAccess(a, { keyId: 'k' }, 's1'))).toEqual(['get']);
    expect(tools(decideAccess(a, { keyId: 'k' }, 's2'))).toMatch(/no access policy grants API key k/);
    expect(tools(decideAccess(a, { keyId: 'other' }, 's2'))).toBe('all');
  });

  it("grants a SCIM group's published members as the users themselves (`external_group`, `*`: any group's)", () => {
    const a: WorkspaceAccess = {
      ...access([
        rule([{ type: 'external_group', value: 'eng' }], ['s1'], ['get']),
        rule(
          [
            { type: 'api_key', value: 'k' },
            { type: 'external_group', value: '*' },
          ],
          ['s2'],
          ['*'],
        ),
      ]),
      groups: { eng: ['ann'], ops: ['bob'] },
    };
    expect(tools(decideAccess(a, { keyId: 'unnamed', username: 'ann' }, 's1'))).toEqual(['get']);
    expect(tools(decideAccess(a, { keyId: 'k', username: 'bob' }, 's2'))).toBe('all');
    expect(tools(decideAccess(a, { keyId: 'k', username: 'cid' }, 's2'))).toMatch(/may not act as external user "cid"/);
    expect(tools(decideAccess(a, { keyId: 'unnamed', username: 'cid' }, 's1'))).toMatch(/external user "cid"/);
    expect(tools(decideAccess({ ...a, groups: undefined }, { keyId: 'unnamed', username: 'ann' }, 's1'))).toMatch(
      /no access policy grants external user "ann"/,
    );
  });

  it('denies OAuth subjects and groups by default and unions their grants', () => {
    expect(tools(decideAccess(access([]), { subject: 'alice' }, 's1'))).toMatch(/OAuth subject "alice"/);
    const a = access([
      rule([{ type: 'oauth_group', value: 'support' }], ['*'], ['get']),
      rule([{ type: 'oauth_subject', value: 'alice' }], ['s1'], ['search']),
    ]);
    expect(tools(decideAccess(a, { subject: 'alice', groups: ['support'] }, 's1'))).toEqual(['get', 'search']);
    expect(tools(decideAccess(a, { subject: 'bob', groups: ['support'] }, 's1'))).toEqual(['get']);
    expect(tools(decideAccess(a, { subject: 'bob', groups: ['sales'] }, 's1'))).toMatch(/groups: sales/);
    expect(
      tools(
        decideAccess(access([rule([{ type: 'oauth_subject', value: '*' }], ['*'], ['*'])]), { subject: 'x' }, 's9'),
      ),
    ).toBe('all');
  });

  it('intersects the credential and the external user', () => {
    const a = access([
      // Naming ann with the key also lets the key act as ann (and grants ann these tools).
      rule(
        [
          { type: 'api_key', value: 'k' },
          { type: 'external_user', value: 'ann' },
        ],
        ['s1'],
        ['get', 'search'],
      ),
      rule([{ type: 'external_user', value: 'ann' }], ['s1'], ['search', 'create']),
      rule([{ type: 'api_key', value: 'k' }], ['s1'], ['list']),
      rule([{ type: 'external_user', value: '*' }], ['s1'], ['list']),
    ]);
    expect(tools(decideAccess(a, { keyId: 'k', username: 'ann' }, 's1'))).toEqual(['get', 'list', 'search']);
    expect(tools(decideAccess(a, { keyId: 'unnamed', username: 'ann' }, 's1'))).toEqual([
      'create',
      'get',
      'list',
      'search',
    ]);
    expect(tools(decideAccess(a, { keyId: 'k', username: 'ben' }, 's1'))).toMatch(/external user "ben"/);
    expect(tools(decideAccess(a, { anonymous: true }, 's1'))).toBe('all');
  });

  it('never lets an anonymous caller act as an external user, even one granted every tool', () => {
    const a = access([rule([{ type: 'external_user', value: '*' }], ['*'], ['*'])]);
    const d = decideAccess(a, { anonymous: true, username: 'ann' }, 's1');
    expect(tools(d)).toMatch(/anonymous caller may not act as external user "ann"/);
  });

  it('lets a principal act as a user only when one policy names both (unnamed keys: any user)', () => {
    const users = rule([{ type: 'external_user', value: '*' }], ['*'], ['*']);
    const keyAnn = rule(
      [
        { type: 'api_key', value: 'k' },
        { type: 'external_user', value: 'ann' },
      ],
      ['s1'],
      ['*'],
    );
    const groupAll = rule(
      [
        { type: 'oauth_group', value: 'apps' },
        { type: 'external_user', value: '*' },
      ],
      ['*'],
      ['*'],
    );
    const a = access([users, keyAnn, groupAll]);
    const via = (d: AccessDecision) => (d.allowed ? d.actingVia : d.reason);
    expect(via(decideAccess(a, { keyId: 'unnamed', username: 'ben' }, 's1'))).toBe('unnamed-key');
    expect(via(decideAccess(a, { keyId: 'k', username: 'ann' }, 's1'))).toBe(keyAnn.id);
    expect(via(decideAccess(a, { keyId: 'k', username: 'ben' }, 's1'))).toMatch(
      /API key k may not act as external user "ben"/,
    );
    expect(via(decideAccess(a, { keyId: 'k', username: 'ann' }, 's2'))).toMatch(/no access policy grants API key k/);
    expect(via(decideAccess(a, { subject: 'x', groups: ['apps'], username: 'ben' }, 's3'))).toBe(groupAll.id);
    expect(via(decideAccess(a, { subject: 'x', groups: ['other'], username: 'ben' }, 's3'))).toMatch(/OAuth subject/);
    const subjects = access([users, rule([{ type: 'oauth_subject', value: '*' }], ['*'], ['*'])]);
    expect(via(decideAccess(subjects, { subject: 'ben', username: 'ann' }, 's1'))).toMatch(
      /may not act as external user "ann"/,
    );
    // A token whose user claim names the user is that user.
    expect(via(decideAccess(subjects, { subject: 'ben', username: 'ben', selfUser: true }, 's1'))).toBe('token-user');
  });
});

import { describe, expect, it } from '@jest/globals';
import { accessOf, areaOf, keyAccessOf, requireRole, rolesAllow, rolesOf, type RoleMappingSettings } from './roles.ts';

const mapping: RoleMappingSettings = {
  groupsClaim: 'teams',
  assignments: [
    { subject: 'alice', roles: ['auditor'] },
    { group: 'ops', roles: ['operator'] },
    { group: 'sec', roles: ['auditor', 'approver'] },
  ],
};

describe('people’s roles', () => {
  it('makes everyone an admin in a workspace without a mapping', () => {
    expect(rolesOf(null, { subject: 'x', claims: {} }, 'groups')).toEqual(['admin']);
  });

  it('adds up the roles of the subject and of the groups the mapping’s claim names, in the table’s order', () => {
    const claims = { teams: ['ops', 'sec'], groups: ['admins'] };
    expect(rolesOf(mapping, { subject: 'alice', claims }, 'groups')).toEqual(['operator', 'auditor', 'approver']);
    expect(rolesOf(mapping, { subject: 'bob', claims: { teams: 'ops other' } }, 'groups')).toEqual(['operator']);
    // The default claim is read only when the mapping names none.
    expect(rolesOf(mapping, { subject: 'bob', claims: { groups: ['ops'] } }, 'groups')).toEqual([]);
    expect(rolesOf({ ...mapping, groupsClaim: null }, { subject: 'b', claims: { groups: ['ops'] } }, 'groups')).toEqual(
      ['operator'],
    );
  });

  it('places operations in areas by path, the more specific first', () => {
    expect(areaOf('/mcp_servers/{id}/secrets/{name}')).toBe('secrets');
    expect(areaOf('/mcp_manager/{id}/debug_sessions/{sessionId}/events')).toBe('debug_sessions');
    expect(areaOf('/quotas/{id}/usage')).toBe('usage');
    expect(areaOf('/quotas/{id}')).toBe('policies');
    expect(areaOf('/workspaces/current')).toBe('session');
    expect(areaOf('/nowhere')).toBeUndefined();
    // Enterprise IdPs (ADR 0082): who may sign in to the servers, changed as the people are (admins).
    expect(areaOf('/enterprise_idps/{id}')).toBe('people');
    expect(rolesAllow(['operator'], 'POST', '/enterprise_idps')).toBe(false);
    expect(rolesAllow(['viewer'], 'GET', '/enterprise_idps')).toBe(true);
    // MCP Events subscriptions and their deliveries (ADR 0081): read as the records are, a viewer and up.
    expect(areaOf('/event_subscriptions/{id}/deliveries')).toBe('records');
    expect(rolesAllow(['viewer'], 'GET', '/event_subscriptions')).toBe(true);
    expect(rolesAllow(['auditor'], 'GET', '/event_subscriptions')).toBe(false);
  });

  it('lets each role read and change what the table says', () => {
    expect(rolesAllow(['viewer'], 'GET', '/mcp_manager')).toBe(true);
    expect(rolesAllow(['viewer'], 'POST', '/mcp_manager')).toBe(false);
    expect(rolesAllow(['viewer'], 'GET', '/secrets')).toBe(false);
    expect(rolesAllow(['viewer'], 'GET', '/audit_events')).toBe(false);
    expect(rolesAllow(['operator'], 'POST', '/mcp_servers/{id}/deploy')).toBe(true);
    expect(rolesAllow(['operator'], 'POST', '/api_keys')).toBe(false);
    expect(rolesAllow(['auditor'], 'GET', '/audit_events')).toBe(true);
    expect(rolesAllow(['auditor'], 'GET', '/mcp_manager')).toBe(false);
    expect(rolesAllow(['approver'], 'POST', '/approvals/{id}/approve')).toBe(true);
    expect(rolesAllow(['admin'], 'DELETE', '/nowhere')).toBe(true);
    expect(rolesAllow(['operator'], 'DELETE', '/nowhere')).toBe(false);
    expect(accessOf([], 'session')).toBe('none');
    expect(accessOf(['auditor'], 'session')).toBe('write');
  });

  it('refuses with a 403 that names the roles held, and leaves API keys alone', () => {
    expect(() => requireRole(['viewer'], { method: 'post', path: '/mcp_manager' })).toThrow(
      expect.objectContaining({ status: 403, message: expect.stringContaining('the roles viewer') }),
    );
    expect(() => requireRole([], { method: 'get', path: '/mcp_manager' })).toThrow(/no role in this workspace/);
    expect(() => requireRole(undefined, { method: 'post', path: '/api_keys' })).not.toThrow();
  });

  it('tells a key what its scopes reach: approve the approvals, audit the trail, management the rest', () => {
    expect(keyAccessOf(['approve'], 'approvals')).toBe('write');
    expect(keyAccessOf(['approve'], 'servers')).toBe('none');
    expect(keyAccessOf(['approve'], 'session')).toBe('write');
    expect(keyAccessOf(['audit'], 'trail')).toBe('read');
    expect(keyAccessOf(['audit'], 'usage')).toBe('none');
    expect(keyAccessOf(['management'], 'trail')).toBe('none');
    expect(keyAccessOf(['management', 'audit'], 'trail')).toBe('write');
    expect(keyAccessOf(['management'], 'approvals')).toBe('write');
    expect(keyAccessOf(['management'], 'workspace_files')).toBe('write');
    expect(keyAccessOf(['runtime'], 'servers')).toBe('none');
  });
});

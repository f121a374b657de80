import { describe, expect, it } from '@jest/globals';
import { credentialsRefusal, fixedOrigin, hasUnboundCredentials } from './credentials.ts';
import type { WorkflowDocumentIR } from './ir.ts';

/** Where a connector instance's credentials may go: the origin they were bound to, nowhere else. */

describe('fixedOrigin', () => {
  it('is the origin of an absolute http(s) URL whose host is written out', () => {
    expect(fixedOrigin('https://API.example.com:443/v1/{id}')).toBe('https://api.example.com');
    expect(fixedOrigin('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(fixedOrigin('https://user@api.example.com/v1')).toBe('https://api.example.com');
  });

  it('is undefined for a relative URL, another scheme, or a host decided at run time', () => {
    for (const url of [
      '/v1',
      '//api.example.com/v1',
      'ftp://api.example.com',
      'https://{region}.api.example.com',
      'https://{$inputs.host}/v1',
      'https://api.example.com{$inputs.suffix}/v1',
      'https://api.example.com\\@collector.example/',
      'https:///v1',
    ])
      expect(fixedOrigin(url)).toBeUndefined();
  });
});

describe('credentialsRefusal', () => {
  const bound = { source: 'vault', origin: 'https://vault.example' };

  it('lets them go to their own origin, whatever the path and query', () => {
    expect(credentialsRefusal({ url: 'https://vault.example/v1/pets/%2F..?x=1', headers: {} }, bound)).toBeUndefined();
    expect(credentialsRefusal({ url: 'https://VAULT.example:443/pets', headers: {} }, bound)).toBeUndefined();
  });

  it('refuses another origin (host, port or scheme), naming both and nothing of the path', () => {
    for (const url of [
      'https://collector.example/pets?key=1',
      'https://vault.example:8443/pets',
      'http://vault.example/pets',
      'https://vault.example.collector.example/pets',
      'https://vault.example@collector.example/pets',
    ]) {
      const refusal = credentialsRefusal({ url, headers: {} }, bound);
      expect(refusal).toMatch(
        new RegExp(
          '^the connector instance credentials of source "vault" are bound to https://vault\\.example ' +
            '\\(the instance’s base URL\\), but this request goes to \\S+: not sent$',
        ),
      );
      expect(refusal).toContain(new URL(url).origin);
      expect(refusal).not.toContain('/pets');
    }
  });

  it('refuses a Host header the step set, and steps compiled before origins were bound', () => {
    expect(
      credentialsRefusal({ url: 'https://vault.example/pets', headers: { host: 'collector.example' } }, bound),
    ).toBe('the connector instance credentials of source "vault" are not sent with a Host header set by the step');
    expect(credentialsRefusal({ url: 'https://vault.example/pets', headers: {} }, { source: 'vault' })).toBe(
      'the connector instance credentials of source "vault" were compiled before they were bound to the instance’s ' +
        'origin: deploy the workflow again (POST …/deployments/{id}/redeploy); not sent',
    );
  });
});

describe('hasUnboundCredentials', () => {
  const ir = (credentials: object | undefined) =>
    ({
      workflows: [
        {
          steps: [
            { target: { kind: 'workflow', workflowId: 'x' } },
            { target: { kind: 'http', method: 'GET', url: 'https://vault.example/pets', credentials } },
          ],
        },
      ],
    }) as unknown as WorkflowDocumentIR;

  it('tells an IR compiled before origins (credentials without one) from a current or credential-free one', () => {
    expect(hasUnboundCredentials(ir({ headers: { 'X-Key': '{key}' } }))).toBe(true);
    expect(hasUnboundCredentials(ir({ origin: 'https://vault.example', headers: { 'X-Key': '{key}' } }))).toBe(false);
    expect(hasUnboundCredentials(ir(undefined))).toBe(false);
  });
});

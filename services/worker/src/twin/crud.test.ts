import { describe, expect, it } from '@jest/globals';
import type { HttpOperationPlan } from '@toolplane/contracts';
import { crudShape, idField, overlay } from './crud.ts';

/** A plan as `compileOpenApiTools` makes one: method, URL template, parameters. */
function plan(
  method: HttpOperationPlan['method'],
  path: string,
  params: HttpOperationPlan['params'],
): HttpOperationPlan {
  return { kind: 'http', method, url: `https://api.example.com${path}`, params, authHeaders: {}, secrets: {} };
}

const owner = { arg: 'owner', name: 'owner', in: 'path' } as const;
const repo = { arg: 'repo', name: 'repo', in: 'path' } as const;
const number = { arg: 'issue_number', name: 'issue_number', in: 'path' } as const;
const title = { arg: 'title', name: 'title', in: 'body' } as const;

describe('crudShape', () => {
  const args = { owner: 'octo', repo: 'hello', issue_number: 7, title: 'Hi' };
  it('recognises create, read, update and delete on one collection', () => {
    expect(crudShape(plan('POST', '/repos/{owner}/{repo}/issues', [owner, repo, title]), args)).toEqual({
      kind: 'create',
      collection: '/repos/octo/hello/issues',
      body: { title: 'Hi' },
    });
    const item = '/repos/{owner}/{repo}/issues/{issue_number}';
    const shapes = (['GET', 'PATCH', 'PUT', 'POST', 'DELETE'] as const).map(
      (m) => crudShape(plan(m, item, [owner, repo, number]), args)?.kind,
    );
    expect(shapes).toEqual(['read', 'update', 'update', 'update', 'delete']);
    expect(crudShape(plan('GET', item, [owner, repo, number]), args)).toMatchObject({
      collection: '/repos/octo/hello/issues',
      id: '7',
      idParam: 'issue_number',
    });
  });

  it('leaves lists, unfilled paths and wrapped answers to the other answers', () => {
    expect(crudShape(plan('GET', '/repos/{owner}/{repo}/issues', [owner, repo]), args)).toBeUndefined();
    expect(
      crudShape(plan('GET', '/repos/{owner}/{repo}/issues/{issue_number}', [owner, repo, number]), {}),
    ).toBeUndefined();
    const wrapped = { ...plan('POST', '/items', []), output: { wrap: 'result' } };
    expect(crudShape(wrapped, {})).toBeUndefined();
  });
});

describe('idField and overlay', () => {
  it('names the identifier by the path parameter’s last word, else id', () => {
    expect(idField('issue_number', { id: 1, number: 2 })).toBe('number');
    expect(idField('eventId', { id: 'e', summary: 's' })).toBe('id');
    expect(idField('customer', { id: 'cus_1' })).toBe('id');
  });

  it('lays the request over the answer where the shapes match', () => {
    const answer = { title: 'x', labels: [{ name: 'a' }], state: 'open', user: { login: 'l' } };
    expect(overlay(answer, { title: 'New', labels: ['bug'], milestone: 3, user: { login: 'ada' } })).toEqual({
      title: 'New',
      labels: [{ name: 'a' }],
      state: 'open',
      user: { login: 'ada' },
      milestone: 3,
    });
  });
});

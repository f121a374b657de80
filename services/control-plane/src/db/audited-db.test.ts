import { describe, expect, it } from '@jest/globals';
import { rowChanges } from './audited-db.ts';

describe('rowChanges', () => {
  it('lists the fields that changed, before and after, without the noise of updatedAt', () => {
    const before = { id: 'p', name: 'a', tools: ['x'], updatedAt: new Date(1), createdAt: new Date(0) };
    const after = { id: 'p', name: 'b', tools: ['x', 'y'], updatedAt: new Date(2), createdAt: new Date(0) };
    expect(rowChanges(before, after)).toEqual({
      name: { before: 'a', after: 'b' },
      tools: { before: ['x'], after: ['x', 'y'] },
    });
  });

  it('shows a created row’s fields and a deleted row’s, dates as ISO strings', () => {
    expect(rowChanges(null, { id: 'p', createdAt: new Date(0), note: null })).toEqual({
      id: { before: null, after: 'p' },
      createdAt: { before: null, after: '1970-01-01T00:00:00.000Z' },
    });
    expect(rowChanges({ id: 'p', name: 'a' }, null)).toEqual({
      id: { before: 'p', after: null },
      name: { before: 'a', after: null },
    });
  });

  it('says only "changed" of a hash, a secret, a token, a credential or a webhook', () => {
    expect(
      rowChanges(
        { hash: 'h1', clientSecretName: 'A', accessToken: 't1', credentials: { k: 1 }, alertWebhookUrl: null },
        { hash: 'h2', clientSecretName: 'B', accessToken: 't2', credentials: { k: 2 }, alertWebhookUrl: 'https://h/t' },
      ),
    ).toEqual({
      hash: { before: 'changed', after: 'changed' },
      clientSecretName: { before: 'changed', after: 'changed' },
      accessToken: { before: 'changed', after: 'changed' },
      credentials: { before: 'changed', after: 'changed' },
      alertWebhookUrl: { before: 'changed', after: 'changed' },
    });
    expect(rowChanges(null, { hash: 'h' })).toEqual({ hash: { before: null, after: 'changed' } });
  });
});

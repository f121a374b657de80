import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  CallerFacets,
  judgePortable,
  portableRule,
  ruleSettingsLoosened,
  ruleSettingsProblems,
  settingsFor,
} from './portable-rule.ts';

/** A rule that refuses a call naming a word, per caller (key id), enforced or log-only. */
const derived: string[] = [];
const banned = portableRule({
  name: 'banned-word',
  settings: z.strictObject({ word: z.string().min(1), exempt: z.array(z.string()).default([]), logOnly: z.boolean() }),
  appliesTo: (tool) => tool.name !== 'free',
  facet: (caller, s) => {
    derived.push(caller.keyId ?? '');
    return { exempt: caller.keyId !== undefined && s.exempt.includes(caller.keyId) };
  },
  check: ({ args, settings, facet }) => {
    if (facet.exempt || !JSON.stringify(args).includes(settings.word)) return undefined;
    const refusal = { code: 'banned.word', message: `"${settings.word}" may not be sent.` };
    return settings.logOnly ? { wouldRefuse: refusal } : { refuse: refusal };
  },
  loosened: (prev, next) => (!next ? ['(removed)'] : prev?.logOnly === false && next.logOnly ? ['logOnly'] : []),
});
const tool = { name: 'send', inputSchema: {} };

describe('a portable rule', () => {
  it('reads its settings with its own schema: absent, parsed, or unreadable', () => {
    expect(settingsFor(banned, undefined)).toBeUndefined();
    expect(settingsFor(banned, { other: {} })).toBeUndefined();
    expect(settingsFor(banned, { 'banned-word': { word: 'x', logOnly: false } })).toEqual({
      settings: { word: 'x', exempt: [], logOnly: false },
    });
    expect(settingsFor(banned, { 'banned-word': { word: '' } })).toBe('invalid');
  });

  it('refuses, lets through, or would refuse; derives the caller facet once per call; unreadable settings refuse', () => {
    derived.length = 0;
    const facets = new CallerFacets({ keyId: 'k1' });
    const enforced = { settings: { word: 'secret', exempt: [], logOnly: false } };
    expect(judgePortable(banned, enforced, { args: { q: 'a secret' }, tool, facets })).toEqual({
      refuse: { code: 'banned.word', message: '"secret" may not be sent.' },
    });
    expect(judgePortable(banned, enforced, { args: { q: 'fine' }, tool, facets })).toBeUndefined();
    expect(derived).toEqual(['k1']);
    const logOnly = { settings: { word: 'secret', exempt: [], logOnly: true } };
    expect(judgePortable(banned, logOnly, { args: { q: 'secret' }, tool, facets: new CallerFacets({}) })).toEqual({
      wouldRefuse: { code: 'banned.word', message: '"secret" may not be sent.' },
    });
    const exempt = { settings: { word: 'secret', exempt: ['k1'], logOnly: false } };
    const k1 = new CallerFacets({ keyId: 'k1' });
    expect(judgePortable(banned, exempt, { args: { q: 'secret' }, tool, facets: k1 })).toBeUndefined();
    expect(judgePortable(banned, 'invalid', { args: {}, tool, facets })).toEqual({
      refuse: expect.objectContaining({ code: 'banned-word.unavailable' }),
    });
  });

  it('lists every problem of a server’s settings at its path, an unknown rule too', () => {
    const problems = { 'banned-word': { word: '', logOnly: true, extra: 1 }, nope: {} };
    expect(ruleSettingsProblems([banned], problems)).toEqual([
      { path: '/ruleSettings/banned-word/word', message: expect.any(String) },
      { path: '/ruleSettings/banned-word', message: expect.stringContaining('extra') },
      { path: '/ruleSettings/nope', message: 'no rule is named "nope" (rules with settings: banned-word)' },
    ]);
  });

  it('asks each rule what a change of its settings loosens', () => {
    const on = { 'banned-word': { word: 'x', logOnly: false } };
    expect(ruleSettingsLoosened([banned], on, { 'banned-word': { word: 'x', logOnly: true } })).toEqual([
      'ruleSettings.banned-word.logOnly',
    ]);
    expect(ruleSettingsLoosened([banned], on, {})).toEqual(['ruleSettings.banned-word.(removed)']);
    expect(ruleSettingsLoosened([banned], {}, on)).toEqual([]);
  });
});

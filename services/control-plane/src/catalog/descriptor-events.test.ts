import { describe, expect, it } from '@jest/globals';
import { curatedConnectors } from '@toolplane/connectors';
import { descriptorEventTypes } from './descriptor-events.ts';

const instanceOf = (slug: string, descriptor: unknown) => ({
  id: 'i-1',
  name: 'main',
  connector: { slug, descriptor },
});

describe('descriptor event types', () => {
  it('compiles the curated connectors’ events sections into catalog event types', () => {
    const bySlug = new Map(curatedConnectors().map((c) => [c.slug, c.document]));
    const names = (slug: string) =>
      descriptorEventTypes(instanceOf(slug, bySlug.get(slug))).map((e) => [e.event.name, e.match.provider]);
    expect(names('github')).toEqual([
      ['github_push', 'github'],
      ['github_issue', 'github'],
    ]);
    expect(names('stripe').map(([n]) => n)).toContain('stripe_payment_succeeded');
    expect(names('slack')).toEqual([['slack_message', 'slack']]);
    expect(names('jira')).toEqual([['jira_issue', 'jira']]);
    expect(names('google-calendar')).toEqual([['google_calendar_changed', 'google_calendar']]);
    const [push] = descriptorEventTypes(instanceOf('github', bySlug.get('github')));
    expect(push).toMatchObject({
      source: { connector: 'github', instance: 'main', instanceId: 'i-1' },
      match: { types: ['push'] },
      filters: { repository: '/repository/full_name' },
      event: { delivery: ['poll', 'push', 'webhook'] },
    });
  });

  it('gives none for a descriptor without a valid events section', () => {
    expect(descriptorEventTypes(instanceOf('x', {}))).toEqual([]);
    expect(descriptorEventTypes(instanceOf('x', { events: { provider: 'fax', types: [] } }))).toEqual([]);
  });
});

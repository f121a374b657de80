import { describe, expect, it } from '@jest/globals';
import type { CatalogTool } from '@toolplane/contracts';
import { neededConnections, ToolSearch } from './smart-mode.ts';

function tool(name: string, description: string, params: Record<string, string> = {}): CatalogTool {
  return {
    tool: {
      name,
      description,
      inputSchema: {
        type: 'object',
        properties: Object.fromEntries(Object.entries(params).map(([k, d]) => [k, { type: 'string', description: d }])),
      },
    },
    plan: { kind: 'http', method: 'GET', url: 'http://x', params: [], authHeaders: {}, secrets: {} },
  };
}

const catalog = [
  tool('search_tickets', 'Search support tickets by status, assignee, or other filters.', {
    status: 'open, closed',
    assignee: 'email',
  }),
  tool('get_ticket', 'Get full details of a support ticket.', { ticket_id: 'ticket id' }),
  tool('create_ticket', 'Create a new support ticket with title, description, and priority.', {
    title: 'title',
    priority: 'priority',
  }),
  tool('send_slack_message', 'Post a message to a Slack channel.', { channel: 'channel name', text: 'message text' }),
  tool('list_slack_channels', 'List the Slack channels of the workspace.'),
  tool('create_calendar_event', 'Create an event in a Google Calendar.', { start: 'start time', attendees: 'emails' }),
  tool('list_calendar_events', 'List upcoming calendar events.'),
  tool('send_email', 'Send an email through Gmail.', { to: 'recipient', subject: 'subject' }),
  tool('search_emails', 'Search the mailbox for messages matching a query.'),
  tool('createInvoice', 'Create a customer invoice in the billing system.', {
    customerId: 'customer',
    amount: 'amount',
  }),
  tool('refund_payment', 'Refund a card payment, fully or partially.', { payment_id: 'payment' }),
  tool('get_weather_forecast', 'Weather forecast for a city for the next days.', { city: 'city name' }),
  tool('create_github_issue', 'Open an issue in a GitHub repository.', { repo: 'owner/name' }),
  tool('merge_pull_request', 'Merge a GitHub pull request.', { number: 'PR number' }),
  tool('upload_file', 'Upload a file to cloud storage.', { path: 'destination path' }),
];

const queries: [string, string][] = [
  ['open a new support ticket', 'create_ticket'],
  ['find tickets assigned to ada', 'search_tickets'],
  ['details of ticket TCK-1', 'get_ticket'],
  ['post in the #general slack channel', 'send_slack_message'],
  ['schedule a meeting with the team', 'create_calendar_event'],
  ['email the customer', 'send_email'],
  ['bill a customer', 'createInvoice'],
  ['give the money back for a payment', 'refund_payment'],
  ['will it rain in Paris tomorrow', 'get_weather_forecast'],
  ['report a bug on github', 'create_github_issue'],
  ['merge the PR', 'merge_pull_request'],
  ['what meetings do I have', 'list_calendar_events'],
];

describe('ToolSearch (BM25 over names, descriptions and parameters)', () => {
  const search = new ToolSearch(catalog);

  it.each(queries)('ranks the intended tool in the top 3 for "%s"', (query, expected) => {
    expect(search.search(query, 3).map((h) => h.name)).toContain(expected);
  });

  it('splits camelCase and snake_case names into words', () => {
    expect(search.search('invoice', 1)[0]!.name).toBe('createInvoice');
    expect(search.search('slack channels', 1)[0]!.name).toBe('list_slack_channels');
  });

  it('returns at most `limit` results, best first', () => {
    const hits = search.search('create', 20);
    expect(hits.length).toBeGreaterThan(2);
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
    expect(search.search('create', 2)).toHaveLength(2);
  });
});

describe('neededConnections of a workflow tool', () => {
  const personAuth = {
    kind: 'oauth2_authorization_code',
    authorizeUrl: 'https://p.example/authorize',
    tokenUrl: 'https://p.example/token',
    scopes: [],
    clientId: 'client_id',
    clientSecret: 'client_secret',
  };
  const workflow = {
    tool: { name: 'agenda', description: '', inputSchema: { type: 'object' } },
    plan: {
      kind: 'workflow',
      deploymentId: 'd1',
      workflowId: 'agenda',
      secretNames: { TOKEN: 'ws/w1/servers/s1/secrets/TOKEN' },
      // A source bound to instance i1 whose step sends a person's token, and a tool step on instance i2's.
      ir: { workflows: [{ steps: [{ target: { kind: 'http', source: 'cal', credentials: { auth: personAuth } } }] }] },
      connectors: { cal: { instanceId: 'i1', secrets: { client_id: 'ws/w1/connector-instances/i1/client_id' } } },
      tools: {
        'toolplane:mcp_servers/mail/tools/inbox': {
          name: 'inbox',
          plan: { ...tool('inbox', '').plan, auth: { ...personAuth, connection: 'ws/w1/users/{user}/oauth/i2' } },
        },
      },
    },
  } as unknown as CatalogTool;

  it("lists its secrets and the people's accounts its steps use (a source's, then a called tool's)", () => {
    expect(neededConnections(workflow, 's1').map((n) => [n.kind, n.id, n.connection])).toEqual([
      ['workflow_secret', 'TOKEN', undefined],
      ['oauth_account', 'i1', 'ws/w1/users/{user}/oauth/i1'],
      ['oauth_account', 'i2', 'ws/w1/users/{user}/oauth/i2'],
    ]);
  });
});

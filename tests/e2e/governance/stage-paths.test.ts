import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { z } from 'zod';
import { ruleNamesOf, type RulePath } from '../../../packages/access/src/rules.ts';
import { lastMessage, postMcp } from '../../helpers/mcp.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// Every rule on every path: a table of stages (a rule set up through the management API, enforced or log only) and a
// table of paths (NORMAL `tools/call` in both protocol eras, SMART `execute_tool`, a task, a code-mode program's inner
// call, a workflow step, a read of an attached server's resource, an event subscription, an event delivery, the
// backtest's replay), each cell generated: a cell exists iff the row's rule declares the column's path in the one list
// of rules (packages/access/src/rules.ts, `ruleNamesOf`), so the grid follows the product's declaration (a session
// rule, on the read path only to bring a read's labels, judges no read: `notOnReads`). Adding a stage or a path is one
// row. docs/governance.md "Every rule on every path" has the grid and why a cell is absent.
//
// - A call (and a workflow step): enforced, refused (the path's way of saying so) and the upstream, a real HTTP server
//   on 127.0.0.1, receives nothing; log only, it reaches the upstream and the audit trail holds what the rule would
//   have done. A read: the same, the upstream being an attached MCP server.
// - An event subscription (`events/poll` without a cursor, its arguments naming the cell's ticket): enforced, the edge
//   answers an error and the caller holds no new subscription; log only, it subscribes and the trail holds the would-be
//   decision.
// - An event delivery (a subscription of another ticket, then the provider's signed delivery of an occurrence naming
//   the cell's ticket to the edge's inbound URL, fanned out by the worker): enforced, the subscriber's next poll has
//   nothing and the trail holds the refusal (`tool.call_refused`, `tool.quota_exceeded`: the subscriber is told
//   nothing); log only, the subscriber receives it and the trail holds the would-be decision.
// - The backtest's replay (ADR 0080): the row's rule proposed as workspace files (`PROPOSALS`) over calls recorded once
//   on a server of no row's rule, judged by `POST /governance/backtest`. It calls nothing and audits no decision, so
//   the cell is what the report says: enforced, every recorded call of the cell's tool newly refused, held (an
//   approval) or asked to confirm (a confirmation is taken as accepted), by the rule; log only, nothing changes (a
//   guardrail's would-be findings are reported as findings); either way the upstream receives nothing.
//
// Each rule has servers of its own on the one ticket connector instance: a NORMAL server (tools/call, tasks), a SMART
// one (execute_tool, run_code), a NORMAL one whose workflow tool's step calls the first one's get_ticket, and where its
// rule applies to them, one of the attached MCP server and one of an event type. Each path calls as a key of its own
// (log-only events are bounded per rule, caller and tool: one path's event never hides another's).

/** The call every cell makes: the rules below refuse exactly these arguments. */
const TOOL = 'get_ticket';
const ARGS = { ticket_id: 'TCK-1' };

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
/** An MCP server on 127.0.0.1 attached to the rows' read servers: one resource, each read of it counted. */
let attached: { url: string; http: HttpServer; reads: string[] };
const RESOURCE = 'grid://tickets/TCK-1';
/** The event type of the rows' event servers: a provider's signed deliveries to one connector instance. */
const EVENT = 'ticket_updated';
const EVENTS_SECRET = `grid-${randomUUID()}`;
let eventsInstanceId: string;
let instanceId: string;
/** A key that approves; never a caller. */
let approverId: string;
/** When the file started: audit events are looked for from here. */
const since = new Date().toISOString();
const opened: { close(): Promise<void> }[] = [];

/** The servers of one rule. */
interface RuleServers {
  normal: { id: string; url: string; name: string };
  /** `tool`: the cell's tool as the SMART server names it (a later instance's tool of a taken name has a suffix). */
  smart: { id: string; url: string; tool: string };
  flows: { id: string; url: string; tool: string };
  /** A NORMAL server of nothing but the attached MCP server (`attached`), for a rule that applies to reads. */
  reads?: { id: string; url: string };
  /** A NORMAL server of the event type (`EVENT`), for a rule that applies to events. */
  events?: { id: string; url: string };
}

/** A runtime key each path calls as (or, in a row that says so, a narrowed token of that key: `headers`). */
interface Caller {
  id: string;
  key: string;
  headers?: Record<string, string>;
}

/** How a caller authenticates: its key, or a row's own credential. */
const authHeaders = (caller: Caller) => caller.headers ?? { 'x-api-key': caller.key };

/** What a path's call came to: refused (with the text saying why), or ran. */
interface Outcome {
  refused: boolean;
  text: string;
}

// ---------------------------------------------------------------------------------------------------------------------
// The paths

/** An SDK client as `caller`, of the 2025-11-25 protocol unless `era` pins 2026-07-28; it cannot ask its user. */
async function mcpClient(
  url: string,
  caller: Caller,
  era: '2025-11-25' | '2026-07-28' = '2025-11-25',
): Promise<Client> {
  const client = new Client(
    { name: 'stage-paths', version: '1.0.0' },
    era === '2026-07-28' ? { versionNegotiation: { mode: { pin: era } } } : {},
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: authHeaders(caller) } }),
  );
  opened.push(client);
  expect(client.getNegotiatedProtocolVersion()).toBe(era);
  return client;
}

type CallResult = Awaited<ReturnType<Client['callTool']>>;
const textOf = (r: { content?: unknown }) =>
  ((r.content ?? []) as { text?: string }[]).map((c) => c.text ?? '').join('\n');
const outcomeOf = (r: CallResult): Outcome => ({ refused: r.isError === true, text: textOf(r) });

/**
 * A 2025-11-25 task (`params.task`): refused when the edge answers a JSON-RPC error, when the task fails or completes
 * with a tool error, or while it waits with a status message (held for an approval: its job is not run).
 */
async function taskCall(url: string, caller: Caller): Promise<Outcome> {
  const headers = { 'mcp-protocol-version': '2025-11-25', ...authHeaders(caller) };
  const rpc = async (method: string, params: unknown) =>
    lastMessage(await postMcp(url, { jsonrpc: '2.0', id: 1, method, params }, headers));
  const created = await rpc('tools/call', { name: TOOL, arguments: ARGS, task: {} });
  if (created.error) return { refused: true, text: created.error.message };
  const { taskId } = created.result!.task as { taskId: string };
  const task = await waitFor(`task ${taskId} settled or held`, async () => {
    const t = (await rpc('tasks/get', { taskId })).result as { status: string; statusMessage?: string };
    return t.status !== 'working' || t.statusMessage ? t : undefined;
  });
  if (task.status === 'working') return { refused: true, text: task.statusMessage! };
  const result = (await rpc('tasks/result', { taskId })).result ?? {};
  return { refused: task.status !== 'completed' || result.isError === true, text: `${task.status}: ${textOf(result)}` };
}

/** A program whose inner call is the cell's: refused when the call threw in the program. */
async function codeCall(url: string, caller: Caller, tool = TOOL): Promise<Outcome> {
  const inner = `await tools[${JSON.stringify(tool)}](${JSON.stringify(ARGS)})`;
  const code = `try { return { ran: ${inner} }; } catch (e) { return { refused: e.message }; }`;
  const r = await (await mcpClient(url, caller)).callTool({ name: 'run_code', arguments: { code } });
  if (r.isError) return { refused: true, text: `run_code failed: ${textOf(r)}` };
  const value = (r.structuredContent as { result: { ran?: unknown; refused?: string } }).result;
  return value.refused !== undefined ? { refused: true, text: value.refused } : { refused: false, text: '' };
}

/** A read of the attached server's resource through the row's read server: refused when the edge answers an error. */
async function readCall(s: RuleServers, caller: Caller): Promise<Outcome> {
  const client = await mcpClient(s.reads!.url, caller);
  try {
    const r = await client.readResource({ uri: RESOURCE });
    return { refused: false, text: r.contents.map((c) => ('text' in c ? c.text : '')).join('\n') };
  } catch (err) {
    return { refused: true, text: (err as Error).message };
  }
}

/** An event type's poll (docs/events.md): the first, without a cursor, makes the subscription. */
const Poll = z.looseObject({ events: z.array(z.looseObject({ eventId: z.string() })), cursor: z.string().nullable() });
const poll = (client: Client, args: Record<string, unknown>, cursor: string | null) =>
  client.request({ method: 'events/poll', params: { name: EVENT, arguments: args, cursor } }, Poll);

/**
 * A subscription to the row's event type, whose arguments name the cell's ticket (each its own: a nonce): refused
 * when the edge answers an error.
 */
async function subscribeCall(s: RuleServers, caller: Caller): Promise<Outcome> {
  const client = await mcpClient(s.events!.url, caller);
  try {
    await poll(client, { ...ARGS, nonce: randomUUID() }, null);
    return { refused: false, text: '' };
  } catch (err) {
    return { refused: true, text: (err as Error).message };
  }
}

/** The subscriptions of the row's event type its caller holds (what a subscription reaches). */
async function subscriptionsOf(s: RuleServers, caller: Caller) {
  const page = await unwrap(api.GET('/event_subscriptions', { params: { query: { server_id: s.events!.id } } }));
  return page.data.filter((sub) => sub.principal.keyId === caller.id);
}

/** The event ids the grid's subscribers received, in order. */
const received: string[] = [];

/**
 * An occurrence of the row's event type delivered to a subscription of another ticket (its arguments hold): the
 * provider's signed delivery to the edge's inbound URL, fanned out by the worker. Refused when the subscriber's next
 * poll does not have it; its text is then the audit event of the refusal (the subscriber is told nothing).
 */
async function deliveryCall(s: RuleServers, caller: Caller): Promise<Outcome> {
  const client = await mcpClient(s.events!.url, caller);
  const args = { ticket_id: 'TCK-2', nonce: randomUUID() };
  let cursor: string | null;
  try {
    ({ cursor } = await poll(client, args, null));
  } catch (err) {
    return { refused: true, text: `subscription refused: ${(err as Error).message}` };
  }
  const eventId = await deliver();
  if ((await poll(client, args, cursor)).events.some((e) => e.eventId === eventId)) {
    received.push(eventId);
    return { refused: false, text: '' };
  }
  // The refusal of this subscription's server (the caller's subscriptions of other rows meet the occurrence too).
  const refusal = await waitFor(`the refusal of occurrence ${eventId} in the audit trail`, async () => {
    const page = await unwrap(api.GET('/audit_events', { params: { query: { from: since, limit: 200 } } }));
    return page.data.find(
      (e) =>
        e.actor.id === caller.id &&
        e.outcome === 'refused' &&
        e.source?.requestId === eventId &&
        e.resource.id === `${s.events!.id}/${EVENT}`,
    );
  });
  return { refused: true, text: `${refusal.action} ${JSON.stringify(refusal.details)}` };
}

/** A provider's signed delivery of an occurrence naming the cell's ticket; its event id, once fanned out. */
async function deliver(): Promise<string> {
  const id = randomUUID();
  const sent = new Date(Date.now() - 1000).toISOString();
  const body = JSON.stringify({ action: 'opened', ...ARGS, id });
  const signature = `sha256=${createHmac('sha256', EVENTS_SECRET).update(body).digest('hex')}`;
  const res = await fetch(`${stack.edgeUrls[0]}/hooks/${eventsInstanceId}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'issues',
      'x-github-delivery': id,
      'x-hub-signature-256': signature,
    },
    body,
  });
  expect(res.status).toBeLessThan(300);
  // The worker records each delivery it fanned out (tool `inbound/github`), naming it in the record's message.
  await waitFor(`occurrence ${id} fanned out`, async () => {
    const query = { tool: 'inbound/github', from: sent, limit: 200 };
    const page = await unwrap(api.GET('/execution_records', { params: { query } }));
    return page.data.some((r) => r.message?.includes(id));
  });
  return id;
}

/**
 * The backtest's replay (ADR 0080) of the recorded calls (`recordCalls`) through the row's rule proposed as workspace
 * files (`proposalOf`): refused when the report says the calls would no longer run as they did (newly refused, held
 * or asked to confirm); its text is what the report says (reasons, confirmations asked, findings: never a value).
 */
async function backtestCall(stage: Stage): Promise<Outcome> {
  const report = await unwrap(
    api.POST('/governance/backtest', { body: { files: proposalOf(stage).files, ...period } }),
  );
  const { newlyRefused, newlyHeld, newlyAskedToConfirm } = report.changes;
  return {
    refused: newlyRefused.calls + newlyHeld.calls + newlyAskedToConfirm.calls > 0,
    text: JSON.stringify({ reasons: report.reasons, asked: newlyAskedToConfirm.calls, findings: report.findings }),
  };
}

/** The backtest's column (its key is the recorded calls' caller). */
const BACKTEST = "the backtest's replay";

interface Path {
  name: string;
  /** The path as the list of rules names it (packages/access/src/rules.ts): a rule has a cell iff it declares it. */
  on: RulePath;
  call(servers: RuleServers, caller: Caller, stage: Stage): Promise<Outcome>;
  /** What receives the path's calls (absent: the ticket system). */
  reached?: (servers: RuleServers, caller: Caller) => readonly unknown[] | Promise<readonly unknown[]>;
  /** The tool a log-only rule's audit event names (absent: the cell's tool, as the path's server names it). */
  tool?: RegExp;
  /** What a rule's outcome on this path says, where the path tells it otherwise than a call's (`Stage.says`). */
  says?: (stage: Stage) => RegExp;
  /** The path decides nothing live (the backtest): a log-only rule's cell is what its outcome says, nothing is sent. */
  judgesOnly?: true;
}

/**
 * Whether a row's rule applies on a path: the rule declares the path in the one list of rules, unless the row says why
 * its rule does not judge a read though it is on the read path (`notOnReads`).
 */
const applies = (path: Path, stage: Stage) =>
  ruleNamesOf(path.on).includes(stage.stage) && !(path.on === 'read' && stage.notOnReads);

const PATHS: Path[] = [
  {
    name: 'NORMAL tools/call',
    on: 'call',
    call: async (s, c) => outcomeOf(await (await mcpClient(s.normal.url, c)).callTool({ name: TOOL, arguments: ARGS })),
  },
  {
    name: 'NORMAL tools/call (2026-07-28)',
    on: 'call',
    call: async (s, c) =>
      outcomeOf(await (await mcpClient(s.normal.url, c, '2026-07-28')).callTool({ name: TOOL, arguments: ARGS })),
  },
  {
    name: 'SMART execute_tool',
    on: 'call',
    call: async (s, c) =>
      outcomeOf(
        await (
          await mcpClient(s.smart.url, c)
        ).callTool({ name: 'execute_tool', arguments: { name: s.smart.tool, arguments: ARGS } }),
      ),
  },
  { name: 'a task', on: 'call', call: (s, c) => taskCall(s.normal.url, c) },
  { name: 'a code-mode inner call', on: 'call', call: (s, c) => codeCall(s.smart.url, c, s.smart.tool) },
  {
    name: 'a workflow step',
    on: 'workflowStep',
    call: async (s, c) =>
      outcomeOf(await (await mcpClient(s.flows.url, c)).callTool({ name: s.flows.tool, arguments: {} })),
  },
  {
    name: "a read of an attached server's resource",
    on: 'read',
    call: readCall,
    reached: () => attached.reads,
    tool: new RegExp(`^${RESOURCE}$`),
  },
  {
    name: 'an event subscription',
    on: 'eventSubscribe',
    call: subscribeCall,
    reached: subscriptionsOf,
    tool: new RegExp(`^${EVENT}$`),
  },
  {
    name: 'an event delivery',
    on: 'eventDelivery',
    call: deliveryCall,
    reached: () => received,
    tool: new RegExp(`^${EVENT}$`),
    says: (stage) => TRAIL[stage.stage]!,
  },
  {
    name: BACKTEST,
    on: 'backtest',
    call: (_s, _c, stage) => backtestCall(stage),
    says: (stage) => proposalOf(stage).says,
    judgesOnly: true,
  },
];

/** What the audit event of an enforced rule's refusal of an occurrence says (`tool.*` events, as a call's). */
const TRAIL: Partial<Record<string, RegExp>> = {
  delegation: /^tool\.call_refused (?=.*"refusedBy":"delegation")(?=.*"reason":"condition")/,
  access: /^tool\.call_refused .*"name":"grid-condition-enforced-events"/,
  quota: /^tool\.quota_exceeded .*"name":"grid-quota-enforced-events"/,
};

// ---------------------------------------------------------------------------------------------------------------------
// The stages

/** What a log-only rule records: its audit event's action, on the rule. */
interface Recorded {
  action: string;
  /** The rule's ids (a guardrail is one per server). */
  ruleIds: string[];
}

interface Stage {
  name: string;
  /** The product's rule (packages/access/src/rules.ts), whose declaration says on which paths it applies. */
  stage: string;
  /** Why the rule judges no read though its stage sees reads (`reads`: for something other than this rule). */
  notOnReads?: string;
  /** The servers' own settings (confirmTools, approvalTools). */
  server?: () => Record<string, unknown>;
  /** The servers' own connector instance (its tool declared otherwise) and its name; absent: the shared one. */
  instance?: () => Promise<{ id: string; name: string }>;
  /** Before each call, the path's key calls the NORMAL server's tool once (a rule that sees the session judges after it). */
  prime?: true;
  /** Sets the rule up on the servers; a log-only rule says what it records. */
  rule?: (s: RuleServers, callers: Caller[]) => Promise<Recorded | undefined>;
  logOnly?: true;
  /** What an enforced rule's refusal says, on whatever path (a workflow step's refusal names its step's rule). */
  says?: RegExp;
  /** What the refusal never says (a guardrail's finding is named by its detector and path, never its value). */
  hides?: string;
  /**
   * Each path calls with a narrowed token of its key (ADR 0084) carrying these rights (`authorization_details`),
   * made at the first edge's token endpoint.
   */
  narrowed?: Record<string, unknown> | ((s: RuleServers) => Promise<Record<string, unknown>>);
}

const argumentGuardrail = (enforce: boolean) => async (s: RuleServers) => {
  const ids: string[] = [];
  for (const [i, serverId] of [s.normal.id, s.smart.id].entries()) {
    const body = {
      name: `grid-args-${enforce ? 'block' : 'log'}-${i}`,
      serverId,
      tools: [TOOL],
      on: ['arguments'],
      detectors: [{ kind: 'custom', patterns: [ARGS.ticket_id] }],
      action: 'block',
      enforce,
    };
    ids.push((await unwrap(api.POST('/guardrails', { body: body as never }))).id);
  }
  return enforce ? undefined : { action: 'guardrail.would_block', ruleIds: ids };
};

/**
 * A condition false for the cell's ticket: a call's or a subscription's arguments, else an occurrence's data (a
 * delivery's subscription names another ticket).
 */
const EVENT_CONDITION =
  `has(args.event) ? args.event.data.ticket_id != "${ARGS.ticket_id}" : ` + `args.ticket_id != "${ARGS.ticket_id}"`;

/** A policy granting the cell's tool on a condition, and one granting the event type on `EVENT_CONDITION`. */
const accessCondition = (enforce: boolean) => async (s: RuleServers, callers: Caller[]) => {
  const name = `grid-condition-${enforce ? 'enforced' : 'log'}`;
  const ids: string[] = [];
  for (const [suffix, servers, tool, condition] of [
    ['', [s.normal.id, s.smart.id], TOOL, `args.ticket_id != "${ARGS.ticket_id}"`],
    ['-events', s.events ? [s.events.id] : [], EVENT, EVENT_CONDITION],
  ] as const) {
    if (servers.length === 0) continue;
    const body = {
      name: `${name}${suffix}`,
      principals: callers.map((c) => ({ type: 'api_key' as const, value: c.id })),
      servers: [...servers],
      tools: [tool],
      condition,
      ...(enforce ? {} : { enforce: false }),
    };
    ids.push((await unwrap(api.POST('/access_policies', { body }))).id);
  }
  return enforce ? undefined : { action: 'access.would_refuse', ruleIds: ids };
};

/**
 * A quota of no room on the cell's tool, one on every tool of the read server (a quota on every tool counts reads) and
 * one on the event type (each occurrence given is a call).
 */
const emptyQuota = (enforce: boolean) => async (s: RuleServers) => {
  const name = `grid-quota-${enforce ? 'enforced' : 'log'}`;
  const ids: string[] = [];
  for (const [suffix, match] of [
    ['', { servers: [s.normal.id, s.smart.id], tools: [TOOL] }],
    ['-reads', { servers: [s.reads!.id] }],
    ['-events', { servers: [s.events!.id], tools: [EVENT] }],
  ] as const) {
    const body = {
      name: `${name}${suffix}`,
      match,
      counts: 'calls' as const,
      limit: 0,
      window: 'day' as const,
      enforce,
    };
    ids.push((await unwrap(api.POST('/quotas', { body: body as never }))).id);
  }
  return enforce ? undefined : { action: 'quota.would_refuse', ruleIds: ids };
};

/**
 * Rules that see the session (ADR 0078): a row's servers are classified `private` (every result brings it) on an
 * instance of a ticket connector whose get_ticket is declared to send data out; the workspace's session rules (set in
 * `beforeAll`) judge such a call after the path's key primed its session with one call of the NORMAL server.
 */
const labelledInstance =
  (label: 'external_write' | 'public_write', version: string, name = `grid-${label}`) =>
  async () => {
    const yaml = ticketSystemDescriptorYaml
      .replace(/^(\s*version:\s*)"[^"]+"/m, `$1"${version}"`)
      .replace(/(\n\s*)mcp_tool_name: get_ticket\n/, `$1mcp_tool_name: get_ticket$1labels: [${label}]\n`);
    if (!yaml.includes(`labels: [${label}]`)) throw new Error('the descriptor has no get_ticket route to label');
    const { instanceId: id, serverId, mcpUrl } = await registerTicketExample(api, upstream.url, 'k', name, yaml);
    return { id, name: `${name}-instance`, server: { id: serverId, url: mcpUrl } };
  };
const sessionSettings = () => ({
  ttlSeconds: 3600,
  rules: [
    {
      id: 'grid-session-enforced',
      name: 'grid-session-enforced',
      after: ['private'],
      toolLabels: ['external_write'],
      action: 'refuse',
      enforce: true,
    },
    {
      id: 'grid-session-log',
      after: ['private'],
      toolLabels: ['public_write'],
      action: 'require_approval',
      approval: { approvers: { apiKeys: [approverId] } },
      enforce: false,
    },
  ],
});

const STAGES: Stage[] = [
  {
    name: 'argument guardrail (block)',
    stage: 'argument-guardrails',
    rule: argumentGuardrail(true),
    says: /guardrail.* withheld .*custom found at \$\.ticket_id/i,
    hides: ARGS.ticket_id,
  },
  { name: 'argument guardrail', stage: 'argument-guardrails', logOnly: true, rule: argumentGuardrail(false) },
  {
    name: 'access condition',
    stage: 'access',
    rule: accessCondition(true),
    says: /access policy "grid-condition-enforced(-events)?" .* is false/,
  },
  { name: 'access condition', stage: 'access', logOnly: true, rule: accessCondition(false) },
  {
    name: 'confirmation (a client that cannot ask)',
    stage: 'confirmation',
    server: () => ({ confirmTools: [TOOL] }),
    // A task: a tool a person confirms does not run as one (the edge refuses the task before anything runs).
    says: /needs a person's confirmation before each call, and this client cannot ask|does not run as a task/,
  },
  {
    name: 'approval',
    stage: 'approval',
    server: () => ({ approvalTools: [TOOL], approvalRule: { approvers: { apiKeys: [approverId] } } }),
    says: /approval request [0-9a-f-]{36}/i,
  },
  {
    name: 'quota without room',
    stage: 'quota',
    rule: emptyQuota(true),
    says: /quota "grid-quota-enforced(-reads)?" \(0 calls per day\)/i,
  },
  { name: 'quota', stage: 'quota', logOnly: true, rule: emptyQuota(false) },
  {
    // A narrowed token for the cell's tool and the event type (and its server's tool) whose condition is false for the
    // cell's ticket: the delegation stage refuses it on every path; a workflow's tool is not among the token's tools,
    // so it is refused by name. Its tools take the attached server's tool, so that server's resources are in its view: the condition
    // refuses a read (no `args`).
    name: 'delegation',
    stage: 'delegation',
    narrowed: { tools: [TOOL, 'peek', 'ping', EVENT], condition: EVENT_CONDITION, actor: 'grid-sub-agent' },
    says: new RegExp(
      'narrowed token [0-9a-f-]{36} (allows (this (call|read of "[^"]+")|the event type "[^"]+") ' +
        'only when .*args\\.ticket_id|may not use tool)',
    ),
  },
  {
    name: 'session rule',
    stage: 'session',
    notOnReads:
      'a session rule judges a call of a tool that sends data out; a read sends nothing (it only brings labels)',
    instance: labelledInstance('external_write', '1.0.1'),
    server: () => ({ config: { dataLabels: ['private'] } }),
    prime: true,
    says: /Refused by session rule "grid-session-enforced".*private data from the result of "(search|get)_ticket/s,
  },
  {
    name: 'session rule',
    stage: 'session',
    notOnReads:
      'a session rule judges a call of a tool that sends data out; a read sends nothing (it only brings labels)',
    logOnly: true,
    instance: labelledInstance('public_write', '1.0.2'),
    server: () => ({ config: { dataLabels: ['private'] } }),
    prime: true,
    rule: () => Promise.resolve({ action: 'session.would_hold', ruleIds: ['grid-session-log'] }),
  },
  {
    // A portable rule (ADR 0101): a bound on an argument that is not a number refuses every call that sends it.
    name: 'spending limit',
    stage: 'spending-limit',
    server: () => ({ ruleSettings: { 'spending-limit': { argument: 'ticket_id', limit: 0 } } }),
    says: /argument "ticket_id" must be a JSON number \(got string\) on tool "get_ticket[^"]*": the call was not made/,
  },
  {
    name: 'spending limit',
    stage: 'spending-limit',
    logOnly: true,
    server: () => ({ ruleSettings: { 'spending-limit': { argument: 'ticket_id', limit: 0, mode: 'log_only' } } }),
    rule: (s) =>
      Promise.resolve({
        action: 'rule.would_refuse',
        ruleIds: [`${s.normal.id}/${TOOL}`, `${s.smart.id}/${s.smart.tool}`],
      }),
  },
  {
    // What a person granted a task (ADR 0108): each path calls with a token redeemed from a grant whose bound is false
    // for the cell's ticket (`rule`: wait until the grant reached the path's edge or worker).
    name: 'task grant',
    stage: 'task-grant',
    narrowed: taskGrantOf('enforced'),
    rule: () => Promise.resolve(undefined),
    says: /Off-grant call of tool "get_ticket[^"]*": the bound "not TCK-1" of the task grant [0-9a-f-]{36} does not hold/,
  },
  {
    name: 'task grant',
    stage: 'task-grant',
    logOnly: true,
    narrowed: taskGrantOf('log_only'),
    rule: (s) =>
      Promise.resolve({
        action: 'rule.would_refuse',
        ruleIds: [`${s.normal.id}/${TOOL}`, `${s.smart.id}/${s.smart.tool}`],
      }),
  },
];

/**
 * A task grant (ADR 0108) of the row's tools (the SMART server's name of the cell's tool, the workflow's tool) whose
 * bound is false for the cell's ticket, made for a person of the workspace: the row's callers redeem it.
 */
function taskGrantOf(mode: 'enforced' | 'log_only') {
  return async (s: RuleServers) => {
    await api.POST('/external_users', { body: { name: 'grid-grantor' } });
    const body = {
      purpose: `grid ${mode}`,
      person: 'grid-grantor',
      tools: [TOOL, s.smart.tool, s.flows.tool],
      bounds: [{ name: 'not TCK-1', condition: `!has(args.ticket_id) || args.ticket_id != "${ARGS.ticket_id}"` }],
      calls: 1000,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      offGrant: 'refuse' as const,
      mode,
    };
    const grant = await unwrap(api.POST('/task_grants', { body }));
    return { grant: grant.id, actor: `grid-task-${mode}` };
  };
}

/** Cells left out of the grid while a gap is open (reported with the issue, never skipped). */
const GAPS = new Set<string>([
  // A task grant declares the backtest too, but a recorded call keeps no grant id and a proposal cannot make a grant
  // (ADR 0108): no replay judges one yet.
  `task grant × ${BACKTEST}`,
  `task grant (log only) × ${BACKTEST}`,
]);

// ---------------------------------------------------------------------------------------------------------------------
// The stack

async function ruleServers(
  label: string,
  settings: Record<string, unknown>,
  own?: { id: string; name: string },
  { reads, events }: { reads?: boolean; events?: boolean } = {},
): Promise<RuleServers> {
  const instance = own?.id ?? instanceId;
  const name = `grid-${label}`;
  const normal = await unwrap(
    api.POST('/mcp_manager', { body: { name, mode: 'NORMAL', connectorInstanceId: instance, ...settings } as never }),
  );
  const smart = await unwrap(
    api.POST('/mcp_manager', {
      body: { name: `${name}-smart`, mode: 'SMART', connectorInstanceId: instance, ...settings } as never,
    }),
  );
  const flows = await unwrap(api.POST('/mcp_manager', { body: { name: `${name}-flows`, mode: 'NORMAL' } }));
  const tool = `flow_${label.replace(/[^a-z0-9]/g, '_')}`;
  const definition = `
flower: "0.1"
id: ${tool}
flows:
  - id: ${tool}
    steps:
      - id: read
        request: { method: POST, url: "toolplane:mcp_servers/${name}/tools/${TOOL}", body: ${JSON.stringify(ARGS)} }
        outputs: { body: $response.body }
    outputs: { ticket: $steps.read.outputs.body }
`;
  const deployed = await api.POST('/mcp_servers/{id}/deploy', {
    params: { path: { id: flows.id } },
    body: { definition },
  });
  if (deployed.response.status !== 201) throw new Error(`deployment refused: ${JSON.stringify(deployed.error)}`);
  // A SMART server has every instance's tools: a later instance's tool of a taken name has its instance's suffix.
  const smartTool = own ? `${TOOL}__${own.name}` : TOOL;
  const externalMcpConfigs = [{ name: 'attached', url: attached.url }];
  const read = reads
    ? await unwrap(
        api.POST('/mcp_manager', {
          body: { name: `${name}-reads`, mode: 'NORMAL', externalMcpConfigs, ...settings } as never,
        }),
      )
    : undefined;
  const event = events
    ? await unwrap(
        api.POST('/mcp_manager', {
          body: {
            name: `${name}-events`,
            mode: 'NORMAL',
            connectorInstanceId: eventsInstanceId,
            config: { events: [EVENT] },
          },
        }),
      )
    : undefined;
  return {
    normal: { id: normal.id, url: normal.url, name },
    smart: { id: smart.id, url: smart.url, tool: smartTool },
    flows: { id: flows.id, url: flows.url, tool },
    ...(read ? { reads: { id: read.id, url: read.url } } : {}),
    ...(event ? { events: { id: event.id, url: event.url } } : {}),
  };
}

/**
 * The connector instance of the rows' event servers: a descriptor whose event type `EVENT` is a provider's (GitHub's)
 * `issues.opened`, its deliveries signed with the instance's webhook secret.
 */
async function eventsInstance(): Promise<string> {
  const descriptor = {
    metadata: { name: 'grid-events', slug: 'grid-events', version: '1.0.0' },
    authentication: [],
    operations: [{ operation_id: 'ping', endpoint: 'https://api.example.com/ping', method: 'GET', parameters: [] }],
    mcp_config: {
      enabled: true,
      server_name: 'grid-events',
      server_description: 'Ticket events',
      route_mappings: [{ operation_id: 'ping', mcp_tool_name: 'ping', mcp_tool_description: 'Ping' }],
    },
    events: {
      provider: 'github',
      types: [
        {
          name: EVENT,
          match: ['issues.opened'],
          input_schema: { type: 'object', properties: { ticket_id: { type: 'string' }, nonce: { type: 'string' } } },
        },
      ],
    },
  };
  const connector = await unwrap(api.POST('/connectors', { body: descriptor as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'grid-events', webhook_secret: EVENTS_SECRET },
    }),
  );
  return instance.id;
}

// ---------------------------------------------------------------------------------------------------------------------
// The backtest's recorded calls and the rules proposed to it

/**
 * The server whose calls the backtest replays (`grid-recorded`): the session rows' kind of server (classified
 * `private`, its get_ticket labelled `public_write`), no rule of a row on it, granted to the backtest path's key by a
 * policy of its own (`grid-recorded`, which a proposal replaces).
 */
let recorded: { id: string; url: string } | undefined;
/** The period of the recorded calls (`recordCalls`, in `beforeAll`). */
let period: { from: string; to: string };
/** How many calls of the cell's tool are recorded: a count through arguments below 5 is not reported (ADR 0091). */
const RECORDED_CALLS = 5;

async function recordedServer(): Promise<void> {
  const { server } = await labelledInstance('public_write', '1.0.2', 'grid-recorded')();
  await unwrap(
    api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: server.id } },
      body: { config: { dataLabels: ['private'] } } as never,
    }),
  );
  recorded = server;
  const caller = callers.get(BACKTEST)!;
  const body = {
    name: 'grid-recorded',
    principals: [{ type: 'api_key' as const, value: caller.id }],
    servers: [server.id],
    tools: ['*'],
  };
  await unwrap(api.POST('/access_policies', { body }));
}

/**
 * The recorded calls: once the server's policy reached the edge (calls before are not in the period), the backtest
 * path's key primes its session (search_tickets brings `private`), then calls the cell's tool `RECORDED_CALLS` times;
 * each ran (a row's session rule on such calls is log only). Their period, once every record is stored.
 */
async function recordCalls(caller: Caller): Promise<{ from: string; to: string }> {
  const client = await mcpClient(recorded!.url, caller);
  const search = () => client.callTool({ name: 'search_tickets', arguments: {} });
  await waitFor('the recorded server granted', async () => (await search()).isError !== true);
  const from = new Date(Date.now() - 1).toISOString();
  expect((await search()).isError).toBeFalsy();
  for (let i = 0; i < RECORDED_CALLS; i++)
    expect((await client.callTool({ name: TOOL, arguments: ARGS })).isError).toBeFalsy();
  await waitFor('the recorded calls stored', async () => {
    const query = { server_id: recorded!.id, from, limit: 100 };
    const page = await unwrap(api.GET('/execution_records', { params: { query } }));
    return page.data.length === RECORDED_CALLS + 1;
  });
  return { from, to: new Date(Date.now() + 1).toISOString() };
}

/** A rule of a row proposed to the backtest over the recorded calls, and what its report says. */
interface Proposal {
  files: { path: string; content: string }[];
  says: RegExp;
}

/** What a proposed rule changes on the recorded calls: each its cause, on all of them (or nothing: `"reasons":[]`). */
const changed = (change: string, code: string) =>
  new RegExp(
    `^\\{"reasons":\\[\\{"change":"${change}","code":"${code.replace('.', '\\.')}"[^}]*"calls":${RECORDED_CALLS}\\}\\]`,
  );
const unchanged = /^\{"reasons":\[\],"asked":0,"findings":\[\]\}$/;
const yaml = (lines: string[]) => `${lines.join('\n')}\n`;

/**
 * Each row's rule as workspace files over the recorded server, by the rule's name, enforced or log only (ADR 0080: a
 * log-only rule changes nothing; a guardrail's would-be findings are reported).
 */
const PROPOSALS: Partial<Record<string, (enforce: boolean) => Proposal>> = {
  'argument-guardrails': (enforce) => ({
    files: [
      {
        path: 'guardrails/grid-proposed-args.yaml',
        content: yaml([
          'name: grid-proposed-args',
          'server: grid-recorded',
          `tools: [${TOOL}]`,
          'detectors:',
          '  - kind: custom',
          '    label: ticket',
          `    patterns: ['${ARGS.ticket_id}']`,
          'action: block',
          `enforce: ${enforce}`,
          'on: [arguments]',
        ]),
      },
    ],
    says: enforce
      ? changed('newlyRefused', 'guardrail.blocked')
      : new RegExp(`"reasons":\\[\\],.*"action":"would_block","calls":${RECORDED_CALLS}\\}\\]\\}$`),
  }),
  access: (enforce) => ({
    files: [
      {
        path: 'access-policies/grid-recorded.yaml',
        content: yaml([
          'name: grid-recorded',
          'principals: [{ type: api_key, value: grid-the-backtest-s-replay }]',
          'servers: [grid-recorded]',
          'tools: [search_tickets]',
        ]),
      },
      {
        path: 'access-policies/grid-proposed-condition.yaml',
        content: yaml([
          'name: grid-proposed-condition',
          'principals: [{ type: api_key, value: grid-the-backtest-s-replay }]',
          'servers: [grid-recorded]',
          `tools: [${TOOL}]`,
          `condition: 'args.ticket_id != "${ARGS.ticket_id}"'`,
          `enforce: ${enforce}`,
        ]),
      },
    ],
    says: enforce ? changed('newlyRefused', 'access.condition') : unchanged,
  }),
  session: (enforce) => ({
    files: [
      {
        path: 'session.yaml',
        content: yaml([
          'ttlSeconds: 3600',
          'rules:',
          '  - id: grid-proposed-session',
          '    after: [private]',
          '    toolLabels: [public_write]',
          '    action: refuse',
          `    enforce: ${enforce}`,
        ]),
      },
    ],
    says: enforce ? changed('newlyRefused', 'session.refused') : unchanged,
  }),
  confirmation: () => ({
    files: [{ path: 'mcp-servers/grid-recorded.yaml', content: serverFile([`confirmTools: [${TOOL}]`]) }],
    says: new RegExp(`^\\{"reasons":\\[\\],"asked":${RECORDED_CALLS},`),
  }),
  approval: () => ({
    files: [
      {
        path: 'mcp-servers/grid-recorded.yaml',
        content: serverFile([
          `approvalTools: [${TOOL}]`,
          'approvalRule:',
          '  approvers:',
          '    apiKeys: [grid-approver]',
          '  approvals: 1',
          '  expiresInSeconds: 3600',
        ]),
      },
    ],
    says: changed('newlyHeld', 'approval.required'),
  }),
  // A server file's `ruleSettings` (ADR 0101): a bound on an argument that is not a number refuses every recorded call.
  'spending-limit': (enforce) => ({
    files: [
      {
        path: 'mcp-servers/grid-recorded.yaml',
        content: serverFile([
          'ruleSettings:',
          '  spending-limit:',
          '    argument: ticket_id',
          '    limit: 0',
          `    mode: ${enforce ? 'enforced' : 'log_only'}`,
        ]),
      },
    ],
    says: enforce ? changed('newlyRefused', 'spending_limit.unreadable') : unchanged,
  }),
  quota: (enforce) => ({
    files: [
      {
        path: 'quotas/grid-proposed-quota.yaml',
        content: yaml([
          'name: grid-proposed-quota',
          'match:',
          '  servers: [grid-recorded]',
          `  tools: [${TOOL}]`,
          'counts: calls',
          'limit: 0',
          'window: day',
          `enforce: ${enforce}`,
        ]),
      },
    ],
    says: enforce ? changed('newlyRefused', 'quota.exceeded') : unchanged,
  }),
};

const serverFile = (lines: string[]) =>
  yaml(['name: grid-recorded', 'mode: NORMAL', 'connectorInstance: grid-recorded-instance', ...lines]);

function proposalOf(stage: Stage): Proposal {
  const proposal = PROPOSALS[stage.stage];
  if (!proposal) throw new Error(`no proposal to the backtest of the rule "${stage.stage}"`);
  return proposal(!stage.logOnly);
}

/** The attached MCP server: a tool (its server is in a caller's view only with one) and the resource every read reads. */
async function startAttached(): Promise<typeof attached> {
  const reads: string[] = [];
  const handler = toNodeHandler(
    createMcpHandler(() => {
      const server = new McpServer({ name: 'grid-attached', version: '1.0.0' });
      server.registerTool('peek', { description: 'Peeks' }, () => ({ content: [{ type: 'text', text: 'peeked' }] }));
      server.registerResource('ticket', RESOURCE, { mimeType: 'text/plain' }, () => {
        reads.push(RESOURCE);
        return { contents: [{ uri: RESOURCE, mimeType: 'text/plain', text: 'TCK-1: open' }] };
      });
      return server;
    }),
  );
  const port = await freePort();
  const http = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/mcp`, http, reads };
}

interface Row {
  stage: Stage;
  title: string;
  servers: RuleServers;
  recorded: Recorded | undefined;
  /** The row's own credential of each path (`Stage.narrowed`), by the path's name. */
  callers?: Map<string, Caller>;
}

const rows: Row[] = [];
/** The key of each path, by the path's name. */
const callers = new Map<string, Caller>();

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  attached = await startAttached();
  ({ stack, api } = await startTestStack('stage-paths'));
  ({ instanceId } = await registerTicketExample(api, upstream.url, 'k', 'grid-tickets'));
  eventsInstanceId = await eventsInstance();
  const newKey = (name: string) => unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));
  approverId = (await newKey('grid-approver')).id;
  for (const path of PATHS) {
    const k = await newKey(`grid-${path.name.replace(/[^a-z0-9]/gi, '-')}`);
    callers.set(path.name, { id: k.id, key: k.key });
  }
  for (const [i, stage] of STAGES.entries()) {
    const on = (...kinds: RulePath[]) => PATHS.some((path) => kinds.includes(path.on) && applies(path, stage));
    const needs = { reads: on('read'), events: on('eventSubscribe', 'eventDelivery') };
    const servers = await ruleServers(`r${i}`, stage.server?.() ?? {}, await stage.instance?.(), needs);
    rows.push({ stage, title: titleOf(stage), servers, recorded: undefined });
  }
  // The path keys may call every server but the conditioned ones' get_ticket, which only the conditions grant.
  const conditioned = rows.filter((r) => r.stage.name.startsWith('access'));
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'grid-callers',
        principals: [...callers.values()].map((c) => ({ type: 'api_key' as const, value: c.id })),
        servers: rows
          .flatMap((r) => [
            r.servers.normal.id,
            r.servers.smart.id,
            r.servers.flows.id,
            ...(r.servers.reads ? [r.servers.reads.id] : []),
            ...(r.servers.events ? [r.servers.events.id] : []),
          ])
          .filter(
            (id) =>
              !conditioned.some((c) => [c.servers.normal, c.servers.smart, c.servers.events].some((x) => x?.id === id)),
          ),
        tools: ['*'],
      },
    }),
  );
  for (const row of rows) row.recorded = await row.stage.rule?.(row.servers, [...callers.values()]);
  for (const row of rows) {
    const narrowed = row.stage.narrowed;
    if (narrowed)
      row.callers = await narrowedCallers(typeof narrowed === 'function' ? await narrowed(row.servers) : narrowed);
  }
  await unwrap(api.PUT('/session_settings', { body: sessionSettings() as never }));
  await recordedServer();
  period = await recordCalls(callers.get(BACKTEST)!);
}, 300_000);

/** A narrowed token of each path's key (RFC 8693 exchange at the first edge), as that path's caller. */
async function narrowedCallers(details: Record<string, unknown>): Promise<Map<string, Caller>> {
  const narrowed = new Map<string, Caller>();
  for (const [path, caller] of callers) {
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: caller.key,
      subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
      authorization_details: JSON.stringify([{ type: 'toolplane_delegation', ...details }]),
    });
    // A task grant is redeemed once it reached the edge (published with the workspace's access).
    const body = await waitFor('the token exchange', async () => {
      const res = await fetch(`${stack.edgeUrls[0]}/oauth/token-exchange`, { method: 'POST', body: form });
      const answer = (await res.json()) as { access_token?: string; error_description?: string };
      if (!answer.access_token && !answer.error_description?.includes('task grant'))
        throw new Error(`token exchange refused: ${JSON.stringify(answer)}`);
      return answer.access_token ? answer : undefined;
    });
    narrowed.set(path, { ...caller, headers: { authorization: `Bearer ${body.access_token}` } });
  }
  return narrowed;
}

/**
 * The path's key reads through the row's NORMAL server once (`search_tickets`, which sends nothing out, so no session
 * rule judges it): its result brings the server's classification into the key's session.
 */
async function prime(servers: RuleServers, caller: Caller): Promise<void> {
  const r = await (await mcpClient(servers.normal.url, caller)).callTool({ name: 'search_tickets', arguments: {} });
  expect(r.isError).toBeFalsy();
}

afterAll(async () => {
  for (const o of opened) await o.close().catch(() => undefined);
  await stack?.stop();
  await upstream?.close();
  attached?.http.closeAllConnections();
  await new Promise((resolve) => (attached ? attached.http.close(resolve) : resolve(undefined)));
});

function titleOf(stage: Stage): string {
  return `${stage.name}${stage.logOnly ? ' (log only)' : ''}`;
}

/**
 * The audit event a log-only rule recorded for `caller`'s call of a tool `tool` matches: on a workflow step, the edge
 * may also record one for the workflow's own tool, and the cell is about the step's.
 */
async function recordedFor(recorded: Recorded, caller: Caller, tool: RegExp) {
  const page = await unwrap(
    api.GET('/audit_events', {
      params: { query: { action: recorded.action, from: since, limit: 200 } },
    }),
  );
  return page.data.find(
    (e) =>
      recorded.ruleIds.includes(e.resource.id ?? '') &&
      e.actor.id === caller.id &&
      tool.test(String((e.details as { tool?: unknown } | null)?.tool ?? '')),
  );
}

const LOG_ONLY = 'runs, reaches the upstream, and the audit trail says what it would have done';
const JUDGED_LOG_ONLY = 'would run as it ran: nothing newly refused, held or asked, nothing sent';

const rowOf = (stage: Stage) => rows.find((r) => r.stage === stage)!;

describe.each(STAGES.map((stage) => [titleOf(stage), stage] as const))('%s', (title, stage) => {
  const cells = PATHS.filter((path) => !GAPS.has(`${title} × ${path.name}`) && applies(path, stage));
  if (!stage.logOnly)
    it.each(cells.map((path) => [path.name, path] as const))(
      '%s: refused, nothing reaches the upstream',
      async (_name, path) => {
        const { servers, callers: own } = rowOf(stage);
        const caller = own?.get(path.name) ?? callers.get(path.name)!;
        const says = path.says?.(stage) ?? stage.says!;
        // A rule made apart from its servers: until it reached this path's edge or worker (a call before may run).
        // A server's own setting is in its first catalog: its first call is refused.
        if (stage.prime) await prime(servers, caller);
        // A narrowed token's refusal, where its key's own call goes through (a read: once its catalog has the resource).
        if (stage.narrowed)
          await waitFor(`${path.name} as the key itself`, async () => {
            const plain = await path.call(servers, callers.get(path.name)!, stage);
            return plain.refused ? undefined : true;
          });
        // (The backtest reads the workspace's rules as saved: nothing to wait for.)
        if ((stage.rule || stage.prime) && !path.judgesOnly)
          await waitFor(`${title} on ${path.name}`, async () => {
            const outcome = await path.call(servers, caller, stage);
            return outcome.refused && says.test(outcome.text) ? true : undefined;
          });
        const reached = async () => [...(await (path.reached ?? (() => upstream.requests))(servers, caller))];
        const before = (await reached()).length;
        const outcome = await path.call(servers, caller, stage);
        expect(outcome.refused).toBe(true);
        expect(outcome.text).toMatch(says);
        if (stage.hides) expect(outcome.text).not.toContain(stage.hides);
        expect((await reached()).slice(before)).toEqual([]);
      },
      120_000,
    );
  else
    it.each(cells.map((path) => [path.name, path.judgesOnly ? JUDGED_LOG_ONLY : LOG_ONLY, path] as const))(
      '%s: %s',
      async (_name, _title, path) => {
        const { servers, recorded, callers: own } = rowOf(stage);
        const caller = own?.get(path.name) ?? callers.get(path.name)!;
        const reached = async () => [...(await (path.reached ?? (() => upstream.requests))(servers, caller))];
        if (path.judgesOnly) {
          // Nothing runs: the outcome is what the path says of a log-only rule, and nothing is sent.
          const before = (await reached()).length;
          const outcome = await path.call(servers, caller, stage);
          expect(outcome).toEqual({ refused: false, text: expect.stringMatching(path.says!(stage)) });
          expect((await reached()).slice(before)).toEqual([]);
          return;
        }
        // The tool as the path's server names it (a SMART server's may carry its instance's suffix; a read, its URI).
        const toolName = path.tool ?? new RegExp(`^${TOOL}(__|$)`);
        const event = await waitFor(`${recorded!.action} of ${title} on ${path.name}`, async () => {
          if (stage.prime) await prime(servers, caller);
          const before = (await reached()).length;
          const outcome = await path.call(servers, caller, stage);
          expect(outcome).toEqual({ refused: false, text: expect.any(String) });
          expect((await reached()).length).toBeGreaterThan(before);
          return recordedFor(recorded!, caller, toolName);
        });
        const tool = expect.stringMatching(toolName);
        expect(event).toMatchObject({ actor: { id: caller.id }, outcome: 'success', details: { tool } });
      },
      120_000,
    );
});

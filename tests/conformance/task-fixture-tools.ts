// The tools the conformance suite's Tasks scenarios (SEP-2663, `tasks-*`, 0.2.0 alpha) call. Toolplane decides which
// calls become tasks (ADR 0040): on 2026-07-28, a call of a client that declared the extension that has not answered
// within TASK_IMMEDIATE_MS (500 ms here) becomes one. So the tools the suite calls "task-supporting" take about a second
// before they answer, and `greet`, the "sync-only" one, answers at once. Each runs on this external MCP server, proxied
// by the worker, so every task crosses the queue like any call.
import { INVALID_PARAMS, ProtocolError, type CallToolResult, type ServerContext } from '@modelcontextprotocol/server';

const noArgs = { type: 'object', properties: {} } as const;

export const taskTools = [
  {
    name: 'greet',
    description: 'Answers at once: Hello, {name}!',
    inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
  },
  {
    name: 'slow_compute',
    description: 'Answers after `seconds` seconds (a task past half a second), unless cancelled',
    inputSchema: {
      type: 'object',
      properties: { seconds: { type: 'number', minimum: 0 }, label: { type: 'string' } },
      required: ['seconds'],
    },
  },
  { name: 'failing_job', description: 'A tool error after about a second', inputSchema: noArgs },
  { name: 'protocol_error_job', description: 'A JSON-RPC error after about a second', inputSchema: noArgs },
  {
    name: 'confirm_delete',
    description: 'After about a second, asks the client to confirm (input_required), then answers',
    inputSchema: { type: 'object', properties: { filename: { type: 'string' } }, required: ['filename'] },
  },
  { name: 'multi_input', description: 'After about a second, asks two questions at once', inputSchema: noArgs },
  {
    name: 'test_tool_with_task',
    description: 'Asks for a name at once (input_required); the retry with it answers after about a second',
    inputSchema: noArgs,
  },
];

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const ask = (message: string, property: string) => ({
  method: 'elicitation/create',
  params: {
    message,
    requestedSchema: { type: 'object', properties: { [property]: { type: 'string' } }, required: [property] },
  },
});
const inputRequired = (inputRequests: Record<string, unknown>) =>
  ({ resultType: 'input_required', inputRequests }) as unknown as CallToolResult;

/** Waits `ms`, or rejects when the call is cancelled (the worker aborts its request). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('cancelled'))), { once: true });
  });
}

/** A task tool's answer; undefined for any other tool. */
export function taskTool(
  name: string,
  args: Record<string, unknown>,
  ctx: ServerContext,
): Promise<CallToolResult> | undefined {
  const answers = (ctx.mcpReq.inputResponses ?? {}) as Record<string, { content?: Record<string, unknown> }>;
  const signal = ctx.mcpReq.signal;
  switch (name) {
    case 'greet':
      return Promise.resolve(text(`Hello, ${String(args.name)}!`));
    case 'slow_compute':
      return pause(Number(args.seconds) * 1000, signal).then(() => text(`Computed ${String(args.label ?? '')}`));
    case 'failing_job':
      return pause(1000, signal).then(() => ({ content: [{ type: 'text', text: 'The job failed' }], isError: true }));
    case 'protocol_error_job':
      return pause(1000, signal).then(() => {
        throw new ProtocolError(INVALID_PARAMS, 'protocol_error_job fails at the protocol level');
      });
    case 'confirm_delete':
      if (answers.confirm) return Promise.resolve(text(`Deleted ${String(args.filename)}`));
      return pause(1000, signal).then(() =>
        inputRequired({ confirm: ask(`Delete ${String(args.filename)}?`, 'confirm') }),
      );
    case 'multi_input':
      if (answers.first && answers.second) return Promise.resolve(text('Both answered'));
      return pause(1000, signal).then(() =>
        inputRequired({ first: ask('First?', 'name'), second: ask('Second?', 'name') }),
      );
    case 'test_tool_with_task': {
      const user = answers.user_name;
      if (!user) return Promise.resolve(inputRequired({ user_name: ask('What is your name?', 'name') }));
      return pause(1000, signal).then(() => text(`Hello, ${String(user.content?.name ?? 'stranger')}!`));
    }
    default:
      return undefined;
  }
}

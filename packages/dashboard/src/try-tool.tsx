import { useEffect, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from './api.ts';
import { Link } from './router.tsx';
import { SelectField } from './components/form.tsx';
import { SecretInput } from './ui.tsx';

type Json = Record<string, unknown>;
type Field = { name: string; type: string; required: boolean; description: string };

function fieldsOf(schema: Json): Field[] {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  return Object.entries(props).map(([name, p]) => ({
    name,
    type: typeof p.type === 'string' ? p.type : 'json',
    required: required.includes(name),
    description: typeof p.description === 'string' ? p.description : '',
  }));
}

/** The arguments typed in the form, converted to the schema's types; empty optional fields are left out. */
function argumentsOf(fields: Field[], values: Record<string, string>): Json {
  const out: Json = {};
  for (const f of fields) {
    const raw = values[f.name] ?? '';
    if (raw === '' && f.type !== 'boolean') continue;
    if (f.type === 'integer' || f.type === 'number') out[f.name] = Number(raw);
    else if (f.type === 'boolean') out[f.name] = raw === 'true';
    else if (f.type === 'string') out[f.name] = raw;
    else out[f.name] = JSON.parse(raw) as unknown;
  }
  return out;
}

/** The JSON-RPC response in a JSON or an SSE (`data:` lines) body. */
function rpcResponse(body: string, contentType: string): unknown {
  if (!contentType.includes('text/event-stream')) return JSON.parse(body) as unknown;
  const messages = body
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => JSON.parse(l.slice(5)) as Json);
  return messages.find((m) => 'result' in m || 'error' in m) ?? messages.at(-1);
}

const FIND_EVERY_MS = 500;
const FIND_FOR_MS = 15_000;
/** Leeway for the browser's clock being ahead of the services' when matching a call to its record. */
const CLOCK_SLACK_MS = 1000;

type Call = { tool: string; sentAt: number };
type Found = { state: 'finding' } | { state: 'found'; id: string } | { state: 'missing' };

/**
 * The execution record of a call made from this page: the newest record of `call.tool` on the server started
 * after the call was sent, polled for briefly (records arrive through a stream, shortly after the answer).
 */
function RecordLink({ client, serverId, call }: { client: ManagementClient; serverId: string; call: Call }) {
  const [found, setFound] = useState<Found>({ state: 'finding' });
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setFound({ state: 'finding' });
    const from = new Date(call.sentAt - CLOCK_SLACK_MS).toISOString();
    const look = () => {
      unwrap(
        client.GET('/execution_records', {
          params: { query: { server_id: serverId, tool: call.tool, from, limit: 1 } },
        }),
      ).then(
        (list) => {
          if (!live) return;
          const record = list.data[0];
          if (record) setFound({ state: 'found', id: record.id });
          else if (Date.now() - call.sentAt > FIND_FOR_MS) setFound({ state: 'missing' });
          else timer = setTimeout(look, FIND_EVERY_MS);
        },
        () => live && setFound({ state: 'missing' }),
      );
    };
    look();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [client, serverId, call]);
  if (found.state === 'finding')
    return (
      <p className="loading" role="status">
        Looking for its execution record…
      </p>
    );
  if (found.state === 'found')
    return (
      <p>
        <Link href={`/records/${found.id}`}>Open its record</Link>
      </p>
    );
  return (
    <p>
      Its record has not appeared yet: see the{' '}
      <Link href={`/records?server_id=${encodeURIComponent(serverId)}`}>server’s execution records</Link>.
    </p>
  );
}

const RUNTIME_KEY = 'toolplane.runtimeKey';

type Result = { ok: boolean; text: string };

/** Calls `name` with `args` over MCP (`tools/call`) at `url` with `key`: its answer, or why the browser could not call. */
async function callTool(url: string, key: string, name: string, args: Json): Promise<Result & { reached: boolean }> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        'x-api-key': key,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
    });
    const body = await res.text();
    const rpc = rpcResponse(body, res.headers.get('content-type') ?? '') as Json | undefined;
    const isError = !res.ok || !rpc || 'error' in rpc || (rpc.result as Json | undefined)?.isError === true;
    return { ok: !isError, text: JSON.stringify(rpc ?? body, null, 2), reached: true };
  } catch (err) {
    return {
      ok: false,
      text: `The browser could not call ${url} (${String(err)}). The edge must allow this page's origin (CORS).`,
      reached: false,
    };
  }
}

/** One argument's field: its schema, the text typed in, and where the text goes. */
interface ArgumentProps {
  field: Field;
  value: string | undefined;
  onValue: (v: string) => void;
}

/** The input of one argument, by its schema type: a boolean select, JSON text, a number or text. */
function ArgumentInput({ field: f, value, onValue }: ArgumentProps) {
  if (f.type === 'boolean')
    return (
      <select id={`arg-${f.name}`} value={value ?? 'false'} onChange={(e) => onValue(e.target.value)}>
        <option value="false">false</option>
        <option value="true">true</option>
      </select>
    );
  if (f.type === 'object' || f.type === 'array' || f.type === 'json')
    return (
      <textarea
        id={`arg-${f.name}`}
        className="code"
        rows={3}
        required={f.required}
        value={value ?? ''}
        onChange={(e) => onValue(e.target.value)}
      />
    );
  return (
    <input
      id={`arg-${f.name}`}
      type={f.type === 'integer' || f.type === 'number' ? 'number' : 'text'}
      step={f.type === 'number' ? 'any' : undefined}
      required={f.required}
      value={value ?? ''}
      onChange={(e) => onValue(e.target.value)}
    />
  );
}

function ArgumentField({ field: f, value, onValue }: ArgumentProps) {
  return (
    <div className="field">
      <label htmlFor={`arg-${f.name}`}>
        {f.name}{' '}
        <span className="hint">
          ({f.type}
          {f.required ? ', required' : ''})
        </span>
      </label>
      <ArgumentInput field={f} value={value} onValue={onValue} />
      {f.description && <span className="hint">{f.description}</span>}
    </div>
  );
}

/** The key MCP calls are sent with, for a session signed in with OAuth (kept in this tab). */
function RuntimeKeyField({ value, onValue }: { value: string; onValue: (v: string) => void }) {
  return (
    <div className="field">
      <label htmlFor="try-key">API key for MCP calls</label>
      <SecretInput id="try-key" autoComplete="off" required value={value} onValue={onValue} />
      <span className="hint">
        A key of this workspace with the <code>runtime</code> scope (API keys page): MCP servers do not accept your
        sign-in.
      </span>
    </div>
  );
}

function ResultView({ result }: { result: Result }) {
  return (
    <div role="status">
      <p className={result.ok ? 'pass' : 'fail'}>{result.ok ? 'Result' : 'Failed'}</p>
      <pre tabIndex={0} aria-label="Tool result">
        {result.text}
      </pre>
    </div>
  );
}

/**
 * A form generated from a tool's input schema; sends MCP `tools/call` to the server's URL with the key, then
 * links the call's execution record. A session signed in with OAuth has no key the edge accepts (its token is for
 * the control plane only, ADR 0020): the form then asks for one with the `runtime` scope, kept in this tab.
 */
export function TryTool({
  client,
  serverId,
  url,
  apiKey,
  tools,
}: {
  client: ManagementClient;
  serverId: string;
  url: string;
  apiKey: string;
  tools: Schemas['ToolDefinition'][];
}) {
  const [runtimeKey, setRuntimeKey] = useState(() => apiKey || sessionStorage.getItem(RUNTIME_KEY) || '');
  const [call, setCall] = useState<Call | null>(null);
  const [name, setName] = useState(tools[0]?.name ?? '');
  const [values, setValues] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const tool = tools.find((t) => t.name === name);
  const fields = tool ? fieldsOf(tool.inputSchema) : [];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setResult(null);
    setCall(null);
    let args: Json;
    try {
      args = argumentsOf(fields, values);
    } catch (err) {
      return setResult({ ok: false, text: `Invalid JSON argument: ${String(err)}` });
    }
    if (!apiKey) sessionStorage.setItem(RUNTIME_KEY, runtimeKey);
    const sentAt = Date.now();
    setBusy(true);
    void callTool(url, runtimeKey, name, args).then(({ reached, ...answer }) => {
      setResult(answer);
      if (reached) setCall({ tool: name, sentAt });
      setBusy(false);
    });
  };
  const choose = (tool: string) => {
    setName(tool);
    setValues({});
    setResult(null);
    setCall(null);
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby="try-title">
      <h2 id="try-title">Try a tool</h2>
      <SelectField
        id="try-tool"
        label="Tool"
        value={name}
        onValue={choose}
        options={tools.map((t) => ({ value: t.name, label: t.name }))}
      />
      {fields.map((f) => (
        <ArgumentField
          key={`${name}-${f.name}`}
          field={f}
          value={values[f.name]}
          onValue={(v) => setValues({ ...values, [f.name]: v })}
        />
      ))}
      {!apiKey && <RuntimeKeyField value={runtimeKey} onValue={setRuntimeKey} />}
      <button type="submit" disabled={busy || !tool || runtimeKey === ''}>
        {busy ? 'Calling…' : 'Call tool'}
      </button>
      {result && <ResultView result={result} />}
      {call && <RecordLink client={client} serverId={serverId} call={call} />}
    </form>
  );
}

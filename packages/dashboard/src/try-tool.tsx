import { useEffect, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from './api.ts';
import { Link } from './router.tsx';
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
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const tool = tools.find((t) => t.name === name);
  const fields = tool ? fieldsOf(tool.inputSchema) : [];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setResult(null);
    setCall(null);
    let args: Json;
    try {
      args = argumentsOf(fields, values);
    } catch (err) {
      setResult({ ok: false, text: `Invalid JSON argument: ${String(err)}` });
      setBusy(false);
      return;
    }
    if (!apiKey) sessionStorage.setItem(RUNTIME_KEY, runtimeKey);
    const sentAt = Date.now();
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        'x-api-key': runtimeKey,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
    })
      .then(async (res) => {
        const body = await res.text();
        const rpc = rpcResponse(body, res.headers.get('content-type') ?? '') as Json | undefined;
        const isError = !res.ok || !rpc || 'error' in rpc || (rpc.result as Json | undefined)?.isError === true;
        setResult({ ok: !isError, text: JSON.stringify(rpc ?? body, null, 2) });
        setCall({ tool: name, sentAt });
      })
      .catch((err: unknown) =>
        setResult({
          ok: false,
          text: `The browser could not call ${url} (${String(err)}). The edge must allow this page's origin (CORS).`,
        }),
      )
      .finally(() => setBusy(false));
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby="try-title">
      <h2 id="try-title">Try a tool</h2>
      <label htmlFor="try-tool">Tool</label>
      <select
        id="try-tool"
        value={name}
        onChange={(e) => {
          setName(e.target.value);
          setValues({});
          setResult(null);
          setCall(null);
        }}
      >
        {tools.map((t) => (
          <option key={t.name} value={t.name}>
            {t.name}
          </option>
        ))}
      </select>
      {fields.map((f) => (
        <div className="field" key={`${name}-${f.name}`}>
          <label htmlFor={`arg-${f.name}`}>
            {f.name}{' '}
            <span className="hint">
              ({f.type}
              {f.required ? ', required' : ''})
            </span>
          </label>
          {f.type === 'boolean' ? (
            <select
              id={`arg-${f.name}`}
              value={values[f.name] ?? 'false'}
              onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
            >
              <option value="false">false</option>
              <option value="true">true</option>
            </select>
          ) : f.type === 'object' || f.type === 'array' || f.type === 'json' ? (
            <textarea
              id={`arg-${f.name}`}
              className="code"
              rows={3}
              required={f.required}
              value={values[f.name] ?? ''}
              onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
            />
          ) : (
            <input
              id={`arg-${f.name}`}
              type={f.type === 'integer' || f.type === 'number' ? 'number' : 'text'}
              step={f.type === 'number' ? 'any' : undefined}
              required={f.required}
              value={values[f.name] ?? ''}
              onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
            />
          )}
          {f.description && <span className="hint">{f.description}</span>}
        </div>
      ))}
      {!apiKey && (
        <div className="field">
          <label htmlFor="try-key">API key for MCP calls</label>
          <SecretInput id="try-key" autoComplete="off" required value={runtimeKey} onValue={setRuntimeKey} />
          <span className="hint">
            A key of this workspace with the <code>runtime</code> scope (API keys page): MCP servers do not accept your
            sign-in.
          </span>
        </div>
      )}
      <button type="submit" disabled={busy || !tool || runtimeKey === ''}>
        {busy ? 'Calling…' : 'Call tool'}
      </button>
      {result && (
        <div role="status">
          <p className={result.ok ? 'pass' : 'fail'}>{result.ok ? 'Result' : 'Failed'}</p>
          <pre tabIndex={0} aria-label="Tool result">
            {result.text}
          </pre>
        </div>
      )}
      {call && <RecordLink client={client} serverId={serverId} call={call} />}
    </form>
  );
}

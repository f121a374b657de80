import { useState, type FormEvent } from 'react';
import type { Schemas } from './api.ts';

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

/** A form generated from a tool's input schema; sends MCP `tools/call` to the server's URL with the key. */
export function TryTool({ url, apiKey, tools }: { url: string; apiKey: string; tools: Schemas['ToolDefinition'][] }) {
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
    let args: Json;
    try {
      args = argumentsOf(fields, values);
    } catch (err) {
      setResult({ ok: false, text: `Invalid JSON argument: ${String(err)}` });
      setBusy(false);
      return;
    }
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        'x-api-key': apiKey,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
    })
      .then(async (res) => {
        const body = await res.text();
        const rpc = rpcResponse(body, res.headers.get('content-type') ?? '') as Json | undefined;
        const isError = !res.ok || !rpc || 'error' in rpc || (rpc.result as Json | undefined)?.isError === true;
        setResult({ ok: !isError, text: JSON.stringify(rpc ?? body, null, 2) });
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
      <button type="submit" disabled={busy || !tool}>
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
    </form>
  );
}

import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { Json } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';

type Exchange = {
  request?: { headers?: Record<string, unknown>; body?: unknown };
  response?: { status?: unknown; contentType?: unknown; body?: unknown; truncated?: unknown };
};

type Capture = Exchange & { title: string; method: string; url: string };

/** The captures of a debug session, each with the method and URL of its request (from the record's steps). */
function capturesOf(debug: Record<string, unknown>, steps: unknown[]): Capture[] {
  const stepList = steps.map((s) => (s ?? {}) as Record<string, unknown>);
  const where = (step: Record<string, unknown> | undefined) => ({
    method: String(step?.method ?? ''),
    url: String(step?.url ?? step?.urlTemplate ?? ''),
  });
  if (Array.isArray(debug.steps))
    return (debug.steps as (Exchange & { name?: unknown; attempt?: unknown })[]).map((c, i) => {
      const step = stepList.find((s) => s.name === c.name && (s.attempt ?? 1) === (c.attempt ?? 1)) ?? stepList[i];
      return {
        ...c,
        ...where(step),
        title: `${String(c.name ?? `Request ${i + 1}`)}${typeof c.attempt === 'number' ? `, attempt ${c.attempt}` : ''}`,
      };
    });
  return [{ ...(debug as Exchange), ...where(stepList.at(-1)), title: 'The HTTP exchange' }];
}

/** A JSON body indented; anything else (or a body cut at the capture limit) as it is. */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function Body({ body, label }: { body: unknown; label: string }) {
  if (body === undefined || body === null || body === '') return <p className="hint">No body.</p>;
  return (
    <pre tabIndex={0} aria-label={label}>
      {typeof body === 'string' ? pretty(body) : JSON.stringify(body, null, 2)}
    </pre>
  );
}

const headerColumns: Column<[string, unknown]>[] = [
  { header: 'Header', rowHeader: true, cell: ([k]) => <code>{k}</code> },
  { header: 'Value', cell: ([, v]) => <code>{String(v)}</code> },
];

export function DebugCaptures({ debug, steps }: { debug: Record<string, unknown>; steps: unknown[] }) {
  const captures = capturesOf(debug, steps);
  return (
    <Section id="debug" title="Debug captures">
      <p className="hint">
        Captured during debug session <code>{String(debug.sessionId ?? '')}</code>: credential headers are shown as{' '}
        <code>[redacted]</code> and secret values are scrubbed; bodies are size-capped.
      </p>
      {captures.map((c, i) => {
        const headers = Object.entries(c.request?.headers ?? {});
        const res = c.response;
        return (
          <article key={i} className="capture" aria-labelledby={`capture-${i}`}>
            <h3 id={`capture-${i}`}>{c.title}</h3>
            <h4>Request</h4>
            <dl className="facts">
              <dt>Method</dt>
              <dd>{c.method || '—'}</dd>
              <dt>URL</dt>
              <dd>
                <code data-testid="capture-url">{c.url || '—'}</code>
              </dd>
            </dl>
            {headers.length === 0 ? (
              <p className="hint">No headers.</p>
            ) : (
              <ResourceTable
                rows={headers}
                columns={headerColumns}
                rowKey={([k]) => k}
                caption={`Request headers of ${c.title}`}
              />
            )}
            <Body body={c.request?.body} label={`Request body of ${c.title}`} />
            <h4>Response</h4>
            {res ? (
              <>
                <dl className="facts">
                  <dt>Status</dt>
                  <dd data-testid="capture-status">HTTP {String(res.status ?? '—')}</dd>
                  <dt>Content type</dt>
                  <dd>{String(res.contentType ?? '—')}</dd>
                </dl>
                <Body body={res.body} label={`Response body of ${c.title}`} />
                {res.truncated === true && <p className="hint">The body was cut at the capture limit.</p>}
              </>
            ) : (
              <p>No response (the request failed before one came).</p>
            )}
          </article>
        );
      })}
      <details>
        <summary>The capture as JSON</summary>
        <Json value={debug} label="Debug capture (JSON)" />
      </details>
    </Section>
  );
}

export const ms = (n: unknown) => (typeof n === 'number' ? `${Math.round(n * 10) / 10} ms` : '—');

type Node = Record<string, unknown> & { kind?: string; children?: unknown };

function nodeTitle(n: Node): string {
  switch (n.kind) {
    case 'flow.run':
      return `flow.run ${String(n.workflowId ?? '')}`;
    case 'step.run':
      return `step.run ${String(n.stepId ?? '')}`;
    case 'action.run':
      return `action.run ${String(n.method ?? '')} ${String(n.url ?? n.urlTemplate ?? '')}`;
    default:
      return String(n.kind ?? 'node');
  }
}

function nodeFacts(n: Node): string[] {
  const facts: string[] = [];
  const add = (label: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== '') facts.push(`${label} ${String(v)}`);
  };
  add('status', n.status);
  add('outcome', n.outcome);
  add('HTTP', n.httpStatus);
  add('attempts', n.attempts);
  add('retries', n.retries);
  add('attempt', n.attempt);
  add('action', n.action);
  add('target', n.target);
  if (typeof n.durationMs === 'number') facts.push(ms(n.durationMs));
  add('error', n.errorCode ?? n.error);
  return facts;
}

export function Tree({ nodes }: { nodes: unknown[] }) {
  return (
    <ol className="timeline">
      {nodes.map((raw, i) => {
        const n = (raw ?? {}) as Node;
        const children = Array.isArray(n.children) ? (n.children as unknown[]) : [];
        const bad = n.status === 'error' || n.outcome === 'failure' || n.outcome === 'failed';
        return (
          <li key={i} className={`node ${String(n.kind ?? '').replace('.', '-')}${bad ? ' bad' : ''}`}>
            <div className="node-title">{nodeTitle(n)}</div>
            <div className="node-facts">{nodeFacts(n).join(' · ')}</div>
            {children.length > 0 && <Tree nodes={children} />}
          </li>
        );
      })}
    </ol>
  );
}

export function Steps({ steps }: { steps: unknown[] }) {
  return (
    <ol className="timeline">
      {steps.map((raw, i) => {
        const s = (raw ?? {}) as Record<string, unknown>;
        const status = typeof s.status === 'number' ? s.status : null;
        return (
          <li key={i} className={`node step${status !== null && status >= 400 ? ' bad' : ''}`}>
            <div className="node-title">
              {String(s.name ?? `step ${i + 1}`)}: {String(s.method ?? '')} {String(s.url ?? s.urlTemplate ?? '')}
            </div>
            <div className="node-facts">
              HTTP {status ?? 'no answer'} · {String(s.outcome ?? '')} · attempt {String(s.attempt ?? 1)} ·{' '}
              {ms(s.durationMs)}
            </div>
          </li>
        );
      })}
    </ol>
  );
}

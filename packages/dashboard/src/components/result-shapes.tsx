import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Json } from '../ui.tsx';
import { useAction } from './action.ts';
import { ActionError, CodeArea, SubmitButton } from './form.tsx';
import { Writable } from '../powers.tsx';
import { Section } from '../components/section.tsx';

type Preview = Schemas['ResultShapePreview'];
interface Shape {
  projection?: string;
  maxItems?: number;
}

/** `config.resultShapes` of a server (ADR 0052), as stored: tool name → shape. */
function shapesOf(config: Record<string, unknown> | null): [string, Shape][] {
  const shapes = config?.resultShapes;
  if (shapes === null || typeof shapes !== 'object' || Array.isArray(shapes)) return [];
  return Object.entries(shapes as Record<string, Shape>);
}

/** Bytes before and after, and the share saved: `78423 → 3588 bytes (95 % saved)`. */
function bytesSaved(before: number, after: number): string {
  const saved = before > 0 ? Math.round((1 - after / before) * 100) : 0;
  return `${before} → ${after} bytes (${saved} % saved)`;
}

function PreviewOutcome({ tool, preview }: { tool: string; preview: Preview }) {
  const cut = Object.entries(preview.truncated ?? {});
  return (
    <>
      <p role="status">
        {tool}: {bytesSaved(preview.bytesBefore, preview.bytesAfter)}
        {cut.length > 0 && `; items left out: ${cut.map(([k, n]) => `${n} of ${k}`).join(', ')}`}
      </p>
      <div className="configs">
        <Json value={preview.before} label={`${tool} before its shape`} />
        <Json value={preview.after} label={`${tool} after its shape`} />
      </div>
    </>
  );
}

/** One tool's shape, tried on a result pasted as its text reads (`POST …/result_shapes/preview`). */
function ShapeTry({
  client,
  serverId,
  tool,
  shape,
}: {
  client: ManagementClient;
  serverId: string;
  tool: string;
  shape: Shape;
}) {
  const [sample, setSample] = useState('');
  const [preview, setPreview] = useState<Preview | null>(null);
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setPreview(null);
    action.run(
      () =>
        unwrap(
          client.POST('/mcp_manager/{id}/result_shapes/preview', {
            params: { path: { id: serverId } },
            body: { tool, sample },
          }),
        ),
      { then: (p) => void setPreview(p) },
    );
  };
  return (
    <li>
      <code>{tool}</code>
      {shape.projection && (
        <>
          {' '}
          projection <code>{shape.projection}</code>
        </>
      )}
      {shape.maxItems !== undefined && `, at most ${shape.maxItems} items`}
      {/* The preview is a POST on the server: refused to those who may only read it. */}
      <Writable>
        <form className="form" onSubmit={submit}>
          <CodeArea
            id={`shape-sample-${tool}`}
            label={`A result of ${tool} (its JSON text, e.g. from a debug session)`}
            rows={6}
            value={sample}
            onValue={setSample}
          />
          <ActionError action={action} title="No preview" />
          <SubmitButton busy={action.busy} disabled={!sample.trim()} busyLabel="Shaping…">
            Preview the shape of {tool}
          </SubmitButton>
        </form>
      </Writable>
      {preview && <PreviewOutcome tool={tool} preview={preview} />}
    </li>
  );
}

/**
 * A server's result shapes (`config.resultShapes`): each tool's projection and item cap, and a result before and after
 * it with the bytes saved, shaped by the control plane as the worker shapes each call's result.
 */
export function ResultShapes({ client, server }: { client: ManagementClient; server: Schemas['McpServer'] }) {
  const shapes = shapesOf(server.config);
  if (shapes.length === 0) return null;
  return (
    <Section id="result-shapes" title={<>Result shapes ({shapes.length})</>}>
      <p className="hint">
        What the worker cuts from each successful result of these tools before it reaches the model. Paste a result to
        see it before and after, and the bytes saved (each call’s result says the same in{' '}
        <code>_meta["toolplane/shape"]</code>).
      </p>
      <ul className="tools">
        {shapes.map(([tool, shape]) => (
          <ShapeTry key={tool} client={client} serverId={server.id} tool={tool} shape={shape} />
        ))}
      </ul>
    </Section>
  );
}

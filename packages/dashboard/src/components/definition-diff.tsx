import type { ReactNode } from 'react';
import type { Schemas } from '../api.ts';
import { lineDiff, shown, wordDiff, type DiffPart } from '../diff.ts';
import { Link } from '../router.tsx';

/**
 * One changed item under review: an external server's held change (each field with its pinned value and the listed
 * one), or a tool a connector update adds, removes or changes (the fields it changes, named without their values).
 */
export interface ItemChange {
  kind: 'tool' | 'resource' | 'resource_template' | 'prompt' | 'event';
  name: string;
  change: 'added' | 'changed' | 'removed';
  fields: { field: string; before?: unknown; after?: unknown }[];
}

const kindLabels: Record<ItemChange['kind'], string> = {
  tool: 'Tool',
  resource: 'Resource',
  resource_template: 'Resource template',
  prompt: 'Prompt',
  event: 'Event type',
};

const fieldLabels: Record<string, string> = {
  inputSchema: 'input schema',
  outputSchema: 'output schema',
  uriTemplate: 'URI template',
  uri: 'URI',
  mimeType: 'MIME type',
  request: 'upstream request',
};

/** Fields read as prose: compared word by word; every other field is compared as JSON, line by line. */
const prose = new Set(['description', 'title', 'name']);

/** A word diff inline: removed words struck through, added ones underlined. */
function TextDiff({ parts, label }: { parts: DiffPart[]; label: string }) {
  return (
    <p className="diff-text" aria-label={label}>
      {parts.map((p, i) =>
        p.op === 'same' ? (
          <span key={i}>{p.text}</span>
        ) : p.op === 'del' ? (
          <del key={i}>{p.text}</del>
        ) : (
          <ins key={i}>{p.text}</ins>
        ),
      )}
    </p>
  );
}

/** A line diff: each line marked `-` (pinned only), `+` (listed only) or kept. */
export function LineDiff({ parts, label }: { parts: DiffPart[]; label: string }) {
  const lines = parts.flatMap((p) =>
    p.text
      .split(/(?<=\n)/)
      .filter((l) => l !== '')
      .map((text) => ({ op: p.op, text: text.replace(/\n$/, '') })),
  );
  const sign = { same: ' ', del: '-', add: '+' };
  return (
    <pre className="diff-lines" tabIndex={0} aria-label={label}>
      {lines.map((l, i) => {
        const text = `${sign[l.op]} ${l.text}`;
        return l.op === 'same' ? (
          <span key={i}>{text}</span>
        ) : l.op === 'del' ? (
          <del key={i}>{text}</del>
        ) : (
          <ins key={i}>{text}</ins>
        );
      })}
    </pre>
  );
}

/** One field's change: before and after as a word diff (prose) or a line diff (JSON); just its name without values. */
function FieldDiff({ item, field }: { item: ItemChange; field: ItemChange['fields'][number] }) {
  const label = `${fieldLabels[field.field] ?? field.field} of ${item.name}`;
  if (!('before' in field) && !('after' in field)) return <>changes</>;
  const before = shown(field.before);
  const after = shown(field.after);
  if (prose.has(field.field) && !before.includes('\n') && !after.includes('\n'))
    return <TextDiff parts={wordDiff(before, after)} label={label} />;
  return <LineDiff parts={lineDiff(before, after)} label={label} />;
}

/**
 * An item's change as a diff, field by field, with what can be done about it (`children`: buttons, their error and
 * outcome). The same view for a held change of an external MCP server and for a tool a connector update changes.
 */
export function DefinitionDiff({ item, id, children }: { item: ItemChange; id: string; children?: ReactNode }) {
  return (
    <article className="definition-diff" aria-labelledby={`${id}-title`} data-change={item.change}>
      <h4 id={`${id}-title`}>
        {kindLabels[item.kind]} <code>{item.name}</code> <span className="change-badge">{item.change}</span>
      </h4>
      {item.fields.length > 0 && (
        <dl className="facts">
          {item.fields.map((f) => (
            <div key={f.field} className="diff-field">
              <dt>{fieldLabels[f.field] ?? f.field}</dt>
              <dd>
                <FieldDiff item={item} field={f} />
              </dd>
            </div>
          ))}
        </dl>
      )}
      {children}
    </article>
  );
}

type ServerToolChanges = Schemas['ServerToolChanges'];

/** What a connector update does to one server's tools, as items under review (changed fields named, no values). */
function toolChangesOf(server: ServerToolChanges): ItemChange[] {
  return [
    ...server.added.map((name) => ({ kind: 'tool' as const, name, change: 'added' as const, fields: [] })),
    ...server.changed.map((c) => ({
      kind: 'tool' as const,
      name: c.name,
      change: 'changed' as const,
      fields: c.fields.map((field) => ({ field })),
    })),
    ...server.removed.map((name) => ({ kind: 'tool' as const, name, change: 'removed' as const, fields: [] })),
  ];
}

/** Each server a connector update changes, with its tools' changes as diffs; the servers it leaves alone, named. */
export function ServerToolChangeList({ preview, id }: { preview: Schemas['ConnectorUpdatePreview']; id: string }) {
  const changing = preview.servers.filter((s) => toolChangesOf(s).length > 0);
  const same = preview.servers.filter((s) => toolChangesOf(s).length === 0);
  if (preview.servers.length === 0) return <p>No server uses it yet: no server’s tools change.</p>;
  return (
    <>
      {changing.map((s) => (
        <section key={s.id} aria-label={`Tool changes on ${s.name}`} className="server-changes">
          <p>
            On <Link href={`/servers/${s.id}`}>{s.name}</Link> ({s.mode}){s.renamedTo && <>, renamed {s.renamedTo}</>}:
          </p>
          {toolChangesOf(s).map((item) => (
            <DefinitionDiff key={`${item.change} ${item.name}`} item={item} id={`${id}-${s.id}-${item.name}`} />
          ))}
        </section>
      ))}
      {same.length > 0 && <p>Tools unchanged on {same.map((s) => s.name).join(', ')}.</p>}
    </>
  );
}

import { createHash, randomUUID } from 'node:crypto';
import type { ListRemoteToolsResult } from '@toolplane/contracts';

/**
 * Pinned definitions of a registered external MCP server (ADR 0061): each tool, resource, resource template, prompt
 * and event type it offers is pinned by a digest of what a model reads of it. A listing is reconciled with the pins (`reconcile`):
 * an item equal to its pin is served; a changed or new one is held for review; a removed one disappears at once. What
 * a catalog takes of a listing is `servedListing`: the listed items that match their pins, and for a changed one its
 * pinned version (`keep_pinned`) or nothing (`withhold`). Pure functions over the row's `pins` column.
 */

type PinKind = 'tool' | 'resource' | 'resource_template' | 'prompt' | 'event';
export type OnChange = 'keep_pinned' | 'withhold';

/** An accepted definition: `name` is a tool's or prompt's name, a resource's URI, a template's URI template. */
interface PinnedItem {
  kind: PinKind;
  name: string;
  digest: string;
  definition: Record<string, unknown>;
  pinnedAt: string;
}

/** A change waiting for review: a new item, or a new definition of a pinned one. */
export interface HeldChange {
  id: string;
  kind: PinKind;
  name: string;
  change: 'added' | 'changed';
  digest: string;
  definition: Record<string, unknown>;
  heldAt: string;
}

/** The row's `pins`: the pins, the held changes, and the definitions rejected (not held again until they change). */
export interface PinState {
  items: PinnedItem[];
  held: HeldChange[];
  rejected: { kind: PinKind; name: string; digest: string }[];
}

/**
 * Where each kind sits in a listing, the field naming an item, and the fields its digest covers: everything a client
 * or a model reads of it, `_meta` (an MCP App's `ui.resourceUri`, any instruction put there) and `icons` included.
 */
const kinds: Record<
  PinKind,
  { list: 'tools' | 'resources' | 'resourceTemplates' | 'prompts' | 'events'; key: string; fields: string[] }
> = {
  tool: {
    list: 'tools',
    key: 'name',
    fields: ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations', 'icons', '_meta'],
  },
  resource: {
    list: 'resources',
    key: 'uri',
    fields: ['uri', 'name', 'title', 'description', 'mimeType', 'icons', '_meta'],
  },
  resource_template: {
    list: 'resourceTemplates',
    key: 'uriTemplate',
    fields: ['uriTemplate', 'name', 'title', 'description', 'mimeType', 'icons', '_meta'],
  },
  prompt: { list: 'prompts', key: 'name', fields: ['name', 'title', 'description', 'arguments', 'icons', '_meta'] },
  // An event type (MCP Events): what a subscriber's model reads of it, its schemas and its delivery modes.
  event: {
    list: 'events',
    key: 'name',
    fields: ['name', 'title', 'description', 'inputSchema', 'payloadSchema', 'delivery', '_meta'],
  },
};
const kindOrder = Object.keys(kinds) as PinKind[];

/** JSON with sorted keys (jsonb gives objects back with their keys reordered); undefined members left out. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The fields of a definition its pin covers. */
function pinnedFields(kind: PinKind, definition: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(kinds[kind].fields.map((f) => [f, definition[f]]));
}

/** sha256 of the canonical JSON of the pinned fields. */
export function pinDigest(kind: PinKind, definition: Record<string, unknown>): string {
  return createHash('sha256')
    .update(canonical(pinnedFields(kind, definition)))
    .digest('hex');
}

/**
 * A pin's digest under today's fields, from its accepted definition (kept whole): a pin stored before a field was
 * covered still matches the same definition, and holds one that changed in that field since.
 */
const pinnedDigest = (pin: PinnedItem) => pinDigest(pin.kind, pin.definition);

interface Listed {
  kind: PinKind;
  name: string;
  digest: string;
  definition: Record<string, unknown>;
}

/** Every item of a listing, with its digest (items without their naming field are left out). */
function listedItems(
  listing: Pick<ListRemoteToolsResult, 'tools' | 'resources' | 'resourceTemplates' | 'prompts' | 'events'>,
) {
  return kindOrder.flatMap((kind) =>
    (listing[kinds[kind].list] ?? []).flatMap((definition): Listed[] => {
      const name = definition[kinds[kind].key];
      return typeof name === 'string' ? [{ kind, name, digest: pinDigest(kind, definition), definition }] : [];
    }),
  );
}

const same = (a: { kind: PinKind; name: string }, b: { kind: PinKind; name: string }) =>
  a.kind === b.kind && a.name === b.name;

/** Everything a listing offers, pinned as it is (a server's first listing, or one that accepts every change). */
export function pinAll(listing: ListRemoteToolsResult, now: Date): PinState {
  const pinnedAt = now.toISOString();
  return {
    items: listedItems(listing).map(({ kind, name, digest, definition }) => ({
      kind,
      name,
      digest,
      definition,
      pinnedAt,
    })),
    held: [],
    rejected: [],
  };
}

/** A row's `pins` as stored (null: never listed). */
export const pinStateOf = (stored: unknown): PinState | null => (stored ? (stored as PinState) : null);

/**
 * A successful listing reconciled with the pins: pins of removed items go (with their held changes and rejections);
 * an item equal to its pin, or to a definition rejected before, holds nothing; any other item is held (`added` or
 * `changed`), once per definition. `held` names the changes held by this listing (not held before).
 */
export function reconcile(
  state: PinState,
  listing: ListRemoteToolsResult,
  now: Date,
): { state: PinState; held: HeldChange[] } {
  const listed = listedItems(listing);
  const present = (i: { kind: PinKind; name: string }) => listed.some((l) => same(l, i));
  const items = state.items.filter(present);
  const rejected = state.rejected.filter(present);
  const held: HeldChange[] = [];
  const fresh: HeldChange[] = [];
  for (const l of listed) {
    const pin = items.find((p) => same(p, l));
    if (pin && pinnedDigest(pin) === l.digest) continue;
    if (rejected.some((r) => same(r, l) && r.digest === l.digest)) continue;
    const before = state.held.find((h) => same(h, l) && h.digest === l.digest);
    if (before) {
      held.push(before);
      continue;
    }
    const change: HeldChange = {
      id: randomUUID(),
      kind: l.kind,
      name: l.name,
      change: pin ? 'changed' : 'added',
      digest: l.digest,
      definition: l.definition,
      heldAt: now.toISOString(),
    };
    held.push(change);
    fresh.push(change);
  }
  return { state: { items, held, rejected }, held: fresh };
}

/** A held change accepted: its definition becomes the pin. */
export function acceptChange(state: PinState, change: HeldChange, now: Date): PinState {
  const pin: PinnedItem = {
    kind: change.kind,
    name: change.name,
    digest: change.digest,
    definition: change.definition,
    pinnedAt: now.toISOString(),
  };
  const at = state.items.findIndex((p) => same(p, change));
  const items = at >= 0 ? state.items.map((p, i) => (i === at ? pin : p)) : [...state.items, pin];
  return {
    items,
    held: state.held.filter((h) => h.id !== change.id),
    rejected: state.rejected.filter((r) => !same(r, change)),
  };
}

/** A held change rejected: the pin stays, and this definition is not held again until it changes. */
export function rejectChange(state: PinState, change: HeldChange): PinState {
  return {
    items: state.items,
    held: state.held.filter((h) => h.id !== change.id),
    rejected: [
      ...state.rejected.filter((r) => !same(r, change)),
      { kind: change.kind, name: change.name, digest: change.digest },
    ],
  };
}

/** What a held change alters: each pinned field whose value differs, before (null for a new item) and after. */
export function changedFields(
  state: PinState,
  change: HeldChange,
): { field: string; before: unknown; after: unknown }[] {
  const pin = state.items.find((p) => same(p, change));
  const before = pin ? pinnedFields(change.kind, pin.definition) : {};
  const after = pinnedFields(change.kind, change.definition);
  return kinds[change.kind].fields.flatMap((field) =>
    canonical(before[field]) === canonical(after[field])
      ? []
      : [{ field, before: before[field] ?? null, after: after[field] ?? null }],
  );
}

/**
 * What a catalog takes of a listing under the pins: each listed item equal to its pin; for one that differs, its
 * pinned definition (`keep_pinned`) or nothing (`withhold`); nothing for an item without a pin (new, held).
 */
export function servedListing(
  listing: ListRemoteToolsResult,
  state: PinState,
  onChange: OnChange,
): ListRemoteToolsResult {
  const served: ListRemoteToolsResult = { ...listing };
  for (const kind of kindOrder) {
    const list = listing[kinds[kind].list];
    if (!list) continue;
    served[kinds[kind].list] = list.flatMap((definition) => {
      const name = definition[kinds[kind].key];
      const pin = state.items.find((p) => p.kind === kind && p.name === name);
      if (!pin) return [];
      if (pinnedDigest(pin) === pinDigest(kind, definition)) return [definition];
      return onChange === 'keep_pinned' ? [pin.definition] : [];
    });
  }
  return served;
}

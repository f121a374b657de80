import { useRef } from 'react';
import { InlineRows, TextField } from '../../components/form.tsx';

/** An OpenAPI document an Arazzo `sourceDescriptions` entry names, matched by its file name. */
export interface Reference {
  location: string;
  content: string;
}

/** One `servers` entry: the base URL that replaces a source's servers. */
export interface Override {
  key: number;
  name: string;
  url: string;
}

/** The OpenAPI documents an Arazzo document's `sourceDescriptions` name, read from files. */
export function ReferencesField({
  references,
  onChange,
}: {
  references: Reference[];
  onChange: (r: Reference[]) => void;
}) {
  const add = (files: FileList | null) => {
    const list = [...(files ?? [])];
    if (list.length === 0) return;
    void Promise.all(list.map(async (f) => ({ location: f.name, content: await f.text() }))).then((read) =>
      // A file of the same name replaces the earlier one.
      onChange([...references.filter((r) => !read.some((n) => n.location === r.location)), ...read]),
    );
  };
  return (
    <fieldset>
      <legend>OpenAPI references</legend>
      <p className="hint" id="references-hint">
        The OpenAPI documents an Arazzo document’s <code>sourceDescriptions</code> name, matched by file name. Nothing
        is fetched.
      </p>
      <label htmlFor="workflow-references">Add reference files</label>
      <input
        id="workflow-references"
        type="file"
        multiple
        accept=".yaml,.yml,.json,application/json,application/yaml,text/yaml"
        aria-describedby="references-hint"
        onChange={(e) => {
          add(e.target.files);
          e.target.value = '';
        }}
      />
      {references.length > 0 && (
        <ul aria-label="Reference files">
          {references.map((r) => (
            <li key={r.location}>
              <code>{r.location}</code> ({r.content.length} characters){' '}
              <button
                type="button"
                className="secondary"
                aria-label={`Remove ${r.location}`}
                onClick={() => onChange(references.filter((x) => x.location !== r.location))}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </fieldset>
  );
}

/** The base URLs that replace the servers of source descriptions' OpenAPI documents. */
export function OverridesField({ overrides, onChange }: { overrides: Override[]; onChange: (o: Override[]) => void }) {
  const nextKey = useRef(0);
  const set = (key: number, change: Partial<Override>) =>
    onChange(overrides.map((o) => (o.key === key ? { ...o, ...change } : o)));
  return (
    <fieldset>
      <legend>Source URL overrides (optional)</legend>
      <p className="hint">The base URL that replaces the servers of a source description’s OpenAPI document.</p>
      <InlineRows
        rows={overrides}
        fields={(o) => (
          <>
            <TextField
              inline
              id={`override-name-${o.key}`}
              label="Source name"
              value={o.name}
              onValue={(name) => set(o.key, { name })}
            />
            <TextField
              inline
              id={`override-url-${o.key}`}
              label="Base URL"
              type="url"
              value={o.url}
              onValue={(url) => set(o.key, { url })}
            />
          </>
        )}
        removeLabel={(o) => `Remove the override${o.name ? ` of ${o.name}` : ''}`}
        onRemove={(o) => onChange(overrides.filter((x) => x.key !== o.key))}
        addLabel="Add a source URL override"
        onAdd={() => onChange([...overrides, { key: nextKey.current++, name: '', url: '' }])}
      />
    </fieldset>
  );
}

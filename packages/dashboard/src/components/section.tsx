import type { FormEvent, ReactNode } from 'react';
import { Link } from '../router.tsx';
import { Success } from './form.tsx';

/** A part of a page under its heading: `<section>` named by its `<h2 id="{id}-title">`. */
export function Section({ id, title, children }: { id: string; title: ReactNode; children: ReactNode }) {
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

/**
 * A create or edit form under its heading (`Section`): `children` in a `.form`, then what its action did (`done`,
 * a status) and `after` it. Wrap it in `<Writable>` where a caller who may only read should not see it.
 */
export function FormSection({
  id,
  title,
  onSubmit,
  done,
  after,
  children,
}: {
  id: string;
  title: ReactNode;
  onSubmit: (e: FormEvent<HTMLFormElement>) => void;
  done?: ReactNode;
  after?: ReactNode;
  children: ReactNode;
}) {
  return (
    <Section id={id} title={title}>
      <form className="form" onSubmit={onSubmit}>
        {children}
      </form>
      <Success>{done}</Success>
      {after}
    </Section>
  );
}

/** Where a page is: a link up to the list it belongs to (`up`, named `label`), then `children` (the page's own name). */
export function Crumbs({ up, label, children }: { up: string; label: string; children: ReactNode }) {
  return (
    <p className="crumbs">
      <Link href={up}>{label}</Link> / {children}
    </p>
  );
}

import type { ReactNode } from 'react';

/** A part of a page under its heading: `<section>` named by its `<h2 id="{id}-title">`. */
export function Section({ id, title, children }: { id: string; title: ReactNode; children: ReactNode }) {
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

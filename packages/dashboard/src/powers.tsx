import { createContext, useContext, type ReactNode } from 'react';
import type { Schemas } from './api.ts';

/** What the caller's roles reach, by area of the API (`GET /workspaces/current`'s `you.access`). */
export type Access = Schemas['CurrentWorkspace']['you']['access'];
export type Area = keyof Access;

/**
 * The signed-in caller's powers, for hiding what they cannot do (the control plane decides: a hidden button is a
 * convenience, a forced request is refused). null while unknown: everything shows, as before it loaded.
 */
export const PowersContext = createContext<Access | null>(null);

/**
 * The area of what is shown: the router gives each page its own (the navigation's), a part of a page about another
 * area (a server's debug sessions, a person's secrets) names that one (`InArea`, `Writable`). null: no area, nothing
 * hidden.
 */
const AreaContext = createContext<Area | null>(null);

/** Whether the caller may read (`read`) or change (`write`) what is in `area`. */
export function useMay(area: Area, what: 'read' | 'write'): boolean {
  const access = useContext(PowersContext);
  return mayIn(access, area, what);
}

export function mayIn(access: Access | null, area: Area, what: 'read' | 'write'): boolean {
  const level = access?.[area] ?? 'write';
  return what === 'read' ? level !== 'none' : level === 'write';
}

/**
 * Whether the caller may change the fields of a server that govern its calls (public, code mode, confirmations,
 * approvals, result shapes, the cache): only those who may change access policies (ADR 0073). Others see them locked.
 */
export function useGoverns(): boolean {
  return useMay('policies', 'write');
}

/** Why a governing control is locked, for its `title`. */
export const lockedGoverning = 'Only someone who may change access policies changes this (ADR 0073)';

/** Whether the caller may change what is in `area`, else in the area around (true outside any area). */
export function useMayChange(area?: Area): boolean {
  const access = useContext(PowersContext);
  const around = useContext(AreaContext);
  const judged = area ?? around;
  return judged === null || mayIn(access, judged, 'write');
}

/** `children` are about `area`: what changes things there shows to those who may change it. */
export function InArea({ area, children }: { area: Area | null; children: ReactNode }) {
  return <AreaContext value={area}>{children}</AreaContext>;
}

/**
 * What only those who may change the area (`area`, else the one around) see: a create or edit form, a danger zone.
 * Hidden whole, not only its button, for a caller who may only read.
 */
export function Writable({ area, children }: { area?: Area; children: ReactNode }) {
  const may = useMayChange(area);
  if (!may) return null;
  return area === undefined ? <>{children}</> : <InArea area={area}>{children}</InArea>;
}

/** A part of a page about another area (a server's debug sessions, a person's secrets): only for those who read it. */
export function Readable({ area, children }: { area: Area; children: ReactNode }) {
  const may = useMay(area, 'read');
  return may ? <InArea area={area}>{children}</InArea> : null;
}

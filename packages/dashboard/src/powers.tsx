import { createContext, useContext } from 'react';
import type { Schemas } from './api.ts';

/** What the caller's roles reach, by area of the API (`GET /workspaces/current`'s `you.access`). */
export type Access = Schemas['CurrentWorkspace']['you']['access'];
export type Area = keyof Access;

/**
 * The signed-in caller's powers, for hiding what they cannot do (the control plane decides: a hidden button is a
 * convenience, a forced request is refused). null while unknown: everything shows, as before it loaded.
 */
export const PowersContext = createContext<Access | null>(null);

/** Whether the caller may read (`read`) or change (`write`) what is in `area`. */
export function useMay(area: Area, what: 'read' | 'write'): boolean {
  const access = useContext(PowersContext);
  return mayIn(access, area, what);
}

export function mayIn(access: Access | null, area: Area, what: 'read' | 'write'): boolean {
  const level = access?.[area] ?? 'write';
  return what === 'read' ? level !== 'none' : level === 'write';
}

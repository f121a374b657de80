import { useEffect, useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from './api.ts';

/** Who shows the count of changes held for review (the navigation): told when a decision changed it. */
const listeners = new Set<() => void>();

/** A held change was accepted or rejected: the count is read again. */
export function heldChangesDecided(): void {
  for (const l of listeners) l();
}

/**
 * How many changes of the workspace's external MCP servers wait for review (the sum of their `heldChanges`), read
 * again when `section` changes and after each decision; null while unknown (loading, or a caller that may not list
 * them: `readable` false, then nothing is asked).
 */
export function useHeldChanges(client: ManagementClient, section: string, readable: boolean): number | null {
  const [count, setCount] = useState<number | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const again = () => setTick((t) => t + 1);
    listeners.add(again);
    return () => {
      listeners.delete(again);
    };
  }, []);
  useEffect(() => {
    let live = true;
    if (!readable) {
      setCount(null);
      return;
    }
    unwrap(client.GET('/external_mcp_servers')).then(
      (r) => live && setCount(r.data.reduce((n, s) => n + s.heldChanges, 0)),
      () => live && setCount(null),
    );
    return () => {
      live = false;
    };
  }, [client, section, tick, readable]);
  return count;
}

import type { ResourceBackground } from '../background.ts';
import { publishDebugSession } from './sessions.ts';

/** The debug sessions still open republished (the workers capture for them). */
export const debugSessionsBackground: ResourceBackground = ({ deps: { db, redis, prefix } }) => ({
  async republish() {
    for (const s of await db.debugSession.findMany({ where: { closedAt: null, endsAt: { gt: new Date() } } }))
      await publishDebugSession(redis, prefix, s);
    return {};
  },
});

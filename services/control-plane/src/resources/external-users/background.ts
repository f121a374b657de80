import type { ResourceBackground } from '../background.ts';
import { republishUsers } from './republish.ts';

/** People's names, attributes and what each has connected, republished for the edges. */
export const externalUsersBackground: ResourceBackground = ({ deps }) => ({
  republish: async () => ({ users: await republishUsers(deps.db, deps.redis, deps.prefix, deps.secrets) }),
});

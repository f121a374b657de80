import type { ResourceBackground } from '../background.ts';
import { republishApiKeys } from './keys.ts';

/** Every key's hash republished for the edges. */
export const apiKeysBackground: ResourceBackground = ({ deps }) => ({
  republish: async () => ({ keys: await republishApiKeys(deps.db, deps.publisher) }),
});

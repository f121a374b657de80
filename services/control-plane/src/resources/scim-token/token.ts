import { randomBytes } from 'node:crypto';
import { hashApiKey } from '../../http/auth.ts';

/** A new SCIM token's value. */
export const newScimTokenValue = (): string => `tpscim_${randomBytes(32).toString('base64url')}`;

/** What is stored of a SCIM token: its SHA-256 (as API keys are) and its prefix. */
export const sealScimToken = (token: string) => ({ hash: hashApiKey(token), prefix: token.slice(0, 12) });

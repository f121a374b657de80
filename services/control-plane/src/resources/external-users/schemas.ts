import { humanName } from '@toolplane/contracts';
import { z } from 'zod';

/** Declared attributes: `$current_user.<name>` in workflows (`name` and `token` are reserved). */
const Attributes = z
  .record(
    z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,49}$/, 'must be 1-50 lower-case letters, digits, - and _')
      .refine((k) => k !== 'name' && k !== 'token', '"name" and "token" are reserved'),
    z.string().max(1000),
  )
  .refine((a) => Object.keys(a).length <= 50, 'at most 50 attributes');
/** `GET /external_users`: a page of people, oldest first (the records' paging: `limit`, `cursor`, `next_cursor`). */
export const ListUsersQuery = z.strictObject({
  /** Only the person of this name (a page of one or none). */
  name: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The id of the last person of the previous page (`next_cursor`). */
  cursor: z.uuid().optional(),
});
export type ListUsersQuery = z.output<typeof ListUsersQuery>;
export const CreateUserBody = z.strictObject({ name: humanName(200), attributes: Attributes.optional() });
export type CreateUserBody = z.output<typeof CreateUserBody>;
export const UpdateUserBody = z.strictObject({ attributes: Attributes });
export type UpdateUserBody = z.output<typeof UpdateUserBody>;
export const ConnectionBody = z.strictObject({ credentials: z.record(z.string(), z.string()) });
export type ConnectionBody = z.output<typeof ConnectionBody>;
export const SecretBody = z.strictObject({ value: z.string().min(1).max(65_536) });
export type SecretBody = z.output<typeof SecretBody>;
export const HeadersBody = z
  .strictObject({ headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,100}$/), z.string().max(8192)) })
  .refine((b) => Object.keys(b.headers).length > 0, 'name at least one header');
export type HeadersBody = z.output<typeof HeadersBody>;

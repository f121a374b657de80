import { z } from 'zod';

/** Names in the API: letters, digits, `_` and `-`. */
export const apiSecretName = /^[A-Za-z0-9_-]{1,128}$/;
export const nameMessage = 'letters, digits, _ and - only (1 to 128 characters)';
const maxValueBytes = 64 * 1024;

const SecretValue = z
  .string({ error: 'a string is required' })
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v) <= maxValueBytes, `at most ${maxValueBytes} bytes`);
export const CreateBody = z.strictObject({
  name: z.string({ error: 'a string is required' }).regex(apiSecretName, nameMessage),
  value: SecretValue,
});
export const PutBody = z.strictObject({ value: SecretValue });
export type CreateBody = z.output<typeof CreateBody>;
export type PutBody = z.output<typeof PutBody>;

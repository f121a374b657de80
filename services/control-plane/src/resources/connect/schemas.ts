import { z } from 'zod';

/** The body of `POST …/links`: the person (an external user) a link is for, as `description` says who may be. */
export const personLinkBody = (description: string) =>
  z.strictObject({ person: z.string().min(1).max(200).describe(description) });

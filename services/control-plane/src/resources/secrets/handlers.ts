import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { SecretMetadata } from '@toolplane/secrets';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { requestIssues } from '../../http/error-handler.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { apiSecretName, CreateBody, nameMessage, PutBody } from './schemas.ts';
import type { Scope } from './scopes.ts';

function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success)
    throw new ValidationError(`the ${what} is invalid`, requestIssues(parsed.error), 'request.invalid', 422);
  return parsed.data;
}

function checkPathName(name: string | undefined): string {
  if (!name || !apiSecretName.test(name))
    throw new ValidationError(
      'the secret name is invalid',
      [{ path: '/name', message: nameMessage }],
      'request.invalid',
      422,
    );
  return name;
}

/** When a just-written secret is not yet visible to the metadata call (eventually consistent stores). */
function placeholder(name: string, version = ''): SecretMetadata {
  const now = new Date();
  return {
    name,
    version,
    versions: version ? [{ id: version, stages: ['current'] }] : [],
    createdAt: now,
    updatedAt: now,
  };
}

/** `GET …/secrets`: the scope's secrets. */
export async function listSecrets({ secrets }: ControlPlaneDeps, scope: Scope, _req: Request, res: Response) {
  // Only direct children: server secrets are not listed among the workspace's.
  const rows = (await secrets.list(scope.prefix)).filter((m) => !m.name.slice(scope.prefix.length).includes('/'));
  res.json({ data: rows.map(scope.present) });
}

/** `POST …/secrets`: a new secret (its value goes to the store and never comes back). */
export async function createSecret(
  { secrets, publisher }: ControlPlaneDeps,
  scope: Scope,
  req: Request,
  res: Response,
) {
  const body = parseBody(CreateBody, req.body, 'secret');
  const full = scope.prefix + body.name;
  await secrets.create(full, body.value);
  await publisher.secretsChanged(full);
  const meta = await secrets.describe(full);
  res.status(201).json(scope.present(meta ?? placeholder(full)));
}

/** `GET …/secrets/{name}`: a secret's metadata. */
export async function getSecret({ secrets }: ControlPlaneDeps, scope: Scope, req: Request, res: Response) {
  const name = checkPathName(req.params.name as string);
  const meta = await secrets.describe(scope.prefix + name);
  if (!meta) throw new NotFoundError('secret', name);
  res.json(scope.present(meta));
}

/**
 * `PUT …/secrets/{name}`: create or rotate: the value becomes a new version; the previous one stays in the store as
 * `previous`.
 */
export async function putSecret({ secrets, publisher }: ControlPlaneDeps, scope: Scope, req: Request, res: Response) {
  const name = checkPathName(req.params.name as string);
  const { value } = parseBody(PutBody, req.body, 'secret');
  const full = scope.prefix + name;
  const written = await secrets.put(full, value);
  await publisher.secretsChanged(full);
  const meta = await secrets.describe(full);
  res.status(written.created ? 201 : 200).json(scope.present(meta ?? placeholder(full, written.version)));
}

/** `DELETE …/secrets/{name}`: every version of the secret. */
export async function deleteSecret(
  { secrets, publisher }: ControlPlaneDeps,
  scope: Scope,
  req: Request,
  res: Response,
) {
  const name = checkPathName(req.params.name as string);
  const full = scope.prefix + name;
  if (!(await secrets.delete(full))) throw new NotFoundError('secret', name);
  await publisher.secretsChanged(full);
  res.status(204).end();
}

import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { SecretMetadata } from '@toolplane/secrets';
import type { ControlPlaneDeps } from '../deps.ts';
import { Reply, type Input } from '../operation.ts';
import { apiSecretName, nameMessage, type CreateBody, type PutBody } from './schemas.ts';
import type { Scope } from './scopes.ts';

/** The path's secret name (422 for a name the API does not allow). */
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
export async function listSecrets({ secrets }: ControlPlaneDeps, scope: Scope) {
  // Only direct children: server secrets are not listed among the workspace's.
  const rows = (await secrets.list(scope.prefix)).filter((m) => !m.name.slice(scope.prefix.length).includes('/'));
  return { data: rows.map(scope.present) };
}

/** `POST …/secrets`: a new secret (its value goes to the store and never comes back). */
export async function createSecret(
  { secrets, publisher }: ControlPlaneDeps,
  scope: Scope,
  { body }: Input<CreateBody>,
) {
  const full = scope.prefix + body.name;
  await secrets.create(full, body.value);
  await publisher.secretsChanged(full);
  const meta = await secrets.describe(full);
  return scope.present(meta ?? placeholder(full));
}

/** `GET …/secrets/{name}`: a secret's metadata. */
export async function getSecret({ secrets }: ControlPlaneDeps, scope: Scope, { params }: Input) {
  const name = checkPathName(params.name);
  const meta = await secrets.describe(scope.prefix + name);
  if (!meta) throw new NotFoundError('secret', name);
  return scope.present(meta);
}

/**
 * `PUT …/secrets/{name}`: create or rotate: the value becomes a new version; the previous one stays in the store as
 * `previous`.
 */
export async function putSecret(
  { secrets, publisher }: ControlPlaneDeps,
  scope: Scope,
  { params, body: { value } }: Input<PutBody>,
) {
  const name = checkPathName(params.name);
  const full = scope.prefix + name;
  const written = await secrets.put(full, value);
  await publisher.secretsChanged(full);
  const meta = await secrets.describe(full);
  const answer = scope.present(meta ?? placeholder(full, written.version));
  return written.created ? new Reply(201, answer) : answer;
}

/** `DELETE …/secrets/{name}`: every version of the secret. */
export async function deleteSecret({ secrets, publisher }: ControlPlaneDeps, scope: Scope, { params }: Input) {
  const name = checkPathName(params.name);
  const full = scope.prefix + name;
  if (!(await secrets.delete(full))) throw new NotFoundError('secret', name);
  await publisher.secretsChanged(full);
}

import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  type SecretListEntry,
} from '@aws-sdk/client-secrets-manager';
import { InternalError, TransientError, UserError } from '@toolplane/errors';
import {
  secretNamePattern,
  type SecretMetadata,
  type SecretsReader,
  type SecretsWriter,
  type SecretVersionInfo,
  type SecretWriteResult,
  type VersionSelector,
} from './types.ts';

/**
 * AWS Secrets Manager backend. The writer (control plane) and the reader (worker) are separate
 * classes built on separate clients: the control plane never constructs a reader, and its IAM role
 * grants write and metadata actions only (docs/security.md). Every name gets a per-deployment
 * prefix (`toolplane/` by default): `ws/<workspace>/…` names then sit under
 * `toolplane/ws/<workspace>/…`, which IAM policies can scope to. A write is a new version; the
 * previous one keeps the `AWSPREVIOUS` stage.
 */
export interface AwsSecretsOptions {
  region: string;
  /** Name prefix of this deployment (letters, digits and `/_+=.@-`); `toolplane/` by default. */
  namePrefix?: string;
  /** Endpoint override: an emulator (moto_server) or a VPC endpoint. */
  endpoint?: string;
  /** Static credentials (tests against an emulator); otherwise the SDK's default chain (IRSA in Kubernetes). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Customer-managed KMS key for new secrets (writer only); the account's `aws/secretsmanager` key when unset. */
  kmsKeyId?: string;
  /** A ready client (tests); wins over region, endpoint and credentials. */
  client?: SecretsManagerClient;
}

const defaultAwsNamePrefix = 'toolplane/';
const awsNamePrefixPattern = /^[A-Za-z0-9/_+=.@-]{0,256}$/;

function clientFor(opts: AwsSecretsOptions): SecretsManagerClient {
  if (opts.client) return opts.client;
  return new SecretsManagerClient({
    region: opts.region,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
}

function prefixOf(opts: AwsSecretsOptions): string {
  const prefix = opts.namePrefix ?? defaultAwsNamePrefix;
  if (!awsNamePrefixPattern.test(prefix))
    throw new InternalError(
      'internal.unexpected',
      `invalid AWS secret name prefix "${prefix}": letters, digits and /_+=.@- only`,
    );
  return prefix;
}

function checkName(name: string): void {
  if (!secretNamePattern.test(name))
    throw new UserError('request.invalid', `invalid secret name "${name}": use letters, digits, _, - and /`);
}

function errorName(err: unknown): string {
  return typeof err === 'object' && err !== null && 'name' in err ? String((err as { name: unknown }).name) : 'Error';
}

/** True for "no such secret or version" (also a secret scheduled for deletion, which reads as absent). */
function isNotFound(err: unknown): boolean {
  if (err instanceof ResourceNotFoundException || errorName(err) === 'ResourceNotFoundException') return true;
  return (
    errorName(err) === 'InvalidRequestException' &&
    /marked for deletion|scheduled for deletion/i.test(err instanceof Error ? err.message : '')
  );
}

/** Maps what the SDK threw into the platform's taxonomy (never a value: AWS errors do not echo them). */
function mapAwsError(err: unknown, action: string, name: string): Error {
  const e = err as { name?: string; $fault?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const what = `AWS Secrets Manager ${action} of "${name}"`;
  if (err instanceof ResourceExistsException || e.name === 'ResourceExistsException')
    return new UserError('resource.conflict', `a secret named "${name}" already exists`, { status: 409 });
  if (e.name === 'AccessDeniedException' || e.name === 'AccessDenied')
    return new InternalError(
      'internal.unexpected',
      `${what} was denied: the IAM role of this process does not allow it (docs/security.md)`,
      {},
      { cause: err },
    );
  const status = e.$metadata?.httpStatusCode;
  if (
    e.$fault === 'server' ||
    e.$retryable ||
    /Throttl|TooManyRequests|Timeout|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN/i.test(
      `${e.name} ${err instanceof Error ? err.message : ''}`,
    ) ||
    status === undefined ||
    status >= 500
  ) {
    return new TransientError(
      'upstream.unreachable',
      `${what} failed (${e.name ?? 'network error'}); it may work later`,
      {},
      { cause: err },
    );
  }
  return new InternalError('internal.unexpected', `${what} failed (${e.name ?? 'error'})`, {}, { cause: err });
}

function stagesOf(labels: string[] | undefined): SecretVersionInfo['stages'] {
  const stages: SecretVersionInfo['stages'] = [];
  if (labels?.includes('AWSCURRENT')) stages.push('current');
  if (labels?.includes('AWSPREVIOUS')) stages.push('previous');
  return stages;
}

function metadataOf(
  name: string,
  entry: {
    VersionIdsToStages?: Record<string, string[]>;
    SecretVersionsToStages?: Record<string, string[]>;
    CreatedDate?: Date;
    LastChangedDate?: Date;
  },
): SecretMetadata | undefined {
  const byVersion = entry.VersionIdsToStages ?? entry.SecretVersionsToStages ?? {};
  const versions = Object.entries(byVersion).map(([id, labels]) => ({ id, stages: stagesOf(labels) }));
  // Current first, then previous, then versions without a stage (kept by AWS until deprecated).
  const rank = (v: SecretVersionInfo) => (v.stages.includes('current') ? 0 : v.stages.includes('previous') ? 1 : 2);
  versions.sort((a, b) => rank(a) - rank(b));
  const current = versions.find((v) => v.stages.includes('current'));
  if (!current) return undefined; // created without a value (not by us): nothing to resolve
  const createdAt = entry.CreatedDate ?? new Date(0);
  return { name, version: current.id, versions, createdAt, updatedAt: entry.LastChangedDate ?? createdAt };
}

export class AwsSecretsWriter implements SecretsWriter {
  private readonly client: SecretsManagerClient;
  private readonly prefix: string;
  private readonly kmsKeyId: string | undefined;

  constructor(opts: AwsSecretsOptions) {
    this.client = clientFor(opts);
    this.prefix = prefixOf(opts);
    this.kmsKeyId = opts.kmsKeyId;
  }

  private id(name: string): string {
    checkName(name);
    return this.prefix + name;
  }

  async create(name: string, value: string): Promise<SecretWriteResult> {
    const id = this.id(name);
    try {
      const out = await this.client.send(
        new CreateSecretCommand({
          Name: id,
          SecretString: value,
          ...(this.kmsKeyId ? { KmsKeyId: this.kmsKeyId } : {}),
        }),
      );
      return { name, version: out.VersionId ?? '', created: true };
    } catch (err) {
      throw mapAwsError(err, 'create', name);
    }
  }

  async put(name: string, value: string): Promise<SecretWriteResult> {
    const id = this.id(name);
    try {
      const out = await this.client.send(new PutSecretValueCommand({ SecretId: id, SecretString: value }));
      return { name, version: out.VersionId ?? '', created: false };
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException || errorName(err) === 'ResourceNotFoundException'))
        throw mapAwsError(err, 'rotation', name);
    }
    try {
      return await this.create(name, value);
    } catch (err) {
      // Created by someone else in between: rotate that one.
      if (err instanceof UserError && err.code === 'resource.conflict') {
        const out = await this.client
          .send(new PutSecretValueCommand({ SecretId: id, SecretString: value }))
          .catch((e: unknown) => {
            throw mapAwsError(e, 'rotation', name);
          });
        return { name, version: out.VersionId ?? '', created: false };
      }
      throw err;
    }
  }

  async delete(name: string): Promise<boolean> {
    const id = this.id(name);
    // A forced deletion of a missing secret succeeds in AWS: ask first, to answer "was there one".
    if (!(await this.describe(name))) return false;
    try {
      // Without recovery: the name can be used again at once (a recreated secret starts fresh).
      await this.client.send(new DeleteSecretCommand({ SecretId: id, ForceDeleteWithoutRecovery: true }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw mapAwsError(err, 'deletion', name);
    }
  }

  async describe(name: string): Promise<SecretMetadata | undefined> {
    const id = this.id(name);
    try {
      const out = await this.client.send(new DescribeSecretCommand({ SecretId: id }));
      if (out.DeletedDate) return undefined;
      return metadataOf(name, out);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw mapAwsError(err, 'description', name);
    }
  }

  /** ListSecrets: note that AWS documents it as eventually consistent (a write may show up a little later). */
  async list(prefix: string): Promise<SecretMetadata[]> {
    const full = this.prefix + prefix;
    const out: SecretMetadata[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListSecretsCommand({
            Filters: [{ Key: 'name', Values: [full] }],
            MaxResults: 100,
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const s of page.SecretList ?? ([] as SecretListEntry[])) {
          // The AWS name filter ignores case: keep exact prefix matches only.
          if (!s.Name?.startsWith(full) || s.DeletedDate) continue;
          const m = metadataOf(s.Name.slice(this.prefix.length), s);
          if (m) out.push(m);
        }
        token = page.NextToken;
      } while (token);
    } catch (err) {
      throw mapAwsError(err, 'listing', prefix);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

export class AwsSecretsReader implements SecretsReader {
  private readonly client: SecretsManagerClient;
  private readonly prefix: string;

  constructor(opts: AwsSecretsOptions) {
    this.client = clientFor(opts);
    this.prefix = prefixOf(opts);
  }

  async get(name: string, version: VersionSelector = 'current'): Promise<string | undefined> {
    checkName(name);
    const select =
      version === 'current'
        ? { VersionStage: 'AWSCURRENT' }
        : version === 'previous'
          ? { VersionStage: 'AWSPREVIOUS' }
          : { VersionId: version };
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: this.prefix + name, ...select }));
      return out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw mapAwsError(err, 'read', name);
    }
  }
}

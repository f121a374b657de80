import {
  ApprovalApprovers,
  apiKeyScopes,
  HttpUrl,
  PolicyPrincipal,
  type GuardrailDetector,
} from '@toolplane/contracts';
import { z } from 'zod';
import { OAuthUrls } from '../connector-instances/schemas.ts';
import { checkPatterns, CreateGuardrailBody } from '../guardrails/schemas.ts';
import { CreateExternalServerBody } from '../external-mcp-servers/schemas.ts';
import { CreateQuotaBody } from '../quotas/schemas.ts';
import { PutRoleMappingBody } from '../role-mappings/schemas.ts';
import { ApprovalNotifyTarget, ApprovalRuleBody } from '../servers/schemas.ts';

/**
 * The files of a workspace directory (ADR 0042, docs/gitops.md): one file per resource, its kind given by its folder,
 * its identity by its name (never an id). Secret values never appear: a credential or header is a reference,
 * `${env:NAME}` (the applying process's environment or values file) or `${secret:NAME}` (a workspace secret's value,
 * given to the apply under that name).
 */

export const referencePattern = /^\$\{(env|secret):([A-Za-z0-9_][A-Za-z0-9_./-]{0,199})\}$/;

const Reference = z
  .string()
  .regex(referencePattern, 'must be a reference, ${env:NAME} or ${secret:NAME}: files never hold a secret value');

const Names = z.array(z.string().min(1).max(200));

const InstanceSpec = z.strictObject({
  name: z.string().min(1).max(100),
  /** The connector as `slug@version`. */
  connector: z.string().regex(/^[a-z0-9][a-z0-9-]{0,99}@.{1,50}$/, 'must be slug@version'),
  baseUrl: HttpUrl.nullable().default(null),
  oauthUrls: OAuthUrls.nullable().default(null),
  credentials: z.record(z.string(), Reference).default({}),
});

const ExternalRef = z.strictObject({ name: z.string().min(1), tools: Names.default([]) });

/** An external MCP server configured on the server itself (`externalMcpConfigs`), its header values as references. */
const InlineExternal = z.strictObject({
  name: z.string().min(1),
  url: HttpUrl,
  tools: Names.default([]),
  headers: z.record(z.string(), Reference).default({}),
});

/**
 * A server's approval rule in its file (ADR 0049): the API's `approvalRule` with its approving API keys by name, as
 * every reference in the files is, and each optional field written out (a file that leaves one out means the API's
 * default, and a change of it made elsewhere shows in the plan). Apply gives the API the keys' ids.
 */
export const ApprovalRuleSpec = z.strictObject({
  approvers: z.strictObject({
    apiKeys: ApprovalApprovers.shape.apiKeys.unwrap().default([]),
    subjects: ApprovalApprovers.shape.subjects.unwrap().default([]),
    groups: ApprovalApprovers.shape.groups,
    people: ApprovalApprovers.shape.people.unwrap().default([]),
  }),
  approvals: ApprovalRuleBody.shape.approvals,
  expiresInSeconds: ApprovalRuleBody.shape.expiresInSeconds,
  notify: z.array(ApprovalNotifyTarget).max(5).default([]),
});

const ServerSpec = z.strictObject({
  name: z.string().min(1).max(100),
  description: z.string().max(1000).nullable().default(null),
  mode: z.enum(['SMART', 'NORMAL']).default('SMART'),
  /** The connector instance its tools come from, by name. */
  connectorInstance: z.string().min(1).nullable().default(null),
  tools: Names.default([]),
  confirmTools: Names.default([]),
  /** Tools someone else approves first, and the rule (approving keys by name). */
  approvalTools: Names.default([]),
  approvalRule: ApprovalRuleSpec.nullable().default(null),
  public: z.boolean().default(false),
  perRequestAuth: z.boolean().default(false),
  /** NORMAL servers: `run_code` beside the tools (code mode). */
  codeMode: z.boolean().default(false),
  config: z.record(z.string(), z.unknown()).nullable().default(null),
  externalMcpServers: z.array(ExternalRef).default([]),
  externalMcpConfigs: z.array(InlineExternal).default([]),
});

const DeploymentSpec = z.strictObject({
  /** The MCP server it is deployed to, by name. */
  server: z.string().min(1),
  /** The Flower or Arazzo document, as deployed. */
  definition: z.string().min(1),
  references: z
    .array(
      z.strictObject({
        location: z.string().min(1),
        content: z.union([z.string(), z.record(z.string(), z.unknown())]),
      }),
    )
    .default([]),
  servers: z.record(z.string(), HttpUrl).default({}),
});

/**
 * A registered external MCP server: its header values as references, its review settings (ADR 0061) written out with
 * the API's defaults for a new server (review on: `autoAccept: false`).
 */
const ExternalServerSpec = z.strictObject({
  name: z.string().min(1),
  url: HttpUrl,
  headers: z.record(z.string(), Reference).default({}),
  autoAccept: CreateExternalServerBody.shape.autoAccept.unwrap().default(false),
  onChange: CreateExternalServerBody.shape.onChange.unwrap().default('keep_pinned'),
  notifyWebhookUrl: CreateExternalServerBody.shape.notifyWebhookUrl.unwrap().default(null),
});

const PolicySpec = z.strictObject({
  name: z.string().min(1),
  description: z.string().nullable().default(null),
  /** `api_key` principals name a key by its name; the others as the API takes them. */
  principals: z.array(PolicyPrincipal.strict()).min(1),
  /** Server names, or ["*"]. */
  servers: Names.min(1),
  tools: Names.min(1),
  condition: z.string().min(1).nullable().default(null),
  /** What a false condition does: refuse, or hold the call for `approval` (ADR 0049; keys by name). */
  onFalse: z.enum(['refuse', 'require_approval']).default('refuse'),
  approval: ApprovalRuleSpec.nullable().default(null),
  /** false: log only (the condition refuses nothing; what it would have done is recorded). */
  enforce: z.boolean().default(true),
});

const UserSpec = z.strictObject({
  name: z.string().min(1),
  attributes: z.record(z.string(), z.string()).default({}),
});

const KeySpec = z.strictObject({
  name: z.string().min(1),
  scopes: z.array(z.enum(apiKeyScopes)).min(1),
  /** Server names; null: every server of the workspace. */
  servers: Names.nullable().default(null),
});

/**
 * A field of an API's create body as a file holds it: an optional one written out with what the API does when it is
 * left out (`defaults`, else null; a field taking neither stays optional), so that a file that leaves one out means the
 * default, and a change of it made elsewhere shows in the plan.
 */
function withDefault(key: string, field: z.ZodType, defaults: Record<string, unknown>): z.ZodType {
  if (!field.safeParse(undefined).success) return field;
  const fallback = key in defaults ? defaults[key] : null;
  return field.safeParse(fallback).success ? field.default(() => structuredClone(fallback) as never) : field;
}

/** What the API does with an optional quota field left out of a create (`enforce`: true; the others: none). */
const quotaDefaults: Record<string, unknown> = { enforce: true };

/**
 * A quota's file: the API's create body (`POST /quotas`), so that a field the API gains is a field of the file, with
 * each optional field written out as the API's default. Its `match` names servers and API keys by name (people by
 * name, as the API does); apply gives the API their ids.
 */
export const QuotaSpec = CreateQuotaBody.safeExtend(
  Object.fromEntries(
    Object.entries(CreateQuotaBody.shape).map(([key, field]: [string, z.ZodType]) => [
      key,
      withDefault(key, field, quotaDefaults),
    ]),
  ) as Record<string, z.ZodType>,
);

/** What the API does with an optional guardrail field left out of a create (the others: none). */
const guardrailDefaults: Record<string, unknown> = { tools: [], on: ['results'], enforce: true };

/**
 * A guardrail's file (ADR 0050): the API's create body (`POST /guardrails`) with each optional field written out as the
 * API's default, its server by name (`server`, where the API takes `serverId`; null: every server of the workspace).
 * Checked as the API checks the body: tools only with a server, every pattern RE2 takes.
 */
export const GuardrailSpec = z
  .strictObject(
    Object.fromEntries(
      Object.entries(CreateGuardrailBody.shape).map(([key, field]: [string, z.ZodType]) =>
        key === 'serverId'
          ? ['server', z.string().min(1).nullable().default(null)]
          : [key, withDefault(key, field, guardrailDefaults)],
      ),
    ) as Record<string, z.ZodType>,
  )
  .superRefine((g, ctx) => {
    if ((g.tools as string[]).length > 0 && g.server === null)
      ctx.addIssue({ code: 'custom', path: ['tools'], message: 'tools are named with the server that exposes them' });
    checkPatterns(g as { detectors?: GuardrailDetector[] }, ctx);
  });

/**
 * The workspace's role mapping (ADR 0053), one file at the directory's root: the API's body (`PUT /role_mappings`).
 * No file: apply leaves the mapping alone (and `--prune` deletes it, everyone signed in an admin again).
 */
const RoleMappingSpec = PutRoleMappingBody;

/** The role mapping's one file, and the name plans and markers give it (one per workspace). */
export const roleMappingsFile = 'role-mappings.yaml';
export const roleMappingName = 'workspace';

export const SecretsSpec = z.strictObject({ secrets: z.array(z.string().min(1)).default([]) });

/**
 * The kinds, in the order apply creates and updates them (deletions: the reverse): what a resource names must exist
 * before it. Each kind's folder, and the schema of its files (connectors: the document itself, as uploaded).
 */
export const kinds = [
  { kind: 'secret', dir: '' },
  { kind: 'external_mcp_server', dir: 'external-mcp-servers', schema: ExternalServerSpec },
  { kind: 'connector', dir: 'connectors' },
  { kind: 'connector_instance', dir: 'connector-instances', schema: InstanceSpec },
  { kind: 'server', dir: 'mcp-servers', schema: ServerSpec },
  { kind: 'workflow_deployment', dir: 'deployments', schema: DeploymentSpec },
  { kind: 'external_user', dir: 'external-users', schema: UserSpec },
  { kind: 'api_key', dir: 'api-keys', schema: KeySpec },
  { kind: 'access_policy', dir: 'access-policies', schema: PolicySpec },
  { kind: 'quota', dir: 'quotas', schema: QuotaSpec },
  { kind: 'guardrail', dir: 'guardrails', schema: GuardrailSpec },
  { kind: 'role_mapping', dir: '', schema: RoleMappingSpec },
] as const;

export type Kind = (typeof kinds)[number]['kind'];

/** The one file that lists the workspace secrets' names. */
/** A server file's own external MCP configs (none for other kinds), as the plan and apply read them. */
export function inlineConfigsOf(
  spec: Record<string, unknown> | undefined,
): { name: string; url: string; tools: string[]; headers: Record<string, string> }[] {
  return (spec?.externalMcpConfigs ?? []) as ReturnType<typeof inlineConfigsOf>;
}

export const secretsFile = 'secrets.yaml';

/** A name as a file name: what a file system and a URL take as is; anything else as `%XX` (stable and unique). */
function fileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._@-]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

export function fileOf(kind: Kind, name: string, ext = 'yaml'): string {
  if (kind === 'secret') return secretsFile;
  if (kind === 'role_mapping') return roleMappingsFile;
  const dir = kinds.find((k) => k.kind === kind)!.dir;
  return `${dir}/${fileName(name)}.${ext}`;
}

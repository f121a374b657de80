import { ApprovalApprovers, HttpUrl, MAX_APPROVAL_SECONDS } from '@toolplane/contracts';
import { z } from 'zod';
import { externalServerName } from '../external-mcp-servers/schemas.ts';

/** Where each new request of an approval rule is announced: a webhook and the body it takes. */
export const ApprovalNotifyTarget = z
  .strictObject({
    url: HttpUrl.max(2000).describe(
      'An http(s) URL the request is POSTed to by a worker through its outbound guard (https; plain http only for ' +
        'hosts the workers allow).',
    ),
    format: z
      .enum(['json', 'slack'])
      .default('json')
      .describe('`json`: the request as a JSON object; `slack`: a Slack incoming-webhook message (`text`, `blocks`).'),
  })
  .meta({ id: 'ApprovalNotifyTarget' });

/** Who approves the calls of a server's `approvalTools`, how many of them, and how long a request waits. */
export const ApprovalRuleBody = z
  .strictObject({
    approvers: ApprovalApprovers.describe(
      'Who may approve: API key ids, OAuth subjects of signed-in users, signed-in users by a group their token names ' +
        '(OAUTH_GROUPS_CLAIM), external users (people) by name. The caller of a call never approves it.',
    ),
    approvals: z.number().int().min(1).max(100).default(1).describe('How many distinct approvers must approve.'),
    expiresInSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_APPROVAL_SECONDS)
      .default(86_400)
      .describe('How long a request (and its approval) lives; 24 h by default.'),
    notify: z
      .array(ApprovalNotifyTarget)
      .max(5)
      .optional()
      .describe(
        'Webhooks told of each new request (its masked arguments, never their values); not part of the rule’s ' +
          'version: changing them leaves pending requests valid.',
      ),
  })
  .meta({ id: 'ApprovalRule' });
export type ApprovalRuleBody = z.output<typeof ApprovalRuleBody>;

/** CreateMcpServerDto, plus `connectorInstanceId`: the tool source of this first version. */
export const CreateServerBody = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be a slug: lower-case letters, digits, - and _ (1-100 chars)'),
    description: z.string().max(1000).optional(),
    mode: z.enum(['SMART', 'NORMAL']).default('SMART'),
    selectedTools: z.array(z.string().min(1)).optional(),
    /**
     * Tools a person confirms before each call: the edge asks the caller's client (MCP elicitation) and enqueues the
     * call only after "accept" (ADR 0038). Names of tools the server exposes; none by default.
     */
    confirmTools: z
      .array(z.string().min(1).max(128))
      .max(1000)
      .refine((list) => new Set(list).size === list.length, 'names must be unique')
      .optional(),
    /**
     * Tools whose every call someone else approves first (ADR 0049): the edge enqueues a call only once an approver of
     * `approvalRule` granted exactly that call. Names of tools the server exposes; none by default.
     */
    approvalTools: z
      .array(z.string().min(1).max(128))
      .max(1000)
      .refine((list) => new Set(list).size === list.length, 'names must be unique')
      .optional(),
    approvalRule: ApprovalRuleBody.nullable().optional(),
    ruleSettings: z
      .record(z.string(), z.unknown())
      .nullable()
      .optional()
      .describe(
        'Settings of portable rules (ADR 0101), by rule name (e.g. `spending-limit`), each checked by its rule: every ' +
          'problem is listed (422). null or {}: none. Raising or removing one loosens (four eyes).',
      ),
    /** NORMAL: expose this instance's tools (narrowed by selectedTools); omit to pick workspace tools by name. */
    connectorInstanceId: z.string().min(1).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    isPublic: z.boolean().default(false),
    /**
     * Callers may pass their own upstream credential with a call (the `X-Upstream-Authorization` header), used
     * for that call instead of the stored credentials of connector and OpenAPI tools; off: the header is refused.
     */
    perRequestAuth: z.boolean().default(false),
    /**
     * Code mode (ADR 0068) on a NORMAL server: `tools/list` adds `run_code` beside the tools (a SMART server always
     * has it).
     */
    codeMode: z.boolean().default(false),
    /** External MCP servers whose tools are merged in (`tools` empty = all of them). */
    externalMcpConfigs: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, 'must be a slug (lower-case letters, digits, - and _)'),
            url: HttpUrl,
            headers: z.record(z.string(), z.string()).default({}),
            tools: z.array(z.string().min(1)).default([]),
          })
          .strict(),
      )
      .max(20)
      .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'names must be unique')
      .optional(),
    /**
     * External MCP servers registered on the workspace (`/external_mcp_servers`), by name, and which of their
     * tools to take (`tools` empty = all). A change of a registered server reaches every server using it.
     */
    externalMcpServers: z
      .array(z.object({ name: externalServerName, tools: z.array(z.string().min(1)).default([]) }).strict())
      .max(20)
      .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'names must be unique')
      .optional(),
  })
  .strict();

export type CreateServer = z.infer<typeof CreateServerBody>;

export const UpdateServerBody = CreateServerBody.omit({
  connectorInstanceId: true,
  mode: true,
  isPublic: true,
  perRequestAuth: true,
  codeMode: true,
})
  .partial()
  .extend({
    mode: z.enum(['SMART', 'NORMAL']).optional(),
    connectorInstanceId: z.string().min(1).optional(),
    isPublic: z.boolean().optional(),
    perRequestAuth: z.boolean().optional(),
    codeMode: z.boolean().optional(),
    description: z.string().max(1000).nullable().optional(),
    twin: z
      .enum(['off', 'recording', 'on'])
      .optional()
      .describe(
        'The staging twin (ADR 0112): `on`, every call is answered by the twin (no upstream is reached); ' +
          '`recording`, calls go to production and their clean results are kept for the twin; `off`.',
      ),
  })
  .strict();

export type UpdateServer = z.infer<typeof UpdateServerBody>;

export const ListQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().uuid().optional(),
});

/** `GET /mcp_manager/{id}/catalog_versions`: newest first, `before` = a version number (the page after it). */
export const CatalogVersionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.coerce.number().int().min(1).optional(),
});

export const LoadToolsBody = z
  .object({
    url: HttpUrl,
    headers: z.record(z.string(), z.string()).default({}),
    /** How long the list is reused for the same URL and headers; 0 always fetches. */
    cacheMinutes: z.number().int().min(0).max(1440).default(5),
  })
  .strict();

export type CreateServerBody = z.output<typeof CreateServerBody>;
export type UpdateServerBody = z.output<typeof UpdateServerBody>;
export type ListQuery = z.output<typeof ListQuery>;
export type CatalogVersionsQuery = z.output<typeof CatalogVersionsQuery>;
export type LoadToolsBody = z.output<typeof LoadToolsBody>;

/** `POST /mcp_manager/{id}/result_shapes/preview`: a tool's result shape tried on a sample of its result. */
export const ResultShapePreviewBody = z
  .object({
    tool: z.string().min(1).max(200).describe('The tool whose result shape (`config.resultShapes`) is tried.'),
    sample: z
      .string()
      .max(2_000_000)
      .describe('A result of the tool as its text content reads (JSON), e.g. pasted from a debug session.'),
    shape: z
      .object({ projection: z.string().optional(), maxItems: z.number().int().optional() })
      .strict()
      .optional()
      .describe('A shape to try instead of the saved one (not saved).'),
  })
  .strict();
export type ResultShapePreviewBody = z.output<typeof ResultShapePreviewBody>;

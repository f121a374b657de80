import { z } from 'zod';

const timestamp = z.iso.datetime();

const Issue = z.strictObject({ path: z.string(), message: z.string() });

/** Servers are addressed by id or by name (Bump: id or slug). */
export const serverId = z.string().describe('The server’s id, or its name.');

/** Where one of a deployment's OpenAPI documents came from (`presentSources` in workflow-sources.ts); never its content. */
const DeploymentSource = z
  .strictObject({
    location: z.string().describe('The reference’s location, or the source description’s `url` it answers.'),
    origin: z
      .enum(['inline', 'url', 'connector', 'tools'])
      .describe(
        '`inline`: uploaded in `references`; `url`: fetched from the source description’s `url` at deploy time; ' +
          '`connector`: a connector of the workspace (`toolplane:connectors/<slug>[/instances/<name or id>]`; a ' +
          'connector descriptor as the OpenAPI document its tools are compiled from); `tools`: the tools of an MCP ' +
          'server of the workspace (`toolplane:mcp_servers/<server>`, `toolplane:external_mcp_servers/<name>`), or ' +
          'those a Flower document’s steps call (location `toolplane:tools`).',
      ),
    source: z.string().optional().describe('The source description it answers (fetched and connector documents).'),
    sha256: z.string().describe('SHA-256 of the document as used (the text fetched; a connector’s document as JSON).'),
    fetchedAt: z.iso.datetime().optional(),
    finalUrl: z.string().optional().describe('Where the fetched document came from after redirects.'),
    tools: z
      .array(z.string())
      .optional()
      .describe(
        '`tools`: the references of the tools the steps call (`toolplane:…/tools/<tool>`), compiled as deployed.',
      ),
    connector: z
      .strictObject({ slug: z.string(), version: z.string(), instanceId: z.uuid(), instanceName: z.string() })
      .optional()
      .describe('The connector and the instance whose credentials the steps calling its operations send.'),
  })
  .meta({ id: 'DeploymentSource' });

const deploymentShape = {
  id: z.uuid(),
  mcp_server_id: z.uuid(),
  state: z
    .enum(['deploying', 'active', 'superseded', 'errored', 'withdrawn'])
    .describe('`withdrawn`: its tools were taken off the server (`…/withdraw`); redeploy brings them back.'),
  format: z.enum(['flower', 'arazzo']).nullable().describe('null when the document could not be read.'),
  tools: z.array(z.string()).describe('The names of the tools it defines, in document order.'),
  warnings: z.array(Issue),
  errors: z.array(Issue).describe('Why it was rejected.'),
  created_at: timestamp,
  activated_at: timestamp.nullable(),
  sources: z.array(DeploymentSource).describe('The OpenAPI documents it was compiled with, stored with it.'),
};

/** A workflow deployment as the API shows it (`present` in deployments.ts). */
export const WorkflowDeployment = z.strictObject(deploymentShape).meta({ id: 'WorkflowDeployment' });

export const WorkflowDeploymentWithDefinition = z
  .strictObject({ ...deploymentShape, definition: z.string().describe('The workflow document as deployed.') })
  .meta({ id: 'WorkflowDeploymentWithDefinition' });

export const DeployedWorkflow = z
  .strictObject({
    id: z.uuid(),
    mcp_server_id: z.uuid(),
    state: z.literal('active'),
    tools: z.array(z.string()),
    warnings: z.array(Issue),
    sources: z.array(DeploymentSource),
  })
  .meta({ id: 'DeployedWorkflow' });

/** The answer of a dry run (`?dry_run=true`): what a deployment of the document would create. */
export const ValidatedWorkflow = z
  .strictObject({
    mcp_server_id: z.uuid(),
    state: z.literal('validated'),
    format: z.enum(['flower', 'arazzo']),
    tools: z.array(z.string()).describe('The tools a deployment would create, in document order.'),
    warnings: z.array(Issue),
    sources: z.array(DeploymentSource),
  })
  .meta({ id: 'ValidatedWorkflow' });

/** The Bump-compatible 422 of a deployment (not problem+json). */
export const DeploymentRejected = z
  .strictObject({
    message: z.string(),
    errors: z.array(Issue),
    id: z.uuid().optional().describe('The errored deployment, when the document was read but did not compile.'),
    mcp_server_id: z.uuid().optional(),
  })
  .meta({ id: 'DeploymentRejected' });

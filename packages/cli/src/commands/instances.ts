import type { Command } from 'commander';
import type { Api, ConnectorDetail, ConnectorInstance, ConnectorTestResult } from './api.ts';
import { resolveConnector } from './connectors.ts';
import { action, withJson } from './context.ts';
import { ExitCode } from './errors.ts';
import { table } from './output.ts';
import { readCredentials } from './prompt.ts';

/**
 * `toolplane instances create|list|test|rm`: connector instances (a connector with a base URL and
 * credentials). Credential values come from stdin (`KEY=VALUE` lines) or hidden prompts, never from argv,
 * and are never printed: the control plane answers with their keys only.
 */

interface CredentialField {
  key: string;
  required: boolean;
}

const rec = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The credential fields an instance of the connector takes: an OpenAPI connector's, or the descriptor's authentication fields. */
function credentialFields(connector: ConnectorDetail): CredentialField[] {
  if (connector.kind === 'openapi') return connector.credentialFields;
  const fields = new Map<string, CredentialField>();
  for (const auth of arr(connector.descriptor.authentication))
    for (const field of arr(rec(auth).fields)) {
      const { key, required } = rec(field);
      if (typeof key === 'string' && !fields.has(key)) fields.set(key, { key, required: required === true });
    }
  return [...fields.values()];
}

function instanceLines(i: ConnectorInstance): string[] {
  return [
    `${i.name}  (${i.id})`,
    `  connector    ${i.connector_id}`,
    `  base url     ${i.base_url ?? '- (the connector’s own)'}`,
    `  credentials  ${i.credential_keys.join(', ') || '-'}`,
  ];
}

function testLine(r: ConnectorTestResult): string {
  const answered = r.status === null ? 'the upstream did not answer' : `the upstream answered ${r.status}`;
  return `${r.passed ? 'passed' : 'failed'}: ${answered} (expected ${r.expected_status}) in ${r.duration_ms} ms${r.error ? `: ${r.error}` : ''}`;
}

async function serverOf(api: Api, id: string | null) {
  if (!id) return null;
  const server = await api.getServer(id);
  return { id: server.id, name: server.name, url: server.url };
}

export function instancesCommand(program: Command): void {
  const instances = program.command('instances').description('manage connector instances (credentials are write-only)');

  withJson(
    instances
      .command('create')
      .description(
        'create a connector instance; credentials come from stdin as KEY=VALUE lines, or hidden prompts on a terminal',
      )
      .requiredOption('--connector <connector>', 'connector id, slug@version, or slug (its newest version)')
      .requiredOption('--name <name>', 'instance name')
      .option('--base-url <url>', 'replaces the origin of every endpoint (default: the connector’s own)')
      .option('--no-server', 'do not create the MCP server the descriptor’s mcp_config asks for'),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const connectorId = await resolveConnector(api, String(opts.connector), { newest: true });
      const fields = credentialFields(await api.getConnector(connectorId));
      // A connector without credential fields reads nothing (stdin may be an open pipe in CI).
      const credentials = fields.length > 0 ? await readCredentials(fields) : {};
      const instance = await api.createInstance({
        connector_id: connectorId,
        name: String(opts.name),
        ...(opts.baseUrl !== undefined ? { base_url: String(opts.baseUrl) } : {}),
        credentials,
        createServer: opts.server !== false,
      });
      const server = await serverOf(api, instance.mcp_server_id);
      ctx.out.result({ ...instance, mcp_server: server }, () => [
        `created instance ${ctx.out.bold(instance.name)}`,
        ...instanceLines(instance),
        ...(server ? [`  MCP server   ${server.name}  ${server.url}`] : []),
      ]);
    }),
  );

  withJson(instances.command('list').description('list the connector instances')).action(
    action(async (ctx) => {
      const list = await ctx.api().listInstances();
      ctx.out.result({ data: list }, () => table(list, ['name', 'id', 'connector_id', 'base_url', 'credential_keys']));
    }),
  );

  withJson(
    instances
      .command('test')
      .description(
        'call the connector’s test endpoint with the instance’s credentials (exit 3 when the upstream refused, 6 when it did not answer)',
      )
      .argument('<id>', 'instance id'),
  ).action(
    action(async (ctx, [id]) => {
      const result = await ctx.api().testInstance(id!);
      ctx.out.result(result, () => [testLine(result)]);
      // The control plane answers 200 either way: the exit code is the upstream's verdict.
      if (!result.passed) process.exitCode = result.status === null ? ExitCode.transient : ExitCode.invalid;
    }),
  );

  withJson(instances.command('rm').description('delete a connector instance').argument('<id>', 'instance id')).action(
    action(async (ctx, [id]) => {
      await ctx.api().deleteInstance(id!);
      ctx.out.result({ deleted: id }, () => [`deleted instance ${id}`]);
    }),
  );
}

import { existsSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { DevOptions } from './dev.ts';
import { catalogCommand } from './commands/catalog.ts';
import { connectorsCommand } from './commands/connectors.ts';
import { debugCommand } from './commands/debug.ts';
import { deployCommand } from './commands/deploy.ts';
import { ExitCode } from './commands/errors.ts';
import { eventsCommand } from './commands/events.ts';
import { externalServersCommand } from './commands/external-servers.ts';
import { registryCommand } from './commands/registry.ts';
import { instancesCommand } from './commands/instances.ts';
import { keysCommand } from './commands/keys.ts';
import { loginCommand } from './commands/login.ts';
import { policiesCommand } from './commands/policies.ts';
import { guardrailsCommand } from './commands/guardrails.ts';
import { quotasCommand } from './commands/quotas.ts';
import { approvalsCommand } from './commands/approvals.ts';
import { recordsCommand } from './commands/records.ts';
import { rolesCommand } from './commands/roles.ts';
import { sessionCommand } from './commands/session.ts';
import { idpsCommand } from './commands/idps.ts';
import { scimTokenCommand } from './commands/scim-token.ts';
import { tokenCommand } from './commands/token.ts';
import { auditCommand } from './commands/audit.ts';
import { receiptsCommand } from './commands/receipts.ts';
import { secretsCommand } from './commands/secrets.ts';
import { serversCommand } from './commands/servers.ts';
import { statsCommand } from './commands/stats.ts';
import { usageCommand } from './commands/usage.ts';
import { leastPrivilegeCommands } from './commands/least-privilege.ts';
import { rulesCommands } from './commands/rules.ts';
import { usersCommand } from './commands/users.ts';
import { workspaceFilesCommands } from './commands/workspace-files.ts';

/** `toolplane dev`: unchanged flags; its modules (embedded Redis/PostgreSQL, the example) load only when run. */
function devCommand(program: Command): void {
  program
    .command('dev')
    .description('run the whole platform locally with the seed-001 example')
    .option('--data-dir <dir>', 'where data and logs live (default: .data in the checkout)')
    .option('--port <port>', 'edge port', '8080')
    .option('--api-port <port>', 'control-plane port', '8081')
    .option('--example-port <port>', 'example ticket system port', '4010')
    .addOption(
      new Option(
        '--metrics-port <port>',
        'Prometheus metrics on, as in the k8s base: the control plane on this port, the edge and the worker on the next two',
      ).env('TOOLPLANE_METRICS_PORT'),
    )
    .option('--verbose', 'echo service output', false)
    .addOption(
      new Option('--redis <form>', 'single (a private redis-server), cluster (3 masters + 3 replicas) or sentinel')
        .env('TOOLPLANE_REDIS')
        .default('single'),
    )
    .addOption(
      new Option(
        '--queue-shards <n>',
        'with --redis cluster: the tool-call queue in this many shards (REDIS_QUEUE_SHARDS)',
      )
        .env('TOOLPLANE_QUEUE_SHARDS')
        .default('1'),
    )
    .action(async (opts: DevOptions) => {
      // The services run from a clone's sources; the packed CLI (management commands) does not carry them.
      if (!existsSync(new URL('../../../services/edge/src/main.ts', import.meta.url))) {
        console.error(
          'toolplane dev runs the platform from a clone of the Toolplane repository (the services are not part ' +
            'of the CLI package): run `bash scripts/dev.sh` in a clone.',
        );
        process.exitCode = ExitCode.usage;
        return;
      }
      const { runDev } = await import('./dev.ts');
      await runDev(opts);
    });
}

function buildProgram(): Command {
  const program = new Command('toolplane')
    .description('Toolplane: hosted MCP servers from connectors, OpenAPI and workflow documents')
    .showHelpAfterError()
    .exitOverride();
  devCommand(program);
  loginCommand(program);
  serversCommand(program);
  externalServersCommand(program);
  registryCommand(program);
  connectorsCommand(program);
  catalogCommand(program);
  instancesCommand(program);
  deployCommand(program);
  secretsCommand(program);
  keysCommand(program);
  recordsCommand(program);
  eventsCommand(program);
  auditCommand(program);
  receiptsCommand(program);
  statsCommand(program);
  usageCommand(program);
  leastPrivilegeCommands(program);
  rulesCommands(program);
  policiesCommand(program);
  quotasCommand(program);
  guardrailsCommand(program);
  approvalsCommand(program);
  usersCommand(program);
  rolesCommand(program);
  sessionCommand(program);
  scimTokenCommand(program);
  tokenCommand(program);
  idpsCommand(program);
  debugCommand(program);
  workspaceFilesCommands(program);
  // Every (sub)command: usage errors exit 2 (commander's default is 1, which we keep for bugs).
  const walk = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(walk);
  };
  walk(program);
  return program;
}

/** Runs the CLI; resolves to the exit code (handlers set `process.exitCode` for their own errors). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    // `--help` exits 0; unknown commands or options, missing arguments (and bare `toolplane`) are usage errors.
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    throw err;
  }
}

import type { Command } from 'commander';
import type { ExecutionRecord } from './api.ts';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/**
 * `toolplane twin server|key|records`: the staging twin (ADR 0112, docs/twin.md): a server or a key switched to it,
 * and the calls it answered.
 */

const serverModes = ['on', 'recording', 'off'] as const;
const columns: (keyof ExecutionRecord)[] = ['started_at', 'id', 'tool', 'outcome', 'error_code'];

export function twinCommand(program: Command): void {
  const twin = program.command('twin').description('rehearse against the staging twin (docs/twin.md)');

  withJson(
    twin
      .command('server')
      .description('switch an MCP server: on (the twin answers every call), recording, or off')
      .argument('<server>', 'name or id')
      .argument('<mode>', 'on, recording or off'),
  ).action(
    action(async (ctx, [server, mode]) => {
      const chosen = serverModes.find((m) => m === mode);
      if (!chosen) throw usageError('the mode is on, recording or off');
      const updated = await ctx.api().updateServer(server!, { twin: chosen });
      ctx.out.result(updated, () => [`${updated.name}: twin ${updated.twin}`]);
    }),
  );

  withJson(
    twin
      .command('key')
      .description('switch an API key: on (its calls go to the twin on every server) or off')
      .argument('<key-id>', 'the key’s id')
      .argument('<mode>', 'on or off'),
  ).action(
    action(async (ctx, [id, mode]) => {
      if (mode !== 'on' && mode !== 'off') throw usageError('the mode is on or off');
      const key = await ctx.api().updateKey(id!, { twin: mode === 'on' });
      ctx.out.result(key, () => [`key ${key.name} (${key.id}): twin ${key.twin ? 'on' : 'off'}`]);
    }),
  );

  withJson(
    twin
      .command('records')
      .description('the calls the twin answered, newest first')
      .option('--server <server>', 'only this MCP server (name or id)')
      .option('--key <key-id>', 'only the calls made with this key'),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const serverId = opts.server ? (await api.getServer(String(opts.server))).id : undefined;
      const keyId = opts.key ? String(opts.key) : undefined;
      const page = await api.listRecords({ server_id: serverId, key_id: keyId, twin: 'true' });
      ctx.out.result(page, () => table(page.data, columns));
    }),
  );
}

import type { Command } from 'commander';
import type { CreateEnterpriseIdpBody } from './api.ts';
import { action, withJson } from './context.ts';
import { CliError, ExitCode } from './errors.ts';
import { table } from './output.ts';

/**
 * `toolplane idps list|add|remove`: the workspace's enterprise IdPs (ADR 0082, docs/identity.md "Enterprise-managed
 * authorization (ID-JAG)"), whose ID-JAGs the edges redeem for access tokens to its MCP servers. `add` prints the
 * registered client's secret once.
 */
export function idpsCommand(program: Command): void {
  const idps = program
    .command('idps')
    .description('enterprise IdPs whose ID-JAGs the edges redeem (enterprise-managed authorization)');

  withJson(idps.command('list').description('list the enterprise IdPs (never a secret)')).action(
    action(async (ctx) => {
      const list = await ctx.api().listEnterpriseIdps();
      ctx.out.result({ data: list }, () => table(list, ['id', 'name', 'issuer', 'clientId', 'userClaim', 'jwksUrl']));
    }),
  );

  withJson(
    idps
      .command('add')
      .description('register an IdP and the MCP client its ID-JAGs are issued to (the client secret is shown once)')
      .requiredOption('--name <name>', 'a name for this IdP and client')
      .requiredOption('--issuer <url>', 'the IdP’s issuer (the ID-JAGs’ iss)')
      .requiredOption('--jwks-url <url>', 'the IdP’s JWKS URL')
      .requiredOption('--client-id <id>', 'the MCP client’s id (the ID-JAGs’ client_id)')
      .option('--user-claim <claim>', 'the ID-JAG claim naming the external user (default sub)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const body: CreateEnterpriseIdpBody = {
        name: String(opts.name),
        issuer: String(opts.issuer),
        jwksUrl: String(opts.jwksUrl),
        clientId: String(opts.clientId),
        ...(opts.userClaim ? { userClaim: String(opts.userClaim) } : {}),
      };
      const idp = await ctx.api().createEnterpriseIdp(body);
      ctx.out.result(idp, () => [
        `registered ${idp.name} (${idp.id}): ID-JAGs of ${idp.issuer} for client ${idp.clientId}`,
        `client secret (shown once): ${idp.clientSecret}`,
        'the client authenticates at <edge PUBLIC_URL>/oauth/token with this client id and secret',
      ]);
    }),
  );

  withJson(
    idps
      .command('remove')
      .description('remove an IdP: its ID-JAGs are refused at once')
      .argument('<idp>', 'the IdP’s name or id'),
  ).action(
    action(async (ctx, [which]) => {
      const api = ctx.api();
      const idp = (await api.listEnterpriseIdps()).find((i) => i.id === which || i.name === which);
      if (!idp) throw new CliError(`no enterprise IdP "${which}"`, ExitCode.notFound);
      await api.deleteEnterpriseIdp(idp.id);
      ctx.out.result({ removed: idp.id }, () => [`removed ${idp.name} (${idp.id})`]);
    }),
  );
}

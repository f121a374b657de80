import { z } from 'zod';
import { pathParams } from '../../openapi/registry.ts';

const timestamp = z.iso.datetime();

/** What the API shows of a secret (`presenter` in scopes.ts): names, versions and times, never the value. */
const secretFields = {
  name: z.string().describe('The secret’s name (`$secrets.NAME`).'),
  version: z.string().describe('Id of the current version.'),
  versions: z
    .array(
      z.strictObject({
        id: z.string(),
        stages: z
          .array(z.enum(['current', 'previous']))
          .describe('`current`: the value in use; `previous`: the one it replaced.'),
      }),
    )
    .describe('Versions the store still holds, current first.'),
  created_at: timestamp,
  updated_at: timestamp,
};

export const WorkspaceSecret = z
  .strictObject({ ...secretFields, scope: z.literal('workspace') })
  .meta({ id: 'WorkspaceSecret' });

export const ServerSecret = z
  .strictObject({ ...secretFields, scope: z.literal('mcp_server'), mcp_server_id: z.uuid() })
  .meta({ id: 'ServerSecret' });

/** `{id}` of the server routes: the server's id or name. */
export const serverParams = (...names: 'name'[]) =>
  pathParams('id', ...names).extend({ id: z.string().describe('The MCP server’s id or name.') });

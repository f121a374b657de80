import { z } from 'zod';
import { pathParams } from '../../openapi/registry.ts';

const timestamp = z.iso.datetime();

/** What the API shows of a secret (`presenter` in scopes.ts): names, versions and times, never the value. */
const secretFields = {
  name: z.string().describe('The secret’s name (`$secrets.NAME`).'),
  version: z.string().describe('Id of the current version.'),
  versions: z
    .array(
      z
        .object({
          id: z.string(),
          stages: z
            .array(z.enum(['current', 'previous']))
            .describe('`current`: the value in use; `previous`: the one it replaced.'),
        })
        .strict(),
    )
    .describe('Versions the store still holds, current first.'),
  created_at: timestamp,
  updated_at: timestamp,
};

export const WorkspaceSecret = z
  .object({ ...secretFields, scope: z.literal('workspace') })
  .strict()
  .meta({ id: 'WorkspaceSecret' });

export const ServerSecret = z
  .object({ ...secretFields, scope: z.literal('mcp_server'), mcp_server_id: z.uuid() })
  .strict()
  .meta({ id: 'ServerSecret' });

/** `{id}` of the server routes: the server's id or name. */
export const serverParams = (...names: 'name'[]) =>
  pathParams('id', ...names).extend({ id: z.string().describe('The MCP server’s id or name.') });

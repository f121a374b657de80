import { workspaceSecrets } from '@toolplane/contracts';
import { z } from 'zod';
import { requestIssues } from '../../http/error-handler.ts';
import {
  fileProblem,
  run,
  valueOf,
  type Change,
  type DesiredResource,
  type FileRead,
  type StepContext,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { secretsOperations } from './operations.ts';

/** The one file that lists the workspace secrets' names. */
const secretsFile = 'secrets.yaml';

const SecretsSpec = z.strictObject({ secrets: z.array(z.string().min(1)).default([]) });

/** A secret's value is given to the apply (`${secret:NAME}`); it is set once, when created, and deleted by name. */
function secretStep(c: Change, ctx: StepContext) {
  if (c.action === 'delete') return run(secretsOperations, 'deleteSecret', { params: { name: c.name } });
  if (c.action !== 'create') return undefined;
  const value = valueOf(`\${secret:${c.name}}`, ctx);
  return run(secretsOperations, 'setSecret', { params: { name: c.name }, body: { value } });
}

/** `secrets.yaml`: the names of the secrets the files need. */
function readSecrets({ file, value, problems }: FileRead): DesiredResource[] {
  const parsed = SecretsSpec.safeParse(value ?? {});
  if (!parsed.success) {
    problems.push(...requestIssues(parsed.error).map((i) => fileProblem(file.path, i.path, i.message)));
    return [];
  }
  return parsed.data.secrets.map((name) => ({ kind: 'secret', name, file: file.path, spec: { name } }));
}

/** The workspace secrets: their names, in `secrets.yaml`; never their values. */
export const secretFiles: WorkspaceFileKind = {
  kind: 'secret',
  dir: '',
  file: secretsFile,
  read: readSecrets,
  async live({ deps, workspaceId, marker }) {
    const prefix = workspaceSecrets.prefix(workspaceId);
    return (await deps.secrets.list(prefix))
      .map((m) => m.name.slice(prefix.length))
      .filter((n) => !n.includes('/'))
      .map((name) => ({ kind: 'secret', name, id: name, spec: { name }, marker: marker('secret', name) }));
  },
  write: secretStep,
  remove: secretStep,
};

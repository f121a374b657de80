import type { WorkspaceFileKind } from '../workspace-files/kind.ts';
import { creationLoosens, loosenedFields, type LooseningKind } from './loosening.ts';

/** What a kind of workspace file declares of four eyes on loosening: its changes judged as `kind`'s requests are. */
export const looseningOf = (kind: LooseningKind): Pick<WorkspaceFileKind, 'loosened' | 'creationLoosens'> => ({
  loosened: (change) => loosenedFields(kind, change),
  creationLoosens: creationLoosens.has(kind),
});

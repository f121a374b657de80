import { accessPolicyFiles } from './access-policies/workspace-file.ts';
import { apiKeyFiles } from './api-keys/workspace-file.ts';
import { connectorInstanceFiles } from './connector-instances/workspace-file.ts';
import { connectorFiles } from './connectors/workspace-file.ts';
import { deploymentFiles } from './deployments/workspace-file.ts';
import { enterpriseIdpFiles } from './enterprise-idps/workspace-file.ts';
import { externalServerFiles } from './external-mcp-servers/workspace-file.ts';
import { externalUserFiles } from './external-users/workspace-file.ts';
import { guardrailFiles } from './guardrails/workspace-file.ts';
import { quotaFiles } from './quotas/workspace-file.ts';
import { roleMappingFiles } from './role-mappings/workspace-file.ts';
import { secretFiles } from './secrets/workspace-file.ts';
import { serverFiles } from './servers/workspace-file.ts';
import { sessionFiles } from './sessions/workspace-file.ts';
import type { WorkspaceFileKind } from './workspace-files/kind.ts';

/**
 * Every kind of workspace file (each declared in its resource's `workspace-file.ts`, workspace-files/kind.ts), in the
 * order apply creates and updates them (deletions: the reverse) and the live workspace is read: what a resource names
 * must come before it (a server names its connector instance and external servers; keys name servers; policies,
 * quotas and guardrails name servers and keys).
 */
export const workspaceFileKinds: readonly WorkspaceFileKind[] = [
  secretFiles,
  externalServerFiles,
  connectorFiles,
  connectorInstanceFiles,
  serverFiles,
  deploymentFiles,
  externalUserFiles,
  enterpriseIdpFiles,
  apiKeyFiles,
  accessPolicyFiles,
  quotaFiles,
  guardrailFiles,
  roleMappingFiles,
  sessionFiles,
];

import { describe, expect, it } from '@jest/globals';
import { allOperations } from '../operations.ts';
import { guardedOperation } from './four-eyes.ts';

/**
 * Four eyes by effect (ADR 0087): every changing operation of the management API (generated from the
 * operation tables) is either guarded by `fourEyes`, judged by what it does, or named here with why it cannot widen
 * anyone's access. A new changing operation fails here until someone decides which.
 */
const notGuarded: Record<string, string> = {
  // Deciding and asking: what four eyes and call approvals are made of.
  approveChangeRequest: 'a decision, refused to the requester and every identity it controls',
  denyChangeRequest: 'a decision that applies nothing',
  createChangeRequestLink: 'a link for a person the setting named, refused to the requester',
  approveApproval: 'a call’s approval (ADR 0049), refused to the caller',
  denyApproval: 'a call’s refusal',
  createApprovalLink: 'a call approver’s link, refused to the caller',
  // Changes made of guarded steps, or nothing at all.
  applyWorkspaceFiles: 'each change runs through its guarded operation (workspace-files/apply.ts)',
  planWorkspaceFiles: 'changes nothing',
  backtest: 'changes nothing',
  reachability: 'changes nothing',
  // Task grants (ADR 0108): a grant only narrows the tokens redeemed from it, which have no right their key lacks.
  createTaskGrant: 'narrows the tokens redeemed from it below what their key may do',
  revokeTaskGrant: 'stops the tokens redeemed from the grant',
  explainAccessDecision: 'changes nothing',
  previewResultShape: 'changes nothing',
  loadToolsFromUrl: 'reads a document, changes nothing',
  testConnectorInstance: 'calls the API with stored credentials, changes nothing',
  signIn: 'records a sign-in',
  // Rules added: more refusals, never fewer.
  createQuota: 'a new quota counts and refuses calls',
  createGuardrail: 'a new guardrail scans results',
  // Another workspace, or the audit trail's copies.
  createWorkspace: 'a new workspace, its own rules and keys',
  createAuditExporter: 'sends the audit trail out; grants no access',
  updateAuditExporter: 'sends the audit trail out; grants no access',
  deleteAuditExporter: 'sends the audit trail out; grants no access',
  // Credentials: never stored in a change request (ADR 0079); they open upstreams, not Toolplane.
  createSecret: 'a credential’s value (never held)',
  setSecret: 'a credential’s value (never held)',
  deleteSecret: 'a credential removed',
  createServerSecret: 'a credential’s value (never held)',
  setServerSecret: 'a credential’s value (never held)',
  deleteServerSecret: 'a credential removed',
  createConnectorInstance: 'credentials for an API; exposes nothing until a server names it',
  updateConnectorInstance: 'credentials and origins, judged by who may write secrets (ADR 0073)',
  deleteConnectorInstance: 'removes an API’s credentials',
  setUserConnection: 'a person’s own credential',
  deleteUserConnection: 'a person’s own credential removed',
  setUserSecret: 'a person’s own credential',
  deleteUserSecret: 'a person’s own credential removed',
  setUserMcpConnection: 'a person’s own credential',
  deleteUserMcpConnection: 'a person’s own credential removed',
  // What servers expose (tools, deployments): what policies then grant, not a rule.
  pushConnector: 'a new API; its tools reach no one until a server and a policy do',
  addCuratedConnector: 'a new API; its tools reach no one until a server and a policy do',
  setupCuratedConnector: 'a new API and its instance; reach as granted by policies',
  addFromApiCatalog: 'a new API; its tools reach no one until a server and a policy do',
  addFromRegistry: 'a registered external server, without autoAccept',
  putRegistrySettings: 'where servers are found; grants nothing',
  deployWorkflow: 'a workflow’s tools on a server policies govern',
  redeployWorkflow: 'a workflow’s tools on a server policies govern',
  withdrawDeployment: 'tools removed',
  acceptExternalMcpServerChange: 'an external server’s reviewed change (ADR 0061)',
  rejectExternalMcpServerChange: 'a change refused',
  startDebugSession: 'records calls for the caller; grants nothing',
  stopDebugSession: 'ends recording',
  // People and their directory: a person reaches only what policies grant them.
  updateExternalUser:
    'a person’s attributes: no policy, condition or principal reads them (workflows’ `$current_user.<name>` values)',
  deleteExternalUser: 'a person removed',
};

const changing = allOperations.filter((op) => ['post', 'put', 'patch', 'delete'].includes(op.route.method));

describe('four eyes covers every changing operation', () => {
  it.each(changing.map((op) => [op.route.operationId!, op] as const))(
    '%s: guarded, or named with why it widens no one’s access',
    (id) => {
      const guarded = guardedOperation(id) !== undefined;
      expect({ id, decided: guarded || notGuarded[id] !== undefined }).toEqual({ id, decided: true });
      // Never both: a guarded operation is judged by its effect, not excused.
      expect({ id, both: guarded && notGuarded[id] !== undefined }).toEqual({ id, both: false });
    },
  );

  it('names no operation that does not exist', () => {
    const ids = new Set(changing.map((op) => op.route.operationId));
    expect(Object.keys(notGuarded).filter((id) => !ids.has(id))).toEqual([]);
  });

  it('guards every creation that can grant access, and the role mapping', () => {
    for (const id of [
      'createAccessPolicy',
      'createApiKey',
      'createServer',
      'createExternalMcpServer',
      'createEnterpriseIdp',
      'createExternalUser',
      'rotateScimToken',
      'upgradeCuratedConnector',
      'putRoleMapping',
      'deleteRoleMapping',
    ])
      expect({ id, guarded: guardedOperation(id) !== undefined }).toEqual({ id, guarded: true });
  });
});

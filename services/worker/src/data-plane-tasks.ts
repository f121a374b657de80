import type {
  DataPlaneTask,
  DataPlaneTaskResult,
  OAuthConnectLinkJob,
  OAuthConnectLinkResult,
  OAuthExchangeJob,
  OAuthExchangeResult,
  OAuthRevokeJob,
  OAuthRevokeResult,
} from '@toolplane/contracts';
import { createAuditExportHandler } from './audit-export.ts';
import { createConnectorTestHandler } from './connector-test.ts';
import { createDocumentFetchHandler } from './document-fetch.ts';
import type { HttpLimits } from './http-operation.ts';
import { createRemoteToolsHandler } from './remote-tools.ts';
import type { SecretResolver } from './secret-resolver.ts';
import { createWebhookPostHandler } from './webhook-post.ts';

/** Egress the control plane asks the data plane to do, and the edge's one task (a person's connect link). */
export function createDataPlaneTaskHandler(deps: {
  secrets: SecretResolver;
  limits: HttpLimits;
  /** A person's authorization code exchanged and stored as their connection (ADR 0027). */
  exchangeOAuthCode: (task: OAuthExchangeJob) => Promise<OAuthExchangeResult>;
  /** A person's connection revoked at the provider and deleted. */
  revokeOAuthConnection: (task: OAuthRevokeJob) => Promise<OAuthRevokeResult>;
  /** A person's connect link, asked by the edge (SMART `connect`). */
  createConnectLink: (task: OAuthConnectLinkJob) => Promise<OAuthConnectLinkResult>;
}) {
  const connectorTest = createConnectorTestHandler(deps);
  const remoteTools = createRemoteToolsHandler({ timeoutMs: deps.limits.timeoutMs, secrets: deps.secrets });
  const fetchDocument = createDocumentFetchHandler({ timeoutMs: deps.limits.timeoutMs });
  const postWebhook = createWebhookPostHandler({ timeoutMs: deps.limits.timeoutMs });
  const exportAudit = createAuditExportHandler({ secrets: deps.secrets, timeoutMs: deps.limits.timeoutMs });
  return (task: DataPlaneTask): Promise<DataPlaneTaskResult> => {
    switch (task.kind) {
      case 'connector.test':
        return connectorTest(task);
      case 'mcp.list_tools':
        return remoteTools(task);
      case 'document.fetch':
        return fetchDocument(task);
      case 'oauth.exchange':
        return deps.exchangeOAuthCode(task);
      case 'oauth.revoke':
        return deps.revokeOAuthConnection(task);
      case 'oauth.connect_link':
        return deps.createConnectLink(task);
      case 'webhook.post':
        return postWebhook(task);
      case 'audit.export':
        return exportAudit(task);
    }
  };
}

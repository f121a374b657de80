import {
  AuditExportResult,
  ConnectorTestResult,
  DataPlaneTaskResult,
  FetchDocumentResult,
  ListRemoteToolsResult,
  OAuthConnectLinkResult,
  OAuthExchangeResult,
  OAuthRevokeResult,
  PostWebhookResult,
  queueNames,
  type AuditExportJob,
  type ConnectorTestJob,
  type DataPlaneTask,
  type FetchDocumentJob,
  type ListRemoteToolsJob,
  type OAuthConnectLinkJob,
  type OAuthExchangeJob,
  type OAuthRevokeJob,
  type PostWebhookJob,
} from '@toolplane/contracts';
import { InternalError } from '@toolplane/errors';
import type { Cluster, Redis } from 'ioredis';
import { RequestReplyClient } from './reply-channel.ts';

/**
 * The control plane's way to have the data plane do egress for it (connector `test_endpoint`,
 * `load-tools-from-url`, documents named by URL in a workflow deployment, quota alert webhooks): the control plane never calls
 * customer APIs or external servers itself. The edge uses it for one task, a person's connect link (SMART `connect`):
 * only workers read the OAuth app's credentials that a link names.
 */
export class DataPlaneTaskClient {
  readonly clientId: string;
  private readonly rpc: RequestReplyClient<DataPlaneTask, DataPlaneTaskResult>;

  constructor(opts: { redis: Redis | Cluster; prefix: string; clientId: string }) {
    this.clientId = opts.clientId;
    this.rpc = new RequestReplyClient({
      ...opts,
      queueName: queueNames.dataPlaneTasks,
      jobName: 'data-plane.task',
      reply: DataPlaneTaskResult,
      idOf: (r) => r.taskId,
    });
  }

  start(): Promise<void> {
    return this.rpc.start();
  }

  async testConnector(task: ConnectorTestJob): Promise<ConnectorTestResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = ConnectorTestResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to connector.test');
    return parsed.data;
  }

  async listRemoteTools(task: ListRemoteToolsJob): Promise<ListRemoteToolsResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = ListRemoteToolsResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to mcp.list_tools');
    return parsed.data;
  }

  async fetchDocument(task: FetchDocumentJob): Promise<FetchDocumentResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = FetchDocumentResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to document.fetch');
    return parsed.data;
  }

  async exchangeOAuthCode(task: OAuthExchangeJob): Promise<OAuthExchangeResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = OAuthExchangeResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to oauth.exchange');
    return parsed.data;
  }

  async revokeOAuthConnection(task: OAuthRevokeJob): Promise<OAuthRevokeResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = OAuthRevokeResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to oauth.revoke');
    return parsed.data;
  }

  /** A person's connect link, made by a worker (the edge's SMART `connect`). */
  async createConnectLink(task: OAuthConnectLinkJob): Promise<OAuthConnectLinkResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = OAuthConnectLinkResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to oauth.connect_link');
    return parsed.data;
  }

  /** One POST to a workspace's webhook (a quota's alerts), made by a worker. */
  async postWebhook(task: PostWebhookJob): Promise<PostWebhookResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = PostWebhookResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to webhook.post');
    return parsed.data;
  }

  /** One batch of a workspace's audit trail sent to a receiver by a worker (its secrets resolved there). */
  async exportAudit(task: AuditExportJob): Promise<AuditExportResult> {
    const r = await this.rpc.request(task.taskId, task);
    const parsed = AuditExportResult.safeParse(r);
    if (!parsed.success) throw new InternalError('internal.unexpected', 'unexpected reply to audit.export');
    return parsed.data;
  }

  close(): Promise<void> {
    return this.rpc.close();
  }
}

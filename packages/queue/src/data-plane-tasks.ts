import { ConnectorTestResult, jobNames, queueNames, type DataPlaneTask } from '@toolplane/contracts';
import type { Redis } from 'ioredis';
import { RequestReplyClient } from './reply-channel.ts';

/**
 * The control plane's way to have the data plane do egress for it (connector `test_endpoint`
 * today; `load-tools-from-url` next): the control plane never calls customer APIs itself.
 */
export class DataPlaneTaskClient {
  readonly clientId: string;
  private readonly rpc: RequestReplyClient<DataPlaneTask, ConnectorTestResult>;

  constructor(opts: { redis: Redis; prefix: string; clientId: string }) {
    this.clientId = opts.clientId;
    this.rpc = new RequestReplyClient({
      ...opts,
      queueName: queueNames.dataPlaneTasks,
      jobName: jobNames.connectorTest,
      reply: ConnectorTestResult,
      idOf: (r) => r.taskId,
    });
  }

  start(): Promise<void> {
    return this.rpc.start();
  }

  testConnector(task: DataPlaneTask): Promise<ConnectorTestResult> {
    return this.rpc.request(task.taskId, task);
  }

  close(): Promise<void> {
    return this.rpc.close();
  }
}

import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { SecretsWriter } from '@toolplane/secrets';
import type { RedisClient } from '@toolplane/redis';
import type { CatalogService } from '../catalog/service.ts';
import type { AuditTrail } from '../db/audit-trail.ts';
import type { Db } from '../db/client.ts';
import type { Fetcher } from '../documents/fetch.ts';
import type { ControlPlaneEnv } from '../env.ts';
import type { largeImportLimit } from '../http/limits.ts';
import type { RuntimePublisher } from '../publication/publisher.ts';
import type { ApiCatalog } from '../documents/api-catalog.ts';
import type { DebugEventHub } from '../publication/debug-events.ts';
import type { PeopleConnections } from '../catalog/people-connections.ts';
import type { ChangeWebhooks } from '../documents/change-webhooks.ts';
import type { BacktestSlots } from '../http/backtest-slots.ts';

/**
 * Everything a resource's handlers may use, built once by `createControlPlaneApp` (app.ts) and handed to every router:
 * one value, one style (docs/architecture.md, "Control plane layout"). Handlers read what they need from it; nothing
 * else reads the environment.
 */
export interface ControlPlaneDeps {
  readonly env: ControlPlaneEnv;
  readonly log: Logger;
  /** Within an audited request, its first writing transaction also appends the request's audit event (ADR 0037). */
  readonly db: Db;
  /** Audit events that go with no change in PostgreSQL (refusals, people's connects, the edges' decisions). */
  readonly trail: AuditTrail;
  readonly redis: RedisClient;
  /** `env.REDIS_PREFIX`, the prefix of every Redis key. */
  readonly prefix: string;
  readonly secrets: SecretsWriter;
  readonly publisher: RuntimePublisher;
  /** Every change of what a server exposes goes through it (docs/architecture.md, "Catalog service"). */
  readonly catalog: CatalogService;
  readonly tasks: DataPlaneTaskClient;
  /** Documents fetched by a worker through its outbound guard. */
  readonly fetchDocument: Fetcher;
  readonly people: PeopleConnections;
  readonly debugEvents: DebugEventHub;
  readonly apiCatalog: ApiCatalog;
  /** The slot a large import takes (http/limits.ts). */
  readonly largeImports: ReturnType<typeof largeImportLimit>;
  /** Held changes of registered external MCP servers announced to their `notifyWebhookUrl` (ADR 0061). */
  readonly changeWebhooks: ChangeWebhooks;
  /** The backtests running at once, per control plane and per workspace (ADR 0091). */
  readonly backtests: BacktestSlots;
}

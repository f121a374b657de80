import { createManagementClient, readProblem, type components, type ManagementClient } from '@toolplane/client';
import { CliError, ExitCode, exitCodeForStatus } from './errors.ts';

/**
 * Every HTTP request of the management commands goes through this module, on the typed client generated
 * from docs/openapi.json (@toolplane/client): paths, parameters, bodies and answers are the document's.
 * Non-2xx answers become `CliError`s carrying the exit code of their class and the problem's `detail`
 * and `errors[]`.
 */

export interface Connection {
  url: string;
  apiKey: string;
}

type Schemas = components['schemas'];

/** A server as `get`, `create` and `update` answer it (with its live catalog's tools). */
export type Server = Schemas['McpServer'];
/** A server as `list` answers it (no tools). */
export type ServerSummary = Schemas['McpServerSummary'];
export type CreateServerBody = Schemas['CreateServerBody'];
export type UpdateServerBody = Schemas['UpdateServerBody'];
export type Connector = Schemas['Connector'];
/** `GET /connectors/{id}`: the connector with its stored descriptor. */
export type ConnectorDetail = Schemas['ConnectorWithDescriptor'];
export type ConnectorInstance = Schemas['ConnectorInstance'];
/** `GET /connectors/curated`: a curated connector, its tools and the authentication it offers. */
export type CuratedConnector = Schemas['CuratedConnector'];
/** `GET /stats`: traffic over the last hour or day. */
export type TrafficStats = Schemas['TrafficStats'];
/** `GET /usage`: calls and cost units per day, server, tool, API key and person. */
export type Usage = Schemas['Usage'];
/** `GET /least_privilege`: grants against use per API key and person, with proposals. */
export type LeastPrivilege = Schemas['LeastPrivilege'];
export type Backtest = Schemas['Backtest'];
export type BacktestRequest = Schemas['BacktestRequest'];
export type Reachability = Schemas['Reachability'];
export type ReachabilityRequest = Schemas['ReachabilityRequest'];
/** `GET /least_privilege/proposal`: one principal's proposal as workspace files. */
export type LeastPrivilegeProposal = Schemas['LeastPrivilegeProposal'];
/** The query of both (`principal`: `api_key:<id>` or `external_user:<name>`). */
export interface LeastPrivilegeQuery {
  from?: string;
  to?: string;
  margin?: number;
  principal?: string;
}
/** `GET /api_catalog`'s query. */
export interface ApiCatalogQuery {
  q?: string;
  category?: string;
  page?: number;
  limit?: number;
}
export type ApiCatalogPage = Schemas['ApiCatalogPage'];
export type CreateConnectorInstanceBody = Schemas['CreateConnectorInstanceBody'];
export type CreatedConnectorInstance = Schemas['CreatedConnectorInstance'];
export type ConnectorTestResult = Schemas['ConnectorTestResult'];
export type ExternalUser = Schemas['ListedExternalUser'];
export type UserConnection = Schemas['UserConnection'];
export type AccountDisconnected = Schemas['AccountDisconnected'];
export type DeployWorkflowBody = Schemas['DeployWorkflowBody'];
export type Deployment = Schemas['WorkflowDeployment'];
export type Secret = Schemas['WorkspaceSecret'] | Schemas['ServerSecret'];
export type CreateApiKeyBody = Schemas['CreateApiKeyBody'];
export type ApiKey = Schemas['ApiKey'];
export type CreatedApiKey = Schemas['CreatedApiKey'];
/** One line of `GET /execution_records` (the record without its steps). */
export type ExecutionRecord = Schemas['ExecutionRecordSummary'];
/** `GET /execution_records/{id}`: the record with its steps. */
export type ExecutionRecordDetail = Schemas['ExecutionRecord'];
/** An audit event as the trail keeps it (`GET /audit_events`), hash included. */
export type AuditEvent = Schemas['AuditEvent'];
export type SetupCuratedBody = Schemas['SetupCuratedConnectorBody'];
export type CuratedSetup = Schemas['CuratedConnectorSetup'];
export type AccessPolicyBody = Schemas['AccessPolicyBody'];
export type Quota = Schemas['Quota'];
export type CreateQuotaBody = Schemas['CreateQuotaBody'];
export type UpdateQuotaBody = Schemas['UpdateQuotaBody'];
/** A guardrail on what tools return (ADR 0050). */
export type Guardrail = Schemas['Guardrail'];
export type CreateGuardrailBody = Schemas['CreateGuardrailBody'];
export type UpdateGuardrailBody = Schemas['UpdateGuardrailBody'];
export type AccessPolicy = Schemas['AccessPolicy'];
/** An approval request (ADR 0049): a call waiting for someone else's decision, its arguments masked. */
export type Approval = Schemas['Approval'];
export type ApprovalState = Approval['state'];
export type AccessExplanationRequest = Schemas['AccessExplanationRequest'];
export type AccessExplanation = Schemas['AccessExplanation'];
export type DebugSession = Schemas['DebugSession'];
/** An external MCP server registered on the workspace (header names only). */
export type ExternalServer = Schemas['ExternalMcpServer'];
/** `GET /registry/search`: a page of the workspace's MCP Registry source. */
export type RegistrySearchPage = Schemas['RegistrySearchPage'];
/** `POST /registry/add`: the external MCP server made of a registry server, and the headers left to set. */
export type RegistryAddResult = Schemas['RegistryAddResult'];
export type ExternalServerChange = Schemas['ExternalMcpServerChange'];
export type WorkspaceFile = Schemas['WorkspaceFile'];
/** The roles of the people signed in (ADR 0053). */
export type RoleMapping = Schemas['RoleMapping'];
export type PutRoleMappingBody = Schemas['PutRoleMappingBody'];
/** `GET /session_settings`: the session rules and the sessions' lifetime (ADR 0078). */
export type SessionSettings = Schemas['SessionSettings'];
export type PutSessionSettingsBody = Schemas['PutSessionSettingsBody'];
/** `GET /sessions/{scope}`: one session's labels (with their origins) and calls. */
export type Session = Schemas['Session'];
/** `GET /event_subscriptions`: an MCP Events subscription with its deliveries counted (ADR 0081). */
export type EventSubscriptionSummary = Schemas['EventSubscriptionSummary'];
export type EventDeliveryList = Schemas['EventDeliveryList'];
/** The workspace's SCIM token (ADR 0062): its prefix and dates; its value only when created. */
export type ScimToken = Schemas['ScimToken'];
export type CreatedScimToken = Schemas['CreatedScimToken'];
export type EnterpriseIdp = Schemas['EnterpriseIdp'];
export type CreateEnterpriseIdpBody = Schemas['CreateEnterpriseIdpBody'];
export type WorkspacePlan = Schemas['WorkspacePlan'];
export type WorkspaceApplyResult = Schemas['WorkspaceApplyResult'];

export interface DeployResult {
  /** 201: a new active deployment; 204: the same documents were already active. */
  changed: boolean;
  id?: string;
  tools: string[];
  warnings: { path: string; message: string }[];
}

/** The problem+json (or Bump-style `{message, errors}`) body of a failed request, as the CLI reports it. */
function problemToError(status: number, body: unknown, fallback: string): CliError {
  const { detail, code, issues } = readProblem(body, fallback);
  return new CliError(detail, exitCodeForStatus(status), { status, code, issues });
}

/** What every openapi-fetch call answers: `data` on 2xx, the parsed error body otherwise. */
interface Answer<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

export class Api {
  readonly baseUrl: string;
  readonly #client: ManagementClient;

  constructor(connection: Connection) {
    this.baseUrl = connection.url.replace(/\/+$/, '');
    this.#client = createManagementClient(this.baseUrl, connection.apiKey);
    const baseUrl = this.baseUrl;
    this.#client.use({
      onRequest({ request }) {
        request.headers.set('accept', 'application/json, application/problem+json');
        return request;
      },
      // Network failures (refused, DNS, reset) are transient (exit 6); only fetch's own failures get here.
      onError({ error }) {
        const err = error as Error & { cause?: { code?: string; message?: string } };
        return new CliError(
          `cannot reach the control plane at ${baseUrl}: ${err.cause?.code ?? err.cause?.message ?? err.message}`,
          ExitCode.transient,
        );
      },
    });
  }

  /** The 2xx answer's status and body, or the problem as a `CliError`. */
  async #answer<D>(method: string, call: Promise<Answer<D>>): Promise<{ status: number; data: D }> {
    const { data, error, response } = await call;
    if (!response.ok) {
      const path = response.url ? new URL(response.url).pathname : '';
      throw problemToError(response.status, error, `${method} ${path} answered HTTP ${response.status}`);
    }
    // Four eyes on loosening (docs/governance.md): the change is held, not made; every command stops on it alike.
    // A key's creation held gives its value once (it works once approved): the message carries it.
    const held = data as { status?: unknown; detail?: unknown; key?: unknown } | undefined;
    if (response.status === 202 && held?.status === 'waits_for_approval') {
      const key = typeof held.key === 'string' ? `\nkey (shown once; it works once approved): ${held.key}` : '';
      throw new CliError(`${String(held.detail)}${key}`, ExitCode.waiting, {
        status: 202,
        code: 'change.waits_for_approval',
      });
    }
    // 204 (and empty 2xx answers) carry no body: `data` is undefined then, as the operations' types say.
    return { status: response.status, data: data as D };
  }

  async #data<D>(method: string, call: Promise<Answer<D>>): Promise<D> {
    return (await this.#answer(method, call)).data;
  }

  // The workspace as files (docs/gitops.md)
  async exportWorkspaceFiles(): Promise<WorkspaceFile[]> {
    return (await this.#data('GET', this.#client.GET('/workspace_files'))).files;
  }
  planWorkspaceFiles(body: Schemas['WorkspacePlanBody']): Promise<WorkspacePlan> {
    return this.#data('POST', this.#client.POST('/workspace_files/plan', { body }));
  }
  applyWorkspaceFiles(body: Schemas['WorkspaceApplyBody']): Promise<WorkspaceApplyResult> {
    return this.#data('POST', this.#client.POST('/workspace_files/apply', { body }));
  }

  /** A cheap authenticated GET every management key may make (also keys limited to some servers). */
  async checkKey(): Promise<void> {
    await this.#data('GET', this.#client.GET('/mcp_manager', { params: { query: { limit: 1 } } }));
  }

  // MCP servers (/mcp_manager; a server is accepted by id or name in paths)
  async listServers(): Promise<ServerSummary[]> {
    const all: ServerSummary[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#data(
        'GET',
        this.#client.GET('/mcp_manager', { params: { query: { limit: 100, cursor } } }),
      );
      all.push(...page.data);
      cursor = page.pagination.nextCursor ?? undefined;
    } while (cursor);
    return all;
  }
  getServer(idOrName: string): Promise<Server> {
    return this.#data('GET', this.#client.GET('/mcp_manager/{id}', { params: { path: { id: idOrName } } }));
  }
  createServer(body: CreateServerBody): Promise<Server> {
    return this.#data('POST', this.#client.POST('/mcp_manager', { body }));
  }
  updateServer(idOrName: string, body: UpdateServerBody): Promise<Server> {
    return this.#data('PATCH', this.#client.PATCH('/mcp_manager/{id}', { params: { path: { id: idOrName } }, body }));
  }
  async deleteServer(idOrName: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/mcp_manager/{id}', { params: { path: { id: idOrName } } }));
  }

  // External MCP servers registered on the workspace (a server is accepted by id or name in paths)
  async listExternalServers(): Promise<ExternalServer[]> {
    return (await this.#data('GET', this.#client.GET('/external_mcp_servers'))).data;
  }
  getExternalServer(idOrName: string): Promise<ExternalServer> {
    return this.#data('GET', this.#client.GET('/external_mcp_servers/{id}', { params: { path: { id: idOrName } } }));
  }
  createExternalServer(body: Schemas['CreateExternalMcpServerBody']): Promise<ExternalServer> {
    return this.#data('POST', this.#client.POST('/external_mcp_servers', { body }));
  }
  /** Only the fields given change; in `headers`, a value sets one header and null removes it. */
  updateExternalServer(idOrName: string, body: Schemas['UpdateExternalMcpServerBody']): Promise<ExternalServer> {
    return this.#data(
      'PATCH',
      this.#client.PATCH('/external_mcp_servers/{id}', { params: { path: { id: idOrName } }, body }),
    );
  }
  /** The changes held for review (ADR 0061), oldest first. */
  async listExternalServerChanges(idOrName: string): Promise<ExternalServerChange[]> {
    const path = { id: idOrName };
    return (await this.#data('GET', this.#client.GET('/external_mcp_servers/{id}/changes', { params: { path } }))).data;
  }
  decideExternalServerChange(idOrName: string, changeId: string, decision: 'accept' | 'reject') {
    const params = { path: { id: idOrName, changeId } };
    return this.#data(
      'POST',
      decision === 'accept'
        ? this.#client.POST('/external_mcp_servers/{id}/changes/{changeId}/accept', { params })
        : this.#client.POST('/external_mcp_servers/{id}/changes/{changeId}/reject', { params }),
    );
  }
  async deleteExternalServer(idOrName: string): Promise<void> {
    await this.#data(
      'DELETE',
      this.#client.DELETE('/external_mcp_servers/{id}', { params: { path: { id: idOrName } } }),
    );
  }

  // Connectors
  /**
   * The document's text goes as is (`application/yaml` or `application/json`), so the control plane's
   * problem paths point into the file the user wrote. The generated body type is the parsed document
   * (`ConnectorSource`), hence the cast of the text; `bodySerializer` keeps openapi-fetch from
   * JSON-encoding it and the header names its media type.
   */
  pushConnector(text: string, contentType: string): Promise<Connector> {
    return this.#data(
      'POST',
      this.#client.POST('/connectors', {
        body: text as unknown as Schemas['ConnectorSource'],
        bodySerializer: (body) => body as unknown as string,
        headers: { 'content-type': contentType },
      }),
    );
  }

  async listConnectors(): Promise<Connector[]> {
    return (await this.#data('GET', this.#client.GET('/connectors'))).data;
  }
  getConnector(id: string): Promise<ConnectorDetail> {
    return this.#data('GET', this.#client.GET('/connectors/{id}', { params: { path: { id } } }));
  }
  // Curated connectors (packages/connectors)
  async listCuratedConnectors(): Promise<CuratedConnector[]> {
    return (await this.#data('GET', this.#client.GET('/connectors/curated'))).data;
  }
  /** `auth` unset: people's own accounts where the connector offers them. */
  addCuratedConnector(slug: string, auth?: 'user_oauth' | 'token'): Promise<Connector> {
    return this.#data(
      'POST',
      this.#client.POST('/connectors/curated/{slug}', { params: { path: { slug } }, body: auth ? { auth } : {} }),
    );
  }
  /** The connector, an instance with `credentials` and its server exposing `tools` (default: all), in one request. */
  setupCuratedConnector(slug: string, body: SetupCuratedBody): Promise<CuratedSetup> {
    return this.#data(
      'POST',
      this.#client.POST('/connectors/curated/{slug}/setup', { params: { path: { slug } }, body }),
    );
  }
  // The API catalog (APIs.guru)
  searchApiCatalog(query: ApiCatalogQuery): Promise<ApiCatalogPage> {
    return this.#data('GET', this.#client.GET('/api_catalog', { params: { query } }));
  }
  /** Adds a catalog API as an OpenAPI connector (`slug`: a second copy under another slug). */
  addFromApiCatalog(id: string, slug?: string): Promise<Connector> {
    return this.#data(
      'POST',
      this.#client.POST('/api_catalog/{id}/add', { params: { path: { id } }, body: slug ? { slug } : {} }),
    );
  }

  // The MCP Registry (the workspace's source)
  searchRegistry(query: { q?: string; cursor?: string; limit?: number }): Promise<RegistrySearchPage> {
    return this.#data('GET', this.#client.GET('/registry/search', { params: { query } }));
  }
  addFromRegistry(body: Schemas['RegistryAddBody']): Promise<RegistryAddResult> {
    return this.#data('POST', this.#client.POST('/registry/add', { body }));
  }

  /** `force`: also deletes the connector instances using it (else 409 while there are any). */
  async deleteConnector(id: string, force: boolean): Promise<void> {
    await this.#data(
      'DELETE',
      this.#client.DELETE('/connectors/{id}', {
        params: { path: { id }, query: force ? { force: 'true' } : {} },
      }),
    );
  }

  // Connector instances (credentials are write-only: answers name their keys, never their values)
  async listInstances(): Promise<ConnectorInstance[]> {
    return (await this.#data('GET', this.#client.GET('/connector_instances'))).data;
  }
  createInstance(body: CreateConnectorInstanceBody): Promise<CreatedConnectorInstance> {
    return this.#data('POST', this.#client.POST('/connector_instances', { body }));
  }
  /** Runs the descriptor's test endpoint from a worker; 200 also when the upstream refused (`passed: false`). */
  testInstance(id: string): Promise<ConnectorTestResult> {
    return this.#data('POST', this.#client.POST('/connector_instances/{id}/test', { params: { path: { id } } }));
  }
  async deleteInstance(id: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/connector_instances/{id}', { params: { path: { id } } }));
  }

  // Workflow deployments
  async deploy(server: string, body: DeployWorkflowBody): Promise<DeployResult> {
    const res = await this.#answer(
      'POST',
      this.#client.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server } },
        body,
      }),
    );
    // Without `dry_run` the answer is 201 (the new, active deployment) or 204; a dry run's 200 never comes.
    if (res.status === 204 || !res.data || res.data.state !== 'active')
      return { changed: false, tools: [], warnings: [] };
    return { changed: true, id: res.data.id, tools: res.data.tools, warnings: res.data.warnings ?? [] };
  }
  /** `?dry_run=true`: the control plane validates and compiles the document; nothing is stored or changed. */
  validateDeployment(server: string, body: DeployWorkflowBody): Promise<Schemas['ValidatedWorkflow']> {
    return this.#data(
      'POST',
      this.#client.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server }, query: { dry_run: 'true' } },
        body,
      }),
    ) as Promise<Schemas['ValidatedWorkflow']>;
  }
  async activeDeployment(server: string): Promise<Deployment | undefined> {
    const list = await this.#data(
      'GET',
      this.#client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server } } }),
    );
    return list.data.find((d) => d.state === 'active');
  }

  // Secrets: a server's (`$secrets.NAME` of its workflows) or, without a server, the workspace's
  async listSecrets(server?: string): Promise<Secret[]> {
    const list = server
      ? await this.#data('GET', this.#client.GET('/mcp_servers/{id}/secrets', { params: { path: { id: server } } }))
      : await this.#data('GET', this.#client.GET('/secrets'));
    return list.data;
  }
  putSecret(server: string | undefined, name: string, value: string): Promise<Secret> {
    return server
      ? this.#data(
          'PUT',
          this.#client.PUT('/mcp_servers/{id}/secrets/{name}', {
            params: { path: { id: server, name } },
            body: { value },
          }),
        )
      : this.#data('PUT', this.#client.PUT('/secrets/{name}', { params: { path: { name } }, body: { value } }));
  }
  // External users and their connections (/external_users)
  async listExternalUsers(): Promise<ExternalUser[]> {
    return (await this.#data('GET', this.#client.GET('/external_users'))).data;
  }
  async listUserConnections(name: string): Promise<UserConnection[]> {
    const path = { name };
    return (await this.#data('GET', this.#client.GET('/external_users/{name}/connections', { params: { path } }))).data;
  }
  /** Ends a connection; an own-account (OAuth) connection answers how the revocation at the provider went. */
  async deleteUserConnection(name: string, instanceId: string): Promise<AccountDisconnected | undefined> {
    const path = { name, instanceId };
    const { status, data } = await this.#answer(
      'DELETE',
      this.#client.DELETE('/external_users/{name}/connections/{instanceId}', { params: { path } }),
    );
    return status === 200 ? (data as AccountDisconnected) : undefined;
  }

  async deleteSecret(server: string | undefined, name: string): Promise<void> {
    await (server
      ? this.#data(
          'DELETE',
          this.#client.DELETE('/mcp_servers/{id}/secrets/{name}', { params: { path: { id: server, name } } }),
        )
      : this.#data('DELETE', this.#client.DELETE('/secrets/{name}', { params: { path: { name } } })));
  }

  // API keys
  createKey(body: CreateApiKeyBody): Promise<CreatedApiKey> {
    return this.#data('POST', this.#client.POST('/api_keys', { body }));
  }
  async listKeys(): Promise<ApiKey[]> {
    return (await this.#data('GET', this.#client.GET('/api_keys'))).data;
  }
  async revokeKey(id: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/api_keys/{id}', { params: { path: { id } } }));
  }

  // Execution records
  listRecords(query: {
    server_id?: string;
    limit?: number;
    cursor?: string;
  }): Promise<{ data: ExecutionRecord[]; next_cursor: string | null }> {
    return this.#data('GET', this.#client.GET('/execution_records', { params: { query } }));
  }
  listEventSubscriptions(query: { server_id?: string }): Promise<{ data: EventSubscriptionSummary[] }> {
    return this.#data('GET', this.#client.GET('/event_subscriptions', { params: { query } }));
  }
  listEventDeliveries(id: string, limit?: number): Promise<EventDeliveryList> {
    const params = { path: { id }, query: limit ? { limit } : {} };
    return this.#data('GET', this.#client.GET('/event_subscriptions/{id}/deliveries', { params }));
  }
  getStats(query: {
    window?: '1h' | '24h';
    server_id?: string;
    tool?: string;
    to?: string;
    top?: number;
  }): Promise<TrafficStats> {
    return this.#data('GET', this.#client.GET('/stats', { params: { query } }));
  }
  getUsage(query: {
    from?: string;
    to?: string;
    group_by?: string;
    server_id?: string;
    tool?: string;
    api_key?: string;
    person?: string;
  }): Promise<Usage> {
    return this.#data('GET', this.#client.GET('/usage', { params: { query } }));
  }
  getLeastPrivilege(query: LeastPrivilegeQuery): Promise<LeastPrivilege> {
    return this.#data('GET', this.#client.GET('/least_privilege', { params: { query } }));
  }
  getLeastPrivilegeProposal(query: LeastPrivilegeQuery & { principal: string }): Promise<LeastPrivilegeProposal> {
    return this.#data('GET', this.#client.GET('/least_privilege/proposal', { params: { query } }));
  }
  backtest(body: BacktestRequest): Promise<Backtest> {
    return this.#data('POST', this.#client.POST('/governance/backtest', { body }));
  }
  reachability(body: ReachabilityRequest): Promise<Reachability> {
    return this.#data('POST', this.#client.POST('/governance/reachability', { body }));
  }
  // The audit trail (scope `audit`)
  listAuditEvents(query: {
    actor?: string;
    action?: string;
    resource_type?: string;
    resource_id?: string;
    outcome?: AuditEvent['outcome'];
    from?: string;
    to?: string;
    order?: 'asc' | 'desc';
    limit?: number;
    cursor?: string;
  }): Promise<{ data: AuditEvent[]; next_cursor: string | null }> {
    return this.#data('GET', this.#client.GET('/audit_events', { params: { query } }));
  }
  getRecord(id: string): Promise<ExecutionRecordDetail> {
    return this.#data('GET', this.#client.GET('/execution_records/{id}', { params: { path: { id } } }));
  }

  // Access policies
  async listPolicies(): Promise<AccessPolicy[]> {
    return (await this.#data('GET', this.#client.GET('/access_policies'))).data;
  }
  createPolicy(body: AccessPolicyBody): Promise<AccessPolicy> {
    return this.#data('POST', this.#client.POST('/access_policies', { body }));
  }
  async deletePolicy(id: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/access_policies/{id}', { params: { path: { id } } }));
  }
  explainPolicies(body: AccessExplanationRequest): Promise<AccessExplanation> {
    return this.#data('POST', this.#client.POST('/access_policies/explain', { body }));
  }

  // Quotas and budgets
  async listQuotas(): Promise<Quota[]> {
    return (await this.#data('GET', this.#client.GET('/quotas'))).data;
  }
  getQuota(id: string): Promise<Quota> {
    return this.#data('GET', this.#client.GET('/quotas/{id}', { params: { path: { id } } }));
  }
  createQuota(body: CreateQuotaBody): Promise<Quota> {
    return this.#data('POST', this.#client.POST('/quotas', { body }));
  }
  updateQuota(id: string, body: UpdateQuotaBody): Promise<Quota> {
    return this.#data('PATCH', this.#client.PATCH('/quotas/{id}', { params: { path: { id } }, body }));
  }
  async deleteQuota(id: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/quotas/{id}', { params: { path: { id } } }));
  }

  // Guardrails
  async listGuardrails(): Promise<Guardrail[]> {
    return (await this.#data('GET', this.#client.GET('/guardrails'))).data;
  }
  createGuardrail(body: CreateGuardrailBody): Promise<Guardrail> {
    return this.#data('POST', this.#client.POST('/guardrails', { body }));
  }
  updateGuardrail(id: string, body: UpdateGuardrailBody): Promise<Guardrail> {
    return this.#data('PATCH', this.#client.PATCH('/guardrails/{id}', { params: { path: { id } }, body }));
  }
  async deleteGuardrail(id: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/guardrails/{id}', { params: { path: { id } } }));
  }

  // People's roles (one mapping per workspace)
  getRoleMapping(): Promise<RoleMapping> {
    return this.#data('GET', this.#client.GET('/role_mappings'));
  }
  putRoleMapping(body: PutRoleMappingBody): Promise<RoleMapping> {
    return this.#data('PUT', this.#client.PUT('/role_mappings', { body }));
  }
  async deleteRoleMapping(): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/role_mappings'));
  }

  // The workspace's session settings, and one session (ADR 0078)
  getSessionSettings(): Promise<SessionSettings> {
    return this.#data('GET', this.#client.GET('/session_settings'));
  }
  putSessionSettings(body: PutSessionSettingsBody): Promise<SessionSettings> {
    return this.#data('PUT', this.#client.PUT('/session_settings', { body }));
  }
  getSession(scope: string): Promise<Session> {
    return this.#data('GET', this.#client.GET('/sessions/{scope}', { params: { path: { scope } } }));
  }
  async endSession(scope: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/sessions/{scope}', { params: { path: { scope } } }));
  }

  // The workspace's SCIM token
  createScimToken(): Promise<CreatedScimToken> {
    return this.#data('POST', this.#client.POST('/scim_token'));
  }
  getScimToken(): Promise<ScimToken> {
    return this.#data('GET', this.#client.GET('/scim_token'));
  }
  async deleteScimToken(): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/scim_token'));
  }

  // Enterprise IdPs (ADR 0082)
  async listEnterpriseIdps(): Promise<EnterpriseIdp[]> {
    return (await this.#data('GET', this.#client.GET('/enterprise_idps'))).data;
  }
  createEnterpriseIdp(body: CreateEnterpriseIdpBody): Promise<EnterpriseIdp> {
    return this.#data('POST', this.#client.POST('/enterprise_idps', { body }));
  }
  async deleteEnterpriseIdp(id: string): Promise<void> {
    await this.#data('DELETE', this.#client.DELETE('/enterprise_idps/{id}', { params: { path: { id } } }));
  }

  // Approval requests
  async listApprovals(state?: ApprovalState): Promise<Approval[]> {
    const query = { limit: 200, ...(state ? { state } : {}) };
    return (await this.#data('GET', this.#client.GET('/approvals', { params: { query } }))).data;
  }
  getApproval(id: string): Promise<Approval> {
    return this.#data('GET', this.#client.GET('/approvals/{id}', { params: { path: { id } } }));
  }
  decideApproval(id: string, decision: 'approve' | 'deny', comment?: string): Promise<Approval> {
    const init = { params: { path: { id } }, body: comment === undefined ? {} : { comment } };
    return this.#data(
      'POST',
      decision === 'approve'
        ? this.#client.POST('/approvals/{id}/approve', init)
        : this.#client.POST('/approvals/{id}/deny', init),
    );
  }

  // Debug sessions
  startDebug(server: string, minutes?: number): Promise<DebugSession> {
    return this.#data(
      'POST',
      this.#client.POST('/mcp_manager/{id}/debug_sessions', {
        params: { path: { id: server } },
        // `{}`: the control plane's default duration (the generated type makes the defaulted field required).
        body: minutes === undefined ? {} : { duration_minutes: minutes },
      }),
    );
  }
  async listDebug(server: string): Promise<DebugSession[]> {
    return (
      await this.#data(
        'GET',
        this.#client.GET('/mcp_manager/{id}/debug_sessions', { params: { path: { id: server } } }),
      )
    ).data;
  }
  async stopDebug(server: string, sessionId: string): Promise<void> {
    await this.#data(
      'DELETE',
      this.#client.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
        params: { path: { id: server, sessionId } },
      }),
    );
  }
}

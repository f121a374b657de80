/**
 * The one execution IR both compilers produce and the engine runs. Plain JSON (it travels inside a
 * catalog through Redis), holding secret *names* only, never values. Value templates (parameter
 * values, payloads, outputs) stay as written in the source document and are evaluated at run time
 * with the document's expression dialect; the compilers have already parsed every one of them.
 */

/**
 * A mapping whose order is part of its meaning, as `[name, value]` pairs in the order the document
 * declares them. The IR is stored in PostgreSQL `jsonb` columns (deployments, catalog versions), which
 * reorder object keys (shorter keys first) but keep arrays as they are; so every mapping the engine
 * walks in order is one of these, never a plain object (docs/workflows.md, "Declaration order").
 */
export type OrderedMap<T> = [name: string, value: T][];

/** Flower documents use Bump's dialect (bare `$…` interpolation, JMESPath); Arazzo uses its own grammar. */
export type Dialect = 'flower' | 'arazzo';

export type JsonSchemaObject = Record<string, unknown>;

export interface WorkflowDocumentIR {
  /** 2: outputs are `OrderedMap`s (1: plain objects, still run by the engine with the order they arrive in). */
  v: 2;
  format: Dialect;
  /** Flower `id`; Arazzo `info.title`. */
  id: string;
  title?: string;
  description?: string;
  workflows: WorkflowIR[];
  /** Arazzo source descriptions (name → where it came from), for `$sourceDescriptions.<name>.url`. */
  sources: Record<string, SourceIR>;
  /** Arazzo components, kept for `$components.*` expressions evaluated at run time. */
  components: Record<string, unknown>;
}

export interface SourceIR {
  name: string;
  url: string;
  type: 'openapi' | 'arazzo';
}

export interface WorkflowIR {
  id: string;
  summary?: string;
  description?: string;
  /** JSON Schema of the inputs (object root, `$ref`s to components inlined). */
  inputSchema: JsonSchemaObject;
  /** Workflows that run first (their outputs become `$workflows.<id>.outputs`). */
  dependsOn: string[];
  steps: StepIR[];
  /**
   * Declared outputs: name → value template, in declaration order (evaluated in that order, each seeing
   * `$outputs` of those above it; the caller gets them in that order). Only these reach the caller.
   */
  outputs: OrderedMap<unknown>;
  /** Secret names referenced by this workflow and everything it may run (dependencies, sub-workflows). */
  secrets: string[];
  /**
   * What one run costs against cost quotas, as the document declares it (`x-toolplane-cost` on the Arazzo workflow or
   * the Flower flow; ADR 0048). Absent: the sum of its steps' costs and its dependencies' (`workflowCost`).
   */
  cost?: number;
}

export type ParameterLocation = 'path' | 'query' | 'header' | 'cookie';

export interface ParameterIR {
  name: string;
  /** Absent for parameters of a workflow step (they are the called workflow's inputs). */
  in?: ParameterLocation;
  value: unknown;
}

export interface HttpTargetIR {
  kind: 'http';
  method: string;
  /**
   * URL template: Flower's `url` as written (runtime expressions inside), or an Arazzo operation's
   * server URL joined with its path (`{name}` placeholders filled from `in: path` parameters).
   */
  url: string;
  /** Arazzo: the source description and operation the step calls (for traces). */
  source?: string;
  operationId?: string;
  /** Arazzo: the first request media type the operation declares. */
  defaultContentType?: string;
  /**
   * Arazzo, a source bound to a connector instance (`toolplane:connectors/…`): where the operation's
   * credentials go, as `{field}` templates the worker fills with the instance's credential values
   * (names only here; the worker holds the values).
   */
  credentials?: CredentialsIR;
}

/** An operation's credentials (from its OpenAPI security requirement), as templates over credential field keys. */
export interface CredentialsIR {
  /**
   * The only origin (`scheme://host[:port]`) they may be sent to: the connector instance's base URL's, else that of
   * the server its connector's document declares for the operation (computed at compile time). The worker refuses
   * to add them to a request for any other origin (`credentialsRefusal`). Absent in IRs compiled before this field
   * existed: those are refused too, until deployed again (docs/workflows.md).
   */
  origin?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  cookies?: Record<string, string>;
  /** Computed `Authorization` (basic, bearer, OAuth2 client credentials): the `{__authorization}` header template. */
  auth?: { kind: string } & Record<string, unknown>;
}

interface WorkflowTargetIR {
  kind: 'workflow';
  workflowId: string;
}

/**
 * A step calling a tool of the workspace (docs/adr/0039): a hosted MCP server's, an external MCP server's, or (Flower)
 * a connector operation's. The IR names it only; the catalog holds its compiled plan under `ref` (the worker runs it
 * as a call of that tool: its credentials, rate limits and person's account). Its arguments are the step's body.
 */
export interface ToolTargetIR {
  kind: 'tool';
  /** `toolplane:mcp_servers/<server>/tools/<tool>` and the like (`toolRef`): the key of its plan in the catalog. */
  ref: string;
  /** The tool's name where it lives (an operation id for a connector's operation). */
  tool: string;
  /** Arazzo: the source description it belongs to. */
  source?: string;
}

export interface RequestBodyIR {
  contentType?: string;
  /**
   * A string (text with expressions, or JSON text evaluated as the JSON value it holds) or a scalar.
   * The compilers store an object or array payload as its JSON text, so that its fields keep the order
   * written through `jsonb` (IR `v: 1` may hold objects; they are evaluated the same way).
   */
  payload: unknown;
  /** JSON pointers into the payload and the values to set there. */
  replacements: { target: string; value: unknown }[];
}

type CriterionType = 'simple' | 'regex' | 'jsonpath';

export interface CriterionIR {
  condition: string;
  type: CriterionType;
  context?: string;
}

export interface ActionIR {
  name?: string;
  type: 'next' | 'end' | 'goto' | 'retry';
  /** goto target, or (retry) a step to run before retrying. */
  stepId?: string;
  /** goto target, or (retry) a workflow to run before retrying. */
  workflowId?: string;
  /** retry: delay before the next attempt (a `Retry-After` response header wins). */
  retryAfterMs?: number;
  /** retry: how many retries this action may make for one visit of the step. */
  retryLimit?: number;
  /** retry, once its limit is used up: try the following actions (Arazzo) or fail the step (Flower). */
  onExhausted?: 'continue' | 'fail';
  /** All must hold for the action to apply; none means always. */
  criteria: CriterionIR[];
}

export interface StepIR {
  id: string;
  description?: string;
  target: HttpTargetIR | WorkflowTargetIR | ToolTargetIR;
  parameters: ParameterIR[];
  body?: RequestBodyIR;
  /** All must hold for the step to succeed. Compilers add `$statusCode < 400` when a document has none. */
  successCriteria: CriterionIR[];
  onSuccess: ActionIR[];
  onFailure: ActionIR[];
  /** name → value template, in declaration order (evaluated in that order, after every attempt with a response). */
  outputs: OrderedMap<unknown>;
  /**
   * Arazzo, an HTTP step: what one call of its operation costs, as its OpenAPI document declares it
   * (`x-toolplane-cost`). Absent: 1, or (a tool or workflow step) its target's cost, found when the catalog is built.
   */
  cost?: number;
  /**
   * Arazzo, an HTTP step: its operation's declared data-flow labels (`x-toolplane-labels`, ADR 0078), which the
   * workflow tool brings (and sends out) with its steps'. A tool step's are its tool's, found when the catalog is built.
   */
  labels?: string[];
}

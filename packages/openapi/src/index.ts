export { descriptorToOpenApi } from './descriptor-openapi.ts';
export * from './descriptor-tools.ts';
export * from './http-tools.ts';
export { importOpenApi, type OpenApiSource } from './import-openapi.ts';
export type { Discovery } from './user-oauth.ts';
export * from './load-document.ts';
export { annotationLabels, labelled, mergeLabels, operationLabels, type ToolLabels } from './labels.ts';
export {
  compileOpenApiTools,
  costExtension,
  costProblem,
  isCost,
  operationCost,
  type OpenApiToolOptions,
  type OperationCredentials,
  operationCredentials,
} from './openapi-tools.ts';
export { compileOpenApiEvents } from './openapi-events.ts';

import type { ConnectorDescriptor } from '@toolplane/contracts';
import { descriptorToOpenApi } from './descriptor-openapi.ts';
import { connectorRateLimits, type ConnectorInstanceBinding, type HttpCatalogTool } from './http-tools.ts';
import { compileTools } from './openapi-tools.ts';

/**
 * The tools of a connector descriptor: one per route mapping (selective exposure: unmapped
 * operations are not tools). The descriptor must already be validated.
 *
 * The platform generates an OpenAPI document from the descriptor, and a server is created from that
 * document. The tools are compiled from `descriptorToOpenApi(descriptor)` by the OpenAPI compiler
 * in descriptor mode: `in: body` parameters are properties of one JSON object, defaults are sent by the
 * worker, header templates (`auth_headers`) are kept verbatim and only the built-in methods (bearer,
 * basic, OAuth2 client credentials) are computed.
 */
export function compileDescriptorTools(
  descriptor: ConnectorDescriptor,
  binding: ConnectorInstanceBinding,
): HttpCatalogTool[] {
  const mappings = descriptor.mcp_config?.route_mappings ?? [];
  if (mappings.length === 0) return [];
  // The document is keyed by path + method (origins become servers): two operations on one method and
  // path, even on different hosts, cannot share a document; each gets its own then.
  const routes = descriptor.operations.map(
    (o) => `${o.method} ${o.endpoint.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '')}`,
  );
  const distinct = new Set(routes).size === routes.length;
  const tools = distinct
    ? compileTools(descriptorToOpenApi(descriptor), { mappings, binding }, true)
    : mappings.map((m) => {
        const op = descriptor.operations.find((o) => o.operation_id === m.operation_id);
        if (!op) throw new Error(`unvalidated descriptor: unknown operation_id ${m.operation_id}`);
        return compileTools(
          descriptorToOpenApi({ ...descriptor, operations: [op] }),
          { mappings: [m], binding },
          true,
        )[0]!;
      });
  return tools.map((t, i) => {
    const op = descriptor.operations.find((o) => o.operation_id === mappings[i]!.operation_id)!;
    // The descriptor's parameter order (the OpenAPI document lists body properties after the others).
    const order = (name: string): number => op.parameters.findIndex((p) => p.name === name);
    t.plan.params.sort((a, b) => order(a.name) - order(b.name));
    // Every operation of the connector shares the account's budget.
    const rateLimits = connectorRateLimits(descriptor.rate_limits, binding.rateLimitOwner);
    if (rateLimits) t.plan.rateLimits = rateLimits;
    return t;
  });
}

/** Credential field keys the descriptor declares, with whether each is required. */
export function credentialFields(
  descriptor: ConnectorDescriptor,
): { key: string; required: boolean; secret: boolean }[] {
  const seen = new Map<string, { key: string; required: boolean; secret: boolean }>();
  for (const auth of descriptor.authentication) {
    for (const f of auth.fields)
      if (!seen.has(f.key)) seen.set(f.key, { key: f.key, required: f.required, secret: f.secret });
  }
  return [...seen.values()];
}
export { descriptorToOpenApi } from './descriptor-openapi.ts';

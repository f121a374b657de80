import { scimPatch, type ScimPatchOperation, type ScimResource } from 'scim-patch';
import { ScimError } from './errors.ts';
import { enterpriseSchema, patchSchema } from './schema.ts';

const invalidSyntax = (detail: string) => new ScimError(400, detail, 'invalidSyntax');

/** The attribute a PATCH path names first (`members[value eq "…"]` → `members`; the extension's URN as is). */
function pathHead(path: string): string {
  if (path.toLowerCase().startsWith(`${enterpriseSchema.toLowerCase()}`)) return enterpriseSchema.toLowerCase();
  return path.split(/[.[]/, 1)[0]!.toLowerCase();
}

/**
 * A PATCH request (RFC 7644 §3.5.2) applied to `current` with scim-patch (add, replace, remove; value filters such as
 * `members[value eq "…"]`). A body that is no PatchOp is `invalidSyntax`; a path naming an attribute the resource
 * does not define is `invalidPath`; what the operations leave is checked as a PUT's body would be.
 */
export function applyPatch(current: object, body: unknown, known: readonly string[]): Record<string, unknown> {
  const request = body as { schemas?: unknown; Operations?: unknown } | null;
  if (
    !request ||
    !Array.isArray(request.schemas) ||
    !request.schemas.includes(patchSchema) ||
    !Array.isArray(request.Operations) ||
    request.Operations.length === 0
  )
    throw invalidSyntax(`a PATCH body is a ${patchSchema} with at least one operation in "Operations"`);
  const names = new Set(known.map((k) => k.toLowerCase()));
  const operations = request.Operations as ScimPatchOperation[];
  for (const [i, op] of operations.entries()) {
    const path = (op as { path?: unknown }).path;
    if (path === undefined) continue;
    if (typeof path !== 'string') throw invalidSyntax(`Operations[${i}].path must be a string`);
    if (!names.has(pathHead(path)))
      throw new ScimError(400, `Operations[${i}].path names an unknown attribute "${path}"`, 'invalidPath');
  }
  // Typed for its own resources (meta with Date values): ours are plain JSON, which it patches as well.
  const patched = scimPatch(current as ScimResource, operations, { mutateDocument: false, treatMissingAsAdd: true });
  return patched as unknown as Record<string, unknown>;
}

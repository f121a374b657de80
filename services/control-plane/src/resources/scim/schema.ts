import { invalidValue } from './errors.ts';

export const userSchema = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const groupSchema = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const enterpriseSchema = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const listSchema = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const patchSchema = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** What SCIM says of each resource and never stored from a request: `id`, `meta`, and a user's `groups`. */
const readOnly = ['schemas', 'id', 'meta'];

/**
 * The User attributes of RFC 7643 §4.1 (and the enterprise extension) kept as sent, by their canonical names
 * (attribute names are case-insensitive); `userName`, `externalId` and `active` have columns of their own.
 */
const storedUser = [
  'name',
  'displayName',
  'nickName',
  'profileUrl',
  'title',
  'userType',
  'preferredLanguage',
  'locale',
  'timezone',
  'emails',
  'phoneNumbers',
  'ims',
  'photos',
  'addresses',
  'entitlements',
  'roles',
  'x509Certificates',
  enterpriseSchema,
];
const userColumns = ['userName', 'externalId', 'active'];
/** Accepted and not kept: a user's groups are the groups' own (RFC 7643 §4.1.2, readOnly); no password is stored. */
const ignoredUser = ['groups', 'password'];
export const userAttributes = [...readOnly, ...userColumns, ...storedUser, ...ignoredUser];
export const groupAttributes = [...readOnly, 'displayName', 'externalId', 'members'];

/** What a filter may name: a resource's attributes, and sub-attributes of them (`name.familyName`, `emails.value`). */
export function filterable(kind: 'User' | 'Group'): Set<string> {
  const names = kind === 'User' ? [...readOnly, ...userColumns, ...storedUser, 'groups'] : [...groupAttributes];
  return new Set(names.map((n) => n.toLowerCase()));
}

/**
 * A resource body's attributes by their canonical names; an attribute this resource does not define is refused with
 * `invalidValue` (RFC 7644 §3.12: "A required value was missing, or the value specified was not compatible"), naming
 * it.
 */
export function canonical(body: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalidValue(`the ${what} must be a JSON object`);
  const byLower = new Map(known.map((k) => [k.toLowerCase(), k]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const name = byLower.get(key.toLowerCase());
    if (!name) throw invalidValue(`unknown attribute "${key}" of a ${what}`);
    out[name] = value;
  }
  return out;
}

/**
 * A body's `schemas` (RFC 7643 §3): only the URNs its resource type defines (`allowed`: the core schema and its
 * extensions); an extension this service does not support is `invalidValue`, naming it.
 */
export function checkSchemas(value: unknown, allowed: readonly string[]): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw invalidValue('"schemas" must be an array of schema URNs');
  const known = new Set(allowed.map((a) => a.toLowerCase()));
  const unknown = value.find((v: string) => !known.has(v.toLowerCase()));
  if (unknown !== undefined) throw invalidValue(`the schema "${unknown}" is not supported here`);
}

/** A User's `schemas`: the core schema, and the enterprise extension's when it has its attributes. */
export function userSchemas(stored: Record<string, unknown>): string[] {
  return stored[enterpriseSchema] === undefined ? [userSchema] : [userSchema, enterpriseSchema];
}

/** The attributes kept as sent (`ExternalUser.scim`). */
export function storedUserAttributes(attrs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(storedUser.flatMap((k) => (attrs[k] !== undefined ? [[k, attrs[k]]] : [])));
}

const attribute = (name: string, type: string, more: Record<string, unknown> = {}) => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...more,
});

/** A resource's `meta` (RFC 7643 §3.1): its type, its times and where it is (`<base>/Users/<id>`, …). */
export function scimMeta(
  base: string,
  resourceType: 'User' | 'Group',
  row: { id: string; createdAt: Date; updatedAt: Date },
) {
  return {
    resourceType,
    created: row.createdAt.toISOString(),
    lastModified: row.updatedAt.toISOString(),
    location: `${base}/${resourceType}s/${row.id}`,
  };
}

/** `/Schemas`: the core User and Group schemas as this service supports them (RFC 7643 §7). */
export function schemas(base: string) {
  const user = {
    id: userSchema,
    name: 'User',
    description: 'A person of the workspace (an external user)',
    attributes: [
      attribute('userName', 'string', { required: true, uniqueness: 'server' }),
      attribute('externalId', 'string', { caseExact: true }),
      attribute('active', 'boolean'),
      attribute('displayName', 'string'),
      attribute('name', 'complex'),
      attribute('emails', 'complex', { multiValued: true }),
      attribute('groups', 'complex', { multiValued: true, mutability: 'readOnly' }),
    ],
  };
  const group = {
    id: groupSchema,
    name: 'Group',
    description: 'A group of people, named by access policies (`external_group`)',
    attributes: [
      attribute('displayName', 'string', { required: true, uniqueness: 'server' }),
      attribute('externalId', 'string', { caseExact: true }),
      attribute('members', 'complex', { multiValued: true }),
    ],
  };
  return [user, group].map((s) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    ...s,
    meta: { resourceType: 'Schema', location: `${base}/Schemas/${s.id}` },
  }));
}

/** `/ResourceTypes` (RFC 7643 §6). */
export function resourceTypes(base: string) {
  return [
    { id: 'User', name: 'User', endpoint: '/Users', schema: userSchema, extensions: [enterpriseSchema] },
    { id: 'Group', name: 'Group', endpoint: '/Groups', schema: groupSchema },
  ].map(({ extensions, ...t }) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    ...t,
    ...(extensions ? { schemaExtensions: extensions.map((schema) => ({ schema, required: false })) } : {}),
    meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/${t.id}` },
  }));
}

export const maxResults = 200;

/** `/ServiceProviderConfig` (RFC 7643 §5). */
export function serviceProviderConfig(base: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    documentationUri: 'docs/governance.md#scim',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'The workspace’s SCIM token (POST /api/v1/scim_token)',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

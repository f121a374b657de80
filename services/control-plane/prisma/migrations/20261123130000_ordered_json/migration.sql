-- Documents, compiled IRs and catalogs are stored as `json` (the text as written), not `jsonb`
-- (which reorders object keys): property order of tool schemas, the order of an OpenAPI document's
-- operations and every other ordered mapping survive storage. Rows written before keep jsonb's order.
-- AlterTable
ALTER TABLE "connectors" ALTER COLUMN "descriptor" SET DATA TYPE JSON,
ALTER COLUMN "document" SET DATA TYPE JSON;

-- AlterTable
ALTER TABLE "workflow_deployments" ALTER COLUMN "references" SET DATA TYPE JSON,
ALTER COLUMN "ir" SET DATA TYPE JSON,
ALTER COLUMN "tools" SET DATA TYPE JSON;

-- AlterTable
ALTER TABLE "catalog_versions" ALTER COLUMN "catalog" SET DATA TYPE JSON;

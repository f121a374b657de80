-- A connector instance may send people's OAuth flows elsewhere than its document's endpoints (a self-hosted provider,
-- a provider's sandbox, a local mock): null keeps the document's.
ALTER TABLE "connector_instances" ADD COLUMN "oauth_urls" JSONB;

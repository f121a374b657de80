-- Pinned definitions of registered external MCP servers (ADR 0061). Rows that exist already accept every change
-- automatically, as before; new rows hold changes for review (the column's default becomes false).
ALTER TABLE "external_mcp_servers" ADD COLUMN "pins" JSONB;
ALTER TABLE "external_mcp_servers" ADD COLUMN "auto_accept" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE "external_mcp_servers" ALTER COLUMN "auto_accept" SET DEFAULT false;
ALTER TABLE "external_mcp_servers" ADD COLUMN "on_change" TEXT NOT NULL DEFAULT 'keep_pinned';
ALTER TABLE "external_mcp_servers" ADD COLUMN "notify_webhook_url" TEXT;

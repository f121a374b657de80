-- AlterTable
ALTER TABLE "mcp_servers" ADD COLUMN "rule_settings" JSONB;

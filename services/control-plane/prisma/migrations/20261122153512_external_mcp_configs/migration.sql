-- AlterTable
ALTER TABLE "mcp_servers" ADD COLUMN     "external_mcp_configs" JSONB NOT NULL DEFAULT '[]';

-- AlterTable
ALTER TABLE "mcp_servers" ADD COLUMN     "per_request_auth" BOOLEAN NOT NULL DEFAULT false;

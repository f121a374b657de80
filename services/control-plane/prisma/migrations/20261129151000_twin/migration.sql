-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "twin" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "execution_records" ADD COLUMN     "twin" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "mcp_servers" ADD COLUMN     "twin" TEXT NOT NULL DEFAULT 'off';

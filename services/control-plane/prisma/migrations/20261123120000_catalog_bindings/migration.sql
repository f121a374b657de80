-- AlterTable
ALTER TABLE "mcp_servers" ADD COLUMN     "binding_warnings" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "from_descriptor" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "reserved_tool_names" TEXT[] DEFAULT ARRAY[]::TEXT[];

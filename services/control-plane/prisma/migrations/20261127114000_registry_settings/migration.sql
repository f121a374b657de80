-- The MCP Registry a workspace reads from, and the namespace of its own servers in the registry it serves (ADR 0059).
ALTER TABLE "workspaces" ADD COLUMN "registry_url" TEXT;
ALTER TABLE "workspaces" ADD COLUMN "registry_namespace" TEXT;

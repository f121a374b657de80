-- CreateTable
CREATE TABLE "external_mcp_servers" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "header_secrets" JSONB NOT NULL DEFAULT '{}',
    "tools" JSONB NOT NULL DEFAULT '[]',
    "listed_at" TIMESTAMP(3),
    "list_error" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "external_mcp_servers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "mcp_server_external_servers" (
    "server_id" UUID NOT NULL,
    "external_server_id" UUID NOT NULL,
    "tools" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "position" INTEGER NOT NULL,

    CONSTRAINT "mcp_server_external_servers_pkey" PRIMARY KEY ("server_id","external_server_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "external_mcp_servers_workspace_id_name_key" ON "external_mcp_servers"("workspace_id", "name");

-- CreateIndex
CREATE INDEX "mcp_server_external_servers_external_server_id_idx" ON "mcp_server_external_servers"("external_server_id");

-- AddForeignKey
ALTER TABLE "external_mcp_servers" ADD CONSTRAINT "external_mcp_servers_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "mcp_server_external_servers" ADD CONSTRAINT "mcp_server_external_servers_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "mcp_servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "mcp_server_external_servers" ADD CONSTRAINT "mcp_server_external_servers_external_server_id_fkey" FOREIGN KEY ("external_server_id") REFERENCES "external_mcp_servers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

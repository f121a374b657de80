-- CreateTable
CREATE TABLE "workflow_deployments" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "state" TEXT NOT NULL,
    "format" TEXT,
    "digest" TEXT NOT NULL,
    "definition" TEXT NOT NULL,
    "references" JSONB NOT NULL DEFAULT '[]',
    "servers" JSONB NOT NULL DEFAULT '{}',
    "ir" JSONB,
    "tools" JSONB NOT NULL DEFAULT '[]',
    "warnings" JSONB NOT NULL DEFAULT '[]',
    "errors" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activated_at" TIMESTAMP(3),

    CONSTRAINT "workflow_deployments_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "workflow_deployments_server_id_created_at_idx" ON "workflow_deployments"("server_id", "created_at" DESC);

-- AddForeignKey
ALTER TABLE "workflow_deployments" ADD CONSTRAINT "workflow_deployments_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "mcp_servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

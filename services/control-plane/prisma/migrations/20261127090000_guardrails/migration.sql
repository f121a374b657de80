-- Guardrails on tool results (issue #62, ADR 0050).
CREATE TABLE "guardrails" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "server_id" UUID,
    "tools" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "detectors" JSONB NOT NULL,
    "action" TEXT NOT NULL,
    "enforce" BOOLEAN NOT NULL DEFAULT true,
    "max_bytes" INTEGER,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "guardrails_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "guardrails_workspace_id_name_key" ON "guardrails"("workspace_id", "name");

ALTER TABLE "guardrails" ADD CONSTRAINT "guardrails_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "guardrails" ADD CONSTRAINT "guardrails_server_id_fkey" FOREIGN KEY ("server_id") REFERENCES "mcp_servers"("id") ON DELETE CASCADE ON UPDATE CASCADE;

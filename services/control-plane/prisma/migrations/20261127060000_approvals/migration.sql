-- Approvals by someone else, "four eyes" (issue #61, ADR 0049).
ALTER TABLE "mcp_servers" ADD COLUMN "approval_tools" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN "approval_rule" JSONB;

CREATE TABLE "approvals" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "server_name" TEXT NOT NULL,
    "tool" TEXT NOT NULL,
    "binding" TEXT NOT NULL,
    "arguments_digest" TEXT NOT NULL,
    "arguments" JSONB NOT NULL,
    "requester" JSONB NOT NULL,
    "rule_version" TEXT NOT NULL,
    "rule" JSONB NOT NULL,
    "state" TEXT NOT NULL,
    "decisions" JSONB NOT NULL DEFAULT '[]',
    "requested_at" TIMESTAMP(3) NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "decided_at" TIMESTAMP(3),
    "executed_at" TIMESTAMP(3),
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "approvals_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "approvals_workspace_id_state_requested_at_idx" ON "approvals"("workspace_id", "state", "requested_at");

ALTER TABLE "approvals" ADD CONSTRAINT "approvals_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

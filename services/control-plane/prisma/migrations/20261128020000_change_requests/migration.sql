-- Four eyes on loosening (ADR 0079): the workspace's setting and the loosening changes waiting for approval.
CREATE TABLE "change_approval_settings" (
    "workspace_id" UUID NOT NULL,
    "enabled" BOOLEAN NOT NULL,
    "approvers" JSONB NOT NULL,
    "approvals" INTEGER NOT NULL,
    "expires_in_seconds" INTEGER NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "change_approval_settings_pkey" PRIMARY KEY ("workspace_id")
);

CREATE TABLE "change_requests" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "operation_id" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "body" JSONB,
    "body_digest" TEXT NOT NULL,
    "target_version" TEXT NOT NULL,
    "loosens" JSONB NOT NULL,
    "requester" JSONB NOT NULL,
    "caller" JSONB NOT NULL,
    "rule" JSONB NOT NULL,
    "state" TEXT NOT NULL,
    "decisions" JSONB NOT NULL DEFAULT '[]',
    "requested_at" TIMESTAMP(3) NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "decided_at" TIMESTAMP(3),
    "applied_at" TIMESTAMP(3),
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "change_requests_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "change_requests_workspace_id_state_requested_at_idx" ON "change_requests"("workspace_id", "state", "requested_at");

ALTER TABLE "change_approval_settings" ADD CONSTRAINT "change_approval_settings_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "change_requests" ADD CONSTRAINT "change_requests_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

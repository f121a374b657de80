-- Rules that see the session (ADR 0078): a workspace's session lifetime and session rules. Existing workspaces get
-- no row (no session kept until someone sets them); a new workspace gets the default rule, log only.
CREATE TABLE "session_settings" (
    "workspace_id" UUID NOT NULL,
    "ttl_seconds" INTEGER NOT NULL,
    "rules" JSONB NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "session_settings_pkey" PRIMARY KEY ("workspace_id")
);

ALTER TABLE "session_settings" ADD CONSTRAINT "session_settings_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Roles of the people signed in to a workspace (ADR 0053).
CREATE TABLE "role_mappings" (
    "workspace_id" UUID NOT NULL,
    "groups_claim" TEXT,
    "assignments" JSONB NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "role_mappings_pkey" PRIMARY KEY ("workspace_id")
);

ALTER TABLE "role_mappings" ADD CONSTRAINT "role_mappings_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- SCIM provisioning (ADR 0062): people's SCIM attributes, a token per workspace, groups and their members.
ALTER TABLE "external_users" ADD COLUMN "external_id" TEXT;
ALTER TABLE "external_users" ADD COLUMN "active" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE "external_users" ADD COLUMN "scim" JSONB;
ALTER TABLE "external_users" ADD COLUMN "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

CREATE TABLE "scim_tokens" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "prefix" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMP(3),

    CONSTRAINT "scim_tokens_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "scim_tokens_workspace_id_key" ON "scim_tokens"("workspace_id");
CREATE UNIQUE INDEX "scim_tokens_hash_key" ON "scim_tokens"("hash");
ALTER TABLE "scim_tokens" ADD CONSTRAINT "scim_tokens_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "scim_groups" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "display_name" TEXT NOT NULL,
    "external_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "scim_groups_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "scim_groups_workspace_id_display_name_key" ON "scim_groups"("workspace_id", "display_name");
ALTER TABLE "scim_groups" ADD CONSTRAINT "scim_groups_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "scim_group_members" (
    "group_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,

    CONSTRAINT "scim_group_members_pkey" PRIMARY KEY ("group_id", "user_id")
);
CREATE INDEX "scim_group_members_user_id_idx" ON "scim_group_members"("user_id");
ALTER TABLE "scim_group_members" ADD CONSTRAINT "scim_group_members_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "scim_groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "scim_group_members" ADD CONSTRAINT "scim_group_members_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "external_users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "server_ids" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "access_policies" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "principals" JSONB NOT NULL,
    "servers" TEXT[],
    "tools" TEXT[],
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "access_policies_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "access_policies_workspace_id_name_key" ON "access_policies"("workspace_id", "name");

-- AddForeignKey
ALTER TABLE "access_policies" ADD CONSTRAINT "access_policies_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Upgrade path (ADR 0013): x-username used to need no grant. Workspaces that already have external
-- users keep that behaviour through an explicit, visible policy (delete it to deny by default).
INSERT INTO "access_policies" ("id", "workspace_id", "name", "description", "principals", "servers", "tools", "updated_at")
SELECT gen_random_uuid(), w."id", 'legacy-external-users', 'Created by the access-policies migration: every external user may use every server and tool, as before.',
       '[{"type":"external_user","value":"*"}]'::jsonb, ARRAY['*'], ARRAY['*'], CURRENT_TIMESTAMP
FROM "workspaces" w
WHERE EXISTS (SELECT 1 FROM "external_users" u WHERE u."workspace_id" = w."id");

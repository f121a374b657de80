-- Workspace files (ADR 0042): a connector keeps the document as it was uploaded (what an export writes back), and the
-- resources a directory manages carry a marker with the references their secret values came from (never a value).
ALTER TABLE "connectors" ADD COLUMN "source" TEXT;

-- CreateTable
CREATE TABLE "managed_resources" (
    "workspace_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "file" TEXT NOT NULL,
    "references" JSONB NOT NULL DEFAULT '{}',
    "applied_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "managed_resources_pkey" PRIMARY KEY ("workspace_id","kind","name")
);

-- AddForeignKey
ALTER TABLE "managed_resources" ADD CONSTRAINT "managed_resources_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

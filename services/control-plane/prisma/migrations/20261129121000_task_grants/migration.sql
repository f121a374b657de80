-- CreateTable
CREATE TABLE "task_grants" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "purpose" TEXT NOT NULL,
    "person" TEXT NOT NULL,
    "tools" TEXT[],
    "bounds" JSONB NOT NULL,
    "calls" INTEGER NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "off_grant" TEXT NOT NULL,
    "mode" TEXT NOT NULL DEFAULT 'enforced',
    "revoked_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_grants_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "task_grants_workspace_id_expires_at_idx" ON "task_grants"("workspace_id", "expires_at");

-- AddForeignKey
ALTER TABLE "task_grants" ADD CONSTRAINT "task_grants_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

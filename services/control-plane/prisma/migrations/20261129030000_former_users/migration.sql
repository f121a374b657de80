-- Names of people gone without a row left to say so (deleted, renamed away): the record Redis's former-users hash is
-- republished from.
-- CreateTable
CREATE TABLE "former_users" (
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "person_id" UUID NOT NULL,
    "gone_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "former_users_pkey" PRIMARY KEY ("workspace_id","name")
);

-- AddForeignKey
ALTER TABLE "former_users" ADD CONSTRAINT "former_users_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

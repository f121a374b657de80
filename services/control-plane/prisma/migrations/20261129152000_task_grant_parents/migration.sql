-- AlterTable
ALTER TABLE "task_grants" ADD COLUMN     "parent_id" UUID;

-- CreateIndex
CREATE INDEX "task_grants_parent_id_idx" ON "task_grants"("parent_id");

-- AddForeignKey
ALTER TABLE "task_grants" ADD CONSTRAINT "task_grants_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "task_grants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

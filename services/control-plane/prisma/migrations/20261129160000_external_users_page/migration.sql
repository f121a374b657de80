-- CreateIndex
CREATE INDEX "external_users_workspace_id_created_at_id_idx" ON "external_users"("workspace_id", "created_at", "id");

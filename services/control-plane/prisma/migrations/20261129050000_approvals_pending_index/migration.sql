-- CreateIndex
CREATE INDEX "approvals_pending_idx" ON "approvals"("requested_at") WHERE (state = 'pending');

-- CreateIndex
CREATE INDEX "execution_records_debug_started_at_idx" ON "execution_records"("started_at") WHERE (debug IS NOT NULL);

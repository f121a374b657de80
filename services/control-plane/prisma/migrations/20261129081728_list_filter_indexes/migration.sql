-- CreateIndex
CREATE INDEX "audit_events_actor_id_idx" ON "audit_events"("chain", "actor_id", "seq");

-- CreateIndex
CREATE INDEX "audit_events_actor_name_idx" ON "audit_events"("chain", "actor_name", "seq");

-- CreateIndex
CREATE INDEX "audit_events_action_idx" ON "audit_events"("chain", "action", "seq");

-- CreateIndex
CREATE INDEX "audit_events_resource_type_idx" ON "audit_events"("chain", "resource_type", "seq");

-- CreateIndex
CREATE INDEX "audit_events_resource_id_idx" ON "audit_events"("chain", "resource_id", "seq");

-- CreateIndex
CREATE INDEX "audit_events_outcome_idx" ON "audit_events"("chain", "outcome", "seq") WHERE (outcome <> 'success');

-- CreateIndex
CREATE INDEX "execution_records_key_idx" ON "execution_records"("workspace_id", "key_id", "started_at" DESC, "id" DESC) WHERE (key_id IS NOT NULL);

-- CreateIndex
CREATE INDEX "execution_records_tool_idx" ON "execution_records"("workspace_id", "tool", "started_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "execution_records_username_idx" ON "execution_records"("workspace_id", "username", "started_at" DESC, "id" DESC) WHERE (username IS NOT NULL);

-- CreateIndex
CREATE INDEX "execution_records_outcome_idx" ON "execution_records"("workspace_id", "outcome", "started_at" DESC, "id" DESC) WHERE (outcome <> 'success');

-- CreateIndex
CREATE INDEX "execution_records_subject_idx" ON "execution_records"("workspace_id", "started_at" DESC, "id" DESC) WHERE ((steps #> '{caller,subject}'::text[]) IS NOT NULL);

-- CreateIndex
CREATE INDEX "execution_records_guardrails_idx" ON "execution_records"("workspace_id", "started_at" DESC, "id" DESC) WHERE (jsonb_typeof(steps #> '{guardrails}'::text[]) = 'array');

-- The audit trail (ADR 0037): one hash chain per workspace, append-only.
CREATE TABLE "audit_events" (
    "id" UUID NOT NULL,
    "chain" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "workspace_id" UUID,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actor_type" TEXT NOT NULL,
    "actor_id" TEXT,
    "actor_name" TEXT,
    "action" TEXT NOT NULL,
    "resource_type" TEXT NOT NULL,
    "resource_id" TEXT,
    "outcome" TEXT NOT NULL,
    "status" INTEGER,
    "request_id" TEXT,
    "trace_id" TEXT,
    "client_address" TEXT,
    "user_agent" TEXT,
    "changes" JSONB,
    "details" JSONB,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "audit_events_chain_seq_key" ON "audit_events"("chain", "seq");
CREATE INDEX "audit_events_workspace_id_at_idx" ON "audit_events"("workspace_id", "at");
CREATE INDEX "audit_events_request_id_idx" ON "audit_events"("request_id");

-- Append-only: no statement updates an event; only the retention (which sets toolplane.audit_retention for its own
-- transaction) deletes, and only events older than the retention it was given. TRUNCATE is refused as well.
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('toolplane.audit_retention', true) IS NOT NULL
     AND current_setting('toolplane.audit_retention', true) <> ''
     AND OLD."at" < current_setting('toolplane.audit_retention', true)::timestamptz THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit events are append-only (%)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "audit_events_append_only"
  BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();

CREATE TRIGGER "audit_events_no_truncate"
  BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();

-- Keys that administer the platform (the bootstrap key) may read the trail: the `audit` scope is not implied by
-- `management`, and without one such key nobody could grant it.
UPDATE "api_keys" SET "scopes" = array_append("scopes", 'audit') WHERE 'admin' = ANY("scopes") AND NOT 'audit' = ANY("scopes");

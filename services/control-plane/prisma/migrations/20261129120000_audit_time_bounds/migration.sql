-- The audit trail's time bounds through an index (ADR 0105): each event carries the latest `at` of its chain up to it
-- (`at_max`, never falling as `seq` grows), the events already stored get theirs from their chain's order; the
-- append-only trigger is set aside for this one backfill, inside the migration's transaction.
ALTER TABLE "audit_events" ADD COLUMN "at_max" TIMESTAMPTZ(3);

ALTER TABLE "audit_events" DISABLE TRIGGER "audit_events_append_only";
UPDATE "audit_events" e SET "at_max" = m."at_max"
  FROM (SELECT "id", max("at") OVER (PARTITION BY "chain" ORDER BY "seq") AS "at_max" FROM "audit_events") m
  WHERE e."id" = m."id";
ALTER TABLE "audit_events" ENABLE TRIGGER "audit_events_append_only";

ALTER TABLE "audit_events" ALTER COLUMN "at_max" SET NOT NULL;

-- CreateIndex
CREATE INDEX "audit_events_at_max_idx" ON "audit_events"("chain", "at_max", "seq");

-- CreateIndex
CREATE INDEX "audit_events_late_idx" ON "audit_events"("chain", "seq") WHERE (at < at_max);

-- The audit trail's time bounds through an index (ADR 0105): each event carries its chain's latest `at` up to it less
-- a minute (`at_floor`, never falling as `seq` grows); the events already stored get theirs from their chain's order,
-- the append-only trigger set aside for this one backfill, inside the migration's transaction.
ALTER TABLE "audit_events" ADD COLUMN "at_floor" TIMESTAMPTZ(3);

ALTER TABLE "audit_events" DISABLE TRIGGER "audit_events_append_only";
UPDATE "audit_events" e SET "at_floor" = m."at_floor"
  FROM (SELECT "id", max("at") OVER (PARTITION BY "chain" ORDER BY "seq") - interval '1 minute' AS "at_floor"
          FROM "audit_events") m
  WHERE e."id" = m."id";
ALTER TABLE "audit_events" ENABLE TRIGGER "audit_events_append_only";

ALTER TABLE "audit_events" ALTER COLUMN "at_floor" SET NOT NULL;

-- CreateIndex
CREATE INDEX "audit_events_at_floor_idx" ON "audit_events"("chain", "at_floor", "seq");

-- CreateIndex
CREATE INDEX "audit_events_late_idx" ON "audit_events"("chain", "seq") WHERE (at < at_floor);

-- Exporters of the audit trail, their cursors per chain and their dead letters (ADR 0065).
CREATE TABLE "audit_exporters" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "target" JSONB NOT NULL,
    "secret_name" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "audit_exporters_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "audit_export_cursors" (
    "exporter_id" UUID NOT NULL,
    "chain" TEXT NOT NULL,
    "seq" INTEGER NOT NULL DEFAULT 0,
    "lease_holder" TEXT,
    "lease_until" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "single" BOOLEAN NOT NULL DEFAULT false,
    "next_attempt_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "last_error_at" TIMESTAMPTZ(3),
    "failing_since" TIMESTAMPTZ(3),
    "last_delivered_at" TIMESTAMPTZ(3),

    CONSTRAINT "audit_export_cursors_pkey" PRIMARY KEY ("exporter_id","chain")
);

CREATE TABLE "audit_export_dead_letters" (
    "id" UUID NOT NULL,
    "exporter_id" UUID NOT NULL,
    "chain" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "event_id" UUID NOT NULL,
    "error" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_export_dead_letters_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "audit_exporters_workspace_id_name_key" ON "audit_exporters"("workspace_id", "name");

CREATE INDEX "audit_export_dead_letters_exporter_id_at_idx" ON "audit_export_dead_letters"("exporter_id", "at");

ALTER TABLE "audit_exporters" ADD CONSTRAINT "audit_exporters_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "audit_export_cursors" ADD CONSTRAINT "audit_export_cursors_exporter_id_fkey" FOREIGN KEY ("exporter_id") REFERENCES "audit_exporters"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "audit_export_dead_letters" ADD CONSTRAINT "audit_export_dead_letters_exporter_id_fkey" FOREIGN KEY ("exporter_id") REFERENCES "audit_exporters"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Quotas and budgets (issue #60, ADR 0048).
CREATE TABLE "quotas" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "match" JSONB NOT NULL,
    "counts" TEXT NOT NULL,
    "limit" INTEGER NOT NULL,
    "window" TEXT,
    "time_zone" TEXT,
    "per" TEXT,
    "enforce" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "quotas_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "quotas_workspace_id_name_key" ON "quotas"("workspace_id", "name");

ALTER TABLE "quotas" ADD CONSTRAINT "quotas_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateTable
CREATE TABLE "execution_records" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "catalog_version" INTEGER NOT NULL,
    "tool" TEXT NOT NULL,
    "key_id" TEXT,
    "username" TEXT,
    "started_at" TIMESTAMP(3) NOT NULL,
    "duration_ms" DOUBLE PRECISION NOT NULL,
    "outcome" TEXT NOT NULL,
    "error_code" TEXT,
    "message" TEXT,
    "steps" JSONB NOT NULL,

    CONSTRAINT "execution_records_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "execution_records_workspace_id_started_at_id_idx" ON "execution_records"("workspace_id", "started_at" DESC, "id");

-- CreateIndex
CREATE INDEX "execution_records_server_id_started_at_idx" ON "execution_records"("server_id", "started_at" DESC);

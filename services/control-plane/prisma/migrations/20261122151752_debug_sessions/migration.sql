-- AlterTable
ALTER TABLE "execution_records" ADD COLUMN     "debug" JSONB,
ADD COLUMN     "debug_session_id" UUID;

-- CreateTable
CREATE TABLE "debug_sessions" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "opened_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ends_at" TIMESTAMP(3) NOT NULL,
    "closed_at" TIMESTAMP(3),
    "opened_by_key_id" TEXT,

    CONSTRAINT "debug_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "debug_sessions_server_id_ends_at_idx" ON "debug_sessions"("server_id", "ends_at");

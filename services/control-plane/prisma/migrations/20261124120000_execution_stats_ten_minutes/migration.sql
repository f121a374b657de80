-- CreateTable
CREATE TABLE "execution_stats_ten_minutes" (
    "workspace_id" UUID NOT NULL,
    "server_id" UUID NOT NULL,
    "tool" TEXT NOT NULL,
    "minute" TIMESTAMP(3) NOT NULL,
    "calls" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,
    "duration_sum_ms" DOUBLE PRECISION NOT NULL,
    "duration_max_ms" DOUBLE PRECISION NOT NULL,
    "latency_buckets" INTEGER[],

    CONSTRAINT "execution_stats_ten_minutes_pkey" PRIMARY KEY ("server_id","tool","minute")
);

-- CreateIndex
CREATE INDEX "execution_stats_ten_minutes_workspace_id_minute_idx" ON "execution_stats_ten_minutes"("workspace_id", "minute");

-- The usage rollup (ADR 0048, GET /usage): calls and cost units per workspace, UTC day, server, tool, API key and
-- person, written by the statement that stores execution records.
CREATE TABLE "usage_days" (
    "workspace_id" UUID NOT NULL,
    "day" DATE NOT NULL,
    "server_id" UUID NOT NULL,
    "tool" TEXT NOT NULL,
    "key_id" TEXT NOT NULL,
    "person" TEXT NOT NULL,
    "calls" INTEGER NOT NULL,
    "cost_units" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "usage_days_pkey" PRIMARY KEY ("workspace_id","day","server_id","tool","key_id","person")
);

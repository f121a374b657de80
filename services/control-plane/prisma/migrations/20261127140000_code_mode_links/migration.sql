-- Code mode (ADR 0068): a call a `run_code` program made names the program's invocation; a NORMAL server may list
-- `run_code` beside its tools.
ALTER TABLE "execution_records" ADD COLUMN "parent_invocation_id" UUID;

CREATE INDEX "execution_records_parent_invocation_id_idx" ON "execution_records"("parent_invocation_id");

ALTER TABLE "mcp_servers" ADD COLUMN "code_mode" BOOLEAN NOT NULL DEFAULT false;

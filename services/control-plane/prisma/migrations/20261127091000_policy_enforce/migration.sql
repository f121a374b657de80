-- An access policy's condition in log-only mode (enforce = false): it refuses nothing, the edges record what it would.
ALTER TABLE "access_policies" ADD COLUMN "enforce" BOOLEAN NOT NULL DEFAULT true;

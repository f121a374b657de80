-- What a guardrail scans: results (in the worker) and/or a call's arguments (at the edge); existing ones scan results.
ALTER TABLE "guardrails" ADD COLUMN "scans" TEXT[] DEFAULT ARRAY['results']::TEXT[];

-- An access policy's outcome when its condition is false: refuse, or require someone else's approval (ADR 0049).
ALTER TABLE "access_policies" ADD COLUMN "on_false" TEXT NOT NULL DEFAULT 'refuse',
ADD COLUMN "approval" JSONB;

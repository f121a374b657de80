-- An access policy's grant may carry a CEL condition (issue #49, ADR 0036): null = the grant always applies.
ALTER TABLE "access_policies" ADD COLUMN "condition" TEXT;

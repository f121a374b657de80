-- Four eyes by effect (ADR 0087, issue #89): who created each API key, so that no key decides its creator's change.
-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "created_by" JSONB;

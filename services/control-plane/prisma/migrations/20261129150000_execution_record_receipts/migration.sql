-- Each recorded call's signed receipt and the salts of its digests, as the worker made them (ADR 0111).
ALTER TABLE "execution_records" ADD COLUMN "receipt" JSONB;

-- The arguments of each recorded call, sealed to the backtest's key by the worker (ADR 0080).
ALTER TABLE "execution_records" ADD COLUMN "sealed_arguments" TEXT;

-- AlterTable
ALTER TABLE "connectors" ADD COLUMN     "document" JSONB,
ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'descriptor';

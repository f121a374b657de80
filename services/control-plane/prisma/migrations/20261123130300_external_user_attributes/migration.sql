-- AlterTable
ALTER TABLE "external_users" ADD COLUMN     "attributes" JSONB NOT NULL DEFAULT '{}';

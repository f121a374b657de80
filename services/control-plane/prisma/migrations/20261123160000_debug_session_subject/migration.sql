-- AlterTable
ALTER TABLE "debug_sessions" ADD COLUMN     "opened_by_subject" TEXT;

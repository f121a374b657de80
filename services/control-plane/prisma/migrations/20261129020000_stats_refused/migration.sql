-- AlterTable
ALTER TABLE "execution_stats_minutes" ADD COLUMN     "refused" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "execution_stats_ten_minutes" ADD COLUMN     "refused" INTEGER NOT NULL DEFAULT 0;

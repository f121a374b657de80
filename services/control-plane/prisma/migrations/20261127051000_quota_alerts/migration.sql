-- A quota's alert webhook (ADR 0048): where its 80 and 100 % alerts are POSTed.
ALTER TABLE "quotas" ADD COLUMN "alert_webhook_url" TEXT;

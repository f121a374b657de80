-- People's OAuth connections (connect links) are listed beside pushed credentials.
ALTER TABLE "user_connections" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'credentials';

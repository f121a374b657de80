-- People's approval links (ADR 0049): one person's link to decide one request, stored as its token's SHA-256.
CREATE TABLE "approval_links" (
    "id" UUID NOT NULL,
    "token_hash" TEXT NOT NULL,
    "approval_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "person" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "used_at" TIMESTAMP(3),

    CONSTRAINT "approval_links_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "approval_links_token_hash_key" ON "approval_links"("token_hash");

CREATE INDEX "approval_links_approval_id_idx" ON "approval_links"("approval_id");

CREATE INDEX "approval_links_user_id_idx" ON "approval_links"("user_id");

ALTER TABLE "approval_links" ADD CONSTRAINT "approval_links_approval_id_fkey" FOREIGN KEY ("approval_id") REFERENCES "approvals"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "approval_links" ADD CONSTRAINT "approval_links_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "external_users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- People's links to decide change requests (ADR 0079), as approval links are for calls (ADR 0049).
CREATE TABLE "change_request_links" (
    "id" UUID NOT NULL,
    "token_hash" TEXT NOT NULL,
    "change_request_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "person" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "used_at" TIMESTAMP(3),

    CONSTRAINT "change_request_links_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "change_request_links_token_hash_key" ON "change_request_links"("token_hash");

CREATE INDEX "change_request_links_change_request_id_idx" ON "change_request_links"("change_request_id");

CREATE INDEX "change_request_links_user_id_idx" ON "change_request_links"("user_id");

ALTER TABLE "change_request_links" ADD CONSTRAINT "change_request_links_change_request_id_fkey" FOREIGN KEY ("change_request_id") REFERENCES "change_requests"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "change_request_links" ADD CONSTRAINT "change_request_links_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "external_users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

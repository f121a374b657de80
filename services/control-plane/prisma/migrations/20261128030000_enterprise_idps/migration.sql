-- Enterprise-managed authorization (ADR 0082): the IdPs whose ID-JAGs the edges redeem, per workspace.
CREATE TABLE "enterprise_idps" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "jwks_url" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "client_secret_hash" TEXT NOT NULL,
    "user_claim" TEXT NOT NULL DEFAULT 'sub',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "enterprise_idps_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "enterprise_idps_workspace_id_name_key" ON "enterprise_idps"("workspace_id", "name");

CREATE UNIQUE INDEX "enterprise_idps_workspace_id_issuer_client_id_key" ON "enterprise_idps"("workspace_id", "issuer", "client_id");

ALTER TABLE "enterprise_idps" ADD CONSTRAINT "enterprise_idps_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

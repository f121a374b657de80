-- CreateTable
CREATE TABLE "external_users" (
    "id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "external_users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "user_connections" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "connector_instance_id" UUID NOT NULL,
    "credential_keys" TEXT[],
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "user_connections_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "external_users_workspace_id_name_key" ON "external_users"("workspace_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "user_connections_user_id_connector_instance_id_key" ON "user_connections"("user_id", "connector_instance_id");

-- AddForeignKey
ALTER TABLE "user_connections" ADD CONSTRAINT "user_connections_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "external_users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

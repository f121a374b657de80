-- The x-request-id a client sent, kept beside the event's own request id (which the control plane always mints).
ALTER TABLE "audit_events" ADD COLUMN "client_request_id" TEXT;

-- crm-gateway: API tokens (stored as SHA-256 hex, never in clear) and the inbound delivery archive.
CREATE TABLE IF NOT EXISTS api_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    user_id     bigint NOT NULL,
    role        text NOT NULL,
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS api_tokens_user_idx ON api_tokens (user_id);

-- Every accepted inbound webhook delivery, verbatim. (source, external_id) is the sender's
-- delivery id: the unique index is what makes a repeated delivery idempotent across instances.
CREATE TABLE IF NOT EXISTS deliveries (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,
    external_id     text,
    content_type    text NOT NULL DEFAULT '',
    body            bytea NOT NULL,
    correlation_id  text NOT NULL DEFAULT '',
    received_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deliveries_source_external_key UNIQUE (source, external_id)
);

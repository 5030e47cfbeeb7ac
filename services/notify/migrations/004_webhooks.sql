-- crm-notify: outbound webhooks (SPEC G3).
CREATE TABLE webhook_subscriptions (
    id               bigserial PRIMARY KEY,
    url              text NOT NULL,
    event_types      text[] NOT NULL,
    secret           text NOT NULL,
    secondary_secret text,
    active           boolean NOT NULL DEFAULT true,
    created_by       bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Every event crm-notify consumed from leads, deals and assign, with the JSON body a delivery
-- POSTs; kept for replays of a time range. seq is the order notify applied them in.
CREATE TABLE webhook_events (
    seq         bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    body        text NOT NULL
);
CREATE INDEX webhook_events_time ON webhook_events (occurred_at);

-- One per (subscription, event), written in the transaction that consumed the event.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_seq       bigint NOT NULL REFERENCES webhook_events (seq),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    last_status     int,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    window_start    timestamptz NOT NULL DEFAULT now(), -- retries stop give_up_seconds after this
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (subscription_id, event_seq) WHERE status = 'pending';

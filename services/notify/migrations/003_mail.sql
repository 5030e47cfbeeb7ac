-- crm-notify: e-mails to send (SPEC G2), written in the same transaction as the event that asks
-- for them; the sender thread sends pending rows and marks them sent. One per event and user.
CREATE TABLE mail_outbox (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL,
    kind            text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    event_id        text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    recipient       text,          -- the address it went to (from crm-assign users.get)
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (event_id, user_id)
);
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at, id) WHERE status = 'pending';

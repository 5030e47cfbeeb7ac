-- crm-notify: the in-app notification inbox.
CREATE TABLE notifications (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL,
    kind          text NOT NULL,
    resource_type text,
    resource_id   bigint,
    message       text NOT NULL,
    read          boolean NOT NULL DEFAULT false,
    -- The event that caused it: one notification per event and user, even under replay.
    event_id      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, user_id)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, read, id DESC);

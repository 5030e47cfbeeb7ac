-- crm-notify: each user's notification settings, one row per event kind the user changed.
-- A kind without a row has the defaults of notify_kinds in store.c.
CREATE TABLE notification_settings (
    user_id    bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('assigned', 'deal_stage_changed', 'lead_stale', 'task_due')),
    in_app     boolean NOT NULL,
    email      boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);
ALTER TABLE notifications ADD COLUMN read_at timestamptz;

-- crm-gateway: the Firehose (SELL_API §8) and the Sync API (§7), both built from the records'
-- events (lead.*, contact.*, deal.*, note.created, task.*) consumed through the inbox
-- (stream.c), never from the services' tables.

-- One row per change of a record. Rows are inserted under a transaction advisory lock, so
-- positions become visible in order: a reader that sees position n has seen every row below n.
-- data is the record after the change; previous holds the old values of the top-level fields
-- that changed ({} on created). Pruned after gateway.stream.retention_seconds (72 h).
CREATE TABLE IF NOT EXISTS stream_events (
    position     bigserial PRIMARY KEY,
    resource     text NOT NULL,        -- lead | contact | deal | note | task
    record_id    bigint NOT NULL,
    event_type   text NOT NULL,        -- created | updated | deleted
    event_cause  text NOT NULL,        -- the bus topic that caused it (lead.status_changed, ...)
    event_id     text NOT NULL,        -- the event's envelope id
    revision     integer NOT NULL,     -- the record's change count after this change
    owner_id     bigint,
    data         jsonb NOT NULL,
    previous     jsonb NOT NULL DEFAULT '{}',
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS stream_events_resource_idx ON stream_events (resource, position);
CREATE INDEX IF NOT EXISTS stream_events_created_idx ON stream_events (created_at);

-- The latest state of every record seen on the bus (never pruned): what `previous` is diffed
-- against and what the Sync API delivers. position is the stream row of its last change.
CREATE TABLE IF NOT EXISTS stream_records (
    resource    text NOT NULL,
    record_id   bigint NOT NULL,
    revision    integer NOT NULL,
    position    bigint NOT NULL,
    owner_id    bigint,
    deleted     boolean NOT NULL DEFAULT false,
    data        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resource, record_id)
);
CREATE INDEX IF NOT EXISTS stream_records_position_idx ON stream_records (position);

-- Sync API: a device is a X-Basecrm-Device-UUID under one user. synced_position: every
-- stream_records change up to there is already in the device's sync_items.
CREATE TABLE IF NOT EXISTS sync_devices (
    id               bigserial PRIMARY KEY,
    user_id          bigint NOT NULL,
    device_uuid      text NOT NULL,
    synced_position  bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_devices_user_device_key UNIQUE (user_id, device_uuid)
);

CREATE TABLE IF NOT EXISTS sync_sessions (
    id          uuid PRIMARY KEY,
    device_id   bigint NOT NULL REFERENCES sync_devices (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Per device and record: the revision the device should get and the one it acknowledged;
-- pending while revision > acked_revision (at-least-once: an unacked item stays pending and
-- goes into the device's next session). session_id / sent: the session delivering it.
CREATE TABLE IF NOT EXISTS sync_items (
    device_id       bigint NOT NULL REFERENCES sync_devices (id) ON DELETE CASCADE,
    resource        text NOT NULL,
    record_id       bigint NOT NULL,
    revision        integer NOT NULL,
    acked_revision  integer NOT NULL DEFAULT 0,
    position        bigint NOT NULL,
    session_id      uuid,
    sent            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (device_id, resource, record_id)
);
CREATE INDEX IF NOT EXISTS sync_items_pending_idx ON sync_items (device_id, session_id, position)
    WHERE revision > acked_revision;

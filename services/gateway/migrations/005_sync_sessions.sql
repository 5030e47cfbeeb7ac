-- crm-gateway Sync API (SELL_API §7), issue 9: the cap on active sessions and visibility loss.

-- A session is active from its start until its queue answered 204 (drained) or the device started
-- another one (superseded); sessions older than a day are pruned. At most gateway.sync.max_sessions
-- (100) are active per user at once.
ALTER TABLE sync_sessions ADD COLUMN IF NOT EXISTS closed_at timestamptz;
CREATE INDEX IF NOT EXISTS sync_sessions_active_idx ON sync_sessions (device_id) WHERE closed_at IS NULL;

-- hidden: the device's (sales) user no longer sees the record (its owner changed to someone
-- else): the item is delivered once as deleted with only the id, and the record's later changes
-- are not sent until it is visible again (then it comes as created).
ALTER TABLE sync_items ADD COLUMN IF NOT EXISTS hidden boolean NOT NULL DEFAULT false;

-- crm-gateway: delivery archive retention (gateway.delivery_retention_seconds, retention.c).
-- An accepted delivery keeps its row for good (its (source, external_id) is the dedupe key: a
-- redelivery months later must still answer 200 with the first delivery id, nothing new) but its
-- raw body is dropped (NULL) once older than the retention; refused, ignored and duplicate
-- deliveries are deleted. The partial index holds only rows still carrying a body, i.e. the
-- pruning candidates: a pass reads what it prunes, not the archive.
ALTER TABLE deliveries ALTER COLUMN body DROP NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_body_kept_idx ON deliveries (received_at) WHERE body IS NOT NULL;

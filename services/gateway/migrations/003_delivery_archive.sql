-- crm-gateway: the delivery archive keeps every inbound delivery, not only the accepted ones:
-- refused (4xx/503) and ignored (200) deliveries too, with the answer given and why. Only
-- accepted and ignored deliveries carry external_id (the dedupe key); a refused one keeps the
-- sender's id in sender_delivery_id so that its retry is still processed.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS outcome text NOT NULL DEFAULT 'accepted';
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS reason text NOT NULL DEFAULT 'ok';
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS status integer NOT NULL DEFAULT 202;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS sender_delivery_id text;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS details text NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS events integer NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS deliveries_outcome_idx ON deliveries (outcome, id);
CREATE INDEX IF NOT EXISTS deliveries_source_idx ON deliveries (source, id);

-- crm-assign: per-member pool rules (weight, cap on open records, absence), a fallback owner per
-- pool, the current owner of every record (for caps), and a richer assignment log (explain).
ALTER TABLE pools ADD COLUMN fallback_owner_id bigint REFERENCES users (id);
-- With weights the cursor is (last_position, turns_used): the member at last_position has had
-- turns_used turns in a row in the current round.
ALTER TABLE pools ADD COLUMN turns_used integer NOT NULL DEFAULT 0;

ALTER TABLE pool_members ADD COLUMN weight integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 100);
ALTER TABLE pool_members ADD COLUMN max_open integer CHECK (max_open IS NULL OR max_open > 0);
ALTER TABLE pool_members ADD COLUMN away_until timestamptz;

-- The owner of each record as assign last saw it, and whether the record is closed (lead
-- converted or unqualified, deal won or lost). A member's open count is the number of its rows
-- here that are not closed.
CREATE TABLE ownership (
    resource_type text NOT NULL,
    resource_id   bigint NOT NULL,
    owner_id      bigint NOT NULL,
    closed        boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resource_type, resource_id)
);
CREATE INDEX ownership_open_idx ON ownership (resource_type, owner_id) WHERE NOT closed;

ALTER TABLE assignments ADD COLUMN kind text NOT NULL DEFAULT 'round_robin';
ALTER TABLE assignments ADD COLUMN previous_owner_id bigint;
ALTER TABLE assignments ADD COLUMN skipped jsonb NOT NULL DEFAULT '[]';
ALTER TABLE assignments ADD COLUMN turn integer;
ALTER TABLE assignments ADD COLUMN weight integer;
ALTER TABLE assignments ADD COLUMN changed_by bigint;
CREATE INDEX assignments_pool_time_idx ON assignments (pool_id, created_at);

-- crm-leads, issue 8 (session 5): owners in bulk and the import's digest.
--
-- Record ids reserved for the rows of a batch before crm-assign picks their owners
-- (assign.pick_bulk is idempotent per record id): the reservation commits on its own, before the
-- batch's transaction, so that a batch retried after a failure (or resumed after a crash) gets the
-- same ids and therefore the same owners, and the pool cursor moves once per row. The batch's
-- transaction deletes the reservations it used. One row per batch (arrays), not per row.
CREATE TABLE import_reservations (
    seq        bigserial PRIMARY KEY,
    import_id  text NOT NULL,
    first_line bigint NOT NULL,
    last_line  bigint NOT NULL,
    lines      bigint[] NOT NULL,
    ids        bigint[] NOT NULL
);
CREATE INDEX import_reservations_import_idx ON import_reservations (import_id, last_line);

-- Per owner, what an import gave them (import.finished's owners), moved with each batch.
CREATE TABLE import_owner_counts (
    import_id text NOT NULL,
    owner_id  bigint NOT NULL,
    created   bigint NOT NULL DEFAULT 0,
    merged    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (import_id, owner_id)
);

-- Contacts imports: the import and file line a contact was made from, as for leads.
ALTER TABLE contacts
    ADD COLUMN import_id   text,
    ADD COLUMN import_line bigint;
CREATE UNIQUE INDEX contacts_import_line_idx ON contacts (import_id, import_line) WHERE import_id IS NOT NULL;

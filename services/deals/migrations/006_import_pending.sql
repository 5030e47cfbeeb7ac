-- crm-deals: the deal ids reserved for the lines of an import batch in flight. A retried batch
-- reuses them, so crm-assign (assign.pick_bulk, idempotent per deal id) picks each line's owner
-- once even when the batch's transaction failed after the pick; the batch that stores the lines
-- deletes their rows.
CREATE TABLE import_pending (
    import_id text NOT NULL,
    line      bigint NOT NULL,
    deal_id   bigint NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- crm-leads, issue 8: bulk CSV import (SPEC A3). One row per import (crmctl derives its id from
-- the file's content and the resource type): the watermark (last physical line stored, byte
-- offset after it) and the counts, moved in the same transaction as each batch, so that a rerun
-- resumes after the last committed batch and never stores a row twice.
CREATE TABLE imports (
    id            text PRIMARY KEY,
    resource_type text NOT NULL,
    file_name     text,
    owner_id      bigint,
    pool_id       bigint,
    last_line     bigint NOT NULL DEFAULT 0,
    end_offset    bigint NOT NULL DEFAULT 0,
    created       bigint NOT NULL DEFAULT 0,
    merged        bigint NOT NULL DEFAULT 0,
    duplicates    bigint NOT NULL DEFAULT 0,
    rejected      bigint NOT NULL DEFAULT 0,
    flagged       bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);

-- The import and file line a lead was made from: (import_id, import_line) is unique, a second
-- guard besides the watermark.
ALTER TABLE leads
    ADD COLUMN import_id   text,
    ADD COLUMN import_line bigint;
CREATE UNIQUE INDEX leads_import_line_idx ON leads (import_id, import_line) WHERE import_id IS NOT NULL;

-- crm-deals: bulk CSV import (deals.import_batch, SPEC A3). One row per import: its watermark
-- (the last file line stored; rows at or below it are skipped, so a resumed run or a retried
-- batch never stores a row twice), the byte offset to resume from, and the counts.
CREATE TABLE imports (
    id            text PRIMARY KEY,
    resource_type text NOT NULL DEFAULT 'deal',
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

-- The import and file line a deal came from: a second guard against storing a line twice, and
-- the per-owner counts of import.finished.
ALTER TABLE deals ADD COLUMN import_id text;
ALTER TABLE deals ADD COLUMN import_line bigint;
CREATE UNIQUE INDEX deals_import_line ON deals (import_id, import_line) WHERE import_id IS NOT NULL;

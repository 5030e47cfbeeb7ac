-- crm-leads, issue 8 (session 8): every lead written (a capture, an API create, each imported row)
-- pays for every index of the table; three were shaped worse than they need be.
-- 1. leads_email_idx (lower(email)) served only GET /v2/leads?email=; the dedup key email_norm
--    (lower(btrim(email)), migration 002) answers that filter as well (records.c compares
--    email_norm with the same normalisation of the argument). One index on email_norm for all
--    leads replaces both it and the open-leads-only one.
-- 2. The phone key's index covers all leads as well. While it held open leads only, it was also an
--    index of "converted_at IS NULL": with statistics from a young table the planner read all of
--    it for each key of a dedup lookup (a bitmap AND with the e-mail index), which took seconds
--    per import batch at 50,000 leads. The dedup lookups filter the few converted leads.
DROP INDEX IF EXISTS leads_email_idx;
DROP INDEX IF EXISTS leads_email_norm_open_idx;
CREATE INDEX leads_email_norm_idx ON leads (email_norm);
DROP INDEX IF EXISTS leads_phone_norm_open_idx;
CREATE INDEX leads_phone_norm_idx ON leads (phone_norm);
-- 3. capture_delivery_id is set only on leads captured from a webhook delivery: the unique index
--    held a NULL entry for every other lead. Only set values need the uniqueness.
ALTER TABLE leads DROP CONSTRAINT IF EXISTS leads_capture_delivery_id_key;
CREATE UNIQUE INDEX leads_capture_delivery_idx ON leads (capture_delivery_id)
    WHERE capture_delivery_id IS NOT NULL;

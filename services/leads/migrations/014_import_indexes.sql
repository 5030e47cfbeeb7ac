-- crm-leads, issue 8 (session 6): every imported row pays for every index of its table, so drop
-- the two single-column indexes that composite ones already cover (a b-tree serves equality on a
-- leading column just as well): leads_owner_updated_idx (owner_id, updated_at, id) answers
-- "owner_id = $1" (visibility of a sales user, reminders, notes/calls of own leads) and
-- leads_status_updated_idx (status, updated_at, id) answers "status = ..." filters. Same for
-- contacts_owner_idx, covered by contacts_owner_updated_idx. One index entry (and one WAL
-- record) less per row and index.
DROP INDEX IF EXISTS leads_owner_idx;
DROP INDEX IF EXISTS leads_status_idx;
DROP INDEX IF EXISTS contacts_owner_idx;

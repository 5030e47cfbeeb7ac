-- crm-leads, issue 8 (session 6): the "imported" timeline entry of a record an import CREATED is
-- no longer a row of lead_activities / contact_activities (one row, four index entries and a
-- foreign-key check per imported row): the timeline views derive it from the record itself
-- (import_id, import_line, created_at) and the import's file name. Its id is 10^15 + the record's
-- id (disjoint from the activity ids, a bigserial). Merges into existing records still write
-- their "Imported again, merged" row. Rows written by earlier versions for created records are
-- removed so that the entry is not shown twice.
DELETE FROM lead_activities a USING leads l
 WHERE a.lead_id = l.id AND a.kind = 'imported' AND a.value = l.import_id AND a.summary LIKE 'Imported from %';
DELETE FROM contact_activities a USING contacts c
 WHERE a.contact_id = c.id AND a.kind = 'imported' AND a.value = c.import_id
   AND a.summary LIKE 'Imported from %';

CREATE OR REPLACE VIEW lead_timeline AS
    SELECT id, lead_id AS resource_id, kind, summary, actor_id, created_at, ticket_source, ticket_id,
           ticket_subject, ticket_status, ticket_url, previous_value, value
      FROM lead_activities
    UNION ALL
    SELECT 1000000000000000 + l.id, l.id, 'imported',
           'Imported from ' || coalesce(nullif(i.file_name, ''), 'a CSV file') || ', line ' || l.import_line,
           NULL::bigint, l.created_at, NULL, NULL, NULL, NULL, NULL, NULL, l.import_id
      FROM leads l JOIN imports i ON i.id = l.import_id;

CREATE OR REPLACE VIEW contact_timeline AS
    SELECT id, contact_id AS resource_id, kind, summary, actor_id, created_at, ticket_source, ticket_id,
           ticket_subject, ticket_status, ticket_url, previous_value, value
      FROM contact_activities
    UNION ALL
    SELECT 1000000000000000 + c.id, c.id, 'imported',
           'Imported from ' || coalesce(nullif(i.file_name, ''), 'a CSV file') || ', line ' || c.import_line,
           NULL::bigint, c.created_at, NULL, NULL, NULL, NULL, NULL, NULL, c.import_id
      FROM contacts c JOIN imports i ON i.id = c.import_id;

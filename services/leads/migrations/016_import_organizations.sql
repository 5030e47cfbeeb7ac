-- crm-leads, issue 8 (session 7): a contacts import makes an organization contact for a company that
-- persons of the file name and that no organization has; it is stored with import_line = -L, L the
-- first line naming the company (the key its id is reserved under). Its "Imported from" timeline
-- entry says so instead of showing a negative line.
CREATE OR REPLACE VIEW contact_timeline AS
    SELECT id, contact_id AS resource_id, kind, summary, actor_id, created_at, ticket_source, ticket_id,
           ticket_subject, ticket_status, ticket_url, previous_value, value
      FROM contact_activities
    UNION ALL
    SELECT 1000000000000000 + c.id, c.id, 'imported',
           'Imported from ' || coalesce(nullif(i.file_name, ''), 'a CSV file') ||
           CASE WHEN c.import_line < 0 THEN ', the company named on line ' || -c.import_line
                ELSE ', line ' || c.import_line END,
           NULL::bigint, c.created_at, NULL, NULL, NULL, NULL, NULL, NULL, c.import_id
      FROM contacts c JOIN imports i ON i.id = c.import_id;

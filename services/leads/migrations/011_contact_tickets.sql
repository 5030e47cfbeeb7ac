-- A support ticket or chat whose requester is already a contact (same e-mail) is linked on the
-- contact's timeline (SPEC C5), one row per (source, ticket id) like lead_activities' links.
ALTER TABLE contact_activities
    ADD COLUMN ticket_source  text,
    ADD COLUMN ticket_id      text,
    ADD COLUMN ticket_subject text,
    ADD COLUMN ticket_status  text,
    ADD COLUMN ticket_url     text;
CREATE UNIQUE INDEX contact_activities_ticket_idx ON contact_activities (ticket_source, ticket_id)
    WHERE ticket_id IS NOT NULL;
CREATE INDEX contact_activities_event_idx ON contact_activities (event_id) WHERE kind = 'captured';
CREATE OR REPLACE VIEW contact_timeline AS
    SELECT id, contact_id AS resource_id, kind, summary, actor_id, created_at, ticket_source, ticket_id,
           ticket_subject, ticket_status, ticket_url, previous_value, value
      FROM contact_activities;

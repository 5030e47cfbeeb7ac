-- crm-leads: smart lists over contacts too (SPEC C3), and the indexes their filters and default
-- order use on contacts, as 005 did for leads.
ALTER TABLE smart_lists DROP CONSTRAINT smart_lists_resource_type_check;
ALTER TABLE smart_lists ADD CONSTRAINT smart_lists_resource_type_check
    CHECK (resource_type IN ('lead', 'contact'));

CREATE INDEX contacts_tags_gin ON contacts USING gin (tags);
CREATE INDEX contacts_custom_fields_gin ON contacts USING gin (custom_fields jsonb_path_ops);
CREATE INDEX contacts_updated_idx ON contacts (updated_at, id);
CREATE INDEX contacts_owner_updated_idx ON contacts (owner_id, updated_at, id);
CREATE INDEX contacts_created_idx ON contacts (created_at, id);
CREATE INDEX contact_activities_contact_created_idx ON contact_activities (contact_id, created_at);

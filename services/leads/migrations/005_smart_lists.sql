-- crm-leads: saved smart lists (SPEC C3) and the indexes their filters use on leads.
CREATE TABLE smart_lists (
    id            bigserial PRIMARY KEY,
    creator_id    bigint,
    name          text NOT NULL,
    resource_type text NOT NULL CHECK (resource_type IN ('lead')),
    filter        jsonb NOT NULL DEFAULT '{}',
    sort_by       text NOT NULL DEFAULT 'updated_at:desc',
    shared        boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX smart_lists_creator_idx ON smart_lists (creator_id);

-- Filters: tags (@>, &&) and custom fields (@> {"name": value}) through GIN; status and owner
-- with the default order (updated_at) so a first page is an index range; last activity per lead.
CREATE INDEX leads_tags_gin ON leads USING gin (tags);
CREATE INDEX leads_custom_fields_gin ON leads USING gin (custom_fields jsonb_path_ops);
CREATE INDEX leads_status_updated_idx ON leads (status, updated_at, id);
CREATE INDEX leads_owner_updated_idx ON leads (owner_id, updated_at, id);
CREATE INDEX leads_created_idx ON leads (created_at, id);
CREATE INDEX lead_activities_lead_created_idx ON lead_activities (lead_id, created_at);

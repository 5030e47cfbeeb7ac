-- crm-leads, issue 3: the whole lead and contact records, the dedup keys, the timeline of both,
-- lead conversions.
ALTER TABLE leads
    ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN converted_at  timestamptz,
    -- Dedup keys (SPEC A4): the e-mail lower-cased and trimmed, the phone in E.164.
    ADD COLUMN email_norm    text GENERATED ALWAYS AS (nullif(lower(btrim(email)), '')) STORED,
    ADD COLUMN phone_norm    text;
CREATE INDEX leads_email_norm_open_idx ON leads (email_norm) WHERE converted_at IS NULL;
CREATE INDEX leads_phone_norm_open_idx ON leads (phone_norm) WHERE converted_at IS NULL;
CREATE INDEX leads_status_idx ON leads (status);

-- The timeline: who (actor_id) and what changed; a linked support ticket or chat (SPEC C5) is one
-- row per (source, ticket id), updated by later captures of the same ticket.
ALTER TABLE lead_activities
    ADD COLUMN previous_value text,
    ADD COLUMN value          text,
    ADD COLUMN ticket_source  text,
    ADD COLUMN ticket_id      text,
    ADD COLUMN ticket_subject text,
    ADD COLUMN ticket_status  text,
    ADD COLUMN ticket_url     text;
CREATE INDEX lead_activities_event_idx ON lead_activities (event_id) WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX lead_activities_ticket_idx ON lead_activities (ticket_source, ticket_id)
    WHERE ticket_id IS NOT NULL;

CREATE TABLE contacts (
    id                     bigserial PRIMARY KEY,
    creator_id             bigint,
    owner_id               bigint,
    is_organization        boolean NOT NULL DEFAULT false,
    contact_id             bigint,
    parent_organization_id bigint,
    name                   text,
    first_name             text,
    last_name              text,
    customer_status        text,
    prospect_status        text,
    title                  text,
    description            text,
    industry               text,
    website                text,
    email                  text,
    phone                  text,
    mobile                 text,
    fax                    text,
    twitter                text,
    facebook               text,
    linkedin               text,
    skype                  text,
    address_line1          text,
    address_city           text,
    address_postal_code    text,
    address_state          text,
    address_country        text,
    tags                   text[] NOT NULL DEFAULT '{}',
    custom_fields          jsonb NOT NULL DEFAULT '{}',
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_owner_idx ON contacts (owner_id);
CREATE INDEX contacts_email_idx ON contacts (lower(email));
CREATE INDEX contacts_last_name_idx ON contacts (last_name, id);
CREATE INDEX contacts_org_name_idx ON contacts (lower(name)) WHERE is_organization;
CREATE INDEX contacts_contact_idx ON contacts (contact_id);

CREATE TABLE contact_activities (
    id             bigserial PRIMARY KEY,
    contact_id     bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind           text NOT NULL,
    actor_id       bigint,
    summary        text NOT NULL,
    event_id       text,
    previous_value text,
    value          text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_activities_contact_idx ON contact_activities (contact_id, id);

-- One conversion per lead (UNIQUE): converting twice is a conflict, never two contacts.
CREATE TABLE lead_conversions (
    id              bigserial PRIMARY KEY,
    lead_id         bigint NOT NULL UNIQUE,
    individual_id   bigint NOT NULL,
    organization_id bigint,
    deal_id         bigint,
    creator_id      bigint,
    owner_id        bigint,
    assign_pool_id  bigint,
    -- The deal asked for; crm-deals makes at most one per conversion id (RPC or lead.converted).
    create_deal     boolean NOT NULL DEFAULT false,
    deal_name       text,
    deal_value      text,
    deal_currency   text,
    pipeline_id     bigint,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The timeline of a lead as the API shows it. Other record kinds (notes, tasks) join it by
-- replacing this view in a later migration with a UNION ALL of the same columns.
CREATE VIEW lead_timeline AS
    SELECT id, lead_id AS resource_id, kind, summary, actor_id, created_at, ticket_source, ticket_id,
           ticket_subject, ticket_status, ticket_url, previous_value, value
      FROM lead_activities;
CREATE VIEW contact_timeline AS
    SELECT id, contact_id AS resource_id, kind, summary, actor_id, created_at, NULL::text AS ticket_source,
           NULL::text AS ticket_id, NULL::text AS ticket_subject, NULL::text AS ticket_status,
           NULL::text AS ticket_url, previous_value, value
      FROM contact_activities;

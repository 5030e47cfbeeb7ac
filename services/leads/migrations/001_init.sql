-- crm-leads: leads, their sources and their timeline.
CREATE TABLE lead_sources (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE leads (
    id                    bigserial PRIMARY KEY,
    creator_id            bigint,
    owner_id              bigint,
    first_name            text,
    last_name             text,
    organization_name     text,
    status                text NOT NULL DEFAULT 'New',
    source_id             bigint REFERENCES lead_sources (id),
    title                 text,
    description           text,
    industry              text,
    website               text,
    email                 text,
    phone                 text,
    mobile                text,
    fax                   text,
    twitter               text,
    facebook              text,
    linkedin              text,
    skype                 text,
    address_line1         text,
    address_city          text,
    address_postal_code   text,
    address_state         text,
    address_country       text,
    tags                  text[] NOT NULL DEFAULT '{}',
    unqualified_reason_id bigint,
    -- The gateway delivery this lead was captured from: a replayed lead.captured finds it here
    -- and creates nothing (idempotent capture, DESIGN §4).
    capture_delivery_id   bigint UNIQUE,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_email_idx ON leads (lower(email));
CREATE INDEX leads_owner_idx ON leads (owner_id);
CREATE INDEX leads_updated_idx ON leads (updated_at, id);

-- The timeline (SPEC C4): everything that happened to a lead, in order.
CREATE TABLE lead_activities (
    id         bigserial PRIMARY KEY,
    lead_id    bigint NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    actor_id   bigint,
    summary    text NOT NULL,
    event_id   text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_activities_lead_idx ON lead_activities (lead_id, id);

-- crm-leads (issue 9): calls and call outcomes, text messages, visits and visit outcomes, and the
-- industry lists of leads and contacts (SELL_API.md §6.17–§6.20).

-- Outcomes of calls and of visits: seeded defaults (Sell creates them in its UI only).
CREATE TABLE call_outcomes (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO call_outcomes (name) VALUES ('Interested'), ('Not interested'), ('Left voicemail'),
    ('No answer'), ('Busy'), ('Wrong number'), ('Call back later');

CREATE TABLE visit_outcomes (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO visit_outcomes (name) VALUES ('Met decision maker'), ('Met someone else'), ('Nobody there'),
    ('Follow-up needed');

-- Calls on leads, contacts and deals (deals live in crm-deals: no foreign key, as notes).
CREATE TABLE calls (
    id                  bigserial PRIMARY KEY,
    creator_id          bigint,
    user_id             bigint,
    summary             text,
    recording_url       text,
    outcome_id          bigint REFERENCES call_outcomes (id) ON DELETE SET NULL,
    duration            integer CHECK (duration >= 0),
    phone_number        text,
    incoming            boolean NOT NULL DEFAULT false,
    missed              boolean NOT NULL DEFAULT false,
    external_id         text,
    resource_type       text NOT NULL CHECK (resource_type IN ('lead', 'contact', 'deal')),
    resource_id         bigint NOT NULL,
    associated_deal_ids bigint[] NOT NULL DEFAULT '{}',
    made_at             timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_resource_idx ON calls (resource_type, resource_id);
CREATE INDEX calls_user_idx ON calls (user_id);
CREATE INDEX calls_creator_idx ON calls (creator_id);

-- Text messages and visits: read-only in the API (written by integrations such as a phone or a
-- mobile app; Sell has no public write endpoint for them).
CREATE TABLE text_messages (
    id                    bigserial PRIMARY KEY,
    user_id               bigint,
    user_phone_number     text,
    content               text NOT NULL DEFAULT '',
    incoming              boolean NOT NULL DEFAULT false,
    resource_type         text CHECK (resource_type IN ('lead', 'contact', 'deal')),
    resource_id           bigint,
    resource_phone_number text,
    associated_deal_ids   bigint[] NOT NULL DEFAULT '{}',
    sent_at               timestamptz NOT NULL DEFAULT now(),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX text_messages_resource_idx ON text_messages (resource_type, resource_id);

CREATE TABLE visits (
    id                               bigserial PRIMARY KEY,
    creator_id                       bigint,
    outcome_id                       bigint REFERENCES visit_outcomes (id) ON DELETE SET NULL,
    resource_type                    text CHECK (resource_type IN ('lead', 'contact', 'deal')),
    resource_id                      bigint,
    visited_at                       timestamptz NOT NULL DEFAULT now(),
    resource_address                 text,
    rep_location_verification_status text,
    summary                          text,
    created_at                       timestamptz NOT NULL DEFAULT now(),
    updated_at                       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visits_resource_idx ON visits (resource_type, resource_id);

-- The industries offered for leads and contacts (GET /v2/{lead|contact}/industries).
CREATE TABLE industries (
    name text PRIMARY KEY
);
INSERT INTO industries (name) VALUES ('Accounting'), ('Advertising'), ('Aerospace'), ('Agriculture'),
    ('Apparel'), ('Automotive'), ('Banking'), ('Biotechnology'), ('Chemicals'), ('Communications'),
    ('Construction'), ('Consulting'), ('Education'), ('Electronics'), ('Energy'), ('Engineering'),
    ('Entertainment'), ('Environmental'), ('Finance'), ('Food & Beverage'), ('Government'),
    ('Healthcare'), ('Hospitality'), ('Insurance'), ('Legal'), ('Machinery'), ('Manufacturing'),
    ('Media'), ('Not For Profit'), ('Other'), ('Real Estate'), ('Recreation'), ('Retail'),
    ('Shipping'), ('Technology'), ('Telecommunications'), ('Transportation'), ('Utilities');

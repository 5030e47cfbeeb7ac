-- crm-deals: deals, their contacts, stage history, reasons and sources (SPEC E1, E3, E4, D2).

-- Stages are reordered by shifting positions inside one statement: check uniqueness at commit.
ALTER TABLE stages DROP CONSTRAINT stages_pipeline_id_position_key;
ALTER TABLE stages ADD CONSTRAINT stages_pipeline_id_position_key UNIQUE (pipeline_id, position)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE loss_reasons (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deal_unqualified_reasons (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deal_sources (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deals (
    id                        bigserial PRIMARY KEY,
    creator_id                bigint,
    owner_id                  bigint,
    name                      text NOT NULL,
    value                     numeric(18, 2) NOT NULL DEFAULT 0,
    currency                  text NOT NULL DEFAULT 'USD',
    hot                       boolean NOT NULL DEFAULT false,
    pipeline_id               bigint NOT NULL REFERENCES pipelines (id),
    stage_id                  bigint NOT NULL REFERENCES stages (id),
    contact_id                bigint,
    organization_id           bigint,
    estimated_close_date      date,
    loss_reason_id            bigint REFERENCES loss_reasons (id),
    unqualified_reason_id     bigint REFERENCES deal_unqualified_reasons (id),
    source_id                 bigint REFERENCES deal_sources (id),
    tags                      text[] NOT NULL DEFAULT '{}',
    custom_fields             jsonb NOT NULL DEFAULT '{}',
    customized_win_likelihood integer CHECK (customized_win_likelihood BETWEEN 0 AND 100),
    monthly_payment           numeric(18, 2),
    contract_value            numeric(18, 2),
    unsorted                  boolean NOT NULL DEFAULT false, -- created by the system, no rep touched it yet
    conversion_id             bigint UNIQUE,                  -- the lead conversion that made it (D2)
    added_on                  timestamptz NOT NULL DEFAULT now(),
    last_stage_change_at      timestamptz NOT NULL DEFAULT now(),
    last_stage_change_by_id   bigint,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deals_owner ON deals (owner_id);
CREATE INDEX deals_stage ON deals (stage_id, last_stage_change_at);
CREATE INDEX deals_contact ON deals (contact_id);

CREATE TABLE deal_contacts (
    deal_id    bigint NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    contact_id bigint NOT NULL,
    role       text NOT NULL DEFAULT 'involved',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deal_id, contact_id)
);

-- One row per stay of a deal in a stage (E4 history, E6 funnel): entered by a move (or the
-- creation, from_stage_id NULL), closed by the next move (left_at, next_stage_id).
CREATE TABLE stage_changes (
    id            bigserial PRIMARY KEY,
    deal_id       bigint NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    pipeline_id   bigint NOT NULL,
    from_stage_id bigint,
    stage_id      bigint NOT NULL,
    changed_by    bigint,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    reason_id     bigint,
    left_at       timestamptz,
    next_stage_id bigint
);
CREATE INDEX stage_changes_deal ON stage_changes (deal_id, id);

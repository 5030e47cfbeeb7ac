-- crm-leads (issue 3, part 2): lead sources CRUD, lead unqualified reasons, notes, tasks, tags,
-- custom field definitions and smart lists.
ALTER TABLE lead_sources ADD COLUMN resource_type text NOT NULL DEFAULT 'lead';

CREATE TABLE lead_unqualified_reasons (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO lead_unqualified_reasons (name) VALUES ('Not interested'), ('No budget'), ('Unreachable');

-- Notes on leads, contacts and deals (resource_id is the record's id in its own table or
-- service: deals live in crm-deals, so no foreign key).
CREATE TABLE notes (
    id            bigserial PRIMARY KEY,
    creator_id    bigint,
    content       text NOT NULL,
    resource_type text NOT NULL CHECK (resource_type IN ('lead', 'contact', 'deal')),
    resource_id   bigint NOT NULL,
    is_important  boolean NOT NULL DEFAULT false,
    tags          text[] NOT NULL DEFAULT '{}',
    type          text NOT NULL DEFAULT 'regular',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_resource_idx ON notes (resource_type, resource_id);
CREATE INDEX notes_creator_idx ON notes (creator_id);
CREATE INDEX notes_updated_idx ON notes (updated_at, id);

-- Tasks: on a record, or floating (no resource).
CREATE TABLE tasks (
    id            bigserial PRIMARY KEY,
    creator_id    bigint,
    owner_id      bigint,
    content       text NOT NULL,
    resource_type text CHECK (resource_type IN ('lead', 'contact', 'deal')),
    resource_id   bigint,
    due_date      timestamptz,
    remind_at     timestamptz,
    completed     boolean NOT NULL DEFAULT false,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((resource_type IS NULL) = (resource_id IS NULL))
);
CREATE INDEX tasks_owner_idx ON tasks (owner_id, completed, due_date);
CREATE INDEX tasks_resource_idx ON tasks (resource_type, resource_id);
CREATE INDEX tasks_updated_idx ON tasks (updated_at, id);
-- Open tasks by due date: the overdue filter and the task.due scan.
CREATE INDEX tasks_open_due_idx ON tasks (due_date) WHERE NOT completed;

CREATE TABLE tags (
    id            bigserial PRIMARY KEY,
    creator_id    bigint,
    name          text NOT NULL,
    resource_type text NOT NULL CHECK (resource_type IN ('lead', 'contact', 'deal')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resource_type, name)
);

-- Custom field definitions; choices of list types are an ordered text array, a choice's id is
-- its 1-based position.
CREATE TABLE custom_fields (
    id            bigserial PRIMARY KEY,
    resource_type text NOT NULL CHECK (resource_type IN ('lead', 'contact', 'deal')),
    name          text NOT NULL,
    type          text NOT NULL,
    choices       text[] NOT NULL DEFAULT '{}',
    for_company   boolean,
    for_contact   boolean,
    creator_id    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resource_type, name)
);

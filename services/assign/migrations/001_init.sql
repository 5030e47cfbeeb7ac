-- crm-assign: users, distribution pools and the assignment log.
CREATE TABLE users (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('admin', 'manager', 'sales')),
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE pools (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    resource_type text NOT NULL CHECK (resource_type IN ('lead', 'contact', 'deal')),
    is_default    boolean NOT NULL DEFAULT false,
    -- Round-robin cursor (SPEC B2): the position of the member who had the last turn. It lives
    -- here, read and moved under this row's lock, so every path and every crm-assign instance
    -- shares one sequence of turns.
    last_position integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- At most one default pool per record type.
CREATE UNIQUE INDEX pools_one_default ON pools (resource_type) WHERE is_default;

CREATE TABLE pool_members (
    pool_id  bigint NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users (id),
    position integer NOT NULL,   -- turn order; a member added later gets max + 1
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool_id, user_id),
    UNIQUE (pool_id, position)
);

CREATE TABLE assignments (
    id             bigserial PRIMARY KEY,
    resource_type  text NOT NULL,
    resource_id    bigint NOT NULL,
    owner_id       bigint NOT NULL,
    pool_id        bigint,
    -- The event that asked for the assignment: one assignment per cause, even under replay.
    cause_event_id text NOT NULL UNIQUE,
    explanation    text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignments_resource_idx ON assignments (resource_type, resource_id);

-- crm-assign: teams of users (members in order, an optional manager) and the account record
-- behind GET /v2/accounts/self.
CREATE TABLE teams (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    manager_id bigint REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_name_key ON teams (lower(name));

CREATE TABLE team_members (
    team_id  bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users (id),
    position integer NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

-- One row: the account this installation serves.
CREATE TABLE account (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    name        text NOT NULL DEFAULT 'CRM',
    currency    text NOT NULL DEFAULT 'USD',
    time_format text NOT NULL DEFAULT '24H',
    timezone    text NOT NULL DEFAULT 'UTC+00:00',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO account (id) VALUES (1) ON CONFLICT DO NOTHING;

-- crm-deals: pipelines and stages, with the default pipeline every new account gets (SPEC E2).
CREATE TABLE pipelines (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    disabled   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stages (
    id          bigserial PRIMARY KEY,
    pipeline_id bigint NOT NULL REFERENCES pipelines (id),
    name        text NOT NULL,
    category    text NOT NULL CHECK (category IN ('incoming', 'in_progress', 'won', 'lost', 'unqualified')),
    position    integer NOT NULL,
    likelihood  integer NOT NULL CHECK (likelihood BETWEEN 0 AND 100),
    active      boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline_id, position),
    UNIQUE (pipeline_id, name)
);

WITH p AS (INSERT INTO pipelines (name) VALUES ('Sales Pipeline') RETURNING id)
INSERT INTO stages (pipeline_id, name, category, position, likelihood, active)
SELECT p.id, s.name, s.category, s.position, s.likelihood, s.active
FROM p, (VALUES ('Incoming', 'incoming', 1, 10, true),
                ('Qualified', 'in_progress', 2, 25, true),
                ('Quote', 'in_progress', 3, 50, true),
                ('Closure', 'in_progress', 4, 75, true),
                ('Won', 'won', 5, 100, false),
                ('Unqualified', 'unqualified', 6, 0, false),
                ('Lost', 'lost', 7, 0, false)) AS s (name, category, position, likelihood, active);

-- crm-deals: the funnel's won value per currency. Migration 003 added the values of deals in
-- different currencies together. Now each stay remembers what it counted into the funnel when it
-- opened (the deal's currency and value if the stage is a won one, else '' and 0), funnel_daily
-- is kept per currency ('' for the rows of other stages), and an owner change moves exactly what
-- the stay counted (the deal's value may have changed since).
ALTER TABLE stage_changes
    ADD COLUMN currency text NOT NULL DEFAULT '',
    ADD COLUMN won_value numeric(20, 2) NOT NULL DEFAULT 0;

-- (for the won stays made before this migration, the deal's current currency and value stand in)
UPDATE stage_changes c SET currency = d.currency, won_value = d.value
FROM stages s, deals d
WHERE s.id = c.stage_id AND s.category = 'won' AND d.id = c.deal_id;

ALTER TABLE funnel_daily ADD COLUMN currency text NOT NULL DEFAULT '';
ALTER TABLE funnel_daily DROP CONSTRAINT funnel_daily_pkey;
ALTER TABLE funnel_daily ADD PRIMARY KEY (pipeline_id, stage_id, day, owner_id, currency);

CREATE OR REPLACE FUNCTION funnel_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE funnel_daily;
    INSERT INTO funnel_daily (pipeline_id, stage_id, day, owner_id, currency, entered, onward, lost, time_sum,
                              time_n, won_value)
    SELECT c.pipeline_id, c.stage_id, (c.changed_at AT TIME ZONE 'UTC')::date, c.owner_id, c.currency, count(*),
           count(*) FILTER (WHERE n.position > s.position AND n.pipeline_id = s.pipeline_id
                            AND n.category NOT IN ('lost', 'unqualified')),
           count(*) FILTER (WHERE n.category IN ('lost', 'unqualified')),
           coalesce(sum(extract(epoch FROM c.left_at - c.changed_at)) FILTER (WHERE c.left_at IS NOT NULL), 0),
           count(*) FILTER (WHERE c.left_at IS NOT NULL),
           sum(c.won_value)
    FROM stage_changes c
    JOIN stages s ON s.id = c.stage_id
    LEFT JOIN stages n ON n.id = c.next_stage_id
    GROUP BY 1, 2, 3, 4, 5;
$$;

-- The funnel of a pipeline: per stage in order, over the deals that entered between from_day and
-- to_day (inclusive, NULL = open) and owned by one of owners (NULL = everyone). won_values:
-- {"EUR": "1000.00", ...}, one entry per currency of the deals that entered the (won) stage, {}
-- when none; won_total: the same over every won stage of the pipeline (on every row).
DROP FUNCTION funnel_report(bigint, date, date, bigint[]);
CREATE FUNCTION funnel_report(p_pipeline bigint, from_day date, to_day date, owners bigint[])
RETURNS TABLE (stage_id bigint, name text, category text, pos integer, entered bigint, onward bigint,
               lost bigint, avg_seconds double precision, won_values jsonb, won_total jsonb)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT f.stage_id, f.currency, sum(f.entered) AS entered, sum(f.onward) AS onward,
               sum(f.lost) AS lost, sum(f.time_sum) AS time_sum, sum(f.time_n) AS time_n,
               sum(f.won_value) AS won_value
        FROM funnel_daily f
        WHERE f.pipeline_id = p_pipeline
          AND (from_day IS NULL OR f.day >= from_day) AND (to_day IS NULL OR f.day <= to_day)
          AND (owners IS NULL OR f.owner_id = ANY (owners))
        GROUP BY 1, 2),
    t AS (
        SELECT coalesce(jsonb_object_agg(currency, v::numeric(20, 2)::text), '{}') AS total
        FROM (SELECT f.currency, sum(f.won_value) AS v FROM f
              WHERE f.currency <> '' AND f.entered > 0 GROUP BY 1) w)
    SELECT s.id, s.name, s.category, s.position, coalesce(sum(f.entered), 0)::bigint,
           coalesce(sum(f.onward), 0)::bigint, coalesce(sum(f.lost), 0)::bigint,
           CASE WHEN sum(f.time_n) > 0 THEN sum(f.time_sum) / sum(f.time_n) END,
           coalesce(jsonb_object_agg(f.currency, f.won_value::numeric(20, 2)::text)
                        FILTER (WHERE f.currency <> '' AND f.entered > 0), '{}'),
           t.total
    FROM stages s
    CROSS JOIN t
    LEFT JOIN f ON f.stage_id = s.id
    WHERE s.pipeline_id = p_pipeline
    GROUP BY s.id, t.total
    ORDER BY s.position;
$$;

SELECT funnel_rebuild();

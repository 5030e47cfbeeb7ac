-- crm-deals: the funnel report (SPEC E6) from the stage history. Each stay in stage_changes is
-- counted, when it opens and when it closes, into funnel_daily: one row per pipeline, stage,
-- owner (at the time the deal entered the stage; 0 = none) and UTC day the deal entered. The
-- report sums those rows, so it does not depend on the size of the history.
ALTER TABLE stage_changes ADD COLUMN owner_id bigint NOT NULL DEFAULT 0;

CREATE TABLE funnel_daily (
    pipeline_id bigint NOT NULL,
    stage_id    bigint NOT NULL,
    day         date NOT NULL,
    owner_id    bigint NOT NULL,
    entered     bigint NOT NULL DEFAULT 0,   -- stays opened (deals that entered the stage)
    onward      bigint NOT NULL DEFAULT 0,   -- left for a later, not lost/unqualified stage
    lost        bigint NOT NULL DEFAULT 0,   -- left for a lost or unqualified stage
    time_sum    double precision NOT NULL DEFAULT 0, -- seconds spent, over the closed stays
    time_n      bigint NOT NULL DEFAULT 0,
    won_value   numeric(20, 2) NOT NULL DEFAULT 0,   -- value of the deals entering a won stage
    PRIMARY KEY (pipeline_id, stage_id, day, owner_id)
);

-- Recomputes funnel_daily from the whole history (used here and by bench/funnel). The service
-- keeps it up to date move by move (store_deals.c record_stay).
CREATE FUNCTION funnel_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE funnel_daily;
    INSERT INTO funnel_daily (pipeline_id, stage_id, day, owner_id, entered, onward, lost, time_sum, time_n,
                              won_value)
    SELECT c.pipeline_id, c.stage_id, (c.changed_at AT TIME ZONE 'UTC')::date, c.owner_id, count(*),
           count(*) FILTER (WHERE n.position > s.position AND n.pipeline_id = s.pipeline_id
                            AND n.category NOT IN ('lost', 'unqualified')),
           count(*) FILTER (WHERE n.category IN ('lost', 'unqualified')),
           coalesce(sum(extract(epoch FROM c.left_at - c.changed_at)) FILTER (WHERE c.left_at IS NOT NULL), 0),
           count(*) FILTER (WHERE c.left_at IS NOT NULL),
           coalesce(sum(d.value) FILTER (WHERE s.category = 'won'), 0)
    FROM stage_changes c
    JOIN stages s ON s.id = c.stage_id
    LEFT JOIN stages n ON n.id = c.next_stage_id
    LEFT JOIN deals d ON d.id = c.deal_id AND s.category = 'won'
    GROUP BY 1, 2, 3, 4;
$$;

-- The funnel of a pipeline: per stage in order, over the deals that entered between from_day and
-- to_day (inclusive, NULL = open) and owned by one of owners (NULL = everyone).
CREATE FUNCTION funnel_report(p_pipeline bigint, from_day date, to_day date, owners bigint[])
RETURNS TABLE (stage_id bigint, name text, category text, pos integer, entered bigint, onward bigint,
               lost bigint, avg_seconds double precision, won_value numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.id, s.name, s.category, s.position, coalesce(sum(f.entered), 0)::bigint,
           coalesce(sum(f.onward), 0)::bigint, coalesce(sum(f.lost), 0)::bigint,
           CASE WHEN sum(f.time_n) > 0 THEN sum(f.time_sum) / sum(f.time_n) END,
           coalesce(sum(f.won_value), 0)
    FROM stages s
    LEFT JOIN funnel_daily f ON f.pipeline_id = s.pipeline_id AND f.stage_id = s.id
         AND (from_day IS NULL OR f.day >= from_day) AND (to_day IS NULL OR f.day <= to_day)
         AND (owners IS NULL OR f.owner_id = ANY (owners))
    WHERE s.pipeline_id = p_pipeline
    GROUP BY s.id
    ORDER BY s.position;
$$;

SELECT funnel_rebuild();

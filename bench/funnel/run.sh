#!/usr/bin/env bash
# bench/funnel/run.sh [DEALS] [OWNERS]: the funnel report benchmark (SPEC E6), run by hand.
# Starts a private stack under var/bench-funnel (own ports), loads DEALS deals (default
# 1,000,000) of OWNERS owners (default 50) into the default pipeline over the last 365 days,
# each with 5 moves (Incoming → Qualified → Quote → Qualified → Closure → Won or Lost), i.e.
# 6 stays per deal in deals.stage_changes, with generate_series; rebuilds the funnel summary
# (deals.funnel_rebuild(), what the service otherwise keeps up to date move by move) and times
# GET /v2/reports/funnel through the gateway (curl, 20 runs each: everyone, one owner, one
# quarter), plus EXPLAIN ANALYZE of the SQL behind it. Target: under 200 ms.
# CRM_SKIP_BUILD=1 uses the existing ./build instead of building a Release one.
set -euo pipefail
cd "$(dirname "$0")/../.."
deals=${1:-1000000}
owners=${2:-50}
export CRM_DATA_DIR=${CRM_DATA_DIR:-$PWD/var/bench-funnel}
export CRM_HTTP_PORT=${CRM_HTTP_PORT:-18081}
export CRM_PG_PORT=${CRM_PG_PORT:-15434}
db="postgresql://postgres@127.0.0.1:${CRM_PG_PORT}/crm"
base="http://127.0.0.1:${CRM_HTTP_PORT}"

./run.sh start >/dev/null
trap './run.sh stop >/dev/null 2>&1 || true' EXIT
token=$(cat "$CRM_DATA_DIR/admin.token")

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
echo "== loading $deals deals × 5 moves ($owners owners)"
start=$(date +%s)
psql -q -v ON_ERROR_STOP=1 "$db" <<SQL
SET search_path = deals;
SET synchronous_commit = off;
CREATE TEMP TABLE bench_path AS
SELECT (SELECT id FROM stages WHERE pipeline_id = p.id AND position = 1) AS incoming,
       (SELECT id FROM stages WHERE pipeline_id = p.id AND position = 2) AS qualified,
       (SELECT id FROM stages WHERE pipeline_id = p.id AND position = 3) AS quote,
       (SELECT id FROM stages WHERE pipeline_id = p.id AND position = 4) AS closure,
       (SELECT id FROM stages WHERE pipeline_id = p.id AND category = 'won') AS won,
       (SELECT id FROM stages WHERE pipeline_id = p.id AND category = 'lost') AS lost,
       p.id AS pipeline_id,
       coalesce((SELECT max(id) FROM deals), 0) AS base
FROM pipelines p WHERE p.id = (SELECT min(id) FROM pipelines);
-- The deals: entered over the last year, owner g % owners + 1, one in three won.
INSERT INTO deals (id, creator_id, owner_id, name, value, pipeline_id, stage_id, added_on, created_at,
                   updated_at, last_stage_change_at)
SELECT b.base + g, 1, g % $owners + 1, 'Bench deal ' || g, (g % 100) * 10 + 0.5, b.pipeline_id,
       CASE WHEN g % 3 = 0 THEN b.won ELSE b.lost END,
       t0, t0, t0 + interval '10 days', t0 + interval '10 days'
FROM bench_path b, generate_series(1, $deals) g,
     LATERAL (SELECT now() - interval '375 days' + (g % 365) * interval '1 day' AS t0) t;
SELECT setval(pg_get_serial_sequence('deals.deals', 'id'), (SELECT max(id) FROM deals));
-- Six stays each, two days apart.
INSERT INTO stage_changes (deal_id, pipeline_id, from_stage_id, stage_id, changed_by, changed_at, left_at,
                           next_stage_id, owner_id, currency, won_value)
SELECT b.base + g, b.pipeline_id, path[k], path[k + 1], g % $owners + 1,
       t0 + (k - 1) * interval '2 days', CASE WHEN k < 6 THEN t0 + k * interval '2 days' END, path[k + 2],
       g % $owners + 1, CASE WHEN path[k + 1] = b.won THEN 'USD' ELSE '' END,
       CASE WHEN path[k + 1] = b.won THEN (g % 100) * 10 + 0.5 ELSE 0 END
FROM bench_path b, generate_series(1, $deals) g,
     LATERAL (SELECT now() - interval '375 days' + (g % 365) * interval '1 day' AS t0,
                     ARRAY[NULL, b.incoming, b.qualified, b.quote, b.qualified, b.closure,
                           CASE WHEN g % 3 = 0 THEN b.won ELSE b.lost END, NULL]::bigint[] AS path) t,
     generate_series(1, 6) k;
SELECT funnel_rebuild();
ANALYZE;
SQL
echo "== loaded in $(( $(date +%s) - start )) s: $(psql -tA "$db" -c 'SELECT count(*) FROM deals.deals') deals, $(psql -tA "$db" -c 'SELECT count(*) FROM deals.stage_changes') stays, $(psql -tA "$db" -c 'SELECT count(*) FROM deals.funnel_daily') summary rows"

pipeline=$(psql -tA "$db" -c 'SELECT min(id) FROM deals.pipelines')
from=$(date -u -d '-90 days' +%F)
to=$(date -u +%F)
timeit() {
  local q=$1 t=()
  curl -fsS -H "Authorization: Bearer $token" "$base/v2/reports/funnel?$q" -o /tmp/bench-funnel.json
  for _ in $(seq 20); do
    t+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "$base/v2/reports/funnel?$q")")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk -v q="$q" '{a[NR] = $1 * 1000} END {
    printf "GET /v2/reports/funnel?%s: median %.1f ms, max %.1f ms (20 runs)\n", q, a[int((NR + 1) / 2)], a[NR] }'
}
echo "== HTTP (gateway → crm-deals → Postgres)"
timeit "pipeline_id=$pipeline"
echo "== report (everyone):"
python3 -c 'import json; d = json.load(open("/tmp/bench-funnel.json"))["data"]
for s in d["stages"]: print("  %-12s entered %8d  converted %5.1f%%  lost %5.1f%%  avg %6.1f h  won %s" % (s["name"], s["entered"], s["converted_pct"], s["lost_pct"], (s["avg_seconds_in_stage"] or 0) / 3600, s["won_value"]))' || true
timeit "pipeline_id=$pipeline&owner_id=7"
timeit "pipeline_id=$pipeline&from=$from&to=$to"
echo "== SQL: EXPLAIN ANALYZE funnel_report"
psql -tA "$db" -c "SET search_path = deals" -c "EXPLAIN ANALYZE SELECT * FROM funnel_report($pipeline, NULL, NULL, NULL)" | grep -E 'Execution Time'

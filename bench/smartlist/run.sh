#!/usr/bin/env bash
# bench/smartlist/run.sh [LEADS]: the smart list benchmark (SPEC C3: "on 1,000,000 leads a typical
# smart list answers its first page in under 50 ms"), run by hand (not in CI).
# Starts a private stack under var/bench-smartlist (own ports), loads LEADS (default 1,000,000)
# leads with generate_series straight into leads.leads (statuses, 50 owners, tags, custom fields,
# spread created/updated times, a timeline row for every 20th lead), ANALYZEs, saves three smart
# lists through the API and times GET /v2/smart_lists/{id}/items (first page, 25 leads) through the
# gateway: 10 warm runs each, printing min / median / max in ms. Contacts too: CONTACTS (env
# CRM_BENCH_CONTACTS, default 200,000) people and companies in leads.contacts, a timeline row for
# every 20th, and two contact smart lists timed the same way. Stops the stack at the end
# (CRM_BENCH_KEEP=1 keeps it). CRM_SKIP_BUILD=1 uses the existing ./build.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
nc=${CRM_BENCH_CONTACTS:-200000}
export CRM_DATA_DIR=${CRM_DATA_DIR:-$PWD/var/bench-smartlist}
export CRM_HTTP_PORT=${CRM_HTTP_PORT:-18180}
export CRM_PG_PORT=${CRM_PG_PORT:-15533}
db="postgresql://postgres@127.0.0.1:${CRM_PG_PORT}/crm"
base="http://127.0.0.1:${CRM_HTTP_PORT}"

# A copy of the configuration on other ports (71xx → 271xx), so a stack already running on the
# defaults is left alone.
mkdir -p "$CRM_DATA_DIR"
sed -E 's/\b71([0-9][0-9])\b/271\1/g' "${CRM_CONFIG:-deploy/config/crm.yaml}" > "$CRM_DATA_DIR/crm-bench.yaml"
export CRM_CONFIG="$CRM_DATA_DIR/crm-bench.yaml"
./run.sh start >/dev/null
[ "${CRM_BENCH_KEEP:-0}" = 1 ] || trap './run.sh stop >/dev/null 2>&1 || true' EXIT
token=$(cat "$CRM_DATA_DIR/admin.token")
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
have=$(psql -qtA "$db" -c "SELECT count(*) FROM leads.leads")
if [ "$have" -lt "$n" ]; then
  echo "== loading $((n - have)) leads (generate_series)"
  start=$(date +%s)
  psql -q -v ON_ERROR_STOP=1 "$db" <<SQL
INSERT INTO leads.leads (first_name, last_name, organization_name, email, status, owner_id, tags, custom_fields,
                         created_at, updated_at)
SELECT 'First' || i, 'Last' || (i % 9973), 'Company ' || (i % 20011), 'lead' || i || '@bench.example',
       (ARRAY['New', 'Working', 'Qualified', 'Unqualified'])[1 + i % 4],
       1 + i % 50,
       CASE WHEN i % 10 = 0 THEN '{vip}'::text[] WHEN i % 7 = 0 THEN '{hot,webinar}' ELSE '{}' END,
       jsonb_build_object('Tier', (ARRAY['Gold', 'Silver', 'Bronze'])[1 + i % 3], 'Budget', (i % 5000)::text),
       now() - make_interval(mins => (i * 7) % 525600), now() - make_interval(mins => (i * 13) % 525600)
  FROM generate_series($have + 1, $n) AS i;
INSERT INTO leads.lead_activities (lead_id, kind, summary, created_at)
SELECT id, 'note', 'bench', updated_at FROM leads.leads WHERE id % 20 = 0 AND id > $have;
ANALYZE leads.leads;
ANALYZE leads.lead_activities;
SQL
  echo "   loaded in $(( $(date +%s) - start )) s"
fi
have=$(psql -qtA "$db" -c "SELECT count(*) FROM leads.contacts")
if [ "$have" -lt "$nc" ]; then
  echo "== loading $((nc - have)) contacts (generate_series)"
  start=$(date +%s)
  psql -q -v ON_ERROR_STOP=1 "$db" <<SQL
INSERT INTO leads.contacts (is_organization, name, first_name, last_name, owner_id, tags, custom_fields,
                            created_at, updated_at)
SELECT i % 5 = 0, CASE WHEN i % 5 = 0 THEN 'Company ' || i ELSE 'First' || i || ' Last' || (i % 9973) END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'First' || i END, CASE WHEN i % 5 = 0 THEN NULL ELSE 'Last' || (i % 9973) END,
       1 + i % 50,
       CASE WHEN i % 3 = 0 THEN '{vip}'::text[] WHEN i % 7 = 0 THEN '{partner}' ELSE '{}' END,
       jsonb_build_object('Tier', (ARRAY['Gold', 'Silver', 'Bronze'])[1 + i % 3]),
       now() - make_interval(mins => (i * 7) % 525600), now() - make_interval(mins => (i * 13) % 525600)
  FROM generate_series($have + 1, $nc) AS i;
INSERT INTO leads.contact_activities (contact_id, kind, summary, created_at)
SELECT id, 'note', 'bench', updated_at FROM leads.contacts WHERE id % 20 = 0 AND id > $have;
ANALYZE leads.contacts;
ANALYZE leads.contact_activities;
SQL
  echo "   loaded in $(( $(date +%s) - start )) s"
fi
echo "== $(psql -qtA "$db" -c "SELECT count(*) FROM leads.contacts") contacts"
echo "== $(psql -qtA "$db" -c "SELECT count(*) FROM leads.leads") leads, $(psql -qtA "$db" -c "SELECT pg_size_pretty(pg_total_relation_size('leads.leads'))") with indexes"

mk() { # retried: right after start-up a busy machine may miss the gateway's RPC deadline (503)
  for _ in 1 2 3 4 5; do
    api -X POST "$base/v2/smart_lists" -d "{\"data\":{\"name\":\"$1\",\"resource_type\":\"${4:-lead}\",\"filter\":$2,\"sort_by\":\"$3\"}}" |
      sed -E 's/.*"id": ?([0-9]+).*/\1/' && return 0
    sleep 1
  done
  return 1
}
declare -A lists
lists["new leads of owner 7, newest first"]=$(mk "bench owner" '{"status":"New","owner_id":7}' "updated_at:desc")
lists["VIP tag, Gold tier, added in the last 90 days"]=$(mk "bench vip" '{"tags":{"any":["vip"]},"custom_fields":{"Tier":"Gold"},"created_at":{"within_days":90}}' "updated_at:desc")
lists["Working, no activity for 30+ days, by last name"]=$(mk "bench stale" '{"status":"Working","days_since_last_activity":{"gte":30}}' "last_name:asc")
lists["contacts: VIP people of owner 7, by last name"]=$(mk "bench contacts vip" '{"tags":"vip","is_organization":false,"owner_id":7}' "last_name:asc" contact)
lists["contacts: Gold companies, no communication 60+ days"]=$(mk "bench contacts gold" '{"is_organization":true,"custom_fields":{"Tier":"Gold"},"days_since_last_communication":{"gte":60}}' "updated_at:desc" contact)

ms() { curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$1" | awk '{printf "%.1f\n", $1 * 1000}'; }
echo "== load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${!lists[@]}"; do
  url="$base/v2/smart_lists/${lists[$name]}/items?per_page=25"
  count=$(curl -fsS -H "Authorization: Bearer $token" "$url" | grep -oE '"type": ?"(lead|contact)"' | wc -l)
  times=$(for _ in $(seq 10); do ms "$url"; done | sort -n)
  printf '== %-52s first page (%s items): min %s ms, median %s ms, max %s ms\n' "$name" "$count" \
    "$(echo "$times" | head -1)" "$(echo "$times" | sed -n 5p)" "$(echo "$times" | tail -1)"
done

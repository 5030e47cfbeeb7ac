#!/usr/bin/env bash
# bench/import/run.sh [ROWS] [BATCH]: the CSV import benchmark (SPEC A3), run by hand (not in CI).
# Generates a ROWS-row lead file (default 1,000,000; Sell's column names, unique e-mails), starts
# a private stack under var/bench-import on its own ports (76xx, CRM_HTTP_PORT 18480, Postgres
# 15473), makes 3 users and a lead pool, then:
#   1. crmctl import leads FILE --owner pool:NAME --batch BATCH: rows/s stored (crmctl's wall time);
#   2. the time until every imported lead has its owner (crm-leads asks crm-assign for the owners of
#      each batch in bulk, assign.pick_bulk, before storing it: the leads are stored owned);
#      then where a batch's time went (averages of crm-leads' import.batch log lines and of
#      crm-assign's assign.pick_bulk lines);
#   3. the ceiling, in the same run on the same cluster: psql \copy of the same file into a bare
#      table of text columns;
#   4. a second ceiling: those rows INSERTed into an empty table with leads.leads' indexes (what
#      storing rows as leads costs before any dedup, owner or event).
# CRM_SKIP_BUILD=1 uses the existing ./build as it is (run.sh's rule).
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-1000000}
batch=${2:-5000}
export CRM_DATA_DIR=${CRM_DATA_DIR:-$PWD/var/bench-import}
export CRM_HTTP_PORT=${CRM_HTTP_PORT:-18480}
export CRM_PG_PORT=${CRM_PG_PORT:-15473}
# The private cluster's write settings (deploy/lib.sh crm_pg_tuning): a million leads' indexes do
# not fit Postgres' default 128MB of shared buffers.
export CRM_PG_SHARED_BUFFERS=${CRM_PG_SHARED_BUFFERS:-1GB}
pfx=${CRM_BENCH_PORT_PREFIX:-76}
mkdir -p "$CRM_DATA_DIR"
conf="$CRM_DATA_DIR/crm-bench.yaml"
# CRM_CONFIG is the configuration this run copies with its own ports: pointing it at the copy
# itself would empty it (sed reading the file it writes), and crmctl would then import into
# whatever stack listens on the default ports.
if [ "$(realpath -m "${CRM_CONFIG:-deploy/config/crm.yaml}")" = "$(realpath -m "$conf")" ]; then
  echo "bench/import: CRM_CONFIG is this run's own copy ($conf): unset it or point it at the source configuration" >&2
  exit 2
fi
sed -E "s/127\.0\.0\.1:71([0-9]{2})/127.0.0.1:${pfx}\1/g; s/admin_port: 71([0-9]{2})/admin_port: ${pfx}\1/" \
  "${CRM_CONFIG:-deploy/config/crm.yaml}" > "$conf"
export CRM_CONFIG="$conf"
db="postgresql://postgres@127.0.0.1:${CRM_PG_PORT}/crm"
base="http://127.0.0.1:${CRM_HTTP_PORT}"
file="$CRM_DATA_DIR/leads-$rows.csv"

if [ ! -s "$file" ]; then
  echo "== generating $file ($rows rows)"
  awk -v n="$rows" 'BEGIN {
    print "first_name,last_name,organization_name,email,phone,title,tags,description"
    for (i = 1; i <= n; i++)
      printf "First%d,Last%d,\"Company %d, Inc\",lead%d@bench.example,+1 555 %07d,Buyer,\"csv,bench\",Imported lead number %d\n", i, i, i % 5000, i, i, i
  }' > "$file"
fi

./run.sh start >/dev/null
token=$(cat "$CRM_DATA_DIR/admin.token")
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
ids=()
for i in 1 2 3; do
  email="rep$i-$RANDOM$RANDOM@bench.example"
  id=$(api -X POST "$base/v2/users" -d "{\"data\":{\"name\":\"Rep $i\",\"email\":\"$email\",\"role\":\"sales\"}}" |
       sed -E 's/.*"id": ?([0-9]+).*/\1/')
  ids+=("$id")
done
pool="Import bench $RANDOM$RANDOM"
api -X POST "$base/v2/distribution_pools" \
  -d "{\"data\":{\"name\":\"$pool\",\"resource_type\":\"lead\",\"user_ids\":[${ids[0]},${ids[1]},${ids[2]}]}}" >/dev/null

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== build: $(grep -m1 CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt 2>/dev/null | cut -d= -f2)"
echo "== file: $rows rows, $(du -h "$file" | cut -f1)"
echo "== postgres: $(psql -qtA "$db" -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_compression')")"
psql -qtA "$db" -c "SELECT pg_stat_reset_shared('wal'), pg_stat_reset_shared('bgwriter')" >/dev/null
# CPU seconds used so far by the cluster's processes and by each daemon (less load-dependent than
# wall time on a shared machine): "postgres crm-leads crm-assign ..."
cpu() {
  local pm d out
  pm=$(head -1 "$CRM_DATA_DIR/pg/postmaster.pid")
  out="postgres=$(ps -o times= --ppid "$pm" | awk '{ s += $1 } END { print s + 0 }')"
  for d in crm-leads crm-assign crm-broker crm-notify; do
    out="$out $d=$(ps -o times= -p "$(cat "$CRM_DATA_DIR/run/$d.pid")" | awk '{ print $1 + 0 }')"
  done
  echo "$out"
}
cpu0=$(cpu)
t0=$(date +%s.%N)
CRM_DATABASE_URL="$db" build/tools/crmctl/crmctl --config "$conf" import leads "$file" --owner "pool:$pool" --batch "$batch" \
  2> "$CRM_DATA_DIR/import-progress.log" | tee "$CRM_DATA_DIR/import-summary.txt"
t1=$(date +%s.%N)
cpu1=$(cpu)
import_id=$(sed -nE 's/^import (lead-[0-9a-f]+) .*/\1/p' "$CRM_DATA_DIR/import-summary.txt" | head -1)
stored=$(psql -qtA "$db" -c "SELECT count(*) FROM leads.leads WHERE import_id = '$import_id'")
awk -v n="$stored" -v a="$t0" -v b="$t1" 'BEGIN { printf "== stored: %d rows in %.1f s = %.0f rows/s\n", n, b - a, n / (b - a) }'
awk -v n="$stored" -v a="$cpu0" -v b="$cpu1" 'BEGIN {
  k = split(a, x, " "); split(b, y, " "); out = ""
  for (i = 1; i <= k; i++) { split(x[i], p, "="); split(y[i], q, "="); out = out sprintf(" %s %.0f", q[1], (q[2] - p[2]) * 1e6 / n) }
  printf "== CPU per 1000 rows stored (ms, whole seconds sampled):%s\n", out }'
psql -qtA "$db" -c "SELECT format('== WAL during the import: %s records, %s full-page images, %s MB (%s bytes per row); checkpoints %s timed + %s requested; buffers written by backends %s', w.wal_records, w.wal_fpi, round(w.wal_bytes / 1e6), round(w.wal_bytes / greatest($stored, 1)), b.checkpoints_timed, b.checkpoints_req, b.buffers_backend) FROM pg_stat_wal w, pg_stat_bgwriter b"
while :; do
  left=$(psql -qtA "$db" -c "SELECT count(*) FROM leads.leads WHERE import_id = '$import_id' AND owner_id IS NULL")
  [ "$left" = 0 ] && break
  now=$(date +%s.%N)
  if awk -v a="$t0" -v b="$now" 'BEGIN { exit !(b - a > 3600) }'; then echo "!! not all assigned after 1 h ($left left)"; break; fi
  sleep 1
done
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t2" -v c="$t1" 'BEGIN { printf "== all assigned: %.1f s after the start (%.1f s after the import ended)\n", b - a, b - c }'
psql -qtA "$db" -c "SELECT owner_id, count(*) FROM leads.leads WHERE import_id = '$import_id' GROUP BY 1 ORDER BY 1" |
  sed 's/^/   owner|leads: /'

logs="$CRM_DATA_DIR/log"
grep -h 'event=import.batch' "$logs/crm-leads.log" | grep -v 'created=0 ' |
  awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
         n++; t += v["ms"]; r += v["reserve_ms"]; c += v["check_ms"]; cp += v["copy_ms"]; m += v["merge_ms"]
         w += v["pick_wait_ms"]; p += v["pick_ms"]; ins += v["insert_ms"]; e += v["emit_ms"]; tl += v["timeline_ms"] }
       END { if (n) printf "== per batch (avg of %d, ms): total %.0f = reserve ids %.0f, lock+check+dedup %.0f, COPY to staging %.0f, merges %.0f, wait for assign.pick_bulk %.0f (it took %.0f, overlapping the COPY and merges), INSERT+events %.0f (events %.0f), timeline %.0f, rest (sources, tags, counts, commit) %.0f\n", n, t/n, r/n, c/n, cp/n, m/n, w/n, p/n, ins/n, e/n, tl/n, (t-r-c-cp-m-w-ins-tl)/n }'
grep -h 'event=assign.pick_bulk' "$logs/crm-assign.log" | sed -nE 's/.* records=([0-9]+) .* ms=([0-9]+).*/\1 \2/p' |
  awk '{ r += $1; m += $2; n++ } END { if (n) printf "== assign.pick_bulk: %d calls, %.0f records and %.0f ms each on average\n", n, r/n, m/n }'

echo "== ceiling: psql \\copy of the same file into a bare table, same cluster"
psql -q "$db" -c "DROP TABLE IF EXISTS public.bench_import_copy" \
  -c "CREATE TABLE public.bench_import_copy (first_name text, last_name text, organization_name text, email text, phone text, title text, tags text, description text)"
c0=$(date +%s.%N)
psql -q "$db" -c "\\copy public.bench_import_copy FROM '$file' CSV HEADER"
c1=$(date +%s.%N)
copied=$(psql -qtA "$db" -c "SELECT count(*) FROM public.bench_import_copy")
# ceiling_line LABEL START END: the ceiling's rate and the import's rate as a share of it
ceiling_line() {
  awk -v l="$1" -v n="$copied" -v a="$2" -v b="$3" -v s="$stored" -v x="$t0" -v y="$t1" 'BEGIN {
    printf "== %s: %d rows in %.1f s = %.0f rows/s; import/%s = %.2f\n", l, n, b - a, n / (b - a), l, (s / (y - x)) / (n / (b - a)) }'
}
ceiling_line copy "$c0" "$c1"
# What the leads table alone costs: the rows just copied, inserted into an empty table with
# leads.leads' columns, defaults and indexes (LIKE ... INCLUDING ALL: all its indexes, GIN ones
# included; no foreign key), the values an import stores (tags array, phone key, owner, import line).
# No dedup, no owners picked, no events, no consumers: the ceiling of storing rows as leads in one
# backend on this machine.
echo "== ceiling 2: the same rows INSERTed from that table into one shaped and indexed as leads.leads"
psql -q "$db" -c "DROP TABLE IF EXISTS public.bench_import_indexed" \
  -c "CREATE TABLE public.bench_import_indexed (LIKE leads.leads INCLUDING ALL)"
i0=$(date +%s.%N)
psql -q "$db" -c "INSERT INTO public.bench_import_indexed (id, owner_id, first_name, last_name, organization_name, email, phone, title, tags, description, phone_norm, import_id, import_line) SELECT n, 1, first_name, last_name, organization_name, email, phone, title, string_to_array(tags, ','), description, regexp_replace(phone, '[^0-9+]', '', 'g'), 'bench', n FROM (SELECT row_number() OVER () AS n, * FROM public.bench_import_copy) c"
i1=$(date +%s.%N)
ceiling_line indexed "$i0" "$i1"
psql -q "$db" -c "DROP TABLE public.bench_import_indexed" -c "DROP TABLE public.bench_import_copy"
echo "(stop the stack with: CRM_DATA_DIR=$CRM_DATA_DIR CRM_PG_PORT=$CRM_PG_PORT CRM_CONFIG=$conf ./run.sh stop)"

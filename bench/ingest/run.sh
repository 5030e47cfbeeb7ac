#!/usr/bin/env bash
# bench/ingest/run.sh [POSTS] [CONCURRENCY]: the ingest benchmark, run by hand (not in CI).
# CRM_BENCH_SIGNED=1 bench/ingest/run.sh 20000 64: the same through a signed source.
# Starts a private stack under var/bench (own ports), makes 3 users and a default lead pool,
# sends POSTS form posts at CONCURRENCY, waits until every lead is assigned and notified, then
# measures pgbench's single-row insert rate at the same concurrency on the same cluster as the
# baseline, and prints the ratio. Then the HTTP ceiling: nginx (installed if missing) answering
# 204 on the same machine, hit by the same client with the same posts and concurrency; and the
# accept latency at a paced load of CRM_BENCH_RATE posts/s (default 1000; 0 skips it), and the
# same two figures for the accept path alone: the consumers paused (SIGSTOP) so that only the
# gateway and Postgres share the machine with the client. CPU per post is printed for the gateway
# and for nginx (from /proc, user + system): a figure that a busy machine distorts less than rates.
set -euo pipefail
cd "$(dirname "$0")/../.."
posts=${1:-20000}
conc=${2:-16}
export CRM_DATA_DIR=${CRM_DATA_DIR:-$PWD/var/bench}
export CRM_HTTP_PORT=${CRM_HTTP_PORT:-18080}
export CRM_PG_PORT=${CRM_PG_PORT:-15433}
db="postgresql://postgres@127.0.0.1:${CRM_PG_PORT}/crm"
base="http://127.0.0.1:${CRM_HTTP_PORT}"

# CRM_BENCH_SIGNED=1: post to a signed source (Stripe-style HMAC-SHA256, verified by the
# gateway) defined in a copy of the configuration.
signed_args=()
if [ "${CRM_BENCH_SIGNED:-0}" = 1 ]; then
  mkdir -p "$CRM_DATA_DIR"
  conf="$CRM_DATA_DIR/crm-signed.yaml"
  # (as bench/import: CRM_CONFIG pointing at this copy would empty it)
  if [ "$(realpath -m "${CRM_CONFIG:-deploy/config/crm.yaml}")" = "$(realpath -m "$conf")" ]; then
    echo "bench/ingest: CRM_CONFIG is this run's own copy ($conf): unset it or point it at the source configuration" >&2
    exit 2
  fi
  # a stack still running from an earlier run keeps its configuration: reuse its secret
  secret=$(grep -o 'bench-secret-[0-9]*' "$conf" 2>/dev/null | head -1 || true)
  secret=${secret:-bench-secret-$RANDOM$RANDOM}
  sed -E "s|^  sources:$|  sources:\n    - {name: bench-signed, kind: form, type: html, signature: stripe, secret: $secret}|" \
    "${CRM_CONFIG:-deploy/config/crm.yaml}" > "$conf"
  export CRM_CONFIG="$conf"
  signed_args=(bench-signed "$secret")
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
api -X POST "$base/v2/distribution_pools" \
  -d "{\"data\":{\"name\":\"Bench $RANDOM\",\"resource_type\":\"lead\",\"user_ids\":[${ids[0]},${ids[1]},${ids[2]}],\"default\":true}}" >/dev/null

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
echo "== crm ingest: $posts posts, concurrency $conc"
build/bench/bench-ingest "$base" "$db" "$posts" "$conc" "${signed_args[@]}" | tee /tmp/bench-ingest.out

echo "== baseline: pgbench single-row insert, $posts rows, concurrency $conc, same cluster"
psql -q "$db" -c "CREATE TABLE IF NOT EXISTS public.bench_baseline (id bigserial PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
sql=$(mktemp)
echo "INSERT INTO public.bench_baseline (body) VALUES ('first_name=Bench&last_name=Lead&email=bench%40example.com');" > "$sql"
pgbench -n -c "$conc" -j 2 -t $(( (posts + conc - 1) / conc )) -f "$sql" "$db" | tee /tmp/bench-pgbench.out | grep -E '^tps'
rm -f "$sql"
crm=$(sed -nE 's/^end-to-end: .* = ([0-9]+) leads\/s/\1/p' /tmp/bench-ingest.out)
pg=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' /tmp/bench-pgbench.out | head -1)
awk -v a="$crm" -v b="$pg" 'BEGIN { printf "== ratio: end-to-end %d leads/s vs pgbench %.0f inserts/s = %.2f\n", a, b, a / b }'

# cpu_ticks PID...: user + system clock ticks of the processes (and their threads) so far
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
per_post() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }'; }
gw_pid=$(cat "$CRM_DATA_DIR/run/crm-gateway.pid")
consumers=()
for s in leads deals assign notify; do consumers+=("$(cat "$CRM_DATA_DIR/run/crm-$s.pid")"); done
trap 'kill -CONT "${consumers[@]}" 2>/dev/null || true' EXIT

echo "== ceiling: nginx answering 204, $posts posts, concurrency $conc, same client"
if [ ! -x /usr/sbin/nginx ]; then
  CRM_SCRIPT=bench . deploy/lib.sh
  crm_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx >/dev/null
fi
ng="$CRM_DATA_DIR/nginx"
ng_port=$((CRM_HTTP_PORT + 7))
mkdir -p "$ng/tmp"
cat > "$ng/nginx.conf" <<NGINX
worker_processes $(nproc);
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $ng/tmp; proxy_temp_path $ng/tmp; fastcgi_temp_path $ng/tmp;
  uwsgi_temp_path $ng/tmp; scgi_temp_path $ng/tmp;
  server { listen 127.0.0.1:$ng_port; location / { return 204; } }
}
NGINX
/usr/sbin/nginx -p "$ng" -c "$ng/nginx.conf"
trap '/usr/sbin/nginx -p "$ng" -c "$ng/nginx.conf" -s stop 2>/dev/null || true; kill -CONT "${consumers[@]}" 2>/dev/null || true' EXIT
sleep 0.5
ng_pids=($(cat "$ng/nginx.pid") $(pgrep -P "$(cat "$ng/nginx.pid")"))
t0=$(cpu_ticks "${ng_pids[@]}")
build/bench/bench-ingest "http://127.0.0.1:$ng_port" - "$posts" "$conc" "${signed_args[@]}" | tee /tmp/bench-nginx.out
t1=$(cpu_ticks "${ng_pids[@]}")
echo "nginx cpu: $(per_post $((t1 - t0)) "$posts") us per post"
acc=$(sed -nE 's/^accept: ([0-9]+) posts.*/\1/p' /tmp/bench-ingest.out)
ceil=$(sed -nE 's/^accept: ([0-9]+) posts.*/\1/p' /tmp/bench-nginx.out)
awk -v a="$acc" -v b="$ceil" 'BEGIN { printf "== ratio: crm accepted %d/s vs nginx 204 %d/s = %.2f\n", a, b, a / b }'

rate=${CRM_BENCH_RATE:-1000}
if [ "$rate" != 0 ]; then
  n=$((rate * 10))
  echo "== paced: $n posts at $rate/s, concurrency $conc (accept latency at that load)"
  BENCH_RATE=$rate build/bench/bench-ingest "$base" "$db" "$n" "$conc" "${signed_args[@]}" | grep -E '^(posts|accept)'
fi

echo "== accept path alone: consumers paused, $posts posts, concurrency $conc (ceiling mode: no waiting)"
kill -STOP "${consumers[@]}"
t0=$(cpu_ticks "$gw_pid")
build/bench/bench-ingest "$base" - "$posts" "$conc" "${signed_args[@]}" | tee /tmp/bench-alone.out | grep -E '^accept'
t1=$(cpu_ticks "$gw_pid")
echo "gateway cpu: $(per_post $((t1 - t0)) "$posts") us per post"
if [ "$rate" != 0 ]; then
  BENCH_RATE=$rate build/bench/bench-ingest "$base" - $((rate * 10)) "$conc" "${signed_args[@]}" | grep -E '^accept' |
    sed "s/^accept/paced $rate\/s alone: accept/"
fi
kill -CONT "${consumers[@]}"
alone=$(sed -nE 's/^accept: ([0-9]+) posts.*/\1/p' /tmp/bench-alone.out)
awk -v a="$alone" -v b="$ceil" 'BEGIN { printf "== ratio: accept path alone %d/s vs nginx 204 %d/s = %.2f\n", a, b, a / b }'

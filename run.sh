#!/usr/bin/env bash
# run.sh: installs what is missing, builds, and runs the whole CRM locally: a private Postgres
# under $CRM_DATA_DIR/pg (unless CRM_DATABASE_URL is set), the broker, every service and the
# gateway. `./run.sh` stays in the foreground (Ctrl-C stops everything); see --help.
set -euo pipefail

CRM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRM_SCRIPT=run.sh
# shellcheck source=deploy/lib.sh
. "$CRM_ROOT/deploy/lib.sh"

usage() {
    cat <<EOF
Usage: ./run.sh [COMMAND]

Commands:
  (none)    install what is missing, build, start everything in the foreground; Ctrl-C stops
            every daemon and the private Postgres
  start     the same, but in the background: starts whatever is not running yet and returns
            once the gateway's /readyz answers 200
  stop      stops every daemon (SIGTERM, SIGKILL after 10 s) and the private Postgres
  status    each daemon running/stopped with its pid, and its readiness
  --help    this text

Environment:
  CRM_HTTP_PORT      gateway HTTP port (default 8080)
  CRM_DATA_DIR       logs, pid files, admin token, private Postgres (default ./var)
  CRM_DATABASE_URL   use this Postgres (owner login) instead of a private cluster
  CRM_CONFIG         configuration file (default deploy/config/crm.yaml)
  CRM_PG_PORT        port of the private Postgres (default 5433)
  CRM_PG_MAX_CONNECTIONS  max_connections of the private Postgres (default 200)
  CRM_PG_MAX_WAL_SIZE, CRM_PG_CHECKPOINT_TIMEOUT, CRM_PG_SHARED_BUFFERS, CRM_PG_WAL_COMPRESSION
                     write settings of the private Postgres (default 4GB, 15min, 128MB, on;
                     bulk imports: see deploy/lib.sh crm_pg_tuning)
  CRM_READY_TIMEOUT  seconds to wait for /readyz (default 90)
  CRM_SKIP_BUILD=1   do not install or build (use the existing ./build)
EOF
}

absolute() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

CRM_DATA_DIR=$(absolute "${CRM_DATA_DIR:-$CRM_ROOT/var}")
CRM_CONFIG=$(absolute "${CRM_CONFIG:-$CRM_ROOT/deploy/config/crm.yaml}")
CRM_HTTP_PORT=${CRM_HTTP_PORT:-8080}
CRM_PG_PORT=${CRM_PG_PORT:-5433}
CRM_READY_TIMEOUT=${CRM_READY_TIMEOUT:-90}
BUILD_DIR=$CRM_ROOT/build
PGDATA=$CRM_DATA_DIR/pg
LOG_DIR=$CRM_DATA_DIR/log
RUN_DIR=$CRM_DATA_DIR/run
TOKEN_FILE=$CRM_DATA_DIR/admin.token
CRMCTL=$BUILD_DIR/tools/crmctl/crmctl
# Start order: the broker first (everyone connects to it), the gateway last (it is the door).
DAEMONS=(crm-broker crm-leads crm-deals crm-assign crm-notify crm-gateway)

if [ -n "${CRM_DATABASE_URL:-}" ]; then
    PRIVATE_PG=0
else
    PRIVATE_PG=1
    CRM_DATABASE_URL="postgresql://postgres@127.0.0.1:$CRM_PG_PORT/crm"
fi
export CRM_DATABASE_URL CRM_GATEWAY_HTTP_PORT=$CRM_HTTP_PORT CRM_GATEWAY_ADMIN_TOKEN_FILE=$TOKEN_FILE
READY_URL="http://127.0.0.1:$CRM_HTTP_PORT/readyz"

# The pid of daemon $1 when it runs (pid file + kill -0 + same program name), else nothing.
daemon_pid() {
    local f=$RUN_DIR/$1.pid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    # The command line must still name the daemon: a stale pid file may hold a reused pid.
    if kill -0 "$pid" 2>/dev/null; then
        case "$(ps -p "$pid" -o args= 2>/dev/null)" in
            *"$1"*) printf '%s\n' "$pid" ;;
        esac
    fi
}

start_daemon() {
    local name=$1 bin=$BUILD_DIR/services/$1 pid
    pid=$(daemon_pid "$name")
    if [ -n "$pid" ]; then
        crm_log "$name already running (pid $pid)"
        return 0
    fi
    [ -x "$bin" ] || crm_die "$bin is missing: build first"
    # setsid: its own session, so a Ctrl-C on the terminal reaches only run.sh, which then
    # stops the daemons in order. (setsid execs in place here: $! is the daemon's pid.)
    setsid "$bin" --config "$CRM_CONFIG" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/$name.pid"
    crm_log "started $name (pid $!, log $LOG_DIR/$name.log)"
}

# stop_daemons NAME...: SIGTERM to each, wait up to 10 s for all of them, then SIGKILL.
stop_daemons() {
    local name pid i alive
    local -A pids=()
    for name in "$@"; do
        pid=$(daemon_pid "$name")
        if [ -n "$pid" ]; then
            pids[$name]=$pid
            kill -TERM "$pid" 2>/dev/null || true
        else
            rm -f "$RUN_DIR/$name.pid"
        fi
    done
    for ((i = 0; i < 100; i++)); do
        alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for name in "${!pids[@]}"; do
        pid=${pids[$name]}
        if kill -0 "$pid" 2>/dev/null; then
            crm_log "$name (pid $pid) did not stop in 10 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$RUN_DIR/$name.pid"
        crm_log "stopped $name"
    done
}

stop_all() {
    # The gateway first, so nothing new comes in while the services drain; then the services
    # together; the broker last, so their final events still get through.
    stop_daemons crm-gateway
    stop_daemons crm-leads crm-deals crm-assign crm-notify
    stop_daemons crm-broker
    if [ "$PRIVATE_PG" = 1 ] && [ -f "$PGDATA/postmaster.pid" ]; then
        crm_pg_stop "$PGDATA"
        rm -f "$RUN_DIR/postgres.pid"
        crm_log "stopped Postgres"
    fi
}

show_log_tails() {
    local name
    for name in "${DAEMONS[@]}"; do
        if [ -f "$LOG_DIR/$name.log" ]; then
            printf -- '--- %s (last 20 lines of %s)\n' "$name" "$LOG_DIR/$name.log" >&2
            tail -n 20 "$LOG_DIR/$name.log" >&2
        fi
    done
}

wait_ready() {
    local deadline=$((SECONDS + CRM_READY_TIMEOUT))
    while [ "$(crm_http_code "$READY_URL")" != "200" ]; do
        if [ $SECONDS -ge $deadline ]; then
            show_log_tails
            crm_die "$READY_URL was not 200 within $CRM_READY_TIMEOUT s"
        fi
        sleep 0.5
    done
}

# Installs, builds, starts Postgres and every daemon not yet running; waits for readiness.
bring_up() {
    local token_existed=0 name
    if [ "${CRM_SKIP_BUILD:-0}" != 1 ]; then
        crm_install_deps
        crm_log "building (Release) into $BUILD_DIR"
        crm_build "$BUILD_DIR" Release -DCRM_TESTS=OFF
    fi
    [ -f "$CRM_CONFIG" ] || crm_die "no configuration file $CRM_CONFIG"
    mkdir -p "$LOG_DIR" "$RUN_DIR"
    if [ "$PRIVATE_PG" = 1 ]; then
        crm_pg_init "$PGDATA"
        crm_pg_start "$PGDATA" "$CRM_PG_PORT" "$LOG_DIR/postgres.log"
        head -n 1 "$PGDATA/postmaster.pid" >"$RUN_DIR/postgres.pid"
        crm_pg_createdb "$CRM_PG_PORT" crm
        "$CRMCTL" --config "$CRM_CONFIG" db init || crm_die "crmctl db init failed"
    elif ! "$CRMCTL" --config "$CRM_CONFIG" db init; then
        crm_log "warning: crmctl db init failed on CRM_DATABASE_URL; assuming the roles and schemas exist"
    fi
    [ -s "$TOKEN_FILE" ] && token_existed=1
    for name in "${DAEMONS[@]}"; do
        start_daemon "$name"
    done
    crm_log "waiting for $READY_URL"
    wait_ready
    echo "CRM is up: http://127.0.0.1:$CRM_HTTP_PORT"
    if [ -s "$TOKEN_FILE" ]; then
        if [ $token_existed = 1 ]; then
            echo "admin token: $(cat "$TOKEN_FILE") (existing, from $TOKEN_FILE)"
        else
            echo "admin token: $(cat "$TOKEN_FILE") (new, saved in $TOKEN_FILE)"
        fi
    else
        echo "admin token: none found in $TOKEN_FILE (see $LOG_DIR/crm-gateway.log)"
    fi
    echo "logs: $LOG_DIR   pids: $RUN_DIR"
}

# The admin port of daemon $1 as configured (crmctl reads the same file and env as it does).
admin_port() {
    local svc=${1#crm-} dflt
    case $svc in
        broker) dflt=7190 ;; gateway) dflt=7180 ;; leads) dflt=7181 ;;
        deals) dflt=7182 ;; assign) dflt=7183 ;; notify) dflt=7184 ;;
    esac
    "$CRMCTL" --config "$CRM_CONFIG" config get "$svc.admin_port" 2>/dev/null || echo "$dflt"
}

status() {
    local name pid code rc=0
    for name in "${DAEMONS[@]}"; do
        pid=$(daemon_pid "$name")
        if [ -n "$pid" ]; then
            code=$(crm_http_code "http://127.0.0.1:$(admin_port "$name")/readyz")
            if [ "$code" = 200 ]; then
                printf '%-12s running  pid %-8s ready\n' "$name" "$pid"
            else
                printf '%-12s running  pid %-8s not ready (readyz %s)\n' "$name" "$pid" "$code"
                rc=1
            fi
        else
            printf '%-12s stopped\n' "$name"
            rc=1
        fi
    done
    if [ "$PRIVATE_PG" = 1 ]; then
        if [ -f "$PGDATA/postmaster.pid" ] && kill -0 "$(head -n 1 "$PGDATA/postmaster.pid")" 2>/dev/null; then
            printf '%-12s running  pid %-8s port %s\n' postgres "$(head -n 1 "$PGDATA/postmaster.pid")" "$CRM_PG_PORT"
        else
            printf '%-12s stopped\n' postgres
            rc=1
        fi
    fi
    code=$(crm_http_code "$READY_URL")
    printf 'gateway %s: %s\n' "$READY_URL" "$code"
    return $rc
}

foreground() {
    local stopping=0 name
    # Whatever happens from here (failure, Ctrl-C during the build), stop what we started.
    trap 'stop_all' EXIT
    trap 'exit 130' INT TERM
    bring_up
    trap 'stopping=1' INT TERM
    echo "running in the foreground: Ctrl-C stops everything"
    declare -A reported=()
    while [ $stopping = 0 ]; do
        sleep 1 &
        wait $! 2>/dev/null || true
        for name in "${DAEMONS[@]}"; do
            if [ -z "$(daemon_pid "$name")" ] && [ -z "${reported[$name]:-}" ]; then
                crm_log "$name has exited (see $LOG_DIR/$name.log)"
                reported[$name]=1
            fi
        done
    done
    crm_log "stopping"
}

case ${1:-} in
    "") foreground ;;
    start) bring_up ;;
    stop) stop_all ;;
    status) status ;;
    -h | --help | help) usage ;;
    *)
        echo "run.sh: unknown command '$1'" >&2
        usage >&2
        exit 2
        ;;
esac

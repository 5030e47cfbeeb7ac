# deploy/lib.sh: shell functions shared by run.sh and test.sh (sourced, not executed):
# installing what a fresh Debian 12 lacks, building, and a private Postgres cluster that runs
# as the `postgres` user when we are root (Postgres refuses to run as root).

CRM_PACKAGES=(build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
    libpq-dev libyaml-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev
    libcriterion-dev postgresql-15 postgresql-client-15 postgresql-contrib-15 clang
    libclang-rt-14-dev curl)
# The SMTP server the crm-notify e-mail tests start (python3 -m aiosmtpd, Debian's python3).
CRM_PACKAGES+=(python3-aiosmtpd)
CRM_PG_BIN=${CRM_PG_BIN:-/usr/lib/postgresql/15/bin}

crm_log() { printf '%s: %s\n' "${CRM_SCRIPT:-crm}" "$*" >&2; }
crm_die() { crm_log "error: $*"; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
crm_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# True when package $1 is installed, or is a virtual package that an installed one provides
# (postgresql-contrib-15 is provided by postgresql-15 on Debian 12).
crm_pkg_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] && return 0
    dpkg-query -W -f='${Status}|${Provides}\n' 2>/dev/null |
        grep '^install ok installed|' | cut -d'|' -f2 | tr ',' '\n' |
        sed 's/^ *//; s/ .*//' | grep -qx "$1"
}

# apt-get update once, then apt-get install only the missing packages.
crm_install_deps() {
    local missing=() p
    if ! command -v dpkg-query >/dev/null 2>&1; then
        crm_log "not a Debian system: skipping package installation"
        return 0
    fi
    for p in "${CRM_PACKAGES[@]}"; do
        crm_pkg_installed "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    crm_log "installing: ${missing[*]}"
    crm_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    crm_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# crm_build DIR BUILD_TYPE [cmake args...]: configure (when needed) and build with 2 jobs.
crm_build() {
    local dir=$1 type=$2
    shift 2
    cmake -S "$CRM_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
    cmake --build "$dir" -j"${CRM_JOBS:-2}"
}

# Runs a command as the `postgres` user when we are root (Postgres refuses root), else as us.
crm_pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Makes every parent of $1 traversable by the postgres user (needed when we are root and the
# tree lives under a private directory such as /root).
crm_pg_open_parents() {
    local d
    d=$(dirname "$1")
    while [ "$d" != "/" ]; do
        if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
            crm_log "making $d traversable (o+x) for the postgres user"
            chmod o+x "$d"
        fi
        d=$(dirname "$d")
    done
}

# crm_pg_init PGDATA: creates the cluster once (trust auth on loopback and the socket).
crm_pg_init() {
    local pgdata=$1
    [ -x "$CRM_PG_BIN/initdb" ] || crm_die "no $CRM_PG_BIN/initdb: install postgresql-15"
    if [ -f "$pgdata/PG_VERSION" ]; then
        return 0
    fi
    mkdir -p "$pgdata"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$pgdata"
        crm_pg_open_parents "$pgdata"
    fi
    chmod 700 "$pgdata"
    crm_log "creating a Postgres cluster in $pgdata"
    crm_pg_run "$CRM_PG_BIN/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 \
        --locale=C >"$pgdata.initdb.log" 2>&1 || {
        cat "$pgdata.initdb.log" >&2
        crm_die "initdb failed"
    }
}

# crm_pg_tuning: write-heavy settings of the private cluster (operators: set these variables).
# A bulk import (crmctl import) writes ~2 GB of WAL per million rows: with Postgres' defaults
# (max_wal_size 1GB, checkpoint_timeout 5min) a checkpoint starts every few hundred thousand rows
# and the index pages touched after it are logged whole (full-page images), which made batches up
# to 5x slower; shared_buffers 128MB is smaller than the indexes of a million leads.
#   CRM_PG_MAX_WAL_SIZE (4GB)  CRM_PG_CHECKPOINT_TIMEOUT (15min)  CRM_PG_SHARED_BUFFERS (128MB)
#   CRM_PG_WAL_COMPRESSION (on: full-page images compressed)
crm_pg_tuning() {
    printf -- '-c max_wal_size=%s -c checkpoint_timeout=%s -c shared_buffers=%s -c wal_compression=%s' \
        "${CRM_PG_MAX_WAL_SIZE:-4GB}" "${CRM_PG_CHECKPOINT_TIMEOUT:-15min}" \
        "${CRM_PG_SHARED_BUFFERS:-128MB}" "${CRM_PG_WAL_COMPRESSION:-on}"
}

# crm_pg_start PGDATA PORT LOGFILE: starts it (listening on 127.0.0.1:PORT, sockets in PGDATA)
# unless it is already running; waits until it accepts connections.
crm_pg_start() {
    local pgdata=$1 port=$2 logfile=$3
    if crm_pg_run "$CRM_PG_BIN/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
        return 0
    fi
    touch "$logfile"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$logfile"
    crm_pg_run "$CRM_PG_BIN/pg_ctl" -D "$pgdata" -l "$logfile" -w -t 60 \
        -o "-p $port -k $pgdata -c listen_addresses=127.0.0.1 -c max_connections=${CRM_PG_MAX_CONNECTIONS:-200} $(crm_pg_tuning)" start >/dev/null || {
        tail -n 30 "$logfile" >&2
        crm_die "Postgres did not start (log: $logfile)"
    }
}

# crm_pg_stop PGDATA: fast shutdown (rolls back open transactions, checkpoints, exits).
crm_pg_stop() {
    local pgdata=$1
    [ -f "$pgdata/postmaster.pid" ] || return 0
    crm_pg_run "$CRM_PG_BIN/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# crm_pg_createdb PORT NAME: creates database NAME unless it exists.
crm_pg_createdb() {
    local port=$1 name=$2 exists
    exists=$(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$name'")
    if [ "$exists" != "1" ]; then
        createdb -h 127.0.0.1 -p "$port" -U postgres "$name"
    fi
}

# crm_http_code URL: prints the HTTP status of a GET (000 when nothing answers).
crm_http_code() {
    curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

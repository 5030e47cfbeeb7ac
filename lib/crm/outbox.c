/* outbox: appends events in the caller's transaction, and a relay thread that gives committed
 * rows their gap-free per-producer seq, publishes them in seq order with a heartbeat every
 * second, and serves events.replay from the table (DESIGN §4). */
#include "crm/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm/bus.h"
#include "crm/log.h"
#include "crm/util.h"
#include "rpc.pb-c.h"

#define RELAY_BATCH 1000
#define RELAY_IDLE_MS 50     /* retry delay after an error or when another instance holds the relay lock */
#define RELAY_POLL_MS 1000   /* idle poll, a net: an append's commit wakes the relay (crm_db_on_commit) */
#define RELAY_COALESCE_MS 2
#define HEARTBEAT_US 1000000
#define REPLAY_DEFAULT_LIMIT 1000
#define REPLAY_MAX_LIMIT 5000
#define PRUNE_BATCH 1000 /* ~30-50 ms a statement on a loaded machine: the relay waits at most that */
#define PRUNE_DEFAULT_RETENTION_S (7L * 24 * 3600)
#define PRUNE_DEFAULT_INTERVAL_MS 60000L

struct crm_outbox_t {
    char *producer;
    void *zctx;
    char *pub_endpoint;
    crm_db_params_t params; /* strings owned */
    crm_metrics_t *metrics;

    crm_db_t *db;           /* the relay's own connection */
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool kicked;
    bool stopping;
    bool ready;             /* start-up handshake with crm_outbox_start */
    int start_rc;
    crm_err_t start_err;
    atomic_llong backlog;
    atomic_ullong appended; /* appends made by this process (crm_outbox_appended) */
    int64_t after_id;       /* relay thread: the highest outbox id sequenced so far */
    bool contended;         /* relay thread: the last step found another instance relaying */
    bool drained;           /* relay thread: the last step held the lock and left nothing behind ... */
    int64_t drained_seq;    /* ... and this was last_seq after it (the heartbeat's latest) */
    long retention_s;       /* published rows older than this are pruned; 0 keeps them all */
    long prune_interval_ms; /* how often a pruning pass starts */
    int64_t next_prune_us;  /* relay thread: when the next pruning batch is due */
};

static const char SQL_APPEND[] =
    "INSERT INTO outbox (event_id, type, correlation_id, payload) VALUES ($1::uuid, $2, $3, $4::bytea)";

/* Only one relay of a producer sequences at a time, across every instance: the advisory lock
 * plus the outbox_state row lock keep seq gap-free and in commit order. Both in one statement
 * (no row when another instance holds the advisory lock). */
static const char SQL_LOCK[] =
    "SELECT last_seq FROM outbox_state"
    " WHERE id = 1 AND pg_try_advisory_xact_lock(hashtext('crm.outbox.' || current_schema())) FOR UPDATE";
static const char SQL_STATE_GET[] = "SELECT last_seq FROM outbox_state WHERE id = 1";
/* The backlog gauge: rows not sequenced yet (at most once a second: under load, the partial
 * index it walks is full of rows just sequenced and not yet vacuumed). */
static const char SQL_BACKLOG[] = "SELECT count(*) FROM outbox WHERE seq IS NULL";

#define ROW_COLUMNS                                                                                               \
    "seq, event_id::text, type, (extract(epoch FROM occurred_at) * 1000000)::bigint, correlation_id, "          \
    "schema_version, payload"

/* Committed rows without a seq, in id order, get last_seq+1, +2, ... and outbox_state moves on,
 * in one statement (it runs after SQL_LOCK in the same transaction, with a snapshot taken after
 * the locks: it sees every row committed before). A row whose transaction committed after a
 * higher id's simply gets a later seq: seq is relay order.
 * $2: only ids above it. Every sequenced row leaves a dead entry in outbox_unsequenced until
 * vacuum, and a scan from the start walked all of them (2-12 ms a step under a steady stream);
 * steps start after the last id sequenced, and once a second (and on start) a step starts from 0
 * for a row that committed after higher ids were sequenced. Last column: the batch's highest id. */
static const char SQL_SEQUENCE[] =
    "WITH batch AS MATERIALIZED ("
    "  SELECT id, row_number() OVER (ORDER BY id) AS rn"
    "  FROM (SELECT id FROM outbox WHERE seq IS NULL AND id > $2::bigint ORDER BY id LIMIT 1000) s"
    "), upd AS ("
    "  UPDATE outbox o SET seq = $1::bigint + b.rn FROM batch b WHERE o.id = b.id"
    "  RETURNING o.seq, o.event_id, o.type, o.occurred_at, o.correlation_id, o.schema_version, o.payload"
    "), st AS ("
    "  UPDATE outbox_state SET last_seq = $1::bigint + (SELECT count(*) FROM batch)"
    "  WHERE id = 1 AND EXISTS (SELECT 1 FROM batch)"
    ") SELECT " ROW_COLUMNS ", (SELECT max(id) FROM batch) FROM upd ORDER BY seq";

/* Retention (crm_outbox_set_retention): deletes the oldest published rows in seq order, at most
 * $2 of them, up to (not including) the first row that occurred less than $1 seconds ago, and
 * never the newest one (the heartbeat and the next seq count on outbox_state, but replay answers
 * from the rows). Rows without a seq are not published yet and are never touched. What is left is
 * always a contiguous seq range [oldest, latest]: events.replay tells a consumer asking below it.
 * It walks the outbox_seq index from the low end: a pass costs the rows it deletes, not the table.
 * Returns the count deleted and the oldest seq retained (NULL when the batch was empty). */
static const char SQL_PRUNE[] =
    "WITH batch AS MATERIALIZED ("
    "  SELECT id, seq, occurred_at FROM outbox WHERE seq IS NOT NULL ORDER BY seq LIMIT $2::int"
    "), cut AS ("
    "  SELECT least(coalesce((SELECT min(seq) FROM batch"
    "                         WHERE occurred_at >= now() - make_interval(secs => $1::bigint)),"
    "                        (SELECT max(seq) + 1 FROM batch)),"
    "               (SELECT last_seq FROM outbox_state WHERE id = 1)) AS s"
    "), del AS ("
    "  DELETE FROM outbox o USING batch b, cut WHERE o.id = b.id AND b.seq < cut.s RETURNING b.seq"
    ") SELECT (SELECT count(*) FROM del), coalesce((SELECT max(seq) + 1 FROM del), (SELECT min(seq) FROM "
    "batch))";

/* events.replay's bounds: the latest seq and the oldest one still retained (NULL: no row). */
static const char SQL_REPLAY_BOUNDS[] =
    "SELECT last_seq, (SELECT min(seq) FROM outbox WHERE seq IS NOT NULL) FROM outbox_state WHERE id = 1";

static const char SQL_OLDEST[] = "SELECT coalesce(min(seq), 0) FROM outbox WHERE seq IS NOT NULL";

static const char SQL_REPLAY[] =
    "SELECT " ROW_COLUMNS " FROM outbox WHERE seq >= $1::bigint AND seq <= $2::bigint"
    " AND (cardinality($3::text[]) = 0 OR type = ANY ($3::text[])) ORDER BY seq";

static char *dup_or_null(const char *s) { return s ? crm_strdup(s) : NULL; }

crm_outbox_t *crm_outbox_new(const char *producer, void *zctx, const char *pub_endpoint,
                             const crm_db_params_t *db_params, crm_metrics_t *metrics, crm_err_t *err) {
    if (!producer || !*producer || !db_params) {
        crm_err_set(err, CRM_EINVALID, NULL, NULL, "outbox: producer and database parameters are required");
        return NULL;
    }
    crm_outbox_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "outbox: out of memory");
        return NULL;
    }
    self->producer = crm_strdup(producer);
    self->zctx = zctx;
    self->pub_endpoint = dup_or_null(pub_endpoint);
    self->params.conninfo = dup_or_null(db_params->conninfo);
    self->params.user = dup_or_null(db_params->user);
    self->params.password = dup_or_null(db_params->password);
    self->params.schema = dup_or_null(db_params->schema);
    self->params.retry_seconds = db_params->retry_seconds;
    self->metrics = metrics;
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&self->backlog, 0);
    atomic_init(&self->appended, 0);
    self->retention_s = PRUNE_DEFAULT_RETENTION_S;
    self->prune_interval_ms = PRUNE_DEFAULT_INTERVAL_MS;
    return self;
}

/* The appender's transaction committed: wake the relay (it polls only once a second when idle). */
static void kick_on_commit(void *arg) { crm_outbox_kick(arg); }

void crm_outbox_set_retention(crm_outbox_t *self, long retention_s, long prune_interval_ms)
{
    if (!self)
        return;
    self->retention_s = retention_s > 0 ? retention_s : 0;
    self->prune_interval_ms = prune_interval_ms > 0 ? prune_interval_ms : PRUNE_DEFAULT_INTERVAL_MS;
}

int crm_outbox_append(crm_outbox_t *self, crm_db_t *tx, const char *type, const char *correlation_id,
                      const ProtobufCMessage *payload, crm_err_t *err) {
    if (!self || !tx || !type || !*type || !payload)
        return crm_err_set(err, CRM_EINVALID, NULL, NULL, "outbox: type and payload are required");
    size_t len = protobuf_c_message_get_packed_size(payload);
    uint8_t *buf = malloc(len ? len : 1);
    char *hex = malloc(2 * len + 3);
    if (!buf || !hex) {
        free(buf);
        free(hex);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "outbox: out of memory");
    }
    protobuf_c_message_pack(payload, buf);
    hex[0] = '\\';
    hex[1] = 'x';
    crm_hex_encode(buf, len, hex + 2);
    char event_id[37];
    crm_uuid7(event_id);
    const char *params[4] = {event_id, type, correlation_id && *correlation_id ? correlation_id : NULL, hex};
    int rc = crm_db_run(tx, "crm_outbox_append", SQL_APPEND, 4, params, err);
    free(buf);
    free(hex);
    if (rc == CRM_OK) {
        atomic_fetch_add(&self->appended, 1);
        crm_db_on_commit(tx, kick_on_commit, self);
    }
    return rc;
}

int crm_outbox_append_many(crm_outbox_t *self, crm_db_t *tx, const char *const *types, const char *correlation_id,
                           const ProtobufCMessage *const *payloads, size_t n, crm_err_t *err) {
    if (!self || !tx) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "outbox: no outbox or transaction");
    if (n == 0) return CRM_OK;
    /* COPY text rows: event_id \t type \t correlation_id|\N \t \\x<hex payload> \n. Types and
     * correlation ids are ours (no tab, newline or backslash); checked anyway. */
    const char *corr = correlation_id && *correlation_id ? correlation_id : NULL;
    if (corr && strpbrk(corr, "\t\n\r\\")) corr = NULL;
    size_t cap = 4096, len = 0;
    char *data = malloc(cap);
    uint8_t *buf = NULL;
    size_t bufcap = 0;
    int rc = data ? CRM_OK : crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "outbox: out of memory");
    for (size_t i = 0; rc == CRM_OK && i < n; i++) {
        if (!types[i] || !*types[i] || strpbrk(types[i], "\t\n\r\\") || !payloads[i]) {
            rc = crm_err_set(err, CRM_EINVALID, NULL, NULL, "outbox: bad event %zu", i);
            break;
        }
        size_t plen = protobuf_c_message_get_packed_size(payloads[i]);
        size_t need = len + 37 + strlen(types[i]) + (corr ? strlen(corr) : 2) + 2 * plen + 16;
        if (need > cap || plen + 1 > bufcap) {
            size_t ncap = need > cap ? need * 2 : cap;
            char *nd = realloc(data, ncap);
            uint8_t *nb = plen + 1 > bufcap ? realloc(buf, plen + 1) : buf;
            if (nd) data = nd, cap = ncap;
            if (nb) buf = nb, bufcap = plen + 1 > bufcap ? plen + 1 : bufcap;
            if (!nd || !nb) {
                rc = crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "outbox: out of memory");
                break;
            }
        }
        protobuf_c_message_pack(payloads[i], buf);
        char event_id[37];
        crm_uuid7(event_id);
        len += (size_t)sprintf(data + len, "%s\t%s\t%s\t\\\\x", event_id, types[i], corr ? corr : "\\N");
        crm_hex_encode(buf, plen, data + len);
        len += 2 * plen;
        data[len++] = '\n';
    }
    if (rc == CRM_OK)
        rc = crm_db_copy_in(tx, "COPY outbox (event_id, type, correlation_id, payload) FROM STDIN", data, len, err);
    if (rc == CRM_OK) {
        atomic_fetch_add(&self->appended, n);
        crm_db_on_commit(tx, kick_on_commit, self);
    }
    free(data);
    free(buf);
    return rc;
}

void crm_outbox_kick(crm_outbox_t *self) {
    if (!self) return;
    pthread_mutex_lock(&self->mu);
    self->kicked = true;
    pthread_cond_signal(&self->cond);
    pthread_mutex_unlock(&self->mu);
}

uint64_t crm_outbox_appended(crm_outbox_t *self)
{
    return self ? (uint64_t)atomic_load(&self->appended) : 0;
}

int64_t crm_outbox_backlog(crm_outbox_t *self) { return self ? (int64_t)atomic_load(&self->backlog) : 0; }

/* Builds a malloc-only Envelope from row r of a ROW_COLUMNS result (freed with
 * crm__envelope__free_unpacked(env, NULL)). */
static Crm__Envelope *envelope_from_row(const PGresult *res, int r, const char *producer) {
    Crm__Envelope *env = malloc(sizeof *env);
    if (!env) return NULL;
    crm__envelope__init(env);
    env->has_seq = 1;
    env->seq = (uint64_t)crm_db_i64(res, r, 0);
    env->event_id = crm_strdup(crm_db_str(res, r, 1) ? crm_db_str(res, r, 1) : "");
    env->type = crm_strdup(crm_db_str(res, r, 2) ? crm_db_str(res, r, 2) : "");
    env->producer = crm_strdup(producer);
    env->has_occurred_at = 1;
    env->occurred_at = crm_db_i64(res, r, 3);
    if (crm_db_str(res, r, 4)) env->correlation_id = crm_strdup(crm_db_str(res, r, 4));
    env->has_schema_version = 1;
    env->schema_version = (uint32_t)crm_db_i64(res, r, 5);
    env->has_payload = 1;
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 6), &n);
    env->payload.data = malloc(n ? n : 1);
    if (raw && env->payload.data) {
        memcpy(env->payload.data, raw, n);
        env->payload.len = n;
    }
    if (raw) PQfreemem(raw);
    return env;
}

/* A Prometheus label pair key="value" (value escaped). */
static void labels_of(char *out, size_t size, const char *key, const char *value) {
    size_t w = (size_t)snprintf(out, size, "%s=\"", key);
    for (const char *s = value ? value : ""; *s && w + 4 < size; s++) {
        if (*s == '"' || *s == '\\' || *s == '\n') out[w++] = '\\';
        out[w++] = *s == '\n' ? 'n' : *s;
    }
    if (w + 2 > size) w = size - 2;
    out[w++] = '"';
    out[w] = 0;
}

/* One relay step: sequences up to RELAY_BATCH committed rows and returns them (in seq order)
 * in *out for publishing after the commit. Returns the row count, or -1 on a database error. */
static int relay_sequence(crm_outbox_t *self, int64_t after_id, int64_t *max_id, PGresult **out) {
    crm_err_t err = {0};
    crm_db_t *db = self->db;
    *out = NULL;
    self->drained = false;
    if (crm_db_begin(db, &err) != CRM_OK) goto fail;
    PGresult *res = crm_db_exec(db, "crm_outbox_lock", SQL_LOCK, 0, NULL, &err);
    if (!res) goto fail;
    self->contended = PQntuples(res) == 0;
    if (PQntuples(res) == 0) { /* another instance is relaying this producer */
        PQclear(res);
        crm_db_rollback(db);
        return 0;
    }
    long long last = crm_db_i64(res, 0, 0);
    PQclear(res);
    char last_s[32];
    snprintf(last_s, sizeof last_s, "%lld", last);
    char after_s[32];
    snprintf(after_s, sizeof after_s, "%lld", (long long)after_id);
    const char *p1[2] = {last_s, after_s};
    PGresult *rows = crm_db_exec(db, "crm_outbox_sequence", SQL_SEQUENCE, 2, p1, &err);
    if (!rows) goto fail;
    int n = PQntuples(rows);
    if (n > 0) *max_id = crm_db_i64(rows, 0, 7);
    if (n == 0) {
        PQclear(rows);
        crm_db_rollback(db);
        self->drained = true;
        self->drained_seq = last;
        return 0;
    }
    if (crm_db_commit(db, &err) != CRM_OK) {
        PQclear(rows);
        goto fail;
    }
    self->drained = n < RELAY_BATCH;
    self->drained_seq = last + n;
    *out = rows;
    return n;
fail:
    crm_db_rollback(db);
    {
        char q[600];
        crm_log_warn(NULL, "outbox.relay_failed", "producer=%s error=%s", self->producer,
                     crm_log_quote(err.message, q, sizeof q));
    }
    return -1;
}

static void relay_publish(crm_outbox_t *self, crm_bus_pub_t *pub, PGresult *rows) {
    int n = PQntuples(rows);
    for (int r = 0; r < n; r++) {
        Crm__Envelope *env = envelope_from_row(rows, r, self->producer);
        if (!env) continue;
        crm_err_t err = {0};
        /* Lost publishes are fine: consumers recover through heartbeat + replay. */
        if (crm_bus_publish(pub, env, &err) == CRM_OK && self->metrics) {
            char labels[200];
            labels_of(labels, sizeof labels, "type", env->type);
            crm_metrics_inc(self->metrics, "crm_events_out_total", labels, 1);
        }
        crm_log_debug(env->correlation_id, "outbox.published", "producer=%s type=%s seq=%llu", self->producer,
                      env->type, (unsigned long long)env->seq);
        crm__envelope__free_unpacked(env, NULL);
    }
}

static int64_t query_i64(crm_db_t *db, const char *name, const char *sql, bool *ok) {
    crm_err_t err = {0};
    PGresult *res = crm_db_exec(db, name, sql, 0, NULL, &err);
    *ok = res != NULL;
    if (!res) return 0;
    int64_t v = crm_db_i64(res, 0, 0);
    PQclear(res);
    return v;
}

/* known: the backlog is 0 (a step from the start just left nothing behind), no need to count. */
static void update_backlog(crm_outbox_t *self, bool known) {
    bool ok = known;
    int64_t n = known ? 0 : query_i64(self->db, "crm_outbox_backlog", SQL_BACKLOG, &ok);
    if (!ok) return;
    atomic_store(&self->backlog, n);
    if (self->metrics) {
        char labels[200];
        labels_of(labels, sizeof labels, "producer", self->producer);
        crm_metrics_set(self->metrics, "crm_outbox_backlog", labels, (double)n);
    }
}

/* known: latest is last_seq as the relay's own step just left it, no need to read it. */
static void heartbeat(crm_outbox_t *self, crm_bus_pub_t *pub, bool known, int64_t latest) {
    bool ok = known;
    if (!known) latest = query_i64(self->db, "crm_outbox_state_get", SQL_STATE_GET, &ok);
    if (!ok) return;
    crm_err_t err = {0};
    crm_bus_publish_heartbeat(pub, self->producer, (uint64_t)latest, &err);
}

/* One pruning batch (SQL_PRUNE) when one is due: the next batch follows RELAY_IDLE_MS later while
 * batches come back full, then the next pass after prune_interval_ms. A batch of PRUNE_BATCH rows
 * is one short statement, so publishing waits at most that long. */
static void relay_prune(crm_outbox_t *self, int64_t now)
{
    if (self->retention_s <= 0 || now < self->next_prune_us)
        return;
    char ret_s[32], lim_s[32];
    snprintf(ret_s, sizeof ret_s, "%ld", self->retention_s);
    snprintf(lim_s, sizeof lim_s, "%d", PRUNE_BATCH);
    const char *p[2] = {ret_s, lim_s};
    crm_err_t err = {0};
    PGresult *res = crm_db_exec(self->db, "crm_outbox_prune", SQL_PRUNE, 2, p, &err);
    if (!res) {
        char q[600];
        crm_log_warn(NULL, "outbox.prune_failed", "producer=%s error=%s", self->producer,
                     crm_log_quote(err.message, q, sizeof q));
        self->next_prune_us = now + self->prune_interval_ms * 1000;
        return;
    }
    int64_t deleted = crm_db_i64(res, 0, 0);
    bool has_oldest = !PQgetisnull(res, 0, 1);
    int64_t oldest = has_oldest ? crm_db_i64(res, 0, 1) : 0;
    PQclear(res);
    /* a full batch: the next one after a short breath (a backlog is pruned at about half duty) */
    self->next_prune_us =
        now + (deleted >= PRUNE_BATCH ? RELAY_IDLE_MS * 1000 : self->prune_interval_ms * 1000);
    if (deleted > 0)
        crm_log_info(NULL, "outbox.pruned", "producer=%s rows=%lld oldest_seq=%lld retention_seconds=%ld",
                     self->producer, (long long)deleted, (long long)oldest, self->retention_s);
    if (self->metrics) {
        char labels[200];
        labels_of(labels, sizeof labels, "producer", self->producer);
        if (deleted > 0)
            crm_metrics_inc(self->metrics, "crm_outbox_pruned_total", labels, (double)deleted);
        if (has_oldest)
            crm_metrics_set(self->metrics, "crm_outbox_oldest_seq", labels, (double)oldest);
    }
}

/* Waits for a kick or ms milliseconds; returns true when asked to stop. */
static bool relay_wait(crm_outbox_t *self, long ms) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += ms * 1000000L;
    while (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&self->mu);
    while (!self->kicked && !self->stopping)
        if (pthread_cond_timedwait(&self->cond, &self->mu, &until) == ETIMEDOUT) break;
    self->kicked = false;
    bool stop = self->stopping;
    pthread_mutex_unlock(&self->mu);
    return stop;
}

/* Sequences and publishes until nothing committed is left (or an error): rows above the last id
 * sequenced, or every unsequenced row when from_start (see SQL_SEQUENCE). */
static int relay_drain(crm_outbox_t *self, crm_bus_pub_t *pub, int max_rounds, bool from_start) {
    int total = 0;
    int64_t after = from_start ? 0 : self->after_id;
    for (int i = 0; i < max_rounds; i++) {
        PGresult *rows = NULL;
        int64_t max_id = 0;
        int n = relay_sequence(self, after, &max_id, &rows);
        if (n <= 0) return n < 0 ? -1 : total;
        relay_publish(self, pub, rows);
        PQclear(rows);
        total += n;
        after = max_id;
        if (max_id > self->after_id) self->after_id = max_id;
        if (n < RELAY_BATCH) break;
    }
    return total;
}

static void *relay_run(void *arg) {
    crm_outbox_t *self = arg;
    crm_err_t err = {0};
    crm_bus_pub_t *pub = crm_bus_pub_new(self->zctx, self->pub_endpoint, &err);
    pthread_mutex_lock(&self->mu);
    self->ready = true;
    self->start_rc = pub ? CRM_OK : (err.code ? err.code : CRM_EINTERNAL);
    self->start_err = err;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mu);
    if (!pub) return NULL;

    int64_t next_heartbeat = 0;
    long backoff_ms = RELAY_IDLE_MS;
    bool stop = false;
    while (!stop) {
        if (crm_db_check(self->db, &err) != CRM_OK) {
            stop = relay_wait(self, backoff_ms);
            backoff_ms = backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2;
            continue;
        }
        int64_t now = crm_mono_us();
        int n = relay_drain(self, pub, 4, now >= next_heartbeat);
        if (now >= next_heartbeat) {
            /* the step from the start held the lock and left nothing: it knows both figures */
            bool known = n >= 0 && self->drained;
            heartbeat(self, pub, known, self->drained_seq);
            update_backlog(self, known);
            next_heartbeat = now + HEARTBEAT_US;
        }
        if (n >= 0)
            relay_prune(self, now);
        if (n < 0) {
            stop = relay_wait(self, backoff_ms);
            backoff_ms = backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2;
            continue;
        }
        backoff_ms = RELAY_IDLE_MS;
        if (n >= RELAY_BATCH) { /* more may be waiting: go again without sleeping */
            pthread_mutex_lock(&self->mu);
            stop = self->stopping;
            pthread_mutex_unlock(&self->mu);
            if (!stop) continue;
        } else {
            /* Rows came: let a few more commits gather before the next step, so that a steady
             * stream of small transactions is sequenced in a few statements, not one each. */
            if (n > 0) crm_sleep_ms(RELAY_COALESCE_MS);
            /* Idle: until a kick, or the next heartbeat (its step from the start is the net for
             * appends no kick announced: another process's, a commit out of id order). Another
             * instance holding the relay lock may not see our rows: look again soon. */
            long wait_ms = (long)((next_heartbeat - crm_mono_us()) / 1000) + 1;
            if (wait_ms > RELAY_POLL_MS) wait_ms = RELAY_POLL_MS;
            if (self->contended && wait_ms > RELAY_IDLE_MS) wait_ms = RELAY_IDLE_MS;
            if (self->retention_s > 0 && (self->next_prune_us - crm_mono_us()) / 1000 + 1 < wait_ms)
                wait_ms = (long)((self->next_prune_us - crm_mono_us()) / 1000) + 1; /* a pruning batch due */
            stop = relay_wait(self, wait_ms < 1 ? 1 : wait_ms);
        }
    }
    /* Stopping: sequence and publish what is committed (drains on SIGTERM, DESIGN §9). */
    if (crm_db_check(self->db, &err) == CRM_OK) {
        relay_drain(self, pub, 100, true);
        heartbeat(self, pub, false, 0);
        update_backlog(self, false);
    }
    crm_bus_pub_destroy(&pub);
    return NULL;
}

int crm_outbox_start(crm_outbox_t *self, crm_err_t *err) {
    if (!self) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "outbox: no outbox");
    if (self->running) return CRM_OK;
    if (!self->db) {
        self->db = crm_db_connect(&self->params, err);
        if (!self->db) return err ? err->code : CRM_EUNAVAILABLE;
    }
    self->ready = false;
    self->stopping = false;
    if (pthread_create(&self->thread, NULL, relay_run, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "outbox: cannot start the relay thread");
    pthread_mutex_lock(&self->mu);
    while (!self->ready) pthread_cond_wait(&self->cond, &self->mu);
    int rc = self->start_rc;
    pthread_mutex_unlock(&self->mu);
    if (rc != CRM_OK) {
        pthread_join(self->thread, NULL);
        if (err) *err = self->start_err;
        return rc;
    }
    self->running = true;
    crm_log_info(NULL, "outbox.started", "producer=%s", self->producer);
    return CRM_OK;
}

void crm_outbox_stop(crm_outbox_t *self) {
    if (!self || !self->running) return;
    pthread_mutex_lock(&self->mu);
    self->stopping = true;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mu);
    pthread_join(self->thread, NULL);
    self->running = false;
    crm_log_info(NULL, "outbox.stopped", "producer=%s", self->producer);
}

void crm_outbox_destroy(crm_outbox_t **self_p) {
    if (!self_p || !*self_p) return;
    crm_outbox_t *self = *self_p;
    *self_p = NULL;
    crm_outbox_stop(self);
    crm_db_destroy(&self->db);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mu);
    free(self->producer);
    free(self->pub_endpoint);
    free((char *)self->params.conninfo);
    free((char *)self->params.user);
    free((char *)self->params.password);
    free((char *)self->params.schema);
    free(self);
}

/* ---- events.replay ------------------------------------------------------------------------ */

/* A Postgres text[] literal of the requested types, each quoted and escaped. */
static char *types_literal(const Crm__ReplayRequest *req) {
    size_t cap = 3;
    for (size_t i = 0; i < req->n_types; i++) cap += 2 * strlen(req->types[i] ? req->types[i] : "") + 3;
    char *out = malloc(cap);
    if (!out) return NULL;
    char *w = out;
    *w++ = '{';
    for (size_t i = 0; i < req->n_types; i++) {
        if (i) *w++ = ',';
        *w++ = '"';
        for (const char *s = req->types[i] ? req->types[i] : ""; *s; s++) {
            if (*s == '"' || *s == '\\') *w++ = '\\';
            *w++ = *s;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = 0;
    return out;
}

/* The answer to a replay from a seq below the oldest retained one. The second field error carries
 * the oldest retained seq as a number (crm_outbox_replay_pruned reads it). */
static int replay_pruned_error(crm_outbox_t *self, crm_err_t *err, uint64_t from, uint64_t oldest)
{
    if (self->metrics) {
        char labels[200];
        labels_of(labels, sizeof labels, "producer", self->producer);
        crm_metrics_inc(self->metrics, "crm_outbox_replay_pruned_total", labels, 1);
    }
    crm_err_set(err, CRM_ECONFLICT, "/from_seq", CRM_OUTBOX_PRUNED,
                "events.replay: seq %llu of producer %s is past the outbox retention; the oldest retained "
                "seq is %llu",
                (unsigned long long)from, self->producer, (unsigned long long)oldest);
    return crm_err_add(err, CRM_ECONFLICT, "/oldest_seq", CRM_OUTBOX_PRUNED, "%llu",
                       (unsigned long long)oldest);
}

static int replay_handler(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                          crm_err_t *err) {
    crm_outbox_t *self = arg;
    const Crm__ReplayRequest *req = (const Crm__ReplayRequest *)in;
    if (!ctx->db) return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "events.replay: no database");
    PGresult *bounds = crm_db_exec(ctx->db, "crm_outbox_replay_bounds", SQL_REPLAY_BOUNDS, 0, NULL, err);
    if (!bounds || PQntuples(bounds) != 1) {
        if (bounds)
            PQclear(bounds);
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "events.replay: cannot read the outbox state");
    }
    int64_t latest = crm_db_i64(bounds, 0, 0);
    /* no row left at all (only by hand: pruning keeps the newest) means nothing is retained */
    uint64_t oldest = PQgetisnull(bounds, 0, 1) ? (uint64_t)latest + 1 : (uint64_t)crm_db_i64(bounds, 0, 1);
    PQclear(bounds);
    uint64_t limit = req->has_limit && req->limit > 0 ? req->limit : REPLAY_DEFAULT_LIMIT;
    if (limit > REPLAY_MAX_LIMIT) limit = REPLAY_MAX_LIMIT;
    uint64_t from = req->has_from_seq && req->from_seq > 0 ? req->from_seq : 1;
    uint64_t to = req->has_to_seq && req->to_seq > 0 ? req->to_seq : (uint64_t)latest;
    if (to > (uint64_t)latest) to = (uint64_t)latest;
    /* Every seq up to latest is committed and seq has no gaps, so scanning `limit` rows from
     * `from` reaches exactly from + limit - 1. */
    uint64_t through = to;
    if (from <= to && to - from + 1 > limit) through = from + limit - 1;
    /* Rows below the oldest retained one were pruned (crm_outbox_set_retention): answering with
     * what is left would let the consumer skip them silently. */
    if (from <= (uint64_t)latest && from < oldest)
        return replay_pruned_error(self, err, from, oldest);

    Crm__ReplayReply *reply = malloc(sizeof *reply);
    if (!reply) return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    crm__replay_reply__init(reply);
    reply->has_latest_seq = 1;
    reply->latest_seq = (uint64_t)latest;
    reply->has_through_seq = 1;
    reply->through_seq = through;
    if (from <= through) {
        char *types = types_literal(req);
        char from_s[32], to_s[32];
        snprintf(from_s, sizeof from_s, "%llu", (unsigned long long)from);
        snprintf(to_s, sizeof to_s, "%llu", (unsigned long long)through);
        const char *p[3] = {from_s, to_s, types ? types : "{}"};
        PGresult *res = crm_db_exec(ctx->db, "crm_outbox_replay", SQL_REPLAY, 3, p, err);
        free(types);
        if (!res) {
            protobuf_c_message_free_unpacked(&reply->base, NULL);
            return err && err->code ? err->code : CRM_EINTERNAL;
        }
        /* A pruning batch that committed between the bounds and the rows' snapshot would leave a
         * hole that through_seq claims was scanned: pruning deletes a seq prefix, so looking at the
         * oldest seq again after the rows tells whether any row the scan needed was gone. */
        bool ok = false;
        int64_t oldest_now = query_i64(ctx->db, "crm_outbox_oldest", SQL_OLDEST, &ok);
        if (!ok || (oldest_now > 0 && from < (uint64_t)oldest_now)) {
            PQclear(res);
            protobuf_c_message_free_unpacked(&reply->base, NULL);
            if (!ok)
                return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL,
                                   "events.replay: cannot read the outbox");
            return replay_pruned_error(self, err, from, (uint64_t)oldest_now);
        }
        int n = PQntuples(res);
        reply->events = calloc((size_t)(n ? n : 1), sizeof *reply->events);
        for (int r = 0; reply->events && r < n; r++) {
            Crm__Envelope *env = envelope_from_row(res, r, self->producer);
            if (env) reply->events[reply->n_events++] = env;
        }
        PQclear(res);
    }
    *out = &reply->base;
    return CRM_OK;
}

bool crm_outbox_replay_pruned(const crm_err_t *err, uint64_t *oldest)
{
    if (!err || err->code != CRM_ECONFLICT || strcmp(err->reason, CRM_OUTBOX_PRUNED) != 0)
        return false;
    for (int i = 0; i < err->nmore && i < CRM_ERR_MAX_MORE; i++) {
        if (strcmp(err->more[i].field, "/oldest_seq") != 0)
            continue;
        char *end = NULL;
        unsigned long long v = strtoull(err->more[i].message, &end, 10);
        if (end == err->more[i].message || v == 0)
            return false;
        *oldest = (uint64_t)v;
        return true;
    }
    return false;
}

void crm_outbox_serve_replay(crm_outbox_t *self, crm_rpc_server_t *rpc) {
    crm_rpc_server_handle(rpc, "events.replay", &crm__replay_request__descriptor, replay_handler, self);
}

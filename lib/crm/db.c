/* db: libpq connections with connect retry, transactions, lazily prepared named statements,
 * SQLSTATE → crm_err_t mapping, and a fixed-size thread-safe pool (DESIGN §6). */
#include "crm/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm/log.h"
#include "crm/util.h"

typedef struct {
    void (*fn)(void *);
    void *arg;
} on_commit_t;

struct crm_db_t {
    PGconn *conn;
    char *conninfo;
    char *user;
    char *password;
    char *schema;
    int retry_seconds;
    bool broken;       /* a connection failure was seen: reset on the next crm_db_check */
    char **prepared;   /* names prepared on this connection (forgotten after a reset) */
    size_t nprepared, capprepared;
    char sqlstate[8];
    on_commit_t on_commit[CRM_DB_ON_COMMIT_MAX]; /* crm_db_on_commit: each once after the commit */
    int n_on_commit;
};

struct crm_db_pool_t {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    crm_db_t **dbs;
    bool *busy;
    int size;
    int in_use;
};

static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

static void forget_prepared(crm_db_t *self) {
    for (size_t i = 0; i < self->nprepared; i++) free(self->prepared[i]);
    self->nprepared = 0;
}

/* search_path = the schema only, so service SQL names its tables without a schema. */
static int apply_session(crm_db_t *self, crm_err_t *err) {
    PQsetNoticeProcessor(self->conn, ignore_notice, NULL);
    if (!self->schema) return CRM_OK;
    const char *params[1] = {self->schema};
    PGresult *res = PQexecParams(self->conn,
                                 "SELECT pg_catalog.set_config('search_path', pg_catalog.quote_ident($1), false)",
                                 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: cannot set search_path: %s", PQerrorMessage(self->conn));
    PQclear(res);
    return ok ? CRM_OK : CRM_EUNAVAILABLE;
}

static PGconn *open_conn(const crm_db_t *self) {
    /* With expand_dbname the URL in "dbname" is expanded first; the user and password
     * given after it override the ones it holds. */
    const char *keys[5];
    const char *vals[5];
    int n = 0;
    keys[n] = "dbname";
    vals[n++] = self->conninfo;
    if (self->user) {
        keys[n] = "user";
        vals[n++] = self->user;
    }
    if (self->password && self->password[0]) {
        keys[n] = "password";
        vals[n++] = self->password;
    }
    keys[n] = NULL;
    vals[n] = NULL;
    return PQconnectdbParams(keys, vals, 1);
}

crm_db_t *crm_db_connect(const crm_db_params_t *params, crm_err_t *err) {
    if (!params || !params->conninfo) {
        crm_err_set(err, CRM_EINVALID, NULL, NULL, "db: no conninfo");
        return NULL;
    }
    crm_db_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "db: out of memory");
        return NULL;
    }
    self->conninfo = crm_strdup(params->conninfo);
    self->user = crm_strdup(params->user);
    self->password = crm_strdup(params->password);
    self->schema = crm_strdup(params->schema);
    self->retry_seconds = params->retry_seconds;

    int64_t deadline = crm_mono_us() + (int64_t)params->retry_seconds * 1000000;
    long backoff_ms = 100;
    for (int attempt = 1;; attempt++) {
        self->conn = open_conn(self);
        if (PQstatus(self->conn) == CONNECTION_OK) {
            if (apply_session(self, err) == CRM_OK) return self;
        } else {
            crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: connect failed: %s", PQerrorMessage(self->conn));
        }
        PQfinish(self->conn);
        self->conn = NULL;
        if (crm_mono_us() + backoff_ms * 1000 > deadline) break;
        if (attempt == 1 || attempt % 10 == 0) {
            char q[512];
            crm_log_warn(NULL, "db.connect_retry", "attempt=%d error=%s", attempt,
                         crm_log_quote(err ? err->message : "", q, sizeof q));
        }
        crm_sleep_ms(backoff_ms);
        backoff_ms = backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2;
    }
    crm_db_destroy(&self);
    return NULL;
}

void crm_db_destroy(crm_db_t **self_p) {
    if (!self_p || !*self_p) return;
    crm_db_t *self = *self_p;
    *self_p = NULL;
    if (self->conn) PQfinish(self->conn);
    forget_prepared(self);
    free(self->prepared);
    free(self->conninfo);
    free(self->user);
    free(self->password);
    free(self->schema);
    free(self);
}

PGconn *crm_db_conn(crm_db_t *self) { return self->conn; }

bool crm_db_ok(crm_db_t *self) {
    if (!self || !self->conn || self->broken) return false;
    if (PQstatus(self->conn) != CONNECTION_OK) return false;
    /* An idle connection whose server went away still says CONNECTION_OK until it reads
     * the EOF: read what is pending (non-blocking) so a restart is noticed here. */
    if (PQtransactionStatus(self->conn) == PQTRANS_IDLE && !PQisBusy(self->conn)) {
        /* A dying server may send a last message before closing: a second read sees the EOF. */
        for (int i = 0; i < 3; i++)
            if (!PQconsumeInput(self->conn) || PQstatus(self->conn) != CONNECTION_OK) return false;
    }
    return true;
}

int crm_db_check(crm_db_t *self, crm_err_t *err) {
    if (crm_db_ok(self)) return CRM_OK;
    if (!self) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "db: no connection");
    forget_prepared(self);
    if (self->conn) PQfinish(self->conn);
    self->conn = open_conn(self);
    if (PQstatus(self->conn) != CONNECTION_OK) {
        self->broken = true;
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: reconnect failed: %s", PQerrorMessage(self->conn));
    }
    if (apply_session(self, err) != CRM_OK) {
        self->broken = true;
        return CRM_EUNAVAILABLE;
    }
    self->broken = false;
    crm_log_info(NULL, "db.reconnected", "schema=%s", self->schema ? self->schema : "");
    return CRM_OK;
}

/* Maps a failed result (or NULL) to a crm code and fills err. */
static int map_error(crm_db_t *self, PGresult *res, const char *what, crm_err_t *err) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !msg[0]) msg = PQerrorMessage(self->conn);
    char clean[400];
    snprintf(clean, sizeof clean, "%s", msg ? msg : "");
    size_t n = strlen(clean);
    while (n && (clean[n - 1] == '\n' || clean[n - 1] == ' ')) clean[--n] = 0;

    if (PQstatus(self->conn) == CONNECTION_BAD || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        self->broken = true;
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: %s: connection lost: %s", what, clean);
    }
    if (strcmp(state, "23505") == 0) {
        const char *c = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        return crm_err_set(err, CRM_ECONFLICT, NULL, "already_exists", "unique violation: %s", c ? c : "?");
    }
    /* Serialization failures, deadlocks and lock timeouts: a retry may succeed. */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: %s: %s", what, clean);
    return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "db: %s: %s (%s)", what, clean, state);
}

static bool result_ok(const PGresult *res) {
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static bool is_prepared(const crm_db_t *self, const char *name) {
    for (size_t i = 0; i < self->nprepared; i++)
        if (strcmp(self->prepared[i], name) == 0) return true;
    return false;
}

static void remember_prepared(crm_db_t *self, const char *name) {
    if (self->nprepared == self->capprepared) {
        size_t cap = self->capprepared ? self->capprepared * 2 : 32;
        char **p = realloc(self->prepared, cap * sizeof *p);
        if (!p) return; /* it will be prepared again and hit "already exists", handled below */
        self->prepared = p;
        self->capprepared = cap;
    }
    self->prepared[self->nprepared++] = crm_strdup(name);
}

static int ensure_conn(crm_db_t *self, crm_err_t *err) {
    if (!self || !self->conn) return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: no connection");
    if (self->broken || PQstatus(self->conn) != CONNECTION_OK) {
        self->broken = true;
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: connection is down");
    }
    return CRM_OK;
}

PGresult *crm_db_exec(crm_db_t *self, const char *stmt_name, const char *sql, int nparams,
                      const char *const *params, crm_err_t *err) {
    if (ensure_conn(self, err) != CRM_OK) return NULL;
    self->sqlstate[0] = 0;
    if (!is_prepared(self, stmt_name)) {
        PGresult *p = PQprepare(self->conn, stmt_name, sql, nparams, NULL);
        const char *state = p ? PQresultErrorField(p, PG_DIAG_SQLSTATE) : NULL;
        /* 42P05: already prepared on this connection (we lost track of it): usable. */
        if (!result_ok(p) && !(state && strcmp(state, "42P05") == 0)) {
            map_error(self, p, stmt_name, err);
            PQclear(p);
            return NULL;
        }
        PQclear(p);
        remember_prepared(self, stmt_name);
    }
    PGresult *res = PQexecPrepared(self->conn, stmt_name, nparams, params, NULL, NULL, 0);
    if (!result_ok(res)) {
        map_error(self, res, stmt_name, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

int crm_db_run(crm_db_t *self, const char *stmt_name, const char *sql, int nparams, const char *const *params,
               crm_err_t *err) {
    PGresult *res = crm_db_exec(self, stmt_name, sql, nparams, params, err);
    if (!res) return err ? err->code : CRM_EINTERNAL;
    PQclear(res);
    return CRM_OK;
}

int crm_db_exec_simple(crm_db_t *self, const char *sql, crm_err_t *err) {
    crm_err_t local;
    if (!err) err = &local;
    int rc = ensure_conn(self, err);
    if (rc != CRM_OK) return rc;
    self->sqlstate[0] = 0;
    PGresult *res = PQexec(self->conn, sql);
    if (!result_ok(res)) {
        rc = map_error(self, res, "exec", err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    return CRM_OK;
}

int crm_db_copy_in(crm_db_t *self, const char *copy_sql, const char *data, size_t len, crm_err_t *err) {
    crm_err_t local;
    if (!err) err = &local;
    int rc = ensure_conn(self, err);
    if (rc != CRM_OK) return rc;
    self->sqlstate[0] = 0;
    PGresult *res = PQexec(self->conn, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = map_error(self, res, "copy", err);
        PQclear(res);
        return rc ? rc : crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "copy: not a COPY FROM STDIN");
    }
    PQclear(res);
    /* libpq takes at most INT_MAX bytes per call */
    bool sent = true;
    for (size_t off = 0; sent && off < len;) {
        size_t n = len - off > (1u << 30) ? (1u << 30) : len - off;
        sent = PQputCopyData(self->conn, data + off, (int)n) == 1;
        off += n;
    }
    if (PQputCopyEnd(self->conn, sent ? NULL : "copy data not sent") != 1) sent = false;
    rc = CRM_OK;
    while ((res = PQgetResult(self->conn)) != NULL) {
        if (rc == CRM_OK && !result_ok(res)) rc = map_error(self, res, "copy", err);
        PQclear(res);
    }
    if (rc == CRM_OK && !sent) {
        self->broken = true;
        rc = crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "copy: %s", PQerrorMessage(self->conn));
    }
    return rc;
}

const char *crm_db_last_sqlstate(const crm_db_t *self) { return self ? self->sqlstate : ""; }

int crm_db_begin(crm_db_t *self, crm_err_t *err) { return crm_db_exec_simple(self, "BEGIN", err); }

int crm_db_commit(crm_db_t *self, crm_err_t *err) {
    crm_err_t local;
    if (!err) err = &local;
    int rc = ensure_conn(self, err);
    if (rc != CRM_OK) return rc;
    PGresult *res = PQexec(self->conn, "COMMIT");
    if (!result_ok(res)) {
        rc = map_error(self, res, "commit", err);
        PQclear(res);
        self->n_on_commit = 0;
        return rc;
    }
    /* COMMIT of a transaction that already failed answers "ROLLBACK": nothing was kept. */
    if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        PQclear(res);
        self->n_on_commit = 0;
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "db: commit of a failed transaction rolled back");
    }
    PQclear(res);
    /* a callback may begin the next transaction on this connection: run a copy */
    int n = self->n_on_commit;
    on_commit_t calls[CRM_DB_ON_COMMIT_MAX];
    memcpy(calls, self->on_commit, (size_t)n * sizeof calls[0]);
    self->n_on_commit = 0;
    for (int i = 0; i < n; i++) calls[i].fn(calls[i].arg);
    return CRM_OK;
}

void crm_db_on_commit(crm_db_t *self, void (*fn)(void *), void *arg) {
    if (!self || !fn) return;
    if (!self->conn || PQtransactionStatus(self->conn) == PQTRANS_IDLE) { /* autocommit: already committed */
        fn(arg);
        return;
    }
    for (int i = 0; i < self->n_on_commit; i++)
        if (self->on_commit[i].fn == fn && self->on_commit[i].arg == arg) return; /* once per transaction */
    if (self->n_on_commit == CRM_DB_ON_COMMIT_MAX) { /* not with one outbox per service; a relay's poll */
        crm_log_warn(NULL, "db.on_commit_full", "max=%d", CRM_DB_ON_COMMIT_MAX); /* still finds the rows */
        return;
    }
    self->on_commit[self->n_on_commit].fn = fn;
    self->on_commit[self->n_on_commit++].arg = arg;
}

void crm_db_rollback(crm_db_t *self) {
    if (self) self->n_on_commit = 0;
    if (!self || !self->conn || PQstatus(self->conn) != CONNECTION_OK) return;
    if (PQtransactionStatus(self->conn) == PQTRANS_IDLE) return;
    PGresult *res = PQexec(self->conn, "ROLLBACK");
    if (!result_ok(res) && PQstatus(self->conn) == CONNECTION_BAD) self->broken = true;
    PQclear(res);
}

/* Savepoint names are written into SQL text: only [A-Za-z0-9_] are accepted. */
static bool valid_ident(const char *s) {
    if (!s || !*s || strlen(s) > 63) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

int crm_db_savepoint(crm_db_t *self, const char *name, crm_err_t *err) {
    if (!valid_ident(name)) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "db: bad savepoint name");
    char sql[96];
    snprintf(sql, sizeof sql, "SAVEPOINT %s", name);
    return crm_db_exec_simple(self, sql, err);
}

int crm_db_rollback_to(crm_db_t *self, const char *name, crm_err_t *err) {
    if (!valid_ident(name)) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "db: bad savepoint name");
    char sql[112];
    snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT %s", name);
    return crm_db_exec_simple(self, sql, err);
}

/* ---- pool ------------------------------------------------------------------------------ */

crm_db_pool_t *crm_db_pool_new(const crm_db_params_t *params, int size, crm_err_t *err) {
    if (size < 1) size = 1;
    crm_db_pool_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "db: out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cond, &ca);
    pthread_condattr_destroy(&ca);
    self->dbs = calloc((size_t)size, sizeof *self->dbs);
    self->busy = calloc((size_t)size, sizeof *self->busy);
    self->size = size;
    if (!self->dbs || !self->busy) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "db: out of memory");
        crm_db_pool_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < size; i++) {
        crm_db_params_t p = *params;
        if (i > 0 && p.retry_seconds > 5) p.retry_seconds = 5; /* the first one waited already */
        self->dbs[i] = crm_db_connect(&p, err);
        if (!self->dbs[i]) {
            crm_db_pool_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void crm_db_pool_destroy(crm_db_pool_t **self_p) {
    if (!self_p || !*self_p) return;
    crm_db_pool_t *self = *self_p;
    *self_p = NULL;
    for (int i = 0; self->dbs && i < self->size; i++) crm_db_destroy(&self->dbs[i]);
    free(self->dbs);
    free(self->busy);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

crm_db_t *crm_db_pool_get(crm_db_pool_t *self, int timeout_ms, crm_err_t *err) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    crm_db_t *db = NULL;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        for (int i = 0; i < self->size; i++)
            if (!self->busy[i]) {
                self->busy[i] = true;
                self->in_use++;
                db = self->dbs[i];
                break;
            }
        if (db) break;
        int rc = pthread_cond_timedwait(&self->cond, &self->mu, &until);
        if (rc == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&self->mu);
    if (!db) {
        crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "db: no free connection in %d ms", timeout_ms);
        return NULL;
    }
    if (crm_db_check(db, err) != CRM_OK) {
        crm_db_pool_put(self, db);
        return NULL;
    }
    return db;
}

void crm_db_pool_put(crm_db_pool_t *self, crm_db_t *db) {
    if (!self || !db) return;
    /* A connection goes back without an open transaction, whatever the caller left. */
    crm_db_rollback(db);
    pthread_mutex_lock(&self->mu);
    for (int i = 0; i < self->size; i++)
        if (self->dbs[i] == db && self->busy[i]) {
            self->busy[i] = false;
            self->in_use--;
            break;
        }
    pthread_cond_signal(&self->cond);
    pthread_mutex_unlock(&self->mu);
}

int crm_db_pool_size(const crm_db_pool_t *self) { return self->size; }

int crm_db_pool_in_use(crm_db_pool_t *self) {
    pthread_mutex_lock(&self->mu);
    int n = self->in_use;
    pthread_mutex_unlock(&self->mu);
    return n;
}

/* ---- results --------------------------------------------------------------------------- */

const char *crm_db_str(const PGresult *res, int r, int c) {
    if (!res || r >= PQntuples(res) || c >= PQnfields(res) || PQgetisnull(res, r, c)) return NULL;
    return PQgetvalue(res, r, c);
}

long long crm_db_i64(const PGresult *res, int r, int c) {
    const char *s = crm_db_str(res, r, c);
    return s ? strtoll(s, NULL, 10) : 0;
}

bool crm_db_bool(const PGresult *res, int r, int c) {
    const char *s = crm_db_str(res, r, c);
    return s && (s[0] == 't' || s[0] == '1');
}

/* Postgres access (libpq): connections with retry, a small pool, transactions, named prepared
 * statements, and migrations applied under an advisory lock.
 *
 * Each service owns one schema (DESIGN §6); a connection's search_path is that schema only.
 * SQL lives in each service's store.c as named statements with $n parameters. */
#ifndef CRM_DB_H
#define CRM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "crm/err.h"

typedef struct crm_db_t crm_db_t;
typedef struct crm_db_pool_t crm_db_pool_t;

typedef struct {
    const char *name; /* "001_init.sql": applied in this order, recorded by name */
    const char *sql;  /* may hold several statements */
} crm_migration_t;

/* Where and as whom to connect. conninfo is a libpq URL or key=value string; user and password,
 * when not NULL, override the ones in it (each service logs in as its own role, DESIGN §6).
 * schema, when not NULL, becomes the whole search_path. */
typedef struct {
    const char *conninfo;
    const char *user;
    const char *password;
    const char *schema;
    int retry_seconds; /* keep retrying a failed connect with backoff this long (0 = once) */
} crm_db_params_t;

crm_db_t *crm_db_connect(const crm_db_params_t *params, crm_err_t *err);
void crm_db_destroy(crm_db_t **self_p);
PGconn *crm_db_conn(crm_db_t *self);
/* True when the connection is usable; a broken one is reset (reconnect) by crm_db_check. */
bool crm_db_ok(crm_db_t *self);
int crm_db_check(crm_db_t *self, crm_err_t *err);

int crm_db_begin(crm_db_t *self, crm_err_t *err);
int crm_db_commit(crm_db_t *self, crm_err_t *err);
void crm_db_rollback(crm_db_t *self); /* safe to call when no transaction is open */
/* fn(arg) runs once right after the open transaction commits (crm_db_commit); a rollback or a
 * failed commit drops it. Outside a transaction (autocommit) it runs at once. Up to
 * CRM_DB_ON_COMMIT_MAX different (fn, arg) per transaction, run in the order set; the same pair set
 * again runs once (crm_outbox_append sets one per append to wake its outbox's relay). */
#define CRM_DB_ON_COMMIT_MAX 8
void crm_db_on_commit(crm_db_t *self, void (*fn)(void *), void *arg);
int crm_db_savepoint(crm_db_t *self, const char *name, crm_err_t *err);
int crm_db_rollback_to(crm_db_t *self, const char *name, crm_err_t *err);

/* Runs a named prepared statement (prepared on first use on this connection). params may
 * hold NULLs for SQL NULL. Returns the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK), or NULL
 * with err set: unique violations → CRM_ECONFLICT, connection failures → CRM_EUNAVAILABLE
 * (and the connection is marked for reset), other errors → CRM_EINTERNAL.
 * The caller PQclear()s the result. */
PGresult *crm_db_exec(crm_db_t *self, const char *stmt_name, const char *sql, int nparams,
                      const char *const *params, crm_err_t *err);
/* Like crm_db_exec for statements without a result the caller needs; returns 0 or the code. */
int crm_db_run(crm_db_t *self, const char *stmt_name, const char *sql, int nparams,
               const char *const *params, crm_err_t *err);
/* Unprepared, unparameterised SQL (migrations, SET, LISTEN): no user input, ever. */
int crm_db_exec_simple(crm_db_t *self, const char *sql, crm_err_t *err);
/* COPY ... FROM STDIN (text format) with data, len bytes of rows: 0 or the code (errors mapped
 * like crm_db_exec). For bulk loads inside the caller's transaction. */
int crm_db_copy_in(crm_db_t *self, const char *copy_sql, const char *data, size_t len, crm_err_t *err);
/* The SQLSTATE of the last failed statement on this connection ("23505"), or "". */
const char *crm_db_last_sqlstate(const crm_db_t *self);

/* Applies, in order and each in its own transaction, the libcrm core migrations (outbox,
 * outbox_state, inbox_offsets, dead_letters) and then `migrations` that are not yet recorded in
 * <schema>.schema_migrations, holding pg_advisory_lock(hash of schema) so that many instances
 * may start at once. Creates the schema if it does not exist. */
int crm_db_migrate(crm_db_t *self, const char *schema, const crm_migration_t *migrations, size_t count,
                   crm_err_t *err);

/* A fixed-size pool of connections with the same conninfo and schema. Thread-safe. */
crm_db_pool_t *crm_db_pool_new(const crm_db_params_t *params, int size, crm_err_t *err);
void crm_db_pool_destroy(crm_db_pool_t **self_p);
/* Waits up to timeout_ms for a free connection (checked and reset if broken); NULL on timeout
 * with err = CRM_EUNAVAILABLE. */
crm_db_t *crm_db_pool_get(crm_db_pool_t *self, int timeout_ms, crm_err_t *err);
void crm_db_pool_put(crm_db_pool_t *self, crm_db_t *db);
int crm_db_pool_size(const crm_db_pool_t *self);
int crm_db_pool_in_use(crm_db_pool_t *self);

/* Helpers for results: the value of row r, column c as text (NULL for SQL NULL), int64, bool. */
const char *crm_db_str(const PGresult *res, int r, int c);
long long crm_db_i64(const PGresult *res, int r, int c);
bool crm_db_bool(const PGresult *res, int r, int c);

#endif

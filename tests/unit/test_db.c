/* Unit tests of db.c and migrate.c against a real throwaway Postgres (pgtest): connect and
 * retry, prepared statements, error mapping, pool exhaustion, reconnect after a restart, and
 * migrations applied exactly once under concurrency. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "crm/db.h"
#include "crm/util.h"
#include "pgtest.h"

static pgtest_t *pg;

static void pg_up(void) {
    pg = pgtest_start();
    cr_assert_not_null(pg, "pgtest_start");
}

static void pg_down(void) { pgtest_destroy(&pg); }

static const crm_migration_t test_migrations[] = {
    {"001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL UNIQUE, ok boolean);"
                      "CREATE TABLE runs (n int);"},
    /* Not idempotent on purpose: applied twice, it would leave two rows. */
    {"002_run.sql", "INSERT INTO runs VALUES (1);"},
};

static crm_db_t *connect_schema(const char *schema, int retry_seconds) {
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = schema, .retry_seconds = retry_seconds};
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "connect: %s", err.message);
    return db;
}

static long long count_rows(crm_db_t *db, const char *stmt, const char *sql) {
    crm_err_t err = {0};
    PGresult *res = crm_db_exec(db, stmt, sql, 0, NULL, &err);
    cr_assert_not_null(res, "%s: %s", sql, err.message);
    long long n = crm_db_i64(res, 0, 0);
    PQclear(res);
    return n;
}

TestSuite(db, .init = pg_up, .fini = pg_down, .timeout = 120);

Test(db, connect_migrate_prepared_and_helpers) {
    crm_db_t *db = connect_schema("app", 0);
    crm_err_t err = {0};
    cr_assert_eq(crm_db_migrate(db, "app", test_migrations, 2, &err), CRM_OK, "%s", err.message);
    /* search_path is the schema only: unqualified names land in it */
    const char *p1[] = {"1", "alpha", "t"};
    const char *p2[] = {"2", "beta", NULL};
    const char *ins = "INSERT INTO items (id, name, ok) VALUES ($1, $2, $3)";
    cr_assert_eq(crm_db_run(db, "ins", ins, 3, p1, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(crm_db_run(db, "ins", ins, 3, p2, &err), CRM_OK, "%s", err.message);
    PGresult *res = crm_db_exec(db, "sel", "SELECT id, name, ok FROM app.items ORDER BY id", 0, NULL, &err);
    cr_assert_not_null(res, "%s", err.message);
    cr_assert_eq(PQntuples(res), 2);
    cr_assert_eq(crm_db_i64(res, 0, 0), 1);
    cr_assert_str_eq(crm_db_str(res, 0, 1), "alpha");
    cr_assert(crm_db_bool(res, 0, 2));
    cr_assert_null(crm_db_str(res, 1, 2));
    cr_assert_not(crm_db_bool(res, 1, 2));
    PQclear(res);
    /* the core tables exist in the schema, with the outbox_state row */
    cr_assert_eq(count_rows(db, "st", "SELECT count(*) FROM outbox_state WHERE last_seq = 0"), 1);
    cr_assert_eq(count_rows(db, "cnt_ib", "SELECT count(*) FROM inbox_offsets"), 0);
    cr_assert_eq(count_rows(db, "cnt_dl", "SELECT count(*) FROM dead_letters"), 0);
    /* migrating again applies nothing */
    cr_assert_eq(crm_db_migrate(db, "app", test_migrations, 2, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(count_rows(db, "runs", "SELECT count(*) FROM runs"), 1);
    crm_db_destroy(&db);
    cr_assert_null(db);
}

Test(db, transactions_and_savepoints) {
    crm_db_t *db = connect_schema("app", 0);
    crm_err_t err = {0};
    cr_assert_eq(crm_db_migrate(db, "app", test_migrations, 2, &err), CRM_OK, "%s", err.message);
    const char *ins = "INSERT INTO items (id, name) VALUES ($1, $2)";
    const char *a[] = {"1", "a"}, *b[] = {"2", "b"}, *c[] = {"3", "c"};
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(crm_db_run(db, "ins", ins, 2, a, &err), CRM_OK);
    cr_assert_eq(crm_db_savepoint(db, "sp1", &err), CRM_OK);
    cr_assert_eq(crm_db_run(db, "ins", ins, 2, b, &err), CRM_OK);
    cr_assert_eq(crm_db_rollback_to(db, "sp1", &err), CRM_OK);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(count_rows(db, "cnt", "SELECT count(*) FROM items"), 1);
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(crm_db_run(db, "ins", ins, 2, c, &err), CRM_OK);
    crm_db_rollback(db);
    crm_db_rollback(db); /* safe with no transaction open */
    cr_assert_eq(count_rows(db, "cnt", "SELECT count(*) FROM items"), 1);
    /* a savepoint name is never SQL */
    cr_assert_eq(crm_db_savepoint(db, "x; DROP TABLE items", &err), CRM_EINVALID);
    /* a failed transaction does not commit */
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(crm_db_exec_simple(db, "SELECT 1/0", &err), CRM_EINTERNAL);
    cr_assert_str_eq(crm_db_last_sqlstate(db), "22012");
    cr_assert_neq(crm_db_commit(db, &err), CRM_OK);
    crm_db_destroy(&db);
}

static void count_call(void *arg) { (*(int *)arg)++; }

/* crm_db_on_commit: once after a commit; dropped by a rollback and by a failed commit; at once
 * outside a transaction. */
Test(db, on_commit_runs_once_after_a_commit_only) {
    crm_db_t *db = connect_schema("app", 0);
    crm_err_t err = {0};
    int calls = 0;
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    crm_db_on_commit(db, count_call, &calls);
    cr_assert_eq(calls, 0, "not before the commit");
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(calls, 1, "after the commit");
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(calls, 1, "once");
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    crm_db_on_commit(db, count_call, &calls);
    crm_db_rollback(db);
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(calls, 1, "a rollback drops it");
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    crm_db_on_commit(db, count_call, &calls);
    cr_assert_eq(crm_db_exec_simple(db, "SELECT 1/0", &err), CRM_EINTERNAL);
    cr_assert_neq(crm_db_commit(db, &err), CRM_OK);
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(calls, 1, "a failed commit drops it");
    crm_db_on_commit(db, count_call, &calls);
    cr_assert_eq(calls, 2, "autocommit: at once");
    crm_db_destroy(&db);
}

static void count_other(void *arg) { ((int *)arg)[1]++; }

/* Several callbacks in one transaction (two outboxes appended to): each runs once after the commit;
 * the same one set twice runs once; a rollback drops them all. */
Test(db, on_commit_keeps_every_callback_of_a_transaction) {
    crm_db_t *db = connect_schema("app", 0);
    crm_err_t err = {0};
    int calls[2] = {0, 0};
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    crm_db_on_commit(db, count_call, &calls[0]);
    crm_db_on_commit(db, count_other, calls);
    crm_db_on_commit(db, count_call, &calls[0]);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(calls[0], 1, "the first, once although set twice");
    cr_assert_eq(calls[1], 1, "the second as well");
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    crm_db_on_commit(db, count_call, &calls[0]);
    crm_db_on_commit(db, count_other, calls);
    crm_db_rollback(db);
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(calls[0] + calls[1], 2, "a rollback drops both");
    crm_db_destroy(&db);
}

Test(db, error_mapping) {
    crm_db_t *db = connect_schema("app", 0);
    crm_db_t *other = connect_schema("app", 0);
    crm_err_t err = {0};
    cr_assert_eq(crm_db_migrate(db, "app", test_migrations, 2, &err), CRM_OK, "%s", err.message);
    const char *ins = "INSERT INTO items (id, name) VALUES ($1, $2)";
    const char *a[] = {"1", "a"}, *dup_name[] = {"2", "a"};
    cr_assert_eq(crm_db_run(db, "ins", ins, 2, a, &err), CRM_OK);
    /* unique violation → CONFLICT naming the constraint */
    cr_assert_eq(crm_db_run(db, "ins", ins, 2, dup_name, &err), CRM_ECONFLICT);
    cr_assert(strstr(err.message, "items_name_key") != NULL, "message: %s", err.message);
    cr_assert_str_eq(crm_db_last_sqlstate(db), "23505");
    /* a serialization conflict → UNAVAILABLE (transient: retry) */
    cr_assert_eq(crm_db_exec_simple(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", &err), CRM_OK);
    cr_assert_eq(count_rows(db, "cnt", "SELECT count(*) FROM items"), 1);
    cr_assert_eq(crm_db_exec_simple(other, "UPDATE items SET name = 'b' WHERE id = 1", &err), CRM_OK);
    const char *upd[] = {"1"};
    cr_assert_eq(crm_db_run(db, "upd", "UPDATE items SET name = 'c' WHERE id = $1", 1, upd, &err),
                 CRM_EUNAVAILABLE, "%s", err.message);
    cr_assert_str_eq(crm_db_last_sqlstate(db), "40001");
    cr_assert(crm_err_is_transient(&err));
    crm_db_rollback(db);
    /* a bad statement → INTERNAL; the connection stays usable */
    cr_assert_eq(crm_db_run(db, "bad", "SELECT nope FROM items", 0, NULL, &err), CRM_EINTERNAL);
    cr_assert(crm_db_ok(db));
    cr_assert_eq(count_rows(db, "cnt", "SELECT count(*) FROM items"), 1);
    crm_db_destroy(&db);
    crm_db_destroy(&other);
}

Test(db, unavailable_then_reconnect_after_restart) {
    crm_db_t *db = connect_schema("app", 0);
    crm_err_t err = {0};
    cr_assert_eq(crm_db_migrate(db, "app", test_migrations, 2, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(count_rows(db, "cnt", "SELECT count(*) FROM items"), 0);
    cr_assert_eq(pgtest_stop(pg, 1), 0);
    PGresult *res = crm_db_exec(db, "cnt", "SELECT count(*) FROM items", 0, NULL, &err);
    cr_assert_null(res);
    cr_assert_eq(err.code, CRM_EUNAVAILABLE, "%s", err.message);
    cr_assert_not(crm_db_ok(db));
    cr_assert_eq(crm_db_check(db, &err), CRM_EUNAVAILABLE);
    cr_assert_eq(pgtest_restart(pg), 0);
    cr_assert_eq(crm_db_check(db, &err), CRM_OK, "%s", err.message);
    /* the statement is prepared again on the new connection, search_path set again */
    cr_assert_eq(count_rows(db, "cnt", "SELECT count(*) FROM items"), 0);
    /* a restart while idle is noticed by crm_db_ok without a failed query */
    cr_assert_eq(pgtest_stop(pg, 0), 0);
    cr_assert_eq(pgtest_restart(pg), 0);
    cr_assert_not(crm_db_ok(db));
    cr_assert_eq(crm_db_check(db, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(count_rows(db, "cnt", "SELECT count(*) FROM items"), 0);
    crm_db_destroy(&db);
}

static void *restart_later(void *arg) {
    crm_sleep_ms(1500);
    *(int *)arg = pgtest_restart(pg);
    return NULL;
}

Test(db, connect_retries_until_server_is_up) {
    cr_assert_eq(pgtest_stop(pg, 0), 0);
    crm_db_params_t once = {.conninfo = pgtest_url(pg), .schema = "app", .retry_seconds = 0};
    crm_err_t err = {0};
    int64_t t0 = crm_mono_us();
    cr_assert_null(crm_db_connect(&once, &err));
    cr_assert_eq(err.code, CRM_EUNAVAILABLE);
    cr_assert_lt(crm_mono_us() - t0, 1000000);

    int restarted = -1;
    pthread_t th;
    pthread_create(&th, NULL, restart_later, &restarted);
    crm_db_params_t retry = {.conninfo = pgtest_url(pg), .schema = "app", .retry_seconds = 30};
    t0 = crm_mono_us();
    crm_db_t *db = crm_db_connect(&retry, &err);
    int64_t waited = crm_mono_us() - t0;
    pthread_join(th, NULL);
    cr_assert_eq(restarted, 0);
    cr_assert_not_null(db, "%s", err.message);
    cr_assert_geq(waited, 1000000, "connected before the server was up?");
    cr_assert(crm_db_ok(db));
    crm_db_destroy(&db);
}

Test(db, user_override_and_precreated_schema) {
    /* `crmctl db init` makes the schema for the role; the role cannot create schemas itself */
    cr_assert_eq(pgtest_psql(pg, "CREATE ROLE crm_leads LOGIN PASSWORD 'pw';"
                                 "REVOKE CREATE ON DATABASE crm FROM PUBLIC;"
                                 "CREATE SCHEMA leads AUTHORIZATION crm_leads;"),
                 0);
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .user = "crm_leads", .password = "pw", .schema = "leads"};
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "%s", err.message);
    cr_assert_eq(count_rows(db, "who", "SELECT CASE WHEN current_user = 'crm_leads' THEN 1 ELSE 0 END"), 1);
    cr_assert_eq(crm_db_migrate(db, "leads", test_migrations, 2, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(count_rows(db, "runs", "SELECT count(*) FROM runs"), 1);
    /* and a schema it may not create is refused, not crashed on */
    cr_assert_neq(crm_db_migrate(db, "other", test_migrations, 2, &err), CRM_OK);
    cr_assert_eq(crm_db_migrate(db, "bad-name\"", test_migrations, 2, &err), CRM_EINVALID);
    crm_db_destroy(&db);
}

Test(db, pool_exhaustion_timeout_and_reset) {
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "app"};
    crm_err_t err = {0};
    crm_db_pool_t *pool = crm_db_pool_new(&p, 2, &err);
    cr_assert_not_null(pool, "%s", err.message);
    cr_assert_eq(crm_db_pool_size(pool), 2);
    crm_db_t *a = crm_db_pool_get(pool, 100, &err);
    crm_db_t *b = crm_db_pool_get(pool, 100, &err);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_neq(a, b);
    cr_assert_eq(crm_db_pool_in_use(pool), 2);
    int64_t t0 = crm_mono_us();
    cr_assert_null(crm_db_pool_get(pool, 200, &err));
    int64_t waited = crm_mono_us() - t0;
    cr_assert_eq(err.code, CRM_EUNAVAILABLE);
    cr_assert_geq(waited, 180000);
    cr_assert_lt(waited, 2000000);
    /* a connection left inside a transaction comes back clean */
    cr_assert_eq(crm_db_begin(a, &err), CRM_OK);
    crm_db_pool_put(pool, a);
    cr_assert_eq(crm_db_pool_in_use(pool), 1);
    crm_db_t *c = crm_db_pool_get(pool, 100, &err);
    cr_assert_eq(c, a);
    cr_assert_eq(PQtransactionStatus(crm_db_conn(c)), PQTRANS_IDLE);
    crm_db_pool_put(pool, c);
    crm_db_pool_put(pool, b);
    cr_assert_eq(crm_db_pool_in_use(pool), 0);
    /* after a server restart, get hands out working connections */
    cr_assert_eq(pgtest_stop(pg, 1), 0);
    cr_assert_eq(pgtest_restart(pg), 0);
    for (int i = 0; i < 2; i++) {
        crm_db_t *d = crm_db_pool_get(pool, 1000, &err);
        cr_assert_not_null(d, "%s", err.message);
        cr_assert_eq(crm_db_run(d, "one", "SELECT 1", 0, NULL, &err), CRM_OK, "%s", err.message);
        if (i == 0) {
            crm_db_t *e = crm_db_pool_get(pool, 1000, &err);
            cr_assert_not_null(e, "%s", err.message);
            cr_assert_eq(crm_db_run(e, "one", "SELECT 1", 0, NULL, &err), CRM_OK, "%s", err.message);
            crm_db_pool_put(pool, e);
        }
        crm_db_pool_put(pool, d);
    }
    crm_db_pool_destroy(&pool);
    cr_assert_null(pool);
}

typedef struct {
    int rc;
    char msg[512];
} migrate_result_t;

static void *migrate_thread(void *arg) {
    migrate_result_t *r = arg;
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "race", .retry_seconds = 5};
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    if (!db) {
        r->rc = err.code;
        snprintf(r->msg, sizeof r->msg, "%s", err.message);
        return NULL;
    }
    r->rc = crm_db_migrate(db, "race", test_migrations, 2, &err);
    snprintf(r->msg, sizeof r->msg, "%s", err.message);
    crm_db_destroy(&db);
    return NULL;
}

Test(db, migrations_applied_once_by_four_threads) {
    pthread_t th[4];
    migrate_result_t r[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, migrate_thread, &r[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) cr_assert_eq(r[i].rc, CRM_OK, "thread %d: %s", i, r[i].msg);
    crm_db_t *db = connect_schema("race", 0);
    cr_assert_eq(count_rows(db, "runs", "SELECT count(*) FROM runs"), 1);
    /* each migration once: libcrm's core ones (crm_core_*) and the two of this test */
    cr_assert_eq(count_rows(db, "mig", "SELECT count(*) FROM schema_migrations WHERE name NOT LIKE 'crm_core_%'"), 2);
    cr_assert_eq(count_rows(db, "mig_dup", "SELECT count(*) - count(DISTINCT name) FROM schema_migrations"), 0);
    cr_assert_eq(count_rows(db, "core", "SELECT count(*) FROM schema_migrations WHERE name = 'crm_core_001_spine'"),
                 1);
    cr_assert_eq(count_rows(db, "st", "SELECT count(*) FROM outbox_state"), 1);
    crm_db_destroy(&db);
}

/* Unit tests of services/gateway/store.c against a real throwaway Postgres (pgtest): the
 * gateway migrations, token rows, and the delivery dedupe index that makes webhooks idempotent. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "crm/db.h"
#include "gateway.h"
#include "pgtest.h"
#include "store.h"

static pgtest_t *pg;
static crm_db_params_t params;

static void setup(void)
{
    pg = pgtest_start();
    cr_assert_not_null(pg, "pgtest_start failed");
    params = (crm_db_params_t){.conninfo = pgtest_url(pg), .schema = "gateway", .retry_seconds = 5};
    crm_err_t err;
    crm_db_t *db = crm_db_connect(&params, &err);
    cr_assert_not_null(db, "%s", err.message);
    cr_assert_eq(crm_db_migrate(db, "gateway", gateway_migrations, gateway_migrations_count, &err), CRM_OK,
                 "%s", err.message);
    crm_db_destroy(&db);
}

static void teardown(void)
{
    pgtest_destroy(&pg);
}

static crm_db_t *conn(void)
{
    crm_err_t err;
    crm_db_t *db = crm_db_connect(&params, &err);
    cr_assert_not_null(db, "%s", err.message);
    return db;
}

TestSuite(gateway_store, .init = setup, .fini = teardown);

Test(gateway_store, tokens)
{
    crm_db_t *db = conn();
    crm_err_t err;
    gw_token_row_t row;
    cr_assert_eq(gw_store_token_find(db, "nope", &row, &err), CRM_ENOTFOUND);
    cr_assert_eq(gw_store_token_insert(db, "h1", 5, "admin", "boot", false, &row, &err), CRM_OK, "%s",
                 err.message);
    cr_assert_gt(row.id, 0);
    cr_assert_eq(row.user_id, 5);
    cr_assert_str_eq(row.role, "admin");
    cr_assert_eq(strlen(row.created_at), 20, "%s", row.created_at);
    cr_assert_eq(row.created_at[19], 'Z');
    int64_t first = row.id;
    /* a duplicate hash: conflict unless ignored, and then the existing row comes back */
    cr_assert_eq(gw_store_token_insert(db, "h1", 6, "sales", "x", false, &row, &err), CRM_ECONFLICT);
    cr_assert_eq(gw_store_token_insert(db, "h1", 6, "sales", "x", true, &row, &err), CRM_OK, "%s",
                 err.message);
    cr_assert_eq(row.id, first);
    cr_assert_eq(row.user_id, 5);
    cr_assert_eq(gw_store_token_find(db, "h1", &row, &err), CRM_OK);
    cr_assert_not(row.revoked);
    cr_assert_eq(pgtest_psql(pg, "UPDATE gateway.api_tokens SET revoked_at = now() WHERE token_hash = 'h1'"),
                 0);
    cr_assert_eq(gw_store_token_find(db, "h1", &row, &err), CRM_OK);
    cr_assert(row.revoked);
    crm_db_destroy(&db);
}

/* An accepted delivery as the gateway archives it (gw_store_archive): with external_id set, an
 * existing (source, external_id) inserts nothing. */
static int accepted_insert(crm_db_t *db, const char *source, const char *external_id,
                           const char *content_type, const void *body, size_t body_len, const char *corr,
                           int64_t received_at_us, int64_t *id, bool *inserted, crm_err_t *err)
{
    gw_archive_in_t in = {.source = source,
                          .outcome = "accepted",
                          .reason = "ok",
                          .status = 202,
                          .external_id = external_id,
                          .sender_id = external_id,
                          .content_type = content_type,
                          .body = body,
                          .body_len = body_len,
                          .correlation_id = corr,
                          .received_at_us = received_at_us};
    return gw_store_archive(db, &in, id, inserted, err);
}

Test(gateway_store, deliveries_dedupe)
{
    crm_db_t *db = conn();
    crm_err_t err;
    int64_t id = 0, id2 = 0;
    bool inserted = false;
    const char body[] = "a=1&b=\x01\x02";
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(accepted_insert(db, "website", "d-1", "application/x-www-form-urlencoded", body,
                                 sizeof body - 1, "corr", 1700000000000000LL, &id, &inserted, &err),
                 CRM_OK, "%s", err.message);
    cr_assert(inserted);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
    cr_assert_eq(gw_store_delivery_find(db, "website", "d-1", &id2, &err), CRM_OK);
    cr_assert_eq(id2, id);
    cr_assert_eq(gw_store_delivery_find(db, "other", "d-1", &id2, &err), CRM_ENOTFOUND);
    /* the same id again inserts nothing */
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(accepted_insert(db, "website", "d-1", "", "x", 1, "c2", 1, &id2, &inserted, &err), CRM_OK);
    cr_assert_not(inserted);
    crm_db_rollback(db);
    /* no delivery id: never deduplicated */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(accepted_insert(db, "website", NULL, "", "x", 1, "c", 1, &id2, &inserted, &err), CRM_OK);
        cr_assert(inserted);
        cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
    }
    /* the body is stored byte for byte */
    char sql[256];
    snprintf(sql, sizeof sql,
             "DO $$ BEGIN IF (SELECT body FROM gateway.deliveries WHERE id = %lld) <> "
             "'\\x613d3126623d0102'::bytea "
             "THEN RAISE EXCEPTION 'body differs'; END IF; END $$",
             (long long)id);
    cr_assert_eq(pgtest_psql(pg, sql), 0);
    crm_db_destroy(&db);
}

typedef struct {
    int64_t id;
    bool inserted;
    int rc;
} racer_t;

static void *race_insert(void *p)
{
    racer_t *r = p;
    crm_err_t err;
    crm_db_t *db = crm_db_connect(&params, &err);
    if (!db) {
        r->rc = -1;
        return NULL;
    }
    r->rc = crm_db_begin(db, &err);
    if (r->rc == CRM_OK)
        r->rc = accepted_insert(db, "website", "race", "", "x", 1, "c", 1, &r->id, &r->inserted, &err);
    if (r->rc == CRM_OK && r->inserted)
        r->rc = crm_db_commit(db, &err);
    else
        crm_db_rollback(db);
    if (r->rc == CRM_OK && !r->inserted)
        r->rc = gw_store_delivery_find(db, "website", "race", &r->id, &err);
    crm_db_destroy(&db);
    return NULL;
}

Test(gateway_store, concurrent_same_delivery_id)
{
    racer_t r[4] = {0};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, race_insert, &r[i]);
    int winners = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(r[i].rc, CRM_OK);
        winners += r[i].inserted;
    }
    cr_assert_eq(winners, 1);
    for (int i = 1; i < 4; i++)
        cr_assert_eq(r[i].id, r[0].id);
}

/* Unit tests of the smart list filter compiler (services/leads/smartfilter.c): the SQL and the
 * parameters of each kind of condition, errors naming the JSON pointer, that values never reach
 * the SQL text, and that every compiled filter runs in Postgres against the leads schema and
 * selects the right rows. */
#include <criterion/criterion.h>
#include <string.h>

#include "crm/db.h"
#include "pgtest.h"
#include "smartfilter.h"

static leads_filter_t compile_ok(const char *json, int first)
{
    json_error_t je;
    json_t *f = json_loads(json, JSON_DECODE_ANY, &je);
    cr_assert_not_null(f, "test JSON: %s", je.text);
    leads_filter_t out;
    crm_err_t err = {0};
    int rc = leads_filter_compile(f, first, &out, &err);
    json_decref(f);
    cr_assert_eq(rc, CRM_OK, "%s: %s %s", json, err.field, err.message);
    return out;
}

static crm_err_t compile_bad(const char *json)
{
    json_t *f = json_loads(json, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(f);
    leads_filter_t out;
    crm_err_t err = {0};
    int rc = leads_filter_compile(f, 1, &out, &err);
    json_decref(f);
    cr_assert_eq(rc, CRM_EINVALID, "%s should be refused", json);
    cr_assert_null(out.sql);
    cr_assert_eq(out.nparams, 0);
    return err;
}

Test(smartfilter, empty_and_scalars)
{
    leads_filter_t f = compile_ok("{}", 1);
    cr_expect_str_eq(f.sql, "TRUE");
    leads_filter_clear(&f);
    f = compile_ok("null", 1);
    cr_expect_str_eq(f.sql, "TRUE");
    leads_filter_clear(&f);
    f = compile_ok("{\"status\": \"New\", \"owner_id\": [3, 4]}", 3);
    cr_expect_str_eq(f.sql, "TRUE AND status = $3::text AND owner_id = ANY ($4::bigint[])");
    cr_expect_eq(f.nparams, 2);
    cr_expect_str_eq(f.params[0], "New");
    cr_expect_str_eq(f.params[1], "{3,4}");
    leads_filter_clear(&f);
}

Test(smartfilter, values_are_parameters_never_sql)
{
    leads_filter_t f = compile_ok("{\"last_name\": \"O'Brien'; DROP TABLE leads; --\", \"custom_fields\": "
                                  "{\"x') OR 1=1 --\": \"y\"}, \"tags\": [\"a\\\"b\", \"c}\"]}",
                                  1);
    cr_expect_null(strstr(f.sql, "DROP"));
    cr_expect_null(strstr(f.sql, "O'Brien"));
    cr_expect_null(strstr(f.sql, "1=1"));
    cr_expect_str_eq(f.params[0], "O'Brien'; DROP TABLE leads; --");
    cr_expect_str_eq(f.params[1], "{\"x') OR 1=1 --\":\"y\"}");
    leads_filter_clear(&f);
}

Test(smartfilter, operators)
{
    leads_filter_t f =
        compile_ok("{\"organization_name\": {\"contains\": \"acme\", \"ne\": \"Acme Ltd\"}}", 1);
    cr_expect_str_eq(f.sql, "TRUE AND strpos(lower(organization_name), lower($1::text)) > 0 AND "
                            "organization_name <> $2::text");
    leads_filter_clear(&f);
    f = compile_ok("{\"created_at\": {\"from\": \"2026-01-01\", \"to\": \"2026-02-01T00:00:00Z\"}}", 1);
    cr_expect_str_eq(f.sql, "TRUE AND created_at >= $1::timestamptz AND created_at <= $2::timestamptz");
    leads_filter_clear(&f);
    f = compile_ok("{\"tags\": {\"any\": [\"vip\"], \"none\": [\"spam\"]}}", 1);
    cr_expect_str_eq(f.sql, "TRUE AND tags && $1::text[] AND NOT (tags && $2::text[])");
    leads_filter_clear(&f);
    f = compile_ok("{\"days_since_last_activity\": {\"gte\": 7}}", 1);
    cr_expect_not_null(strstr(f.sql, "<= now() - make_interval(days => $1::int)"), "%s", f.sql);
    leads_filter_clear(&f);
    f = compile_ok("{\"custom_fields\": {\"Budget\": {\"gte\": 1000}, \"Tier\": [\"Gold\", \"Silver\"]}}", 1);
    cr_expect_str_eq(f.params[0], "Budget");
    cr_expect_str_eq(f.params[1], "1000");
    cr_expect_str_eq(f.params[2], "{\"Tier\":\"Gold\"}");
    cr_expect_str_eq(f.params[3], "{\"Tier\":\"Silver\"}");
    leads_filter_clear(&f);
}

Test(smartfilter, errors_name_the_pointer)
{
    crm_err_t e = compile_bad("[1]");
    cr_expect_str_eq(e.field, "/filter");
    e = compile_bad("{\"colour\": \"red\"}");
    cr_expect_str_eq(e.field, "/filter/colour");
    cr_expect_str_eq(e.reason, "unknown");
    e = compile_bad("{\"owner_id\": \"me\"}");
    cr_expect_str_eq(e.field, "/filter/owner_id");
    e = compile_bad("{\"status\": {\"like\": \"x\"}}");
    cr_expect_str_eq(e.field, "/filter/status/like");
    e = compile_bad("{\"created_at\": {\"from\": \"yesterday\"}}");
    cr_expect_str_eq(e.field, "/filter/created_at/from");
    e = compile_bad("{\"created_at\": \"2026-01-01\"}");
    cr_expect_str_eq(e.field, "/filter/created_at");
    e = compile_bad("{\"tags\": {\"some\": [\"a\"]}}");
    cr_expect_str_eq(e.field, "/filter/tags/some");
    e = compile_bad("{\"custom_fields\": {\"a/b\": {\"gte\": null}}}");
    cr_expect_str_eq(e.field, "/filter/custom_fields/a~1b/gte");
    e = compile_bad("{\"owner_id\": []}");
    cr_expect_str_eq(e.field, "/filter/owner_id");
    e = compile_bad("{\"days_since_last_activity\": -1}");
    e = compile_bad("{\"status\": {}}");
    e = compile_bad("{\"owner_id\": {\"in\": [1, \"x\"]}}");
    cr_expect_str_eq(e.field, "/filter/owner_id/in");
    /* Too many values in total. */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"custom_fields\": {");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"f%d\": 1", i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "}}");
    e = compile_bad(big);
    cr_expect_not_null(strstr(e.message, "too many"), "%s", e.message);
}

/* --- the compiled SQL runs and selects the right leads ----------------------------------- */
extern const crm_migration_t leads_migrations[];
extern const unsigned leads_migrations_count;

static long long count_where(crm_db_t *db, const char *json)
{
    leads_filter_t f = compile_ok(json, 1);
    char sql[20000];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leads WHERE %s", f.sql);
    crm_err_t err = {0};
    static int stmt_no;
    char stmt[32];
    snprintf(stmt, sizeof stmt, "f%d", ++stmt_no);
    PGresult *res = crm_db_exec(db, stmt, sql, f.nparams, (const char *const *)f.params, &err);
    leads_filter_clear(&f);
    cr_assert_not_null(res, "%s: %s", json, err.message);
    long long n = crm_db_i64(res, 0, 0);
    PQclear(res);
    return n;
}

Test(smartfilter, runs_in_postgres, .timeout = 120)
{
    pgtest_t *pg = pgtest_start();
    cr_assert_not_null(pg);
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "leads"};
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "%s", err.message);
    cr_assert_eq(crm_db_migrate(db, "leads", leads_migrations, leads_migrations_count, &err), CRM_OK, "%s",
                 err.message);
    cr_assert_eq(
        crm_db_exec_simple(
            db,
            "ALTER TABLE leads ADD COLUMN IF NOT EXISTS custom_fields jsonb NOT NULL DEFAULT '{}';"
            "INSERT INTO leads (id, last_name, organization_name, status, owner_id, tags, custom_fields, "
            "created_at) "
            "VALUES (1, 'Lee', 'Acme Corp', 'New', 7, '{vip,hot}', '{\"Tier\": \"Gold\", \"Budget\": "
            "\"1500\", "
            "\"Colours\": [\"Red\", \"Blue\"]}', now() - interval '30 days'),"
            "(2, 'Ray', 'Initech', 'Working', 7, '{hot}', '{\"Tier\": \"Silver\", \"Budget\": 800}', now()),"
            "(3, 'Fay', NULL, 'New', 8, '{}', '{}', now() - interval '3 days');"
            "INSERT INTO lead_activities (lead_id, kind, summary, created_at) VALUES "
            "(1, 'note', 'old', now() - interval '20 days'), (2, 'note', 'new', now());",
            &err),
        CRM_OK, "%s", err.message);
    cr_expect_eq(count_where(db, "{}"), 3);
    cr_expect_eq(count_where(db, "{\"status\": \"New\"}"), 2);
    cr_expect_eq(count_where(db, "{\"status\": \"New\", \"owner_id\": 7}"), 1);
    cr_expect_eq(count_where(db, "{\"owner_id\": {\"in\": [7, 8], \"ne\": 8}}"), 2);
    cr_expect_eq(count_where(db, "{\"organization_name\": {\"contains\": \"ACME\"}}"), 1);
    cr_expect_eq(count_where(db, "{\"organization_name\": {\"is_null\": true}}"), 1);
    cr_expect_eq(count_where(db, "{\"last_name\": {\"starts_with\": \"r\"}}"), 1);
    cr_expect_eq(count_where(db, "{\"tags\": \"hot\"}"), 2);
    cr_expect_eq(count_where(db, "{\"tags\": [\"hot\", \"vip\"]}"), 1);
    cr_expect_eq(count_where(db, "{\"tags\": {\"any\": [\"vip\", \"none\"], \"none\": [\"x\"]}}"), 1);
    cr_expect_eq(count_where(db, "{\"tags\": {\"none\": [\"hot\"]}}"), 1);
    cr_expect_eq(count_where(db, "{\"created_at\": {\"within_days\": 7}}"), 2);
    cr_expect_eq(count_where(db, "{\"created_at\": {\"to\": \"2000-01-01\"}}"), 0);
    cr_expect_eq(count_where(db, "{\"updated_at\": {\"from\": \"2000-01-01T00:00:00Z\"}}"), 3);
    cr_expect_eq(count_where(db, "{\"last_activity_at\": {\"is_null\": true}}"), 1);
    cr_expect_eq(count_where(db, "{\"last_activity_at\": {\"within_days\": 1}}"), 1);
    /* lead 1: last activity 20 days ago; lead 2: today; lead 3: none, created 3 days ago */
    cr_expect_eq(count_where(db, "{\"days_since_last_activity\": {\"gte\": 14}}"), 1);
    cr_expect_eq(count_where(db, "{\"days_since_last_communication\": {\"lt\": 5}}"), 2);
    cr_expect_eq(count_where(db, "{\"days_since_last_activity\": 3}"), 1);
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Tier\": \"Gold\"}}"), 1);
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Tier\": [\"Gold\", \"Silver\"]}}"), 2);
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Tier\": {\"ne\": \"Gold\"}}}"), 2);
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Budget\": {\"gte\": 1000}}}"), 1,
                 "string 1500 and 800");
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Budget\": {\"lt\": 1000.5}}}"), 1);
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Colours\": {\"contains\": \"Red\"}}}"), 1);
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Budget\": {\"is_null\": true}}}"), 1);
    cr_expect_eq(count_where(db, "{\"custom_fields\": {\"Tier\": {\"gte\": \"H\"}}}"), 1,
                 "text order: Silver");
    crm_db_destroy(&db);
    pgtest_destroy(&pg);
}

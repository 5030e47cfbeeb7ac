/* The funnel report (E6) through HTTP on a real stack, computed from the stage history: entered,
 * converted onward (%), lost there (%), time in stage, won value; by owner, by team (crm-assign
 * teams.get), by period; a sales token only gets its own figures. */
#include <time.h>

#include "deals_util.h"

static harness_t *h;
static long long st[7];

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_funnel, .fini = stop_stack, .timeout = 600);

static void move(const char *token, long long deal, int stage)
{
    char path[64], body[128];
    snprintf(path, sizeof path, "/v2/deals/%lld", deal);
    snprintf(body, sizeof body, "{\"data\":{\"stage_id\":%lld}}", st[stage]);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "PUT", path, token, body, 200)});
}

/* The funnel's stages (new reference) for query, asserting status want. */
static json_t *funnel(const char *query, const char *token, long want)
{
    char path[256];
    snprintf(path, sizeof path, "/v2/reports/funnel?%s", query);
    harness_resp_t *r = dl_expect(h, "GET", path, token, NULL, want);
    json_t *s = json_incref(json_object_get(dl_data(r), "stages"));
    harness_resp_destroy(&r);
    return s;
}

static long long fi(json_t *s, size_t i, const char *k)
{
    return json_integer_value(json_object_get(json_array_get(s, i), k));
}
static double fd(json_t *s, size_t i, const char *k)
{
    return json_number_value(json_object_get(json_array_get(s, i), k));
}

Test(deals_funnel, from_stage_history)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long u1, u2, um;
    char *s1 = dl_user_token(h, "f1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "f2@example.com", "sales", &u2);
    char *mgr = dl_user_token(h, "fm@example.com", "manager", &um);
    json_t *sl = dl_list(h, "/v2/stages?pipeline_id=1", admin);
    for (size_t i = 0; i < 7; i++) /* Incoming, Qualified, Quote, Closure, Won, Unqualified, Lost */
        st[i] = dl_item_int(sl, i, "id");
    json_decref(sl);

    long long a = dl_create(h, "/v2/deals", s1, "{\"name\":\"A\",\"value\":\"1000\"}");
    long long b = dl_create(h, "/v2/deals", s1, "{\"name\":\"B\"}");
    dl_create(h, "/v2/deals", s1, "{\"name\":\"C\"}");
    long long d = dl_create(h, "/v2/deals", s2, "{\"name\":\"D\"}");
    move(s1, a, 1), move(s1, a, 2), move(s1, a, 4); /* A: Incoming → Qualified → Quote → Won */
    move(s1, b, 1), move(s1, b, 6);                 /* B: Incoming → Qualified → Lost */
    move(s2, d, 2), move(s2, d, 1);                 /* D: Incoming → Quote (skip) → Qualified (back) */

    json_t *f = funnel("pipeline_id=1", mgr, 200);
    cr_assert_eq(json_array_size(f), 7);
    cr_expect_eq(fi(f, 0, "entered"), 4);
    cr_expect_eq(fi(f, 0, "converted"), 3);
    cr_expect(fd(f, 0, "converted_pct") == 75.0, "%f", fd(f, 0, "converted_pct"));
    cr_expect_eq(fi(f, 0, "lost"), 0);
    cr_expect(json_is_number(json_object_get(json_array_get(f, 0), "avg_seconds_in_stage")),
              "time in Incoming");
    cr_expect_eq(fi(f, 1, "entered"), 3);
    cr_expect_eq(fi(f, 1, "converted"), 1);
    cr_expect_eq(fi(f, 1, "lost"), 1);
    cr_expect(fd(f, 1, "lost_pct") == 33.3, "%f", fd(f, 1, "lost_pct"));
    cr_expect_eq(fi(f, 2, "entered"), 2);
    cr_expect_eq(fi(f, 2, "converted"), 1, "the move back is not onward");
    cr_expect_eq(fi(f, 3, "entered"), 0);
    cr_expect_eq(fi(f, 4, "entered"), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(f, 4), "won_value")) ?: "", "1000.00");
    cr_expect_eq(fi(f, 6, "entered"), 1);
    json_decref(f);

    /* By owner, and a sales token: its own only. */
    char q[128];
    snprintf(q, sizeof q, "pipeline_id=1&owner_id=%lld", u2);
    f = funnel(q, admin, 200);
    cr_expect_eq(fi(f, 0, "entered"), 1);
    cr_expect_eq(fi(f, 1, "entered"), 1);
    cr_expect_eq(fi(f, 4, "entered"), 0);
    json_decref(f);
    f = funnel("pipeline_id=1", s1, 200);
    cr_expect_eq(fi(f, 0, "entered"), 3);
    cr_expect_eq(fi(f, 1, "entered"), 2);
    cr_expect_eq(fi(f, 4, "entered"), 1);
    json_decref(f);
    json_decref(funnel(q, s1, 403));

    /* By team (members from crm-assign). */
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"Team 2\",\"user_ids\":[%lld]}", u2);
    long long team = dl_create(h, "/v2/teams", admin, body);
    snprintf(q, sizeof q, "pipeline_id=1&team_id=%lld", team);
    f = funnel(q, mgr, 200);
    cr_expect_eq(fi(f, 0, "entered"), 1);
    cr_expect_eq(fi(f, 2, "entered"), 1);
    json_decref(f);
    json_decref(funnel(q, s2, 403));
    harness_resp_t *r = dl_expect(h, "GET", "/v2/reports/funnel?pipeline_id=1&team_id=9999", mgr, NULL, 422);
    cr_expect_str_eq(dl_err(r, "field"), "/team_id");
    harness_resp_destroy(&r);

    /* Period: entered today; a window starting tomorrow is empty. */
    time_t now = time(NULL) + 86400;
    struct tm tm;
    gmtime_r(&now, &tm);
    char day[16];
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    snprintf(q, sizeof q, "pipeline_id=1&from=%s", day);
    f = funnel(q, mgr, 200);
    cr_expect_eq(fi(f, 0, "entered"), 0);
    json_decref(f);
    snprintf(q, sizeof q, "pipeline_id=1&to=%s", day);
    f = funnel(q, mgr, 200);
    cr_expect_eq(fi(f, 0, "entered"), 4);
    json_decref(f);

    /* A deal handed to another rep: its open stay counts for the new owner. */
    long long e = dl_create(h, "/v2/deals", admin, "{\"name\":\"E\"}");
    snprintf(q, sizeof q, "pipeline_id=1&owner_id=%lld", u2);
    f = funnel(q, mgr, 200);
    cr_expect_eq(fi(f, 0, "entered"), 1);
    json_decref(f);
    char path[64];
    snprintf(path, sizeof path, "/v2/deals/%lld", e);
    snprintf(body, sizeof body, "{\"data\":{\"owner_id\":%lld}}", u2);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "PUT", path, admin, body, 200)});
    f = funnel(q, mgr, 200);
    cr_expect_eq(fi(f, 0, "entered"), 2, "E now counts for its new owner");
    json_decref(f);
    f = funnel("pipeline_id=1", mgr, 200);
    cr_expect_eq(fi(f, 0, "entered"), 5, "and only once");
    json_decref(f);

    /* Bad input. */
    json_decref(funnel("pipeline_id=1&from=yesterday", mgr, 400));
    json_decref(funnel("from=2026-01-01", mgr, 400));
    json_decref(funnel("pipeline_id=1&owner_id=1&team_id=1", mgr, 400));
    json_decref(funnel("pipeline_id=999", mgr, 404));
    free(s1);
    free(s2);
    free(mgr);
}

static const char *fs(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The won value of currency cur in a won_values array, NULL when absent. */
static const char *won_in(json_t *o, const char *cur)
{
    json_t *a = json_object_get(o, "won_values");
    for (size_t i = 0; i < json_array_size(a); i++)
        if (strcmp(fs(json_array_get(a, i), "currency") ?: "", cur) == 0)
            return fs(json_array_get(a, i), "won_value");
    return NULL;
}

static json_t *funnel_whole(const char *query, const char *token)
{
    char path[256];
    snprintf(path, sizeof path, "/v2/reports/funnel?%s", query);
    harness_resp_t *r = dl_expect(h, "GET", path, token, NULL, 200);
    json_t *f = json_incref(dl_data(r));
    harness_resp_destroy(&r);
    return f;
}

/* Won values are never added across currencies; an owner change moves what the stay counted when
 * it entered the won stage, even when the deal's value changed since. */
Test(deals_funnel, won_values_per_currency)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long u1, u2;
    free(dl_user_token(h, "w1@example.com", "sales", &u1));
    free(dl_user_token(h, "w2@example.com", "sales", &u2));
    json_t *sl = dl_list(h, "/v2/stages?pipeline_id=1", admin);
    for (size_t i = 0; i < 7; i++)
        st[i] = dl_item_int(sl, i, "id");
    json_decref(sl);
    char body[160];
    snprintf(body, sizeof body, "{\"name\":\"X\",\"value\":\"1000\",\"currency\":\"USD\",\"owner_id\":%lld}",
             u1);
    long long x = dl_create(h, "/v2/deals", admin, body);
    snprintf(body, sizeof body, "{\"name\":\"Y\",\"value\":\"500\",\"currency\":\"EUR\",\"owner_id\":%lld}",
             u1);
    long long y = dl_create(h, "/v2/deals", admin, body);
    snprintf(body, sizeof body,
             "{\"name\":\"Z\",\"value\":\"250.50\",\"currency\":\"USD\",\"owner_id\":%lld}", u2);
    long long z = dl_create(h, "/v2/deals", admin, body);
    move(admin, x, 4), move(admin, y, 4), move(admin, z, 4);

    json_t *f = funnel_whole("pipeline_id=1", admin);
    json_t *won = json_array_get(json_object_get(f, "stages"), 4);
    cr_expect(json_is_null(json_object_get(won, "won_value")),
              "a stage mixing currencies has no single value");
    cr_expect(json_is_null(json_object_get(won, "currency")));
    cr_expect_str_eq(won_in(won, "USD") ?: "", "1250.50");
    cr_expect_str_eq(won_in(won, "EUR") ?: "", "500.00");
    cr_expect_eq(json_array_size(json_object_get(won, "won_values")), 2);
    cr_expect(json_is_null(json_object_get(f, "won_value")), "nor the funnel");
    cr_expect_str_eq(won_in(f, "USD") ?: "", "1250.50");
    cr_expect_str_eq(won_in(f, "EUR") ?: "", "500.00");
    cr_expect_str_eq(fs(json_array_get(json_object_get(f, "stages"), 0), "won_value") ?: "", "0.00");
    json_decref(f);

    /* One owner's funnel holds one currency: a single value. */
    char q[96];
    snprintf(q, sizeof q, "pipeline_id=1&owner_id=%lld", u2);
    f = funnel_whole(q, admin);
    cr_expect_str_eq(fs(f, "won_value") ?: "", "250.50");
    cr_expect_str_eq(fs(f, "currency") ?: "", "USD");
    json_decref(f);

    /* Y's value changes while it is won, then it goes to u2: u2 gets the 500 EUR it counted, u1
     * keeps none of it. */
    char path[64];
    snprintf(path, sizeof path, "/v2/deals/%lld", y);
    harness_resp_destroy(
        &(harness_resp_t *){dl_expect(h, "PUT", path, admin, "{\"data\":{\"value\":\"700\"}}", 200)});
    snprintf(body, sizeof body, "{\"data\":{\"owner_id\":%lld}}", u2);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "PUT", path, admin, body, 200)});
    f = funnel_whole(q, admin);
    cr_expect(json_is_null(json_object_get(f, "won_value")));
    cr_expect_str_eq(won_in(f, "EUR") ?: "", "500.00");
    cr_expect_str_eq(won_in(f, "USD") ?: "", "250.50");
    json_decref(f);
    snprintf(q, sizeof q, "pipeline_id=1&owner_id=%lld", u1);
    f = funnel_whole(q, admin);
    cr_expect_str_eq(fs(f, "won_value") ?: "", "1000.00");
    cr_expect_str_eq(fs(f, "currency") ?: "", "USD");
    cr_expect_null(won_in(f, "EUR"), "no EUR left with u1: %s", won_in(f, "EUR"));
    json_decref(f);
    f = funnel_whole("pipeline_id=1", admin);
    cr_expect_str_eq(won_in(f, "EUR") ?: "", "500.00", "the whole funnel is unchanged");
    cr_expect_eq(fi(json_object_get(f, "stages"), 4, "entered"), 3);
    json_decref(f);

    /* The summary rebuilt from the history agrees with the one kept move by move. */
    long long kept =
        harness_sql_long(h, "SELECT count(*) FROM (SELECT stage_id, currency, sum(entered), "
                            "sum(won_value) FROM deals.funnel_daily GROUP BY 1, 2 HAVING sum(entered) "
                            "<> 0) x");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.funnel_daily WHERE won_value < 0"), 0);
    cr_assert_eq(harness_sql_long(h, "SET search_path TO deals; SELECT 1 FROM (SELECT funnel_rebuild()) x"),
                 1);
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM (SELECT stage_id, currency, sum(entered), "
                                  "sum(won_value) FROM deals.funnel_daily GROUP BY 1, 2 HAVING sum(entered) "
                                  "<> 0) x"),
                 kept);
    f = funnel_whole(q, admin);
    cr_expect_str_eq(fs(f, "won_value") ?: "", "1000.00", "after the rebuild too");
    json_decref(f);
}

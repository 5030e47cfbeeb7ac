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

    /* Bad input. */
    json_decref(funnel("pipeline_id=1&from=yesterday", mgr, 400));
    json_decref(funnel("from=2026-01-01", mgr, 400));
    json_decref(funnel("pipeline_id=1&owner_id=1&team_id=1", mgr, 400));
    json_decref(funnel("pipeline_id=999", mgr, 404));
    free(s1);
    free(s2);
    free(mgr);
}

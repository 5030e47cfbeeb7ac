/* Moving deals (E4) through HTTP on a real stack: forward, skipping, back, into won / lost /
 * unqualified with a reason; each move in GET /v2/deals/{id}/stage_changes and in the outbox as
 * deal.stage_changed (+ deal.won / deal.lost); another pipeline's stage only with pipeline_change. */
#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_moves, .fini = stop_stack, .timeout = 600);

static long long sql_count(const char *fmt, long long a)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, a);
    return harness_sql_long(h, sql);
}

static void stages_of(long long pipeline, long long *ids, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "/v2/stages?pipeline_id=%lld", pipeline);
    json_t *st = dl_list(h, path, harness_admin_token(h));
    cr_assert_eq(json_array_size(st), n);
    for (size_t i = 0; i < n; i++)
        ids[i] = dl_item_int(st, i, "id");
    json_decref(st);
}

static void move(const char *token, long long deal, const char *extra, long long stage, long want)
{
    char path[64], body[256];
    snprintf(path, sizeof path, "/v2/deals/%lld", deal);
    snprintf(body, sizeof body, "{\"data\":{\"stage_id\":%lld%s}}", stage, extra);
    harness_resp_t *r = dl_expect(h, "PUT", path, token, body, want);
    if (want == 200) {
        cr_expect_eq(dl_int(r, "stage_id"), stage);
        cr_expect(dl_int(r, "last_stage_change_by_id") > 0, "%s", r->body);
    }
    harness_resp_destroy(&r);
}

Test(deals_moves, forward_skip_back_close)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long u1, u2;
    char *s1 = dl_user_token(h, "m1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "m2@example.com", "sales", &u2);

    json_t *pl = dl_list(h, "/v2/pipelines", admin);
    long long p1 = dl_item_int(pl, 0, "id");
    json_decref(pl);
    long long st[7], st2[7];
    stages_of(p1, st, 7); /* Incoming, Qualified, Quote, Closure, Won, Unqualified, Lost */
    long long p2 = dl_create(h, "/v2/pipelines", admin, "{\"name\":\"Upsell\"}");
    stages_of(p2, st2, 7);
    long long lost_reason = dl_create(h, "/v2/loss_reasons", admin, "{\"name\":\"Price\"}");
    long long unq_reason = dl_create(h, "/v2/deal_unqualified_reasons", admin, "{\"name\":\"No fit\"}");

    long long d = dl_create(h, "/v2/deals", s1, "{\"name\":\"Move me\",\"value\":\"500\"}");
    move(s1, d, "", st[1], 200); /* forward */
    move(s1, d, "", st[3], 200); /* skipping Quote */
    move(s1, d, "", st[0], 200); /* back to Incoming */
    move(s1, d, "", st[4], 200); /* won */
    move(s2, d, "", st[6], 404); /* someone else's deal */
    char extra[128];
    snprintf(extra, sizeof extra, ",\"loss_reason_id\":%lld", lost_reason);
    move(s1, d, extra, st[6], 200); /* lost, with reason */
    move(s1, d, ",\"loss_reason_id\":424242", st[6], 422);
    move(s1, d, "", 999999, 422);

    /* Another pipeline's stage: refused naming stage_id, unless pipeline_change says so. */
    char path[128];
    snprintf(path, sizeof path, "/v2/deals/%lld", d);
    char body[256];
    snprintf(body, sizeof body, "{\"data\":{\"stage_id\":%lld}}", st2[1]);
    harness_resp_t *r = dl_expect(h, "PUT", path, s1, body, 422);
    cr_expect_str_eq(dl_err(r, "field"), "/stage_id");
    cr_expect(strstr(r->body, "pipeline_change"), "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(body, sizeof body, "{\"data\":{\"stage_id\":%lld,\"pipeline_change\":true}}", st2[1]);
    r = dl_expect(h, "PUT", path, s1, body, 200);
    cr_expect_eq(dl_int(r, "pipeline_id"), p2);
    harness_resp_destroy(&r);
    snprintf(extra, sizeof extra, ",\"unqualified_reason_id\":%lld", unq_reason);
    move(s1, d, extra, st2[5], 200); /* unqualified, with reason */
    /* An update without a stage change is not a move. */
    r = dl_expect(h, "PUT", path, s1, "{\"data\":{\"name\":\"Renamed\"}}", 200);
    harness_resp_destroy(&r);

    /* The history: creation + 7 moves, each with from, to, who, when. */
    snprintf(path, sizeof path, "/v2/deals/%lld/stage_changes?per_page=100", d);
    json_t *h1 = dl_list(h, path, s1);
    long long want_to[] = {st[0], st[1], st[3], st[0], st[4], st[6], st2[1], st2[5]};
    cr_assert_eq(json_array_size(h1), 8, "history length");
    for (size_t i = 0; i < 8; i++) {
        cr_expect_eq(dl_item_int(h1, i, "to_stage_id"), want_to[i], "move %zu", i);
        cr_expect_eq(dl_item_int(h1, i, "from_stage_id"), i ? want_to[i - 1] : -1, "from of move %zu", i);
        cr_expect_eq(dl_item_int(h1, i, "changed_by"), u1);
        cr_expect(strlen(dl_item_str(h1, i, "changed_at")) == 20, "changed_at of move %zu", i);
    }
    cr_expect_eq(dl_item_int(h1, 5, "reason_id"), lost_reason);
    cr_expect_eq(dl_item_int(h1, 7, "reason_id"), unq_reason);
    json_decref(h1);
    r = dl_expect(h, "GET", path, s2, NULL, 404);
    harness_resp_destroy(&r);

    /* Events: 7 deal.stage_changed, 1 deal.won, 1 deal.lost, in the same transactions. */
    cr_expect_eq(
        sql_count("SELECT count(*) FROM deals.outbox WHERE type = 'deal.stage_changed' AND %lld > 0", 1), 7);
    cr_expect_eq(sql_count("SELECT count(*) FROM deals.outbox WHERE type = 'deal.won' AND %lld > 0", 1), 1);
    cr_expect_eq(sql_count("SELECT count(*) FROM deals.outbox WHERE type = 'deal.lost' AND %lld > 0", 1), 1);
    cr_expect_eq(
        sql_count("SELECT count(*) FROM deals.stage_changes WHERE deal_id = %lld AND left_at IS NULL", d), 1);
    free(s1);
    free(s2);
}

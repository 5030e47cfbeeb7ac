/* The visibility matrix of crm-deals (SPEC H1) through HTTP on a real stack: for each route, what
 * a sales rep (on another rep's deal and on its own), a manager and an admin get. Sales: its own
 * deals only (others' answer 404 as if they did not exist, lists, boards and funnels hold its own
 * figures only); managers: every deal and the reports; admins only: pipeline, stage and reason
 * writes. */
#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_visibility, .fini = stop_stack, .timeout = 600);

/* One row: method, path with %lld for the deal, body; expected status for sales on another rep's
 * deal, sales on its own, manager, admin (on another rep's deal). 0 = not asked. */
typedef struct {
    const char *method, *path, *body;
    long other, own, manager, admin;
} row_t;

static void check(const char *token, const char *who, const row_t *r, long long deal, long want)
{
    if (!want)
        return;
    char path[160];
    snprintf(path, sizeof path, r->path, deal);
    harness_resp_t *resp = dl_call(h, r->method, path, token, r->body);
    cr_assert_not_null(resp);
    cr_expect_eq(resp->status, want, "%s %s %s as %s -> %ld, want %ld: %s", r->method, path,
                 r->body ? r->body : "", who, resp->status, want, resp->body);
    harness_resp_destroy(&resp);
}

Test(deals_visibility, matrix)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long u1, u2, um;
    char *s1 = dl_user_token(h, "v1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "v2@example.com", "sales", &u2);
    char *mgr = dl_user_token(h, "vm@example.com", "manager", &um);
    long long mine = dl_create(h, "/v2/deals", s1, "{\"name\":\"Mine\",\"value\":\"100\"}");
    long long theirs = dl_create(h, "/v2/deals", s2, "{\"name\":\"Theirs\",\"value\":\"200\"}");
    long long p1 = harness_sql_long(h, "SELECT min(id) FROM deals.pipelines");

    static const row_t rows[] = {
        {"GET", "/v2/deals/%lld", NULL, 404, 200, 200, 200},
        {"PUT", "/v2/deals/%lld", "{\"data\":{\"hot\":true}}", 404, 200, 200, 200},
        {"GET", "/v2/deals/%lld/associated_contacts", NULL, 404, 200, 200, 200},
        {"GET", "/v2/deals/%lld/stage_changes", NULL, 404, 200, 200, 200},
        {"POST", "/v2/deals/%lld/clone", "{\"data\":{\"count\":1}}", 404, 200, 200, 200},
        {"GET", "/v2/deals/%lld?includes=associated_contacts", NULL, 404, 200, 200, 200},
        {"GET", "/v2/pipelines", NULL, 200, 200, 200, 200},
        {"GET", "/v2/stages", NULL, 200, 200, 200, 200},
        {"GET", "/v2/loss_reasons", NULL, 200, 200, 200, 200},
        {"GET", "/v2/deal_sources", NULL, 200, 200, 200, 200},
        {"POST", "/v2/pipelines", "{\"data\":{\"name\":\"Pipeline 2\"}}", 403, 403, 403, 200},
        {"POST", "/v2/loss_reasons", "{\"data\":{\"name\":\"Reason\"}}", 403, 403, 403, 200},
        {"POST", "/v2/deal_unqualified_reasons", "{\"data\":{\"name\":\"Unqualified\"}}", 403, 403, 403, 200},
        {"POST", "/v2/deal_sources", "{\"data\":{\"name\":\"Source\"}}", 403, 403, 403, 200},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        check(s1, "sales (other's deal)", &rows[i], theirs, rows[i].other);
        check(s1, "sales (own deal)", &rows[i], mine, rows[i].own);
        check(mgr, "manager", &rows[i], theirs, rows[i].manager);
        check(admin, "admin", &rows[i], theirs, rows[i].admin);
    }
    /* Stage writes: admin only (the names must differ per call). */
    char body[256], path[160];
    const char *who[] = {"sales", "manager", "admin"};
    const char *tok[] = {s1, mgr, admin};
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body,
                 "{\"data\":{\"pipeline_id\":%lld,\"name\":\"Stage %s\",\"category\":\"in_progress\","
                 "\"position\":2}}",
                 p1, who[i]);
        harness_resp_t *r = dl_expect(h, "POST", "/v2/stages", tok[i], body, i == 2 ? 200 : 403);
        long long sid = dl_int(r, "id");
        harness_resp_destroy(&r);
        if (i == 2) {
            snprintf(path, sizeof path, "/v2/stages/%lld", sid);
            harness_resp_destroy(
                &(harness_resp_t *){dl_expect(h, "PUT", path, mgr, "{\"data\":{\"name\":\"x\"}}", 403)});
            harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 403)});
            harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, admin, NULL, 204)});
        }
    }

    /* Lists: sales its own deals (and clones) only; manager and admin everything. */
    long long total = harness_sql_long(h, "SELECT count(*) FROM deals.deals");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deals.deals WHERE owner_id = %lld", u1);
    long long own = harness_sql_long(h, sql);
    cr_expect_eq(own, 2, "its deal and its clone");
    cr_expect_eq(harness_count_items(h, "/v2/deals?per_page=100", s1), own);
    cr_expect_eq(harness_count_items(h, "/v2/deals?per_page=100", mgr), total);
    cr_expect_eq(harness_count_items(h, "/v2/deals?per_page=100", admin), total);
    snprintf(path, sizeof path, "/v2/deals?owner_id=%lld", u2);
    cr_expect_eq(harness_count_items(h, path, s1), 0,
                 "another owner's deals stay invisible when filtered on");

    /* Board: a sales rep's columns count its own deals only; the manager's count all. */
    snprintf(path, sizeof path, "/v2/pipelines/%lld/board", p1);
    harness_resp_t *r = dl_expect(h, "GET", path, s1, NULL, 200);
    long long incoming_s1 = json_integer_value(
        json_object_get(json_array_get(json_object_get(dl_data(r), "columns"), 1), "count"));
    harness_resp_destroy(&r);
    r = dl_expect(h, "GET", path, mgr, NULL, 200);
    long long incoming_all = json_integer_value(
        json_object_get(json_array_get(json_object_get(dl_data(r), "columns"), 1), "count"));
    harness_resp_destroy(&r);
    cr_expect_eq(incoming_s1, own);
    cr_expect_eq(incoming_all, total);

    /* Funnel: sales its own only (another owner or a team: 403); managers anyone's. */
    snprintf(path, sizeof path, "/v2/reports/funnel?pipeline_id=%lld&owner_id=%lld", p1, u2);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", path, s1, NULL, 403)});
    r = dl_expect(h, "GET", path, mgr, NULL, 200);
    cr_expect_eq(json_integer_value(
                     json_object_get(json_array_get(json_object_get(dl_data(r), "stages"), 0), "entered")),
                 total - own, "u2's deals entered Incoming");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/reports/funnel?pipeline_id=%lld&team_id=1", p1);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", path, s1, NULL, 403)});
    snprintf(path, sizeof path, "/v2/reports/funnel?pipeline_id=%lld", p1);
    r = dl_expect(h, "GET", path, s1, NULL, 200);
    cr_expect_eq(json_integer_value(
                     json_object_get(json_array_get(json_object_get(dl_data(r), "stages"), 0), "entered")),
                 own, "a sales funnel holds its own deals only");
    harness_resp_destroy(&r);

    /* Deletes: sales not on others' deals, but on its own; the manager on anyone's. */
    snprintf(path, sizeof path, "/v2/deals/%lld", theirs);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 404)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, mgr, NULL, 204)});
    snprintf(path, sizeof path, "/v2/deals/%lld", mine);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 204)});
    free(s1);
    free(s2);
    free(mgr);
}

/* POST /v2/deals/upsert through HTTP on a real stack (issue 9, SELL_API §6.7/§6.20): the query
 * string's filters match deals; none → create, one → update (partial, like PUT), several → 409
 * with a Sell error body; no filter → 400; unknown filter → 400; a sales rep matches only its own. */
#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_upsert, .fini = stop_stack, .timeout = 600);

Test(deals_upsert, create_update_conflict)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long u1, u2;
    char *s1 = dl_user_token(h, "up1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "up2@example.com", "sales", &u2);
    harness_resp_t *r;

    /* no match: created */
    r = dl_expect(h, "POST", "/v2/deals/upsert?name=Acme", s1, "{\"data\":{\"name\":\"Acme\",\"value\":100}}",
                  200);
    long long id = dl_int(r, "id");
    cr_expect(id > 0);
    cr_expect_eq(dl_int(r, "value"), 100);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "deal");
    harness_resp_destroy(&r);
    /* one match: updated in place, attributes not sent kept, null clears */
    r = dl_expect(h, "POST", "/v2/deals/upsert?name=Acme", s1,
                  "{\"data\":{\"value\":\"250.50\",\"hot\":true,\"estimated_close_date\":null}}", 200);
    cr_expect_eq(dl_int(r, "id"), id);
    cr_expect_str_eq(dl_str(r, "value"), "250.50");
    cr_expect_str_eq(dl_str(r, "name"), "Acme");
    cr_expect(json_is_true(json_object_get(dl_data(r), "hot")));
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals"), 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.updated'"), 1);
    /* another rep does not see s1's deal: its upsert creates its own */
    r = dl_expect(h, "POST", "/v2/deals/upsert?name=Acme", s2, "{\"data\":{\"name\":\"Acme\"}}", 200);
    cr_expect_neq(dl_int(r, "id"), id);
    cr_expect_eq(dl_int(r, "owner_id"), u2);
    harness_resp_destroy(&r);
    /* several matches (the manager sees both): 409, Sell error body, nothing changed */
    long long um;
    char *mgr = dl_user_token(h, "upm@example.com", "manager", &um);
    r = dl_expect(h, "POST", "/v2/deals/upsert?name=Acme", mgr, "{\"data\":{\"value\":\"1\"}}", 409);
    cr_expect(json_is_array(json_object_get(r->json, "errors")), "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "errors");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals WHERE value = 1"), 0);
    /* filters: needed, known, not paging */
    harness_resp_destroy(&(harness_resp_t *){
        dl_expect(h, "POST", "/v2/deals/upsert", s1, "{\"data\":{\"name\":\"x\"}}", 400)});
    harness_resp_destroy(&(harness_resp_t *){
        dl_expect(h, "POST", "/v2/deals/upsert?colour=red", s1, "{\"data\":{\"name\":\"x\"}}", 400)});
    harness_resp_destroy(&(harness_resp_t *){
        dl_expect(h, "POST", "/v2/deals/upsert?page=1", s1, "{\"data\":{\"name\":\"x\"}}", 400)});
    /* the body is checked like a create / update: 422 naming the field */
    r = dl_expect(h, "POST", "/v2/deals/upsert?name=New%20one", s1,
                  "{\"data\":{\"name\":\"New one\",\"value\":\"1,5\"}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/value");
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", "/v2/deals/upsert?name=Acme", s1, "{\"data\":{\"contact_id\":99999}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/contact_id");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals"), 2);
    free(s1);
    free(s2);
    free(mgr);
}

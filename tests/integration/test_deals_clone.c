/* Recurring payments and upsell (E7, E8) through HTTP on a real stack: monthly payment and contract
 * value fields, POST /v2/deals/{id}/clone with count and the value spread, a "Deal type" custom field
 * filterable in lists, and a second pipeline for renewals working like the first. */
#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_clone, .fini = stop_stack, .timeout = 600);

static json_t *clone_deal(const char *token, long long id, const char *data, long want)
{
    char path[64], body[256];
    snprintf(path, sizeof path, "/v2/deals/%lld/clone", id);
    snprintf(body, sizeof body, "{\"data\":%s}", data);
    harness_resp_t *r = dl_expect(h, "POST", path, token, body, want);
    json_t *deals = json_incref(json_object_get(dl_data(r), "deals"));
    harness_resp_destroy(&r);
    return deals;
}

Test(deals_clone, payments_spread_and_deal_type)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long u1, u2;
    char *s1 = dl_user_token(h, "c1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "c2@example.com", "sales", &u2);
    long long renewals = dl_create(h, "/v2/pipelines", admin, "{\"name\":\"Renewals\"}");
    dl_deal_type_field(h);
    long long contact = dl_contact(h, s1, "Buyer");
    char body[512], vb[48];
    snprintf(body, sizeof body,
             "{\"name\":\"Support "
             "plan\",\"value\":\"1000\",\"monthly_payment\":\"83.33\",\"contract_value\":\"1000\","
             "\"estimated_close_date\":\"2026-01-31\",\"pipeline_id\":%lld,\"contact_id\":%lld,\"tags\":["
             "\"recurring\"],"
             "\"custom_fields\":{\"Deal type\":\"Upsell\"}}",
             renewals, contact);
    long long d = dl_create(h, "/v2/deals", s1, body);
    dl_create(h, "/v2/deals", s1, "{\"name\":\"New logo\",\"custom_fields\":{\"Deal type\":\"New\"}}");

    /* split: 1000 over 3 copies = 333.33 + 333.33 + 333.34, close dates one month apart. */
    json_t *c = clone_deal(s1, d, "{\"count\":3,\"spread\":\"split\"}", 200);
    cr_assert_eq(json_array_size(c), 3);
    const char *want_v[] = {"333.33", "333.33", "333.34"};
    const char *want_d[] = {"2026-02-28", "2026-03-31", "2026-04-30"};
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_array_get(c, i);
        cr_expect_str_eq(dl_value(json_object_get(x, "value"), vb), want_v[i]);
        cr_expect_str_eq(json_string_value(json_object_get(x, "estimated_close_date")) ?: "", want_d[i]);
        cr_expect_eq(json_integer_value(json_object_get(x, "pipeline_id")), renewals);
        cr_expect_eq(json_integer_value(json_object_get(x, "owner_id")), u1);
        cr_expect_str_eq(json_string_value(json_object_get(x, "monthly_payment")) ?: "", "83.33");
        cr_expect_str_eq(json_string_value(json_object_get(x, "contract_value")) ?: "", "1000");
        char path[96];
        snprintf(path, sizeof path, "/v2/deals/%lld/associated_contacts",
                 (long long)json_integer_value(json_object_get(x, "id")));
        cr_expect_eq(harness_count_items(h, path, s1), 1, "contacts copied");
    }
    json_decref(c);
    c = clone_deal(s1, d, "{\"count\":2,\"spread\":\"monthly_payment\"}", 200);
    cr_expect_str_eq(dl_value(json_object_get(json_array_get(c, 1), "value"), vb), "83.33");
    json_decref(c);
    c = clone_deal(s1, d, "{\"count\":2,\"spread\":\"copy\"}", 200);
    cr_expect(json_is_integer(json_object_get(json_array_get(c, 0), "value")),
              "Sell: an integer without fraction");
    cr_expect_str_eq(dl_value(json_object_get(json_array_get(c, 0), "value"), vb), "1000");
    json_decref(c);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.created'"), 2 + 7);

    /* Bad input and visibility. */
    harness_resp_t *r =
        dl_expect(h, "POST", "/v2/deals/1/clone", s1, "{\"data\":{\"count\":0,\"spread\":\"half\"}}", 422);
    cr_expect(strstr(r->body, "/count") && strstr(r->body, "/spread"), "%s", r->body);
    harness_resp_destroy(&r);
    json_decref(clone_deal(s1, d, "{}", 422));
    json_decref(clone_deal(s2, d, "{\"count\":1}", 404));
    long long nomp = dl_create(h, "/v2/deals", s1, "{\"name\":\"No plan\"}");
    json_decref(clone_deal(s1, nomp, "{\"count\":1,\"spread\":\"monthly_payment\"}", 422));

    /* E8: "Deal type" filterable like any field; the renewals pipeline lists its own deals. */
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_field=Deal%20type:Upsell&per_page=100", s1), 1 + 7);
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_field=Deal%20type:New", s1), 1);
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_fields[Deal%20type]=New", s1), 1);
    char path[96];
    snprintf(path, sizeof path, "/v2/deals?pipeline_id=%lld&per_page=100", renewals);
    cr_expect_eq(harness_count_items(h, path, s1), 8);
    free(s1);
    free(s2);
}

/* Deal attributes through HTTP on a real stack (issue 4 audit): "value" as Sell has it (a number
 * or a decimal string in, 1000 or "1000.50" out), PUT with null / [] clearing fields, includes=
 * associated_contacts, contact ids checked against crm-leads, custom_fields checked against the
 * deal custom field definitions, and DELETE announcing deal.deleted through the outbox. */
#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_fields, .fini = stop_stack, .timeout = 600);

static harness_resp_t *put(const char *token, long long deal, const char *data, long want)
{
    char path[64], body[1024];
    snprintf(path, sizeof path, "/v2/deals/%lld", deal);
    snprintf(body, sizeof body, "{\"data\":%s}", data);
    return dl_expect(h, "PUT", path, token, body, want);
}

static void expect_422(const char *token, const char *method, const char *path, const char *data,
                       const char *field)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"data\":%s}", data);
    harness_resp_t *r = dl_expect(h, method, path, token, body, 422);
    cr_expect(strstr(r->body, field) != NULL, "%s %s: want %s named: %s", method, data, field, r->body);
    harness_resp_destroy(&r);
}

Test(deals_fields, value_clearing_includes_contacts_custom_fields_delete)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long u1, u2;
    char *s1 = dl_user_token(h, "f1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "f2@example.com", "sales", &u2);
    const char *admin = harness_admin_token(h);
    harness_resp_t *r;
    char body[1024], path[128], vb[48];

    /* value: a JSON number or a decimal string; answered 1500 (integer) or "99.50" (string). */
    long long v1 = dl_create(h, "/v2/deals", s1, "{\"name\":\"num\",\"value\":1500}");
    long long v2 = dl_create(h, "/v2/deals", s1, "{\"name\":\"real\",\"value\":99.5}");
    long long v3 = dl_create(h, "/v2/deals", s1, "{\"name\":\"str\",\"value\":\"2000.5\"}");
    snprintf(path, sizeof path, "/v2/deals/%lld", v1);
    r = dl_expect(h, "GET", path, s1, NULL, 200);
    cr_expect(json_is_integer(json_object_get(dl_data(r), "value")), "%s", r->body);
    cr_expect_eq(dl_int(r, "value"), 1500);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/deals/%lld", v2);
    r = dl_expect(h, "GET", path, s1, NULL, 200);
    cr_expect_str_eq(dl_str(r, "value"), "99.50", "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/deals?ids=%lld", v3);
    json_t *l = dl_list(h, path, s1);
    cr_expect_str_eq(dl_value(json_object_get(json_array_get(l, 0), "value"), vb), "2000.50");
    json_decref(l);
    expect_422(s1, "POST", "/v2/deals", "{\"name\":\"x\",\"value\":1.234}", "\"/value\"");
    expect_422(s1, "POST", "/v2/deals", "{\"name\":\"x\",\"value\":-3}", "\"/value\"");
    expect_422(s1, "POST", "/v2/deals", "{\"name\":\"x\",\"value\":true}", "\"/value\"");
    r = put(s1, v1, "{\"value\":250.25}", 200);
    cr_expect_str_eq(dl_str(r, "value"), "250.25");
    harness_resp_destroy(&r);
    r = put(s1, v1, "{\"value\":300}", 200);
    cr_expect_eq(dl_int(r, "value"), 300);
    harness_resp_destroy(&r);

    /* Contacts must exist in crm-leads and be the caller's to see. */
    long long c1 = dl_contact(h, s1, "One"), c2 = dl_contact(h, s1, "Two"), c3 = dl_contact(h, s1, "Three");
    long long other = dl_contact(h, s2, "Someone else's");
    expect_422(s1, "POST", "/v2/deals", "{\"name\":\"x\",\"contact_id\":99999}", "\"/contact_id\"");
    snprintf(body, sizeof body, "{\"name\":\"x\",\"contact_id\":%lld,\"contact_ids\":[99998]}", c1);
    expect_422(s1, "POST", "/v2/deals", body, "\"/contact_ids\"");
    snprintf(body, sizeof body, "{\"name\":\"x\",\"contact_id\":%lld}", other);
    expect_422(s1, "POST", "/v2/deals", body, "\"/contact_id\"");
    /* several field errors at once: contact, value and name */
    r = dl_expect(h, "POST", "/v2/deals", s1, "{\"data\":{\"contact_id\":99999,\"value\":\"x\"}}", 422);
    cr_expect(strstr(r->body, "\"/contact_id\"") && strstr(r->body, "\"/value\"") &&
                  strstr(r->body, "\"/name\""),
              "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals WHERE name = 'x'"), 0);

    /* custom field definitions of each type; values checked against them. */
    dl_deal_type_field(h);
    dl_create(h, "/v2/deal/custom_fields", admin, "{\"name\":\"Notes\",\"type\":\"text\"}");
    dl_create(h, "/v2/deal/custom_fields", admin, "{\"name\":\"Seats\",\"type\":\"number\"}");
    dl_create(h, "/v2/deal/custom_fields", admin, "{\"name\":\"Renewal date\",\"type\":\"date\"}");
    dl_create(h, "/v2/deal/custom_fields", admin,
              "{\"name\":\"Modules\",\"type\":\"multi_select_list\",\"choices\":[{\"name\":\"CRM\"},"
              "{\"name\":\"Billing\"}]}");
    dl_create(h, "/v2/deal/custom_fields", admin, "{\"name\":\"Signed\",\"type\":\"bool\"}");
    dl_create(h, "/v2/deal/custom_fields", admin, "{\"name\":\"Contract\",\"type\":\"url\"}");
    static const struct {
        const char *data, *field;
    } bad[] = {
        {"{\"name\":\"x\",\"custom_fields\":{\"Deal type\":\"Nope\"}}", "/custom_fields/Deal type"},
        {"{\"name\":\"x\",\"custom_fields\":{\"Notes\":12}}", "/custom_fields/Notes"},
        {"{\"name\":\"x\",\"custom_fields\":{\"Seats\":\"many\"}}", "/custom_fields/Seats"},
        {"{\"name\":\"x\",\"custom_fields\":{\"Renewal date\":\"2026-13-01\"}}",
         "/custom_fields/Renewal date"},
        {"{\"name\":\"x\",\"custom_fields\":{\"Modules\":[\"CRM\",\"Nope\"]}}", "/custom_fields/Modules"},
        {"{\"name\":\"x\",\"custom_fields\":{\"Signed\":\"yes\"}}", "/custom_fields/Signed"},
        {"{\"name\":\"x\",\"custom_fields\":{\"Contract\":\"ftp://x\"}}", "/custom_fields/Contract"},
        {"{\"name\":\"x\",\"custom_fields\":{\"Undefined\":\"a\"}}", "/custom_fields/Undefined"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_422(s1, "POST", "/v2/deals", bad[i].data, bad[i].field);

    /* A full deal, then PUT with null / [] clears. */
    long long src = dl_create(h, "/v2/deal_sources", admin, "{\"name\":\"Web\"}");
    snprintf(
        body, sizeof body,
        "{\"name\":\"Full\",\"value\":\"10\",\"hot\":true,\"contact_id\":%lld,\"contact_ids\":[%lld,%lld],"
        "\"estimated_close_date\":\"2026-06-30\",\"tags\":[\"a\",\"b\"],\"source_id\":%lld,"
        "\"customized_win_likelihood\":40,\"monthly_payment\":\"5\",\"contract_value\":\"60\","
        "\"custom_fields\":{\"Deal type\":{\"id\":2},\"Notes\":\"n\",\"Seats\":12,\"Renewal date\":"
        "\"2027-01-01\",\"Modules\":[\"CRM\"],\"Signed\":true,\"Contract\":\"https://example.com/c\"}}",
        c1, c2, c3, src);
    long long d = dl_create(h, "/v2/deals", s1, body);
    snprintf(path, sizeof path, "/v2/deals/%lld", d);
    r = dl_expect(h, "GET", path, s1, NULL, 200);
    json_t *cf = json_object_get(dl_data(r), "custom_fields");
    cr_expect_str_eq(json_string_value(json_object_get(cf, "Deal type")) ?: "", "Upsell",
                     "a dropdown given by choice id is stored by name: %s", r->body);
    cr_expect(json_is_true(json_object_get(cf, "Signed")));
    cr_expect(json_is_null(json_object_get(dl_data(r), "associated_contacts")), "only with includes");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_fields[Deal%20type]=Upsell", s1), 1);

    /* includes=associated_contacts on one deal and on lists; anything else 400. */
    snprintf(path, sizeof path, "/v2/deals/%lld?includes=associated_contacts", d);
    r = dl_expect(h, "GET", path, s1, NULL, 200);
    json_t *items = json_object_get(json_object_get(dl_data(r), "associated_contacts"), "items");
    cr_expect_eq(json_array_size(items), 3, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/deals?ids=%lld,%lld&includes=associated_contacts", d, v1);
    l = dl_list(h, path, s1);
    cr_expect_eq(json_array_size(l), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *x = json_array_get(l, i);
        size_t want = json_integer_value(json_object_get(x, "id")) == d ? 3 : 0;
        cr_expect_eq(json_array_size(json_object_get(json_object_get(x, "associated_contacts"), "items")),
                     want);
    }
    json_decref(l);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", "/v2/deals?includes=notes", s1, NULL, 400)});
    snprintf(path, sizeof path, "/v2/deals/%lld?includes=bogus", d);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", path, s1, NULL, 400)});

    r = put(
        s1, d,
        "{\"estimated_close_date\":null,\"tags\":[],\"source_id\":null,\"customized_win_likelihood\":null,"
        "\"monthly_payment\":null,\"contract_value\":null,\"hot\":null,\"value\":null,\"contact_ids\":[],"
        "\"custom_fields\":{\"Notes\":null,\"Seats\":null}}",
        200);
    json_t *x = dl_data(r);
    cr_expect(json_is_null(json_object_get(x, "estimated_close_date")), "%s", r->body);
    cr_expect_eq(json_array_size(json_object_get(x, "tags")), 0);
    cr_expect(json_is_null(json_object_get(x, "source_id")));
    cr_expect(json_is_null(json_object_get(x, "customized_win_likelihood")));
    cr_expect(json_is_null(json_object_get(x, "monthly_payment")));
    cr_expect(json_is_null(json_object_get(x, "contract_value")));
    cr_expect(json_is_false(json_object_get(x, "hot")));
    cr_expect_eq(dl_int(r, "value"), 0);
    cf = json_object_get(x, "custom_fields");
    cr_expect(!json_object_get(cf, "Notes") && !json_object_get(cf, "Seats"), "dropped: %s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(cf, "Deal type")) ?: "", "Upsell", "others kept");
    cr_expect_eq(dl_int(r, "contact_id"), c1, "not sent, kept");
    cr_expect_str_eq(dl_str(r, "name"), "Full");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/deals/%lld/associated_contacts", d);
    l = dl_list(h, path, s1);
    cr_expect_eq(json_array_size(l), 1, "contact_ids [] leaves the primary only");
    cr_expect_eq(dl_item_int(l, 0, "contact_id"), c1);
    json_decref(l);
    snprintf(body, sizeof body, "{\"contact_ids\":[%lld],\"custom_fields\":null,\"contact_id\":null}", c3);
    r = put(s1, d, body, 200);
    cr_expect(json_is_null(json_object_get(dl_data(r), "contact_id")), "%s", r->body);
    cr_expect_eq(json_object_size(json_object_get(dl_data(r), "custom_fields")), 0, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, path, s1), 1, "contact_ids replace the associated contacts");
    /* a key that cannot be cleared, and contacts checked on PUT too */
    r = put(s1, d, "{\"name\":null,\"owner_id\":null}", 422);
    cr_expect(strstr(r->body, "\"/name\"") && strstr(r->body, "\"/owner_id\""), "%s", r->body);
    harness_resp_destroy(&r);
    r = put(s1, d, "{\"contact_id\":99999}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/contact_id");
    harness_resp_destroy(&r);
    r = put(s1, d, "{\"custom_fields\":{\"Seats\":\"lots\"}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/custom_fields/Seats");
    harness_resp_destroy(&r);
    snprintf(body, sizeof body, "{\"data\":{\"contact_id\":%lld}}", other);
    r = dl_expect(h, "POST", path, s1, body, 422);
    cr_expect_str_eq(dl_err(r, "field"), "/contact_id");
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", path, s1, "{\"data\":{\"contact_id\":99999}}", 422);
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", path, s2, "{\"data\":{\"contact_id\":99999}}", 404);
    harness_resp_destroy(&r);

    /* DELETE: 204, deal.deleted in the outbox carrying the deal, history and contacts gone. */
    long long before = harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.deleted'");
    cr_expect_eq(before, 0);
    snprintf(path, sizeof path, "/v2/deals/%lld", d);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s2, NULL, 404)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 204)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 404)});
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.deleted'"), 1);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM deals.deal_contacts WHERE deal_id = %lld) + (SELECT count(*) FROM "
             "deals.stage_changes WHERE deal_id = %lld)",
             d, d);
    cr_expect_eq(harness_sql_long(h, sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM deals.outbox WHERE type = 'deal.deleted' AND "
             "position(convert_to('Full', 'UTF8') IN payload) > 0");
    cr_expect_eq(harness_sql_long(h, sql), 1, "the event carries the deleted deal");
    free(s1);
    free(s2);
}

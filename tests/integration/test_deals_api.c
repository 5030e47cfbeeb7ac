/* crm-deals through HTTP on a real stack: the default pipeline (E2), pipelines and stages with the
 * admin writes (E3), deals CRUD with filters, sort and validation (E1), associated contacts,
 * reasons and sources, visibility by role (H1), and the events in the outbox. */
#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_api, .fini = stop_stack, .timeout = 600);

static long long outbox_count(const char *type)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deals.outbox WHERE type = '%s'", type);
    return harness_sql_long(h, sql);
}

Test(deals_api, pipelines_stages_deals)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    harness_resp_t *r;

    /* E2: the default pipeline and its seven stages. */
    json_t *pl = dl_list(h, "/v2/pipelines", admin);
    cr_assert_eq(json_array_size(pl), 1);
    long long p1 = dl_item_int(pl, 0, "id");
    json_decref(pl);
    char path[256], body[1024];
    snprintf(path, sizeof path, "/v2/stages?pipeline_id=%lld", p1);
    json_t *st = dl_list(h, path, admin);
    static const char *names[] = {"Incoming", "Qualified", "Quote", "Closure", "Won", "Unqualified", "Lost"};
    static const char *cats[] = {"incoming", "in_progress", "in_progress", "in_progress",
                                 "won",      "unqualified", "lost"};
    static const int likes[] = {10, 25, 50, 75, 100, 0, 0};
    cr_assert_eq(json_array_size(st), 7);
    long long sid[7];
    for (size_t i = 0; i < 7; i++) {
        cr_expect_str_eq(dl_item_str(st, i, "name"), names[i]);
        cr_expect_str_eq(dl_item_str(st, i, "category"), cats[i]);
        cr_expect_eq(dl_item_int(st, i, "position"), (long long)i + 1);
        cr_expect_eq(dl_item_int(st, i, "likelihood"), likes[i]);
        cr_expect_eq(json_is_true(json_object_get(json_array_get(st, i), "active")), i < 4, "active of %s",
                     names[i]);
        sid[i] = dl_item_int(st, i, "id");
    }
    json_decref(st);
    snprintf(path, sizeof path, "/v2/stages/%lld", sid[2]);
    r = dl_expect(h, "GET", path, admin, NULL, 200);
    cr_expect_str_eq(dl_str(r, "name"), "Quote");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/pipelines/%lld", p1);
    r = dl_expect(h, "GET", path, admin, NULL, 200);
    cr_expect_str_eq(dl_str(r, "name"), "Sales Pipeline");
    harness_resp_destroy(&r);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", "/v2/pipelines/999", admin, NULL, 404)});

    /* Users: a manager and two sales reps with their own tokens. */
    long long u_mgr, u_s1, u_s2;
    char *mgr = dl_user_token(h, "mgr@example.com", "manager", &u_mgr);
    char *s1 = dl_user_token(h, "s1@example.com", "sales", &u_s1);
    char *s2 = dl_user_token(h, "s2@example.com", "sales", &u_s2);
    dl_deal_type_field(h);
    long long c71 = dl_contact(h, s1, "Primary"), c72 = dl_contact(h, s1, "Extra"),
              c73 = dl_contact(h, s1, "Third");

    /* E3: a second pipeline (admin only) gets the default stages. */
    r = dl_expect(h, "POST", "/v2/pipelines", s1, "{\"data\":{\"name\":\"Renewals\"}}", 403);
    harness_resp_destroy(&r);
    long long p2 = dl_create(h, "/v2/pipelines", admin, "{\"name\":\"Renewals\"}");
    r = dl_expect(h, "POST", "/v2/pipelines", admin, "{\"data\":{\"name\":\"Renewals\"}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/name");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/stages?pipeline_id=%lld", p2);
    st = dl_list(h, path, admin);
    cr_expect_eq(json_array_size(st), 7);
    long long p2_first = dl_item_int(st, 0, "id"), p2_quote = dl_item_int(st, 2, "id");
    json_decref(st);

    /* Stage writes: create at position 2 (others shift), reorder it to 4, rename, delete. */
    snprintf(body, sizeof body,
             "{\"pipeline_id\":%lld,\"name\":\"Demo\",\"category\":\"in_progress\",\"position\":2}", p2);
    long long demo = dl_create(h, "/v2/stages", admin, body);
    r = dl_expect(h, "POST", "/v2/stages", admin, "{\"data\":{\"category\":\"bogus\",\"likelihood\":101}}",
                  422);
    cr_expect(strstr(r->body, "/pipeline_id") && strstr(r->body, "/name") && strstr(r->body, "/category") &&
                  strstr(r->body, "/likelihood"),
              "every field named: %s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/stages?pipeline_id=%lld", p2);
    st = dl_list(h, path, admin);
    cr_expect_eq(json_array_size(st), 8);
    cr_expect_str_eq(dl_item_str(st, 1, "name"), "Demo");
    cr_expect_str_eq(dl_item_str(st, 2, "name"), "Qualified");
    json_decref(st);
    snprintf(path, sizeof path, "/v2/stages/%lld", demo);
    r = dl_expect(h, "PUT", path, admin,
                  "{\"data\":{\"position\":4,\"name\":\"Demo call\",\"likelihood\":40}}", 200);
    cr_expect_eq(dl_int(r, "position"), 4);
    cr_expect_eq(dl_int(r, "likelihood"), 40);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/stages?pipeline_id=%lld", p2);
    st = dl_list(h, path, admin);
    const char *order[] = {"Incoming", "Qualified", "Quote",       "Demo call",
                           "Closure",  "Won",       "Unqualified", "Lost"};
    for (size_t i = 0; i < 8; i++) {
        cr_expect_str_eq(dl_item_str(st, i, "name"), order[i]);
        cr_expect_eq(dl_item_int(st, i, "position"), (long long)i + 1);
    }
    json_decref(st);
    snprintf(path, sizeof path, "/v2/stages/%lld", demo);
    r = dl_expect(h, "PUT", path, s1, "{\"data\":{\"name\":\"x\"}}", 403);
    harness_resp_destroy(&r);

    /* E1: deals. Default stage: first active stage of the default pipeline / of the named one. */
    snprintf(body, sizeof body,
             "{\"name\":\"Acme\",\"value\":\"1200.50\",\"currency\":\"EUR\","
             "\"hot\":true,\"contact_id\":%lld,\"contact_ids\":[%lld],"
             "\"estimated_close_date\":\"2026-12-31\",\"tags\":[\"big\"],"
             "\"custom_fields\":{\"Deal type\":\"Upsell\"},"
             "\"monthly_payment\":\"100\",\"contract_value\":\"1200\"}",
             c71, c72);
    long long d1 = dl_create(h, "/v2/deals", s1, body);
    snprintf(path, sizeof path, "/v2/deals/%lld", d1);
    r = dl_expect(h, "GET", path, s1, NULL, 200);
    cr_expect_eq(dl_int(r, "stage_id"), sid[0]);
    cr_expect_eq(dl_int(r, "pipeline_id"), p1);
    cr_expect_eq(dl_int(r, "owner_id"), u_s1);
    cr_expect_eq(dl_int(r, "creator_id"), u_s1);
    cr_expect_str_eq(dl_str(r, "value"), "1200.50");
    cr_expect_str_eq(dl_str(r, "currency"), "EUR");
    cr_expect_str_eq(dl_str(r, "estimated_close_date"), "2026-12-31");
    cr_expect_str_eq(dl_str(r, "monthly_payment"), "100");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(dl_data(r), "tags"), 0)) ?: "", "big");
    cr_expect(json_is_true(json_object_get(dl_data(r), "hot")));
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(dl_data(r), "custom_fields"), "Deal type")) ?: "",
        "Upsell", "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "deal");
    harness_resp_destroy(&r);
    snprintf(body, sizeof body, "{\"name\":\"Renew Acme\",\"pipeline_id\":%lld}", p2);
    long long d2 = dl_create(h, "/v2/deals", s2, body);
    snprintf(path, sizeof path, "/v2/deals/%lld", d2);
    r = dl_expect(h, "GET", path, admin, NULL, 200);
    cr_expect_eq(dl_int(r, "stage_id"), p2_first);
    cr_expect_eq(dl_int(r, "value"), 0, "value 0 is the integer 0 (Sell)");
    cr_expect_str_eq(dl_str(r, "currency"), "USD");
    harness_resp_destroy(&r);
    snprintf(body, sizeof body, "{\"name\":\"Quote deal\",\"stage_id\":%lld,\"value\":\"300\"}", p2_quote);
    long long d3 = dl_create(h, "/v2/deals", mgr, body);

    /* Validation: every bad field named, 422. */
    r = dl_expect(
        h, "POST", "/v2/deals", s1,
        "{\"data\":{\"value\":\"12,5\",\"currency\":\"euro\",\"estimated_close_date\":\"2026-02-30\"}}", 422);
    cr_expect(strstr(r->body, "\"/name\"") && strstr(r->body, "\"/value\"") &&
                  strstr(r->body, "\"/currency\"") && strstr(r->body, "\"/estimated_close_date\""),
              "%s", r->body);
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", "/v2/deals", s1, "{\"data\":{\"name\":\"x\",\"value\":[12]}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/value");
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", "/v2/deals", s1, "{\"data\":{\"name\":\"x\",\"stage_id\":99999}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/stage_id");
    harness_resp_destroy(&r);
    snprintf(body, sizeof body, "{\"data\":{\"name\":\"x\",\"stage_id\":%lld,\"pipeline_id\":%lld}}", sid[0],
             p2);
    r = dl_expect(h, "POST", "/v2/deals", s1, body, 422);
    cr_expect_str_eq(dl_err(r, "field"), "/stage_id");
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", "/v2/deals", s1, "{\"data\":{\"name\":\"x\",\"pipeline_id\":99999}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/pipeline_id");
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", "/v2/deals", s1, "{\"data\":{\"name\":\"x\",\"source_id\":99999}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/source_id");
    harness_resp_destroy(&r);
    r = dl_expect(h, "GET", "/v2/deals?bogus=1", s1, NULL, 400);
    harness_resp_destroy(&r);
    r = dl_expect(h, "GET", "/v2/deals?sort_by=nope", s1, NULL, 400);
    harness_resp_destroy(&r);

    /* H1: a sales rep sees only its own deals; others' answer 404 on read, update, delete. */
    json_t *l = dl_list(h, "/v2/deals", s1);
    cr_expect_eq(json_array_size(l), 1);
    cr_expect_eq(dl_item_int(l, 0, "id"), d1);
    json_decref(l);
    l = dl_list(h, "/v2/deals", mgr);
    cr_expect_eq(json_array_size(l), 3);
    json_decref(l);
    snprintf(path, sizeof path, "/v2/deals/%lld", d2);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", path, s1, NULL, 404)});
    harness_resp_destroy(
        &(harness_resp_t *){dl_expect(h, "PUT", path, s1, "{\"data\":{\"name\":\"mine\"}}", 404)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 404)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", path, mgr, NULL, 200)});

    /* Partial update keeps what is not sent. */
    snprintf(path, sizeof path, "/v2/deals/%lld", d1);
    r = dl_expect(h, "PUT", path, s1, "{\"data\":{\"value\":\"99.9\",\"hot\":false}}", 200);
    cr_expect_str_eq(dl_str(r, "value"), "99.90");
    cr_expect_str_eq(dl_str(r, "name"), "Acme");
    cr_expect_str_eq(dl_str(r, "currency"), "EUR");
    cr_expect(json_is_false(json_object_get(dl_data(r), "hot")));
    harness_resp_destroy(&r);
    r = dl_expect(h, "PUT", path, s1, "{\"data\":{\"value\":\"-5\"}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/value");
    harness_resp_destroy(&r);

    /* Filters and sort. */
    l = dl_list(h, "/v2/deals?sort_by=value:desc", admin);
    cr_expect_eq(dl_item_int(l, 0, "id"), d3);
    cr_expect_eq(dl_item_int(l, 2, "id"), d2);
    json_decref(l);
    snprintf(path, sizeof path, "/v2/deals?pipeline_id=%lld", p2);
    cr_expect_eq(harness_count_items(h, path, admin), 2);
    snprintf(path, sizeof path, "/v2/deals?stage_id=%lld&owner_id=%lld", sid[0], u_s1);
    cr_expect_eq(harness_count_items(h, path, admin), 1);
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_field=Deal%20type:Upsell", admin), 1);
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_field=Deal%20type:New", admin), 0);
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_fields[Deal%20type]=Upsell", admin), 1);
    cr_expect_eq(harness_count_items(h, "/v2/deals?custom_fields[Deal%20type]=New", admin), 0);
    r = dl_expect(h, "POST", "/v2/deals", s1, "{\"data\":{\"name\":\"x\",\"custom_fields\":[1]}}", 422);
    cr_expect_str_eq(dl_err(r, "field"), "/custom_fields");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/deals?tag=big", admin), 1);
    snprintf(path, sizeof path, "/v2/deals?contact_id=%lld", c71);
    cr_expect_eq(harness_count_items(h, path, admin), 1);
    cr_expect_eq(harness_count_items(h, "/v2/deals?name=Renew%20Acme", admin), 1);
    cr_expect_eq(harness_count_items(h, "/v2/deals?per_page=2", admin), 2);

    /* Associated contacts. */
    snprintf(path, sizeof path, "/v2/deals/%lld/associated_contacts", d1);
    l = dl_list(h, path, s1);
    cr_expect_eq(json_array_size(l), 2, "primary and extra contact");
    json_decref(l);
    snprintf(body, sizeof body, "{\"data\":{\"contact_id\":%lld,\"role\":\"involved\"}}", c73);
    r = dl_expect(h, "POST", path, s1, body, 200);
    cr_expect_eq(dl_int(r, "contact_id"), c73);
    harness_resp_destroy(&r);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "POST", path, s1, "{\"data\":{}}", 422)});
    harness_resp_destroy(
        &(harness_resp_t *){dl_expect(h, "POST", path, s2, "{\"data\":{\"contact_id\":5}}", 404)});
    cr_expect_eq(harness_count_items(h, path, s1), 3);
    snprintf(path, sizeof path, "/v2/deals/%lld/associated_contacts/%lld", d1, c72);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 204)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, s1, NULL, 404)});

    /* Reasons and sources, with the legacy /v2/sources alias. */
    long long lr = dl_create(h, "/v2/loss_reasons", admin, "{\"name\":\"Too expensive\"}");
    harness_resp_destroy(&(harness_resp_t *){
        dl_expect(h, "POST", "/v2/loss_reasons", admin, "{\"data\":{\"name\":\"Too expensive\"}}", 422)});
    harness_resp_destroy(&(harness_resp_t *){
        dl_expect(h, "POST", "/v2/loss_reasons", s1, "{\"data\":{\"name\":\"a\"}}", 403)});
    long long ur = dl_create(h, "/v2/deal_unqualified_reasons", admin, "{\"name\":\"No budget\"}");
    long long src =
        dl_create(h, "/v2/deal_sources", admin, "{\"name\":\"Referral\",\"resource_type\":\"deal\"}");
    snprintf(path, sizeof path, "/v2/sources/%lld", src);
    r = dl_expect(h, "GET", path, s1, NULL, 200);
    cr_expect_str_eq(dl_str(r, "name"), "Referral");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "source");
    harness_resp_destroy(&r);
    r = dl_expect(h, "PUT", path, admin, "{\"data\":{\"name\":\"Referral\"}}", 200);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/sources?name=Referral", s1), 1);
    cr_expect_eq(harness_count_items(h, "/v2/deal_unqualified_reasons", s1), 1);
    (void)ur;
    snprintf(path, sizeof path, "/v2/deals/%lld", d1);
    snprintf(body, sizeof body, "{\"data\":{\"source_id\":%lld}}", src);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "PUT", path, s1, body, 200)});
    snprintf(path, sizeof path, "/v2/deal_sources/%lld", src);
    r = dl_expect(h, "DELETE", path, admin, NULL, 409);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/loss_reasons/%lld", lr);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, admin, NULL, 204)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", path, admin, NULL, 404)});

    /* Deleting a stage or pipeline that holds deals: 409 naming the count. */
    snprintf(path, sizeof path, "/v2/stages/%lld", p2_quote);
    r = dl_expect(h, "DELETE", path, admin, NULL, 409);
    cr_expect(strstr(r->body, "holds 1 deals"), "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/pipelines/%lld", p2);
    r = dl_expect(h, "DELETE", path, admin, NULL, 409);
    cr_expect(strstr(r->body, "holds 2 deals"), "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/stages/%lld", demo);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, admin, NULL, 204)});
    snprintf(path, sizeof path, "/v2/stages?pipeline_id=%lld", p2);
    st = dl_list(h, path, admin);
    cr_expect_eq(json_array_size(st), 7);
    cr_expect_eq(dl_item_int(st, 6, "position"), 7, "positions closed up");
    json_decref(st);

    /* Delete a deal: 204, then 404; its contacts go with it. */
    snprintf(path, sizeof path, "/v2/deals/%lld", d3);
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "DELETE", path, mgr, NULL, 204)});
    harness_resp_destroy(&(harness_resp_t *){dl_expect(h, "GET", path, mgr, NULL, 404)});

    /* Events: one deal.created per created deal, deal.updated per update, all in the outbox. */
    cr_expect_eq(outbox_count("deal.created"), 3);
    cr_expect_eq(outbox_count("deal.updated"), 2);
    free(mgr);
    free(s1);
    free(s2);
}

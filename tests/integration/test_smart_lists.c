/* /v2/smart_lists and /v2/smart_lists/{id}/items through HTTP on a real stack: CRUD, the filter
 * as a JSON object, every 4xx path (422 naming /filter/<key>, /sort_by, ...), private vs shared
 * lists, items restricted to the sales caller's own leads, converted leads left out, sort and
 * pages. */
#include "leads2_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(smart_lists, .fini = stop_stack, .timeout = 600);

static long long lead(const char *last, const char *status, long long owner, const char *tags, const char *cf,
                      const char *extra)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO leads.leads (last_name, status, owner_id, tags, custom_fields, converted_at, "
             "updated_at) "
             "VALUES ('%s', '%s', %lld, '%s', '%s', %s) RETURNING id",
             last, status, owner, tags, cf, extra);
    return harness_sql_long(h, sql);
}

Test(smart_lists, crud_items_and_visibility)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long ua, ub;
    char *a = l2_user_token(h, "sl-a", "sales", &ua);
    char *b = l2_user_token(h, "sl-b", "sales", &ub);
    cr_assert(a && b);
    long long l1 =
        lead("Adams", "New", ua, "{vip}", "{\"Tier\": \"Gold\"}", "NULL, now() - interval '1 hour'");
    long long l2 = lead("Baker", "Working", ua, "{vip}", "{}", "NULL, now()");
    long long l3 = lead("Clark", "New", ub, "{vip}", "{\"Tier\": \"Silver\"}", "NULL, now()");
    long long l4 = lead("Davis", "New", ua, "{vip}", "{}", "now(), now()");
    long long l5 = lead("Evans", "New", ua, "{vip,hot}", "{}", "NULL, now() - interval '2 hours'");
    cr_assert(l1 > 0 && l2 > 0 && l3 > 0 && l4 > 0 && l5 > 0);

    harness_resp_t *r = l2_call(h, "POST", "/v2/smart_lists", a,
                                "{\"data\":{\"name\":\"New VIPs\",\"resource_type\":\"lead\","
                                "\"filter\":{\"status\":\"New\",\"tags\":\"vip\"}}}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long sl = l2_data_int(r, "id");
    json_t *d = json_object_get(r->json, "data");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(d, "filter"), "status")), "New",
                     "filter is an object: %s", r->body);
    cr_expect_str_eq(l2_data_str(r, "sort_by"), "updated_at:desc");
    cr_expect(json_is_false(json_object_get(d, "shared")));
    cr_expect_eq(l2_data_int(r, "creator_id"), ua);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")),
                     "smart_list");
    harness_resp_destroy(&r);

    /* Items: A's own New VIP leads, newest first, the converted one left out. */
    char path[256];
    long long ids[10];
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl);
    cr_expect_eq(l2_list_ids(h, path, a, ids, 10), 2);
    cr_expect_eq(ids[0], l1);
    cr_expect_eq(ids[1], l5);
    /* Managers and admins see every matching lead. */
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 3);
    cr_expect_eq(ids[0], l3);
    /* Pages. */
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items?per_page=1", sl);
    r = l2_call(h, "GET", path, a, NULL);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 1);
    cr_expect_not_null(
        json_object_get(json_object_get(json_object_get(r->json, "meta"), "links"), "next_page"), "%s",
        r->body);
    cr_expect_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "meta"), "type")),
        "lead");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items?per_page=1&page=2", sl);
    cr_expect_eq(l2_list_ids(h, path, a, ids, 10), 1);
    cr_expect_eq(ids[0], l5);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items?per_page=500", sl);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 400), 400);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items?status=New", sl);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 400), 400);

    /* Private: B does not see it; shared: B sees it and gets its own leads; only A changes it. */
    snprintf(path, sizeof path, "/v2/smart_lists/%lld", sl);
    cr_expect_eq(l2_status(h, "GET", path, b, NULL, 404), 404);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl);
    cr_expect_eq(l2_status(h, "GET", path, b, NULL, 404), 404);
    cr_expect_eq(l2_list_ids(h, "/v2/smart_lists", b, ids, 10), 0);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld", sl);
    cr_expect_eq(l2_status(h, "PUT", path, b, "{\"data\":{\"name\":\"Mine\"}}", 404), 404);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"shared\":true,\"sort_by\":\"last_name\"}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(json_object_get(json_object_get(r->json, "data"), "shared")));
    cr_expect_str_eq(l2_data_str(r, "name"), "New VIPs", "kept");
    cr_expect_not_null(json_object_get(json_object_get(json_object_get(r->json, "data"), "filter"), "tags"),
                       "kept");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_list_ids(h, "/v2/smart_lists", b, ids, 10), 1);
    cr_expect_eq(l2_status(h, "GET", path, b, NULL, 200), 200);
    cr_expect_eq(l2_status(h, "PUT", path, b, "{\"data\":{\"name\":\"Mine\"}}", 403), 403);
    cr_expect_eq(l2_status(h, "DELETE", path, b, NULL, 403), 403);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl);
    cr_expect_eq(l2_list_ids(h, path, b, ids, 10), 1);
    cr_expect_eq(ids[0], l3);
    cr_expect_eq(l2_list_ids(h, path, a, ids, 10), 2);
    cr_expect_eq(ids[0], l1, "sorted by last_name now");

    /* Filters over custom fields, owner, converted. */
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"name\":\"Gold\",\"resource_type\":\"lead\",\"filter\":{\"custom_fields\":{\"Tier\":[\"Gold\","
        "\"Silver\"]},\"owner_id\":{\"in\":[%lld,%lld]}},\"sort_by\":\"id:asc\"}",
        ua, ub);
    long long sl2 = l2_create(h, "/v2/smart_lists", admin, body);
    cr_assert_gt(sl2, 0);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl2);
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 2);
    cr_expect_eq(ids[0], l1);
    cr_expect_eq(ids[1], l3);
    long long sl3 =
        l2_create(h, "/v2/smart_lists", admin,
                  "{\"name\":\"Converted\",\"resource_type\":\"lead\",\"filter\":{\"converted\":true}}");
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl3);
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 1);
    cr_expect_eq(ids[0], l4);
    cr_expect_eq(l2_list_ids(h, "/v2/smart_lists?sort_by=id", admin, ids, 10), 3, "admin sees every list");
    cr_expect_eq(l2_list_ids(h, "/v2/smart_lists?name=Gold", admin, ids, 10), 1);

    /* 4xx. */
    r = l2_call(h, "POST", "/v2/smart_lists", a, "{\"data\":{}}");
    cr_expect_eq(r->status, 422);
    char fields[256];
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields), "/name,/resource_type");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/smart_lists", a,
                "{\"data\":{\"name\":\"x\",\"resource_type\":\"lead\",\"filter\":{\"colour\":\"red\"}}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/filter/colour");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/smart_lists", a,
                "{\"data\":{\"name\":\"x\",\"resource_type\":\"lead\",\"filter\":{\"created_at\":{\"from\":"
                "\"soon\"}}}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/filter/created_at/from");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/smart_lists", a,
                "{\"data\":{\"name\":\"x\",\"resource_type\":\"lead\",\"filter\":[1]}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/filter");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/smart_lists", a,
                "{\"data\":{\"name\":\"x\",\"resource_type\":\"lead\",\"sort_by\":\"email:up\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/sort_by");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/smart_lists", a, "{\"data\":{\"name\":\"x\",\"resource_type\":\"deal\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld", sl);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"filter\":{\"tags\":{\"some\":[\"x\"]}}}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/filter/tags/some");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "GET", "/v2/smart_lists/999999", a, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "GET", "/v2/smart_lists/999999/items", a, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "GET", "/v2/smart_lists?colour=1", a, NULL, 400), 400);

    /* Delete. */
    cr_expect_eq(l2_status(h, "DELETE", path, a, NULL, 204), 204);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 404), 404);
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 404), 404);
    free(a);
    free(b);
}

/* Custom field definitions per resource type through HTTP on a real stack:
 * /v2/{lead|contact|deal}/custom_fields list/get for everyone, create/update/delete for admins,
 * types and their aliases, choices, names unique per resource type, and every 4xx path. */
#include "leads2_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(leads_custom_fields, .fini = stop_stack, .timeout = 600);

Test(leads_custom_fields, definitions)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    char *sales = l2_user_token(h, "cf-sales", "sales", NULL);
    cr_assert_not_null(sales);

    long long tier = l2_create(
        h, "/v2/lead/custom_fields", admin,
        "{\"name\":\"Tier\",\"type\":\"dropdown\",\"choices\":[{\"name\":\"Gold\"},{\"name\":\"Silver\"}]}");
    long long budget =
        l2_create(h, "/v2/lead/custom_fields", admin, "{\"name\":\"Budget\",\"type\":\"number\"}");
    long long ctier =
        l2_create(h, "/v2/contact/custom_fields", admin, "{\"name\":\"Tier\",\"type\":\"boolean\"}");
    long long dtype =
        l2_create(h, "/v2/deal/custom_fields", admin,
                  "{\"name\":\"Deal "
                  "type\",\"type\":\"multi-select\",\"choices\":[{\"name\":\"New\"},{\"name\":\"Upsell\"}]}");
    cr_assert(tier > 0 && budget > 0 && ctier > 0 && dtype > 0);

    char path[128];
    snprintf(path, sizeof path, "/v2/lead/custom_fields/%lld", tier);
    harness_resp_t *r = l2_call(h, "GET", path, sales, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "type"), "list", "dropdown stored as Sell's list");
    json_t *choices = json_object_get(json_object_get(r->json, "data"), "choices");
    cr_expect_eq(json_array_size(choices), 2);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(choices, 1), "id")), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(choices, 1), "name")), "Silver");
    cr_expect_str_eq(l2_data_str(r, "resource_type"), "lead");
    cr_expect(json_is_null(json_object_get(json_object_get(r->json, "data"), "for_contact")),
              "lead fields: null");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/contact/custom_fields/%lld", ctier);
    r = l2_call(h, "GET", path, sales, NULL);
    cr_expect_str_eq(l2_data_str(r, "type"), "bool");
    cr_expect(json_is_true(json_object_get(json_object_get(r->json, "data"), "for_contact")));
    harness_resp_destroy(&r);
    /* A lead field is not found under /v2/contact/custom_fields. */
    snprintf(path, sizeof path, "/v2/contact/custom_fields/%lld", tier);
    cr_expect_eq(l2_status(h, "GET", path, sales, NULL, 404), 404);

    long long ids[10];
    cr_expect_eq(l2_list_ids(h, "/v2/lead/custom_fields", sales, ids, 10), 2);
    cr_expect_eq(ids[0], tier);
    cr_expect_eq(l2_list_ids(h, "/v2/lead/custom_fields?sort_by=name", sales, ids, 10), 2);
    cr_expect_eq(ids[0], budget);
    cr_expect_eq(l2_list_ids(h, "/v2/lead/custom_fields?name=Budget", sales, ids, 10), 1);
    cr_expect_eq(l2_list_ids(h, "/v2/contact/custom_fields", sales, ids, 10), 1);
    cr_expect_eq(l2_list_ids(h, "/v2/deal/custom_fields", sales, ids, 10), 1);
    cr_expect_eq(l2_status(h, "GET", "/v2/lead/custom_fields?type=list", sales, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/task/custom_fields", sales, NULL, 404), 404);

    /* 4xx on create. */
    r = l2_call(h, "POST", "/v2/lead/custom_fields", admin, "{\"data\":{}}");
    cr_expect_eq(r->status, 422);
    char fields[256];
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields), "/name,/type");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead/custom_fields", admin,
                "{\"data\":{\"name\":\"X\",\"type\":\"colour\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/type");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead/custom_fields", admin, "{\"data\":{\"name\":\"X\",\"type\":\"list\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/choices");
    harness_resp_destroy(&r);
    r = l2_call(
        h, "POST", "/v2/lead/custom_fields", admin,
        "{\"data\":{\"name\":\"X\",\"type\":\"list\",\"choices\":[{\"name\":\"A\"},{\"name\":\"A\"}]}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/choices/1/name");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead/custom_fields", admin,
                "{\"data\":{\"name\":\"X\",\"type\":\"text\",\"choices\":[{\"name\":\"A\"}]}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/choices");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead/custom_fields", admin,
                "{\"data\":{\"name\":\"Tier\",\"type\":\"text\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_code(r), "already_exists");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead/custom_fields", admin,
                "{\"data\":{\"name\":\"Y\",\"type\":\"text\",\"resource_type\":\"deal\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "POST", "/v2/lead/custom_fields", sales,
                           "{\"data\":{\"name\":\"Z\",\"type\":\"url\"}}", 403),
                 403);

    /* Update: rename, new choices, type cannot change, name taken, 404, 403. */
    snprintf(path, sizeof path, "/v2/lead/custom_fields/%lld", tier);
    r = l2_call(h, "PUT", path, admin,
                "{\"data\":{\"name\":\"Level\",\"choices\":[{\"name\":\"Gold\"},{\"name\":\"Bronze\"},{"
                "\"name\":\"Silver\"}]}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "name"), "Level");
    cr_expect_eq(json_array_size(json_object_get(json_object_get(r->json, "data"), "choices")), 3);
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"type\":\"text\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/type");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"name\":\"Budget\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_code(r), "already_exists");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/lead/custom_fields/%lld", budget);
    cr_expect_eq(l2_status(h, "PUT", path, admin, "{\"data\":{\"choices\":[{\"name\":\"A\"}]}}", 422), 422);
    cr_expect_eq(l2_status(h, "PUT", path, sales, "{\"data\":{\"name\":\"B\"}}", 403), 403);
    cr_expect_eq(
        l2_status(h, "PUT", "/v2/lead/custom_fields/999999", admin, "{\"data\":{\"name\":\"B\"}}", 404), 404);

    /* Delete. */
    cr_expect_eq(l2_status(h, "DELETE", path, sales, NULL, 403), 403);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 204), 204);
    cr_expect_eq(l2_status(h, "GET", path, admin, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 404), 404);
    cr_expect_eq(l2_list_ids(h, "/v2/lead/custom_fields", sales, ids, 10), 1);
    free(sales);
}

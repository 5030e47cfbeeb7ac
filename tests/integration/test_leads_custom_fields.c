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

/* Values on records: POST/PUT /v2/leads and /v2/contacts check custom_fields against the
 * definitions of their resource type — text, number, date, dropdown (list), multi-select, bool,
 * URL —, a refused value is a 422 naming /custom_fields/<name> (every bad one in the same reply,
 * with the record's other errors), nothing is stored; choices given by id are stored by name. */
Test(leads_custom_fields, values_on_leads_and_contacts)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    const char *defs[] = {
        "{\"name\":\"Notes\",\"type\":\"text\"}",
        "{\"name\":\"Budget\",\"type\":\"number\"}",
        "{\"name\":\"Renewal\",\"type\":\"date\"}",
        "{\"name\":\"Tier\",\"type\":\"dropdown\",\"choices\":[{\"name\":\"Gold\"},{\"name\":\"Silver\"}]}",
        "{\"name\":\"Colours\",\"type\":\"multi_select\",\"choices\":[{\"name\":\"Red\"},{\"name\":\"Blue\"}]"
        "}",
        "{\"name\":\"Partner\",\"type\":\"boolean\"}",
        "{\"name\":\"Site\",\"type\":\"url\"}",
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        cr_assert_gt(l2_create(h, "/v2/lead/custom_fields", admin, defs[i]), 0, "%s", defs[i]);
    cr_assert_gt(l2_create(h, "/v2/contact/custom_fields", admin, "{\"name\":\"Partner\",\"type\":\"bool\"}"),
                 0);

    /* Every type accepted with a good value; a dropdown choice by id is stored by its name. */
    harness_resp_t *r = l2_call(
        h, "POST", "/v2/leads", admin,
        "{\"data\":{\"last_name\":\"Valid\",\"custom_fields\":{\"Notes\":\"free text\",\"Budget\":\"123.45\","
        "\"Renewal\":\"2027-01-31\",\"Tier\":{\"id\":2},\"Colours\":[\"Red\",{\"name\":\"Blue\"}],"
        "\"Partner\":true,\"Site\":\"https://example.com/x\"}}}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long lead = l2_data_int(r, "id");
    json_t *cf = json_object_get(json_object_get(r->json, "data"), "custom_fields");
    cr_expect_str_eq(json_string_value(json_object_get(cf, "Tier")) ?: "", "Silver", "%s", r->body);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(cf, "Colours"), 1)) ?: "", "Blue");
    cr_expect_str_eq(json_string_value(json_object_get(cf, "Budget")) ?: "", "123.45");
    cr_expect(json_is_true(json_object_get(cf, "Partner")));
    harness_resp_destroy(&r);
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE custom_fields ->> 'Tier' = 'Silver'"), 1,
        "stored by name");
    r = l2_call(h, "POST", "/v2/leads", admin,
                "{\"data\":{\"last_name\":\"Num\",\"custom_fields\":{\"Budget\":12}}}");
    cr_expect_eq(r->status, 200, "a JSON number for a number field: %s", r->body);
    harness_resp_destroy(&r);

    /* One wrong value per type, each named; the other errors of the record in the same reply. */
    struct {
        const char *cf, *field;
    } bad[] = {
        {"{\"Notes\":12}", "/custom_fields/Notes"},
        {"{\"Budget\":\"12abc\"}", "/custom_fields/Budget"},
        {"{\"Budget\":true}", "/custom_fields/Budget"},
        {"{\"Renewal\":\"31/01/2027\"}", "/custom_fields/Renewal"},
        {"{\"Renewal\":\"2027-02-30\"}", "/custom_fields/Renewal"},
        {"{\"Tier\":\"Platinum\"}", "/custom_fields/Tier"},
        {"{\"Tier\":{\"id\":9}}", "/custom_fields/Tier"},
        {"{\"Colours\":\"Red\"}", "/custom_fields/Colours"},
        {"{\"Colours\":[\"Red\",\"Red\"]}", "/custom_fields/Colours"},
        {"{\"Colours\":[\"Green\"]}", "/custom_fields/Colours"},
        {"{\"Partner\":\"yes\"}", "/custom_fields/Partner"},
        {"{\"Site\":\"example.com\"}", "/custom_fields/Site"},
        {"{\"Site\":\"ftp://example.com\"}", "/custom_fields/Site"},
        {"{\"Shoe size\":42}", "/custom_fields/Shoe size"},
        {"[1,2]", "/custom_fields"},
    };
    long long leads_before = harness_sql_long(h, "SELECT count(*) FROM leads.leads");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"data\":{\"last_name\":\"Bad\",\"custom_fields\":%s}}", bad[i].cf);
        r = l2_call(h, "POST", "/v2/leads", admin, body);
        cr_expect_eq(r->status, 422, "%s: %ld %s", bad[i].cf, r->status, r->body);
        cr_expect_str_eq(l2_err_field(r), bad[i].field, "%s: %s", bad[i].cf, r->body);
        harness_resp_destroy(&r);
    }
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads"), leads_before, "nothing stored");
    r = l2_call(h, "POST", "/v2/leads", admin,
                "{\"data\":{\"first_name\":\"No name\",\"custom_fields\":{\"Budget\":\"x\",\"Site\":\"nope\","
                "\"Partner\":true}}}");
    cr_expect_eq(r->status, 422);
    char fields[256];
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields),
                     "/last_name,/organization_name,/custom_fields/Budget,/custom_fields/Site", "%s",
                     r->body);
    harness_resp_destroy(&r);

    /* Update: checked the same way; a refused PUT changes nothing; null clears a value. */
    char path[64];
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    r = l2_call(h, "PUT", path, admin,
                "{\"data\":{\"title\":\"CEO\",\"custom_fields\":{\"Tier\":\"Bronze\"}}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(l2_err_field(r), "/custom_fields/Tier");
    harness_resp_destroy(&r);
    r = l2_call(h, "GET", path, admin, NULL);
    cr_expect(json_is_null(json_object_get(json_object_get(r->json, "data"), "title")), "refused PUT: %s",
              r->body);
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"custom_fields\":{\"Tier\":{\"id\":1},\"Site\":null}}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cf = json_object_get(json_object_get(r->json, "data"), "custom_fields");
    cr_expect_str_eq(json_string_value(json_object_get(cf, "Tier")) ?: "", "Gold", "%s", r->body);
    cr_expect(json_is_null(json_object_get(cf, "Site")), "%s", r->body);
    harness_resp_destroy(&r);

    /* Contacts use the contact definitions: Partner is a bool there, Tier does not exist. */
    r = l2_call(h, "POST", "/v2/contacts", admin,
                "{\"data\":{\"last_name\":\"Person\",\"custom_fields\":{\"Partner\":false}}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    long long contact = l2_data_int(r, "id");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/contacts", admin,
                "{\"data\":{\"is_organization\":true,\"name\":\"Org\",\"custom_fields\":{\"Tier\":\"Gold\","
                "\"Partner\":1}}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields), "/custom_fields/Partner,/custom_fields/Tier",
                     "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/contacts/%lld", contact);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"custom_fields\":{\"Partner\":\"no\"}}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(l2_err_field(r), "/custom_fields/Partner");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"custom_fields\":{\"Partner\":true}}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(
        json_object_get(json_object_get(json_object_get(r->json, "data"), "custom_fields"), "Partner")));
    harness_resp_destroy(&r);
}

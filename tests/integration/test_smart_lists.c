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
    long long ua = 0, ub = 0;
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

static long long contact(const char *last, const char *name, bool org, long long owner, const char *tags,
                         const char *cf, const char *created, const char *updated)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO leads.contacts (last_name, name, is_organization, owner_id, tags, custom_fields, "
             "created_at, updated_at) VALUES (%s, '%s', %s, %lld, '%s', '%s', %s, %s) RETURNING id",
             last, name, org ? "true" : "false", owner, tags, cf, created, updated);
    return harness_sql_long(h, sql);
}

/* A timeline row of a lead (table lead_activities) or contact (contact_activities) at `when`. */
static void activity(const char *table, const char *col, long long id, const char *when)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "WITH x AS (INSERT INTO leads.%s (%s, kind, summary, created_at) VALUES (%lld, 'note', 'n', %s) "
             "RETURNING 1) SELECT count(*) FROM x",
             table, col, id, when);
    cr_assert_eq(harness_sql_long(h, sql), 1);
}

/* A smart list's items as ids (admin unless token given), checked against want (n ids, in order). */
static void expect_items(long long sl, const char *token, const long long *want, int n, const char *what)
{
    char path[96];
    long long ids[16];
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl);
    int got = l2_list_ids(h, path, token ? token : harness_admin_token(h), ids, 16);
    cr_expect_eq(got, n, "%s: %d items", what, got);
    for (int i = 0; i < n && i < got; i++)
        cr_expect_eq(ids[i], want[i], "%s: item %d is %lld, want %lld", what, i, ids[i], want[i]);
}

static long long smart_list(const char *token, const char *rtype, const char *filter, const char *sort)
{
    static int seq;
    char body[768];
    snprintf(body, sizeof body,
             "{\"name\":\"%s list %d\",\"resource_type\":\"%s\",\"filter\":%s,\"sort_by\":\"%s\"}", rtype,
             ++seq, rtype, filter, sort);
    long long id = l2_create(h, "/v2/smart_lists", token ? token : harness_admin_token(h), body);
    cr_assert_gt(id, 0, "%s", body);
    return id;
}

/* Smart lists over contacts (resource_type contact) and the filter kinds over both record types:
 * any attribute (text operators), custom fields (numeric comparison), owner, tags, created and
 * updated ranges, last activity date, days since the last communication (the latest timeline
 * row, else the creation); items are contacts (meta type contact), restricted to a sales
 * caller's own; filters and sorts of the other type are 422s naming them. */
Test(smart_lists, contacts_and_every_kind_of_filter)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long ua = 0, ub = 0;
    char *a = l2_user_token(h, "slc-a", "sales", &ua);
    char *b = l2_user_token(h, "slc-b", "sales", &ub);
    cr_assert(a && b);
    long long c1 =
        contact("'Able'", "Ann Able", false, ua, "{vip}", "{\"Tier\": \"Gold\", \"Seats\": \"12\"}",
                "now() - interval '40 days'", "now() - interval '1 hour'");
    long long c2 = contact("NULL", "Acme Corp", true, ua, "{}", "{}", "now() - interval '10 days'", "now()");
    long long c3 = contact("'Baker'", "Bo Baker", false, ub, "{vip}", "{\"Tier\": \"Gold\"}",
                           "now() - interval '5 days'", "now()");
    long long c4 = contact("'Cole'", "Cy Cole", false, ua, "{vip,hot}", "{\"Seats\": 3}",
                           "now() - interval '100 days'", "now() - interval '100 days'");
    cr_assert(c1 > 0 && c2 > 0 && c3 > 0 && c4 > 0);
    activity("contact_activities", "contact_id", c1, "now() - interval '2 days'");
    activity("contact_activities", "contact_id", c2, "now() - interval '45 days'");

    /* Tags and is_organization, sorted by last name; each sales user gets its own. */
    long long sl = smart_list(a, "contact", "{\"tags\":\"vip\",\"is_organization\":false}", "last_name");
    char path[96];
    snprintf(path, sizeof path, "/v2/smart_lists/%lld/items", sl);
    harness_resp_t *r = l2_call(h, "GET", path, a, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *first = json_array_get(json_object_get(r->json, "items"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(first, "meta"), "type")) ?: "",
                     "contact", "%s", r->body);
    cr_expect(json_is_false(json_object_get(json_object_get(first, "data"), "is_organization")), "%s",
              r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(first, "data"), "name")) ?: "",
                     "Ann Able");
    harness_resp_destroy(&r);
    expect_items(sl, a, (long long[]){c1, c4}, 2, "sales A's VIP people");
    snprintf(path, sizeof path, "/v2/smart_lists/%lld", sl);
    cr_expect_eq(l2_status(h, "PUT", path, a, "{\"data\":{\"shared\":true}}", 200), 200);
    expect_items(sl, b, (long long[]){c3}, 1, "sales B's VIP people");
    expect_items(sl, NULL, (long long[]){c1, c3, c4}, 3, "every VIP person for the admin");

    long long ids_sl[8];
    int k = 0;
    ids_sl[k++] = smart_list(NULL, "contact", "{\"custom_fields\":{\"Seats\":{\"gt\":5}}}", "id");
    expect_items(ids_sl[k - 1], NULL, (long long[]){c1}, 1, "custom field Seats > 5");
    ids_sl[k++] = smart_list(NULL, "contact",
                             "{\"custom_fields\":{\"Tier\":\"Gold\"},\"owner_id\":{\"in\":[0]}}", "id");
    expect_items(ids_sl[k - 1], NULL, NULL, 0, "custom field and an owner nobody is");
    char f[128];
    snprintf(f, sizeof f, "{\"owner_id\":%lld,\"custom_fields\":{\"Tier\":\"Gold\"}}", ub);
    ids_sl[k++] = smart_list(NULL, "contact", f, "id");
    expect_items(ids_sl[k - 1], NULL, (long long[]){c3}, 1, "owner and custom field");
    ids_sl[k++] = smart_list(NULL, "contact", "{\"days_since_last_communication\":{\"gte\":30}}", "id");
    expect_items(ids_sl[k - 1], NULL, (long long[]){c2, c4}, 2, "no communication for 30 days or more");
    ids_sl[k++] =
        smart_list(NULL, "contact", "{\"last_activity_at\":{\"within_days\":7}}", "last_activity_at:desc");
    expect_items(ids_sl[k - 1], NULL, (long long[]){c1}, 1, "active in the last week");
    ids_sl[k++] = smart_list(NULL, "contact",
                             "{\"created_at\":{\"within_days\":20},\"updated_at\":{\"within_days\":1}}",
                             "created_at:desc");
    expect_items(ids_sl[k - 1], NULL, (long long[]){c3, c2}, 2, "created in 20 days, updated today");
    ids_sl[k++] =
        smart_list(NULL, "contact", "{\"name\":{\"contains\":\"acme\"},\"is_organization\":true}", "name");
    expect_items(ids_sl[k - 1], NULL, (long long[]){c2}, 1, "organization by part of its name");
    ids_sl[k++] = smart_list(NULL, "contact", "{\"tags\":{\"any\":[\"hot\"],\"none\":[\"cold\"]}}", "id");
    expect_items(ids_sl[k - 1], NULL, (long long[]){c4}, 1, "tags any/none");

    /* The same kinds over leads. */
    long long la = lead("Lane", "New", ua, "{}", "{\"Budget\": 900}", "NULL, now()");
    long long lb = lead("Moss", "New", ua, "{}", "{\"Budget\": \"90\"}", "NULL, now()");
    cr_assert(la > 0 && lb > 0);
    cr_assert_eq(harness_sql_long(h, "WITH x AS (UPDATE leads.leads SET title = 'VP Sales', email = "
                                     "'lane@acme.example', created_at = now() - interval '40 days' WHERE "
                                     "last_name = 'Lane' RETURNING 1) SELECT count(*) FROM x"),
                 1);
    cr_assert_eq(harness_sql_long(h,
                                  "WITH x AS (UPDATE leads.leads SET created_at = now() - interval '3 days' "
                                  "WHERE last_name = 'Moss' RETURNING 1) SELECT count(*) FROM x"),
                 1);
    activity("lead_activities", "lead_id", la, "now() - interval '10 days'");
    long long lsl = smart_list(
        NULL, "lead", "{\"title\":{\"starts_with\":\"vp\"},\"email\":{\"contains\":\"ACME\"}}", "id");
    expect_items(lsl, NULL, (long long[]){la}, 1, "lead text operators");
    lsl = smart_list(NULL, "lead", "{\"days_since_last_communication\":{\"gte\":7}}", "id");
    expect_items(lsl, NULL, (long long[]){la}, 1, "lead without communication for a week");
    lsl = smart_list(NULL, "lead",
                     "{\"last_activity_at\":{\"is_null\":true},\"created_at\":{\"within_days\":7}}", "id");
    expect_items(lsl, NULL, (long long[]){lb}, 1, "new lead never active");
    lsl = smart_list(NULL, "lead", "{\"custom_fields\":{\"Budget\":{\"gte\":100}}}", "id");
    expect_items(lsl, NULL, (long long[]){la}, 1, "lead custom field Budget >= 100 (number or decimal text)");
    lsl = smart_list(NULL, "lead", "{\"custom_fields\":{\"Budget\":{\"lt\":100}}}", "id");
    expect_items(lsl, NULL, (long long[]){lb}, 1, "lead custom field Budget < 100");

    /* 4xx: attributes and sorts of the other type; resource_type fixed. */
    struct {
        const char *body, *field;
    } bad[] = {
        {"{\"name\":\"x\",\"resource_type\":\"contact\",\"filter\":{\"status\":\"New\"}}", "/filter/status"},
        {"{\"name\":\"x\",\"resource_type\":\"contact\",\"filter\":{\"converted\":true}}",
         "/filter/converted"},
        {"{\"name\":\"x\",\"resource_type\":\"contact\",\"filter\":{\"is_organization\":\"yes\"}}",
         "/filter/is_organization"},
        {"{\"name\":\"x\",\"resource_type\":\"contact\",\"sort_by\":\"status\"}", "/sort_by"},
        {"{\"name\":\"x\",\"resource_type\":\"lead\",\"filter\":{\"is_organization\":true}}",
         "/filter/is_organization"},
        {"{\"name\":\"x\",\"resource_type\":\"lead\",\"sort_by\":\"name\"}", "/sort_by"},
        {"{\"name\":\"x\",\"resource_type\":\"contact\",\"filter\":{\"days_since_last_communication\":-1}}",
         "/filter/days_since_last_communication"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"data\":%s}", bad[i].body);
        r = l2_call(h, "POST", "/v2/smart_lists", a, body);
        cr_expect_eq(r->status, 422, "%s: %ld %s", bad[i].body, r->status, r->body);
        cr_expect_str_eq(l2_err_field(r), bad[i].field, "%s: %s", bad[i].body, r->body);
        harness_resp_destroy(&r);
    }
    snprintf(path, sizeof path, "/v2/smart_lists/%lld", sl);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"resource_type\":\"lead\"}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"filter\":{\"status\":\"New\"}}}");
    cr_expect_eq(r->status, 422, "a contact list keeps contact filters: %s", r->body);
    cr_expect_str_eq(l2_err_field(r), "/filter/status");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_list_ids(h, "/v2/smart_lists?resource_type=contact", harness_admin_token(h), ids_sl, 8),
                 9, "contact lists by resource_type");
    free(a);
    free(b);
}

/* /v2/lead_sources, /v2/lead_unqualified_reasons and /v2/tags through HTTP on a real stack:
 * CRUD, filters, sort, uniqueness (422 already_exists), roles (403), 404, 400, 409 in use, and
 * a lead tag renamed and deleted on the leads that carry it. */
#include "leads2_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(leads_catalog, .fini = stop_stack, .timeout = 600);

Test(leads_catalog, lead_sources_and_unqualified_reasons)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    char *sales = l2_user_token(h, "cat-sales", "sales", NULL);
    cr_assert_not_null(sales);

    /* Create, read back, list with filters and sort. */
    long long s1 =
        l2_create(h, "/v2/lead_sources", admin, "{\"name\":\"Trade show\",\"resource_type\":\"lead\"}");
    long long s2 = l2_create(h, "/v2/lead_sources", admin, "{\"name\":\"Referral\"}");
    cr_assert(s1 > 0 && s2 > 0);
    harness_resp_t *r = l2_call(h, "GET", "/v2/lead_sources/999999", sales, NULL);
    cr_expect_eq(r->status, 404, "no such source: %s", r->body);
    harness_resp_destroy(&r);
    char path[256];
    snprintf(path, sizeof path, "/v2/lead_sources/%lld", s1);
    r = l2_call(h, "GET", path, sales, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "name"), "Trade show");
    cr_expect_str_eq(l2_data_str(r, "resource_type"), "lead");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")), "source");
    cr_expect_gt(l2_data_int(r, "creator_id"), 0);
    cr_expect_not_null(l2_data_str(r, "created_at"));
    harness_resp_destroy(&r);

    long long ids[10];
    cr_expect_eq(l2_list_ids(h, "/v2/lead_sources?name=Referral", sales, ids, 10), 1);
    cr_expect_eq(ids[0], s2);
    cr_expect_eq(l2_list_ids(h, "/v2/lead_sources?sort_by=name:asc", sales, ids, 10), 2);
    cr_expect_eq(ids[0], s2, "Referral sorts before Trade show");
    cr_expect_eq(l2_list_ids(h, "/v2/lead_sources?sort_by=id:desc&per_page=1", sales, ids, 10), 1);
    cr_expect_eq(ids[0], s2);
    snprintf(path, sizeof path, "/v2/lead_sources?ids=%lld", s1);
    cr_expect_eq(l2_list_ids(h, path, sales, ids, 10), 1);
    cr_expect_eq(ids[0], s1);

    /* 4xx: missing name, taken name, bad resource_type, unknown field, bad sort, unknown query
     * param, sales writes. */
    r = l2_call(h, "POST", "/v2/lead_sources", admin, "{\"data\":{}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/name");
    cr_expect_str_eq(l2_err_code(r), "missing");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead_sources", admin, "{\"data\":{\"name\":\"Referral\"}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(l2_err_field(r), "/name");
    cr_expect_str_eq(l2_err_code(r), "already_exists");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead_sources", admin,
                "{\"data\":{\"name\":\"X\",\"resource_type\":\"deal\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    harness_resp_destroy(&r);
    cr_expect_eq(
        l2_status(h, "POST", "/v2/lead_sources", admin, "{\"data\":{\"name\":\"X\",\"bogus\":1}}", 422), 422);
    cr_expect_eq(l2_status(h, "GET", "/v2/lead_sources?sort_by=bogus", sales, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/lead_sources?colour=red", sales, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/lead_sources?per_page=101", sales, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "POST", "/v2/lead_sources", sales, "{\"data\":{\"name\":\"Mine\"}}", 403), 403);
    cr_expect_eq(l2_status(h, "POST", "/v2/lead_sources", admin, "not json", 400), 400);

    /* Update: keeping its own name succeeds, taking another's is 422, unknown id 404. */
    snprintf(path, sizeof path, "/v2/lead_sources/%lld", s1);
    cr_expect_eq(l2_status(h, "PUT", path, admin, "{\"data\":{\"name\":\"Trade show\"}}", 200), 200);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"name\":\"Referral\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_code(r), "already_exists");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"name\":\"Trade fair\"}}");
    cr_expect_eq(r->status, 200);
    cr_expect_str_eq(l2_data_str(r, "name"), "Trade fair");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "PUT", "/v2/lead_sources/999999", admin, "{\"data\":{\"name\":\"Q\"}}", 404),
                 404);
    cr_expect_eq(l2_status(h, "PUT", path, sales, "{\"data\":{\"name\":\"Q\"}}", 403), 403);

    /* Delete: a source used by a lead is 409; an unused one 204 then 404. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO leads.leads (last_name, source_id) VALUES ('Used', %lld) RETURNING id", s2);
    cr_expect_gt(harness_sql_long(h, sql), 0);
    snprintf(path, sizeof path, "/v2/lead_sources/%lld", s2);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 409), 409);
    snprintf(path, sizeof path, "/v2/lead_sources/%lld", s1);
    cr_expect_eq(l2_status(h, "DELETE", path, sales, NULL, 403), 403);
    r = l2_call(h, "DELETE", path, admin, NULL);
    cr_expect_eq(r->status, 204);
    cr_expect_eq(r->body_len, 0);
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "GET", path, admin, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 404), 404);

    /* Unqualified reasons: the defaults, then admin create/update/delete. */
    int n = l2_list_ids(h, "/v2/lead_unqualified_reasons", sales, ids, 10);
    cr_expect_eq(n, 3, "three default reasons");
    r = l2_call(h, "GET", "/v2/lead_unqualified_reasons?name=No%20budget", sales, NULL);
    cr_expect_eq(r->status, 200);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(
        l2_status(h, "POST", "/v2/lead_unqualified_reasons", sales, "{\"data\":{\"name\":\"Spam\"}}", 403),
        403);
    long long q = l2_create(h, "/v2/lead_unqualified_reasons", admin, "{\"name\":\"Spam\"}");
    cr_assert_gt(q, 0);
    r = l2_call(h, "POST", "/v2/lead_unqualified_reasons", admin, "{\"data\":{\"name\":\"Spam\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_code(r), "already_exists");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/lead_unqualified_reasons", admin, "{\"data\":{\"name\":\"  \"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/name");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/lead_unqualified_reasons/%lld", q);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"name\":\"Junk\"}}");
    cr_expect_eq(r->status, 200);
    cr_expect_str_eq(l2_data_str(r, "name"), "Junk");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")),
                     "unqualified_reason");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "PUT", path, sales, "{\"data\":{\"name\":\"J\"}}", 403), 403);
    cr_expect_eq(l2_status(h, "GET", path, sales, NULL, 200), 200);
    snprintf(
        sql, sizeof sql,
        "INSERT INTO leads.leads (last_name, unqualified_reason_id) VALUES ('Junked', %lld) RETURNING id", q);
    long long lead = harness_sql_long(h, sql);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 409), 409);
    snprintf(sql, sizeof sql, "DELETE FROM leads.leads WHERE id = %lld RETURNING id", lead);
    harness_sql_long(h, sql);
    cr_expect_eq(l2_status(h, "DELETE", path, sales, NULL, 403), 403);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 204), 204);
    cr_expect_eq(l2_status(h, "GET", path, admin, NULL, 404), 404);
    free(sales);
}

/* The tags of lead id (SQL), joined with ',' in array order. */
static long long lead_has_tag(harness_t *self, long long id, const char *tag)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.leads WHERE id = %lld AND '%s' = ANY (tags)", id,
             tag);
    return harness_sql_long(self, sql);
}

Test(leads_catalog, tags_per_resource_type)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    char *sales = l2_user_token(h, "tag-sales", "sales", NULL);
    cr_assert_not_null(sales);

    long long t1 = l2_create(h, "/v2/tags", sales, "{\"name\":\"vip\",\"resource_type\":\"lead\"}");
    long long t2 = l2_create(h, "/v2/tags", admin, "{\"name\":\"vip\",\"resource_type\":\"contact\"}");
    long long t3 = l2_create(h, "/v2/tags", admin, "{\"name\":\"hot\",\"resource_type\":\"deal\"}");
    cr_assert(t1 > 0 && t2 > 0 && t3 > 0, "same name in two resource types is fine");

    harness_resp_t *r =
        l2_call(h, "POST", "/v2/tags", admin, "{\"data\":{\"name\":\"vip\",\"resource_type\":\"lead\"}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(l2_err_field(r), "/name");
    cr_expect_str_eq(l2_err_code(r), "already_exists");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/tags", admin, "{\"data\":{}}");
    cr_expect_eq(r->status, 422);
    char fields[256];
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields), "/name,/resource_type", "both named: %s",
                     r->body);
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/tags", admin, "{\"data\":{\"name\":\"x\",\"resource_type\":\"task\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    cr_expect_str_eq(l2_err_code(r), "incorrect_value");
    harness_resp_destroy(&r);

    long long ids[10];
    cr_expect_eq(l2_list_ids(h, "/v2/tags?resource_type=lead", sales, ids, 10), 1);
    cr_expect_eq(ids[0], t1);
    cr_expect_eq(l2_list_ids(h, "/v2/tags?name=vip&sort_by=id:desc", sales, ids, 10), 2);
    cr_expect_eq(ids[0], t2);
    cr_expect_eq(l2_list_ids(h, "/v2/tags?sort_by=name", sales, ids, 10), 3);
    cr_expect_eq(ids[0], t3, "hot first");
    cr_expect_eq(l2_list_ids(h, "/v2/tags?per_page=2&page=2", sales, ids, 10), 1);
    cr_expect_eq(l2_status(h, "GET", "/v2/tags?resource_type=task", sales, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/tags?ids=1,x", sales, NULL, 400), 400);
    r = l2_call(h, "GET", "/v2/tags?resource_type=lead", sales, NULL);
    cr_expect_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "meta"), "type")),
        "tag");
    harness_resp_destroy(&r);

    /* A lead carrying the tag: renaming the tag renames it there, deleting removes it. */
    long long lead = harness_sql_long(h, "INSERT INTO leads.leads (last_name, tags) VALUES ('Tagged', "
                                         "'{vip,other}') RETURNING id");
    cr_assert_gt(lead, 0);
    char path[128];
    snprintf(path, sizeof path, "/v2/tags/%lld", t1);
    cr_expect_eq(l2_status(h, "PUT", path, sales, "{\"data\":{\"name\":\"VIP\"}}", 403), 403);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"name\":\"vip\",\"resource_type\":\"deal\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"name\":\"VIP\"}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "name"), "VIP");
    harness_resp_destroy(&r);
    cr_expect_eq(lead_has_tag(h, lead, "VIP"), 1);
    cr_expect_eq(lead_has_tag(h, lead, "vip"), 0);
    cr_expect_eq(lead_has_tag(h, lead, "other"), 1);
    long long t4 = l2_create(h, "/v2/tags", admin, "{\"name\":\"cold\",\"resource_type\":\"lead\"}");
    snprintf(path, sizeof path, "/v2/tags/%lld", t4);
    r = l2_call(h, "PUT", path, admin, "{\"data\":{\"name\":\"VIP\"}}");
    cr_expect_eq(r->status, 422, "taken within lead tags");
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/tags/%lld", t1);
    cr_expect_eq(l2_status(h, "DELETE", path, sales, NULL, 403), 403);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 204), 204);
    cr_expect_eq(lead_has_tag(h, lead, "VIP"), 0);
    cr_expect_eq(lead_has_tag(h, lead, "other"), 1);
    cr_expect_eq(l2_status(h, "GET", path, admin, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "PUT", path, admin, "{\"data\":{\"name\":\"z\"}}", 404), 404);
    /* Each change of the lead's tags was announced as lead.updated. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'lead.updated'"), 2);

    /* Records' tags create the missing tags of their resource type (once; known ones stay). */
    cr_expect_gt(l2_create(h, "/v2/leads", sales, "{\"last_name\":\"T1\",\"tags\":[\"fresh\",\"other\"]}"),
                 0);
    cr_expect_gt(l2_create(h, "/v2/leads", sales, "{\"last_name\":\"T2\",\"tags\":[\"fresh\"]}"), 0);
    long long person = l2_create(h, "/v2/contacts", sales, "{\"last_name\":\"T3\"}");
    cr_assert_gt(person, 0);
    snprintf(path, sizeof path, "/v2/contacts/%lld", person);
    cr_expect_eq(l2_status(h, "PUT", path, sales, "{\"data\":{\"tags\":[\"fresh\",\"vip\"]}}", 200), 200);
    long long ids2[10];
    cr_expect_eq(l2_list_ids(h, "/v2/tags?resource_type=lead&name=fresh", sales, ids2, 10), 1,
                 "lead tag made once");
    cr_expect_eq(l2_list_ids(h, "/v2/tags?resource_type=lead&name=other", sales, ids2, 10), 1);
    cr_expect_eq(l2_list_ids(h, "/v2/tags?resource_type=contact&name=fresh", sales, ids2, 10), 1,
                 "contact tag from the update");
    cr_expect_eq(l2_list_ids(h, "/v2/tags?resource_type=contact&name=vip", sales, ids2, 10), 1,
                 "vip kept once");
    cr_expect_eq(l2_list_ids(h, "/v2/tags?resource_type=deal&name=fresh", sales, ids2, 10), 0);
    free(sales);
}

/* /v2/notes and /v2/tasks through HTTP on a real stack: create/get/update/delete/list with the
 * Sell filters, the 4xx paths, visibility for sales tokens (creator, owner, owned lead), the
 * note.created / task.created events and the lead timeline rows. */
#include "leads2_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(leads_notes, .fini = stop_stack, .timeout = 600);

static long long sqlf(const char *fmt, long long a, long long b)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, a, b);
    return harness_sql_long(h, sql);
}

Test(leads_notes, notes)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long ua, ub;
    char *a = l2_user_token(h, "note-a", "sales", &ua);
    char *b = l2_user_token(h, "note-b", "sales", &ub);
    cr_assert(a && b);
    long long la =
        sqlf("INSERT INTO leads.leads (last_name, owner_id) VALUES ('Owned by A', %lld) RETURNING id", ua, 0);
    cr_assert_gt(la, 0);

    char body[512], path[256];
    snprintf(body, sizeof body,
             "{\"content\":\"Called, wants a demo\",\"resource_type\":\"lead\",\"resource_id\":%lld,"
             "\"is_important\":true,\"tags\":[\"demo\"]}",
             la);
    long long n1 = l2_create(h, "/v2/notes", a, body);
    cr_assert_gt(n1, 0);
    snprintf(path, sizeof path, "/v2/notes/%lld", n1);
    harness_resp_t *r = l2_call(h, "GET", path, a, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "content"), "Called, wants a demo");
    cr_expect_str_eq(l2_data_str(r, "resource_type"), "lead");
    cr_expect_eq(l2_data_int(r, "resource_id"), la);
    cr_expect_eq(l2_data_int(r, "creator_id"), ua);
    cr_expect(json_is_true(json_object_get(json_object_get(r->json, "data"), "is_important")));
    cr_expect_str_eq(
        json_string_value(json_array_get(json_object_get(json_object_get(r->json, "data"), "tags"), 0)),
        "demo");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")), "note");
    harness_resp_destroy(&r);
    /* One event and one timeline row, in the same transaction as the note. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'note.created'"), 1);
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.lead_activities WHERE lead_id = %lld AND kind = 'note' AND "
                      "actor_id = %lld AND summary LIKE 'Note: Called%%'",
                      la, ua),
                 1);

    /* B cannot write on A's lead, nobody on a missing lead; B does not see A's note. */
    r = l2_call(h, "POST", "/v2/notes", b,
                "{\"data\":{\"content\":\"x\",\"resource_type\":\"lead\",\"resource_id\":0}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_id");
    harness_resp_destroy(&r);
    snprintf(body, sizeof body,
             "{\"data\":{\"content\":\"x\",\"resource_type\":\"lead\",\"resource_id\":%lld}}", la);
    r = l2_call(h, "POST", "/v2/notes", b, body);
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(l2_err_field(r), "/resource_id");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "POST", "/v2/notes", a,
                           "{\"data\":{\"content\":\"x\",\"resource_type\":\"lead\",\"resource_id\":999999}}",
                           422),
                 422);
    cr_expect_eq(l2_status(h, "GET", path, b, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "PUT", path, b, "{\"data\":{\"content\":\"hijack\"}}", 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, b, NULL, 404), 404);
    long long ids[10];
    cr_expect_eq(l2_list_ids(h, "/v2/notes", b, ids, 10), 0);

    /* 422s naming every missing field; a bad resource_type; a wrong type. */
    r = l2_call(h, "POST", "/v2/notes", a, "{\"data\":{}}");
    cr_expect_eq(r->status, 422);
    char fields[256];
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields), "/content,/resource_type,/resource_id");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/notes", a,
                "{\"data\":{\"content\":\"x\",\"resource_type\":\"user\",\"resource_id\":1}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    cr_expect_str_eq(l2_err_code(r), "incorrect_value");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/notes", a,
                "{\"data\":{\"content\":5,\"resource_type\":\"deal\",\"resource_id\":1}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/content");
    harness_resp_destroy(&r);

    /* Admin: a note on a deal (not visible to A), and one on A's lead (visible to A by the lead). */
    long long n2 = l2_create(h, "/v2/notes", admin,
                             "{\"content\":\"Deal note\",\"resource_type\":\"deal\",\"resource_id\":42}");
    snprintf(body, sizeof body,
             "{\"content\":\"Manager's remark\",\"resource_type\":\"lead\",\"resource_id\":%lld}", la);
    long long n3 = l2_create(h, "/v2/notes", admin, body);
    cr_assert(n2 > 0 && n3 > 0);
    cr_expect_eq(l2_list_ids(h, "/v2/notes?sort_by=id", a, ids, 10), 2);
    cr_expect_eq(ids[0], n1);
    cr_expect_eq(ids[1], n3);
    cr_expect_eq(l2_list_ids(h, "/v2/notes", admin, ids, 10), 3);
    cr_expect_eq(l2_list_ids(h, "/v2/notes?resource_type=deal", admin, ids, 10), 1);
    cr_expect_eq(ids[0], n2);
    snprintf(path, sizeof path, "/v2/notes?resource_type=lead&resource_id=%lld&sort_by=id:desc", la);
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 2);
    cr_expect_eq(ids[0], n3);
    cr_expect_eq(l2_list_ids(h, "/v2/notes?q=DEMO", admin, ids, 10), 1);
    cr_expect_eq(ids[0], n1);
    snprintf(path, sizeof path, "/v2/notes?creator_id=%lld", ua);
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 1);
    snprintf(path, sizeof path, "/v2/notes?ids=%lld,%lld", n2, n3);
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 2);
    cr_expect_eq(l2_list_ids(h, "/v2/notes?per_page=1&page=3", admin, ids, 10), 1);
    cr_expect_eq(l2_status(h, "GET", "/v2/notes?resource_type=user", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/notes?sort_by=content", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/notes?resource_id=abc", admin, NULL, 400), 400);
    snprintf(path, sizeof path, "/v2/notes/%lld", n2);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 404), 404);

    /* Update: partial; blank content is 422. */
    snprintf(path, sizeof path, "/v2/notes/%lld", n1);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"content\":\"Demo booked\"}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "content"), "Demo booked");
    cr_expect_str_eq(l2_data_str(r, "resource_type"), "lead", "kept");
    cr_expect(json_is_true(json_object_get(json_object_get(r->json, "data"), "is_important")), "kept");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"content\":\" \"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/content");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"resource_type\":\"deal\"}}");
    cr_expect_eq(r->status, 422, "resource_type without resource_id");
    cr_expect_str_eq(l2_err_field(r), "/resource_id");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "PUT", "/v2/notes/999999", admin, "{\"data\":{\"content\":\"x\"}}", 404), 404);

    /* Delete. */
    cr_expect_eq(l2_status(h, "DELETE", path, a, NULL, 204), 204);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, admin, NULL, 404), 404);

    /* A contact A owns: A's note lands on the contact's timeline; B cannot write there. */
    long long ca = sqlf(
        "INSERT INTO leads.contacts (last_name, owner_id) VALUES ('Contact of A', %lld) RETURNING id", ua, 0);
    cr_assert_gt(ca, 0);
    snprintf(body, sizeof body,
             "{\"content\":\"Met at the fair\",\"resource_type\":\"contact\",\"resource_id\":%lld}", ca);
    long long n4 = l2_create(h, "/v2/notes", a, body);
    cr_expect_gt(n4, 0);
    cr_expect_eq(
        sqlf("SELECT count(*) FROM leads.contact_activities WHERE contact_id = %lld AND kind = 'note' AND "
             "actor_id = %lld",
             ca, ua),
        1);
    snprintf(body, sizeof body,
             "{\"data\":{\"content\":\"x\",\"resource_type\":\"contact\",\"resource_id\":%lld}}", ca);
    cr_expect_eq(l2_status(h, "POST", "/v2/notes", b, body, 422), 422);
    snprintf(path, sizeof path, "/v2/notes/%lld", n4);
    cr_expect_eq(l2_status(h, "GET", path, b, NULL, 404), 404);
    /* An admin's note on A's contact is visible to A through the contact. */
    snprintf(body, sizeof body,
             "{\"content\":\"Admin on contact\",\"resource_type\":\"contact\",\"resource_id\":%lld}", ca);
    long long n5 = l2_create(h, "/v2/notes", admin, body);
    snprintf(path, sizeof path, "/v2/notes/%lld", n5);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 200), 200);
    free(a);
    free(b);
}

static json_t *task_data(harness_resp_t *r)
{
    return json_object_get(r->json, "data");
}

Test(leads_notes, tasks)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long ua, ub;
    char *a = l2_user_token(h, "task-a", "sales", &ua);
    char *b = l2_user_token(h, "task-b", "sales", &ub);
    cr_assert(a && b);
    long long la =
        sqlf("INSERT INTO leads.leads (last_name, owner_id) VALUES ('Lead of A', %lld) RETURNING id", ua, 0);

    char body[512], path[256];
    snprintf(body, sizeof body,
             "{\"content\":\"Call back\",\"resource_type\":\"lead\",\"resource_id\":%lld,"
             "\"due_date\":\"2020-01-02T10:00:00+00:00\",\"remind_at\":\"2020-01-02T09:45:00Z\"}",
             la);
    long long t1 = l2_create(h, "/v2/tasks", a, body);
    long long t2 =
        l2_create(h, "/v2/tasks", a, "{\"content\":\"Prepare deck\",\"due_date\":\"2099-05-01T00:00:00Z\"}");
    cr_assert(t1 > 0 && t2 > 0);
    snprintf(path, sizeof path, "/v2/tasks/%lld", t1);
    harness_resp_t *r = l2_call(h, "GET", path, a, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "due_date"), "2020-01-02T10:00:00Z");
    cr_expect_str_eq(l2_data_str(r, "remind_at"), "2020-01-02T09:45:00Z");
    cr_expect_eq(l2_data_int(r, "owner_id"), ua, "owner defaults to the creator");
    cr_expect(json_is_true(json_object_get(task_data(r), "overdue")));
    cr_expect(json_is_false(json_object_get(task_data(r), "completed")));
    cr_expect(json_is_null(json_object_get(task_data(r), "completed_at")));
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")), "task");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'task.created'"), 2);
    cr_expect_eq(
        sqlf("SELECT count(*) FROM leads.lead_activities WHERE lead_id = %lld AND kind = 'task'", la, 0), 1);

    /* 4xx on create. */
    r = l2_call(h, "POST", "/v2/tasks", a,
                "{\"data\":{\"due_date\":\"tomorrow\",\"resource_type\":\"lead\"}}");
    cr_expect_eq(r->status, 422);
    char fields[256];
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields), "/content,/due_date,/resource_id", "%s",
                     r->body);
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/tasks", a,
                "{\"data\":{\"content\":\"x\",\"remind_at\":\"2020-02-30T00:00:00Z\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/remind_at");
    harness_resp_destroy(&r);
    r = l2_call(h, "POST", "/v2/tasks", a,
                "{\"data\":{\"content\":\"x\",\"resource_type\":\"thing\",\"resource_id\":3}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_type");
    harness_resp_destroy(&r);
    snprintf(body, sizeof body,
             "{\"data\":{\"content\":\"x\",\"resource_type\":\"lead\",\"resource_id\":%lld}}", la);
    r = l2_call(h, "POST", "/v2/tasks", b, body);
    cr_expect_eq(r->status, 422, "B cannot add a task to A's lead");
    cr_expect_str_eq(l2_err_field(r), "/resource_id");
    harness_resp_destroy(&r);
    cr_expect_eq(
        l2_status(h, "POST", "/v2/tasks", a, "{\"data\":{\"content\":\"x\",\"completed\":\"yes\"}}", 422),
        422);

    /* Admin gives A a task on a deal: A sees it as its owner; B sees nothing. */
    snprintf(body, sizeof body,
             "{\"content\":\"Send contract\",\"resource_type\":\"deal\",\"resource_id\":7,"
             "\"owner_id\":%lld,\"completed\":true}",
             ua);
    long long t3 = l2_create(h, "/v2/tasks", admin, body);
    cr_assert_gt(t3, 0);
    long long ids[10];
    cr_expect_eq(l2_list_ids(h, "/v2/tasks", a, ids, 10), 3);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks", b, ids, 10), 0);
    snprintf(path, sizeof path, "/v2/tasks/%lld", t3);
    cr_expect_eq(l2_status(h, "GET", path, b, NULL, 404), 404);
    r = l2_call(h, "GET", path, a, NULL);
    cr_expect(json_is_true(json_object_get(task_data(r), "completed")));
    cr_expect_not_null(l2_data_str(r, "completed_at"), "completed_at set at creation");
    cr_expect(json_is_false(json_object_get(task_data(r), "overdue")));
    harness_resp_destroy(&r);

    /* Filters. */
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?overdue=true", a, ids, 10), 1);
    cr_expect_eq(ids[0], t1);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?overdue=false&sort_by=id", a, ids, 10), 2);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?completed=false&sort_by=due_date:desc", a, ids, 10), 2);
    cr_expect_eq(ids[0], t2);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?completed=true", a, ids, 10), 1);
    cr_expect_eq(ids[0], t3);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?type=floating", a, ids, 10), 1);
    cr_expect_eq(ids[0], t2);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?type=related", a, ids, 10), 2);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?remind=true", a, ids, 10), 1);
    snprintf(path, sizeof path, "/v2/tasks?resource_type=lead&resource_id=%lld", la);
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 1);
    snprintf(path, sizeof path, "/v2/tasks?owner_id=%lld&creator_id=%lld", ua, ua);
    cr_expect_eq(l2_list_ids(h, path, admin, ids, 10), 2);
    cr_expect_eq(l2_list_ids(h, "/v2/tasks?q=deck", admin, ids, 10), 1);
    cr_expect_eq(l2_status(h, "GET", "/v2/tasks?overdue=maybe", a, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/tasks?type=other", a, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/tasks?per_page=0", a, NULL, 400), 400);

    /* Complete, then reopen. */
    snprintf(path, sizeof path, "/v2/tasks/%lld", t1);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"completed\":true}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(json_object_get(task_data(r), "completed")));
    cr_expect(json_is_false(json_object_get(task_data(r), "overdue")));
    cr_expect_not_null(l2_data_str(r, "completed_at"));
    cr_expect_str_eq(l2_data_str(r, "content"), "Call back", "kept");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"completed\":false,\"due_date\":\"2098-01-01\"}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_null(json_object_get(task_data(r), "completed_at")));
    cr_expect_str_eq(l2_data_str(r, "due_date"), "2098-01-01T00:00:00Z");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"due_date\":\"2098-13-01\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/due_date");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "PUT", path, b, "{\"data\":{\"completed\":true}}", 404), 404);
    cr_expect_eq(l2_status(h, "PUT", path, a, "{\"data\":{\"owner_id\":0}}", 422), 422);

    /* Delete. */
    cr_expect_eq(l2_status(h, "DELETE", path, b, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, a, NULL, 204), 204);
    cr_expect_eq(l2_status(h, "GET", path, admin, NULL, 404), 404);
    free(a);
    free(b);
}

/* The Sync API (SELL_API §7) through HTTP on a real stack: a new device gets every record
 * (leads, contacts, deals, notes, tasks) as the events built them; acknowledged items are not
 * sent again, unacknowledged ones are, changed ones come back as updated; a second device gets
 * everything; a sales token's device only what the user owns; and the errors. */
#include <criterion/criterion.h>

#include "sync_util.h"

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(sync, .fini = stop_stack, .timeout = 600);

static bool lead_revision_2(harness_t *self, void *arg)
{
    const long long *lead = arg;
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT revision FROM gateway.stream_records WHERE resource = 'lead' AND record_id = %lld",
             *lead);
    return harness_sql_long(self, sql) >= 2;
}

static bool deal_deleted(harness_t *self, void *arg)
{
    const long long *deal = arg;
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.stream_records WHERE resource = 'deal' AND record_id = %lld AND "
             "deleted",
             *deal);
    return harness_sql_long(self, sql) == 1;
}

static bool note_gone_task_changed(harness_t *self, void *arg)
{
    const long long *note = arg;
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.stream_records WHERE (resource = 'note' AND record_id = %lld AND "
             "deleted)"
             " OR (resource = 'task' AND data->>'content' = 'task changed')",
             *note);
    return harness_sql_long(self, sql) == 2;
}

static void expect_error(const char *method, const char *path, const char *device, const char *body,
                         long status, const char *code, const char *field)
{
    harness_resp_t *r = sync_call(method, path, harness_admin_token(h), device, body);
    cr_expect_eq(r->status, status, "%s %s: %ld %s", method, path, r->status, r->body);
    if (code)
        cr_expect_str_eq(dl_err(r, "code"), code, "%s", r->body);
    if (field)
        cr_expect_str_eq(dl_err(r, "field"), field, "%s", r->body);
    harness_resp_destroy(&r);
}

Test(sync, devices_sessions_acks_and_redelivery)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    char body[256];
    long long lead = dl_create(h, "/v2/leads", admin, "{\"last_name\":\"Synced\"}");
    long long contact = dl_create(h, "/v2/contacts", admin, "{\"last_name\":\"Contact\"}");
    long long deal = dl_create(h, "/v2/deals", admin, "{\"name\":\"Synced deal\"}");
    snprintf(body, sizeof body, "{\"content\":\"a note\",\"resource_type\":\"lead\",\"resource_id\":%lld}",
             lead);
    long long note = dl_create(h, "/v2/notes", admin, body);
    long long task =
        dl_create(h, "/v2/tasks", admin, "{\"content\":\"a task\",\"due_date\":\"2099-01-01T00:00:00Z\"}");
    cr_assert(lead > 0 && contact > 0 && deal > 0 && note > 0 && task > 0);
    long long six = 6; /* and the admin user */
    cr_assert(
        harness_wait_until(h, harness_ms(20000), records_at_least, &six, "6 records in the sync state"));
    long long nrecords = harness_sql_long(h, "SELECT count(*) FROM gateway.stream_records");

    /* a new device gets everything, as created */
    long long total = 0;
    char *s1 = start(admin, "device-a", &total);
    cr_assert_not_null(s1);
    cr_expect_eq(total, nrecords);
    json_t *got = drain(admin, "device-a", s1);
    cr_expect_eq((long long)json_array_size(got), nrecords);
    const char *types[] = {"lead", "contact", "deal", "note", "task"};
    long long ids[] = {lead, contact, deal, note, task};
    for (int i = 0; i < 5; i++) {
        json_t *it = find(got, types[i], ids[i]);
        cr_expect_not_null(it, "%s %lld delivered", types[i], ids[i]);
        if (!it)
            continue;
        cr_expect_str_eq(json_string_value(json_object_get(sync_meta(it), "event_type")), "created");
        cr_expect(json_is_string(json_object_get(sync_meta(it), "ack_key")));
        cr_expect_geq(json_integer_value(json_object_get(sync_meta(it), "revision")), 1);
    }
    json_t *l = find(got, "lead", lead);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(l, "data"), "last_name")), "Synced");
    /* users come from crm-assign's user.created / user.updated */
    long long admin_id = harness_sql_long(h, "SELECT min(user_id) FROM gateway.api_tokens");
    json_t *u = find(got, "user", admin_id);
    cr_expect_not_null(u, "the admin user delivered");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(u, "data"), "role")), "admin");
    char ukey[64];
    snprintf(ukey, sizeof ukey, "User-%lld-", admin_id);
    cr_expect(strncmp(json_string_value(json_object_get(sync_meta(u), "ack_key")), ukey, strlen(ukey)) == 0);
    /* the drained session stays drained */
    char qpath[160];
    snprintf(qpath, sizeof qpath, "/v2/sync/%s/queues/main", s1);
    harness_resp_t *r = sync_call("GET", qpath, admin, "device-a", NULL);
    cr_expect_eq(r->status, 204);
    harness_resp_destroy(&r);
    /* another device cannot read device a's session */
    expect_error("GET", qpath, "device-b", NULL, 404, "not_found", NULL);

    /* ack only the lead and the deal; then the lead changes */
    ack(admin, "device-a", got, "lead");
    ack(admin, "device-a", got, "deal");
    json_decref(got);
    snprintf(body, sizeof body, "/v2/leads/%lld", lead);
    r = dl_expect(h, "PUT", body, admin, "{\"data\":{\"title\":\"Changed\"}}", 200);
    harness_resp_destroy(&r);
    cr_assert(harness_wait_until(h, harness_ms(20000), lead_revision_2, &lead, "the lead's second revision"));

    /* next session: the unacked contact, note and task again, the lead as updated, not the deal */
    char *s2 = start(admin, "device-a", &total);
    cr_assert_not_null(s2);
    cr_expect_str_neq(s2, s1);
    got = drain(admin, "device-a", s2);
    cr_expect_eq((long long)json_array_size(got), nrecords - 1, "all but the deal: %s", json_dumps(got, 0));
    cr_expect_null(find(got, "deal", deal), "an acked, unchanged deal came back");
    cr_expect_not_null(find(got, "contact", contact));
    cr_expect_not_null(find(got, "note", note));
    cr_expect_not_null(find(got, "task", task));
    l = find(got, "lead", lead);
    cr_assert_not_null(l);
    cr_expect_str_eq(json_string_value(json_object_get(sync_meta(l), "event_type")), "updated");
    cr_expect_eq(json_integer_value(json_object_get(sync_meta(l), "revision")), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(l, "data"), "title")), "Changed");
    /* a session that is started but not fetched loses nothing either */
    long long t3 = 0;
    char *s3 = start(admin, "device-a", &t3);
    cr_assert_not_null(s3);
    cr_expect_eq(t3, nrecords - 1);
    free(s3);
    ack(admin, "device-a", got, NULL);
    json_decref(got);
    cr_expect_null(start(admin, "device-a", &total), "everything acked: 204");

    /* a deleted deal comes back once as deleted, with its last state */
    snprintf(body, sizeof body, "/v2/deals/%lld", deal);
    r = dl_expect(h, "DELETE", body, admin, NULL, 204);
    harness_resp_destroy(&r);
    cr_assert(harness_wait_until(h, harness_ms(20000), deal_deleted, &deal, "the deal's deletion"));
    /* and so does a deleted note; an updated task comes back as updated */
    snprintf(body, sizeof body, "/v2/notes/%lld", note);
    r = dl_expect(h, "DELETE", body, admin, NULL, 204);
    harness_resp_destroy(&r);
    snprintf(body, sizeof body, "/v2/tasks/%lld", task);
    r = dl_expect(h, "PUT", body, admin, "{\"data\":{\"content\":\"task changed\"}}", 200);
    harness_resp_destroy(&r);
    cr_assert(harness_wait_until(h, harness_ms(20000), note_gone_task_changed, &note,
                                 "note.deleted, task.updated"));
    char *sd = start(admin, "device-a", &total);
    cr_assert_not_null(sd);
    cr_expect_eq(total, 3);
    got = drain(admin, "device-a", sd);
    cr_assert_eq(json_array_size(got), 3, "%s", json_dumps(got, 0));
    json_t *n = find(got, "note", note), *t = find(got, "task", task);
    cr_assert(n && t, "%s", json_dumps(got, 0));
    cr_expect_str_eq(json_string_value(json_object_get(sync_meta(n), "event_type")), "deleted");
    cr_expect_str_eq(json_string_value(json_object_get(sync_meta(t), "event_type")), "updated");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(t, "data"), "content")),
                     "task changed");
    json_t *gone = find(got, "deal", deal);
    cr_assert_not_null(gone, "%s", json_dumps(got, 0));
    cr_expect_str_eq(json_string_value(json_object_get(sync_meta(gone), "event_type")), "deleted");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(gone, "data"), "name")),
                     "Synced deal");
    ack(admin, "device-a", got, NULL);
    json_decref(got);
    free(sd);
    cr_expect_null(start(admin, "device-a", &total), "the deletion acked: 204");
    nrecords -= 2; /* a new device never hears of the deleted deal and note */

    /* a second device gets everything, with the lead's current state */
    char *sb = start(admin, "device-b", &total);
    cr_assert_not_null(sb);
    cr_expect_eq(total, nrecords);
    got = drain(admin, "device-b", sb);
    cr_expect_eq((long long)json_array_size(got), nrecords);
    l = find(got, "lead", lead);
    cr_assert_not_null(l);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(l, "data"), "title")), "Changed");
    cr_expect_str_eq(json_string_value(json_object_get(sync_meta(l), "event_type")), "created");
    json_decref(got);

    /* a sales user's device gets only what the user owns */
    long long uid = 0;
    char *sales = dl_user_token(h, "sync-sales@example.com", "sales", &uid);
    long long own = dl_create(h, "/v2/leads", sales, "{\"last_name\":\"Mine\"}");
    long long want = nrecords + 4; /* the deleted deal's and note's rows stay; the new user and the lead */
    cr_assert(harness_wait_until(h, harness_ms(20000), records_at_least, &want, "the sales user and lead"));
    char *ss = start(sales, "phone", &total);
    cr_assert_not_null(ss);
    got = drain(sales, "phone", ss);
    long long users = harness_sql_long(h, "SELECT count(*) FROM assign.users");
    cr_expect_eq((long long)json_array_size(got), 1 + users, "own lead and the users: %s",
                 json_dumps(got, 0));
    cr_expect_not_null(find(got, "lead", own));
    cr_expect_not_null(find(got, "user", uid));
    cr_expect_null(find(got, "lead", lead), "another's lead on a sales device");
    json_decref(got);
    /* the same device uuid under another user is another device */
    r = sync_call("GET", qpath, sales, "device-a", NULL);
    cr_expect_eq(r->status, 404, "a sales user read the admin's device-a session: %s", r->body);
    harness_resp_destroy(&r);
    snprintf(qpath, sizeof qpath, "/v2/sync/%s/queues/main", ss);
    r = sync_call("GET", qpath, admin, "phone", NULL);
    cr_expect_eq(r->status, 404, "admin read the sales user's session: %s", r->body);
    harness_resp_destroy(&r);

    /* errors */
    expect_error("POST", "/v2/sync/start", NULL, NULL, 400, "invalid_header", NULL);
    expect_error("POST", "/v2/sync/start", "bad device!", NULL, 400, "invalid_header", NULL);
    expect_error("POST", "/v2/sync/start?x=1", "device-a", NULL, 400, "invalid_param", NULL);
    expect_error("GET", "/v2/sync/start", "device-a", NULL, 405, NULL, NULL);
    expect_error("GET", "/v2/sync/not-a-session/queues/main", "device-a", NULL, 404, NULL, NULL);
    expect_error("GET", "/v2/sync/0190a5f0-0000-7000-8000-000000000000/queues/main", "device-a", NULL, 404,
                 "not_found", NULL);
    expect_error("POST", "/v2/sync/ack", "device-a", "{\"data\":{\"ack_keys\":[\"Lead-1-1\",\"garbage\"]}}",
                 422, "incorrect_value", "/ack_keys/1");
    expect_error("POST", "/v2/sync/ack", "device-a", "{\"data\":{}}", 422, "missing", "/ack_keys");
    expect_error("POST", "/v2/sync/ack", "device-a", "{\"data\":{\"ack_keys\":\"Lead-1-1\"}}", 422,
                 "invalid_type", "/ack_keys");
    expect_error("POST", "/v2/sync/ack", "device-a", "{\"data\":{\"ack_keys\":[],\"extra\":1}}", 422,
                 "unknown", "/extra");
    expect_error("POST", "/v2/sync/ack", "device-a", "not json", 400, "invalid_payload", NULL);
    expect_error("POST", "/v2/sync/ack", NULL, "{\"data\":{\"ack_keys\":[]}}", 400, "invalid_header", NULL);
    r = sync_call("POST", "/v2/sync/start", NULL, "device-a", NULL);
    cr_expect_eq(r->status, 401);
    harness_resp_destroy(&r);
    free(sales);
    free(ss);
    free(sb);
    free(s2);
    free(s1);
}

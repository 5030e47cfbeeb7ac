/* crm-notify on a real stack: notification settings (GET/PUT, defaults, admin for another user,
 * 4xx), deal.stage_changed → the deal owner's inbox as the settings ask, the inbox (unread first,
 * paging, mark one read by PUT or POST, mark all read, another user's → 404), and exactly one
 * notification per event and user when the events are replayed after a restart. */
#include "notify_support.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(notify_inbox, .fini = stop_stack, .timeout = 600);

static harness_resp_t *put(const char *path, const char *token, const char *data_json)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"data\": %s}", data_json);
    return harness_http(
        h,
        &(harness_req_t){
            .method = "PUT", .path = path, .body = body, .content_type = "application/json", .token = token});
}

static bool channel(const harness_resp_t *r, const char *kind, const char *ch)
{
    return json_is_true(json_object_get(ns_data(r, kind), ch));
}

Test(notify_inbox, settings_inbox_and_stage_changes)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    char *t1, *t2;
    long long u1 = ns_user(h, "inbox-ann", "sales", &t1);
    long long u2 = ns_user(h, "inbox-bob", "sales", &t2);

    /* --- settings: defaults ------------------------------------------------------------ */
    harness_resp_t *r = harness_api(h, "GET", "/v2/notification_settings", t1, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "user_id")), u1);
    cr_expect(channel(r, "assigned", "in_app") && channel(r, "assigned", "email"), "%s", r->body);
    cr_expect(channel(r, "deal_stage_changed", "in_app") && !channel(r, "deal_stage_changed", "email"), "%s",
              r->body);
    cr_expect(channel(r, "lead_stale", "in_app") && !channel(r, "lead_stale", "email"), "%s", r->body);
    cr_expect(channel(r, "task_due", "in_app") && channel(r, "task_due", "email"), "%s", r->body);
    cr_expect(json_is_null(ns_data(r, "updated_at")), "defaults have no updated_at: %s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "notification_settings");
    harness_resp_destroy(&r);

    /* PUT own: only the named channels change. */
    r = put("/v2/notification_settings", t2,
            "{\"deal_stage_changed\": {\"in_app\": false, \"email\": true}}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(!channel(r, "deal_stage_changed", "in_app") && channel(r, "deal_stage_changed", "email"), "%s",
              r->body);
    cr_expect(channel(r, "assigned", "in_app") && channel(r, "assigned", "email"), "%s", r->body);
    cr_expect(json_is_string(ns_data(r, "updated_at")), "%s", r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notification_settings", t2, "{\"deal_stage_changed\": {\"email\": false}}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(!channel(r, "deal_stage_changed", "in_app") && !channel(r, "deal_stage_changed", "email"), "%s",
              r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notification_settings", t2, "{\"deal_stage_changed\": {\"email\": true}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);

    /* An admin reads and changes another user's settings. */
    char path[256];
    snprintf(path, sizeof path, "/v2/notification_settings?user_id=%lld", u2);
    r = harness_api(h, "GET", path, admin, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "user_id")), u2);
    cr_expect(!channel(r, "deal_stage_changed", "in_app") && channel(r, "deal_stage_changed", "email"), "%s",
              r->body);
    harness_resp_destroy(&r);
    char data[256];
    snprintf(data, sizeof data, "{\"user_id\": %lld, \"task_due\": {\"email\": false}}", u1);
    r = put("/v2/notification_settings", admin, data);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "user_id")), u1);
    cr_expect(channel(r, "task_due", "in_app") && !channel(r, "task_due", "email"), "%s", r->body);
    harness_resp_destroy(&r);

    /* 4xx: another user's settings as sales (403), unknown kind / channel and a wrong type (422
     * naming the field), a query parameter on PUT or an unknown one on GET (400), no body (400). */
    r = harness_api(h, "GET", path, t1, NULL);
    cr_expect_eq(r->status, 403, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(data, sizeof data, "{\"user_id\": %lld, \"assigned\": {\"email\": false}}", u2);
    r = put("/v2/notification_settings", t1, data);
    cr_expect_eq(r->status, 403, "%s", r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notification_settings", t1, "{\"birthday\": {\"email\": true}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/birthday", "%s", r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notification_settings", t1, "{\"assigned\": {\"sms\": true}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(ns_err_field(r), "sms") != NULL, "%s", r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notification_settings", t1, "{\"assigned\": {\"email\": \"yes\"}}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(ns_err_field(r), "email") != NULL, "%s", r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notification_settings", t1, "{\"updated_at\": \"2020-01-01T00:00:00Z\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/updated_at", "%s", r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notification_settings?user_id=1", t1, "{}");
    cr_expect_eq(r->status, 400, "%s", r->body);
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/notification_settings?colour=red", t1, NULL);
    cr_expect_eq(r->status, 400, "%s", r->body);
    harness_resp_destroy(&r);
    r = harness_http(h, &(harness_req_t){.method = "PUT", .path = "/v2/notification_settings", .token = t1});
    cr_expect_eq(r->status, 400, "%s", r->body);
    harness_resp_destroy(&r);
    r = harness_api(h, "DELETE", "/v2/notification_settings", t1, NULL);
    cr_expect_eq(r->status, 405, "%s", r->body);
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/notification_settings", NULL, NULL);
    cr_expect_eq(r->status, 401, "%s", r->body);
    harness_resp_destroy(&r);

    /* --- deal.stage_changed → the owner, as the settings ask ----------------------------- */
    ns_stage_changed(h, 901, u1, "Acme renewal", "Qualified", "Proposal");
    ns_stage_changed(h, 902, u1, "Globex", "Incoming", "Qualified");
    ns_stage_changed(h, 903, u1, "Initech", "Proposal", "Negotiation");
    ns_stage_changed(h, 904, u2, "Umbrella", "Incoming", "Qualified"); /* u2: e-mail only */
    ns_stage_changed(h, 905, 0, "Nobody's", "Incoming", "Qualified");  /* no owner: nobody */
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM notify.notifications WHERE user_id = %lld", u1);
    cr_assert(ns_wait_sql(h, 30000, sql, 3), "three notifications for the owner");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM notify.mail_outbox WHERE user_id = %lld AND kind = 'deal_stage_changed'",
             u2);
    cr_assert(ns_wait_sql(h, 30000, sql, 1), "an e-mail queued for u2");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM notify.notifications WHERE user_id = %lld", u2);
    cr_expect_eq(harness_sql_long(h, sql), 0, "u2 turned in-app off");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM notify.mail_outbox WHERE user_id = %lld", u1);
    cr_expect_eq(harness_sql_long(h, sql), 0, "u1 has e-mail off for stage changes (default)");

    /* --- inbox ------------------------------------------------------------------------------ */
    r = harness_api(h, "GET", "/v2/notifications", t1, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 3, "%s", r->body);
    long long ids[3];
    for (int i = 0; i < 3; i++) {
        json_t *d = json_object_get(json_array_get(items, (size_t)i), "data");
        ids[i] = json_integer_value(json_object_get(d, "id"));
        cr_expect_str_eq(json_string_value(json_object_get(d, "kind")) ?: "", "deal_stage_changed");
        cr_expect_str_eq(json_string_value(json_object_get(d, "resource_type")) ?: "", "deal");
        cr_expect(json_is_false(json_object_get(d, "read")), "%s", r->body);
    }
    cr_expect(ids[0] > ids[1] && ids[1] > ids[2], "newest first: %s", r->body);
    json_t *d0 = json_object_get(json_array_get(items, 0), "data");
    cr_expect_eq(json_integer_value(json_object_get(d0, "resource_id")), 903);
    cr_expect_str_eq(json_string_value(json_object_get(d0, "message")) ?: "",
                     "Your deal Initech moved from Proposal to Negotiation");
    harness_resp_destroy(&r);

    /* Mark the newest read by PUT: it goes last. */
    snprintf(path, sizeof path, "/v2/notifications/%lld", ids[0]);
    r = put(path, t1, "{\"read\": true}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(ns_data(r, "read")), "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "id")), ids[0]);
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/notifications?per_page=2", t1, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(json_array_get(items, 0), "data"), "id")),
                 ids[1]);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(json_array_get(items, 1), "data"), "id")),
                 ids[2]);
    cr_expect(json_is_string(
                  json_object_get(json_object_get(json_object_get(r->json, "meta"), "links"), "next_page")),
              "next page link: %s", r->body);
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/notifications?per_page=2&page=2", t1, NULL);
    items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(json_array_get(items, 0), "data"), "id")),
                 ids[0]);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/notifications?read=false", t1), 2);

    /* Unread again by PUT, read by POST .../read. */
    r = put(path, t1, "{\"read\": false}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_false(ns_data(r, "read")), "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/notifications/%lld/read", ids[1]);
    r = harness_api(h, "POST", path, t1, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(ns_data(r, "read")), "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/notifications?read=false", t1), 2);

    /* 4xx: another user's notification (404 for sales, both routes), missing or wrongly typed read
     * (422 /read), unknown field (422), unknown id (404), bad page (400), another user's inbox
     * (403), unknown method (405). */
    snprintf(path, sizeof path, "/v2/notifications/%lld", ids[2]);
    r = put(path, t2, "{\"read\": true}");
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/notifications/%lld/read", ids[2]);
    r = harness_api(h, "POST", path, t2, NULL);
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/notifications/%lld", ids[2]);
    r = put(path, t1, "{}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/read", "%s", r->body);
    harness_resp_destroy(&r);
    r = put(path, t1, "{\"read\": \"yes\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/read", "%s", r->body);
    harness_resp_destroy(&r);
    r = put(path, t1, "{\"read\": true, \"message\": \"x\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/message", "%s", r->body);
    harness_resp_destroy(&r);
    r = put("/v2/notifications/999999", t1, "{\"read\": true}");
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/notifications?page=0", t1, NULL);
    cr_expect_eq(r->status, 400, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/notifications?user_id=%lld", u1);
    r = harness_api(h, "GET", path, t2, NULL);
    cr_expect_eq(r->status, 403, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/notifications/%lld", ids[2]);
    r = harness_api(h, "DELETE", path, t1, NULL);
    cr_expect_eq(r->status, 405, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/notifications/read_all?user_id=%lld", u1);
    r = harness_api(h, "POST", path, t2, NULL);
    cr_expect_eq(r->status, 403, "%s", r->body);
    harness_resp_destroy(&r);
    /* The admin may mark another user's one. */
    snprintf(path, sizeof path, "/v2/notifications/%lld/read", ids[2]);
    r = harness_api(h, "POST", path, admin, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);

    /* Mark all read. */
    r = harness_api(h, "POST", "/v2/notifications/read_all", t1, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "updated")), 1, "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "user_id")), u1, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/notifications?read=false", t1), 0);
    cr_expect_eq(harness_count_items(h, "/v2/notifications", t1), 3);

    /* --- replay: every deals event again after a restart; still one per event and user ------- */
    harness_kill(h, "notify");
    cr_assert_gt(harness_sql_long(h, "UPDATE notify.inbox_offsets SET last_seq = 0 WHERE producer = 'deals' "
                                     "RETURNING 1"),
                 0, "offset reset");
    cr_assert_eq(harness_restart(h, "notify"), 0);
    ns_stage_changed(h, 906, u1, "Hooli", "Incoming", "Won");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM notify.notifications WHERE user_id = %lld", u1);
    cr_assert(ns_wait_sql(h, 30000, sql, 4), "the new event arrives after the replayed ones");
    cr_expect(ns_wait_sql(h, 30000, "SELECT last_seq FROM notify.inbox_offsets WHERE producer = 'deals'", 6));
    cr_expect_eq(harness_sql_long(h, sql), 4, "no duplicate notifications after the replay");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM notify.mail_outbox WHERE user_id = %lld", u2);
    cr_expect_eq(harness_sql_long(h, sql), 1, "no duplicate mail after the replay");
    cr_expect_eq(harness_count_items(h, "/v2/notifications?read=false", t1), 1, "replayed ones stay read");
    free(t1);
    free(t2);
}

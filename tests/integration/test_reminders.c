/* Reminders on a real stack: crm-leads announces a due task (task.due) and a stale lead
 * (lead.stale) once each, crm-notify puts them in the owner's inbox as kinds task_due and
 * lead_stale; moving a task's due date announces it again, a completed or future task never, new
 * activity on a lead makes it eligible again, an Unqualified lead is never stale. */
#include "notify_support.h"

#include <unistd.h>

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(reminders, .fini = stop_stack, .timeout = 600);

/* POST /v2/<path> as token with {"data": <data_json>}; returns data.id. */
static long long create(const char *path, const char *token, const char *data_json)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"data\": %s}", data_json);
    harness_resp_t *r = harness_http(h, &(harness_req_t){.method = "POST",
                                                         .path = path,
                                                         .body = body,
                                                         .content_type = "application/json",
                                                         .token = token});
    cr_assert(r->status == 200 || r->status == 201, "POST %s: %d %s", path, r->status, r->body);
    long long id = json_integer_value(ns_data(r, "id"));
    harness_resp_destroy(&r);
    return id;
}

/* fmt holds one %lld: id. */
static long long sql_id(const char *fmt, long long id)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, id);
    return harness_sql_long(h, sql);
}

#define COUNT_KIND "SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND kind = '%s'"

static long long notifications(long long user, const char *kind)
{
    char sql[256];
    snprintf(sql, sizeof sql, COUNT_KIND, user, kind);
    return harness_sql_long(h, sql);
}

static bool wait_notifications(long long user, const char *kind, long long want)
{
    char sql[256];
    snprintf(sql, sizeof sql, COUNT_KIND, user, kind);
    return ns_wait_sql(h, harness_ms(20000), sql, want);
}

Test(reminders, due_tasks_and_stale_leads_announced_once)
{
    h = harness_start_opts(
        &(harness_opts_t){.leads_extra = "  reminders:\n    interval_ms: 200\n    stale_after_seconds: 4\n"});
    cr_assert_not_null(h, "stack did not start");
    char *ta, *tb;
    long long ua = ns_user(h, "remind-ann", "sales", &ta);
    long long ub = ns_user(h, "remind-bob", "sales", &tb);

    /* --- task.due ------------------------------------------------------------------------ */
    char data[512];
    long long due = create("/v2/tasks", ta,
                           "{\"content\":\"Call back Mrs Weber\",\"due_date\":\"2020-01-02T10:00:00Z\"}");
    create("/v2/tasks", ta, "{\"content\":\"Next year\",\"due_date\":\"2099-01-02T10:00:00Z\"}");
    create("/v2/tasks", ta,
           "{\"content\":\"Already done\",\"due_date\":\"2020-01-02T10:00:00Z\",\"completed\":true}");
    snprintf(data, sizeof data,
             "{\"content\":\"For Bob\",\"due_date\":\"2021-03-04T05:06:07Z\",\"owner_id\":%lld}", ub);
    create("/v2/tasks", harness_admin_token(h), data);

    cr_assert(wait_notifications(ua, "task_due", 1), "ann told of her due task");
    cr_assert(wait_notifications(ub, "task_due", 1), "bob told of his due task");
    harness_resp_t *r = harness_api(h, "GET", "/v2/notifications", ta, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(strstr(r->body, "Call back Mrs Weber") && strstr(r->body, "task_due"), "%s", r->body);
    cr_expect(!strstr(r->body, "Next year") && !strstr(r->body, "Already done"), "%s", r->body);
    harness_resp_destroy(&r);

    /* Several scans later still one announcement each. */
    usleep(1500 * 1000);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'task.due'"), 2);
    cr_expect_eq(notifications(ua, "task_due"), 1);

    /* A moved due date is announced again; completing the task then changes nothing more. */
    char path[64];
    snprintf(path, sizeof path, "/v2/tasks/%lld", due);
    json_t *body = json_pack("{s:{s:s}}", "data", "due_date", "2020-02-03T10:00:00Z");
    r = harness_api(h, "PUT", path, ta, body);
    json_decref(body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);
    cr_assert(wait_notifications(ua, "task_due", 2), "the moved task announced again");
    cr_expect_eq(
        sql_id("SELECT count(*) FROM leads.tasks WHERE id = %lld AND due_announced_at IS NOT NULL", due), 1);

    /* --- lead.stale ------------------------------------------------------------------------ */
    snprintf(data, sizeof data, "{\"last_name\":\"Quiet\",\"owner_id\":%lld}", ua);
    long long quiet = create("/v2/leads", harness_admin_token(h), data);
    snprintf(data, sizeof data, "{\"last_name\":\"Dropped\",\"status\":\"Unqualified\",\"owner_id\":%lld}",
             ua);
    long long dropped = create("/v2/leads", harness_admin_token(h), data);
    cr_assert_gt(quiet, 0);
    cr_assert_gt(dropped, 0);
    cr_assert(wait_notifications(ua, "lead_stale", 1), "ann told her lead went stale");
    cr_expect_eq(
        sql_id("SELECT count(*) FROM notify.notifications WHERE kind = 'lead_stale' AND resource_id = %lld",
               quiet),
        1);
    r = harness_api(h, "GET", "/v2/notifications", ta, NULL);
    cr_expect(strstr(r->body, "Your lead Quiet has had no activity since"), "%s", r->body);
    harness_resp_destroy(&r);

    /* Without new activity it stays announced once. */
    usleep(1500 * 1000);
    cr_expect_eq(notifications(ua, "lead_stale"), 1);

    /* A note is activity: once quiet again for the period, it is announced a second time. */
    snprintf(data, sizeof data,
             "{\"content\":\"Left a voicemail\",\"resource_type\":\"lead\",\"resource_id\":%lld}", quiet);
    create("/v2/notes", ta, data);
    cr_assert(wait_notifications(ua, "lead_stale", 2), "stale again after the note's activity aged");
    cr_expect_eq(
        sql_id("SELECT count(*) FROM notify.notifications WHERE kind = 'lead_stale' AND resource_id = %lld",
               dropped),
        0, "an Unqualified lead is never stale");
    cr_expect_eq(notifications(ub, "lead_stale"), 0);
    free(ta);
    free(tb);
}

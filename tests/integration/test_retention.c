/* Retention on a real stack: the outbox relay prunes published events past
 * <svc>.outbox_retention_seconds but never an unpublished one nor the newest; a consumer that was
 * down past the retention gets the "pruned" answer from events.replay, says so, and goes on from
 * the oldest retained event; the delivery archive drops accepted deliveries' raw bodies (the
 * dedupe row stays: a repeated delivery id still answers 200) and deletes refused ones. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "notify_support.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(retention, .fini = stop_stack, .timeout = 600);

typedef struct {
    const char *sql;
    long long want;
} sql_eq_t;

static bool sql_equals(harness_t *self, void *arg)
{
    sql_eq_t *a = arg;
    return harness_sql_long(self, a->sql) == a->want;
}

static bool wait_sql(const char *sql, long long want, const char *what)
{
    sql_eq_t a = {sql, want};
    return harness_wait_until(h, harness_ms(30000), sql_equals, &a, what);
}

static long long create_lead(const char *last_name)
{
    json_t *data = json_pack("{s:s}", "last_name", last_name);
    return harness_create(h, "leads", data);
}

/* crm-notify stores every lead.created it applies in webhook_events (by event id): how many of
 * the lead named last_name it has. */
static long long notify_saw(const char *last_name)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM notify.webhook_events WHERE type = 'lead.created'"
             " AND body LIKE '%%\"last_name\":\"%s\"%%'",
             last_name);
    return harness_sql_long(h, sql);
}

static bool notify_has(harness_t *self, void *arg)
{
    (void)self;
    return notify_saw(arg) == 1;
}

/* The body of GET <path> on a daemon's admin port (static buffer), or "". */
static const char *admin_get(const char *daemon, const char *path)
{
    static char buf[262144];
    buf[0] = 0;
    harness_resp_t *r =
        harness_http(h, &(harness_req_t){.path = path, .port = harness_admin_port(h, daemon)});
    if (r && r->body)
        snprintf(buf, sizeof buf, "%s", r->body);
    harness_resp_destroy(&r);
    return buf;
}

/* Lines of a daemon's log containing every one of the needles. */
static int log_count(const char *daemon, const char *a, const char *b)
{
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/crm-%s.log", harness_dir(h), daemon);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
    fclose(f);
    return n;
}

static const char LEADS_LAST_SEQ[] = "SELECT last_seq FROM leads.outbox_state";
static const char NOTIFY_OFFSET[] = "SELECT last_seq FROM notify.inbox_offsets WHERE producer = 'leads'";

static bool notify_caught_up(harness_t *self, void *arg)
{
    (void)arg;
    long long latest = harness_sql_long(self, LEADS_LAST_SEQ);
    return latest > 0 && harness_sql_long(self, NOTIFY_OFFSET) == latest;
}

Test(retention, outbox_prunes_published_events_and_a_late_consumer_goes_on)
{
    h = harness_start_opts(
        &(harness_opts_t){.leads_extra = "  outbox_retention_seconds: 3\n  outbox_prune_interval_ms: 200\n"});
    cr_assert_not_null(h, "stack did not start");

    /* Published events past the retention go, all but the newest. */
    const char *kept[3] = {"Kept0", "Kept1", "Kept2"};
    for (int i = 0; i < 3; i++)
        cr_assert_gt(create_lead(kept[i]), 0);
    for (int i = 0; i < 3; i++)
        cr_assert(
            harness_wait_until(h, harness_ms(30000), notify_has, (void *)kept[i], "notify got the lead"));
    cr_assert(harness_wait_until(h, harness_ms(30000), notify_caught_up, NULL, "notify caught up"));
    long long latest = harness_sql_long(h, LEADS_LAST_SEQ);
    cr_assert_geq(latest, 3, "a lead.created each: %lld", latest);
    cr_assert(wait_sql("SELECT count(*) FROM leads.outbox", 1, "leads' outbox pruned to its newest row"));
    cr_expect_eq(harness_sql_long(h, "SELECT min(seq) FROM leads.outbox"),
                 harness_sql_long(h, LEADS_LAST_SEQ), "the newest row stays");
    const char *m = admin_get("leads", "/metrics");
    cr_expect(strstr(m, "crm_outbox_pruned_total{producer=\"leads\"}"), "pruned metric in\n%.2000s", m);
    cr_expect(strstr(m, "crm_outbox_oldest_seq{producer=\"leads\"}"), "oldest seq metric");

    /* An event not published yet is never pruned, however old: hold the relay's lock (as a stuck
     * second instance would) past the retention. */
    PGconn *lock = PQconnectdb(pgtest_url(harness_pg(h)));
    cr_assert_eq(PQstatus(lock), CONNECTION_OK, "%s", PQerrorMessage(lock));
    PGresult *res = PQexec(lock, "SELECT pg_advisory_lock(hashtext('crm.outbox.leads'))");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(lock));
    PQclear(res);
    cr_assert_gt(create_lead("Held"), 0);
    usleep((useconds_t)harness_ms(4500) * 1000);
    long long unpublished = harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE seq IS NULL");
    cr_expect_geq(unpublished, 1, "the unpublished lead.created is still there");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE seq IS NULL AND occurred_at < "
                                     "now() - interval '3 seconds'"),
                 unpublished, "and older than the retention");
    cr_expect_eq(notify_saw("Held"), 0, "not delivered while the relay is held");
    PQfinish(lock); /* releases the lock */
    cr_assert(harness_wait_until(h, harness_ms(30000), notify_has, "Held",
                                 "the held lead delivered once published"));

    /* A consumer down past the retention: its missing events are pruned (but the newest). */
    cr_assert(harness_wait_until(h, harness_ms(30000), notify_caught_up, NULL, "notify caught up again"));
    cr_assert_eq(harness_kill(h, "notify"), 0);
    cr_assert_gt(create_lead("Lost"), 0);
    cr_assert_gt(create_lead("Newest"), 0);
    cr_assert(wait_sql("SELECT count(*) FROM leads.outbox", 1, "the events notify missed pruned"));
    long long wanted = harness_sql_long(h, NOTIFY_OFFSET) + 1;
    long long oldest = harness_sql_long(h, "SELECT min(seq) FROM leads.outbox");
    cr_assert_lt(wanted, oldest);
    cr_assert_eq(harness_restart(h, "notify"), 0);
    cr_assert(harness_wait_until(h, harness_ms(30000), notify_has, "Newest", "the retained event applied"));
    cr_assert(
        harness_wait_until(h, harness_ms(30000), notify_caught_up, NULL, "notify caught up after the gap"));
    cr_expect_eq(notify_saw("Lost"), 0, "its lead.created was pruned before notify could read it");
    char want_s[64];
    snprintf(want_s, sizeof want_s, "wanted_seq=%lld oldest_seq=%lld", wanted, oldest);
    cr_expect_geq(log_count("notify", "inbox.replay_pruned", want_s), 1, "an error line naming %s", want_s);
    cr_expect_geq(log_count("notify", "level=error", "producer=leads"), 1);
    m = admin_get("notify", "/metrics");
    cr_expect(strstr(m, "crm_inbox_replay_pruned_total{producer=\"leads\"}"), "consumer metric in\n%.3000s",
              m);
    m = admin_get("leads", "/metrics");
    cr_expect(strstr(m, "crm_outbox_replay_pruned_total{producer=\"leads\"}"), "producer metric");
    /* every retained event applied once: Kept0..2, Held, Newest */
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM notify.webhook_events WHERE type = 'lead.created'"), 5);
}

static harness_resp_t *post_form(const char *content_type, const char *body, const char *delivery_id)
{
    char header[128] = "";
    if (delivery_id)
        snprintf(header, sizeof header, "X-Delivery-Id: %s", delivery_id);
    return harness_http(h, &(harness_req_t){.method = "POST",
                                            .path = "/webhooks/forms/website",
                                            .body = body,
                                            .content_type = content_type,
                                            .header = delivery_id ? header : NULL});
}

Test(retention, delivery_archive_drops_bodies_and_keeps_the_dedupe_row)
{
    h = harness_start_opts(&(harness_opts_t){
        .gateway_extra = "  delivery_retention_seconds: 2\n"
                         "  stream: {retention_seconds: 259200, prune_interval_ms: 200}\n"});
    cr_assert_not_null(h, "stack did not start");
    const char *form = "application/x-www-form-urlencoded";
    const char *body = "first_name=Old&last_name=Delivery&email=old%40example.com";
    harness_resp_t *r = post_form(form, body, "ret-delivery-1");
    cr_assert_not_null(r);
    cr_assert_eq(r->status, 202, "%s", r->body);
    long long id = json_integer_value(json_object_get(json_object_get(r->json, "data"), "delivery_id"));
    cr_assert_gt(id, 0);
    harness_resp_destroy(&r);
    r = post_form("text/plain", "hello", NULL); /* 415: archived as refused */
    cr_assert_eq(r->status, 415, "%s", r->body);
    harness_resp_destroy(&r);
    r = post_form(form, "first_name=Nobody", NULL); /* 422: archived as refused */
    cr_assert_eq(r->status, 422, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_geq(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'refused'"),
                  2);

    cr_assert(wait_sql("SELECT count(*) FROM gateway.deliveries WHERE body IS NOT NULL", 0,
                       "every archived body past the retention dropped"));
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome <> 'accepted'"),
                 0, "refused deliveries deleted");
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.deliveries WHERE id = %lld AND external_id = 'ret-delivery-1'"
             " AND body IS NULL",
             id);
    cr_expect_eq(harness_sql_long(h, sql), 1, "the accepted delivery's row stays without its body");

    /* The sender redelivers after the body is gone: still the first delivery id, nothing new. */
    r = post_form(form, body, "ret-delivery-1");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r->json, "data"), "delivery_id")), id,
                 "%s", r->body);
    harness_resp_destroy(&r);
    usleep((useconds_t)harness_ms(1000) * 1000);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads"), 1, "one lead");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.outbox WHERE type = 'lead.captured'"), 1);

    char path[96];
    snprintf(path, sizeof path, "/v2/webhook_deliveries/%lld", id);
    r = harness_api(h, "GET", path, harness_admin_token(h), NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *d = json_object_get(r->json, "data");
    cr_expect(json_is_null(json_object_get(d, "body")), "body: %s", r->body);
    cr_expect(json_is_true(json_object_get(d, "body_pruned")), "body_pruned: %s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(d, "delivery_id")) ?: "", "ret-delivery-1");
    harness_resp_destroy(&r);

    r = harness_http(h, &(harness_req_t){.path = "/metrics"});
    cr_assert_not_null(r);
    cr_expect(strstr(r->body, "crm_gateway_deliveries_pruned_total{action=\"body_dropped\"}"), "%.2000s",
              r->body);
    cr_expect(strstr(r->body, "crm_gateway_deliveries_pruned_total{action=\"deleted\"}"), "deleted metric");
    harness_resp_destroy(&r);
}

/* examples/subscriber (an external consumer) started after the producer pruned what it never
 * read: it says so on stderr, goes on from the oldest retained event and prints it. */
Test(retention, subscriber_goes_on_past_pruned_events)
{
    h = harness_start_opts(
        &(harness_opts_t){.deals_extra = "  outbox_retention_seconds: 2\n  outbox_prune_interval_ms: 200\n"});
    cr_assert_not_null(h, "stack did not start");
    for (long long id = 801; id <= 803; id++)
        ns_stage_changed(h, id, 0, "Deal", "A", "B");
    /* the three rows may be sequenced in separate relay steps: wait for the pruned state itself
     * (only the newest, seq 3, left), not for one sequenced row (seq 1 alone is that too) */
    cr_assert(wait_sql("SELECT count(*) FROM deals.outbox WHERE seq IS NOT NULL AND seq <> 3 OR seq IS NULL",
                       0, "deals' outbox pruned to its newest row"));
    long long oldest = harness_sql_long(h, "SELECT min(seq) FROM deals.outbox");
    cr_assert_eq(oldest, 3);
    char offset_file[512], err_file[512], cmd[2048];
    snprintf(offset_file, sizeof offset_file, "%s/subscriber.offset", harness_dir(h));
    snprintf(err_file, sizeof err_file, "%s/subscriber.err", harness_dir(h));
    snprintf(cmd, sizeof cmd,
             "'%s/examples/crm-subscriber' --config '%s' --offset-file '%s' --exit-idle-ms %d 2>'%s'",
             CRM_BUILD_DIR, harness_config_path(h), offset_file, harness_ms(2000), err_file);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char line[8192];
    cr_assert_not_null(fgets(line, sizeof line, f), "the retained event");
    json_t *j = json_loads(line, 0, NULL);
    cr_expect_eq(json_integer_value(json_object_get(j, "seq")), 3, "%s", line);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "data"), "deal_id")), 803, "%s", line);
    json_decref(j);
    cr_expect_null(fgets(line, sizeof line, f), "nothing else: %s", line);
    cr_expect_eq(pclose(f), 0);
    const char *err = harness_slurp(err_file);
    cr_expect(err && strstr(err, "events 1..2 of deals were pruned"), "stderr: %s", err ? err : "(none)");
}

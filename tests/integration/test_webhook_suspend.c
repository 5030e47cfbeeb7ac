/* A webhook waiting for the group commit does not hold an HTTP thread (services/gateway/http.c
 * suspends its connection): with ONE pool thread and the deliveries table locked so that the
 * commit cannot finish, the gateway still answers other requests at once; the webhook gets its
 * 202 once the lock goes, and a gateway stopped while a webhook waits answers it before it
 * exits (the committer drains after HTTP has stopped accepting); its event is published when
 * the gateway is back; the events of one POST committed in separate transactions by two
 * committers answer the POST once, after the last of them. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pgtest.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(webhook_suspend, .fini = stop_stack, .timeout = 600);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    const char *email;
    long status;
    double done_at;
} post_t;

static void *post(void *arg)
{
    post_t *p = arg;
    char body[160];
    snprintf(body, sizeof body, "first_name=Held&last_name=Back&email=%s", p->email);
    harness_resp_t *r = harness_post_form(h, "application/x-www-form-urlencoded", body);
    p->status = r ? r->status : 0;
    p->done_at = now_s();
    harness_resp_destroy(&r);
    return NULL;
}

/* A superuser session holding a lock that blocks every INSERT into gateway.deliveries. */
static PGconn *lock_deliveries(void)
{
    PGconn *c = PQconnectdb(pgtest_url(harness_pg(h)));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "BEGIN; LOCK TABLE gateway.deliveries IN SHARE ROW EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    return c;
}

static void unlock_deliveries(PGconn *c)
{
    PQclear(PQexec(c, "COMMIT"));
    PQfinish(c);
}

static bool lead_stored(harness_t *self, void *arg)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.leads WHERE email = '%s'", (const char *)arg);
    return harness_sql_long(self, sql) == 1;
}

static void *release_later(void *arg)
{
    usleep(1000 * 1000);
    unlock_deliveries(arg);
    return NULL;
}

static void start(void)
{
    h = harness_start_opts(&(harness_opts_t){.gateway_extra = "  http_threads: 1\n  commit_threads: 1\n"});
    cr_assert_not_null(h, "stack did not start");
}

/* Starts the stack (one HTTP thread, one committer), locks the deliveries and posts p on thread
 * t: half a second later the post must still be waiting for its commit. Returns the lock. */
static PGconn *hold_a_webhook(post_t *p, pthread_t *t)
{
    start();
    PGconn *lock = lock_deliveries();
    cr_assert_eq(pthread_create(t, NULL, post, p), 0);
    usleep(500 * 1000);
    cr_assert_eq(p->status, 0, "the webhook cannot be answered while its commit is blocked");
    return lock;
}

Test(webhook_suspend, a_webhook_waiting_for_its_commit_does_not_block_the_thread)
{
    post_t p = {.email = "held-1@example.com"};
    pthread_t t;
    PGconn *lock = hold_a_webhook(&p, &t);

    /* The only pool thread is free: other requests are answered now. */
    for (int i = 0; i < 3; i++) {
        double t0 = now_s();
        harness_resp_t *r = harness_http(h, &(harness_req_t){.path = "/healthz"});
        double took = now_s() - t0;
        cr_assert(r && r->status == 200, "GET /healthz while a webhook waits: %ld", r ? r->status : 0);
        cr_expect_lt(took, 2.0, "GET /healthz took %.3f s", took);
        harness_resp_destroy(&r);
    }
    harness_resp_t *r = harness_api(h, "GET", "/v2/users/self", harness_admin_token(h), NULL);
    cr_assert(r && r->status == 200, "GET /v2/users/self while a webhook waits: %ld", r ? r->status : 0);
    harness_resp_destroy(&r);
    cr_assert_eq(p.status, 0, "still waiting for the commit");

    double released = now_s();
    unlock_deliveries(lock);
    pthread_join(t, NULL);
    cr_assert_eq(p.status, 202, "accepted once stored: %ld", p.status);
    cr_expect_geq(p.done_at, released, "answered after the commit, not before");
    cr_assert(harness_wait_until(h, harness_ms(30000), lead_stored, (void *)p.email, "the held-back lead"));
}

Test(webhook_suspend, a_gateway_stopped_while_a_webhook_waits_answers_it_first)
{
    post_t p = {.email = "held-2@example.com"};
    pthread_t t;
    PGconn *lock = hold_a_webhook(&p, &t);

    /* SIGTERM now; the commit can finish one second later. */
    pthread_t rt;
    cr_assert_eq(pthread_create(&rt, NULL, release_later, lock), 0);
    int status = harness_term(h, "gateway", harness_ms(20000));
    pthread_join(rt, NULL);
    pthread_join(t, NULL);
    cr_expect_eq(status, 0, "the gateway exits cleanly: %d", status);
    cr_assert_eq(p.status, 202, "the waiting webhook is answered before the gateway exits: %ld", p.status);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'accepted'"),
                 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.outbox WHERE type = 'lead.captured'"), 1,
                 "its event is in the outbox");
    /* published when the gateway is back */
    cr_assert_eq(harness_restart(h, "gateway"), 0);
    cr_assert(harness_wait_until(h, harness_ms(30000), lead_stored, (void *)p.email, "the lead"));
}

/* Several events in one POST, committed one per transaction by two committers: the request is
 * answered once, after the last of its events is stored, and each event is one lead. */
#define POSTERS 6
#define POSTS 5
#define EVENTS 3

static void *post_events(void *arg)
{
    int *ok = arg;
    int poster = ok[0];
    for (int n = 0; n < POSTS; n++) {
        char body[4096];
        size_t len =
            (size_t)snprintf(body, sizeof body,
                             "{\"app\":{\"id\":\"app1\"},\"webhook\":{\"id\":\"wh1\",\"version\":\"v2\"},"
                             "\"events\":[");
        for (int e = 0; e < EVENTS; e++)
            len += (size_t)snprintf(
                body + len, sizeof body - len,
                "%s{\"id\":\"ev-%d-%d-%d\",\"type\":\"conversation:message\",\"payload\":{\"conversation\":{"
                "\"id\":\"c-%d-%d-%d\"},\"message\":{\"author\":{\"type\":\"user\",\"user\":{\"profile\":{"
                "\"givenName\":\"Split\",\"surname\":\"Batch\",\"email\":\"split-%d-%d-%d@example.com\"}}},"
                "\"content\":{\"type\":\"text\",\"text\":\"hi\"}}}}",
                e ? "," : "", poster, n, e, poster, n, e, poster, n, e);
        snprintf(body + len, sizeof body - len, "]}");
        harness_resp_t *r = harness_http(h, &(harness_req_t){.method = "POST",
                                                             .path = "/webhooks/chat/sun",
                                                             .body = body,
                                                             .content_type = "application/json",
                                                             .header = "X-API-Key: sun-key"});
        json_t *events = r ? json_object_get(json_object_get(r->json, "data"), "events") : NULL;
        size_t accepted = 0;
        for (size_t i = 0; i < json_array_size(events); i++)
            accepted += strcmp(json_string_value(json_object_get(json_array_get(events, i), "outcome")) ?: "",
                               "accepted") == 0;
        if (r && r->status == 202 && accepted == EVENTS)
            ok[1]++;
        harness_resp_destroy(&r);
    }
    return NULL;
}

static bool all_split_leads(harness_t *self, void *arg)
{
    (void)arg;
    return harness_sql_long(self, "SELECT count(*) FROM leads.leads WHERE email LIKE 'split-%'") >=
           POSTERS * POSTS * EVENTS;
}

Test(webhook_suspend, the_events_of_one_post_split_over_batches_answer_once)
{
    h = harness_start_opts(&(harness_opts_t){
        .gateway_extra = "  http_threads: 2\n  commit_threads: 2\n  commit_batch: 1\n",
        .gateway_sources =
            "    - {name: sun, kind: chat, type: sunshine, signature: sunshine, secret: sun-key}\n"});
    cr_assert_not_null(h, "stack did not start");
    static int ok[POSTERS][2];
    pthread_t t[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        ok[i][0] = i;
        cr_assert_eq(pthread_create(&t[i], NULL, post_events, ok[i]), 0);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < POSTERS; i++)
        cr_expect_eq(ok[i][1], POSTS, "poster %d: %d of %d posts answered 202 with %d accepted events", i,
                     ok[i][1], POSTS, EVENTS);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'accepted'"),
                 POSTERS * POSTS * EVENTS);
    cr_assert(harness_wait_until(h, harness_ms(60000), all_split_leads, NULL, "a lead per event"));
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE email LIKE 'split-%'"),
                 POSTERS * POSTS * EVENTS);
}

/* A REST call waits for its RPC on an API worker, not on a pool thread (services/gateway/http.c):
 * with ONE pool thread and crm-leads unable to read its leads, GET /v2/leads waits while a
 * webhook and /healthz are answered at once; the GET gets its 200 once the lock goes. */
typedef struct {
    long status;
    double done_at;
} api_call_t;

static void *list_leads(void *arg)
{
    api_call_t *c = arg;
    harness_resp_t *r = harness_api(h, "GET", "/v2/leads", harness_admin_token(h), NULL);
    c->status = r ? r->status : 0;
    c->done_at = now_s();
    harness_resp_destroy(&r);
    return NULL;
}

Test(webhook_suspend, a_slow_api_call_does_not_hold_the_thread)
{
    start();
    PGconn *lock = PQconnectdb(pgtest_url(harness_pg(h)));
    cr_assert_eq(PQstatus(lock), CONNECTION_OK, "%s", PQerrorMessage(lock));
    PGresult *res = PQexec(lock, "BEGIN; LOCK TABLE leads.leads IN ACCESS EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(lock));
    PQclear(res);
    api_call_t c = {0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, list_leads, &c), 0);
    usleep(500 * 1000);
    cr_assert_eq(c.status, 0, "GET /v2/leads cannot be answered while crm-leads waits for the lock");

    double t0 = now_s();
    harness_resp_t *r = harness_post_form(h, "application/x-www-form-urlencoded",
                                          "first_name=Fast&last_name=Lane&email=fast-lane@example.com");
    double took = now_s() - t0;
    cr_assert(r && r->status == 202, "a webhook while a REST call waits: %ld", r ? r->status : 0);
    cr_expect_lt(took, 2.0, "the webhook took %.3f s", took);
    harness_resp_destroy(&r);
    r = harness_http(h, &(harness_req_t){.path = "/healthz"});
    cr_assert(r && r->status == 200, "GET /healthz while a REST call waits: %ld", r ? r->status : 0);
    harness_resp_destroy(&r);
    cr_assert_eq(c.status, 0, "still waiting");

    double released = now_s();
    PQclear(PQexec(lock, "COMMIT"));
    PQfinish(lock);
    pthread_join(t, NULL);
    cr_assert_eq(c.status, 200, "answered once crm-leads could read: %ld", c.status);
    cr_expect_geq(c.done_at, released);
    cr_assert(
        harness_wait_until(h, harness_ms(30000), lead_stored, "fast-lane@example.com", "the webhook's lead"));
}

/* crm-notify outbound webhooks (SPEC G3) against a real HTTP receiver run by the test (a plain
 * socket server in a thread) that fails the first N requests: event order per subscription, the
 * HMAC signature (recomputed here, also with a second secret during rotation), retries with
 * backoff, the deliveries list, retry and replay, parking as failed, every route's 4xx, and exactly
 * one delivery per event when crm-notify is killed in the middle of a send. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "notify_support.h"

/* --- the receiver ---------------------------------------------------------------------------- */

#define MAXREQ 64

typedef struct {
    char delivery_id[32], event_id[64], signature[400];
    char *body;
    int status; /* what we answered */
} hook_req_t;

typedef struct {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    volatile int stop;
    int fail_first;     /* answer 500 to this many requests first */
    int always_fail;    /* answer 500 to everything */
    int delay_first_ms; /* sleep before answering the first 2xx */
    volatile int in_delay;
    int n;
    hook_req_t reqs[MAXREQ];
} receiver_t;

static void header_value(const char *head, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = head; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t i = 0;
            while (v[i] && v[i] != '\r' && i + 1 < len) {
                out[i] = v[i];
                i++;
            }
            out[i] = '\0';
            return;
        }
    }
}

static void *receiver_main(void *arg)
{
    receiver_t *rv = arg;
    while (!rv->stop) {
        int c = accept(rv->fd, NULL, NULL);
        if (c < 0)
            continue;
        /* The listening socket's short timeout (to notice stop) is not for reading a request. */
        struct timeval rtv = {10, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof rtv);
        static char buf[65536];
        buf[0] = '\0';
        size_t len = 0;
        char *end = NULL;
        while (len < sizeof buf - 1 && !(end = strstr(buf, "\r\n\r\n"))) {
            ssize_t k = recv(c, buf + len, sizeof buf - 1 - len, 0);
            if (k <= 0)
                break;
            len += (size_t)k;
            buf[len] = '\0';
        }
        if (!end) {
            close(c);
            continue;
        }
        char cl[32];
        header_value(buf, "Content-Length", cl, sizeof cl);
        size_t body_len = (size_t)atol(cl), head_len = (size_t)(end + 4 - buf);
        while (len < head_len + body_len && len < sizeof buf - 1) {
            ssize_t k = recv(c, buf + len, sizeof buf - 1 - len, 0);
            if (k <= 0)
                break;
            len += (size_t)k;
        }
        buf[len] = '\0';
        pthread_mutex_lock(&rv->mu);
        int idx = rv->n < MAXREQ ? rv->n++ : -1;
        int ok_before = 0;
        for (int i = 0; i < rv->n - 1; i++)
            ok_before += rv->reqs[i].status == 200;
        int status = (rv->always_fail || idx < rv->fail_first) ? 500 : 200;
        if (idx >= 0) {
            hook_req_t *q = &rv->reqs[idx];
            header_value(buf, "X-Crm-Delivery-Id", q->delivery_id, sizeof q->delivery_id);
            header_value(buf, "X-Crm-Event-Id", q->event_id, sizeof q->event_id);
            header_value(buf, "X-Crm-Signature", q->signature, sizeof q->signature);
            q->body = strndup(buf + head_len, body_len);
            q->status = 0; /* not answered yet */
        }
        pthread_mutex_unlock(&rv->mu);
        if (status == 200 && ok_before == 0 && rv->delay_first_ms > 0) {
            rv->in_delay = 1;
            usleep((useconds_t)rv->delay_first_ms * 1000);
            rv->in_delay = 0;
        }
        char resp[128];
        int rl =
            snprintf(resp, sizeof resp, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : "Internal Server Error");
        ssize_t sent = send(c, resp, (size_t)rl, MSG_NOSIGNAL);
        pthread_mutex_lock(&rv->mu);
        if (idx >= 0)
            rv->reqs[idx].status = sent == rl ? status : -1;
        pthread_mutex_unlock(&rv->mu);
        close(c);
    }
    return NULL;
}

static receiver_t *receiver_start(int fail_first)
{
    receiver_t *rv = calloc(1, sizeof *rv);
    pthread_mutex_init(&rv->mu, NULL);
    rv->fail_first = fail_first;
    rv->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(rv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct timeval tv = {0, 200000};
    setsockopt(rv->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(rv->fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(rv->fd, 16), 0);
    getsockname(rv->fd, (struct sockaddr *)&a, &alen);
    rv->port = ntohs(a.sin_port);
    pthread_create(&rv->thread, NULL, receiver_main, rv);
    return rv;
}

static void receiver_stop(receiver_t **rvp)
{
    receiver_t *rv = *rvp;
    if (!rv)
        return;
    rv->stop = 1;
    pthread_join(rv->thread, NULL);
    close(rv->fd);
    for (int i = 0; i < rv->n; i++)
        free(rv->reqs[i].body);
    free(rv);
    *rvp = NULL;
}

static int answered(receiver_t *rv, int status)
{
    pthread_mutex_lock(&rv->mu);
    int k = 0;
    for (int i = 0; i < rv->n; i++)
        k += rv->reqs[i].status == status;
    pthread_mutex_unlock(&rv->mu);
    return k;
}

typedef struct {
    receiver_t *rv;
    int want;
} ok_wait_t;

static bool oks_are(harness_t *self, void *arg)
{
    (void)self;
    ok_wait_t *w = arg;
    return answered(w->rv, 200) >= w->want;
}

/* Recomputes v1 = hex HMAC-SHA256(secret, "<t>.<body>"). */
static void expected_v1(const char *secret, const char *t, const char *body, char out[65])
{
    size_t n = strlen(t) + 1 + strlen(body);
    char *msg = malloc(n + 1);
    snprintf(msg, n + 1, "%s.%s", t, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, n, mac, &len);
    for (unsigned i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
    free(msg);
}

/* Checks "t=<unix>,v1=<hex>[,v1=<hex>]" against the secrets (secondary may be NULL). */
static void check_signature(const hook_req_t *q, const char *secret, const char *secondary)
{
    char t[32] = "", v[2][80] = {"", ""};
    int nv = 0;
    char sig[400];
    snprintf(sig, sizeof sig, "%s", q->signature);
    for (char *save = NULL, *part = strtok_r(sig, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        if (strncmp(part, "t=", 2) == 0)
            snprintf(t, sizeof t, "%s", part + 2);
        else if (strncmp(part, "v1=", 3) == 0 && nv < 2)
            snprintf(v[nv++], sizeof v[0], "%s", part + 3);
    }
    cr_assert(t[0], "t= in %s", q->signature);
    long long ts = atoll(t);
    cr_expect(llabs(ts - (long long)time(NULL)) < 600, "t is now: %s", q->signature);
    char want[65];
    expected_v1(secret, t, q->body, want);
    cr_expect_eq(nv, secondary ? 2 : 1, "v1 count in %s", q->signature);
    cr_expect_str_eq(v[0], want, "v1 with the secret");
    if (secondary && nv == 2) {
        expected_v1(secondary, t, q->body, want);
        cr_expect_str_eq(v[1], want, "second v1 with the secondary secret");
    }
}

/* --- the stack --------------------------------------------------------------------------------- */

static harness_t *h;
static receiver_t *rv;

static void stop_all(void)
{
    harness_destroy(&h);
    receiver_stop(&rv);
}

TestSuite(notify_webhooks, .fini = stop_all, .timeout = 600);

static const char *SECRET = "first-secret-0123456789";
static const char *SECRET2 = "second-secret-0123456789";

static void start_stack_retention(int give_up_seconds, int retention_seconds)
{
    char extra[512];
    snprintf(extra, sizeof extra,
             "  webhooks:\n    poll_ms: 100\n    retry_base_ms: 300\n    retry_max_ms: 1000\n"
             "    timeout_ms: 8000\n    give_up_seconds: %d\n    retention_seconds: %d\n"
             "    prune_interval_ms: 500\n",
             give_up_seconds, retention_seconds);
    h = harness_start_opts(&(harness_opts_t){.notify_extra = extra});
    cr_assert_not_null(h, "stack did not start");
}

static void start_stack(int give_up_seconds)
{
    start_stack_retention(give_up_seconds, 2592000);
}

static harness_resp_t *call(const char *method, const char *path, const char *token, const char *data_json)
{
    char body[2048];
    if (data_json)
        snprintf(body, sizeof body, "{\"data\": %s}", data_json);
    return harness_http(h, &(harness_req_t){.method = method,
                                            .path = path,
                                            .body = data_json ? body : NULL,
                                            .content_type = data_json ? "application/json" : NULL,
                                            .token = token});
}

static long long subscribe(const char *types_json)
{
    char data[512];
    snprintf(data, sizeof data,
             "{\"url\": \"http://127.0.0.1:%d/hook\", \"event_types\": %s, \"secret\": \"%s\"}", rv->port,
             types_json, SECRET);
    harness_resp_t *r = call("POST", "/v2/webhook_subscriptions", harness_admin_token(h), data);
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long id = json_integer_value(ns_data(r, "id"));
    cr_expect(json_is_null(ns_data(r, "secret")), "the secret is never returned: %s", r->body);
    cr_expect(json_is_true(ns_data(r, "active")), "%s", r->body);
    cr_expect(json_is_false(ns_data(r, "secondary_secret_set")), "%s", r->body);
    harness_resp_destroy(&r);
    return id;
}

Test(notify_webhooks, order_signature_retries_retry_replay)
{
    rv = receiver_start(3);
    start_stack(3600);
    const char *admin = harness_admin_token(h);
    char *sales;
    ns_user(h, "hook-sales", "sales", &sales);
    long long sub = subscribe("[\"deal.stage_changed\"]");
    long long other = subscribe("[\"deal.won\"]");

    ns_stage_changed(h, 301, 0, "One", "A", "B");
    ns_stage_changed(h, 302, 0, "Two", "B", "C");
    ns_stage_changed(h, 303, 0, "Three", "C", "D");
    ok_wait_t w = {rv, 3};
    cr_assert(harness_wait_until(h, harness_ms(60000), oks_are, &w, "3 deliveries accepted"));

    /* The first event failed three times, then each went through once, in order. */
    pthread_mutex_lock(&rv->mu);
    cr_expect_eq(rv->n, 6, "3 failures + 3 successes");
    const long long want_deal[6] = {301, 301, 301, 301, 302, 303};
    char first_delivery[32] = "";
    for (int i = 0; i < rv->n && i < 6; i++) {
        hook_req_t *q = &rv->reqs[i];
        json_t *b = json_loads(q->body, 0, NULL);
        cr_assert_not_null(b, "JSON body: %s", q->body);
        json_t *data = json_object_get(b, "data");
        cr_expect_eq(json_integer_value(json_object_get(json_object_get(data, "deal"), "id")), want_deal[i],
                     "request %d: %s", i, q->body);
        cr_expect_str_eq(json_string_value(json_object_get(b, "type")) ?: "", "deal.stage_changed");
        cr_expect_str_eq(json_string_value(json_object_get(b, "id")) ?: "", q->event_id, "id = event id");
        cr_expect(json_is_string(json_object_get(b, "occurred_at")), "%s", q->body);
        cr_expect_eq(json_integer_value(json_object_get(data, "pipeline_id")), 1);
        cr_expect_eq(json_integer_value(json_object_get(data, "previous_stage_id")), 1);
        cr_expect_eq(json_integer_value(json_object_get(data, "stage_id")), 2);
        cr_expect(json_is_string(json_object_get(data, "stage_name")), "%s", q->body);
        cr_expect(q->delivery_id[0], "delivery id header");
        if (i == 0)
            snprintf(first_delivery, sizeof first_delivery, "%s", q->delivery_id);
        if (i < 4)
            cr_expect_str_eq(q->delivery_id, first_delivery, "a retry keeps its delivery id");
        check_signature(q, SECRET, NULL);
        json_decref(b);
    }
    json_t *b4 = json_loads(rv->reqs[4].body, 0, NULL);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(b4, "data"), "previous_stage_name")) ?: "", "B");
    json_decref(b4);
    pthread_mutex_unlock(&rv->mu);

    /* The deliveries list: attempts, status, last status. */
    char path[256];
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/deliveries", sub);
    harness_resp_t *r = call("GET", path, admin, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 3, "%s", r->body);
    json_t *d0 = json_object_get(json_array_get(items, 0), "data");
    cr_expect_eq(json_integer_value(json_object_get(d0, "attempts")), 4, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(d0, "status")) ?: "", "delivered");
    cr_expect_eq(json_integer_value(json_object_get(d0, "last_status")), 200);
    cr_expect(json_is_null(json_object_get(d0, "last_error")), "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(d0, "event_type")) ?: "", "deal.stage_changed");
    long long d0_id = json_integer_value(json_object_get(d0, "id"));
    cr_expect_eq(d0_id, atoll(first_delivery));
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/deliveries", other);
    cr_expect_eq(harness_count_items(h, path, admin), 0, "deal.won subscription gets no stage changes");

    /* Rotation: a secondary secret signs too. */
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld", sub);
    char data[256];
    snprintf(data, sizeof data, "{\"secondary_secret\": \"%s\"}", SECRET2);
    r = call("PUT", path, admin, data);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(ns_data(r, "secondary_secret_set")), "%s", r->body);
    cr_expect(json_is_null(ns_data(r, "secondary_secret")), "%s", r->body);
    harness_resp_destroy(&r);
    ns_stage_changed(h, 304, 0, "Four", "D", "E");
    w.want = 4;
    cr_assert(harness_wait_until(h, harness_ms(30000), oks_are, &w, "4th delivery"));
    pthread_mutex_lock(&rv->mu);
    check_signature(&rv->reqs[rv->n - 1], SECRET, SECRET2);
    pthread_mutex_unlock(&rv->mu);
    /* Rotation done: the old secret goes, the new one becomes primary. */
    snprintf(data, sizeof data, "{\"secret\": \"%s\", \"secondary_secret\": \"\"}", SECRET2);
    r = call("PUT", path, admin, data);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_false(ns_data(r, "secondary_secret_set")), "%s", r->body);
    harness_resp_destroy(&r);

    /* Retry one delivery: sent again with the same delivery id. */
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/deliveries/%lld/retry", sub, d0_id);
    r = call("POST", path, admin, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(json_string_value(ns_data(r, "status")) ?: "", "pending", "%s", r->body);
    harness_resp_destroy(&r);
    w.want = 5;
    cr_assert(harness_wait_until(h, harness_ms(30000), oks_are, &w, "the retried delivery"));
    pthread_mutex_lock(&rv->mu);
    cr_expect_str_eq(rv->reqs[rv->n - 1].delivery_id, first_delivery);
    check_signature(&rv->reqs[rv->n - 1], SECRET2, NULL);
    pthread_mutex_unlock(&rv->mu);

    /* Replay a time range: all four again, in order. */
    time_t now = time(NULL);
    char from[32], to[32];
    strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", gmtime(&(time_t){now - 3600}));
    strftime(to, sizeof to, "%Y-%m-%dT%H:%M:%SZ", gmtime(&(time_t){now + 3600}));
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/replay", sub);
    snprintf(data, sizeof data, "{\"from\": \"%s\", \"to\": \"%s\"}", from, to);
    r = call("POST", path, admin, data);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "queued")), 4, "%s", r->body);
    harness_resp_destroy(&r);
    w.want = 9;
    cr_assert(harness_wait_until(h, harness_ms(30000), oks_are, &w, "the replayed deliveries"));
    pthread_mutex_lock(&rv->mu);
    for (int i = rv->n - 4, k = 0; i < rv->n; i++, k++) {
        json_t *b = json_loads(rv->reqs[i].body, 0, NULL);
        cr_expect_eq(
            json_integer_value(json_object_get(json_object_get(json_object_get(b, "data"), "deal"), "id")),
            301 + k, "replay order");
        json_decref(b);
    }
    pthread_mutex_unlock(&rv->mu);
    /* A range with nothing in it. */
    r = call("POST", path, admin, "{\"from\": \"2001-01-01T00:00:00Z\", \"to\": \"2001-01-02T00:00:00Z\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(ns_data(r, "queued")), 0, "%s", r->body);
    harness_resp_destroy(&r);

    /* --- 4xx of every route ------------------------------------------------------------------ */
    r = call("POST", "/v2/webhook_subscriptions", admin, "{}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(r->body, "\"/url\"") && strstr(r->body, "\"/event_types\"") &&
                  strstr(r->body, "\"/secret\""),
              "names every missing field: %s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/webhook_subscriptions", admin,
             "{\"url\": \"ftp://x\", \"event_types\": [\"deal.stage_changed\"], \"secret\": "
             "\"0123456789abcdef\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/url", "%s", r->body);
    harness_resp_destroy(&r);
    r = call(
        "POST", "/v2/webhook_subscriptions", admin,
        "{\"url\": \"http://x\", \"event_types\": [\"deal.teleported\"], \"secret\": \"0123456789abcdef\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/event_types/0", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/webhook_subscriptions", admin,
             "{\"url\": \"http://x\", \"event_types\": [\"deal.won\"], \"secret\": \"short\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/secret", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/webhook_subscriptions", admin,
             "{\"url\": \"http://x\", \"event_types\": \"deal.won\", \"secret\": \"0123456789abcdef\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/event_types", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/webhook_subscriptions", sales,
             "{\"url\": \"http://x\", \"event_types\": [\"deal.won\"], \"secret\": \"0123456789abcdef\"}");
    cr_expect_eq(r->status, 403, "%s", r->body);
    harness_resp_destroy(&r);
    r = call("GET", "/v2/webhook_subscriptions", sales, NULL);
    cr_expect_eq(r->status, 403, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld", sub);
    r = call("PUT", path, admin, "{\"secondary_secret\": \"tiny\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/secondary_secret", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("PUT", path, admin, "{\"event_types\": [\"nope\"]}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    harness_resp_destroy(&r);
    r = call("PUT", "/v2/webhook_subscriptions/999999", admin, "{\"active\": false}");
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    r = call("GET", "/v2/webhook_subscriptions/999999", admin, NULL);
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    r = call("GET", "/v2/webhook_subscriptions/999999/deliveries", admin, NULL);
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/deliveries?status=lost", sub);
    r = call("GET", path, admin, NULL);
    cr_expect_eq(r->status, 400, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/deliveries?status=delivered", sub);
    cr_expect_eq(harness_count_items(h, path, admin), 4);
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/deliveries/%lld/retry", other, d0_id);
    r = call("POST", path, admin, NULL);
    cr_expect_eq(r->status, 404, "a delivery of another subscription: %s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/replay", sub);
    r = call("POST", path, admin, "{\"to\": \"2001-01-01T00:00:00Z\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/from", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", path, admin, "{\"from\": \"2001-01-01T00:00:00Z\", \"to\": \"yesterday-ish\"}");
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(ns_err_field(r), "/to", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/webhook_subscriptions/999999/replay", admin,
             "{\"from\": \"2001-01-01T00:00:00Z\", \"to\": \"2001-01-02T00:00:00Z\"}");
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);

    /* List, then delete. */
    cr_expect_eq(harness_count_items(h, "/v2/webhook_subscriptions", admin), 2);
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld", other);
    r = call("DELETE", path, admin, NULL);
    cr_expect_eq(r->status, 204, "%s", r->body);
    harness_resp_destroy(&r);
    r = call("GET", path, admin, NULL);
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    r = call("DELETE", path, admin, NULL);
    cr_expect_eq(r->status, 404, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/webhook_subscriptions", admin), 1);
    free(sales);
}

Test(notify_webhooks, parked_as_failed_and_later_ones_go_on)
{
    rv = receiver_start(0);
    rv->always_fail = 1;
    start_stack_retention(2, 25);
    long long sub = subscribe("[\"*\"]");
    ns_stage_changed(h, 401, 0, "Doomed", "A", "B");
    cr_assert(
        ns_wait_sql(h, 30000, "SELECT count(*) FROM notify.webhook_deliveries WHERE status = 'failed'", 1),
        "parked as failed after give_up_seconds");
    char path[128];
    snprintf(path, sizeof path, "/v2/webhook_subscriptions/%lld/deliveries?status=failed", sub);
    harness_resp_t *r = call("GET", path, harness_admin_token(h), NULL);
    json_t *d = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_expect_gt(json_integer_value(json_object_get(d, "attempts")), 1, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(d, "last_status")), 500, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(d, "last_error")) ?: "", "HTTP 500", "%s", r->body);
    harness_resp_destroy(&r);
    rv->always_fail = 0;
    ns_stage_changed(h, 402, 0, "Fine", "A", "B");
    ok_wait_t w = {rv, 1};
    cr_assert(harness_wait_until(h, harness_ms(30000), oks_are, &w, "the next event is not blocked"));
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.webhook_events"), 2, "both kept for now");

    /* Retention (25 s here): a finished delivery goes with its event; one still pending (here the
     * parked one, put back to wait an hour as a long backoff would) stays whatever its age. */
    cr_expect_eq(harness_sql_long(h, "WITH u AS (UPDATE notify.webhook_deliveries SET status = 'pending', "
                                     "next_attempt_at = now() + interval '1 hour' WHERE status = 'failed' "
                                     "RETURNING 1) SELECT count(*) FROM u"),
                 1);
    cr_assert(ns_wait_sql(h, 90000, "SELECT count(*) FROM notify.webhook_events", 1),
              "the delivered event pruned after the retention");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM notify.webhook_deliveries WHERE status = 'pending'"), 1,
        "the pending delivery and its event are kept");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.webhook_deliveries"), 1);
}

Test(notify_webhooks, exactly_one_delivery_per_event_when_killed_mid_send)
{
    rv = receiver_start(0);
    rv->delay_first_ms = 4000;
    start_stack(3600);
    subscribe("[\"deal.stage_changed\"]");
    for (int i = 0; i < 3; i++)
        ns_stage_changed(h, 501 + i, 0, "K", "A", "B");
    /* The receiver holds the first answer; crm-notify dies while it waits. */
    for (int i = 0; i < 200 && !rv->in_delay; i++)
        usleep(50000);
    cr_assert(rv->in_delay, "the first POST arrived");
    cr_assert_eq(harness_kill(h, "notify"), 0);
    cr_assert_eq(harness_restart(h, "notify"), 0);
    cr_assert(
        ns_wait_sql(h, 60000, "SELECT count(*) FROM notify.webhook_deliveries WHERE status = 'delivered'", 3),
        "all three delivered after the restart");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.webhook_deliveries"), 3,
                 "one row per event");
    /* Each event has exactly one delivery id; a resend after the kill reuses it, so a receiver that
     * drops duplicate delivery ids applies each event once. */
    pthread_mutex_lock(&rv->mu);
    char ids[MAXREQ][32], evs[MAXREQ][64];
    int n = 0;
    for (int i = 0; i < rv->n; i++) {
        bool seen = false;
        for (int k = 0; k < n; k++) {
            if (strcmp(ids[k], rv->reqs[i].delivery_id) == 0) {
                cr_expect_str_eq(evs[k], rv->reqs[i].event_id, "one event per delivery id");
                seen = true;
            } else
                cr_expect_str_neq(evs[k], rv->reqs[i].event_id, "one delivery id per event");
        }
        if (!seen && n < MAXREQ) {
            snprintf(ids[n], sizeof ids[n], "%s", rv->reqs[i].delivery_id);
            snprintf(evs[n], sizeof evs[n], "%s", rv->reqs[i].event_id);
            n++;
        }
    }
    cr_expect_eq(n, 3, "three distinct deliveries");
    /* Order: the deals in the order of the events. */
    long long last = 0;
    for (int i = 0; i < rv->n; i++) {
        json_t *b = json_loads(rv->reqs[i].body, 0, NULL);
        long long deal =
            json_integer_value(json_object_get(json_object_get(json_object_get(b, "data"), "deal"), "id"));
        cr_expect_geq(deal, last, "never a later event before an earlier one");
        last = deal;
        json_decref(b);
    }
    pthread_mutex_unlock(&rv->mu);
}

/* The events of an inbox batch are stored for webhooks by one statement: in the order they were
 * applied (webhook_events.seq, and so each subscription's deliveries), one delivery per event and
 * matching subscription; a replay of the same events (the consumer's offset moved back) stores and
 * queues nothing again. */
Test(notify_webhooks, a_batch_keeps_order_and_a_replay_adds_nothing)
{
    rv = receiver_start(0);
    start_stack(3600);
    long long staged = subscribe("[\"deal.stage_changed\"]");
    long long all = subscribe("[\"*\"]");
    cr_assert_eq(harness_kill(h, "notify"), 0);
    for (int i = 0; i < 30; i++) /* published to nobody: replayed in one batch at the restart */
        ns_stage_changed(h, 701 + i, 0, "Batch", "A", "B");
    cr_assert_eq(harness_restart(h, "notify"), 0);
    cr_assert(ns_wait_sql(h, 60000,
                          "SELECT count(*) FROM notify.webhook_events WHERE type = 'deal.stage_changed'", 30),
              "30 events stored");
    long long events = harness_sql_long(h, "SELECT count(*) FROM notify.webhook_events");
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM notify.webhook_deliveries WHERE subscription_id = %lld",
             staged);
    cr_expect_eq(harness_sql_long(h, sql), 30, "one delivery per stage change");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM notify.webhook_deliveries WHERE subscription_id = %lld",
             all);
    cr_expect_eq(harness_sql_long(h, sql), events, "one delivery per event for '*'");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM (SELECT d, lag(d) OVER (ORDER BY seq) AS p FROM"
                                     " (SELECT seq, (body::json->'data'->'deal'->>'id')::bigint AS d"
                                     " FROM notify.webhook_events WHERE type = 'deal.stage_changed') e) s"
                                     " WHERE d < p"),
                 0, "events stored out of their order");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM (SELECT id, lag(id) OVER (PARTITION BY subscription_id"
                            " ORDER BY event_seq) AS p FROM notify.webhook_deliveries) s WHERE id < p"),
        0, "deliveries queued out of event order");
    /* the consumer's offset moved back: every event again, nothing new */
    long long off = harness_sql_long(h, "SELECT last_seq FROM notify.inbox_offsets WHERE producer = 'deals'");
    cr_assert_gt(off, 0);
    cr_assert_eq(harness_kill(h, "notify"), 0);
    cr_assert_eq(harness_sql_long(h, "WITH u AS (UPDATE notify.inbox_offsets SET last_seq = 0"
                                     " WHERE producer = 'deals' RETURNING 1) SELECT count(*) FROM u"),
                 1);
    cr_assert_eq(harness_restart(h, "notify"), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM notify.inbox_offsets WHERE producer = 'deals' AND last_seq >= %lld", off);
    cr_assert(ns_wait_sql(h, 60000, sql, 1), "the events were replayed");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.webhook_events"), events);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.webhook_deliveries"), 30 + events);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.dead_letters"), 0);
}

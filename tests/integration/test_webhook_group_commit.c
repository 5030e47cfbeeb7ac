/* The gateway's group commit (services/gateway/commit.c) on a real stack: many senders at once,
 * each delivery id posted twice by two different senders racing each other. Every delivery id
 * is stored exactly once (one 202, the other answer a 200 naming the same delivery), one
 * lead.captured each, one lead each, and the committer did store several deliveries per
 * transaction (its metrics say so). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SENDERS 16
#define PER_SENDER 25
#define DISTINCT (SENDERS * PER_SENDER / 2)

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(webhook_group_commit, .fini = stop_stack, .timeout = 900);

typedef struct {
    int sender;
    long status[PER_SENDER];
    long long delivery_id[PER_SENDER];
    int key[PER_SENDER];
} sender_t;

/* Sender s posts keys (s % (SENDERS/2)) * PER_SENDER + i: senders s and s + SENDERS/2 post the
 * same keys, in opposite orders, so that the two posts of a key race. */
static void *send_all(void *arg)
{
    sender_t *s = arg;
    int half = SENDERS / 2;
    for (int n = 0; n < PER_SENDER; n++) {
        int i = s->sender < half ? n : PER_SENDER - 1 - n;
        int key = (s->sender % half) * PER_SENDER + i;
        char body[160], header[64];
        snprintf(body, sizeof body, "first_name=Group&last_name=Commit%d&email=gc-%d%%40example.com", key,
                 key);
        snprintf(header, sizeof header, "X-Delivery-Id: gc-%d", key);
        harness_resp_t *r =
            harness_http(h, &(harness_req_t){.method = "POST",
                                             .path = "/webhooks/forms/website",
                                             .body = body,
                                             .content_type = "application/x-www-form-urlencoded",
                                             .header = header});
        s->key[n] = key;
        s->status[n] = r ? r->status : 0;
        s->delivery_id[n] =
            r ? json_integer_value(json_object_get(json_object_get(r->json, "data"), "delivery_id")) : 0;
        harness_resp_destroy(&r);
    }
    return NULL;
}

static bool all_leads(harness_t *self, void *arg)
{
    (void)arg;
    return harness_sql_long(self, "SELECT count(*) FROM leads.leads WHERE email LIKE 'gc-%'") >= DISTINCT;
}

static double metric(const char *name)
{
    harness_resp_t *r = harness_http(h, &(harness_req_t){.path = "/metrics"});
    double v = -1;
    const char *p = r && r->body ? strstr(r->body, name) : NULL;
    while (p && (p > r->body && p[-1] != '\n'))
        p = strstr(p + 1, name);
    if (p)
        v = strtod(p + strlen(name), NULL);
    harness_resp_destroy(&r);
    return v;
}

Test(webhook_group_commit, racing_senders_store_each_delivery_once)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    static sender_t senders[SENDERS];
    pthread_t threads[SENDERS];
    for (int s = 0; s < SENDERS; s++) {
        senders[s].sender = s;
        cr_assert_eq(pthread_create(&threads[s], NULL, send_all, &senders[s]), 0);
    }
    for (int s = 0; s < SENDERS; s++)
        pthread_join(threads[s], NULL);

    static long long first_id[DISTINCT];
    static int accepted[DISTINCT], repeated[DISTINCT];
    for (int s = 0; s < SENDERS; s++)
        for (int n = 0; n < PER_SENDER; n++) {
            int key = senders[s].key[n];
            long st = senders[s].status[n];
            cr_assert(st == 202 || st == 200, "key %d: status %ld", key, st);
            cr_assert_gt(senders[s].delivery_id[n], 0, "key %d: a delivery id", key);
            if (st == 202)
                accepted[key]++;
            else
                repeated[key]++;
            if (!first_id[key])
                first_id[key] = senders[s].delivery_id[n];
            cr_expect_eq(senders[s].delivery_id[n], first_id[key], "key %d: both answers name one delivery",
                         key);
        }
    for (int k = 0; k < DISTINCT; k++)
        cr_expect(accepted[k] == 1 && repeated[k] == 1, "key %d: %d accepted, %d repeats", k, accepted[k],
                  repeated[k]);

    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'accepted' "
                                     "AND external_id LIKE 'gc-%'"),
                 DISTINCT, "one stored delivery per id");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.outbox WHERE type = 'lead.captured'"),
                 DISTINCT, "one lead.captured per delivery");
    cr_assert(harness_wait_until(h, harness_ms(60000), all_leads, NULL, "a lead per delivery"));
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE email LIKE 'gc-%'"), DISTINCT);

    double batches = metric("crm_gateway_commit_batches_total");
    double stored = metric("crm_gateway_commit_deliveries_total");
    fprintf(stderr, "group commit: %.0f deliveries in %.0f transactions\n", stored, batches);
    /* A repeat seen as stored before the committer is answered without it; a racing one is not. */
    cr_expect(stored >= DISTINCT && stored <= 2 * DISTINCT, "handed over: %.0f", stored);
    cr_expect(batches > 0 && stored > batches, "several deliveries per transaction: %.0f in %.0f", stored,
              batches);
}

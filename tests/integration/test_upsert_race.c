/* POST /v2/{leads|contacts|deals}/upsert under concurrency, through HTTP on a real stack (issue
 * 9): 8 clients upserting the same filters at the same instant make exactly one record (the
 * others update it), because the gateway serializes find-then-write per collection and filters;
 * different filters still run side by side. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(upsert_race, .fini = stop_stack, .timeout = 600);

#define CLIENTS 8

typedef struct {
    const char *path, *body;
    pthread_barrier_t *go;
    long status;
    long long id;
    char error[256];
} client_t;

static void *client_main(void *arg)
{
    client_t *c = arg;
    pthread_barrier_wait(c->go);
    harness_resp_t *r = dl_call(h, "POST", c->path, harness_admin_token(h), c->body);
    c->status = r ? r->status : -1;
    c->id = r ? dl_int(r, "id") : -1;
    snprintf(c->error, sizeof c->error, "%.200s", r && r->body ? r->body : "");
    harness_resp_destroy(&r);
    return NULL;
}

/* CLIENTS upserts of path/body at once; every one 200 with the same id; that id. */
static long long race(const char *path, const char *body)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, CLIENTS);
    client_t cs[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cs[i] = (client_t){.path = path, .body = body, .go = &go};
        cr_assert_eq(pthread_create(&th[i], NULL, client_main, &cs[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < CLIENTS; i++) {
        cr_expect_eq(cs[i].status, 200, "%s client %d: %ld %s", path, i, cs[i].status, cs[i].error);
        cr_expect_eq(cs[i].id, cs[0].id, "%s: client %d got record %lld, client 0 %lld", path, i, cs[i].id,
                     cs[0].id);
    }
    return cs[0].id;
}

Test(upsert_race, same_filters_at_once_make_one_record)
{
    h = harness_start_opts(&(harness_opts_t){.gateway_extra = "  rate_limit: {per_second: 0}\n"});
    cr_assert_not_null(h, "stack did not start");
    for (int round = 0; round < 3; round++) {
        char path[160], body[200], sql[256];
        snprintf(path, sizeof path, "/v2/leads/upsert?email=race%d@example.com", round);
        snprintf(body, sizeof body, "{\"data\":{\"last_name\":\"Race %d\",\"email\":\"race%d@example.com\"}}",
                 round, round);
        long long lead = race(path, body);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.leads WHERE email = 'race%d@example.com'",
                 round);
        cr_expect_eq(harness_sql_long(h, sql), 1, "round %d: leads with the upserted email", round);
        cr_expect_gt(lead, 0);

        snprintf(path, sizeof path, "/v2/contacts/upsert?email=race%d@example.com&last_name=Racer", round);
        snprintf(body, sizeof body, "{\"data\":{\"last_name\":\"Racer\",\"email\":\"race%d@example.com\"}}",
                 round);
        race(path, body);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.contacts WHERE email = 'race%d@example.com'",
                 round);
        cr_expect_eq(harness_sql_long(h, sql), 1, "round %d: contacts with the upserted email", round);

        snprintf(path, sizeof path, "/v2/deals/upsert?name=Race%%20deal%%20%d", round);
        snprintf(body, sizeof body, "{\"data\":{\"name\":\"Race deal %d\",\"value\":10}}", round);
        race(path, body);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM deals.deals WHERE name = 'Race deal %d'", round);
        cr_expect_eq(harness_sql_long(h, sql), 1, "round %d: deals with the upserted name", round);
    }
    /* the same filters in another order are the same critical section: still one contact */
    long long id =
        race("/v2/contacts/upsert?last_name=Racer&email=race0@example.com",
             "{\"data\":{\"last_name\":\"Racer\",\"email\":\"race0@example.com\",\"title\":\"x\"}}");
    cr_expect_gt(id, 0);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE email = 'race0@example.com'"),
                 1);
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM leads.contacts WHERE email = 'race0@example.com' AND "
                                  "title = 'x'"),
                 1);
}

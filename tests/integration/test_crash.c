/* Nothing lost, nothing applied twice (DESIGN §4) under kill -9: of crm-leads while forms
 * arrive, then of the broker in the middle of 200 form posts. Every accepted form must become
 * exactly one lead, one assignment and one notification. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void) { harness_destroy(&h); }

TestSuite(crash, .fini = stop_stack, .timeout = 900);

typedef struct {
    const char *prefix; /* e-mails are <prefix>-<i>@example.com */
    long long want;
} counts_arg_t;

static long long count_sql(harness_t *self, const char *fmt, const char *prefix)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, prefix);
    return harness_sql_long(self, sql);
}

static long long leads_with(harness_t *self, const char *prefix)
{
    return count_sql(self, "SELECT count(*) FROM leads.leads WHERE email LIKE '%s-%%'", prefix);
}

static long long owned_leads_with(harness_t *self, const char *prefix)
{
    return count_sql(self, "SELECT count(*) FROM leads.leads WHERE email LIKE '%s-%%' AND owner_id IS NOT NULL",
                     prefix);
}

static long long assignments_with(harness_t *self, const char *prefix)
{
    return count_sql(self,
                     "SELECT count(*) FROM assign.assignments a JOIN leads.leads l ON l.id = a.resource_id "
                     "WHERE a.resource_type = 'lead' AND l.email LIKE '%s-%%'",
                     prefix);
}

static long long notifications_with(harness_t *self, const char *prefix)
{
    return count_sql(self,
                     "SELECT count(*) FROM notify.notifications n JOIN leads.leads l ON l.id = n.resource_id "
                     "WHERE n.resource_type = 'lead' AND l.email LIKE '%s-%%'",
                     prefix);
}

static bool all_done(harness_t *self, void *arg)
{
    counts_arg_t *a = arg;
    return leads_with(self, a->prefix) >= a->want && owned_leads_with(self, a->prefix) >= a->want &&
           assignments_with(self, a->prefix) >= a->want && notifications_with(self, a->prefix) >= a->want;
}

/* After everything arrived, wait a little more: a duplicate would show up now. */
static void expect_exactly(harness_t *self, const char *prefix, long long want)
{
    counts_arg_t a = {prefix, want};
    cr_assert(harness_wait_until(self, harness_ms(120000), all_done, &a, prefix), "%s: all %lld processed",
              prefix, want);
    usleep((useconds_t)harness_ms(3000) * 1000);
    cr_expect_eq(leads_with(self, prefix), want, "%s leads", prefix);
    cr_expect_eq(count_sql(self, "SELECT count(DISTINCT lower(email)) FROM leads.leads WHERE email LIKE '%s-%%'",
                           prefix),
                 want, "%s distinct e-mails", prefix);
    cr_expect_eq(owned_leads_with(self, prefix), want, "%s leads with an owner", prefix);
    cr_expect_eq(assignments_with(self, prefix), want, "%s assignments", prefix);
    cr_expect_eq(count_sql(self,
                           "SELECT count(DISTINCT a.resource_id) FROM assign.assignments a JOIN leads.leads l "
                           "ON l.id = a.resource_id WHERE a.resource_type = 'lead' AND l.email LIKE '%s-%%'",
                           prefix),
                 want, "%s leads assigned", prefix);
    cr_expect_eq(notifications_with(self, prefix), want, "%s notifications", prefix);
    /* Each notification goes to the lead's owner. */
    cr_expect_eq(count_sql(self,
                           "SELECT count(*) FROM notify.notifications n JOIN leads.leads l ON l.id = n.resource_id "
                           "WHERE n.resource_type = 'lead' AND l.email LIKE '%s-%%' AND n.user_id = l.owner_id",
                           prefix),
                 want, "%s notifications to the owner", prefix);
}

static int post_one(harness_t *self, const char *prefix, int i)
{
    char body[256];
    snprintf(body, sizeof body, "first_name=Crash&last_name=Test%d&email=%s-%d%%40example.com", i, prefix, i);
    harness_resp_t *r = harness_post_form(self, "application/x-www-form-urlencoded", body);
    int status = r ? (int)r->status : 0;
    if (status != 202)
        fprintf(stderr, "post %s-%d -> %d %s\n", prefix, i, status, r ? r->body : "");
    harness_resp_destroy(&r);
    return status;
}

typedef struct {
    harness_t *h;
    int n;
    atomic_int posted;
    atomic_int accepted;
} poster_t;

static void *poster_main(void *arg)
{
    poster_t *p = arg;
    for (int i = 0; i < p->n; i++) {
        if (post_one(p->h, "crash2", i) == 202)
            atomic_fetch_add(&p->accepted, 1);
        atomic_fetch_add(&p->posted, 1);
    }
    return NULL;
}

Test(crash, kill_leads_then_broker)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long u[3];
    cr_assert_gt(harness_seed_pool(h, "crash", 3, u), 0, "users and pool created");

    /* 1. crm-leads dead while 5 forms arrive: the gateway accepts them (its outbox holds the
     * events); once leads is back it replays them, each exactly once. */
    cr_assert_eq(harness_kill(h, "leads"), 0);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(post_one(h, "crash1", i), 202);
    cr_assert_eq(harness_restart(h, "leads"), 0, "crm-leads restarts");
    expect_exactly(h, "crash1", 5);

    /* 2. The broker killed -9 while 200 forms are being posted, then started again. */
    poster_t p = {.h = h, .n = 200};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, poster_main, &p), 0);
    while (atomic_load(&p.posted) < 50)
        usleep(10000);
    cr_assert_eq(harness_kill(h, "broker"), 0);
    usleep(500000);
    cr_assert_eq(harness_restart(h, "broker"), 0, "broker restarts");
    pthread_join(thread, NULL);
    cr_expect_eq(atomic_load(&p.accepted), 200, "all 200 posts accepted (202)");
    expect_exactly(h, "crash2", 200);
}

/* Capture dedup under real concurrency (A4): several connections apply captures of one person at
 * the same time, each holding its transaction open a while after the capture (as a slow batch
 * or a second crm-leads instance would). Without the advisory locks on the dedup keys, none would
 * see the others' uncommitted lead and each would insert one; with them exactly one lead exists
 * and every capture is on its timeline. Captures of other people are not serialized into it. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/db.h"
#include "leads.h"
#include "pgtest.h"

extern const crm_migration_t leads_migrations[];
extern const unsigned leads_migrations_count;

static pgtest_t *pg;

static void up(void)
{
    pg = pgtest_start();
    cr_assert_not_null(pg, "pgtest_start");
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "leads"};
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "%s", err.message);
    cr_assert_eq(crm_db_migrate(db, "leads", leads_migrations, leads_migrations_count, &err), CRM_OK, "%s",
                 err.message);
    /* the source exists already: its first creation by concurrent captures is a retried race */
    cr_assert_eq(crm_db_exec_simple(db, "INSERT INTO lead_sources (name) VALUES ('website')", &err), CRM_OK);
    crm_db_destroy(&db);
}

static void down(void)
{
    pgtest_destroy(&pg);
}

TestSuite(leads_dedup, .init = up, .fini = down, .timeout = 120);

enum { THREADS = 8 };

typedef struct {
    int i;
    const char *email;
    const char *phone;
    pthread_barrier_t *barrier;
    int rc;
    bool created;
    char msg[600];
} job_t;

static void *capture(void *arg)
{
    job_t *j = arg;
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "leads"};
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    pthread_barrier_wait(j->barrier);
    if (!db) {
        j->rc = err.code;
        snprintf(j->msg, sizeof j->msg, "%s", err.message);
        return NULL;
    }
    Crm__LeadCaptured cap = CRM__LEAD_CAPTURED__INIT;
    char last[32], ev[64];
    snprintf(last, sizeof last, "Person%d", j->i);
    snprintf(ev, sizeof ev, "00000000-0000-7000-8000-%012d", j->i);
    cap.last_name = last;
    cap.email = (char *)j->email;
    cap.phone = (char *)j->phone;
    cap.source = "website";
    cap.has_delivery_id = 1;
    cap.delivery_id = 1000 + j->i;
    Crm__Lead *lead = NULL;
    j->rc = crm_db_begin(db, &err);
    if (j->rc == CRM_OK)
        j->rc = leads_store_capture_dedup(db, &cap, ev, &lead, &j->created, NULL, &err);
    /* keep the transaction open: the others must wait for it, not miss it */
    if (j->rc == CRM_OK)
        j->rc = crm_db_exec_simple(db, "SELECT pg_sleep(0.2)", &err);
    if (j->rc == CRM_OK)
        j->rc = crm_db_commit(db, &err);
    else
        crm_db_rollback(db);
    if (j->rc != CRM_OK)
        snprintf(j->msg, sizeof j->msg, "%s", err.message);
    if (lead)
        protobuf_c_message_free_unpacked(&lead->base, NULL);
    crm_db_destroy(&db);
    return NULL;
}

static long long count(const char *sql)
{
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "leads"};
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    cr_assert_not_null(db);
    PGresult *res = PQexec(crm_db_conn(db), sql);
    long long v = PQresultStatus(res) == PGRES_TUPLES_OK ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    crm_db_destroy(&db);
    return v;
}

static void run(job_t *jobs, int n)
{
    pthread_t th[THREADS * 2];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        jobs[i].barrier = &barrier;
        pthread_create(&th[i], NULL, capture, &jobs[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(jobs[i].rc, CRM_OK, "capture %d: %s", i, jobs[i].msg);
    }
    pthread_barrier_destroy(&barrier);
}

Test(leads_dedup, concurrent_captures_of_one_person_make_one_lead)
{
    const char *emails[] = {"same@example.com", " Same@Example.com", "SAME@example.com "};
    job_t jobs[THREADS];
    for (int i = 0; i < THREADS; i++)
        jobs[i] = (job_t){.i = i, .email = emails[i % 3]};
    run(jobs, THREADS);
    int created = 0;
    for (int i = 0; i < THREADS; i++)
        created += jobs[i].created;
    cr_expect_eq(created, 1, "one capture created, the others merged");
    cr_expect_eq(count("SELECT count(*) FROM leads.leads WHERE email_norm = 'same@example.com'"), 1);
    cr_expect_eq(count("SELECT count(*) FROM leads.lead_activities WHERE kind = 'captured'"), THREADS);
}

Test(leads_dedup, phone_matches_and_different_people_stay_apart)
{
    job_t jobs[THREADS];
    char emails[THREADS][64];
    for (int i = 0; i < THREADS; i++) {
        snprintf(emails[i], sizeof emails[i], "p%d@example.com", i);
        /* half share one phone (typed differently), the other half are distinct people */
        jobs[i] = (job_t){.i = 100 + i, .email = emails[i], .phone = i % 2 ? "+44 20 7946 0000" : NULL};
        if (i % 4 == 1)
            jobs[i].phone = "+442079460000";
    }
    run(jobs, THREADS);
    cr_expect_eq(count("SELECT count(*) FROM leads.leads WHERE phone_norm = '+442079460000'"), 1,
                 "one lead for the shared phone");
    cr_expect_eq(count("SELECT count(*) FROM leads.leads"), 1 + THREADS / 2, "the others are separate leads");
}

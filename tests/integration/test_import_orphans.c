/* An import batch whose owners were picked (assign.pick_bulk committed in crm-assign) and whose
 * own transaction then failed: crm-leads is killed while the batch waits for a lock after the
 * pick. Meanwhile a lead with one of the file's e-mails is created, so the retry MERGES that row
 * instead of creating it. The retry must give the other rows the SAME owners (no second
 * assignment) and remove the pick of the merged row: afterwards every assignment and ownership
 * row of crm-assign is about a lead that exists, and the digest's per-owner counts match them. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crm/util.h"
#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(import_orphans, .fini = stop_stack, .timeout = 900);

static bool is_true(harness_t *self, void *arg)
{
    return harness_sql_long(self, arg) == 1;
}

/* The first column of the first row as text (static buffer), "" when none. */
static const char *sql_text(PGconn *c, const char *sql)
{
    static char buf[4096];
    PGresult *res = PQexec(c, sql);
    buf[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        snprintf(buf, sizeof buf, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return buf;
}

/* Every imported record of table has the id and owner of a pick of the failed attempt. */
static void expect_first_picks(PGconn *c, const char *table, const char *first)
{
    char q[300], one[64];
    snprintf(
        q, sizeof q,
        "SELECT string_agg(id || ':' || owner_id, ',' ORDER BY id) FROM leads.%s WHERE import_id IS NOT NULL",
        table);
    for (const char *p = sql_text(c, q); *p;) {
        size_t n = strcspn(p, ",");
        snprintf(one, sizeof one, ",%.*s,", (int)n, p);
        cr_expect(strstr(first, one), "%s %s: the id and owner of the first attempt (%s)", table, one, first);
        p += n + (p[n] == ',');
    }
}

/* Writes the CSV text to <stack dir>/name (path: its path). */
static void write_csv(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", harness_dir(h), name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs `crmctl ARGS` until its first batch has its owners picked (npicks assignments of type in
 * crm-assign) and waits for a lock after the pick, then kills crm-leads -9 (the batch's transaction
 * never commits) and crmctl, and restarts crm-leads. Returns the picks made ("," id:owner ",").
 * A session holds the lock the batch needs after the pick: its per-owner counts. */
static const char *fail_after_pick(const char *args, const char *type, int npicks)
{
    PGconn *lock = PQconnectdb(pgtest_url(harness_pg(h)));
    cr_assert_eq(PQstatus(lock), CONNECTION_OK);
    PGresult *res = PQexec(lock, "BEGIN; LOCK TABLE leads.import_owner_counts IN EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(lock));
    PQclear(res);
    pid_t pid = harness_crmctl_spawn(h, args);
    cr_assert_gt(pid, 0);
    char q[400];
    snprintf(q, sizeof q, "SELECT (count(*) = %d)::int FROM assign.assignments WHERE resource_type = '%s'",
             npicks, type);
    cr_assert(
        harness_wait_until(h, harness_ms(60000), is_true, q, "the batch's picks committed in crm-assign"));
    cr_assert(harness_wait_until(h, harness_ms(60000), is_true,
                                 "SELECT (count(*) = 1)::int FROM pg_stat_activity WHERE wait_event_type = "
                                 "'Lock' AND query LIKE 'INSERT INTO import_owner_counts%'",
                                 "the batch waiting for the lock after the pick"));
    PGconn *c = PQconnectdb(pgtest_url(harness_pg(h)));
    cr_assert_eq(PQstatus(c), CONNECTION_OK);
    static char first[4096];
    snprintf(
        q, sizeof q,
        "SELECT string_agg(resource_id || ':' || owner_id, ',' ORDER BY resource_id) FROM assign.assignments "
        "WHERE resource_type = '%s'",
        type);
    snprintf(first, sizeof first, ",%s,", sql_text(c, q));
    PQfinish(c);

    /* crm-leads dies mid-batch (its transaction never commits), crmctl is stopped. */
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    cr_assert_eq(harness_kill(h, "leads"), 0);
    res = PQexec(lock, "ROLLBACK");
    PQclear(res);
    PQfinish(lock);
    cr_assert(harness_wait_until(h, harness_ms(60000), is_true,
                                 "SELECT (count(*) = 0)::int FROM pg_stat_activity WHERE query LIKE "
                                 "'INSERT INTO import_owner_counts%' AND state <> 'idle'",
                                 "the dead batch's transaction gone"));
    cr_assert_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL") +
                     harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE import_id IS NOT NULL"),
                 0, "nothing of the batch stored");
    cr_assert_eq(harness_restart(h, "leads"), 0);
    return first;
}

Test(import_orphans, failed_batch_after_pick_retried_with_a_merge)
{
    h = harness_start();
    cr_assert_not_null(h);
    long long users[3];
    long long pool = harness_seed_pool(h, "orph", 3, users);
    cr_assert_gt(pool, 0);
    char path[512], args[700], out[8192], q[1200];
    write_csv("orphans.csv",
              "first_name,last_name,email\nA,One,a@orph.test\nB,Two,b@orph.test\nC,Three,c@orph.test\n"
              "D,Four,d@orph.test\n",
              path, sizeof path);

    snprintf(args, sizeof args, "import leads '%s'", path);
    char first[4096];
    snprintf(first, sizeof first, "%s", fail_after_pick(args, "lead", 4));
    PGconn *c = PQconnectdb(pgtest_url(harness_pg(h)));
    cr_assert_eq(PQstatus(c), CONNECTION_OK);

    /* Meanwhile a lead with line 3's e-mail is created (its own owner, a manual assignment). */
    long long meanwhile = harness_create(h, "leads",
                                         json_pack("{s:s,s:s,s:i}", "last_name", "Meanwhile", "email",
                                                   "b@orph.test", "owner_id", (int)users[2]));
    cr_assert_gt(meanwhile, 0);
    snprintf(
        q, sizeof q,
        "SELECT (count(*) = 1)::int FROM assign.assignments WHERE resource_type = 'lead' AND resource_id = "
        "%lld",
        meanwhile);
    cr_assert(harness_wait_until(h, harness_ms(60000), is_true, q, "the new lead's owner recorded"));

    /* The same command again: the batch is retried, line 3 merges into the new lead. */
    snprintf(args, sizeof args, "import leads '%s'", path);
    int st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "3 created, 1 merged into existing leads"), "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL"), 3);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE email_norm = 'b@orph.test'"), 1);

    /* No assignment or ownership row of crm-assign is about a lead that does not exist. */
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM assign.assignments a WHERE a.resource_type = 'lead' "
                                  "AND NOT EXISTS (SELECT 1 FROM leads.leads l WHERE l.id = a.resource_id)"),
                 0, "orphan assignment left for the merged line");
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM assign.ownership o WHERE o.resource_type = 'lead' "
                                  "AND NOT EXISTS (SELECT 1 FROM leads.leads l WHERE l.id = o.resource_id)"),
                 0, "orphan ownership row left for the merged line");
    /* Each imported lead: exactly one assignment, its owner, the one picked by the failed attempt. */
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM leads.leads l WHERE l.import_id IS NOT NULL AND "
                                  "(SELECT count(*) FROM assign.assignments a WHERE a.resource_type = 'lead' "
                                  "AND a.resource_id = l.id) = 1 AND (SELECT a.owner_id FROM "
                                  "assign.assignments a WHERE a.resource_type = 'lead' AND a.resource_id = "
                                  "l.id) = l.owner_id"),
                 3);
    expect_first_picks(c, "leads", first);
    /* The pool's log counts the three imported leads, and the digest's counts match the records. */
    snprintf(q, sizeof q, "SELECT count(*) FROM assign.assignments WHERE pool_id = %lld", pool);
    cr_expect_eq(harness_sql_long(h, q), 3, "pool assignments = imported leads");
    cr_expect_eq(harness_sql_long(h, "SELECT sum(created) FROM leads.import_owner_counts"), 3);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.import_owner_counts c WHERE c.created <> "
                                     "(SELECT count(*) FROM leads.leads l WHERE l.import_id IS NOT NULL AND "
                                     "l.owner_id = c.owner_id)"),
                 0, "digest per owner = the owner's imported leads");
    PQfinish(c);
}

/* The same with contacts and the organizations made for persons' companies: on the retry line 3
 * merges into a contact created meanwhile and "Lonely Inc" now exists (made through the API), so
 * the picks of line 3 and of the Lonely Inc organization go; Newco's organization is made with the
 * same id, owner and assignment as in the failed attempt. */
Test(import_orphans, contacts_and_organizations_retried)
{
    h = harness_start();
    cr_assert_not_null(h);
    long long users[3];
    cr_assert_gt(harness_seed_pool(h, "orpc", 3, users), 0);
    long long pool = harness_create(h, "distribution_pools",
                                    json_pack("{s:s,s:s,s:[I,I,I]}", "name", "Contact pool", "resource_type",
                                              "contact", "user_ids", (json_int_t)users[0],
                                              (json_int_t)users[1], (json_int_t)users[2]));
    cr_assert_gt(pool, 0);
    char path[512], args[700], out[8192];
    write_csv("people.csv",
              "FirstName,LastName,Account Name,Email\nA,One,Newco,a@orpc.test\nB,Two,Newco,b@orpc.test\n"
              "C,Three,newco,c@orpc.test\nS,Solo,Lonely Inc,s@orpc.test\n",
              path, sizeof path);
    snprintf(args, sizeof args, "import contacts '%s' --owner 'pool:Contact pool'", path);
    /* 4 persons from the pool + 2 organizations (manual, their first person's owner) */
    char first[4096];
    snprintf(first, sizeof first, "%s", fail_after_pick(args, "contact", 6));

    long long lonely = harness_create(h, "contacts",
                                      json_pack("{s:b,s:s,s:I}", "is_organization", 1, "name", "Lonely Inc",
                                                "owner_id", (json_int_t)users[2]));
    long long meanwhile = harness_create(h, "contacts",
                                         json_pack("{s:s,s:s,s:I}", "last_name", "Meanwhile", "email",
                                                   "b@orpc.test", "owner_id", (json_int_t)users[2]));
    cr_assert_gt(lonely, 0);
    cr_assert_gt(meanwhile, 0);
    char q[600];
    snprintf(
        q, sizeof q,
        "SELECT (count(*) = 2)::int FROM assign.assignments WHERE resource_type = 'contact' AND resource_id "
        "IN (%lld, %lld)",
        lonely, meanwhile);
    cr_assert(harness_wait_until(h, harness_ms(60000), is_true, q, "the new contacts' owners recorded"));

    int st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "%s", out);
    /* 3 persons + Newco's organization */
    cr_expect(strstr(out, "4 created, 1 merged into existing contacts"), "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE is_organization AND "
                                     "lower(name) = 'lonely inc'"),
                 1);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM leads.contacts WHERE email = 's@orpc.test' AND contact_id = %lld", lonely);
    cr_expect_eq(harness_sql_long(h, q), 1, "linked to the organization made meanwhile");
    long long newco =
        harness_sql_long(h, "SELECT id FROM leads.contacts WHERE is_organization AND lower(name) = 'newco'");
    cr_assert_gt(newco, 0);
    snprintf(q, sizeof q, "SELECT count(*) FROM leads.contacts WHERE contact_id = %lld", newco);
    cr_expect_eq(harness_sql_long(h, q), 2, "lines 2 and 4 (line 3 merged into an existing contact)");

    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.assignments a WHERE a.resource_type = "
                                     "'contact' AND NOT EXISTS (SELECT 1 FROM leads.contacts c WHERE c.id = "
                                     "a.resource_id)"),
                 0, "no assignment left for line 3 or for the Lonely Inc organization not made");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM assign.ownership o WHERE o.resource_type = 'contact' "
                            "AND NOT EXISTS (SELECT 1 FROM leads.contacts c WHERE c.id = o.resource_id)"),
        0);
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM leads.contacts c WHERE c.import_id IS NOT NULL AND "
                                  "(SELECT count(*) FROM assign.assignments a WHERE a.resource_type = "
                                  "'contact' AND a.resource_id = c.id AND a.owner_id = c.owner_id) <> 1"),
                 0, "every imported contact: one assignment, its owner");
    PGconn *c = PQconnectdb(pgtest_url(harness_pg(h)));
    expect_first_picks(c, "contacts", first);
    PQfinish(c);
    cr_expect_eq(harness_sql_long(h, "SELECT sum(created) FROM leads.import_owner_counts"), 4);
}

/* crm-notify on a real stack: import.finished (from crm-leads or crm-deals) → one digest per owner
 * listed, in-app and e-mail as each owner's "assigned" settings say; the same import finished
 * again, and a replay of every event after a restart, add nothing. */
#include "import.pb-c.h"
#include "notify_support.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(notify_import, .fini = stop_stack, .timeout = 600);

/* Appends import.finished to <producer>.outbox with owners (owner, created, merged); its seq once
 * published is waited for by the caller. Returns the outbox row id. */
static long long put_finished(const char *producer, const char *import_id, const char *type, const char *file,
                              const long long (*owners)[3], size_t n)
{
    Crm__ImportFinished f = CRM__IMPORT_FINISHED__INIT;
    f.import_id = (char *)import_id;
    f.resource_type = (char *)type;
    f.file_name = (char *)file;
    Crm__ImportOwnerCount oc[8], *ops[8];
    for (size_t i = 0; i < n; i++) {
        crm__import_owner_count__init(&oc[i]);
        oc[i].has_owner_id = oc[i].has_created = oc[i].has_merged = 1;
        oc[i].owner_id = owners[i][0];
        oc[i].created = owners[i][1];
        oc[i].merged = owners[i][2];
        ops[i] = &oc[i];
    }
    f.owners = ops;
    f.n_owners = n;
    size_t len = crm__import_finished__get_packed_size(&f);
    unsigned char *buf = malloc(len);
    crm__import_finished__pack(&f, buf);
    char *sql = malloc(2 * len + 256), *q = sql;
    q += sprintf(
        q,
        "INSERT INTO %s.outbox (event_id, type, payload) VALUES (gen_random_uuid(), 'import.finished', "
        "'\\x",
        producer);
    for (size_t i = 0; i < len; i++)
        q += sprintf(q, "%02x", buf[i]);
    sprintf(q, "'::bytea) RETURNING id");
    long long id = harness_sql_long(h, sql);
    free(sql);
    free(buf);
    cr_assert_gt(id, 0, "import.finished appended to %s.outbox", producer);
    return id;
}

static long long count(const char *fmt, long long a)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, a);
    return harness_sql_long(h, sql);
}

Test(notify_import, one_digest_per_owner)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    char *t[3];
    long long u[3];
    u[0] = ns_user(h, "imp-ann", "sales", &t[0]);
    u[1] = ns_user(h, "imp-bob", "sales", &t[1]);
    u[2] = ns_user(h, "imp-cy", "sales", &t[2]);
    /* Cy wants assignments in the app only. */
    harness_resp_t *r = harness_http(
        h, &(harness_req_t){.method = "PUT",
                            .path = "/v2/notification_settings",
                            .body = "{\"data\": {\"assigned\": {\"in_app\": true, \"email\": false}}}",
                            .content_type = "application/json",
                            .token = t[2]});
    cr_assert_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);

    /* A leads import with 3 owners (and one with nothing, not told). */
    const long long owners[4][3] = {{u[0], 1234, 12}, {u[1], 1, 0}, {u[2], 0, 5}, {u[1] + 1000, 0, 0}};
    put_finished("leads", "lead-abc123", "lead", "leads.csv", owners, 4);
    const char *digests = "SELECT count(*) FROM notify.notifications WHERE event_id = 'import:lead-abc123'";
    cr_assert(ns_wait_sql(h, 30000, digests, 3), "3 digests");
    cr_expect_eq(
        count("SELECT count(*) FROM notify.notifications WHERE event_id = 'import:lead-abc123' AND "
              "user_id = %lld AND kind = 'assigned' AND resource_type = 'lead' AND resource_id IS NULL "
              "AND message = 'Import leads.csv: 1,234 new leads assigned to you, 12 merged'",
              u[0]),
        1, "Ann's digest text");
    cr_expect_eq(count("SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND message = "
                       "'Import leads.csv: 1 new lead assigned to you'",
                       u[1]),
                 1, "Bob's digest text");
    cr_expect_eq(count("SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND message = "
                       "'Import leads.csv: 5 rows merged into your leads'",
                       u[2]),
                 1, "Cy's digest text");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM notify.mail_outbox WHERE event_id = 'import:lead-abc123'"),
        2, "e-mail to Ann and Bob, not Cy");
    cr_expect_eq(harness_count_items(h, "/v2/notifications", t[0]), 1, "Ann sees her digest");

    /* A deals import from crm-deals. */
    const long long downers[1][3] = {{u[2], 7, 0}};
    put_finished("deals", "deal-xyz", "deal", "/srv/exports/deals.csv", downers, 1); /* a path: its name */
    cr_assert(ns_wait_sql(h, 30000,
                          "SELECT count(*) FROM notify.notifications WHERE event_id = 'import:deal-xyz'", 1),
              "the deals digest");
    cr_expect_eq(count("SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND message = 'Import "
                       "deals.csv: 7 new deals assigned to you'",
                       u[2]),
                 1);

    /* The same import finished again (another event): nothing new. Then a replay of everything. */
    long long row = put_finished("leads", "lead-abc123", "lead", "leads.csv", owners, 4);
    char sql[256];
    snprintf(
        sql, sizeof sql,
        "SELECT ((SELECT last_seq FROM notify.inbox_offsets WHERE producer = 'leads') >= (SELECT seq FROM "
        "leads.outbox WHERE id = %lld))::int",
        row);
    cr_assert(ns_wait_sql(h, 30000, sql, 1), "the second import.finished consumed");
    cr_expect_eq(harness_sql_long(h, digests), 3, "still 3 after a second import.finished");
    harness_kill(h, "notify");
    cr_assert_gt(harness_sql_long(h,
                                  "UPDATE notify.inbox_offsets SET last_seq = 0 WHERE producer IN ('leads', "
                                  "'deals') RETURNING 1"),
                 0);
    cr_assert_eq(harness_restart(h, "notify"), 0);
    const long long later[1][3] = {{u[0], 3, 0}};
    put_finished("leads", "lead-later", "lead", "more.csv", later, 1);
    cr_assert(ns_wait_sql(h, 30000,
                          "SELECT count(*) FROM notify.notifications WHERE event_id = 'import:lead-later'",
                          1),
              "a new event after the replayed ones");
    cr_expect_eq(harness_sql_long(h, digests), 3, "still 3 after the replay");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM notify.mail_outbox WHERE event_id = 'import:lead-abc123'"),
        2, "still 2 e-mails after the replay");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM notify.notifications WHERE event_id = 'import:deal-xyz'"),
        1);
    for (int i = 0; i < 3; i++)
        free(t[i]);
}

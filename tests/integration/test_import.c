/* crmctl import leads (SPEC A3) through the real stack: header mapping (Sell and Salesforce
 * columns, a custom field, an unknown column), hostile rows rejected with line and reason into
 * FILE.rejected.csv, formula cells kept as text and flagged, dedup within the file and against an
 * existing lead (A4), owners picked in bulk (assign.pick_bulk) from a pool sharing the cursor with
 * the web form path, no owner.assigned per imported row, exactly one import.finished with the
 * per-owner counts, a rerun that stores nothing twice, and a run killed mid-file (SIGINT, then
 * SIGKILL) resumed without duplicates. */
#include <criterion/criterion.h>
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

TestSuite(import, .fini = stop_stack, .timeout = 900);

/* Runs crmctl import with the stack's config; returns its exit status and its stdout. */
static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static long long sqlf(const char *fmt, const char *arg)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fmt, arg);
    return harness_sql_long(h, sql);
}

typedef struct {
    const char *sql;
    long long want;
} count_arg_t;

static bool count_is(harness_t *self, void *arg)
{
    count_arg_t *c = arg;
    return harness_sql_long(self, c->sql) == c->want;
}

static bool is_one(harness_t *self, void *arg)
{
    return harness_sql_long(self, arg) == 1;
}

static const char hostile[] =
    "first_name,last_name,organization_name,email,phone,status,tags,Favourite Color,Lead ID\r\n" /* 1 */
    "Ada,Lovelace,Engines Ltd,ada@example.com,+44 20 1234 5678,New,\"vip, import\",blue,1\r\n"   /* 2 */
    "Grace,Hopper,Navy,grace@example.com,,working,,green,2\r\n"                                  /* 3 */
    "\"Augusta \",\"Lovelace\",,ADA@Example.com ,,,later,,3\r\n"   /* 4: dup of 2 */
    "Dup,Existing,,dup@example.com,,,,,4\r\n"                      /* 5: merges into an older lead */
    "\"=cmd|' /C calc'!A0\",Formula,,f@example.com,,,,,5\r\n"      /* 6: kept, flagged */
    "NoName,,,,,,,,6\r\n"                                          /* 7: no name */
    "ragged,row\r\n"                                               /* 8: 2 fields */
    "X,Y,,not-an-email,,,,,7\r\n"                                  /* 9: bad e-mail */
    "Z,W,,z@example.com,,Bogus,,,8\r\n"                            /* 10: unknown status */
    "Bad\xC3\x28utf,Eight,,u@example.com,,,,,9\r\n"                /* 11: invalid UTF-8 */
    "Multi,Line,\"Two\r\nLines Inc\",multi@example.com,,,,,10\r\n" /* 12-13 */
    "Phone,Twin,,,+44 (20) 1234-5678,,,,11\r\n"                    /* 14: dup of 2 by phone */
    "Last,Row,,last@example.com,,,,,12";                           /* 15: no line end */

Test(import, hostile_file_mapped_deduplicated_assigned)
{
    h = harness_start();
    cr_assert_not_null(h);
    const char *admin = harness_admin_token(h);
    long long users[3];
    long long pool = harness_seed_pool(h, "imp", 3, users);
    cr_assert_gt(pool, 0);
    json_t *cf = json_pack("{s:{s:s,s:s}}", "data", "name", "Favourite Color", "type", "string");
    harness_resp_t *r = harness_api(h, "POST", "/v2/lead/custom_fields", admin, cf);
    json_decref(cf); /* harness_api does not steal the body */
    cr_assert_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);
    long long older = harness_create(h, "leads",
                                     json_pack("{s:s,s:s,s:i}", "last_name", "Existing", "email",
                                               "Dup@Example.com", "owner_id", (int)users[0]));
    cr_assert_gt(older, 0);

    char path[512], args[1200], out[8192];
    snprintf(path, sizeof path, "%s/leads.csv", harness_dir(h));
    write_file(path, hostile, sizeof hostile - 1);
    /* crm-assign records the older lead's owner (manual) and announces it: wait for that first. */
    char q[300];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM assign.assignments WHERE resource_type = 'lead' AND resource_id = %lld",
             older);
    cr_assert(harness_wait_until(h, harness_ms(60000), is_one, q, "the older lead's owner recorded"));
    long long assigned0 =
        harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'");
    snprintf(args, sizeof args, "import leads '%s' --owner pool:Inbound --source 'old crm'", path);
    int st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "crmctl import: %d\n%s\n%s", st, out,
                 harness_slurp(strcat(strcpy(args, harness_dir(h)), "/crmctl-stderr.log")));
    cr_expect(strstr(out, "finished"), "%s", out);
    cr_expect(
        strstr(out, "5 created, 1 merged into existing leads, 2 duplicates within the file, 5 rejected"),
        "%s", out);
    cr_expect(strstr(out, "formula-like cells (kept as text), lines 6"), "%s", out);
    cr_expect(strstr(out, "Lead ID"), "the unknown column is reported: %s", out);

    /* What was stored. */
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL%s", ""), 5);
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.leads WHERE email_norm = '%s'", "ada@example.com"), 1);
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.leads WHERE first_name = '%s'", "=cmd|'' /C calc''!A0"), 1,
                 "the formula is kept verbatim as text");
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.leads WHERE organization_name = E'Two\\r\\nLines Inc' AND "
                      "last_name = '%s'",
                      "Line"),
                 1, "the quoted newline is kept");
    cr_expect_eq(
        sqlf("SELECT count(*) FROM leads.leads WHERE last_name = 'Hopper' AND status = '%s'", "Working"), 1,
        "the status is matched case-insensitively");
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.leads WHERE last_name = 'Lovelace' AND tags = "
                      "'{import,later,vip}' AND custom_fields->>'Favourite Color' = '%s'",
                      "blue"),
                 1, "tags of the duplicate row added, the custom field set");
    cr_expect_eq(
        sqlf("SELECT count(*) FROM leads.leads l JOIN leads.lead_sources s ON s.id = l.source_id WHERE "
             "s.name = '%s'",
             "old crm"),
        5);
    snprintf(q, sizeof q, "SELECT count(*) FROM leads.leads WHERE id = %lld AND first_name = 'Dup'", older);
    cr_expect_eq(harness_sql_long(h, q), 1, "the older lead's empty first name is filled by the merge");
    snprintf(q, sizeof q,
             "SELECT count(*) FROM leads.lead_activities WHERE lead_id = %lld AND kind = 'imported'", older);
    cr_expect_eq(harness_sql_long(h, q), 1, "the merge is on the older lead's timeline");
    /* The timeline API: a created lead's "Imported from" entry comes from the lead itself (no row in
     * lead_activities), the merged older lead's entry is a row. */
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.lead_activities a JOIN leads.leads l ON l.id = a.lead_id "
                      "WHERE l.import_id IS NOT NULL%s",
                      ""),
                 0, "no activity row per created lead");
    long long ada = sqlf("SELECT id FROM leads.leads WHERE email_norm = '%s'", "ada@example.com");
    snprintf(q, sizeof q, "/v2/leads/%lld/activities", ada);
    r = harness_api(h, "GET", q, admin, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(strstr(r->body, "\"kind\": \"imported\"") || strstr(r->body, "\"kind\":\"imported\""), "%s",
              r->body);
    cr_expect(strstr(r->body, "\"Imported from ") && strstr(r->body, "/leads.csv, line 2\""), "%s", r->body);
    cr_expect_eq(harness_count_items(h, q, admin), 1, "one entry: %s", r->body);
    harness_resp_destroy(&r);
    snprintf(q, sizeof q, "/v2/leads/%lld/activities", older);
    r = harness_api(h, "GET", q, admin, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(strstr(r->body, "\"Imported again, merged, from ") && strstr(r->body, "/leads.csv, line 5\""),
              "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/leads?email=ada@example.com", admin), 1);
    cr_expect_eq(
        sqlf("SELECT count(*) FROM leads.tags WHERE resource_type = 'lead' AND name IN ('vip', 'import', "
             "'later')%s",
             ""),
        3, "the imported tags exist as /v2/tags, as after an API create");

    /* The rejected rows, with their lines and reasons. */
    char rej[600];
    snprintf(rej, sizeof rej, "%s.rejected.csv", path);
    const char *text = harness_slurp(rej);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"7\",\"a lead needs last_name or organization_name\""), "%s", text);
    cr_expect(strstr(text, "\"8\",\"2 fields, the header has 9\",\"ragged\",\"row\""), "%s", text);
    cr_expect(strstr(text, "\"9\",\"email 'not-an-email' is not an e-mail address\""), "%s", text);
    cr_expect(strstr(text, "\"10\",\"status 'Bogus' is not a lead status\""), "%s", text);
    cr_expect(strstr(text, "\"11\",\"invalid UTF-8 (column 1)\""), "%s", text);

    /* Owners: the five new leads took turns 1..5 of the pool, in line order, picked in bulk before
     * they were stored (owned as soon as crmctl returns); a web form lead after them gets turn 6:
     * the same cursor. */
    cr_expect_eq(
        sqlf("SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL AND owner_id IS NOT NULL%s", ""),
        5, "stored with their owners");
    cr_expect_eq(
        sqlf("SELECT count(*) FROM assign.assignments WHERE resource_type = 'lead' AND resource_id IN "
             "(SELECT id FROM leads.leads WHERE import_id IS NOT NULL)%s",
             ""),
        5, "one assignment per imported lead in crm-assign's log");
    harness_resp_t *f = harness_post_form(h, "application/x-www-form-urlencoded",
                                          "first_name=Web&last_name=Form&email=web@example.com");
    cr_assert(f->status == 200 || f->status == 202, "%ld %s", f->status, f->body);
    harness_resp_destroy(&f);
    count_arg_t web = {
        "SELECT count(*) FROM leads.leads WHERE email = 'web@example.com' AND owner_id IS NOT NULL", 1};
    cr_assert(harness_wait_until(h, harness_ms(60000), count_is, &web, "web form lead assigned"));
    long long want[6] = {users[0], users[1], users[2], users[0], users[1], users[2]};
    const char *order[6] = {"ada@example.com",   "grace@example.com", "f@example.com",
                            "multi@example.com", "last@example.com",  "web@example.com"};
    for (int i = 0; i < 6; i++)
        cr_expect_eq(sqlf("SELECT owner_id FROM leads.leads WHERE email_norm = '%s'", order[i]), want[i],
                     "turn %d goes to pool member %d", i + 1, i % 3 + 1);
    snprintf(q, sizeof q, "SELECT owner_id FROM leads.leads WHERE id = %lld", older);
    cr_expect_eq(harness_sql_long(h, q), users[0], "a merge keeps the owner");
    /* crm-assign consumed every lead.created of the import before the web form lead's (one
     * stream): only the web form lead made an owner.assigned, none of the imported rows did. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'"),
                 assigned0 + 1, "no owner.assigned per imported row");
    /* One import.finished, with what each owner got (the merge counts for the older lead's owner). */
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.outbox WHERE type = '%s'", "import.finished"), 1);
    snprintf(q, sizeof q,
             "SELECT (string_agg(owner_id || ':' || created || '/' || merged, ' ' ORDER BY owner_id) = "
             "'%lld:2/1 %lld:2/0 %lld:1/0' )::int FROM leads.import_owner_counts",
             users[0], users[1], users[2]);
    cr_expect_eq(harness_sql_long(h, q), 1, "per-owner counts of the digest");
    /* crm-notify: one digest per owner for the import, no notification per imported lead (user 2
     * got two imported leads and nothing else so far: exactly one notification). */
    cr_expect(harness_wait_until(
        h, harness_ms(60000), is_one,
        "SELECT (count(*) = 3)::int FROM notify.notifications WHERE event_id LIKE 'import:lead-%'",
        "one digest per owner"));
    for (int i = 0; i < 3; i++) {
        snprintf(
            q, sizeof q,
            "SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND event_id LIKE 'import:%%'",
            users[i]);
        cr_expect_eq(harness_sql_long(h, q), 1, "one digest for owner %d", i + 1);
    }
    snprintf(q, sizeof q, "SELECT count(*) FROM notify.notifications WHERE user_id = %lld", users[1]);
    cr_expect_eq(harness_sql_long(h, q), 1, "only the digest, nothing per row");

    /* The same command again: already finished, nothing stored twice. */
    snprintf(args, sizeof args, "import leads '%s' --owner pool:Inbound --source 'old crm'", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0);
    cr_expect(strstr(out, "already finished"), "%s", out);
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL%s", ""), 5);
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.outbox WHERE type = '%s'", "import.finished"), 1,
                 "still one import.finished");

    /* A dry run of a new file stores nothing. */
    char dry[512];
    snprintf(dry, sizeof dry, "%s/dry.csv", harness_dir(h));
    const char *dry_csv = "FirstName;LastName;Company;Email\nNew;Person;Acme;new@example.com\n";
    write_file(dry, dry_csv, strlen(dry_csv));
    snprintf(args, sizeof args, "import leads '%s' --dry-run", dry);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0);
    cr_expect(strstr(out, "dry run") && strstr(out, "1 created"), "%s", out);
    cr_expect_eq(sqlf("SELECT count(*) FROM leads.leads WHERE email_norm = '%s'", "new@example.com"), 0);

    /* --map overrides (and skips a column), --owner EMAIL sets the owner of every new lead. */
    char mapped[512];
    snprintf(mapped, sizeof mapped, "%s/mapped.csv", harness_dir(h));
    const char *mapped_csv = "Vorname;Nachname;Firma;E-Mail;Lead Owner\nKarl;Kurz;Acme;karl@example.com;x\n";
    write_file(mapped, mapped_csv, strlen(mapped_csv));
    snprintf(args, sizeof args,
             "import leads '%s' --owner IMP-2@example.com --map Vorname=first_name --map nachname=last_name "
             "--map Firma=organization_name --map 'Lead Owner=-'",
             mapped);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "1 created"), "%s", out);
    cr_expect_not(strstr(out, "Lead Owner"), "a skipped column is not reported: %s", out);
    snprintf(q, sizeof q,
             "SELECT owner_id FROM leads.leads WHERE first_name = 'Karl' AND last_name = 'Kurz' AND "
             "organization_name = 'Acme' AND email = 'karl@example.com'");
    cr_expect_eq(harness_sql_long(h, q), users[1], "owned by --owner's user");

    /* Usage errors. */
    cr_expect_eq(harness_crmctl(h, "import leads /nonexistent.csv", out, sizeof out), 1);
    cr_expect_eq(harness_crmctl(h, "import contacts /nonexistent.csv", out, sizeof out), 1);
    cr_expect_eq(harness_crmctl(h, "import opportunities x.csv", out, sizeof out), 2,
                 "unknown resource: usage");
    snprintf(args, sizeof args, "import leads '%s' --owner pool:NoSuchPool", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 1);
}

/* A generated file of n rows (Salesforce headers, ';', BOM): row i has e-mail p<i>@example.com. */
static void big_file(const char *path, int n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("\xEF\xBB\xBF"
          "FirstName;LastName;Company;Email;LeadSource\n",
          f);
    for (int i = 0; i < n; i++)
        fprintf(f, "P%d;Person %d;\"Co; %d\";p%d@example.com;fair\n", i, i, i % 50, i);
    fclose(f);
}

static pid_t spawn_import(const char *path, const char *batch)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        char bin[512];
        snprintf(bin, sizeof bin, "%s/tools/crmctl/crmctl", CRM_BUILD_DIR);
        freopen("/dev/null", "w", stdout);
        execl(bin, bin, "--config", harness_config_path(h), "import", "leads", path, "--batch", batch,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static bool some_stored(harness_t *self, void *arg)
{
    (void)arg;
    return harness_sql_long(self, "SELECT coalesce(max(last_line), 0) FROM leads.imports") > 1;
}

Test(import, interrupted_runs_resume_without_duplicates)
{
    h = harness_start();
    cr_assert_not_null(h);
    const int n = 6000;
    char path[512], args[700], out[8192];
    snprintf(path, sizeof path, "%s/big.csv", harness_dir(h));
    big_file(path, n);

    /* Ctrl-C once some batches are stored: it stops cleanly after the current batch. */
    pid_t pid = spawn_import(path, "50");
    cr_assert(harness_wait_until(h, harness_ms(60000), some_stored, NULL, "a first batch"));
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st), "crmctl exits by itself after SIGINT");
    long long first = harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL");
    cr_expect_lt(first, n, "stopped mid-file (%lld rows)", first);
    cr_expect_eq(harness_sql_long(h, "SELECT created FROM leads.imports"), first);

    /* kill -9 mid-run: whatever batch was in flight either committed or not. */
    pid = spawn_import(path, "50");
    crm_sleep_ms(300);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);

    /* The same command again finishes the file: every row exactly once. */
    snprintf(args, sizeof args, "import leads '%s'", path);
    st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "finished"), "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL"), n);
    cr_expect_eq(harness_sql_long(h, "SELECT count(DISTINCT email_norm) FROM leads.leads"), n);
    cr_expect_eq(harness_sql_long(h, "SELECT created FROM leads.imports"), n);
    cr_expect_eq(harness_sql_long(h, "SELECT duplicates + merged + rejected FROM leads.imports"), 0);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE organization_name = 'Co; 7'"),
                 n / 50, "quoted ';' kept in the field");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads l JOIN leads.lead_sources s ON s.id = "
                                     "l.source_id WHERE s.name = 'fair'"),
                 n, "LeadSource mapped to the lead source");
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM leads.leads WHERE first_name = 'P0' AND last_name = "
                                  "'Person 0'"),
                 1, "the BOM is not part of the first header");
}

/* One batch of 10,000 rows with an e-mail and a phone each: 20,000 dedup keys. The import takes one
 * gate lock for the batch (not one advisory lock per key, which filled Postgres' lock table: "out
 * of shared memory"); a web form capture after it still finds the imported lead by e-mail. */
Test(import, large_batch_one_gate_lock)
{
    h = harness_start();
    cr_assert_not_null(h);
    char path[512], args[700];
    snprintf(path, sizeof path, "%s/wide.csv", harness_dir(h));
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("first_name,last_name,email,phone\n", f);
    for (int i = 0; i < 10000; i++)
        fprintf(f, "W%d,Wide %d,w%d@example.com,+1 555 %07d\n", i, i, i, i);
    fclose(f);
    /* While it runs, the advisory locks held stay few (the old code held 20,000 in one batch). */
    pid_t pid = spawn_import(path, "10000");
    long long most = 0;
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        long long n = harness_sql_long(h, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
        most = n > most ? n : most;
        crm_sleep_ms(20);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "crmctl: %d\n%s", st,
              harness_slurp(strcat(strcpy(args, harness_dir(h)), "/crmctl-stderr.log")));
    cr_expect_lt(most, 100, "at most %lld advisory locks at once during the import", most);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL"), 10000);
    harness_resp_t *r = harness_post_form(h, "application/x-www-form-urlencoded",
                                          "first_name=Again&last_name=Wide&email=W77@Example.com");
    cr_assert(r->status == 200 || r->status == 202, "%ld %s", r->status, r->body);
    harness_resp_destroy(&r);
    char q[300];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM leads.lead_activities a JOIN leads.leads l ON l.id = a.lead_id WHERE "
             "l.email_norm = 'w77@example.com' AND a.kind <> 'imported'");
    cr_expect(
        harness_wait_until(h, harness_ms(60000), is_one, q, "the capture merged into the imported lead"));
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE email_norm = 'w77@example.com'"),
                 1);
}

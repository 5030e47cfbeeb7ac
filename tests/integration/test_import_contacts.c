/* crmctl import contacts (SPEC A3, session 5) through the real stack: a Salesforce contact export
 * mapped (Account Name → the person's organization, linked by name; a row with only an
 * organization name → an organization), dedup within the file and against an existing contact by
 * e-mail, rejected rows with line and reason, owners picked in bulk from a contact pool sharing the
 * cursor with the API path, no owner.assigned per imported row, exactly one import.finished; a
 * run interrupted and resumed, and a run while crm-assign is down (fails, stores nothing unowned;
 * the same command then finishes with every contact owned exactly once). */
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

TestSuite(import_contacts, .fini = stop_stack, .timeout = 900);

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, strlen(data), f), strlen(data));
    fclose(f);
}

static long long q1(const char *fmt, long long a)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fmt, a);
    return harness_sql_long(h, sql);
}

static bool is_one(harness_t *self, void *arg)
{
    return harness_sql_long(self, arg) == 1;
}

/* A pool of the three users serving contacts. */
static long long contact_pool(const long long *users)
{
    return harness_create(h, "distribution_pools",
                          json_pack("{s:s,s:s,s:[I,I,I]}", "name", "Contact pool", "resource_type", "contact",
                                    "user_ids", (json_int_t)users[0], (json_int_t)users[1],
                                    (json_int_t)users[2]));
}

static const char sf_contacts[] =
    "FirstName,LastName,Account Name,Email,Phone,MailingCity,Title,Tags\n"    /* 1 */
    "Ann,Able,Acme Corp,ann@example.com,+1 555 0101,Boston,CEO,\"vip, sf\"\n" /* 2: person of Acme */
    ",,Globex,,,Springfield,,\n"                                              /* 3: an organization */
    "Bob,Baker,globex,bob@example.com,,,,\n"                                  /* 4: person of Globex */
    "Ann,Able,,ANN@Example.com ,,,,later\n"                                   /* 5: dup of 2 */
    "Olga,Old,,old@example.com,,,Buyer,\n"                                    /* 6: merges into Old */
    "NoLast,,,,,,,\n"                                                         /* 7: no last name */
    "ragged,row\n"                                                            /* 8 */
    "Bad,Mail,,bad-mail,,,,\n"                                                /* 9: bad e-mail */
    "Zed,Zulu,,zed@example.com,,,,\n";                                        /* 10 */

Test(import_contacts, mapped_deduplicated_owned_in_bulk)
{
    h = harness_start();
    cr_assert_not_null(h);
    const char *admin = harness_admin_token(h);
    long long users[3];
    cr_assert_gt(harness_seed_pool(h, "imc", 3, users), 0);
    long long pool = contact_pool(users);
    cr_assert_gt(pool, 0);
    long long acme =
        harness_create(h, "contacts", json_pack("{s:b,s:s}", "is_organization", 1, "name", "Acme Corp"));
    long long old = harness_create(h, "contacts",
                                   json_pack("{s:s,s:s,s:I}", "last_name", "Old", "email", "Old@Example.com",
                                             "owner_id", (json_int_t)users[1]));
    cr_assert_gt(acme, 0);
    cr_assert_gt(old, 0);
    /* crm-assign records Old's owner (manual) and announces it: wait for that (Acme came before it). */
    char wait[200];
    snprintf(wait, sizeof wait,
             "SELECT count(*) FROM assign.assignments WHERE resource_type = 'contact' AND resource_id = %lld",
             old);
    cr_assert(
        harness_wait_until(h, harness_ms(60000), is_one, wait, "the existing contact's owner recorded"));
    long long assigned0 =
        harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'");

    char path[512], args[1200], out[8192];
    snprintf(path, sizeof path, "%s/contacts.csv", harness_dir(h));
    write_file(path, sf_contacts);
    snprintf(args, sizeof args, "import contacts '%s' --owner 'pool:Contact pool'", path);
    int st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "crmctl: %d\n%s\n%s", st, out,
                 harness_slurp(strcat(strcpy(args, harness_dir(h)), "/crmctl-stderr.log")));
    cr_expect(strstr(out, "finished"), "%s", out);
    cr_expect(
        strstr(out, "4 created, 1 merged into existing contacts, 1 duplicates within the file, 3 rejected"),
        "%s", out);
    cr_expect(strstr(out, "Tags") == NULL, "Tags is a known column: %s", out);

    /* What was stored. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE import_id IS NOT NULL"), 4);
    cr_expect_eq(
        q1("SELECT count(*) FROM leads.contacts WHERE last_name = 'Able' AND name = 'Ann Able' AND "
           "contact_id = %lld AND NOT is_organization AND tags = '{later,sf,vip}' AND address_city = "
           "'Boston'",
           acme),
        1, "a person linked to its organization by name, the duplicate's tag added");
    long long globex =
        harness_sql_long(h, "SELECT id FROM leads.contacts WHERE is_organization AND name = 'Globex' "
                            "AND import_id IS NOT NULL");
    cr_expect_gt(globex, 0, "a row with only an organization name is an organization");
    char tl[128];
    snprintf(tl, sizeof tl, "/v2/contacts/%lld/activities", globex);
    harness_resp_t *tr = harness_api(h, "GET", tl, admin, NULL);
    cr_expect_eq(tr->status, 200, "%s", tr->body);
    cr_expect(strstr(tr->body, "\"Imported from ") && strstr(tr->body, "/contacts.csv, line "),
              "the created contact's timeline shows the import: %s", tr->body);
    harness_resp_destroy(&tr);
    cr_expect_eq(q1("SELECT count(*) FROM leads.contact_activities WHERE contact_id = %lld", globex), 0,
                 "no activity row per created contact");
    cr_expect_eq(
        q1("SELECT count(*) FROM leads.contacts WHERE last_name = 'Baker' AND contact_id = %lld", globex), 1,
        "linked to an organization the same batch made");
    cr_expect_eq(q1("SELECT count(*) FROM leads.contacts WHERE id = %lld AND first_name = 'Olga' AND title = "
                    "'Buyer' AND last_name = 'Old'",
                    old),
                 1, "the merge fills the existing contact's empty fields, keeps the others");
    cr_expect_eq(
        q1("SELECT count(*) FROM leads.contact_activities WHERE contact_id = %lld AND kind = 'imported'",
           old),
        1);
    cr_expect_eq(harness_count_items(h, "/v2/contacts?email=zed@example.com", admin), 1);
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM leads.tags WHERE resource_type = 'contact' AND name IN "
                            "('vip', 'sf', 'later')"),
        3, "the imported tags exist as contact tags");

    char rej[600];
    snprintf(rej, sizeof rej, "%s.rejected.csv", path);
    const char *text = harness_slurp(rej);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"7\",\"a person needs last_name"), "%s", text);
    cr_expect(strstr(text, "\"8\",\"2 fields, the header has 8\""), "%s", text);
    cr_expect(strstr(text, "\"9\",\"email 'bad-mail' is not an e-mail address\""), "%s", text);

    /* Owners: turns 1..4 of the contact pool in line order (Ann, Globex, Bob, Zed), set on insert;
     * a contact given to the pool through the API next takes turn 5. */
    const char *order[4] = {"Able", "Globex", "Baker", "Zulu"};
    for (int i = 0; i < 4; i++) {
        char sql[300];
        snprintf(
            sql, sizeof sql,
            "SELECT owner_id FROM leads.contacts WHERE import_id IS NOT NULL AND coalesce(last_name, name) = "
            "'%s'",
            order[i]);
        cr_expect_eq(harness_sql_long(h, sql), users[i % 3], "turn %d", i + 1);
    }
    char body[128];
    snprintf(body, sizeof body, "pool:%lld", pool);
    long long api =
        harness_create(h, "contacts", json_pack("{s:s,s:s}", "last_name", "Api", "owner_id", body));
    cr_assert_gt(api, 0);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.contacts WHERE id = %lld AND owner_id = %lld", api,
             users[1]);
    cr_expect(harness_wait_until(h, harness_ms(60000), is_one, sql,
                                 "the API contact given to the pool takes the next "
                                 "turn (user 2)"));
    cr_expect_eq(q1("SELECT owner_id FROM leads.contacts WHERE id = %lld", old), users[1],
                 "a merge keeps the owner");

    /* No owner.assigned for the imported contacts (crm-assign applied their contact.created before
     * the API contact's, one stream): only the API contact's; one import.finished. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'"),
                 assigned0 + 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'import.finished'"), 1);
    snprintf(sql, sizeof sql,
             "SELECT (string_agg(owner_id || ':' || created || '/' || merged, ' ' ORDER BY owner_id) = "
             "'%lld:2/0 %lld:1/1 %lld:1/0' )::int FROM leads.import_owner_counts",
             users[0], users[1], users[2]);
    cr_expect_eq(harness_sql_long(h, sql), 1, "per-owner counts of the digest");

    /* Again: already finished, nothing twice. */
    snprintf(args, sizeof args, "import contacts '%s' --owner 'pool:Contact pool'", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0);
    cr_expect(strstr(out, "already finished"), "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE import_id IS NOT NULL"), 4);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'import.finished'"), 1);

    /* A lead pool is refused for contacts; --owner EMAIL owns every new contact. */
    snprintf(args, sizeof args, "import contacts '%s' --owner pool:Inbound", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 1);
    char one[512];
    snprintf(one, sizeof one, "%s/one.csv", harness_dir(h));
    write_file(one, "first_name;last_name;organization_name;email\nKim;Kraft;;kim@example.com\n");
    snprintf(args, sizeof args, "import contacts '%s' --owner IMC-3@example.com", one);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0, "%s", out);
    cr_expect_eq(q1("SELECT count(*) FROM leads.contacts WHERE email = 'kim@example.com' AND owner_id = %lld",
                    users[2]),
                 1);
}

static void big_file(const char *path, int n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("\xEF\xBB\xBF"
          "FirstName;LastName;Email\n",
          f);
    for (int i = 0; i < n; i++)
        fprintf(f, "C%d;Person %d;c%d@example.com\n", i, i, i);
    fclose(f);
}

static bool some_stored(harness_t *self, void *arg)
{
    (void)arg;
    return harness_sql_long(self, "SELECT count(*) FROM leads.contacts WHERE import_id IS NOT NULL") > 100;
}

Test(import_contacts, interrupted_and_assign_down_resume_exactly_once)
{
    harness_opts_t opts = {.leads_extra = "  assign_timeout_ms: 1500\n"};
    h = harness_start_opts(&opts);
    cr_assert_not_null(h);
    long long users[3];
    cr_assert_gt(harness_seed_pool(h, "imr", 3, users), 0);
    cr_assert_gt(contact_pool(users), 0);
    const int n = 3000;
    char path[512], args[700], out[8192];
    snprintf(path, sizeof path, "%s/big.csv", harness_dir(h));
    big_file(path, n);

    /* Ctrl-C mid-file. */
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        char bin[512];
        snprintf(bin, sizeof bin, "%s/tools/crmctl/crmctl", CRM_BUILD_DIR);
        freopen("/dev/null", "w", stdout);
        execl(bin, bin, "--config", harness_config_path(h), "import", "contacts", path, "--batch", "50",
              "--owner", "pool:Contact pool", (char *)NULL);
        _exit(127);
    }
    cr_assert(harness_wait_until(h, harness_ms(60000), some_stored, NULL, "a first batch"));
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    long long first = harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE import_id IS NOT NULL");
    cr_expect_lt(first, n);

    /* crm-assign down: the batch fails (retried, then crmctl gives up); nothing stored unowned. */
    cr_assert_eq(harness_kill(h, "assign"), 0);
    snprintf(args, sizeof args, "import contacts '%s' --batch 500 --owner 'pool:Contact pool'", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 1, "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE import_id IS NOT NULL"),
                 first, "nothing stored while owners cannot be picked");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE owner_id IS NULL"), 0);
    cr_assert_eq(harness_restart(h, "assign"), 0);

    /* The same command again finishes: every row once, every contact owned, one pick each. */
    st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "finished"), "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE import_id IS NOT NULL"), n);
    cr_expect_eq(harness_sql_long(h, "SELECT count(DISTINCT lower(email)) FROM leads.contacts"), n);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE owner_id IS NULL"), 0);
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM assign.assignments WHERE resource_type = 'contact'"), n,
        "one assignment per contact: no pick repeated or lost across the runs");
    cr_expect_eq(
        harness_sql_long(h, "SELECT max(c) - min(c) FROM (SELECT count(*) c FROM leads.contacts GROUP BY "
                            "owner_id) s"),
        0, "the pool's turns went round evenly (3000 = 3 x 1000)");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'import.finished'"), 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.import_reservations"), 0,
                 "the reservations are gone once their rows are stored");
}

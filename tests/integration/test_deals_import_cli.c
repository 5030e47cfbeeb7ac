/* `crmctl import deals FILE.csv` end to end on a real stack (crmctl → deals.import_batch →
 * contacts.resolve in crm-leads, assign.pick_bulk in crm-assign → import.finished → crm-notify): a
 * Salesforce opportunity export mapped by its headers, contacts found by account name and e-mail,
 * bad rows in FILE.rejected.csv with line and reason, owners from the default deal pool in line
 * order, a formula cell kept as text, one digest per owner, a rerun storing nothing twice, a dry
 * run storing nothing, --owner pool:NAME and --owner EMAIL. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_import_cli, .fini = stop_stack, .timeout = 900);

static long long sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql(const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return harness_sql_long(h, q);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* A Salesforce opportunity export. */
static const char opportunities[] =
    "Opportunity Name,Amount,CurrencyIsoCode,StageName,Account Name,Email,CloseDate,Tags,Region\r\n"
    "Big deal,1200.50,EUR,Qualified,acme corp,,2027-03-01,\"a, b\",North\r\n" /* 2 */
    "Second,300,USD,,,ANN@example.com,,,South\r\n"                            /* 3 */
    ",5,USD,,,,,,\r\n"                                                        /* 4: no name */
    "Bad value,\"12,5\",USD,,,,,,\r\n"                                        /* 5 */
    "Bad stage,1,USD,Nope,,,,,\r\n"                                           /* 6 */
    "Who,1,USD,,Nobody Inc,,,,\r\n"                                           /* 7 */
    "ragged,row\r\n"                                                          /* 8 */
    "=HYPERLINK(\"http://x\"),7,USD,Quote,,ann@example.com,,,\r\n";           /* 9 */

static bool three_digests(harness_t *self, void *arg)
{
    (void)arg;
    return harness_sql_long(self,
                            "SELECT count(*) FROM notify.notifications WHERE event_id LIKE 'import:%'") == 3;
}

Test(deals_import_cli, opportunities_file)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long u[3];
    for (int i = 0; i < 3; i++) {
        char name[32], email[64];
        snprintf(name, sizeof name, "cli user %d", i + 1);
        snprintf(email, sizeof email, "cli-%d@example.com", i + 1);
        u[i] = harness_create(h, "users",
                              json_pack("{s:s,s:s,s:s}", "name", name, "email", email, "role", "sales"));
        cr_assert_gt(u[i], 0);
    }
    cr_assert_gt(harness_create(h, "distribution_pools",
                                json_pack("{s:s,s:s,s:[I,I,I],s:b}", "name", "Deals", "resource_type", "deal",
                                          "user_ids", u[0], u[1], u[2], "default", 1)),
                 0);
    cr_assert_gt(harness_create(
                     h, "distribution_pools",
                     json_pack("{s:s,s:s,s:[I]}", "name", "Big", "resource_type", "deal", "user_ids", u[2])),
                 0);
    long long ann = harness_create(
        h, "contacts",
        json_pack("{s:s,s:s,s:s}", "first_name", "Ann", "last_name", "Lee", "email", "ann@example.com"));
    long long acme =
        harness_create(h, "contacts", json_pack("{s:b,s:s}", "is_organization", 1, "name", "Acme Corp"));
    cr_assert_gt(ann, 0);
    cr_assert_gt(acme, 0);

    char path[512], args[1400], out[8192];
    snprintf(path, sizeof path, "%s/opportunities.csv", harness_dir(h));
    write_file(path, opportunities);
    snprintf(args, sizeof args, "import deals '%s'", path);
    int st = harness_crmctl(h, args, out, sizeof out);
    char errlog[600];
    snprintf(errlog, sizeof errlog, "%s/crmctl-stderr.log", harness_dir(h));
    cr_assert_eq(st, 0, "crmctl import deals: %d\n%s\n%s", st, out, harness_slurp(errlog));
    cr_expect(strstr(out, "Region"), "the unknown column is reported: %s", out);

    /* Stored: 3 deals (lines 2, 3, 9), owners 1, 2, 3 of the default deal pool in line order. */
    cr_expect_eq(sql("SELECT count(*) FROM deals.deals WHERE import_id IS NOT NULL"), 3);
    const long long lines[3] = {2, 3, 9};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(sql("SELECT owner_id FROM deals.deals WHERE import_line = %lld", lines[i]), u[i],
                     "line %lld", lines[i]);
    cr_expect_eq(
        sql("SELECT count(*) FROM deals.deals WHERE import_line = 2 AND name = 'Big deal' AND value = "
            "1200.50 AND currency = 'EUR' AND contact_id = %lld AND estimated_close_date = '2027-03-01' "
            "AND tags = '{a,b}' AND stage_id = (SELECT id FROM deals.stages WHERE name = 'Qualified')",
            acme),
        1, "line 2 mapped");
    cr_expect_eq(sql("SELECT contact_id FROM deals.deals WHERE import_line = 3"), ann, "contact by e-mail");
    cr_expect_eq(sql("SELECT count(*) FROM deals.deals WHERE import_line = 9 AND name = "
                     "'=HYPERLINK(\"http://x\")'"),
                 1, "the formula is kept as text");
    cr_expect_eq(sql("SELECT flagged FROM deals.imports"), 1);
    const char *rej = harness_slurp(strcat(strcpy(args, path), ".rejected.csv"));
    cr_assert_not_null(rej, "FILE.rejected.csv");
    const char *want[] = {"\"4\",\"missing name\"", "\"5\",\"bad value", "\"6\",\"unknown stage \"\"Nope\"\"",
                          "\"7\",\"unknown contact \"\"Nobody Inc\"\"",
                          "\"8\",\"2 fields, the header has 9\""};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(rej, want[i]), "rejected.csv has %s:\n%s", want[i], rej);

    /* One import.finished, one digest per owner, no owner.assigned. */
    cr_expect_eq(sql("SELECT count(*) FROM deals.outbox WHERE type = 'import.finished'"), 1);
    cr_expect(harness_wait_until(h, harness_ms(30000), three_digests, NULL, "3 digests"));
    cr_expect_eq(sql("SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND message = 'Import "
                     "opportunities.csv: 1 new deal assigned to you'",
                     u[1]),
                 1);
    cr_expect_eq(sql("SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'"), 0);

    /* The same command again: nothing stored twice, no second import.finished. */
    snprintf(args, sizeof args, "import deals '%s'", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0, "%s", out);
    cr_expect_eq(sql("SELECT count(*) FROM deals.deals WHERE import_id IS NOT NULL"), 3);
    cr_expect_eq(sql("SELECT count(*) FROM deals.outbox WHERE type = 'import.finished'"), 1);

    /* A dry run of another file stores nothing. */
    char p2[512];
    snprintf(p2, sizeof p2, "%s/more.csv", harness_dir(h));
    write_file(p2, "Deal Name,Value\nThird,1\nFourth,2\n");
    snprintf(args, sizeof args, "import deals '%s' --dry-run", p2);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0, "%s", out);
    cr_expect_eq(sql("SELECT count(*) FROM deals.deals WHERE import_id IS NOT NULL"), 3, "dry run: nothing");

    /* --owner pool:Big (one member): both to member 3; the default pool's cursor did not move. */
    snprintf(args, sizeof args, "import deals '%s' --owner pool:Big", p2);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0, "%s", out);
    cr_expect_eq(
        sql("SELECT count(*) FROM deals.deals WHERE name IN ('Third', 'Fourth') AND owner_id = %lld", u[2]),
        2);
    /* --owner EMAIL on a third file; then the default pool goes on with member 1. */
    char p3[512];
    snprintf(p3, sizeof p3, "%s/third.csv", harness_dir(h));
    write_file(p3, "Deal Name\nFifth\n");
    snprintf(args, sizeof args, "import deals '%s' --owner cli-2@example.com", p3);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0, "%s", out);
    cr_expect_eq(sql("SELECT owner_id FROM deals.deals WHERE name = 'Fifth'"), u[1]);
    char p4[512];
    snprintf(p4, sizeof p4, "%s/fourth.csv", harness_dir(h));
    write_file(p4, "Deal Name\nSixth\n");
    snprintf(args, sizeof args, "import deals '%s'", p4);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0, "%s", out);
    cr_expect_eq(sql("SELECT owner_id FROM deals.deals WHERE name = 'Sixth'"), u[0],
                 "default pool: member 1 next");
}

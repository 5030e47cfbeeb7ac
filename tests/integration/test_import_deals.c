/* crmctl import deals end to end (SPEC A3, session 5): a file with Sell's deal import columns goes
 * through crmctl's mapping (name, value, currency, pipeline, stage, contact by e-mail or name,
 * tags, estimated close date, hot, source) to crm-deals' deals.import_batch; rows crmctl or
 * crm-deals refuse land in FILE.rejected.csv with their reasons; owners come from the deal pool in
 * bulk (round robin in line order, no owner.assigned per row); exactly one import.finished; the same
 * command again stores nothing twice. */
#include <criterion/criterion.h>
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

TestSuite(import_deals, .fini = stop_stack, .timeout = 900);

static long long q1(const char *fmt, long long a)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fmt, a);
    return harness_sql_long(h, sql);
}

static const char sell_deals[] =
    "Deal Name,Deal Value,Currency,Pipeline,Stage,Contact Email,Primary Contact,Tags,Estimated Close "
    "Date,Hot,Source,Region\n"                                                     /* 1 */
    "Deal A,1200.50,EUR,,,ANN@example.com,,\"big, q1\",2027-01-31,yes,fair,EMEA\n" /* 2 */
    "Deal B,500,,Sales Pipeline,Quote,,,,,no,,\n"                                  /* 3 */
    "Deal C,\"12,00\",,,,,,,,,,\n"                                                 /* 4: value */
    "ragged,row\n"                                                                 /* 5 */
    "Deal D,10,,,,,acme corp,,,,,\n"                                               /* 6: by name */
    "Deal E,1,,,,nobody@example.com,,,,,,\n"                                       /* 7: contact */
    "Deal F,7,,,,,,,,maybe,,\n";                                                   /* 8: hot */

Test(import_deals, sell_columns_end_to_end)
{
    h = harness_start();
    cr_assert_not_null(h);
    long long u[3];
    for (int i = 0; i < 3; i++) {
        char name[32], email[64];
        snprintf(name, sizeof name, "imd user %d", i + 1);
        snprintf(email, sizeof email, "imd-%d@example.com", i + 1);
        u[i] = harness_create(h, "users",
                              json_pack("{s:s,s:s,s:s}", "name", name, "email", email, "role", "sales"));
        cr_assert_gt(u[i], 0);
    }
    cr_assert_gt(harness_create(h, "distribution_pools",
                                json_pack("{s:s,s:s,s:[I,I,I]}", "name", "Deal pool", "resource_type", "deal",
                                          "user_ids", (json_int_t)u[0], (json_int_t)u[1], (json_int_t)u[2])),
                 0);
    long long ann = harness_create(
        h, "contacts",
        json_pack("{s:s,s:s,s:s}", "first_name", "Ann", "last_name", "Lee", "email", "ann@example.com"));
    long long acme =
        harness_create(h, "contacts", json_pack("{s:b,s:s}", "is_organization", 1, "name", "Acme Corp"));
    cr_assert_gt(ann, 0);
    cr_assert_gt(acme, 0);
    long long assigned0 =
        harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'");

    char path[512], args[1200], out[8192];
    snprintf(path, sizeof path, "%s/deals.csv", harness_dir(h));
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(sell_deals, f);
    fclose(f);
    snprintf(args, sizeof args, "import deals '%s' --owner 'pool:Deal pool'", path);
    int st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "crmctl: %d\n%s\n%s", st, out,
                 harness_slurp(strcat(strcpy(args, harness_dir(h)), "/crmctl-stderr.log")));
    cr_expect(strstr(out, "finished"), "%s", out);
    cr_expect(
        strstr(out, "3 created, 0 merged into existing deals, 0 duplicates within the file, 4 rejected"),
        "%s", out);
    cr_expect(strstr(out, "Region"), "the unknown column is reported: %s", out);

    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals WHERE import_id IS NOT NULL"), 3);
    cr_expect_eq(
        q1("SELECT count(*) FROM deals.deals WHERE name = 'Deal A' AND value = 1200.50 AND currency = 'EUR' "
           "AND hot AND contact_id = %lld AND tags = '{big,q1}' AND estimated_close_date = '2027-01-31'",
           ann),
        1, "Deal A mapped: value, currency, hot, contact by e-mail, tags, close date");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals d JOIN deals.deal_sources s ON s.id = "
                                     "d.source_id WHERE d.name = 'Deal A' AND s.name = 'fair'"),
                 1, "the row's source");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM deals.deals d JOIN deals.stages s ON s.id = d.stage_id "
                            "WHERE d.name = 'Deal B' AND s.name = 'Quote' AND NOT d.hot"),
        1, "pipeline and stage by name");
    cr_expect_eq(q1("SELECT count(*) FROM deals.deals WHERE name = 'Deal D' AND contact_id = %lld", acme), 1,
                 "the contact by name");

    const char *text = NULL;
    char rej[600];
    snprintf(rej, sizeof rej, "%s.rejected.csv", path);
    text = harness_slurp(rej);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"4\","), "%s", text);
    cr_expect(strstr(text, "\"5\",\"2 fields, the header has 12\""), "%s", text);
    cr_expect(strstr(text, "\"7\","), "%s", text);
    cr_expect(strstr(text, "\"8\",\"hot: 'maybe' is not yes or no (column Hot)\""), "%s", text);

    /* Owners: the deal pool's turns in line order (A, B, D), no owner.assigned for any of them. */
    const char *order[3] = {"Deal A", "Deal B", "Deal D"};
    for (int i = 0; i < 3; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT owner_id FROM deals.deals WHERE name = '%s'", order[i]);
        cr_expect_eq(harness_sql_long(h, sql), u[i], "turn %d", i + 1);
    }
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.assignments WHERE resource_type = 'deal'"),
                 3);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'import.finished'"), 1);

    snprintf(args, sizeof args, "import deals '%s' --owner 'pool:Deal pool'", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 0);
    cr_expect(strstr(out, "already finished"), "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals WHERE import_id IS NOT NULL"), 3);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'import.finished'"), 1);
    /* the contacts' own owner.assigned (created by the admin: manual) may still come; none for deals */
    cr_expect_leq(harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'"),
                  assigned0 + 2);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.assignments WHERE resource_type = 'deal'"),
                 3, "crm-assign did not pick the imported deals again from their deal.created");

    /* A lead pool is no deal pool. */
    snprintf(args, sizeof args, "import deals '%s' --owner pool:Nowhere", path);
    cr_expect_eq(harness_crmctl(h, args, out, sizeof out), 1);
}

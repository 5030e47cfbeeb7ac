/* Custom columns of `crmctl import` on a real stack: a deals file whose columns name deal custom
 * fields (GET /v2/deals/{id} shows the typed values), hostile values rejected with line and reason
 * in FILE.rejected.csv (formula text in a number field, an impossible date, an unknown option, a
 * string over its 255 characters, 1 MB in a text field, a bad bool / multi-select), a formula kept
 * as text where the field is text; and the same shared checker for leads and contacts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(import_custom, .fini = stop_stack, .timeout = 900);

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* POST /v2/<rtype>/custom_fields as admin; choices a NULL-terminated list or NULL. */
static void custom_field(const char *rtype, const char *name, const char *type, const char *const *choices)
{
    json_t *data = json_pack("{s:s,s:s}", "name", name, "type", type);
    if (choices) {
        json_t *arr = json_array();
        for (size_t i = 0; choices[i]; i++)
            json_array_append_new(arr, json_pack("{s:s}", "name", choices[i]));
        json_object_set_new(data, "choices", arr);
    }
    json_t *body = json_pack("{s:o}", "data", data);
    char path[64];
    snprintf(path, sizeof path, "/v2/%s/custom_fields", rtype);
    harness_resp_t *r = harness_api(h, "POST", path, harness_admin_token(h), body);
    json_decref(body);
    cr_assert_eq(r->status, 200, "%s %s: %s", rtype, name, r->body);
    harness_resp_destroy(&r);
}

/* Runs crmctl import; asserts it exited 0; out gets its stdout. */
static void import(const char *what, const char *path, char *out, size_t len)
{
    char args[1200], errlog[600];
    snprintf(args, sizeof args, "import %s '%s'", what, path);
    int st = harness_crmctl(h, args, out, len);
    snprintf(errlog, sizeof errlog, "%s/crmctl-stderr.log", harness_dir(h));
    cr_assert_eq(st, 0, "crmctl %s: %d\n%s\n%s", args, st, out, harness_slurp(errlog));
}

static void expect_rejects(const char *path, const char *const *want, size_t n)
{
    char rp[600];
    snprintf(rp, sizeof rp, "%s.rejected.csv", path);
    const char *rej = harness_slurp(rp);
    cr_assert_not_null(rej, "%s", rp);
    for (size_t i = 0; i < n; i++)
        cr_expect(strstr(rej, want[i]), "%s has %s:\n%.2000s", rp, want[i], rej);
}

Test(import_custom, deals_leads_contacts)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    static const char *const kinds[] = {"New", "Upsell", NULL}, *const areas[] = {"North", "South", "East",
                                                                                  NULL};
    custom_field("deal", "Budget", "number", NULL);
    custom_field("deal", "Close", "date", NULL);
    custom_field("deal", "Kind", "list", kinds);
    custom_field("deal", "Areas", "multi_select_list", areas);
    custom_field("deal", "Flag", "bool", NULL);
    custom_field("deal", "Nick", "string", NULL);
    custom_field("deal", "Notes", "text", NULL);

    /* The deals file: a 300-character string and 1,000,000 bytes of text come last (the rejected
     * file then keeps the short lines within what harness_slurp reads). */
    size_t big = 1000000;
    char *csv = malloc(big + 4096);
    int n = sprintf(
        csv, "Deal Name,Budget,Close,Kind,Areas,Flag,Nick,Notes,Region\r\n"
             "Alpha,1200.50,2027-01-31,upsell,North;south,yes,\"=cmd|' /C calc'!A0\",a note,X\r\n" /* 2 */
             "Beta,=1+1,,,,,,,\r\n"          /* 3: formula in a number field */
             "Gamma,,2027-02-30,,,,,,\r\n"   /* 4: no such day */
             "Delta,,,Renewal,,,,,\r\n"      /* 5: unknown option */
             "Epsilon,,,,North;West,,,,\r\n" /* 6: unknown option of a multi-select */
             "Zeta,,,,,maybe,,,\r\n"         /* 7: not a bool */
             "Eta,,,,,,,,\r\n"               /* 8: no custom value */
             "Theta,,,,,,");                 /* 9: 300 characters in a string field */
    memset(csv + n, 'n', 300);
    n += 300;
    n += sprintf(csv + n, ",,\r\nIota,,,,,,,"); /* 10: 1 MB in a text field */
    memset(csv + n, 'x', big);
    n += (int)big;
    n += sprintf(csv + n, ",\r\n");
    char path[512], out[8192];
    snprintf(path, sizeof path, "%s/deals.csv", harness_dir(h));
    write_file(path, csv);
    free(csv);
    import("deals", path, out, sizeof out);
    cr_expect(strstr(out, "2 created"), "%s", out);
    cr_expect(strstr(out, "7 rejected"), "%s", out);
    cr_expect(strstr(out, "not imported (no such field or custom field): Region\n"),
              "only Region is reported: %s", out);
    static const char *const deal_rejects[] = {
        "\"3\",\"custom field 'Budget': not a number\"",
        "\"4\",\"custom field 'Close': not a date (YYYY-MM-DD)\"",
        "\"5\",\"custom field 'Kind': not one of the field's choices\"",
        "\"6\",\"custom field 'Areas': not one of the field's choices\"",
        "\"7\",\"custom field 'Flag': not true or false\"",
        "\"9\",\"custom field 'Nick': longer than 255 characters\"",
        "\"10\",\"custom field 'Notes': longer than 65536 bytes\""};
    expect_rejects(path, deal_rejects, sizeof deal_rejects / sizeof *deal_rejects);
    cr_expect_eq(harness_sql_long(h, "SELECT flagged FROM deals.imports"), 2, "the formula rows are flagged");
    cr_expect(strstr(out, "formula-like cells (kept as text), lines 2, 3"), "%s", out);

    /* GET /v2/deals/{id}: the typed values. */
    long long alpha = harness_sql_long(h, "SELECT id FROM deals.deals WHERE name = 'Alpha'");
    cr_assert_gt(alpha, 0);
    char url[64];
    snprintf(url, sizeof url, "/v2/deals/%lld", alpha);
    harness_resp_t *r = harness_api(h, "GET", url, harness_admin_token(h), NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *cf = json_object_get(json_object_get(r->json, "data"), "custom_fields");
    json_t *want = json_pack("{s:s,s:s,s:s,s:[s,s],s:b,s:s,s:s}", "Budget", "1200.50", "Close", "2027-01-31",
                             "Kind", "Upsell", "Areas", "North", "South", "Flag", 1, "Nick",
                             "=cmd|' /C calc'!A0", "Notes", "a note");
    char *got = json_dumps(cf, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect(json_equal(cf, want), "custom_fields: %s", got);
    free(got);
    json_decref(want);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals WHERE name = 'Eta' AND custom_fields "
                                     "= '{}'"),
                 1);
    /* deal.created carries them (subscribers see what was stored). */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.created'"), 2);

    /* The API applies the same limit: 256 characters in a string field → 422, 255 → 200. */
    char nick[300];
    memset(nick, 'n', 256);
    nick[256] = '\0';
    json_t *body = json_pack("{s:{s:s,s:{s:s}}}", "data", "name", "Api", "custom_fields", "Nick", nick);
    r = harness_api(h, "POST", "/v2/deals", harness_admin_token(h), body);
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(r->body, "longer than 255 characters"), "%s", r->body);
    harness_resp_destroy(&r);
    json_decref(body);
    nick[255] = '\0';
    body = json_pack("{s:{s:s,s:{s:s}}}", "data", "name", "Api", "custom_fields", "Nick", nick);
    r = harness_api(h, "POST", "/v2/deals", harness_admin_token(h), body);
    cr_expect_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);
    json_decref(body);

    /* Salesforce's closed stages and Probability (%). */
    snprintf(path, sizeof path, "%s/opportunities.csv", harness_dir(h));
    long long price = harness_create(h, "loss_reasons", json_pack("{s:s}", "name", "Price"));
    cr_assert_gt(price, 0);
    write_file(path, "Opportunity Name,StageName,Probability (%),Loss Reason\n"
                     "Won one,Closed Won,100%,\n"      /* 2 */
                     "Lost one,closed lost,0,price\n"  /* 3: the existing reason */
                     "Odd,Pondering,10,\n"             /* 4 */
                     "Too likely,Closed Won,150,\n"    /* 5 */
                     "Half,Qualified, 40 %, Timing \n" /* 6: a new reason */
                     "Early,Prospecting,,\n"           /* 7: Salesforce's 10% → Incoming (10) */
                     "Talks,negotiation/review,,\n"    /* 8: 90% → Closure (75) */
                     "Needs,Needs Analysis,,\n");      /* 9: 20% → Qualified (25) */
    import("deals", path, out, sizeof out);
    cr_expect(strstr(out, "6 created"), "%s", out);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals d JOIN deals.stages s ON s.id = "
                                     "d.stage_id WHERE (d.name, s.name) IN (('Early', 'Incoming'), ('Talks', "
                                     "'Closure'), ('Needs', 'Qualified'))"),
                 3, "Salesforce's open stages by their default probability");
    static const char *const sf_rejects[] = {
        "\"4\",\"unknown stage \"\"Pondering\"\" in pipeline \"\"Sales Pipeline\"\"\"",
        "\"5\",\"win likelihood '150' is not 0 to 100 (column Probability (%))\""};
    expect_rejects(path, sf_rejects, 2);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals d JOIN deals.stages s ON s.id = "
                                     "d.stage_id WHERE (d.name, s.name, d.customized_win_likelihood) IN "
                                     "(('Won one', 'Won', 100), ('Lost one', 'Lost', 0), ('Half', "
                                     "'Qualified', 40))"),
                 3, "closed stages by category, likelihood stored");
    char lq[300];
    snprintf(lq, sizeof lq,
             "SELECT count(*) FROM deals.deals WHERE name = 'Lost one' AND loss_reason_id = %lld", price);
    cr_expect_eq(harness_sql_long(h, lq), 1, "loss reason by name, any case");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals d JOIN deals.loss_reasons r ON r.id = "
                                     "d.loss_reason_id WHERE d.name = 'Half' AND r.name = 'Timing'"),
                 1, "a new loss reason is created");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.loss_reasons"), 2);

    /* An owner column (Salesforce's Opportunity Owner): a user by e-mail or name, a manual assignment;
     * a row without one falls back (no default deal pool here: nobody), an unknown one is rejected. */
    long long u1 = harness_create(
        h, "users",
        json_pack("{s:s,s:s,s:s}", "name", "Owner One", "email", "own-1@example.com", "role", "sales"));
    long long u2 = harness_create(
        h, "users",
        json_pack("{s:s,s:s,s:s}", "name", "Owner Two", "email", "own-2@example.com", "role", "sales"));
    cr_assert_gt(u1, 0);
    cr_assert_gt(u2, 0);
    snprintf(path, sizeof path, "%s/owned.csv", harness_dir(h));
    write_file(path, "Opportunity Name,Opportunity Owner\n"
                     "O1,OWN-1@example.com\n"   /* 2 */
                     "O2, owner two\n"          /* 3 */
                     "O3,\n"                    /* 4 */
                     "O4,nobody@example.com\n"  /* 5 */
                     "O5,own-1@example.com\n"); /* 6 */
    import("deals", path, out, sizeof out);
    cr_expect(strstr(out, "4 created"), "%s", out);
    static const char *const owner_rejects[] = {
        "\"5\",\"no active user for owner 'nobody@example.com' (column Opportunity Owner)\""};
    expect_rejects(path, owner_rejects, 1);
    char q[400];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM deals.deals WHERE (name, owner_id) IN (('O1', %lld), ('O2', %lld), ('O5', "
             "%lld)) AND import_id IS NOT NULL",
             u1, u2, u1);
    cr_expect_eq(harness_sql_long(h, q), 3, "owners by e-mail and name");
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM deals.deals WHERE name = 'O3' AND owner_id IS NULL"), 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.assignments a JOIN deals.deals d ON d.id = "
                                     "a.resource_id AND a.resource_type = 'deal' AND a.owner_id = d.owner_id "
                                     "WHERE d.name IN ('O1', 'O2', 'O5') AND a.kind = 'manual'"),
                 3, "manual assignments recorded in crm-assign");

    /* Leads and contacts: the same checker. */
    custom_field("lead", "Score", "number", NULL);
    custom_field("lead", "Met On", "date", NULL);
    snprintf(path, sizeof path, "%s/leads.csv", harness_dir(h));
    write_file(path, "first_name,last_name,Score,Met On\n"
                     "Ann,Lee,42,2027-01-01\n" /* 2 */
                     "Bob,Ray,=SUM(A1:A9),\n"  /* 3 */
                     "Cid,Moe,,2027-02-30\n"   /* 4 */
                     "Dee,Fox,\"1,5\",\n");    /* 5 */
    import("leads", path, out, sizeof out);
    cr_expect(strstr(out, "1 created"), "%s", out);
    static const char *const lead_rejects[] = {"\"3\",\"custom field 'Score': not a number\"",
                                               "\"4\",\"custom field 'Met On': not a date (YYYY-MM-DD)\"",
                                               "\"5\",\"custom field 'Score': not a number\""};
    expect_rejects(path, lead_rejects, sizeof lead_rejects / sizeof *lead_rejects);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE last_name = 'Lee' AND "
                                     "custom_fields = '{\"Score\": \"42\", \"Met On\": \"2027-01-01\"}'"),
                 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE import_id IS NOT NULL"), 1);

    static const char *const tiers[] = {"Gold", "Silver", NULL};
    custom_field("contact", "Tier", "list", tiers);
    snprintf(path, sizeof path, "%s/contacts.csv", harness_dir(h));
    write_file(path, "first_name,last_name,Tier\n"
                     "Ann,Cole,gold\n"     /* 2 */
                     "Bo,Dee,Platinum\n"); /* 3 */
    import("contacts", path, out, sizeof out);
    cr_expect(strstr(out, "1 created"), "%s", out);
    static const char *const contact_rejects[] = {
        "\"3\",\"custom field 'Tier': not one of the field's choices\""};
    expect_rejects(path, contact_rejects, 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE last_name = 'Cole' AND "
                                     "custom_fields->>'Tier' = 'Gold'"),
                 1);
}

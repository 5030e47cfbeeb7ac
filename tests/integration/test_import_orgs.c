/* crmctl import contacts: a person row whose company (Account Name / organization_name) matches no
 * organization contact makes that organization (is_organization, the owner of the first person
 * naming it, one for all the rows naming it in any spelling of case and blanks, across batches),
 * and the persons link to it (contact_id); a company that exists (any case) or that an
 * organization row of the file makes is not made again. The organizations' owners are manual
 * assignments in crm-assign (no owner.assigned, counted in the digest). */
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

TestSuite(import_orgs, .fini = stop_stack, .timeout = 900);

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

Test(import_orgs, unknown_company_makes_one_organization)
{
    h = harness_start();
    cr_assert_not_null(h);
    const char *admin = harness_admin_token(h);
    long long users[3];
    cr_assert_gt(harness_seed_pool(h, "iorg", 3, users), 0);
    long long pool = harness_create(h, "distribution_pools",
                                    json_pack("{s:s,s:s,s:[I,I,I]}", "name", "Contact pool", "resource_type",
                                              "contact", "user_ids", (json_int_t)users[0],
                                              (json_int_t)users[1], (json_int_t)users[2]));
    cr_assert_gt(pool, 0);
    long long acme =
        harness_create(h, "contacts", json_pack("{s:b,s:s}", "is_organization", 1, "name", "Acme Corp"));
    cr_assert_gt(acme, 0);
    long long mia = harness_create(
        h, "contacts",
        json_pack("{s:s,s:s,s:s}", "first_name", "", "last_name", "Merge", "email", "mia@orgs.test"));
    cr_assert_gt(mia, 0);
    char wait[200];
    snprintf(wait, sizeof wait,
             "SELECT count(*) FROM assign.ownership WHERE resource_type = 'contact' AND resource_id = %lld",
             acme);
    harness_wait_until(h, harness_ms(30000), is_one, wait, "Acme's owner noted");
    long long assigned0 =
        harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'");

    char path[512], args[1200], out[8192];
    snprintf(path, sizeof path, "%s/people.csv", harness_dir(h));
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("FirstName,LastName,Account Name,Email\n", f);
    const char *spelling[3] = {"Initech", "INITECH", " initech "};
    for (int i = 0; i < 100; i++) /* lines 2..101 */
        fprintf(f, "Pat,P%d,%s,p%d@orgs.test\n", i, spelling[i % 3], i);
    fputs("Ann,Acme,acme corp,ann@orgs.test\n"       /* 102: the existing Acme Corp */
          "Uma,Umbrella,Umbrella Co,uma@orgs.test\n" /* 103: a new company */
          ",,Globex,\n"                              /* 104: an organization row */
          "Gil,Globex,globex,gil@orgs.test\n"        /* 105: its person */
          "Mia,Merge,ACME CORP,mia@orgs.test\n",     /* 106: merges into Mia, linked to Acme Corp */
          f);
    fclose(f);
    snprintf(args, sizeof args, "import contacts '%s' --owner 'pool:Contact pool' --batch 40", path);
    int st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "crmctl: %d\n%s\n%s", st, out,
                 harness_slurp(strcat(strcpy(args, harness_dir(h)), "/crmctl-stderr.log")));
    /* 104 rows of the file + 2 organizations made (Initech, Umbrella Co) */
    cr_expect(strstr(out, "106 created, 1 merged"), "%s", out);
    cr_expect_eq(q1("SELECT count(*) FROM leads.contacts WHERE id = %lld AND first_name = 'Mia' AND "
                    "contact_id = (SELECT "
                    "id FROM leads.contacts WHERE is_organization AND name = 'Acme Corp')",
                    mia),
                 1, "a merged person without an organization is linked to the one its row names");

    long long initech = harness_sql_long(h, "SELECT id FROM leads.contacts WHERE is_organization AND "
                                            "lower(name) = 'initech' AND name = 'Initech'");
    cr_assert_gt(initech, 0, "the organization, spelled as the first row has it");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE is_organization AND "
                                     "lower(btrim(name)) = 'initech'"),
                 1, "one organization for 100 rows in three batches");
    cr_expect_eq(
        q1("SELECT count(*) FROM leads.contacts WHERE NOT is_organization AND contact_id = %lld", initech),
        100, "every person of the company linked to it");
    cr_expect_eq(
        q1("SELECT count(*) FROM leads.contacts WHERE id = %lld AND owner_id = (SELECT owner_id FROM "
           "leads.contacts WHERE email = 'p0@orgs.test')",
           initech),
        1, "owned by the owner of its first person");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE is_organization AND "
                                     "lower(name) = 'acme corp'"),
                 1, "an existing organization is not made again");
    cr_expect_eq(
        q1("SELECT count(*) FROM leads.contacts WHERE email = 'ann@orgs.test' AND contact_id = %lld", acme),
        1);
    long long umbrella =
        harness_sql_long(h, "SELECT id FROM leads.contacts WHERE is_organization AND name = 'Umbrella Co'");
    cr_assert_gt(umbrella, 0);
    cr_expect_eq(
        q1("SELECT count(*) FROM leads.contacts c WHERE c.email = 'uma@orgs.test' AND c.contact_id = %lld "
           "AND c.owner_id = (SELECT owner_id FROM leads.contacts WHERE id = c.contact_id)",
           umbrella),
        1, "linked, and the organization has the person's owner");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts WHERE is_organization AND "
                                     "lower(name) = 'globex'"),
                 1, "the file's organization row is the company of its persons");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.contacts p JOIN leads.contacts o ON o.id = "
                                     "p.contact_id WHERE p.email = 'gil@orgs.test' AND o.name = 'Globex'"),
                 1);

    /* Through the API: the person's contact_id, the organization's timeline. */
    char url[128];
    long long p0 = harness_sql_long(h, "SELECT id FROM leads.contacts WHERE email = 'p0@orgs.test'");
    snprintf(url, sizeof url, "/v2/contacts/%lld", p0);
    harness_resp_t *r = harness_api(h, "GET", url, admin, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r->json, "data"), "contact_id")), initech,
                 "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(url, sizeof url, "/v2/contacts/%lld/activities", initech);
    r = harness_api(h, "GET", url, admin, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(strstr(r->body, "/people.csv, the company named on line 2"), "%s", r->body);
    harness_resp_destroy(&r);

    /* crm-assign: one manual assignment per organization made, with its owner; nothing announced. */
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM assign.assignments a JOIN leads.contacts c ON c.id = a.resource_id WHERE "
             "a.resource_type = 'contact' AND c.id IN (%lld, %lld) AND a.kind = 'manual' AND a.owner_id = "
             "c.owner_id",
             initech, umbrella);
    cr_expect_eq(harness_sql_long(h, sql), 2);
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM leads.contacts c WHERE c.import_id IS NOT NULL AND "
                                  "(SELECT count(*) FROM assign.assignments a WHERE a.resource_type = "
                                  "'contact' AND a.resource_id = c.id AND a.owner_id = c.owner_id) <> 1"),
                 0, "every imported contact: exactly one assignment, its owner");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.assignments a WHERE a.resource_type = "
                                     "'contact' AND NOT EXISTS (SELECT 1 FROM leads.contacts c WHERE c.id = "
                                     "a.resource_id)"),
                 0, "no assignment for a contact that does not exist");
    cr_expect_eq(harness_sql_long(h, "SELECT sum(created) FROM leads.import_owner_counts"), 106);
    /* A contact given to the pool through the API after the import: crm-assign (one stream) has
     * applied every contact.created of the import once it is owned. */
    char body[64];
    snprintf(body, sizeof body, "pool:%lld", pool);
    long long api =
        harness_create(h, "contacts", json_pack("{s:s,s:s}", "last_name", "Api", "owner_id", body));
    cr_assert_gt(api, 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.contacts WHERE id = %lld AND owner_id IS NOT NULL",
             api);
    cr_assert(harness_wait_until(h, harness_ms(60000), is_one, sql, "the API contact owned"));
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'"),
                 assigned0 + 1, "no owner.assigned for imported contacts or their organizations");
}

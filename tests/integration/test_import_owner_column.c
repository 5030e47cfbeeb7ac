/* crmctl import leads|contacts with a per-row owner column (Lead Owner / Contact Owner / Owner
 * Email / Owner, as the deals import has): an active user by e-mail or name (any case, blanks
 * around) owns that row (a manual assignment, one assign.pick_bulk per owner, no turn of the pool
 * taken); a blank cell falls back to --owner; an unknown or inactive user rejects the row with that
 * reason in FILE.rejected.csv. */
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

TestSuite(import_owner_column, .fini = stop_stack, .timeout = 900);

static bool is_one(harness_t *self, void *arg)
{
    return harness_sql_long(self, arg) == 1;
}

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, strlen(data), f), strlen(data));
    fclose(f);
}

static long long owner_of(const char *table, const char *email)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT owner_id FROM leads.%s WHERE email = '%s'", table, email);
    return harness_sql_long(h, sql);
}

static long long assignment_kind_is(const char *type, const char *table, const char *email, const char *kind)
{
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM assign.assignments a JOIN leads.%s r ON r.id = a.resource_id WHERE "
             "a.resource_type = '%s' AND r.email = '%s' AND a.kind = '%s' AND a.owner_id = r.owner_id",
             table, type, email, kind);
    return harness_sql_long(h, sql);
}

Test(import_owner_column, leads_and_contacts_rows_with_their_owner)
{
    h = harness_start();
    cr_assert_not_null(h);
    const char *admin = harness_admin_token(h);
    long long users[3];
    cr_assert_gt(harness_seed_pool(h, "iown", 3, users), 0);
    long long gone = harness_create(
        h, "users",
        json_pack("{s:s,s:s,s:s}", "name", "Gone User", "email", "gone@example.com", "role", "sales"));
    cr_assert_gt(gone, 0);
    char url[64];
    snprintf(url, sizeof url, "/v2/users/%lld", gone);
    harness_resp_t *r = harness_api(h, "DELETE", url, admin, NULL);
    cr_assert(r->status == 200 || r->status == 204, "%ld %s", r->status, r->body);
    harness_resp_destroy(&r);
    long long assigned0 =
        harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'");

    char path[512], args[1200], out[8192];
    snprintf(path, sizeof path, "%s/owners.csv", harness_dir(h));
    write_file(path, "First Name,Last Name,Email,Lead Owner\n"
                     "A,Own,a@own.test,IOWN-2@EXAMPLE.COM\n" /* 2: by e-mail, any case */
                     "B,Own,b@own.test, iown user 3 \n"      /* 3: by name */
                     "C,Own,c@own.test,\n"                   /* 4: blank: the pool, turn 1 */
                     "D,Own,d@own.test,nobody@example.com\n" /* 5: unknown */
                     "E,Own,e@own.test,gone@example.com\n"   /* 6: inactive */
                     "F,Own,f@own.test,iown-2@example.com\n" /* 7 */
                     "G,Own,g@own.test,\n");                 /* 8: the pool, turn 2 */
    snprintf(args, sizeof args, "import leads '%s' --owner pool:Inbound", path);
    int st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "crmctl: %d\n%s\n%s", st, out,
                 harness_slurp(strcat(strcpy(args, harness_dir(h)), "/crmctl-stderr.log")));
    cr_expect(strstr(out, "5 created") && strstr(out, "2 rejected"), "%s", out);
    cr_expect_not(strstr(out, "Lead Owner"), "the owner column is known: %s", out);
    cr_expect_eq(owner_of("leads", "a@own.test"), users[1]);
    cr_expect_eq(owner_of("leads", "b@own.test"), users[2]);
    cr_expect_eq(owner_of("leads", "f@own.test"), users[1]);
    cr_expect_eq(owner_of("leads", "c@own.test"), users[0], "blank: --owner's pool, turn 1");
    cr_expect_eq(owner_of("leads", "g@own.test"), users[1], "turn 2: the owner column took no turn");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE email IN ('d@own.test', "
                                     "'e@own.test')"),
                 0);
    const char *emails[5] = {"a@own.test", "b@own.test", "f@own.test", "c@own.test", "g@own.test"};
    for (int i = 0; i < 5; i++)
        cr_expect_eq(assignment_kind_is("lead", "leads", emails[i], i < 3 ? "manual" : "round_robin"), 1,
                     "%s: one assignment of its kind with its owner", emails[i]);
    char rej[600];
    snprintf(rej, sizeof rej, "%s.rejected.csv", path);
    const char *text = harness_slurp(rej);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"5\",\"no active user for owner 'nobody@example.com' (column Lead Owner)\""),
              "%s", text);
    cr_expect(strstr(text, "\"6\",\"no active user (the user is not active) for owner 'gone@example.com' "
                           "(column Lead Owner)\""),
              "%s", text);

    /* The pool cursor: a web form lead takes turn 3; no owner.assigned per imported row. */
    harness_resp_t *f = harness_post_form(h, "application/x-www-form-urlencoded",
                                          "first_name=Web&last_name=Form&email=web@own.test");
    cr_assert(f->status == 200 || f->status == 202, "%ld %s", f->status, f->body);
    harness_resp_destroy(&f);
    cr_assert(
        harness_wait_until(h, harness_ms(60000), is_one,
                           "SELECT count(*) FROM leads.leads WHERE email = 'web@own.test' AND owner_id IS "
                           "NOT NULL",
                           "the web form lead owned"));
    cr_expect_eq(owner_of("leads", "web@own.test"), users[2], "turn 3 of the pool");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'"),
                 assigned0 + 1, "only the web form lead's owner.assigned");
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT (string_agg(owner_id || ':' || created, ' ' ORDER BY owner_id) = '%lld:1 %lld:3 "
             "%lld:1')::int "
             "FROM leads.import_owner_counts",
             users[0], users[1], users[2]);
    cr_expect_eq(harness_sql_long(h, sql), 1, "the digest's per-owner counts");

    /* Contacts: Contact Owner by name, a blank one → --owner EMAIL. */
    char cpath[512];
    snprintf(cpath, sizeof cpath, "%s/contact_owners.csv", harness_dir(h));
    write_file(cpath, "FirstName;LastName;Email;Contact Owner\n"
                      "Cy;One;cy@own.test;IOWN USER 3\n"
                      "Di;Two;di@own.test;\n"
                      "Ed;Three;ed@own.test;nobody\n");
    snprintf(args, sizeof args, "import contacts '%s' --owner iown-1@example.com", cpath);
    st = harness_crmctl(h, args, out, sizeof out);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "2 created") && strstr(out, "1 rejected"), "%s", out);
    cr_expect_eq(owner_of("contacts", "cy@own.test"), users[2]);
    cr_expect_eq(owner_of("contacts", "di@own.test"), users[0]);
    cr_expect_eq(assignment_kind_is("contact", "contacts", "cy@own.test", "manual"), 1);
    cr_expect_eq(assignment_kind_is("contact", "contacts", "di@own.test", "manual"), 1);
    snprintf(rej, sizeof rej, "%s.rejected.csv", cpath);
    text = harness_slurp(rej);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\"4\",\"no active user for owner 'nobody' (column Contact Owner)\""), "%s", text);
}

/* Every path into a distribution pool shares its one cursor (issue 5, SPEC B2), through HTTP on
 * a real stack: the web form (lead.captured), API create with owner_id "pool:{id}", PUT of
 * owner_id "pool:{id}" on an existing record, and a lead conversion into a contact pool; for
 * leads, contacts and deals. Pools are never mixed: a pool of another record type (or no pool)
 * is a 422 naming the field and nothing is written. When nobody in a pool is eligible the
 * fallback owner gets the record and every admin is told through crm-notify. API tokens stop
 * working on the very next request once revoked or their user deactivated, also when the
 * revocation bypasses the gateway (crmctl straight in the database). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "assign_util.h"
#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(assign_paths, .fini = stop_stack, .timeout = 900);

static harness_resp_t *call_as(const char *token, const char *method, const char *path, json_t *data)
{
    json_t *body = data ? json_pack("{s:o}", "data", data) : NULL;
    harness_resp_t *r = harness_api(h, method, path, token, body);
    json_decref(body);
    cr_assert_not_null(r);
    return r;
}

static harness_resp_t *call(const char *method, const char *path, json_t *data)
{
    return call_as(harness_admin_token(h), method, path, data);
}

static json_t *data_of(harness_resp_t *r)
{
    return json_object_get(r->json, "data");
}

static const char *error_field(harness_resp_t *r)
{
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
    const char *f = json_string_value(json_object_get(e, "field"));
    return f ? f : "";
}

static long long create(const char *path, json_t *data)
{
    harness_resp_t *r = call("POST", path, data);
    cr_assert_eq(r->status, 200, "POST %s: %ld %s", path, r->status, r->body);
    long long id = json_integer_value(json_object_get(data_of(r), "id"));
    harness_resp_destroy(&r);
    return id;
}

static long long user(const char *tag, const char *role)
{
    char email[96];
    snprintf(email, sizeof email, "%s@example.com", tag);
    return harness_create(h, "users", json_pack("{s:s,s:s,s:s}", "name", tag, "email", email, "role", role));
}

static long long pool(const char *name, const char *type, bool dflt, long long a, long long b, long long c)
{
    return create("/v2/distribution_pools",
                  json_pack("{s:s,s:s,s:b,s:[I,I,I]}", "name", name, "resource_type", type, "default", dflt,
                            "user_ids", (json_int_t)a, (json_int_t)b, (json_int_t)c));
}

typedef struct {
    const char *plural; /* leads | contacts | deals */
    long long id, owner;
} owner_arg_t;

static bool owned_by(harness_t *self, void *arg)
{
    owner_arg_t *a = arg;
    char path[96];
    snprintf(path, sizeof path, "/v2/%s/%lld", a->plural, a->id);
    harness_resp_t *r = harness_api(self, "GET", path, harness_admin_token(self), NULL);
    bool ok =
        r && r->status == 200 && json_integer_value(json_object_get(data_of(r), "owner_id")) == a->owner;
    harness_resp_destroy(&r);
    return ok;
}

/* Waits until record id of plural is owned by owner, then checks its explain log's last entry
 * says pool p (round robin). */
static void expect_owner(const char *plural, long long id, long long owner, long long p, const char *what)
{
    owner_arg_t a = {plural, id, owner};
    cr_assert(harness_wait_until(h, harness_ms(30000), owned_by, &a, what), "%s: %s %lld owner", what, plural,
              id);
    char type[16], path[128];
    snprintf(type, sizeof type, "%.*s", (int)strlen(plural) - 1, plural);
    snprintf(path, sizeof path, "/v2/assignments?resource_type=%s&resource_id=%lld&sort_by=id:desc", type,
             id);
    harness_resp_t *r = call("GET", path, NULL);
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_expect_eq(json_integer_value(json_object_get(e, "owner_id")), owner, "%s: %s", what, r->body);
    cr_expect_eq(json_integer_value(json_object_get(e, "pool_id")), p, "%s: %s", what, r->body);
    cr_expect_str_eq(json_string_value(json_object_get(e, "kind")) ?: "", "round_robin", "%s: %s", what,
                     r->body);
    harness_resp_destroy(&r);
}

/* Polls q (30 s) until it gives a positive number; returns it, or 0. */
static long long sql_positive(const char *q)
{
    for (int i = 0; i < harness_ms(30000) / 100; i++) {
        long long v = harness_sql_long(h, q);
        if (v > 0)
            return v;
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static long long form_lead(const char *last)
{
    long long before = harness_sql_long(h, "SELECT coalesce(max(id), 0) FROM leads.leads");
    char body[128];
    snprintf(body, sizeof body, "last_name=%s&email=%s%%40example.com", last, last);
    harness_resp_t *r = harness_post_form(h, "application/x-www-form-urlencoded", body);
    cr_assert_eq(r->status, 202, "%s", r->body);
    harness_resp_destroy(&r);
    char q[160];
    snprintf(q, sizeof q, "SELECT id FROM leads.leads WHERE id > %lld AND last_name = '%s'", before, last);
    long long id = sql_positive(q);
    cr_assert_gt(id, 0, "form lead %s never created", last);
    return id;
}

/* The 422 of a write, the field it names, and that nothing was written (count query). */
static void expect_422(const char *method, const char *path, json_t *data, const char *field,
                       const char *count_sql, const char *what)
{
    long long before = harness_sql_long(h, count_sql);
    harness_resp_t *r = call(method, path, data);
    cr_expect_eq(r->status, 422, "%s: %ld %s", what, r->status, r->body);
    cr_expect_str_eq(error_field(r), field, "%s: %s", what, r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, count_sql), before, "%s: nothing written", what);
}

Test(assign_paths, every_path_shares_the_cursor_and_pools_are_never_mixed)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long a1 = user("p1", "sales"), a2 = user("p2", "sales"), a3 = user("p3", "sales");
    long long lp = pool("Leads", "lead", true, a1, a2, a3);
    long long cp = pool("Contacts", "contact", false, a1, a2, a3);
    long long dp = pool("Deals", "deal", false, a1, a2, a3);
    cr_assert(lp > 0 && cp > 0 && dp > 0);
    char path[128], ref[32];

    /* --- leads: web form, API create with a pool, PUT of a pool on an existing lead --------- */
    long long l1 = form_lead("Webform");
    expect_owner("leads", l1, a1, lp, "web form → first member");
    snprintf(ref, sizeof ref, "pool:%lld", lp);
    harness_resp_t *r =
        call("POST", "/v2/leads", json_pack("{s:s,s:s}", "last_name", "ApiPool", "owner_id", ref));
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long l2 = json_integer_value(json_object_get(data_of(r), "id"));
    cr_expect(json_is_null(json_object_get(data_of(r), "owner_id")) ||
                  !json_object_get(data_of(r), "owner_id") ||
                  json_integer_value(json_object_get(data_of(r), "owner_id")) == 0,
              "no owner until the pool picks: %s", r->body);
    harness_resp_destroy(&r);
    expect_owner("leads", l2, a2, lp, "API create with owner_id pool → second member");
    long long admin_id = harness_sql_long(h, "SELECT min(id) FROM assign.users WHERE role = 'admin'");
    long long l3 = create("/v2/leads", json_pack("{s:s}", "last_name", "Mine"));
    owner_arg_t mine = {"leads", l3, admin_id};
    cr_assert(harness_wait_until(h, harness_ms(10000), owned_by, &mine, "creator owns it"));
    snprintf(path, sizeof path, "/v2/leads/%lld", l3);
    r = call("PUT", path, json_pack("{s:s}", "owner_id", ref));
    cr_expect_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);
    expect_owner("leads", l3, a3, lp, "PUT owner_id pool on an existing lead → third member");
    long long l4 = form_lead("Webform2");
    expect_owner("leads", l4, a1, lp, "web form again → around to the first");

    /* --- contacts: API create, conversion, PUT --------------------------------------------- */
    snprintf(ref, sizeof ref, "pool:%lld", cp);
    long long c1 = create("/v2/contacts", json_pack("{s:s,s:s}", "last_name", "Conpool", "owner_id", ref));
    expect_owner("contacts", c1, a1, cp, "contact API create with a pool");
    long long cl = create("/v2/leads", json_pack("{s:s,s:s}", "first_name", "Con", "last_name", "Verted"));
    r = call("POST", "/v2/lead_conversions",
             json_pack("{s:I,s:s}", "lead_id", (json_int_t)cl, "owner_id", ref));
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long c2 = json_integer_value(json_object_get(data_of(r), "individual_id"));
    harness_resp_destroy(&r);
    cr_assert_gt(c2, 0);
    expect_owner("contacts", c2, a2, cp, "conversion with owner_id pool");
    long long c3 = create("/v2/contacts", json_pack("{s:s}", "last_name", "Plain"));
    snprintf(path, sizeof path, "/v2/contacts/%lld", c3);
    r = call("PUT", path, json_pack("{s:s}", "owner_id", ref));
    cr_expect_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);
    expect_owner("contacts", c3, a3, cp, "PUT owner_id pool on an existing contact");

    /* --- deals: API create, PUT ------------------------------------------------------------ */
    snprintf(ref, sizeof ref, "pool:%lld", dp);
    long long d1 = create("/v2/deals", json_pack("{s:s,s:I,s:s}", "name", "Pooled", "contact_id",
                                                 (json_int_t)c1, "owner_id", ref));
    expect_owner("deals", d1, a1, dp, "deal API create with a pool");
    long long d2 = create("/v2/deals", json_pack("{s:s,s:I}", "name", "Mine", "contact_id", (json_int_t)c1));
    snprintf(path, sizeof path, "/v2/deals/%lld", d2);
    r = call("PUT", path, json_pack("{s:s}", "owner_id", ref));
    cr_expect_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);
    expect_owner("deals", d2, a2, dp, "PUT owner_id pool on an existing deal");

    /* --- never mixed: a pool of another type is a 422 naming the field; nothing written ---- */
    char lref[32], dref[32];
    snprintf(lref, sizeof lref, "pool:%lld", lp);
    snprintf(dref, sizeof dref, "pool:%lld", dp);
    const char *deals_n = "SELECT count(*) FROM deals.deals";
    const char *leads_n = "SELECT count(*) FROM leads.leads";
    const char *contacts_n = "SELECT count(*) FROM leads.contacts";
    const char *log_n = "SELECT count(*) FROM assign.assignments";
    expect_422("POST", "/v2/deals",
               json_pack("{s:s,s:I,s:s}", "name", "X", "contact_id", (json_int_t)c1, "owner_id", lref),
               "/owner_id", deals_n, "a lead pool for a new deal");
    expect_422("PUT", path, json_pack("{s:s}", "owner_id", lref), "/owner_id", log_n,
               "a lead pool for a deal");
    long long lp_id = lp;
    expect_422("PUT", path, json_pack("{s:I}", "assign_pool_id", (json_int_t)lp_id), "/assign_pool_id", log_n,
               "assign_pool_id of a lead pool for a deal");
    snprintf(path, sizeof path, "/v2/leads/%lld", l3);
    expect_422("PUT", path, json_pack("{s:s}", "owner_id", dref), "/owner_id", log_n,
               "a deal pool for a lead");
    expect_422("POST", "/v2/contacts", json_pack("{s:s,s:s}", "last_name", "Y", "owner_id", lref),
               "/owner_id", contacts_n, "a lead pool for a new contact");
    expect_422("POST", "/v2/leads", json_pack("{s:s,s:s}", "last_name", "Z", "owner_id", "pool:999999"),
               "/owner_id", leads_n, "no such pool");
    expect_422("POST", "/v2/leads", json_pack("{s:s,s:s}", "last_name", "Z", "owner_id", "pool:x1"),
               "/owner_id", leads_n, "a malformed pool reference");
    expect_422(
        "POST", "/v2/leads",
        json_pack("{s:s,s:s,s:I}", "last_name", "Z", "owner_id", lref, "assign_pool_id", (json_int_t)lp),
        "/owner_id", leads_n, "owner_id pool and assign_pool_id together");
    cr_expect_eq(harness_sql_long(h, "SELECT last_position FROM assign.pools WHERE resource_type = 'deal'"),
                 2, "the refused requests took no turn");

    /* The three cursors moved independently: one more web-form lead goes to the second member. */
    long long l5 = form_lead("Webform3");
    expect_owner("leads", l5, a2, lp, "lead cursor untouched by contact and deal turns");
    cr_expect_eq(harness_sql_long(h,
                                  "SELECT count(*) FROM assign.assignments a JOIN assign.pools p ON p.id = "
                                  "a.pool_id WHERE p.resource_type <> a.resource_type"),
                 0, "no record was ever picked from a pool of another type");
}

Test(assign_paths, fallback_owner_gets_it_and_every_admin_is_told)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long away = user("away", "sales"), fb = user("fb", "sales"), admin2 = user("boss2", "admin");
    long long bystander = user("bystander", "sales");
    long long admin1 = harness_sql_long(h, "SELECT min(id) FROM assign.users WHERE role = 'admin'");
    long long p = create("/v2/distribution_pools",
                         json_pack("{s:s,s:s,s:b,s:I,s:[{s:I,s:s}]}", "name", "Away", "resource_type", "lead",
                                   "default", 1, "fallback_owner_id", (json_int_t)fb, "members", "user_id",
                                   (json_int_t)away, "away_until", "2099-01-01T00:00:00Z"));
    long long lead = form_lead("Nobody");
    owner_arg_t a = {"leads", lead, fb};
    cr_assert(harness_wait_until(h, harness_ms(30000), owned_by, &a, "the fallback owner"));
    char path[128];
    snprintf(path, sizeof path, "/v2/assignments?resource_type=lead&resource_id=%lld", lead);
    harness_resp_t *r = call("GET", path, NULL);
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_expect_str_eq(json_string_value(json_object_get(e, "kind")) ?: "", "fallback", "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(e, "pool_id")), p, "%s", r->body);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(e, "skipped"), 0), "reason")) ?: "",
        "away", "%s", r->body);
    harness_resp_destroy(&r);
    assign_notif_t n1 = {fb, "lead", lead}, n2 = {admin1, "lead", lead}, n3 = {admin2, "lead", lead},
                   n4 = {bystander, "lead", lead};
    cr_expect(harness_wait_until(h, harness_ms(30000), assign_notified, &n1, "the fallback owner told"));
    cr_expect(harness_wait_until(h, harness_ms(30000), assign_notified, &n2, "the bootstrap admin told"));
    cr_expect(harness_wait_until(h, harness_ms(30000), assign_notified, &n3, "the second admin told"));
    cr_expect_not(assign_notified(h, &n4), "a sales rep outside the pool is not told");
    snprintf(path, sizeof path, "/v2/notifications?user_id=%lld&per_page=100", admin2);
    r = call("GET", path, NULL);
    cr_expect(strstr(r->body, "no eligible member") != NULL, "the admins' message says why: %s", r->body);
    harness_resp_destroy(&r);
}

/* Runs crmctl with the stack's config; its exit status. */
static int crmctl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/tools/crmctl/crmctl --config '%s' %s >/dev/null 2>&1", CRM_BUILD_DIR,
             harness_config_path(h), args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long status_as(const char *token)
{
    harness_resp_t *r = call_as(token, "GET", "/v2/users/self", NULL);
    long s = r->status;
    if (s == 401) {
        json_t *err = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
        cr_expect_str_eq(json_string_value(json_object_get(err, "code")) ?: "", "unauthorized", "%s",
                         r->body);
        cr_expect(json_string_value(json_object_get(json_object_get(r->json, "meta"), "logref")) != NULL,
                  "Sell error body: %s", r->body);
    }
    harness_resp_destroy(&r);
    return s;
}

static char *mint(long long user_id, long long *token_id)
{
    harness_resp_t *r = call("POST", "/v2/api_tokens", json_pack("{s:I}", "user_id", (json_int_t)user_id));
    cr_assert_eq(r->status, 200, "%s", r->body);
    char *t = strdup(json_string_value(json_object_get(data_of(r), "token")));
    *token_id = json_integer_value(json_object_get(data_of(r), "id"));
    harness_resp_destroy(&r);
    return t;
}

Test(assign_paths, revocation_outside_the_gateway_is_effective_on_the_next_request)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long u = user("tok", "sales"), v = user("tok2", "manager");
    long long tid = 0, vid = 0;
    char *t = mint(u, &tid), *t2 = mint(v, &vid);
    /* Used (and so looked up) several times right before the revocation. */
    for (int i = 0; i < 3; i++)
        cr_expect_eq(status_as(t), 200);
    char args[64];
    snprintf(args, sizeof args, "token revoke %lld", tid);
    cr_assert_eq(crmctl(args), 0);
    cr_expect_eq(status_as(t), 401, "a token revoked by crmctl after use: refused at once");

    for (int i = 0; i < 3; i++)
        cr_expect_eq(status_as(t2), 200);
    cr_assert_eq(crmctl("user deactivate tok2@example.com"), 0);
    cr_expect_eq(status_as(t2), 401, "a user deactivated by crmctl: their token refused at once");

    /* Through the API as well, and an unknown token. */
    long long wid = 0;
    long long w = user("tok3", "sales");
    char *t3 = mint(w, &wid);
    cr_expect_eq(status_as(t3), 200);
    char path[64];
    snprintf(path, sizeof path, "/v2/api_tokens/%lld", wid);
    harness_resp_t *r = call("DELETE", path, NULL);
    cr_expect_eq(r->status, 204, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(status_as(t3), 401);
    cr_expect_eq(status_as("0000000000000000000000000000000000000000000000000000000000000000"), 401);
    free(t);
    free(t2);
    free(t3);
}

/* Waits for the deal's owner and returns it. */
static long long deal_owner(long long id)
{
    char q[128];
    snprintf(q, sizeof q, "SELECT coalesce(owner_id, 0) FROM deals.deals WHERE id = %lld", id);
    return sql_positive(q);
}

static bool closed_for_assign(harness_t *self, void *arg)
{
    char q[160];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM assign.ownership WHERE resource_type = 'deal' AND resource_id = %lld AND "
             "closed",
             *(long long *)arg);
    return harness_sql_long(self, q) == 1;
}

/* "Open" per record type for the caps: a deal closes when won (and frees its owner's cap); a
 * contact never closes (every contact owned counts). Absence ends by itself at away_until. */
Test(assign_paths, caps_per_record_type_and_absence_that_ends)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long d1 = user("capd1", "sales"), d2 = user("capd2", "sales");
    long long contact = create("/v2/contacts", json_pack("{s:s}", "last_name", "Buyer"));
    long long dp = create("/v2/distribution_pools",
                          json_pack("{s:s,s:s,s:b,s:[{s:I,s:i},{s:I}]}", "name", "Deals", "resource_type",
                                    "deal", "default", 0, "members", "user_id", (json_int_t)d1, "max_open", 1,
                                    "user_id", (json_int_t)d2));
    char ref[32];
    snprintf(ref, sizeof ref, "pool:%lld", dp);
    long long deals[4];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "D%d", i);
        deals[i] = create("/v2/deals", json_pack("{s:s,s:I,s:s}", "name", name, "contact_id",
                                                 (json_int_t)contact, "owner_id", ref));
        cr_assert_gt(deal_owner(deals[i]), 0, "deal %d owned", i);
    }
    cr_expect_eq(deal_owner(deals[0]), d1);
    cr_expect_eq(deal_owner(deals[1]), d2);
    cr_expect_eq(deal_owner(deals[2]), d2, "d1 full (1 open deal of max 1): skipped");
    /* d1's deal is won: it no longer counts; d1 gets the next turn. */
    long long won =
        harness_sql_long(h, "SELECT id FROM deals.stages WHERE category = 'won' ORDER BY id LIMIT 1");
    char path[64];
    snprintf(path, sizeof path, "/v2/deals/%lld", deals[0]);
    harness_resp_t *r = call("PUT", path, json_pack("{s:I}", "stage_id", (json_int_t)won));
    cr_assert_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);
    cr_assert(harness_wait_until(h, harness_ms(30000), closed_for_assign, &deals[0], "the won deal closed"));
    deals[3] = create("/v2/deals", json_pack("{s:s,s:I,s:s}", "name", "D3", "contact_id", (json_int_t)contact,
                                             "owner_id", ref));
    cr_expect_eq(deal_owner(deals[3]), d1, "a won deal frees the cap");

    /* Contacts: every contact owned counts, so a cap of 1 stays full. */
    long long c1 = user("capc1", "sales"), c2 = user("capc2", "sales");
    long long cp =
        create("/v2/distribution_pools",
               json_pack("{s:s,s:s,s:[{s:I,s:i},{s:I}]}", "name", "Contacts", "resource_type", "contact",
                         "members", "user_id", (json_int_t)c1, "max_open", 1, "user_id", (json_int_t)c2));
    snprintf(ref, sizeof ref, "pool:%lld", cp);
    long long cs[3];
    for (int i = 0; i < 3; i++) {
        cs[i] = create("/v2/contacts", json_pack("{s:s,s:s}", "last_name", "Capped", "owner_id", ref));
        expect_owner("contacts", cs[i], i == 0 ? c1 : c2, cp, "contact cap");
    }
    char q[200];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM assign.assignments WHERE resource_type = 'contact' AND resource_id = %lld "
             "AND skipped @> '[{\"reason\": \"full\"}]'",
             cs[2]);
    cr_expect_eq(harness_sql_long(h, q), 1, "the third contact's log says c1 was full");
    /* A deleted record no longer counts: c1's only contact deleted, c1 gets the next one. */
    snprintf(path, sizeof path, "/v2/contacts/%lld", cs[0]);
    r = call("DELETE", path, NULL);
    cr_assert_eq(r->status, 204, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM assign.ownership WHERE resource_type = 'contact' AND resource_id = %lld "
             "AND closed",
             cs[0]);
    for (int i = 0; i < 300 && harness_sql_long(h, q) != 1; i++) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(harness_sql_long(h, q), 1, "contact.deleted closed the ownership row");
    long long c4 =
        create("/v2/contacts", json_pack("{s:s,s:s}", "last_name", "AfterDelete", "owner_id", ref));
    expect_owner("contacts", c4, c1, cp, "a deleted contact frees c1's cap");

    /* Absence ends by itself: away for a few seconds, skipped, then back in turn. */
    long long a1 = user("abs1", "sales"), a2 = user("abs2", "sales");
    long long lp =
        create("/v2/distribution_pools", json_pack("{s:s,s:s,s:[I,I]}", "name", "Away", "resource_type",
                                                   "lead", "user_ids", (json_int_t)a1, (json_int_t)a2));
    char until[40];
    long long soon = harness_sql_long(h, "SELECT extract(epoch FROM now())::bigint + 4");
    time_t t = (time_t)soon;
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/members/%lld", lp, a1);
    r = call("PUT", path, json_pack("{s:s}", "away_until", until));
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect(json_is_true(json_object_get(data_of(r), "away")), "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(ref, sizeof ref, "pool:%lld", lp);
    long long l1 = create("/v2/leads", json_pack("{s:s,s:s}", "last_name", "WhileAway", "owner_id", ref));
    expect_owner("leads", l1, a2, lp, "a1 away: a2");
    while (harness_sql_long(h, "SELECT extract(epoch FROM now())::bigint") <= soon) {
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
    long long l2 = create("/v2/leads", json_pack("{s:s,s:s}", "last_name", "Back", "owner_id", ref));
    expect_owner("leads", l2, a1, lp, "away_until passed: a1 is back in turn");
}

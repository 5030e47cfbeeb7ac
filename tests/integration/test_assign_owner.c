/* The owner protocol through HTTP on a real stack (issue 5, SPEC B1 and B3): a manual owner
 * change on a lead, a contact or a deal is recorded by crm-assign (explain log: kind manual,
 * who, the previous owner) and the new owner is notified through crm-notify; a lead that is
 * unqualified no longer counts against its owner's cap. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign_util.h"
#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(assign_owner, .fini = stop_stack, .timeout = 600);

static harness_resp_t *call(const char *method, const char *path, json_t *data)
{
    json_t *body = data ? json_pack("{s:o}", "data", data) : NULL;
    harness_resp_t *r = harness_api(h, method, path, harness_admin_token(h), body);
    json_decref(body);
    cr_assert_not_null(r);
    return r;
}

static long long create(const char *path, json_t *data)
{
    harness_resp_t *r = call("POST", path, data);
    cr_assert(r->status == 200 || r->status == 201, "POST %s: %ld %s", path, r->status, r->body);
    long long id = json_integer_value(json_object_get(json_object_get(r->json, "data"), "id"));
    harness_resp_destroy(&r);
    return id;
}

static void update(const char *path, json_t *data)
{
    harness_resp_t *r = call("PUT", path, data);
    cr_assert_eq(r->status, 200, "PUT %s: %s", path, r->body);
    harness_resp_destroy(&r);
}

static long long user(const char *tag)
{
    char email[96];
    snprintf(email, sizeof email, "%s@example.com", tag);
    return harness_create(h, "users",
                          json_pack("{s:s,s:s,s:s}", "name", tag, "email", email, "role", "sales"));
}

typedef struct {
    const char *type;
    long long id;
    int n;
} log_arg_t;

/* The explain log of a record (admin view). */
static harness_resp_t *log_of(const char *type, long long id)
{
    char path[128];
    snprintf(path, sizeof path, "/v2/assignments?resource_type=%s&resource_id=%lld", type, id);
    return call("GET", path, NULL);
}

static bool log_has(harness_t *self, void *arg)
{
    (void)self;
    log_arg_t *a = arg;
    harness_resp_t *r = log_of(a->type, a->id);
    bool ok = r->status == 200 && (int)json_array_size(json_object_get(r->json, "items")) >= a->n;
    harness_resp_destroy(&r);
    return ok;
}

static json_t *entry(harness_resp_t *r, size_t i)
{
    return json_object_get(json_array_get(json_object_get(r->json, "items"), i), "data");
}

static void expect_manual(const char *type, long long id, int n, long long owner, long long previous)
{
    log_arg_t la = {type, id, n};
    cr_assert(harness_wait_until(h, harness_ms(30000), log_has, &la, "manual change in the log"));
    harness_resp_t *r = log_of(type, id);
    json_t *e = entry(r, (size_t)n - 1);
    cr_expect_str_eq(json_string_value(json_object_get(e, "kind")) ?: "", "manual", "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(e, "owner_id")), owner, "%s", r->body);
    if (previous > 0)
        cr_expect_eq(json_integer_value(json_object_get(e, "previous_owner_id")), previous, "%s", r->body);
    cr_expect_gt(json_integer_value(json_object_get(e, "changed_by")), 0, "%s", r->body);
    harness_resp_destroy(&r);
    assign_notif_t na = {owner, type, id};
    cr_expect(harness_wait_until(h, harness_ms(30000), assign_notified, &na, "the new owner notified"),
              "%s %lld", type, id);
}

Test(assign_owner, manual_changes_are_recorded_and_notified)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long u1 = user("own1"), u2 = user("own2");

    /* Lead: created for someone else, then handed to another. */
    long long lead =
        create("/v2/leads", json_pack("{s:s,s:I}", "last_name", "Manual", "owner_id", (json_int_t)u1));
    expect_manual("lead", lead, 1, u1, 0);
    char path[96];
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    update(path, json_pack("{s:I}", "owner_id", (json_int_t)u2));
    expect_manual("lead", lead, 2, u2, u1);

    /* Contact. */
    long long contact = create("/v2/contacts", json_pack("{s:s,s:s,s:I}", "first_name", "Con", "last_name",
                                                         "Tact", "owner_id", (json_int_t)u1));
    expect_manual("contact", contact, 1, u1, 0);
    snprintf(path, sizeof path, "/v2/contacts/%lld", contact);
    update(path, json_pack("{s:I}", "owner_id", (json_int_t)u2));
    expect_manual("contact", contact, 2, u2, u1);

    /* Deal. */
    long long deal = create("/v2/deals", json_pack("{s:s,s:I,s:I}", "name", "Big one", "contact_id",
                                                   (json_int_t)contact, "owner_id", (json_int_t)u1));
    expect_manual("deal", deal, 1, u1, 0);
    snprintf(path, sizeof path, "/v2/deals/%lld", deal);
    update(path, json_pack("{s:I}", "owner_id", (json_int_t)u2));
    expect_manual("deal", deal, 2, u2, u1);

    /* Nothing assigned twice: the echo of each owner.assigned is ignored. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.assignments"), 6);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM assign.ownership WHERE owner_id = 0"), 0);
}

static bool lead_owned(harness_t *self, void *arg)
{
    long long *want = arg;
    return harness_sql_long(self, "SELECT count(*) FROM leads.leads WHERE owner_id IS NOT NULL") >= *want;
}

static long long nth_lead_owner(int nth)
{
    char q[160];
    snprintf(q, sizeof q, "SELECT owner_id FROM leads.leads ORDER BY id OFFSET %d LIMIT 1", nth);
    return harness_sql_long(h, q);
}

static bool one_closed(harness_t *self, void *arg)
{
    (void)arg;
    return harness_sql_long(self, "SELECT count(*) FROM assign.ownership WHERE closed") == 1;
}

Test(assign_owner, a_closed_lead_frees_its_owner_cap)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long c1 = user("cap1"), c2 = user("cap2");
    long long pool = create("/v2/distribution_pools",
                            json_pack("{s:s,s:s,s:b,s:[{s:I,s:i},{s:I}]}", "name", "Capped", "resource_type",
                                      "lead", "default", 1, "members", "user_id", (json_int_t)c1, "max_open",
                                      1, "user_id", (json_int_t)c2));
    cr_assert_gt(pool, 0);
    long long want = 0;
    for (int i = 0; i < 3; i++) {
        char body[96];
        snprintf(body, sizeof body, "last_name=Cap%d&email=cap%d%%40example.com", i, i);
        harness_resp_t *r = harness_post_form(h, "application/x-www-form-urlencoded", body);
        cr_assert_eq(r->status, 202);
        harness_resp_destroy(&r);
        want++;
        cr_assert(harness_wait_until(h, harness_ms(30000), lead_owned, &want, "lead owned"));
    }
    /* c1, c2, then c1 is full (1 open of max 1): c2. */
    cr_expect_eq(nth_lead_owner(0), c1);
    cr_expect_eq(nth_lead_owner(1), c2);
    cr_expect_eq(nth_lead_owner(2), c2);

    /* c1's lead is unqualified (lead.status_changed): c1 has room again. */
    long long first = harness_sql_long(h, "SELECT id FROM leads.leads ORDER BY id LIMIT 1");
    char path[96];
    snprintf(path, sizeof path, "/v2/leads/%lld", first);
    update(path, json_pack("{s:s}", "status", "Unqualified"));
    cr_expect(
        harness_wait_until(h, harness_ms(30000), one_closed, NULL, "the unqualified lead closed for assign"));
    harness_resp_t *r =
        harness_post_form(h, "application/x-www-form-urlencoded", "last_name=Cap3&email=cap3%40e.com");
    harness_resp_destroy(&r);
    want++;
    cr_assert(harness_wait_until(h, harness_ms(30000), lead_owned, &want, "lead owned"));
    /* cursor after c2 → c1, who has room again */
    cr_expect_eq(nth_lead_owner(3), c1);
}

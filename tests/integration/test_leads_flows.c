/* Cross-service flows of crm-leads on the real stack: a conversion's deal made by crm-deals
 * during the request (deal_id in the answer), or later from lead.converted when crm-deals was
 * down (deal_id filled from its deal.created); a conversion to a contact pool, whose owner
 * crm-assign picks and crm-leads applies from owner.assigned (contact.updated with
 * assignment_id, owner change on the contact's timeline). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(leads_flows, .fini = stop_stack, .timeout = 900);

static harness_resp_t *call(const char *method, const char *path, const char *token, json_t *data)
{
    json_t *body = data ? json_pack("{s:o}", "data", data) : NULL;
    harness_resp_t *r = harness_api(h, method, path, token, body);
    json_decref(body);
    cr_assert_not_null(r, "%s %s answered", method, path);
    return r;
}

static json_t *data_of(harness_resp_t *r)
{
    return json_object_get(r->json, "data");
}
static long long id_of(harness_resp_t *r)
{
    return json_integer_value(json_object_get(data_of(r), "id"));
}

static long long new_lead(const char *last, const char *org)
{
    harness_resp_t *r =
        call("POST", "/v2/leads", harness_admin_token(h),
             json_pack("{s:s,s:s,s:s}", "first_name", "F", "last_name", last, "organization_name", org));
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long id = id_of(r);
    harness_resp_destroy(&r);
    return id;
}

typedef struct {
    long long conversion;
} conv_arg_t;

static bool deal_filled(harness_t *self, void *arg)
{
    char path[96];
    snprintf(path, sizeof path, "/v2/lead_conversions/%lld", ((conv_arg_t *)arg)->conversion);
    harness_resp_t *r = harness_api(self, "GET", path, harness_admin_token(self), NULL);
    bool ok = r && r->status == 200 && json_integer_value(json_object_get(data_of(r), "deal_id")) > 0;
    harness_resp_destroy(&r);
    return ok;
}

Test(leads_flows, conversion_deal_now_or_later)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);

    /* crm-deals up: the deal is made during the request, exactly once. */
    long long lead = new_lead("Dealer", "Deal Corp");
    harness_resp_t *r =
        call("POST", "/v2/lead_conversions", admin,
             json_pack("{s:I,s:b,s:{s:s,s:f,s:s}}", "lead_id", (json_int_t)lead, "create_deal", 1, "deal",
                       "name", "Big one", "value", 1200.5, "currency", "EUR"));
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long deal = json_integer_value(json_object_get(data_of(r), "deal_id"));
    cr_expect_gt(deal, 0, "deal_id in the answer: %s", r->body);
    harness_resp_destroy(&r);
    char path[96];
    snprintf(path, sizeof path, "/v2/deals/%lld", deal);
    r = call("GET", path, admin, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(r), "name")) ?: "", "Big one");
    harness_resp_destroy(&r);
    sleep(2); /* lead.converted reaches crm-deals too: still one deal */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals"), 1);

    /* crm-deals down: the conversion still succeeds; the deal comes from lead.converted once
     * crm-deals is back, and deal_id is filled in. */
    cr_assert_eq(harness_kill(h, "deals"), 0);
    lead = new_lead("Later", "Later Corp");
    r = call("POST", "/v2/lead_conversions", admin,
             json_pack("{s:I,s:b,s:{s:s}}", "lead_id", (json_int_t)lead, "create_deal", 1, "deal", "name",
                       "Later"));
    cr_assert_eq(r->status, 200, "%s", r->body);
    conv_arg_t a = {id_of(r)};
    cr_expect(json_is_null(json_object_get(data_of(r), "deal_id")), "no deal yet: %s", r->body);
    harness_resp_destroy(&r);
    cr_assert_eq(harness_restart(h, "deals"), 0);
    cr_expect(
        harness_wait_until(h, harness_ms(30000), deal_filled, &a, "deal_id filled after crm-deals is back"));
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals"), 2, "one deal per conversion");
}

typedef struct {
    long long contact;
    long long owner;
} owner_arg_t;

static bool contact_owned(harness_t *self, void *arg)
{
    owner_arg_t *a = arg;
    char path[96];
    snprintf(path, sizeof path, "/v2/contacts/%lld", a->contact);
    harness_resp_t *r = harness_api(self, "GET", path, harness_admin_token(self), NULL);
    bool ok =
        r && r->status == 200 && json_integer_value(json_object_get(data_of(r), "owner_id")) == a->owner;
    harness_resp_destroy(&r);
    return ok;
}

Test(leads_flows, conversion_to_a_contact_pool)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long u = harness_create(
        h, "users",
        json_pack("{s:s,s:s,s:s}", "name", "Pooled", "email", "pooled@example.com", "role", "sales"));
    cr_assert_gt(u, 0);
    long long pool = harness_create(h, "distribution_pools",
                                    json_pack("{s:s,s:s,s:[I]}", "name", "Contacts", "resource_type",
                                              "contact", "user_ids", (json_int_t)u));
    cr_assert_gt(pool, 0);
    long long lead = new_lead("Pooly", "Pool Corp");
    char owner[32];
    snprintf(owner, sizeof owner, "pool:%lld", pool);
    harness_resp_t *r = call("POST", "/v2/lead_conversions", admin,
                             json_pack("{s:I,s:s}", "lead_id", (json_int_t)lead, "owner_id", owner));
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long person = json_integer_value(json_object_get(data_of(r), "individual_id"));
    long long org = json_integer_value(json_object_get(data_of(r), "organization_id"));
    harness_resp_destroy(&r);
    owner_arg_t a = {person, u}, b = {org, u};
    cr_expect(
        harness_wait_until(h, harness_ms(30000), contact_owned, &a, "person owned by the pool's member"));
    cr_expect(harness_wait_until(h, harness_ms(30000), contact_owned, &b,
                                 "organization owned by the pool's member"));
    char q[200];
    snprintf(
        q, sizeof q,
        "SELECT count(*) FROM leads.contact_activities WHERE contact_id = %lld AND kind = 'owner_changed'",
        person);
    cr_expect_eq(harness_sql_long(h, q), 1, "the assignment on the contact's timeline");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'contact.updated'"), 2,
                 "one contact.updated (assignment applied) per contact");
}

/* Captures through the webhooks on the real stack: dedup by normalized e-mail and E.164 phone
 * (A4) — also when the same person is posted concurrently from several threads —, merges that
 * fill empty fields and land on the timeline, support tickets linked once per (source, ticket)
 * (C5); POST /v2/leads does not dedup; then lead conversions (D1, D2) and owner.assigned for
 * contacts. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(leads_capture, .fini = stop_stack, .timeout = 900);

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
static const char *str_of(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k)) ?: "(null)";
}
static long long sql(const char *q)
{
    return harness_sql_long(h, q);
}

static void expect_status(harness_resp_t *r, long want, const char *what)
{
    cr_expect_eq(r->status, want, "%s: %ld %s", what, r->status, r->body);
}

typedef struct {
    long long want;
} count_arg_t;

static bool captures_applied(harness_t *self, void *arg)
{
    (void)self;
    return sql("SELECT count(*) FROM leads.lead_activities WHERE kind = 'captured'") >=
           ((count_arg_t *)arg)->want;
}

static void wait_captures(long long n)
{
    count_arg_t a = {n};
    cr_assert(harness_wait_until(h, harness_ms(30000), captures_applied, &a, "captures applied"));
}

typedef struct {
    const char *body;
    long status;
} post_arg_t;

static void *post_thread(void *arg)
{
    post_arg_t *p = arg;
    harness_resp_t *r = harness_post_form(h, "application/json", p->body);
    p->status = r ? r->status : 0;
    harness_resp_destroy(&r);
    return NULL;
}

static const char sources[] = "    - {name: website, kind: form, signature: none}\n"
                              "    - {name: desk, kind: support, signature: none}\n";

static harness_resp_t *post_ticket(const char *body)
{
    return harness_http(h, &(harness_req_t){.method = "POST",
                                            .path = "/webhooks/support/desk",
                                            .body = body,
                                            .content_type = "application/json"});
}

Test(leads_capture, dedup_concurrent_merge_and_tickets)
{
    harness_opts_t opts = {.gateway_sources = sources};
    h = harness_start_opts(&opts);
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);

    /* 12 threads post the same person (e-mail in varying case and spacing) and 4 others. */
    enum { SAME = 12, OTHERS = 4 };
    const char *variants[] = {
        "{\"last_name\":\"Twin\",\"email\":\"twin@example.com\"}",
        "{\"last_name\":\"Twin\",\"email\":\"  TWIN@Example.com \"}",
        "{\"first_name\":\"Tom\",\"last_name\":\"Twin\",\"email\":\"Twin@example.COM\"}"};
    char others[OTHERS][128];
    post_arg_t args[SAME + OTHERS];
    pthread_t th[SAME + OTHERS];
    for (int i = 0; i < SAME; i++)
        args[i] = (post_arg_t){variants[i % 3], 0};
    for (int i = 0; i < OTHERS; i++) {
        snprintf(others[i], sizeof others[i], "{\"last_name\":\"Other%d\",\"email\":\"other%d@example.com\"}",
                 i, i);
        args[SAME + i] = (post_arg_t){others[i], 0};
    }
    for (int i = 0; i < SAME + OTHERS; i++)
        pthread_create(&th[i], NULL, post_thread, &args[i]);
    for (int i = 0; i < SAME + OTHERS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(args[i].status, 202, "post %d: %ld", i, args[i].status);
    }
    wait_captures(SAME + OTHERS);
    cr_expect_eq(sql("SELECT count(*) FROM leads.leads WHERE lower(btrim(email)) = 'twin@example.com'"), 1,
                 "one lead for the twelve captures of one person");
    cr_expect_eq(sql("SELECT count(*) FROM leads.leads WHERE email LIKE 'other%'"), OTHERS,
                 "different e-mails make different leads");
    long long twin = sql("SELECT id FROM leads.leads WHERE lower(btrim(email)) = 'twin@example.com'");
    cr_expect_eq(sql("SELECT count(*) FROM leads.lead_activities WHERE kind = 'captured' AND lead_id = "
                     "(SELECT id FROM leads.leads WHERE lower(btrim(email)) = 'twin@example.com')"),
                 SAME, "every capture on the one lead's timeline");
    cr_expect_eq(
        sql("SELECT count(*) FROM leads.leads WHERE email_norm = 'twin@example.com' AND first_name = 'Tom'"),
        1, "the empty first name was filled by a later capture");
    cr_expect_eq(sql("SELECT count(*) FROM leads.outbox WHERE type = 'lead.created'"), 1 + OTHERS);

    /* The phone alone also matches (E.164), and a merge fills the company. */
    harness_resp_t *r =
        harness_post_form(h, "application/json",
                          "{\"last_name\":\"Phoney\",\"email\":\"p1@example.com\",\"phone\":\"+1 "
                          "(555) 010-9999\"}");
    expect_status(r, 202, "phone capture");
    harness_resp_destroy(&r);
    wait_captures(SAME + OTHERS + 1);
    r = harness_post_form(h, "application/json",
                          "{\"last_name\":\"Phoney\",\"email\":\"p2@example.com\",\"phone\":\"+15550109999\","
                          "\"company\":\"Phone Co\"}");
    expect_status(r, 202, "same phone, other e-mail");
    harness_resp_destroy(&r);
    wait_captures(SAME + OTHERS + 2);
    cr_expect_eq(sql("SELECT count(*) FROM leads.leads WHERE last_name = 'Phoney'"), 1, "merged by phone");
    cr_expect_eq(sql("SELECT count(*) FROM leads.leads WHERE last_name = 'Phoney' AND organization_name = "
                     "'Phone Co' AND email = 'p1@example.com'"),
                 1, "empty company filled, e-mail kept");

    /* POST /v2/leads does not dedup. */
    for (int i = 0; i < 2; i++) {
        r = call("POST", "/v2/leads", admin,
                 json_pack("{s:s,s:s}", "last_name", "Twin", "email", "twin@example.com"));
        expect_status(r, 200, "API create with a known e-mail");
        harness_resp_destroy(&r);
    }
    cr_expect_eq(sql("SELECT count(*) FROM leads.leads WHERE email_norm = 'twin@example.com'"), 3);

    /* Support tickets: a ticket links to the lead; a later capture of the same ticket updates the
     * link (subject, status) instead of making a lead or a second link. */
    r = post_ticket(
        "{\"ticket\":{\"id\":\"T-7\",\"subject\":\"Printer on fire\",\"status\":\"open\",\"url\":"
        "\"https://desk.example/t/7\",\"requester\":{\"name\":\"Tia Ket\",\"email\":\"tia@example.com\"}}}");
    expect_status(r, 202, "ticket");
    harness_resp_destroy(&r);
    wait_captures(SAME + OTHERS + 3);
    r = post_ticket("{\"ticket\":{\"id\":\"T-7\",\"subject\":\"Printer on fire\",\"status\":\"solved\","
                    "\"requester\":{\"name\":\"Tia Ket\",\"email\":\"tia.other@example.com\"}}}");
    expect_status(r, 202, "same ticket again");
    harness_resp_destroy(&r);
    wait_captures(SAME + OTHERS + 4);
    cr_expect_eq(sql("SELECT count(*) FROM leads.leads WHERE last_name = 'Ket'"), 1,
                 "one lead for the ticket");
    cr_expect_eq(
        sql("SELECT count(*) FROM leads.lead_activities WHERE kind = 'ticket' AND ticket_id = 'T-7'"), 1);
    long long tia = sql("SELECT id FROM leads.leads WHERE last_name = 'Ket'");
    char path[96];
    snprintf(path, sizeof path, "/v2/leads/%lld/activities", tia);
    r = call("GET", path, admin, NULL);
    expect_status(r, 200, "timeline with the ticket");
    json_t *items = json_object_get(r->json, "items");
    int tickets = 0, captured = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *d = json_object_get(it, "data");
        if (strcmp(str_of(d, "kind"), "ticket") == 0) {
            tickets++;
            cr_expect_str_eq(str_of(d, "ticket_status"), "solved", "link updated");
            cr_expect_str_eq(str_of(d, "ticket_url"), "https://desk.example/t/7", "url kept");
            cr_expect_str_eq(str_of(d, "ticket_source"), "desk");
        }
        captured += strcmp(str_of(d, "kind"), "captured") == 0;
    }
    cr_expect_eq(tickets, 1, "%s", r->body);
    cr_expect_eq(captured, 2, "both captures on the timeline: %s", r->body);
    harness_resp_destroy(&r);
    (void)twin;
}

/* ---- conversions -------------------------------------------------------------------------------- */

Test(leads_capture, conversions)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long admin_id = sql("SELECT min(id) FROM assign.users");

    harness_resp_t *r =
        call("POST", "/v2/leads", admin,
             json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s},s:[s]}", "first_name", "Grace", "last_name", "Hopper",
                       "organization_name", "Navy", "email", "grace@navy.example", "phone", "+1 202 555 0100",
                       "address", "city", "Arlington", "tags", "cobol"));
    long long lead = id_of(r);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/contacts", admin, json_pack("{s:b,s:s}", "is_organization", 1, "name", "navy"));
    long long navy = id_of(r);
    harness_resp_destroy(&r);
    cr_assert(lead > 0 && navy > 0);

    /* 422 paths */
    r = call("POST", "/v2/lead_conversions", admin, json_pack("{}"));
    expect_status(r, 422, "no lead_id");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/lead_conversions", admin, json_pack("{s:i}", "lead_id", 999999));
    expect_status(r, 422, "unknown lead");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/lead_conversions", admin,
             json_pack("{s:I,s:s}", "lead_id", (json_int_t)lead, "owner_id", "bob"));
    expect_status(r, 422, "bad owner");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/lead_conversions", admin,
             json_pack("{s:I,s:b,s:{s:s,s:s}}", "lead_id", (json_int_t)lead, "create_deal", 1, "deal",
                       "value", "12x", "currency", "euro"));
    expect_status(r, 422, "bad deal value and currency");
    cr_expect_eq(json_array_size(json_object_get(r->json, "errors")), 2, "%s", r->body);
    harness_resp_destroy(&r);

    /* The conversion: person + the existing organization (found by name, any case). */
    r = call("POST", "/v2/lead_conversions", admin, json_pack("{s:I}", "lead_id", (json_int_t)lead));
    expect_status(r, 200, "convert");
    json_t *c = data_of(r);
    long long conv = json_integer_value(json_object_get(c, "id"));
    long long person = json_integer_value(json_object_get(c, "individual_id"));
    cr_expect_eq(json_integer_value(json_object_get(c, "organization_id")), navy,
                 "organization found by name");
    cr_expect_eq(json_integer_value(json_object_get(c, "lead_id")), lead);
    cr_expect_eq(json_integer_value(json_object_get(c, "creator_id")), admin_id);
    cr_expect(json_is_null(json_object_get(c, "deal_id")));
    cr_expect(json_is_string(json_object_get(c, "created_at")));
    harness_resp_destroy(&r);
    char path[96];
    snprintf(path, sizeof path, "/v2/contacts/%lld", person);
    r = call("GET", path, admin, NULL);
    expect_status(r, 200, "person contact");
    json_t *p = data_of(r);
    cr_expect_str_eq(str_of(p, "last_name"), "Hopper");
    cr_expect_str_eq(str_of(p, "email"), "grace@navy.example");
    cr_expect_eq(json_integer_value(json_object_get(p, "contact_id")), navy, "employee link");
    cr_expect_str_eq(str_of(json_object_get(p, "address"), "city"), "Arlington");
    harness_resp_destroy(&r);
    cr_expect_eq(sql("SELECT count(*) FROM leads.contacts WHERE is_organization"), 1,
                 "no second organization");

    /* The lead: Converted, gone from the default list, still found by status; timeline. */
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    r = call("GET", path, admin, NULL);
    cr_expect_str_eq(str_of(data_of(r), "status"), "Converted");
    cr_expect(json_is_string(json_object_get(data_of(r), "converted_at")));
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/leads", admin), 0, "converted lead off the default list");
    cr_expect_eq(harness_count_items(h, "/v2/leads?status=Converted", admin), 1);
    snprintf(path, sizeof path, "/v2/leads/%lld/activities", lead);
    r = call("GET", path, admin, NULL);
    json_t *items = json_object_get(r->json, "items");
    json_t *last = json_object_get(json_array_get(items, json_array_size(items) - 1), "data");
    cr_expect_str_eq(str_of(last, "kind"), "converted", "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(sql("SELECT count(*) FROM leads.outbox WHERE type = 'lead.converted'"), 1);
    cr_expect_eq(sql("SELECT count(*) FROM leads.outbox WHERE type = 'contact.created'"), 2, "navy + person");

    /* Twice: 409, nothing new. */
    r = call("POST", "/v2/lead_conversions", admin, json_pack("{s:I}", "lead_id", (json_int_t)lead));
    expect_status(r, 409, "converting twice");
    harness_resp_destroy(&r);
    cr_expect_eq(sql("SELECT count(*) FROM leads.contacts"), 2, "no second person");
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    r = call("PUT", path, admin, json_pack("{s:s}", "title", "x"));
    expect_status(r, 409, "a converted lead is read-only");
    harness_resp_destroy(&r);

    /* GET one and the list. */
    snprintf(path, sizeof path, "/v2/lead_conversions/%lld", conv);
    r = call("GET", path, admin, NULL);
    expect_status(r, 200, "get conversion");
    cr_expect_eq(json_integer_value(json_object_get(data_of(r), "individual_id")), person);
    cr_expect_str_eq(str_of(json_object_get(r->json, "meta"), "type"), "lead_conversion");
    harness_resp_destroy(&r);
    r = call("GET", "/v2/lead_conversions/999999", admin, NULL);
    expect_status(r, 404, "missing conversion");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/lead_conversions", admin), 1);
    r = call("GET", "/v2/lead_conversions?sort_by=planet", admin, NULL);
    expect_status(r, 400, "bad sort");
    harness_resp_destroy(&r);

    /* A company-only lead, converted to a pool: a new organization, assign_pool_id on its event. */
    r = call("POST", "/v2/leads", admin, json_pack("{s:s}", "organization_name", "Initech"));
    long long lead2 = id_of(r);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/lead_conversions", admin,
             json_pack("{s:I,s:s}", "lead_id", (json_int_t)lead2, "owner_id", "pool:4"));
    expect_status(r, 200, "convert to a pool");
    cr_expect_str_eq(str_of(data_of(r), "owner_id"), "pool:4", "%s", r->body);
    long long org2 = json_integer_value(json_object_get(data_of(r), "organization_id"));
    harness_resp_destroy(&r);
    cr_expect_gt(org2, navy);
    char q[160];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM leads.contacts WHERE id = %lld AND is_organization AND name = 'Initech'",
             org2);
    cr_expect_eq(sql(q), 1);

    /* A sales user cannot convert someone else's lead. */
    long long s1 = harness_create(
        h, "users", json_pack("{s:s,s:s,s:s}", "name", "s1", "email", "s1@example.com", "role", "sales"));
    json_t *tb = json_pack("{s:{s:I}}", "data", "user_id", (json_int_t)s1);
    r = harness_api(h, "POST", "/v2/api_tokens", admin, tb);
    json_decref(tb);
    char *tok = strdup(str_of(data_of(r), "token"));
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads", admin, json_pack("{s:s}", "last_name", "NotYours"));
    long long lead3 = id_of(r);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/lead_conversions", tok, json_pack("{s:I}", "lead_id", (json_int_t)lead3));
    expect_status(r, 422, "sales converting another's lead: not found, named");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/lead_conversions", tok), 0,
                 "sales sees no one else's conversions");
    free(tok);
}

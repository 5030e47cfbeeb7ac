/* /v2/leads and /v2/contacts through HTTP on the real stack: create, retrieve, partial update,
 * delete, every list filter and sort, round trip of every attribute, the 4xx paths, the events
 * in the outbox, lead statuses with their YAML rules (C1, C2), the timeline (C4) and the
 * visibility matrix (H1: admin, manager, sales). */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leads.pb-c.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(leads_api, .fini = stop_stack, .timeout = 600);

/* ---- helpers -------------------------------------------------------------------------------- */

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

static json_t *data_of_item(json_t *items, size_t i)
{
    return json_object_get(json_array_get(items, i), "data");
}

static long long id_of(harness_resp_t *r)
{
    return json_integer_value(json_object_get(data_of(r), "id"));
}

static const char *str_of(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k)) ?: "(null)";
}

/* The error list of a 4xx body: field of error i, or "". */
static const char *err_field(harness_resp_t *r, size_t i)
{
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "errors"), i), "error");
    return json_string_value(json_object_get(e, "field")) ?: "";
}

static size_t err_count(harness_resp_t *r)
{
    return json_array_size(json_object_get(r->json, "errors"));
}

static void expect_status(harness_resp_t *r, long want, const char *what)
{
    cr_expect_eq(r->status, want, "%s: %ld %s", what, r->status, r->body);
}

/* Ids of the items of a list reply, in order, into ids[] (at most n); returns the count or -1. */
static int list_ids(const char *path, const char *token, long long *ids, int n)
{
    harness_resp_t *r = call("GET", path, token, NULL);
    if (r->status != 200) {
        cr_log_error("GET %s: %ld %s", path, r->status, r->body);
        harness_resp_destroy(&r);
        return -1;
    }
    json_t *items = json_object_get(r->json, "items");
    int k = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (k < n)
            ids[k] = json_integer_value(json_object_get(json_object_get(it, "data"), "id"));
        k++;
    }
    harness_resp_destroy(&r);
    return k;
}

static char *mint_token(long long user_id)
{
    json_t *body = json_pack("{s:{s:I}}", "data", "user_id", (json_int_t)user_id);
    harness_resp_t *r = harness_api(h, "POST", "/v2/api_tokens", harness_admin_token(h), body);
    json_decref(body);
    cr_assert(r && r->status >= 200 && r->status < 300, "mint token");
    char *tok = strdup(json_string_value(json_object_get(data_of(r), "token")));
    harness_resp_destroy(&r);
    return tok;
}

static long long make_user(const char *name, const char *role)
{
    char email[128];
    snprintf(email, sizeof email, "%s@example.com", name);
    long long id =
        harness_create(h, "users", json_pack("{s:s,s:s,s:s}", "name", name, "email", email, "role", role));
    cr_assert_gt(id, 0, "user %s", name);
    return id;
}

/* Number of outbox rows of crm-leads of that type. */
static long long outbox_count(const char *type)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.outbox WHERE type = '%s'", type);
    return harness_sql_long(h, sql);
}

/* The payloads of every outbox row of that type, oldest first: n rows into *out (malloc'd). */
typedef struct {
    uint8_t *data;
    size_t len;
} payload_t;

static size_t outbox_rows(const char *type, payload_t **out)
{
    PGconn *conn = PQconnectdb(pgtest_url(harness_pg(h)));
    const char *p[] = {type};
    PGresult *res = PQexecParams(conn, "SELECT payload FROM leads.outbox WHERE type = $1 ORDER BY id", 1,
                                 NULL, p, NULL, NULL, 1);
    size_t n = PQresultStatus(res) == PGRES_TUPLES_OK ? (size_t)PQntuples(res) : 0;
    *out = calloc(n + 1, sizeof **out);
    for (size_t i = 0; i < n; i++) {
        (*out)[i].len = (size_t)PQgetlength(res, (int)i, 0);
        (*out)[i].data = malloc((*out)[i].len + 1);
        memcpy((*out)[i].data, PQgetvalue(res, (int)i, 0), (*out)[i].len);
    }
    PQclear(res);
    PQfinish(conn);
    return n;
}

static void rows_free(payload_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].data);
    free(rows);
}

/* Lead events of that type about lead_id made by changed_by (assignments by crm-assign excluded). */
static int lead_events(const char *type, long long lead_id, long long changed_by, long long previous_owner)
{
    payload_t *rows;
    size_t n = outbox_rows(type, &rows);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        Crm__LeadEvent *ev = crm__lead_event__unpack(NULL, rows[i].len, rows[i].data);
        if (ev && ev->lead && ev->lead->id == lead_id && ev->changed_by == changed_by &&
            !ev->has_assignment_id && (previous_owner < 0 || ev->previous_owner_id == previous_owner))
            k++;
        if (ev)
            crm__lead_event__free_unpacked(ev, NULL);
    }
    rows_free(rows, n);
    return k;
}

static int contact_events(const char *type, long long contact_id, long long changed_by,
                          long long previous_owner, long long owner)
{
    payload_t *rows;
    size_t n = outbox_rows(type, &rows);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        Crm__ContactEvent *ev = crm__contact_event__unpack(NULL, rows[i].len, rows[i].data);
        if (ev && ev->contact && ev->contact->id == contact_id && ev->changed_by == changed_by &&
            !ev->has_assignment_id && (previous_owner < 0 || ev->previous_owner_id == previous_owner) &&
            (owner < 0 || ev->contact->owner_id == owner))
            k++;
        if (ev)
            crm__contact_event__free_unpacked(ev, NULL);
    }
    rows_free(rows, n);
    return k;
}

static uint8_t *outbox_last(const char *type, size_t *len)
{
    payload_t *rows;
    size_t n = outbox_rows(type, &rows);
    uint8_t *out = NULL;
    *len = 0;
    if (n > 0) {
        out = rows[n - 1].data;
        *len = rows[n - 1].len;
        rows[n - 1].data = NULL;
    }
    rows_free(rows, n);
    return out;
}

/* Defines a custom field of resource_type (admin, through the API). */
static void define_field(const char *rtype, json_t *def)
{
    char path[64];
    snprintf(path, sizeof path, "/v2/%s/custom_fields", rtype);
    harness_resp_t *r = call("POST", path, harness_admin_token(h), def);
    cr_assert_eq(r->status, 200, "define custom field: %s", r->body);
    harness_resp_destroy(&r);
}

/* ---- leads ---------------------------------------------------------------------------------- */

Test(leads_api, leads_crud_filters_statuses_timeline)
{
    harness_opts_t opts = {.leads_extra = "  status_rules:\n    Working:\n      required: [email, phone]\n"};
    h = harness_start_opts(&opts);
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long admin_id = harness_sql_long(h, "SELECT min(id) FROM assign.users");
    /* The custom fields the leads below carry (values are checked against their definitions). */
    define_field("lead", json_pack("{s:s,s:s,s:[{s:s},{s:s}]}", "name", "Size", "type", "list", "choices",
                                   "name", "L", "name", "S"));
    define_field("lead", json_pack("{s:s,s:s}", "name", "Seats", "type", "number"));
    define_field("lead", json_pack("{s:s,s:s,s:[{s:s},{s:s}]}", "name", "Modules", "type",
                                   "multi_select_list", "choices", "name", "a", "name", "b"));
    define_field("lead", json_pack("{s:s,s:s}", "name", "Signed", "type", "bool"));

    /* Create with every attribute: all come back. */
    json_t *full = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s},s:[s,s],"
        "s:{s:s,s:i,s:[s,s],s:b}}",
        "first_name", "Ada", "last_name", "Lovelace", "organization_name", "Engines Ltd", "title", "CTO",
        "description", "met at the fair", "industry", "Computing", "website", "https://engines.example",
        "email", "Ada@Engines.example", "phone", "+44 20 7946 0000", "mobile", "+44 7700 900000", "fax",
        "020 7946 0001", "twitter", "@ada", "facebook", "ada.l", "linkedin", "in/ada", "skype", "ada.skype",
        "address", "line1", "12 St James's Square", "city", "London", "postal_code", "SW1Y 4JH", "state",
        "England", "country", "UK", "tags", "vip", "fair", "custom_fields", "Size", "L", "Seats", 12,
        "Modules", "a", "b", "Signed", 1);
    harness_resp_t *r = call("POST", "/v2/leads", admin, full);
    expect_status(r, 200, "create");
    long long a = id_of(r);
    cr_assert_gt(a, 0);
    harness_resp_destroy(&r);
    char path[256];
    snprintf(path, sizeof path, "/v2/leads/%lld", a);
    r = call("GET", path, admin, NULL);
    expect_status(r, 200, "get");
    json_t *d = data_of(r);
    const char *keys[] = {"first_name", "last_name",   "organization_name",
                          "title",      "description", "industry",
                          "website",    "email",       "phone",
                          "mobile",     "fax",         "twitter",
                          "facebook",   "linkedin",    "skype"};
    const char *want[] = {"Ada",
                          "Lovelace",
                          "Engines Ltd",
                          "CTO",
                          "met at the fair",
                          "Computing",
                          "https://engines.example",
                          "Ada@Engines.example",
                          "+44 20 7946 0000",
                          "+44 7700 900000",
                          "020 7946 0001",
                          "@ada",
                          "ada.l",
                          "in/ada",
                          "ada.skype"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_expect_str_eq(str_of(d, keys[i]), want[i], "%s round trip", keys[i]);
    cr_expect_str_eq(str_of(json_object_get(d, "address"), "line1"), "12 St James's Square");
    cr_expect_str_eq(str_of(json_object_get(d, "address"), "postal_code"), "SW1Y 4JH");
    cr_expect_str_eq(str_of(json_object_get(d, "address"), "country"), "UK");
    cr_expect_eq(json_array_size(json_object_get(d, "tags")), 2);
    json_t *cf = json_object_get(d, "custom_fields");
    cr_expect_str_eq(str_of(cf, "Size"), "L", "custom_fields: %s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(cf, "Seats")), 12);
    cr_expect_eq(json_array_size(json_object_get(cf, "Modules")), 2);
    cr_expect(json_is_true(json_object_get(cf, "Signed")));
    cr_expect_str_eq(str_of(d, "status"), "New", "default status");
    cr_expect_eq(json_integer_value(json_object_get(d, "owner_id")), admin_id,
                 "owner defaults to the creator");
    cr_expect_eq(json_integer_value(json_object_get(d, "creator_id")), admin_id);
    cr_expect(json_is_string(json_object_get(d, "created_at")));
    cr_expect(!json_object_get(d, "update_mask"), "update_mask is never rendered");
    harness_resp_destroy(&r);

    /* lead.created in the outbox, with changed_by. */
    cr_expect_eq(outbox_count("lead.created"), 1);
    cr_expect_eq(lead_events("lead.created", a, admin_id, -1), 1, "lead.created with changed_by");

    /* 422 paths of create. */
    r = call("POST", "/v2/leads", admin, json_pack("{s:s}", "first_name", "Nameless"));
    expect_status(r, 422, "no last_name nor organization_name");
    cr_expect_str_eq(err_field(r, 0), "/last_name");
    cr_expect_str_eq(err_field(r, 1), "/organization_name");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads", admin, json_pack("{s:s,s:s}", "last_name", "X", "custom_fields", "text"));
    expect_status(r, 422, "custom_fields not an object");
    cr_expect_str_eq(err_field(r, 0), "/custom_fields");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads", admin, json_pack("{s:s,s:s}", "last_name", "X", "status", "Bogus"));
    expect_status(r, 422, "unknown status");
    cr_expect_str_eq(err_field(r, 0), "/status");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads", admin, json_pack("{s:s,s:s}", "last_name", "X", "nickname", "x"));
    expect_status(r, 422, "unknown attribute");
    cr_expect_str_eq(err_field(r, 0), "/nickname");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads", admin, json_pack("{s:s,s:s}", "last_name", "X", "owner_id", "abc"));
    expect_status(r, 422, "owner_id of the wrong type");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads?x=1", admin, json_pack("{s:s}", "last_name", "X"));
    expect_status(r, 400, "query parameter on create");
    harness_resp_destroy(&r);
    json_t *bare = json_pack("{s:s}", "last_name", "X");
    r = harness_api(h, "POST", "/v2/leads", admin, bare); /* harness_api does not take bare */
    json_decref(bare);
    expect_status(r, 400, "body without data");
    harness_resp_destroy(&r);

    /* Partial update: only the attributes sent change. */
    r = call("PUT", path, admin,
             json_pack("{s:s,s:[],s:{s:s}}", "title", "CEO", "tags", "address", "city", "Bath"));
    expect_status(r, 200, "partial update");
    d = data_of(r);
    cr_expect_str_eq(str_of(d, "title"), "CEO");
    cr_expect_str_eq(str_of(d, "first_name"), "Ada", "untouched");
    cr_expect_str_eq(str_of(d, "email"), "Ada@Engines.example", "untouched");
    cr_expect_eq(json_array_size(json_object_get(d, "tags")), 0, "tags replaced wholesale by []");
    cr_expect_str_eq(str_of(json_object_get(d, "address"), "city"), "Bath");
    cr_expect_str_eq(str_of(json_object_get(d, "address"), "line1"), "12 St James's Square",
                     "rest of the address kept");
    cr_expect_str_eq(str_of(json_object_get(d, "custom_fields"), "Size"), "L", "custom fields kept");
    harness_resp_destroy(&r);
    r = call("PUT", path, admin, json_pack("{s:n}", "description"));
    expect_status(r, 200, "null clears");
    cr_expect(json_is_null(json_object_get(data_of(r), "description")), "%s", r->body);
    harness_resp_destroy(&r);
    r = call("PUT", path, admin, json_pack("{s:n,s:n}", "last_name", "organization_name"));
    expect_status(r, 422, "update removing both names");
    cr_expect_str_eq(err_field(r, 0), "/last_name");
    harness_resp_destroy(&r);
    r = call("GET", path, admin, NULL);
    cr_expect_str_eq(str_of(data_of(r), "last_name"), "Lovelace", "refused update changed nothing");
    harness_resp_destroy(&r);
    r = call("PUT", "/v2/leads/999999", admin, json_pack("{s:s}", "title", "x"));
    expect_status(r, 404, "update of a missing lead");
    harness_resp_destroy(&r);
    r = call("GET", "/v2/leads/999999", admin, NULL);
    expect_status(r, 404, "get of a missing lead");
    harness_resp_destroy(&r);
    cr_expect_eq(lead_events("lead.updated", a, admin_id, admin_id), 2, "one lead.updated per accepted PUT");

    /* Status rules (C2): Working needs email and phone; both named when both are missing. */
    r = call("POST", "/v2/leads", admin,
             json_pack("{s:s,s:s,s:s}", "first_name", "Bo", "last_name", "Brown", "organization_name",
                       "Brown & Co"));
    long long b = id_of(r);
    harness_resp_destroy(&r);
    char bpath[64];
    snprintf(bpath, sizeof bpath, "/v2/leads/%lld", b);
    r = call("PUT", bpath, admin, json_pack("{s:s}", "status", "Working"));
    expect_status(r, 422, "Working without email and phone");
    cr_expect_eq(err_count(r), 2, "%s", r->body);
    cr_expect_str_eq(err_field(r, 0), "/email");
    cr_expect_str_eq(err_field(r, 1), "/phone");
    harness_resp_destroy(&r);
    r = call("PUT", bpath, admin, json_pack("{s:s,s:s}", "status", "Working", "email", "bo@brown.example"));
    expect_status(r, 422, "Working without phone");
    cr_expect_eq(err_count(r), 1);
    cr_expect_str_eq(err_field(r, 0), "/phone");
    harness_resp_destroy(&r);
    r = call("PUT", bpath, admin, json_pack("{s:s}", "status", "Converted"));
    expect_status(r, 422, "Converted only by a conversion");
    harness_resp_destroy(&r);
    long long changed_before = outbox_count("lead.status_changed");
    r = call(
        "PUT", bpath, admin,
        json_pack("{s:s,s:s,s:s}", "status", "Working", "email", "bo@brown.example", "phone", "+1 555 0100"));
    expect_status(r, 200, "Working with email and phone");
    cr_expect_str_eq(str_of(data_of(r), "status"), "Working");
    harness_resp_destroy(&r);
    cr_expect_eq(outbox_count("lead.status_changed"), changed_before + 1, "one lead.status_changed");
    size_t len;
    uint8_t *pb = outbox_last("lead.status_changed", &len);
    Crm__LeadStatusChanged *sc = crm__lead_status_changed__unpack(NULL, len, pb);
    free(pb);
    cr_assert_not_null(sc);
    cr_expect_eq(sc->lead_id, b);
    cr_expect_str_eq(sc->previous_status, "New");
    cr_expect_str_eq(sc->status, "Working");
    cr_expect_eq(sc->changed_by, admin_id);
    crm__lead_status_changed__free_unpacked(sc, NULL);

    /* Statuses listed with their rules. */
    r = call("GET", "/v2/lead_statuses", admin, NULL);
    expect_status(r, 200, "lead statuses");
    json_t *items = json_object_get(r->json, "items");
    cr_expect_eq(json_array_size(items), 4, "%s", r->body);
    cr_expect_str_eq(str_of(json_object_get(json_array_get(items, 0), "data"), "name"), "New");
    cr_expect_eq(
        json_array_size(json_object_get(json_object_get(json_array_get(items, 1), "data"), "required")), 2);
    harness_resp_destroy(&r);

    /* Timeline: created, then the status change with who and when, in order. */
    char tpath[96];
    snprintf(tpath, sizeof tpath, "/v2/leads/%lld/activities", b);
    r = call("GET", tpath, admin, NULL);
    expect_status(r, 200, "timeline");
    items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r->body);
    json_t *t0 = json_object_get(json_array_get(items, 0), "data");
    json_t *t1 = json_object_get(json_array_get(items, 1), "data");
    cr_expect_str_eq(str_of(t0, "kind"), "created");
    cr_expect_str_eq(str_of(t1, "kind"), "status_changed");
    cr_expect_str_eq(str_of(t1, "previous_value"), "New");
    cr_expect_str_eq(str_of(t1, "value"), "Working");
    cr_expect_eq(json_integer_value(json_object_get(t1, "actor_id")), admin_id);
    cr_expect(json_is_string(json_object_get(t1, "created_at")));
    harness_resp_destroy(&r);
    r = call("GET", "/v2/leads/999999/activities", admin, NULL);
    expect_status(r, 404, "timeline of a missing lead");
    harness_resp_destroy(&r);

    /* A third lead for the filters. */
    r = call("POST", "/v2/leads", admin,
             json_pack("{s:s,s:s,s:{s:s},s:{s:s}}", "last_name", "Curie", "email", "marie@radium.example",
                       "address", "city", "Paris", "custom_fields", "Size", "S"));
    long long c = id_of(r);
    harness_resp_destroy(&r);

    long long ids[10];
    struct {
        const char *q;
        int n;
        long long first;
    } cases[] = {
        {"/v2/leads?first_name=Bo", 1, b},
        {"/v2/leads?last_name=Curie", 1, c},
        {"/v2/leads?organization_name=Engines%20Ltd", 1, a},
        {"/v2/leads?status=Working", 1, b},
        {"/v2/leads?email=MARIE@radium.example", 1, c},
        {"/v2/leads?email=%20marie@radium.example%20", 1, c}, /* compared as the dedup key */
        {"/v2/leads?email=marie@radium", 0, 0},
        {"/v2/leads?address%5Bcity%5D=Paris", 1, c},
        {"/v2/leads?address[city]=Bath", 1, a},
        {"/v2/leads?custom_fields%5BSize%5D=L", 1, a},
        {"/v2/leads?custom_fields[Modules]=b", 1, a},
        {"/v2/leads?sort_by=last_name:desc", 3, a},
        {"/v2/leads?sort_by=last_name", 3, b},
        {"/v2/leads?sort_by=id:desc&per_page=1&page=2", 1, b},
        {"/v2/leads?per_page=2&page=2&sort_by=id", 1, c},
        {"/v2/leads?page=9", 0, 0},
        {"/v2/leads?phone=%2B1%20555%200100", 1, b},
        {"/v2/leads?source_id=424242", 0, 0},
    };
    char q[160];
    snprintf(q, sizeof q, "/v2/leads?ids=%lld,%lld&sort_by=id", c, a);
    cr_expect_eq(list_ids(q, admin, ids, 10), 2, "ids=");
    cr_expect_eq(ids[0], a);
    snprintf(q, sizeof q, "/v2/leads?owner_id=%lld&creator_id=%lld", admin_id, admin_id);
    cr_expect_eq(list_ids(q, admin, ids, 10), 3, "owner_id and creator_id");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = list_ids(cases[i].q, admin, ids, 10);
        cr_expect_eq(n, cases[i].n, "%s: %d items", cases[i].q, n);
        if (n > 0 && cases[i].first)
            cr_expect_eq(ids[0], cases[i].first, "%s: first %lld", cases[i].q, ids[0]);
    }
    const char *bad[] = {"/v2/leads?sort_by=nickname", "/v2/leads?sort_by=id:up",
                         "/v2/leads?nickname=x",       "/v2/leads?per_page=101",
                         "/v2/leads?page=0",           "/v2/leads?ids=1,x",
                         "/v2/leads?owner_id=abc",     "/v2/leads?address[planet]=Mars",
                         "/v2/leads?address[]=x",      "/v2/lead_statuses?sort_by=name"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = call("GET", bad[i], admin, NULL);
        expect_status(r, 400, bad[i]);
        harness_resp_destroy(&r);
    }

    /* Delete: 204 and gone; again 404. */
    r = call("DELETE", path, admin, NULL);
    expect_status(r, 204, "delete");
    cr_expect_eq(r->body_len, 0);
    harness_resp_destroy(&r);
    r = call("GET", path, admin, NULL);
    expect_status(r, 404, "deleted lead");
    harness_resp_destroy(&r);
    r = call("DELETE", path, admin, NULL);
    expect_status(r, 404, "delete twice");
    harness_resp_destroy(&r);
    r = call("PATCH", path, admin, NULL);
    expect_status(r, 405, "PATCH");
    harness_resp_destroy(&r);
}

/* ---- contacts and visibility ------------------------------------------------------------------ */

Test(leads_api, contacts_crud_and_visibility_matrix)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    define_field("contact", json_pack("{s:s,s:s}", "name", "Tier", "type", "string"));
    long long s1 = make_user("sally", "sales"), s2 = make_user("sam", "sales"),
              m = make_user("mona", "manager");
    char *t1 = mint_token(s1), *t2 = mint_token(s2), *tm = mint_token(m);

    /* Organization and person, every attribute round-trips. */
    harness_resp_t *r =
        call("POST", "/v2/contacts", t1,
             json_pack("{s:b,s:s,s:s,s:s,s:{s:s},s:[s],s:{s:s}}", "is_organization", 1, "name", "Acme",
                       "industry", "Anvils", "website", "https://acme.example", "address", "city", "Tucson",
                       "tags", "key", "custom_fields", "Tier", "gold"));
    expect_status(r, 200, "organization");
    long long org = id_of(r);
    cr_expect(json_is_true(json_object_get(data_of(r), "is_organization")));
    cr_expect_eq(json_integer_value(json_object_get(data_of(r), "owner_id")), s1, "creator owns it");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/contacts", t1,
             json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "first_name", "Wile",
                       "last_name", "Coyote", "name", "Wile E. Coyote", "contact_id", (json_int_t)org,
                       "email", "wile@acme.example", "phone", "+1 520 555 0100", "mobile", "+1 520 555 0101",
                       "title", "Genius", "twitter", "@wile", "linkedin", "in/wile", "skype", "wile.e",
                       "customer_status", "current", "prospect_status", "none"));
    expect_status(r, 200, "person");
    long long person = id_of(r);
    json_t *d = data_of(r);
    cr_expect_eq(json_integer_value(json_object_get(d, "contact_id")), org);
    cr_expect_str_eq(str_of(d, "customer_status"), "current");
    cr_expect_str_eq(str_of(d, "skype"), "wile.e");
    cr_expect(json_is_false(json_object_get(d, "is_organization")));
    harness_resp_destroy(&r);
    cr_expect_eq(outbox_count("contact.created"), 2);
    cr_expect_eq(contact_events("contact.created", org, s1, -1, s1), 1);

    r = call("POST", "/v2/contacts", t1, json_pack("{s:b}", "is_organization", 1));
    expect_status(r, 422, "organization without name");
    cr_expect_str_eq(err_field(r, 0), "/name");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/contacts", t1, json_pack("{s:s,s:s}", "first_name", "Road", "name", "Road Runner"));
    expect_status(r, 422, "person without last_name");
    cr_expect_str_eq(err_field(r, 0), "/last_name");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/contacts", t1, json_pack("{s:s,s:i}", "last_name", "X", "is_organization", 3));
    expect_status(r, 422, "is_organization not a bool");
    harness_resp_destroy(&r);

    char path[64];
    snprintf(path, sizeof path, "/v2/contacts/%lld", person);
    r = call("PUT", path, t1, json_pack("{s:s,s:b}", "title", "Super Genius", "is_organization", 0));
    expect_status(r, 200, "partial update echoing is_organization");
    cr_expect_str_eq(str_of(data_of(r), "title"), "Super Genius");
    cr_expect_str_eq(str_of(data_of(r), "email"), "wile@acme.example");
    harness_resp_destroy(&r);
    r = call("PUT", path, t1, json_pack("{s:b}", "is_organization", 1));
    expect_status(r, 422, "is_organization cannot change");
    cr_expect_str_eq(err_field(r, 0), "/is_organization");
    harness_resp_destroy(&r);
    r = call("PUT", path, t1, json_pack("{s:n}", "last_name"));
    expect_status(r, 422, "person losing its last_name");
    harness_resp_destroy(&r);
    cr_expect_eq(contact_events("contact.updated", person, s1, s1, s1), 1,
                 "one contact.updated per accepted PUT");

    /* Filters and sort (default last_name). */
    long long ids[10];
    char q[128];
    cr_expect_eq(list_ids("/v2/contacts?is_organization=true", admin, ids, 10), 1);
    cr_expect_eq(ids[0], org);
    snprintf(q, sizeof q, "/v2/contacts?contact_id=%lld", org);
    cr_expect_eq(list_ids(q, admin, ids, 10), 1);
    cr_expect_eq(ids[0], person);
    cr_expect_eq(list_ids("/v2/contacts?name=Acme", admin, ids, 10), 1);
    cr_expect_eq(list_ids("/v2/contacts?last_name=Coyote&first_name=Wile", admin, ids, 10), 1);
    cr_expect_eq(list_ids("/v2/contacts?email=WILE@acme.example", admin, ids, 10), 1);
    cr_expect_eq(list_ids("/v2/contacts?address[city]=Tucson", admin, ids, 10), 1);
    cr_expect_eq(ids[0], org);
    cr_expect_eq(list_ids("/v2/contacts?custom_fields[Tier]=gold", admin, ids, 10), 1);
    cr_expect_eq(list_ids("/v2/contacts?sort_by=id:desc", admin, ids, 10), 2);
    cr_expect_eq(ids[0], person);
    snprintf(q, sizeof q, "/v2/contacts?ids=%lld", org);
    cr_expect_eq(list_ids(q, admin, ids, 10), 1);
    r = call("GET", "/v2/contacts?sort_by=planet", admin, NULL);
    expect_status(r, 400, "bad sort");
    harness_resp_destroy(&r);
    r = call("GET", "/v2/contacts?is_organization=maybe", admin, NULL);
    expect_status(r, 400, "bad bool");
    harness_resp_destroy(&r);

    /* Contact timeline. */
    char tp[96];
    snprintf(tp, sizeof tp, "/v2/contacts/%lld/activities", person);
    r = call("GET", tp, t1, NULL);
    expect_status(r, 200, "contact timeline");
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
    harness_resp_destroy(&r);

    /* Visibility matrix: one lead and one contact per sales user; sales see only their own
     * (404 for the other's, on get, update, delete and timelines); manager and admin see all. */
    r = call("POST", "/v2/leads", t1, json_pack("{s:s}", "last_name", "OfSally"));
    long long l1 = id_of(r);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads", t2, json_pack("{s:s}", "last_name", "OfSam"));
    long long l2 = id_of(r);
    harness_resp_destroy(&r);
    cr_assert(l1 > 0 && l2 > 0);
    struct {
        const char *who;
        const char *tok;
        int leads, contacts;
        bool sees_l1, sees_l2;
    } rows[] = {
        {"admin", admin, 2, 2, true, true},
        {"manager", tm, 2, 2, true, true},
        {"sales 1", t1, 1, 2, true, false},
        {"sales 2", t2, 1, 0, false, true},
    };
    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(harness_count_items(h, "/v2/leads", rows[i].tok), rows[i].leads, "%s lead count",
                     rows[i].who);
        cr_expect_eq(harness_count_items(h, "/v2/contacts", rows[i].tok), rows[i].contacts,
                     "%s contact count", rows[i].who);
        long long lid[2] = {l1, l2};
        bool sees[2] = {rows[i].sees_l1, rows[i].sees_l2};
        for (int k = 0; k < 2; k++) {
            char lp[64];
            snprintf(lp, sizeof lp, "/v2/leads/%lld", lid[k]);
            r = call("GET", lp, rows[i].tok, NULL);
            cr_expect_eq(r->status, sees[k] ? 200 : 404, "%s GET lead %d: %ld", rows[i].who, k, r->status);
            harness_resp_destroy(&r);
            r = call("PUT", lp, rows[i].tok, json_pack("{s:s}", "title", rows[i].who));
            cr_expect_eq(r->status, sees[k] ? 200 : 404, "%s PUT lead %d: %ld", rows[i].who, k, r->status);
            harness_resp_destroy(&r);
            snprintf(lp, sizeof lp, "/v2/leads/%lld/activities", lid[k]);
            r = call("GET", lp, rows[i].tok, NULL);
            cr_expect_eq(r->status, sees[k] ? 200 : 404, "%s lead timeline %d: %ld", rows[i].who, k,
                         r->status);
            harness_resp_destroy(&r);
        }
    }
    r = call("GET", path, t2, NULL);
    expect_status(r, 404, "sales 2 cannot see sales 1's contact");
    harness_resp_destroy(&r);
    r = call("PUT", path, t2, json_pack("{s:s}", "title", "x"));
    expect_status(r, 404, "nor change it");
    harness_resp_destroy(&r);
    r = call("DELETE", path, t2, NULL);
    expect_status(r, 404, "nor delete it");
    harness_resp_destroy(&r);
    r = call("GET", tp, t2, NULL);
    expect_status(r, 404, "nor read its timeline");
    harness_resp_destroy(&r);
    char lp[64];
    snprintf(lp, sizeof lp, "/v2/leads/%lld", l1);
    r = call("DELETE", lp, t2, NULL);
    expect_status(r, 404, "sales 2 cannot delete sales 1's lead");
    harness_resp_destroy(&r);
    r = call("DELETE", lp, t1, NULL);
    expect_status(r, 204, "the owner can");
    harness_resp_destroy(&r);

    /* Handing a contact to another sales user moves it out of sight. */
    r = call("PUT", path, tm, json_pack("{s:I}", "owner_id", (json_int_t)s2));
    expect_status(r, 200, "manager reassigns");
    harness_resp_destroy(&r);
    r = call("GET", path, t2, NULL);
    expect_status(r, 200, "new owner sees it");
    harness_resp_destroy(&r);
    r = call("GET", path, t1, NULL);
    expect_status(r, 404, "old owner does not");
    harness_resp_destroy(&r);
    cr_expect_eq(contact_events("contact.updated", person, m, s1, s2), 1, "reassignment event");
    r = call("DELETE", path, admin, NULL);
    expect_status(r, 204, "admin deletes");
    harness_resp_destroy(&r);
    free(t1);
    free(t2);
    free(tm);
}

/* ---- configured statuses (C1, C2) and the timeline (C4) ----------------------------------------- */

static bool webby_captured(harness_t *self, void *arg)
{
    (void)arg;
    return harness_sql_long(self, "SELECT count(*) FROM leads.leads WHERE last_name = 'Webby'") == 1;
}

/* Statuses come from leads.statuses (the first is a new lead's); each may name required
 * attributes; a refused change names every missing one and changes nothing; every accepted
 * change is a timeline row (who, when, from, to) and one lead.status_changed. The timeline lists
 * creation, notes, status and owner changes and the conversion in order, each with its actor. */
Test(leads_api, configured_statuses_and_timeline_order)
{
    harness_opts_t opts = {.leads_extra = "  statuses: [Fresh, Contacted, Qualified, Lost]\n"
                                          "  status_rules:\n"
                                          "    Qualified:\n"
                                          "      required: [email, phone, title]\n"};
    h = harness_start_opts(&opts);
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long admin_id = harness_sql_long(h, "SELECT min(id) FROM assign.users");
    long long rep = make_user("rita", "sales");
    char *trep = mint_token(rep);

    harness_resp_t *r = call("GET", "/v2/lead_statuses", admin, NULL);
    expect_status(r, 200, "lead statuses");
    const char *want[] = {"Fresh", "Contacted", "Qualified", "Lost", "Converted"};
    json_t *items = json_object_get(r->json, "items");
    cr_expect_eq(json_array_size(items), 5, "%s", r->body);
    for (size_t i = 0; i < 5 && i < json_array_size(items); i++)
        cr_expect_str_eq(str_of(data_of_item(items, i), "name"), want[i]);
    cr_expect_eq(json_array_size(json_object_get(data_of_item(items, 2), "required")), 3, "%s", r->body);
    harness_resp_destroy(&r);

    r = call("POST", "/v2/leads", trep, json_pack("{s:s}", "last_name", "Stat"));
    expect_status(r, 200, "create");
    long long id = id_of(r);
    cr_expect_str_eq(str_of(data_of(r), "status"), "Fresh", "first configured status");
    harness_resp_destroy(&r);
    /* A web form capture makes a lead in the first configured status too. */
    r = harness_post_form(h, "application/json", "{\"last_name\":\"Webby\",\"email\":\"webby@example.com\"}");
    expect_status(r, 202, "capture");
    harness_resp_destroy(&r);
    cr_expect(harness_wait_until(h, harness_ms(30000), webby_captured, NULL, "capture applied"));
    cr_expect_eq(harness_sql_long(
                     h, "SELECT count(*) FROM leads.leads WHERE last_name = 'Webby' AND status = 'Fresh'"),
                 1, "captured lead in the default status");
    r = call("POST", "/v2/leads", trep, json_pack("{s:s,s:s}", "last_name", "Old", "status", "New"));
    expect_status(r, 422, "a default status that is not configured");
    cr_expect_str_eq(err_field(r, 0), "/status");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/leads", trep, json_pack("{s:s,s:s}", "last_name", "Q", "status", "Qualified"));
    expect_status(r, 422, "created straight into a status without its fields");
    cr_expect_eq(err_count(r), 3, "%s", r->body);
    harness_resp_destroy(&r);

    char path[64], tpath[96];
    snprintf(path, sizeof path, "/v2/leads/%lld", id);
    snprintf(tpath, sizeof tpath, "/v2/leads/%lld/activities", id);
    r = call("PUT", path, trep, json_pack("{s:s}", "status", "Contacted"));
    expect_status(r, 200, "Contacted has no rule");
    harness_resp_destroy(&r);
    r = call("PUT", path, trep, json_pack("{s:s,s:s}", "status", "Qualified", "phone", "+1 555 0101"));
    expect_status(r, 422, "Qualified without email and title");
    cr_expect_eq(err_count(r), 2, "%s", r->body);
    cr_expect_str_eq(err_field(r, 0), "/email");
    cr_expect_str_eq(err_field(r, 1), "/title");
    harness_resp_destroy(&r);
    r = call("GET", path, trep, NULL);
    cr_expect_str_eq(str_of(data_of(r), "status"), "Contacted", "refused change left the lead alone");
    cr_expect(json_is_null(json_object_get(data_of(r), "phone")), "nor its phone: %s", r->body);
    harness_resp_destroy(&r);

    /* A note (by the rep), the qualification (by the rep), an owner change (by the admin). */
    char note[160];
    snprintf(note, sizeof note,
             "{\"data\":{\"content\":\"called\",\"resource_type\":\"lead\",\"resource_id\":%lld}}", id);
    r = harness_http(h, &(harness_req_t){.method = "POST",
                                         .path = "/v2/notes",
                                         .body = note,
                                         .content_type = "application/json",
                                         .token = trep});
    expect_status(r, 200, "note");
    harness_resp_destroy(&r);
    long long changed = outbox_count("lead.status_changed");
    r = call("PUT", path, trep,
             json_pack("{s:s,s:s,s:s,s:s}", "status", "Qualified", "email", "s@x.example", "phone",
                       "+1 555 0101", "title", "CTO"));
    expect_status(r, 200, "Qualified with its fields");
    harness_resp_destroy(&r);
    cr_expect_eq(outbox_count("lead.status_changed"), changed + 1);
    r = call("PUT", path, admin, json_pack("{s:I}", "owner_id", (json_int_t)admin_id));
    expect_status(r, 200, "owner change");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/lead_conversions", admin, json_pack("{s:I}", "lead_id", (json_int_t)id));
    expect_status(r, 200, "conversion");
    harness_resp_destroy(&r);

    r = call("GET", tpath, admin, NULL);
    expect_status(r, 200, "timeline");
    items = json_object_get(r->json, "items");
    struct {
        const char *kind, *from, *to;
        long long actor;
    } steps[] = {
        {"created", NULL, "Fresh", rep},
        {"status_changed", "Fresh", "Contacted", rep},
        {"note", NULL, NULL, rep},
        {"status_changed", "Contacted", "Qualified", rep},
        {"owner_changed", NULL, NULL, admin_id},
        {"converted", "Qualified", "Converted", admin_id},
    };
    size_t n = sizeof steps / sizeof steps[0];
    cr_assert_eq(json_array_size(items), n, "%s", r->body);
    const char *prev_at = "";
    for (size_t i = 0; i < n; i++) {
        json_t *e = data_of_item(items, i);
        cr_expect_str_eq(str_of(e, "kind"), steps[i].kind, "entry %zu: %s", i, r->body);
        cr_expect_eq(json_integer_value(json_object_get(e, "actor_id")), steps[i].actor, "who of entry %zu",
                     i);
        if (steps[i].from)
            cr_expect_str_eq(str_of(e, "previous_value"), steps[i].from, "entry %zu", i);
        if (steps[i].to)
            cr_expect_str_eq(str_of(e, "value"), steps[i].to, "entry %zu", i);
        const char *at = str_of(e, "created_at");
        cr_expect(strcmp(at, prev_at) >= 0, "entry %zu at %s after %s", i, at, prev_at);
        prev_at = at;
    }
    harness_resp_destroy(&r);
    r = call("GET", "/v2/leads/999999/activities?sort_by=created_at:desc", admin, NULL);
    expect_status(r, 404, "timeline of a missing lead");
    harness_resp_destroy(&r);
    snprintf(tpath, sizeof tpath, "/v2/leads/%lld/activities?sort_by=kind", id);
    r = call("GET", tpath, admin, NULL);
    expect_status(r, 400, "timeline sorted by an unknown field");
    harness_resp_destroy(&r);
    snprintf(tpath, sizeof tpath, "/v2/leads/%lld/activities?sort_by=created_at:desc&per_page=1", id);
    r = call("GET", tpath, admin, NULL);
    expect_status(r, 200, "newest first");
    cr_expect_str_eq(str_of(data_of_item(json_object_get(r->json, "items"), 0), "kind"), "converted");
    harness_resp_destroy(&r);
    free(trep);
}

/* ---- the remaining 4xx paths ------------------------------------------------------------------ */

/* Error paths not exercised by the flows above: each answers its status with a Sell error body
 * (errors[].error, meta.logref) naming the field when there is one. */
Test(leads_api, remaining_4xx_paths)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    harness_resp_t *r = call("POST", "/v2/leads", admin, json_pack("{s:s}", "last_name", "Err"));
    long long lead = id_of(r);
    harness_resp_destroy(&r);
    cr_assert_gt(lead, 0);
    char lpath[64], body[256];
    snprintf(lpath, sizeof lpath, "/v2/leads/%lld", lead);

    struct {
        const char *method, *path, *token, *body;
        long status;
        const char *field;
    } cases[] = {
        /* missing records */
        {"GET", "/v2/contacts/999999", admin, NULL, 404, NULL},
        {"PUT", "/v2/contacts/999999", admin, "{\"data\":{\"title\":\"x\"}}", 404, NULL},
        {"DELETE", "/v2/contacts/999999", admin, NULL, 404, NULL},
        {"GET", "/v2/contacts/999999/activities", admin, NULL, 404, NULL},
        {"GET", "/v2/smart_lists/999999/items?page=1", admin, NULL, 404, NULL},
        {"GET", "/v2/leads/abc", admin, NULL, 404, NULL},
        /* no or a bad token */
        {"GET", "/v2/leads", NULL, NULL, 401, NULL},
        {"GET", "/v2/contacts", "0000000000000000000000000000000000000000000000000000000000000000", NULL, 401,
         NULL},
        /* bad bodies and query parameters */
        {"PUT", lpath, admin, "{\"data\":", 400, NULL},
        {"PUT", lpath, admin, "{\"title\":\"no envelope\"}", 400, NULL},
        {"POST", "/v2/contacts", admin, "[]", 400, NULL},
        {"GET", "/v2/leads?custom_fields=Size", admin, NULL, 400, NULL},
        {"GET", "/v2/contacts?per_page=0", admin, NULL, 400, NULL},
        {"GET", "/v2/contacts?colour=red", admin, NULL, 400, NULL},
        {"GET", "/v2/contacts?contact_id=x", admin, NULL, 400, NULL},
        {"GET", "/v2/lead_conversions?lead_id=abc", admin, NULL, 400, NULL},
        {"GET", "/v2/lead_conversions?per_page=500", admin, NULL, 400, NULL},
        {"GET", "/v2/lead_statuses?per_page=101", admin, NULL, 400, NULL},
        {"GET", "/v2/tasks?overdue=maybe", admin, NULL, 400, NULL},
        /* 422s naming the field */
        {"PUT", lpath, admin, "{\"data\":{\"status\":\"Bogus\"}}", 422, "/status"},
        {"PUT", lpath, admin, "{\"data\":{\"tags\":\"vip\"}}", 422, "/tags"},
        {"PUT", lpath, admin, "{\"data\":{\"address\":{\"planet\":\"Mars\"}}}", 422, "/address/planet"},
        {"POST", "/v2/contacts", admin, "{\"data\":{\"last_name\":\"X\",\"contact_id\":\"acme\"}}", 422,
         "/contact_id"},
        {"POST", "/v2/lead_conversions", admin, "{\"data\":{\"lead_id\":1,\"owner_id\":{\"id\":1}}}", 422,
         "/owner_id"},
        {"POST", "/v2/tasks", admin,
         "{\"data\":{\"content\":\"x\",\"due_date\":\"2030-01-01T10:00:00Z\",\"owner_id\":0}}", 422,
         "/owner_id"},
        {"POST", "/v2/tasks", admin, "{\"data\":{\"content\":\"x\",\"due_date\":\"tomorrow\"}}", 422,
         "/due_date"},
        {"POST", "/v2/smart_lists", admin, "{\"data\":{\"name\":\" \",\"resource_type\":\"lead\"}}", 422,
         "/name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = harness_http(h, &(harness_req_t){.method = cases[i].method,
                                             .path = cases[i].path,
                                             .body = cases[i].body,
                                             .content_type = cases[i].body ? "application/json" : NULL,
                                             .token = cases[i].token});
        cr_assert_not_null(r);
        cr_expect_eq(r->status, cases[i].status, "%s %s %s: %ld %s", cases[i].method, cases[i].path,
                     cases[i].body ? cases[i].body : "", r->status, r->body);
        cr_expect_gt(err_count(r), 0, "%s %s: an error body: %s", cases[i].method, cases[i].path, r->body);
        cr_expect(json_is_string(json_object_get(json_object_get(r->json, "meta"), "logref")), "logref: %s",
                  r->body);
        if (cases[i].field)
            cr_expect_str_eq(err_field(r, 0), cases[i].field, "%s %s %s", cases[i].method, cases[i].path,
                             cases[i].body);
        harness_resp_destroy(&r);
    }

    /* A deal without create_deal, and a conversion of a lead converted meanwhile. */
    snprintf(body, sizeof body, "{\"data\":{\"lead_id\":%lld,\"deal\":{\"name\":\"D\"}}}", lead);
    r = harness_http(h, &(harness_req_t){.method = "POST",
                                         .path = "/v2/lead_conversions",
                                         .body = body,
                                         .content_type = "application/json",
                                         .token = admin});
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(err_field(r, 0), "/create_deal");
    harness_resp_destroy(&r);
    r = call("DELETE", lpath, admin, NULL);
    expect_status(r, 204, "delete");
    harness_resp_destroy(&r);
    r = call("POST", "/v2/lead_conversions", admin, json_pack("{s:I}", "lead_id", (json_int_t)lead));
    expect_status(r, 422, "converting a deleted lead");
    cr_expect_str_eq(err_field(r, 0), "/lead_id");
    harness_resp_destroy(&r);
}

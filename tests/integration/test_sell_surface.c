/* The strictness rules of the /v2 surface (SELL_API.md §3–§4, issue 9), proven on every route of
 * the gateway's table (gw_route_at) against a real stack, so a route added later is covered too:
 * - every route: an unknown query parameter is 400 invalid_param (before anything happens);
 * - every list route: 200 collection; per_page over 100 (or 0) and page 0 are 400; a page past
 *   the end is 200 with "items": [];
 * - every create and update route: an unknown body attribute is 422 "unknown" with the field as
 *   a JSON pointer ("/bogus_attr");
 * - a sample of records (leads, contacts, notes, tasks, calls, tags, deals, lead sources): PUT of
 *   the whole record as GET gave it (read-only attributes included) is 200; a changed read-only
 *   attribute is 422 naming it.
 * Path parameters are filled from fixtures: the first item of the list at the path's prefix
 * ("/v2/leads/{id}/activities" ← first of /v2/leads). */
#include "leads2_util.h"
#include "routes.h"

static harness_t *h;
static const char *admin;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(sell_surface, .fini = stop_stack, .timeout = 900);

static const char *err_code(const harness_resp_t *r)
{
    return l2_err_code(r);
}

/* The id (or key) of the first item of the list at path, or -1. */
static long long first_id(const char *path, const char *key)
{
    char p[512];
    snprintf(p, sizeof p, "%s?per_page=1", path);
    harness_resp_t *r = l2_call(h, "GET", p, admin, NULL);
    long long id = -1;
    if (r->status == 200) {
        json_t *d = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
        json_t *v = json_object_get(d, "id");
        if (!json_is_integer(v))
            v = json_object_get(d, key);
        id = json_is_integer(v) ? json_integer_value(v) : -1;
    }
    harness_resp_destroy(&r);
    return id;
}

/* pattern with each "{name}" replaced: by fixed when >= 0, else by the first item of the list at
 * the prefix before it. False when some parameter has no value. */
static bool fill_path(const char *pattern, long long fixed, char *out, size_t cap)
{
    size_t n = 0;
    bool ok = true;
    out[0] = '\0';
    for (const char *p = pattern; *p && n + 24 < cap;) {
        if (*p != '{') {
            out[n++] = *p++;
            out[n] = '\0';
            continue;
        }
        const char *close = strchr(p, '}');
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
        char prefix[512];
        snprintf(prefix, sizeof prefix, "%.*s", n > 0 && out[n - 1] == '/' ? (int)n - 1 : (int)n, out);
        long long id = fixed >= 0 ? fixed : first_id(prefix, name);
        if (id < 0) {
            ok = false;
            id = 999999;
        }
        n += (size_t)snprintf(out + n, cap - n, "%lld", id);
        p = close + 1;
    }
    return ok;
}

/* The stack, with the per-token rate limit off: the walk sends a few hundred requests a second. */
static harness_t *start(void)
{
    return harness_start_opts(&(harness_opts_t){.gateway_extra = "  rate_limit: {per_second: 0}\n"});
}

static harness_resp_t *call(const char *method, const char *path, const char *body)
{
    return l2_call(h, method, path, admin, body);
}

/* The fixtures every nested list needs: one record of each kind (created as admin). */
static void seed(void)
{
    long long lead =
        l2_create(h, "/v2/leads", admin, "{\"last_name\":\"Walker\",\"email\":\"walk@example.com\"}");
    long long contact = l2_create(h, "/v2/contacts", admin, "{\"last_name\":\"Walker\"}");
    cr_assert(lead > 0 && contact > 0);
    char body[512];
    snprintf(body, sizeof body, "{\"name\":\"Walk deal\",\"contact_id\":%lld,\"contact_ids\":[%lld]}",
             contact, contact);
    cr_assert_gt(l2_create(h, "/v2/deals", admin, body), 0);
    cr_assert_gt(l2_create(h, "/v2/smart_lists", admin,
                           "{\"name\":\"Walk\",\"resource_type\":\"lead\",\"filter\":{\"converted\":false}}"),
                 0);
    snprintf(body, sizeof body, "{\"content\":\"Walk note\",\"resource_type\":\"lead\",\"resource_id\":%lld}",
             lead);
    cr_assert_gt(l2_create(h, "/v2/notes", admin, body), 0);
    snprintf(body, sizeof body, "{\"content\":\"Walk task\",\"resource_type\":\"lead\",\"resource_id\":%lld}",
             lead);
    cr_assert_gt(l2_create(h, "/v2/tasks", admin, body), 0);
    snprintf(body, sizeof body, "{\"summary\":\"Walk call\",\"resource_type\":\"lead\",\"resource_id\":%lld}",
             lead);
    cr_assert_gt(l2_create(h, "/v2/calls", admin, body), 0);
    cr_assert_gt(l2_create(h, "/v2/tags", admin, "{\"name\":\"walk\",\"resource_type\":\"lead\"}"), 0);
    cr_assert_gt(l2_create(h, "/v2/lead_sources", admin, "{\"name\":\"Walk source\"}"), 0);
    cr_assert_gt(l2_create(h, "/v2/lead/custom_fields", admin, "{\"name\":\"Walk\",\"type\":\"string\"}"), 0);
    cr_assert_gt(l2_create(h, "/v2/webhook_subscriptions", admin,
                           "{\"url\":\"http://127.0.0.1:9/hook\",\"event_types\":[\"deal.won\"],"
                           "\"secret\":\"walk-secret-0123456789abcdef\"}"),
                 0);
    long long users[2];
    cr_assert_gt(harness_seed_pool(h, "walk", 2, users), 0);
    /* Resources of other parts, when their routes exist (products, orders, line items). */
    gw_path_t pp;
    if (gw_route_match("POST", "/v2/products", &pp)) {
        long long product =
            l2_create(h, "/v2/products", admin,
                      "{\"name\":\"Walk product\",\"prices\":[{\"amount\":\"10\",\"currency\":\"EUR\"}]}");
        long long deal = first_id("/v2/deals", "id");
        snprintf(body, sizeof body, "{\"deal_id\":%lld}", deal);
        long long order =
            gw_route_match("POST", "/v2/orders", &pp) ? l2_create(h, "/v2/orders", admin, body) : -1;
        char path[128];
        snprintf(path, sizeof path, "/v2/orders/%lld/line_items", order);
        snprintf(body, sizeof body, "{\"product_id\":%lld,\"currency\":\"EUR\"}", product);
        if (product > 0 && order > 0 && gw_route_match("POST", path, &pp))
            l2_create(h, path, admin, body);
    }
}

/* One route: the rules that hold for its kind. Returns false when its list could not be walked
 * (a path parameter without a fixture). */
static bool walk(const gw_route_t *r, int *lists, int *bodies)
{
    char path[512], url[640];
    bool is_list = r->kind == GW_LIST;
    bool resolved = fill_path(r->pattern, is_list ? -1 : 999999, path, sizeof path);
    bool writes = strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0;

    /* 1. Unknown query parameter → 400 invalid_param (ids of non-lists point at nothing: a route
     * that acted before checking would answer 404, and a delete would not delete anything). */
    snprintf(url, sizeof url, "%s?bogus_param=1", path);
    harness_resp_t *rr = call(r->method, url, writes ? "{\"data\":{}}" : NULL);
    cr_expect_eq(rr->status, 400, "%s %s: %ld %s", r->method, url, rr->status, rr->body);
    cr_expect_str_eq(err_code(rr), "invalid_param", "%s %s: %s", r->method, url, rr->body);
    harness_resp_destroy(&rr);

    /* 2. Lists. */
    if (is_list) {
        ++*lists;
        const char *bad[] = {"per_page=101", "per_page=0", "page=0", "per_page=abc"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            snprintf(url, sizeof url, "%s?%s", path, bad[i]);
            rr = call("GET", url, NULL);
            cr_expect_eq(rr->status, 400, "GET %s: %ld %s", url, rr->status, rr->body);
            harness_resp_destroy(&rr);
        }
        if (!resolved) {
            fprintf(stderr, "sell_surface: %s has no fixture for its path; paging checked for 400s only\n",
                    r->pattern);
            return false;
        }
        rr = call("GET", path, NULL);
        cr_expect_eq(rr->status, 200, "GET %s: %ld %s", path, rr->status, rr->body);
        cr_expect(json_is_array(json_object_get(rr->json, "items")), "GET %s: %s", path, rr->body);
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(rr->json, "meta"), "type")) ?: "",
                         "collection", "GET %s", path);
        harness_resp_destroy(&rr);
        snprintf(url, sizeof url, "%s?per_page=100", path);
        cr_expect_eq(l2_status(h, "GET", url, admin, NULL, 200), 200, "GET %s", url);
        snprintf(url, sizeof url, "%s?page=100000&per_page=100", path);
        rr = call("GET", url, NULL);
        cr_expect_eq(rr->status, 200, "GET %s: %ld %s", url, rr->status, rr->body);
        json_t *items = json_object_get(rr->json, "items");
        cr_expect(json_is_array(items) && json_array_size(items) == 0, "GET %s: %s", url, rr->body);
        cr_expect_eq(json_integer_value(json_object_get(json_object_get(rr->json, "meta"), "count")), 0);
        harness_resp_destroy(&rr);
    }

    /* 3. Unknown body attributes of creates and updates → 422 "unknown" at "/bogus_attr". */
    if (r->kind == GW_CREATE || r->kind == GW_UPDATE) {
        ++*bodies;
        rr = call(r->method, path, "{\"data\":{\"bogus_attr\":1}}");
        cr_expect_eq(rr->status, 422, "%s %s: %ld %s", r->method, path, rr->status, rr->body);
        cr_expect_str_eq(l2_err_field(rr), "/bogus_attr", "%s %s: %s", r->method, path, rr->body);
        cr_expect_str_eq(err_code(rr), "unknown", "%s %s: %s", r->method, path, rr->body);
        harness_resp_destroy(&rr);
    }
    return true;
}

Test(sell_surface, every_route)
{
    h = start();
    cr_assert_not_null(h, "stack did not start");
    admin = harness_admin_token(h);
    seed();
    int lists = 0, bodies = 0, unresolved = 0;
    size_t n = gw_routes_count();
    cr_assert_gt(n, 50);
    for (size_t i = 0; i < n; i++)
        unresolved += !walk(gw_route_at(i), &lists, &bodies);
    fprintf(stderr, "sell_surface: %zu routes, %d lists (%d without fixtures), %d create/update bodies\n", n,
            lists, unresolved, bodies);
    cr_expect_geq(lists, 40);
    cr_expect_eq(unresolved, 0, "list routes without fixtures: %d (add one to seed())", unresolved);

    /* Lists answered by custom handlers page like the others. */
    const char *custom_lists[] = {"/v2/api_tokens", "/v2/webhook_deliveries"};
    for (size_t i = 0; i < sizeof custom_lists / sizeof custom_lists[0]; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s?per_page=101", custom_lists[i]);
        cr_expect_eq(l2_status(h, "GET", url, admin, NULL, 400), 400, "GET %s", url);
        snprintf(url, sizeof url, "%s?page=100000&per_page=100", custom_lists[i]);
        harness_resp_t *cr = call("GET", url, NULL);
        cr_expect_eq(cr->status, 200, "GET %s: %s", url, cr->body);
        cr_expect_eq(json_array_size(json_object_get(cr->json, "items")), 0, "GET %s: %s", url, cr->body);
        harness_resp_destroy(&cr);
    }

    /* The same rules off the table: upsert, Sync and Firehose. */
    cr_expect_eq(l2_status(h, "POST", "/v2/leads/upsert?email=x@example.com&bogus_param=1", admin,
                           "{\"data\":{\"last_name\":\"X\"}}", 400),
                 400);
    harness_resp_t *rr = call("POST", "/v2/contacts/upsert?email=x@example.com",
                              "{\"data\":{\"last_name\":\"X\",\"bogus_attr\":1}}");
    cr_expect_eq(rr->status, 422, "%s", rr->body);
    cr_expect_str_eq(l2_err_field(rr), "/bogus_attr");
    harness_resp_destroy(&rr);
    cr_expect_eq(l2_status(h, "GET", "/v3/leads/stream?position=top&bogus_param=1", admin, NULL, 400), 400);
    rr = harness_http(
        h, &(harness_req_t){.method = "POST",
                            .path = "/v2/sync/start?bogus_param=1",
                            .token = admin,
                            .header = "X-Basecrm-Device-UUID: 7a9c1e1e-0000-4000-8000-000000000001"});
    cr_expect_eq(rr->status, 400, "%s", rr->body);
    harness_resp_destroy(&rr);
}

/* GET path → data; PUT it back whole → 200; with created_at (and id) changed → 422 naming it. */
static void echo(const char *collection)
{
    long long id = first_id(collection, "id");
    cr_assert_gt(id, 0, "no %s", collection);
    char path[256];
    snprintf(path, sizeof path, "%s/%lld", collection, id);
    harness_resp_t *r = call("GET", path, NULL);
    cr_assert_eq(r->status, 200, "GET %s: %s", path, r->body);
    json_t *data = json_deep_copy(json_object_get(r->json, "data"));
    harness_resp_destroy(&r);

    json_t *env = json_pack("{s:O}", "data", data);
    char *body = json_dumps(env, JSON_COMPACT);
    r = call("PUT", path, body);
    cr_expect_eq(r->status, 200, "PUT %s of the record as read: %ld %s\nsent %s", path, r->status, r->body,
                 body);
    free(body);
    harness_resp_destroy(&r);

    json_object_set_new(data, "created_at", json_string("2001-01-01T00:00:00Z"));
    json_object_set_new(data, "id", json_integer(id + 100000));
    body = json_dumps(env, JSON_COMPACT);
    r = call("PUT", path, body);
    cr_expect_eq(r->status, 422, "PUT %s with changed read-only attributes: %ld %s", path, r->status,
                 r->body);
    char fields[256];
    l2_err_fields(r, fields, sizeof fields);
    cr_expect(strstr(fields, "/created_at") && strstr(fields, "/id"), "PUT %s: %s", path, r->body);
    free(body);
    harness_resp_destroy(&r);
    /* The same instant written with an offset is not a change. */
    json_t *one = json_pack("{s:{s:s}}", "data", "updated_at", "2001-01-01T00:00:00Z");
    body = json_dumps(one, JSON_COMPACT);
    r = call("PUT", path, body);
    cr_expect_eq(r->status, 422, "PUT %s: %s", path, r->body);
    cr_expect_str_eq(l2_err_field(r), "/updated_at");
    free(body);
    harness_resp_destroy(&r);
    json_decref(one);
    json_decref(env);
    json_decref(data); /* "O" in json_pack took its own reference */
}

Test(sell_surface, read_only_attributes)
{
    h = start();
    cr_assert_not_null(h, "stack did not start");
    admin = harness_admin_token(h);
    seed();
    const char *collections[] = {"/v2/leads", "/v2/contacts", "/v2/notes",        "/v2/tasks",
                                 "/v2/calls", "/v2/tags",     "/v2/lead_sources", "/v2/deals"};
    for (size_t i = 0; i < sizeof collections / sizeof collections[0]; i++)
        echo(collections[i]);

    /* An equal instant in another form is accepted; the record's timestamps do not move back. */
    long long lead = first_id("/v2/leads", "id");
    char path[128], body[256];
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    harness_resp_t *r = call("GET", path, NULL);
    const char *created = json_string_value(json_object_get(json_object_get(r->json, "data"), "created_at"));
    cr_assert_not_null(created);
    char offset[64];
    snprintf(offset, sizeof offset, "%.19s+00:00", created);
    harness_resp_destroy(&r);
    snprintf(body, sizeof body, "{\"data\":{\"created_at\":\"%s\",\"title\":\"Boss\"}}", offset);
    r = call("PUT", path, body);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(l2_data_str(r, "title"), "Boss");
    harness_resp_destroy(&r);
    /* A sales token cannot learn about a record through the read-only check: 404, as any PUT. */
    char *sales = l2_user_token(h, "ro-sales", "sales", NULL);
    snprintf(body, sizeof body, "{\"data\":{\"created_at\":\"%s\"}}", offset);
    cr_expect_eq(l2_status(h, "PUT", path, sales, body, 404), 404);
    free(sales);
}

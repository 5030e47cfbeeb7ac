/* Distribution pools through HTTP on a real stack (issue 5, SPEC B2): strict round robin in
 * member order, a member added later goes last, removed and deactivated members are skipped,
 * weights, caps on open records, absence, the fallback owner, the explain log, the stats, and
 * the 4xx of each route. Leads arrive through the web form (lead.captured → lead.created →
 * assign → owner.assigned → leads). */
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

TestSuite(assign_pools, .fini = stop_stack, .timeout = 600);

static harness_resp_t *call(const char *method, const char *path, json_t *data)
{
    json_t *body = data ? json_pack("{s:o}", "data", data) : NULL;
    harness_resp_t *r = harness_api(h, method, path, harness_admin_token(h), body);
    json_decref(body);
    cr_assert_not_null(r);
    return r;
}

static long status_of(const char *method, const char *path, json_t *data)
{
    harness_resp_t *r = call(method, path, data);
    long s = r->status;
    if (s >= 300)
        fprintf(stderr, "%s %s -> %ld %s\n", method, path, s, r->body);
    harness_resp_destroy(&r);
    return s;
}

static json_t *data_of(harness_resp_t *r)
{
    return json_object_get(r->json, "data");
}

static long long user(const char *tag)
{
    char email[96];
    snprintf(email, sizeof email, "%s@example.com", tag);
    return harness_create(h, "users",
                          json_pack("{s:s,s:s,s:s}", "name", tag, "email", email, "role", "sales"));
}

static int posted = 0;

static void post_leads(int n)
{
    for (int i = 0; i < n; i++) {
        char body[128];
        snprintf(body, sizeof body, "first_name=L&last_name=N%d&email=l%d%%40example.com", posted, posted);
        posted++;
        harness_resp_t *r = harness_post_form(h, "application/x-www-form-urlencoded", body);
        cr_assert_eq(r->status, 202, "%s", r->body);
        harness_resp_destroy(&r);
    }
}

/* Owners of every lead in id order (0 = none yet); returns how many leads. */
static int owners(long long *out, int max)
{
    harness_resp_t *r = harness_api(h, "GET", "/v2/leads?per_page=100", harness_admin_token(h), NULL);
    json_t *items = r ? json_object_get(r->json, "items") : NULL;
    int n = 0;
    long long ids[128];
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *d = json_object_get(it, "data");
        long long id = json_integer_value(json_object_get(d, "id"));
        long long owner = json_integer_value(json_object_get(d, "owner_id"));
        int pos = n;
        while (pos > 0 && ids[pos - 1] > id) {
            ids[pos] = ids[pos - 1];
            out[pos] = out[pos - 1];
            pos--;
        }
        if (n < max) {
            ids[pos] = id;
            out[pos] = owner;
            n++;
        }
    }
    harness_resp_destroy(&r);
    return n;
}

static bool all_owned(harness_t *self, void *arg)
{
    (void)self;
    long long o[128];
    int n = owners(o, 128);
    if (n != *(int *)arg)
        return false;
    for (int i = 0; i < n; i++)
        if (o[i] <= 0)
            return false;
    return true;
}

/* Posts n leads, waits for their owners, and checks them against want[n]. */
static void expect_owners(int n, const long long *want, const char *what)
{
    int first = posted;
    post_leads(n);
    int total = posted;
    cr_assert(harness_wait_until(h, harness_ms(30000), all_owned, &total, what));
    long long o[128];
    cr_assert_eq(owners(o, 128), total);
    for (int i = 0; i < n; i++)
        cr_expect_eq(o[first + i], want[i], "%s: lead %d owner %lld, want %lld", what, i, o[first + i],
                     want[i]);
}

/* The assignment log of the n-th lead (0-based, id order). */
static harness_resp_t *explain(int nth)
{
    harness_resp_t *r = harness_api(h, "GET", "/v2/leads?per_page=100", harness_admin_token(h), NULL);
    long long best = 0;
    long long ids[128];
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r->json, "items"), i, it) ids[n++] =
        json_integer_value(json_object_get(json_object_get(it, "data"), "id"));
    harness_resp_destroy(&r);
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (ids[b] < ids[a]) {
                long long t = ids[a];
                ids[a] = ids[b];
                ids[b] = t;
            }
    best = ids[nth];
    char path[128];
    snprintf(path, sizeof path, "/v2/assignments?resource_type=lead&resource_id=%lld", best);
    return call("GET", path, NULL);
}

Test(assign_pools, round_robin_rules_fallback_explain_stats)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");

    /* --- strict round robin, late member, removal, deactivation --------------------------- */
    long long u1 = user("rr1"), u2 = user("rr2"), u3 = user("rr3"), u4 = user("rr4");
    long long p1 =
        harness_create(h, "distribution_pools",
                       json_pack("{s:s,s:s,s:[I,I,I],s:b}", "name", "RR", "resource_type", "lead", "user_ids",
                                 (json_int_t)u1, (json_int_t)u2, (json_int_t)u3, "default", 1));
    cr_assert_gt(p1, 0);
    expect_owners(4, (long long[]){u1, u2, u3, u1}, "strict round robin");
    char path[160];
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/members", p1);
    cr_expect_eq(status_of("POST", path, json_pack("{s:I}", "user_id", (json_int_t)u4)), 200);
    cr_expect_eq(status_of("POST", path, json_pack("{s:I}", "user_id", (json_int_t)u4)), 422,
                 "already a member");
    cr_expect_eq(status_of("POST", path, json_pack("{s:I}", "user_id", (json_int_t)777777)), 422,
                 "no such user");
    expect_owners(3, (long long[]){u2, u3, u4}, "member added later goes last");
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/members/%lld", p1, u2);
    cr_expect_eq(status_of("DELETE", path, NULL), 204);
    cr_expect_eq(status_of("DELETE", path, NULL), 404);
    snprintf(path, sizeof path, "/v2/users/%lld", u3);
    cr_expect_eq(status_of("DELETE", path, NULL), 204);
    expect_owners(3, (long long[]){u1, u4, u1}, "removed and deactivated members skipped");
    harness_resp_t *r = explain(posted - 2);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *a = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_expect_eq(json_integer_value(json_object_get(a, "owner_id")), u4, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(a, "pool_id")), p1, "%s", r->body);
    json_t *sk = json_object_get(a, "skipped");
    cr_expect_eq(json_array_size(sk), 1, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(sk, 0), "user_id")), u3, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(sk, 0), "reason")) ?: "", "inactive",
                     "%s", r->body);
    harness_resp_destroy(&r);

    /* --- weights, cap, absence, fallback -------------------------------------------------- */
    long long w1 = user("w1"), w2 = user("w2"), w3 = user("w3"), fb = user("fallback");
    r = call("POST", "/v2/distribution_pools",
             json_pack("{s:s,s:s,s:b,s:I,s:[{s:I,s:i},{s:I},{s:I,s:i}]}", "name", "Rules", "resource_type",
                       "lead", "default", 1, "fallback_owner_id", (json_int_t)fb, "members", "user_id",
                       (json_int_t)w1, "weight", 2, "user_id", (json_int_t)w2, "user_id", (json_int_t)w3,
                       "max_open", 1));
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long p2 = json_integer_value(json_object_get(data_of(r), "id"));
    cr_expect_eq(json_integer_value(
                     json_object_get(json_array_get(json_object_get(data_of(r), "members"), 0), "weight")),
                 2, "%s", r->body);
    harness_resp_destroy(&r);
    /* The old default lost its flag: one default pool per type. */
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld", p1);
    r = call("GET", path, NULL);
    cr_expect(json_is_false(json_object_get(data_of(r), "default")), "%s", r->body);
    harness_resp_destroy(&r);

    expect_owners(8, (long long[]){w1, w1, w2, w3, w1, w1, w2, w1}, "weight 2 and a cap of 1");
    r = explain(posted - 7);
    a = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_expect_str_eq(json_string_value(json_object_get(a, "kind")) ?: "", "weight_turn", "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(a, "turn")), 2, "%s", r->body);
    harness_resp_destroy(&r);
    /* w1 had both turns of its weight: the explain log of the next record says so. */
    r = explain(posted - 6);
    a = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_expect_eq(json_integer_value(json_object_get(a, "owner_id")), w2, "%s", r->body);
    sk = json_object_get(a, "skipped");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(sk, 0), "user_id")), w1, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(sk, 0), "reason")) ?: "", "weight",
                     "%s", r->body);
    harness_resp_destroy(&r);
    r = explain(posted - 1);
    a = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    sk = json_object_get(a, "skipped");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(sk, 0), "user_id")), w3, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(sk, 0), "reason")) ?: "", "full", "%s",
                     r->body);
    harness_resp_destroy(&r);

    char m1[160], m2[160];
    snprintf(m1, sizeof m1, "/v2/distribution_pools/%lld/members/%lld", p2, w1);
    snprintf(m2, sizeof m2, "/v2/distribution_pools/%lld/members/%lld", p2, w2);
    cr_expect_eq(status_of("PUT", m1, json_pack("{s:s}", "away_until", "2099-01-01T00:00:00Z")), 200);
    cr_expect_eq(status_of("PUT", m2, json_pack("{s:s}", "away_until", "2099-01-01T00:00:00Z")), 200);
    cr_expect_eq(status_of("PUT", m2, json_pack("{s:i}", "weight", 0)), 422);
    cr_expect_eq(status_of("PUT", m2, json_pack("{s:s}", "away_until", "tomorrow")), 422);
    expect_owners(1, (long long[]){fb}, "nobody eligible: the fallback owner");
    r = explain(posted - 1);
    a = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_expect_str_eq(json_string_value(json_object_get(a, "kind")) ?: "", "fallback", "%s", r->body);
    cr_expect_eq(json_array_size(json_object_get(a, "skipped")), 3, "every member skipped: %s", r->body);
    cr_expect(strstr(r->body, "\"away\"") && strstr(r->body, "\"full\""), "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(status_of("PUT", m2, json_pack("{s:s}", "away_until", "")), 200, "back");
    expect_owners(1, (long long[]){w2}, "back from absence");

    /* --- stats ------------------------------------------------------------------------------ */
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/stats", p2);
    r = call("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *s = data_of(r);
    cr_expect_eq(json_integer_value(json_object_get(s, "total")), 10, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(s, "fallback_count")), 1, "%s", r->body);
    long long want[][2] = {{w1, 5}, {w2, 3}, {w3, 1}, {fb, 1}};
    for (int k = 0; k < 4; k++) {
        bool found = false;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(s, "members"), i,
                           m) if (json_integer_value(json_object_get(m, "user_id")) == want[k][0])
        {
            found = true;
            cr_expect_eq(json_integer_value(json_object_get(m, "count")), want[k][1], "user %lld: %s",
                         want[k][0], r->body);
        }
        cr_expect(found, "user %lld in %s", want[k][0], r->body);
    }
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/stats?from=2099-01-01", p2);
    r = call("GET", path, NULL);
    cr_expect_eq(json_integer_value(json_object_get(data_of(r), "total")), 0, "%s", r->body);
    harness_resp_destroy(&r);
    /* A window that holds every assignment, and one that ends before them. */
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/stats?from=2000-01-01&to=2099-01-01T00:00:00Z",
             p2);
    r = call("GET", path, NULL);
    cr_expect_eq(json_integer_value(json_object_get(data_of(r), "total")), 10, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(r), "to")) ?: "", "2099-01-01T00:00:00Z", "%s",
                     r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/stats?to=2000-01-01", p2);
    r = call("GET", path, NULL);
    cr_expect_eq(json_integer_value(json_object_get(data_of(r), "total")), 0, "%s", r->body);
    cr_expect_eq(json_integer_value(
                     json_object_get(json_array_get(json_object_get(data_of(r), "members"), 0), "count")),
                 0, "members listed with 0: %s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/stats?to=2099-13-45", p2);
    cr_expect_eq(status_of("GET", path, NULL), 400, "an impossible date");
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/stats?from=yesterday", p2);
    cr_expect_eq(status_of("GET", path, NULL), 400);
    cr_expect_eq(status_of("GET", "/v2/distribution_pools/999999/stats", NULL), 404);

    /* --- never mixed, validation, roles ----------------------------------------------------- */
    r = call("POST", "/v2/distribution_pools", json_pack("{s:s,s:s}", "name", "X", "resource_type", "task"));
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(r->body, "/resource_type") != NULL, "%s", r->body);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld", p2);
    r = call("PUT", path, json_pack("{s:s}", "resource_type", "deal"));
    cr_expect_eq(r->status, 422, "a lead pool stays a lead pool: %s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/distribution_pools",
             json_pack("{s:s,s:s,s:[{s:I,s:i}]}", "name", "Bad", "resource_type", "contact", "members",
                       "user_id", (json_int_t)w1, "weight", 0));
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(r->body, "/members/0/weight") != NULL, "%s", r->body);
    harness_resp_destroy(&r);
    long long cp = harness_create(h, "distribution_pools",
                                  json_pack("{s:s,s:s,s:[I]}", "name", "Contacts", "resource_type", "contact",
                                            "user_ids", (json_int_t)w1));
    cr_expect_gt(cp, 0);
    cr_expect_eq(
        harness_count_items(h, "/v2/distribution_pools?resource_type=contact", harness_admin_token(h)), 1);
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld", cp);
    r = call("PUT", path,
             json_pack("{s:s,s:[I,I]}", "name", "Contacts 2", "user_ids", (json_int_t)w2, (json_int_t)w1));
    cr_expect_eq(r->status, 200, "%s", r->body);
    /* kept member keeps its place, the new one goes last */
    json_t *ids = json_object_get(data_of(r), "user_ids");
    cr_expect_eq(json_integer_value(json_array_get(ids, 0)), w1, "%s", r->body);
    cr_expect_eq(json_integer_value(json_array_get(ids, 1)), w2, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(status_of("DELETE", path, NULL), 204);
    cr_expect_eq(status_of("GET", path, NULL), 404);
    cr_expect_eq(status_of("GET", "/v2/assignments?resource_id=1", NULL), 400);

    /* A sales rep reads pools but changes nothing and sees no stats. */
    r = call("POST", "/v2/api_tokens", json_pack("{s:I}", "user_id", (json_int_t)w1));
    char *tok = strdup(json_string_value(json_object_get(data_of(r), "token")));
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld", p2);
    r = harness_api(h, "GET", path, tok, NULL);
    cr_expect_eq(r->status, 200);
    harness_resp_destroy(&r);
    json_t *b = json_pack("{s:{s:s}}", "data", "name", "Mine");
    r = harness_api(h, "PUT", path, tok, b);
    json_decref(b);
    cr_expect_eq(r->status, 403);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/distribution_pools/%lld/stats", p2);
    r = harness_api(h, "GET", path, tok, NULL);
    cr_expect_eq(r->status, 403, "%s", r->body);
    harness_resp_destroy(&r);
    /* Their explain log holds only records they own. */
    r = harness_api(h, "GET", "/v2/assignments?per_page=100", tok, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r->json, "items"), i, it) cr_expect_eq(
        json_integer_value(json_object_get(json_object_get(it, "data"), "owner_id")), w1, "%s", r->body);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 5, "%s", r->body);
    harness_resp_destroy(&r);
    free(tok);
}

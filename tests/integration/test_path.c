/* The walking skeleton's path end to end on a real stack: web form posts become leads, each
 * assigned round robin from the default pool and notified to its owner; the REST reads, token
 * minting, per-user visibility and the 401 error body. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void) { harness_destroy(&h); }

TestSuite(path, .fini = stop_stack, .timeout = 600);

/* The leads of GET /v2/leads?per_page=100 sorted by id, as a JSON array of data objects. */
static json_t *leads_by_id(harness_t *self)
{
    harness_resp_t *r = harness_api(self, "GET", "/v2/leads?per_page=100", harness_admin_token(self), NULL);
    json_t *items = r ? json_object_get(r->json, "items") : NULL;
    if (!r || r->status != 200 || !json_is_array(items)) {
        harness_resp_destroy(&r);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *data = json_object_get(it, "data");
        long long id = json_integer_value(json_object_get(data, "id"));
        /* insertion sort by id */
        size_t pos = json_array_size(out);
        while (pos > 0 && json_integer_value(json_object_get(json_array_get(out, pos - 1), "id")) > id)
            pos--;
        json_array_insert(out, pos, data);
    }
    harness_resp_destroy(&r);
    return out;
}

static bool six_owned_leads(harness_t *self, void *arg)
{
    (void)arg;
    json_t *leads = leads_by_id(self);
    bool ok = leads && json_array_size(leads) == 6;
    size_t i;
    json_t *l;
    json_array_foreach(leads, i, l) ok = ok && json_is_integer(json_object_get(l, "owner_id"));
    json_decref(leads);
    return ok;
}

typedef struct {
    long long *users;
    int n;
    int want;
} notif_arg_t;

static int notifications_of(harness_t *self, long long user_id, const char *token)
{
    char path[128];
    if (user_id > 0)
        snprintf(path, sizeof path, "/v2/notifications?user_id=%lld&per_page=100", user_id);
    else
        snprintf(path, sizeof path, "/v2/notifications?per_page=100");
    return harness_count_items(self, path, token);
}

static bool each_has_notifications(harness_t *self, void *arg)
{
    notif_arg_t *a = arg;
    for (int i = 0; i < a->n; i++)
        if (notifications_of(self, a->users[i], harness_admin_token(self)) < a->want)
            return false;
    return true;
}

static long long post_form(harness_t *self, const char *ctype, const char *body)
{
    harness_resp_t *r = harness_post_form(self, ctype, body);
    cr_assert_not_null(r);
    cr_expect_eq(r->status, 202, "form post %s -> %ld %s", body, r->status, r->body);
    json_t *id = json_object_get(json_object_get(r->json, "data"), "delivery_id");
    cr_expect(json_is_integer(id), "delivery_id in %s", r->body);
    long long v = json_integer_value(id);
    harness_resp_destroy(&r);
    return v;
}

Test(path, forms_become_assigned_notified_leads)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);

    long long u[3];
    long long pool = harness_seed_pool(h, "path", 3, u);
    cr_assert_gt(pool, 0, "users and pool created");

    /* Six form posts, urlencoded and JSON mixed; each gets its own delivery id. */
    const char *url = "application/x-www-form-urlencoded";
    const char *js = "application/json";
    long long d[6];
    d[0] = post_form(h, url, "first_name=Ann&last_name=Lee&email=ann%40example.com&company=Acme");
    d[1] = post_form(h, js, "{\"first_name\":\"Bob\",\"last_name\":\"Ray\",\"email\":\"bob@example.com\"}");
    d[2] = post_form(h, url, "name=Cy+Young&email=cy%40example.com&phone=%2B15551234567");
    d[3] = post_form(h, js, "{\"name\":\"Dee Dee\",\"email\":\"dee@example.com\",\"company\":\"Initech\"}");
    d[4] = post_form(h, url, "last_name=Eve&email=eve%40example.com&message=Call+me");
    d[5] = post_form(h, js, "{\"last_name\":\"Fay\",\"email\":\"fay@example.com\",\"phone\":\"555-0100\"}");
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < i; j++)
            cr_expect_neq(d[i], d[j], "delivery ids differ");

    cr_assert(harness_wait_until(h, harness_ms(30000), six_owned_leads, NULL, "6 leads with owners"));
    json_t *leads = leads_by_id(h);
    cr_assert_eq(json_array_size(leads), 6);
    int owned[3] = {0, 0, 0};
    for (size_t i = 0; i < 6; i++) {
        json_t *l = json_array_get(leads, i);
        long long owner = json_integer_value(json_object_get(l, "owner_id"));
        /* Round robin in pool order: leads in id order get u1, u2, u3, u1, u2, u3. */
        cr_expect_eq(owner, u[i % 3], "lead %zu owner %lld, want %lld", i, owner, u[i % 3]);
        cr_expect_str_eq(json_string_value(json_object_get(l, "status")) ?: "(none)", "New");
        for (int k = 0; k < 3; k++)
            owned[k] += owner == u[k];
    }
    for (int k = 0; k < 3; k++)
        cr_expect_eq(owned[k], 2, "user %d owns %d leads", k + 1, owned[k]);

    /* Exactly two notifications for each member. */
    notif_arg_t na = {u, 3, 2};
    cr_expect(harness_wait_until(h, harness_ms(30000), each_has_notifications, &na, "2 notifications each"));
    for (int k = 0; k < 3; k++)
        cr_expect_eq(notifications_of(h, u[k], admin), 2, "notifications of user %d", k + 1);

    /* Filter by e-mail finds exactly that lead; GET one returns it with meta.type lead. */
    json_t *third = json_array_get(leads, 2);
    long long third_id = json_integer_value(json_object_get(third, "id"));
    harness_resp_t *r = harness_api(h, "GET", "/v2/leads?email=cy@example.com", admin, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *items = json_object_get(r->json, "items");
    cr_expect_eq(json_array_size(items), 1, "email filter: %s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(json_array_get(items, 0), "data"), "id")),
                 third_id);
    harness_resp_destroy(&r);

    char path[128];
    snprintf(path, sizeof path, "/v2/leads/%lld", third_id);
    r = harness_api(h, "GET", path, admin, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r->json, "data"), "id")), third_id);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "", "lead");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "data"), "email")) ?: "",
                     "cy@example.com");
    harness_resp_destroy(&r);
    json_decref(leads);

    /* A sales user's own token sees only its own notifications. */
    json_t *body = json_pack("{s:{s:I}}", "data", "user_id", (json_int_t)u[0]);
    r = harness_api(h, "POST", "/v2/api_tokens", admin, body);
    json_decref(body);
    cr_assert(r->status >= 200 && r->status < 300, "mint token: %ld %s", r->status, r->body);
    const char *tok = json_string_value(json_object_get(json_object_get(r->json, "data"), "token"));
    cr_assert_not_null(tok, "token in %s", r->body);
    cr_expect_eq(strlen(tok), 64, "64-char token");
    cr_expect_eq(strspn(tok, "0123456789abcdef"), 64, "hex token %s", tok);
    char *user_token = strdup(tok);
    harness_resp_destroy(&r);

    r = harness_api(h, "GET", "/v2/notifications?per_page=100", user_token, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    items = json_object_get(r->json, "items");
    cr_expect_eq(json_array_size(items), 2, "own notifications: %s", r->body);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *uid = json_object_get(json_object_get(it, "data"), "user_id");
        cr_expect_eq(json_integer_value(uid), u[0], "notification of another user: %s", r->body);
    }
    harness_resp_destroy(&r);
    free(user_token);

    /* A bad token: 401 with the Sell error body. */
    r = harness_api(h, "GET", "/v2/leads", "0000000000000000000000000000000000000000000000000000000000000000", NULL);
    cr_expect_eq(r->status, 401, "%s", r->body);
    json_t *err0 = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
    cr_expect_str_eq(json_string_value(json_object_get(err0, "code")) ?: "", "unauthorized", "%s", r->body);
    const char *logref = json_string_value(json_object_get(json_object_get(r->json, "meta"), "logref"));
    cr_expect(logref && *logref, "meta.logref in %s", r->body);
    harness_resp_destroy(&r);
}

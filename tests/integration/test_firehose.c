/* The Firehose (SELL_API §8) through HTTP on a real stack: records created and changed via /v2
 * show up on GET /v3/{leads|contacts|deals}/stream in order with the `previous` values of the
 * changed fields; positions continue; top/tail; the parameter errors; the role rule; retention
 * pruning; and a gateway killed while records change loses nothing (inbox replay). */
#include <criterion/criterion.h>
#include <zmq.h>

#include "crm/rpc.h"
#include "crm/util.h"
#include "deals_util.h"
#include "leads.pb-c.h"

static harness_t *h;
static void *zctx;

static void stop_stack(void)
{
    harness_destroy(&h);
    if (zctx) {
        zmq_ctx_term(zctx);
        zctx = NULL;
    }
}

TestSuite(firehose, .fini = stop_stack, .timeout = 600);

/* GET path as the admin; asserts 200 and returns the reply (caller destroys). */
static harness_resp_t *stream_get(const char *path)
{
    int64_t t0 = crm_mono_us();
    harness_resp_t *r = dl_expect(h, "GET", path, harness_admin_token(h), NULL, 200);
    int64_t ms = (crm_mono_us() - t0) / 1000;
    cr_expect_lt(ms, harness_ms(1000), "%s answered in %lld ms", path, (long long)ms);
    return r;
}

/* Every item of resource's stream from `from`, following positions with pages of `limit`. */
static json_t *read_all(const char *resource, const char *from, int limit)
{
    json_t *all = json_array();
    char pos[64];
    snprintf(pos, sizeof pos, "%s", from);
    for (int guard = 0; guard < 1000; guard++) {
        char path[160];
        snprintf(path, sizeof path, "/v3/%s/stream?position=%s&limit=%d", resource, pos, limit);
        harness_resp_t *r = stream_get(path);
        json_t *items = json_object_get(r->json, "items");
        json_t *meta = json_object_get(r->json, "meta");
        cr_assert(json_is_array(items) && json_is_object(meta), "%s", r->body);
        cr_expect_leq(json_array_size(items), (size_t)limit);
        json_array_extend(all, items);
        cr_assert(json_is_string(json_object_get(meta, "position")), "%s", r->body);
        snprintf(pos, sizeof pos, "%s", json_string_value(json_object_get(meta, "position")));
        bool top = json_is_true(json_object_get(meta, "top"));
        harness_resp_destroy(&r);
        if (top)
            break;
    }
    return all;
}

typedef struct {
    const char *resource;
    size_t want;
} count_arg_t;

static bool has_items(harness_t *self, void *arg)
{
    (void)self;
    count_arg_t *a = arg;
    json_t *all = read_all(a->resource, "0", 100);
    bool ok = json_array_size(all) >= a->want;
    json_decref(all);
    return ok;
}

static bool wait_items(const char *resource, size_t want)
{
    count_arg_t a = {resource, want};
    return harness_wait_until(h, harness_ms(20000), has_items, &a, resource);
}

static json_t *item_data(json_t *items, size_t i)
{
    return json_object_get(json_array_get(items, i), "data");
}
static json_t *item_meta(json_t *items, size_t i)
{
    return json_object_get(json_array_get(items, i), "meta");
}

/* The items of record id, in stream order (new reference). */
static json_t *of_record(json_t *items, long long id)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(items); i++)
        if (json_integer_value(json_object_get(item_data(items, i), "id")) == id)
            json_array_append(out, json_array_get(items, i));
    return out;
}

static long long pos_of(json_t *items, size_t i)
{
    int64_t v = -1;
    crm_parse_i64(json_string_value(json_object_get(item_meta(items, i), "position")), &v);
    return v;
}

static void expect_400(const char *path, const char *what)
{
    harness_resp_t *r = dl_expect(h, "GET", path, harness_admin_token(h), NULL, 400);
    cr_expect_str_eq(dl_err(r, "code"), "invalid_param", "%s: %s", what, r->body);
    harness_resp_destroy(&r);
}

Test(firehose, changes_in_order_with_previous_and_cursor)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long lead =
        dl_create(h, "/v2/leads", admin, "{\"last_name\":\"Stream\",\"email\":\"s@example.com\"}");
    long long contact =
        dl_create(h, "/v2/contacts", admin, "{\"first_name\":\"Cora\",\"last_name\":\"Tact\"}");
    long long deal =
        dl_create(h, "/v2/deals", admin, "{\"name\":\"Hose\",\"value\":\"100\",\"currency\":\"EUR\"}");
    cr_assert(lead > 0 && contact > 0 && deal > 0);
    char path[128];
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    harness_resp_t *r =
        dl_expect(h, "PUT", path, admin, "{\"data\":{\"first_name\":\"Ann\",\"title\":\"CTO\"}}", 200);
    harness_resp_destroy(&r);
    r = dl_expect(h, "PUT", path, admin, "{\"data\":{\"email\":\"ann@example.com\"}}", 200);
    harness_resp_destroy(&r);
    snprintf(path, sizeof path, "/v2/deals/%lld", deal);
    r = dl_expect(h, "PUT", path, admin, "{\"data\":{\"value\":\"250\"}}", 200);
    harness_resp_destroy(&r);

    cr_assert(wait_items("leads", 3));
    cr_assert(wait_items("deals", 2));
    json_t *leads = read_all("leads", "0", 100);
    json_t *mine = of_record(leads, lead);
    cr_assert_geq(json_array_size(mine), 3, "%s", json_dumps(leads, 0));
    /* created first, with no previous values */
    cr_expect_str_eq(json_string_value(json_object_get(item_meta(mine, 0), "event_type")), "created");
    cr_expect_str_eq(json_string_value(json_object_get(item_meta(mine, 0), "type")), "lead");
    cr_expect_eq(json_object_size(json_object_get(item_meta(mine, 0), "previous")), 0);
    cr_expect(json_is_string(json_object_get(item_meta(mine, 0), "event_id")));
    cr_expect(json_is_string(json_object_get(item_meta(mine, 0), "event_time")));
    /* then the first name change: previous names what changed and its old value, data is current */
    bool saw_name = false, saw_email = false;
    for (size_t i = 1; i < json_array_size(mine); i++) {
        json_t *m = item_meta(mine, i), *d = item_data(mine, i);
        json_t *prev = json_object_get(m, "previous");
        cr_expect_str_eq(json_string_value(json_object_get(m, "event_type")), "updated");
        cr_expect_gt(json_object_size(prev), 0, "an update without changed fields: %s", json_dumps(m, 0));
        cr_expect_null(json_object_get(prev, "last_name"), "unchanged field in previous");
        if (json_object_get(prev, "first_name")) {
            cr_expect(json_is_null(json_object_get(prev, "first_name")));
            cr_expect(json_is_null(json_object_get(prev, "title")));
            cr_expect_str_eq(json_string_value(json_object_get(d, "first_name")), "Ann");
            cr_expect_str_eq(json_string_value(json_object_get(d, "email")), "s@example.com");
            cr_expect_not(saw_email, "order: the name change came after the e-mail change");
            saw_name = true;
        }
        if (json_object_get(prev, "email")) {
            cr_expect_str_eq(json_string_value(json_object_get(prev, "email")), "s@example.com");
            cr_expect_str_eq(json_string_value(json_object_get(d, "email")), "ann@example.com");
            cr_expect_str_eq(json_string_value(json_object_get(d, "first_name")), "Ann");
            saw_email = true;
        }
        cr_expect_gt(json_integer_value(json_object_get(m, "sequence")),
                     json_integer_value(json_object_get(item_meta(mine, i - 1), "sequence")));
    }
    cr_expect(saw_name && saw_email, "both updates on the stream: %s", json_dumps(mine, 0));
    /* positions strictly increase over the whole stream */
    for (size_t i = 1; i < json_array_size(leads); i++)
        cr_expect_gt(pos_of(leads, i), pos_of(leads, i - 1));
    /* the cursor: one at a time gives the same sequence */
    json_t *one_by_one = read_all("leads", "0", 1);
    cr_expect(json_equal(one_by_one, leads), "limit=1 pages differ from one read");
    json_decref(one_by_one);
    /* continuing from a position gives only what follows */
    char from[32];
    snprintf(from, sizeof from, "%lld", pos_of(leads, 0));
    json_t *rest = read_all("leads", from, 100);
    cr_expect_eq(json_array_size(rest), json_array_size(leads) - 1);
    cr_expect(json_equal(json_array_get(rest, 0), json_array_get(leads, 1)));
    json_decref(rest);
    /* tail is the same as 0; top is empty, at the head, and nothing new follows it yet */
    json_t *tail = read_all("leads", "tail", 100);
    cr_expect(json_equal(tail, leads));
    json_decref(tail);
    r = stream_get("/v3/leads/stream?position=top");
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 0);
    cr_expect(json_is_true(json_object_get(json_object_get(r->json, "meta"), "top")));
    char top[32];
    snprintf(top, sizeof top, "%s",
             json_string_value(json_object_get(json_object_get(r->json, "meta"), "position")));
    harness_resp_destroy(&r);
    long long top_pos = 0;
    crm_parse_i64(top, (int64_t *)&top_pos);
    cr_expect_geq(top_pos, pos_of(leads, json_array_size(leads) - 1));
    json_t *after_top = read_all("leads", top, 100);
    cr_expect_eq(json_array_size(after_top), 0);
    json_decref(after_top);
    /* a change after top shows up from that position */
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    r = dl_expect(h, "PUT", path, admin, "{\"data\":{\"title\":\"CEO\"}}", 200);
    harness_resp_destroy(&r);
    cr_assert(wait_items("leads", json_array_size(leads) + 1));
    after_top = read_all("leads", top, 100);
    cr_expect_eq(json_array_size(after_top), 1);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(item_meta(after_top, 0), "previous"), "title")),
        "CTO");
    json_decref(after_top);
    json_decref(mine);
    json_decref(leads);

    /* contacts and deals have their own streams */
    json_t *contacts = read_all("contacts", "0", 100);
    cr_expect_eq(json_array_size(contacts), 1);
    cr_expect_eq(json_integer_value(json_object_get(item_data(contacts, 0), "id")), contact);
    cr_expect_str_eq(json_string_value(json_object_get(item_meta(contacts, 0), "type")), "contact");
    json_decref(contacts);
    json_t *deals = read_all("deals", "0", 100);
    json_t *d = of_record(deals, deal);
    cr_assert_geq(json_array_size(d), 2);
    json_t *last = json_array_get(d, json_array_size(d) - 1);
    /* the value is as GET /v2/deals/{id} shows it (a number or a decimal string) */
    json_t *now = json_object_get(json_object_get(last, "data"), "value");
    json_t *was = json_object_get(json_object_get(json_object_get(last, "meta"), "previous"), "value");
    cr_expect(json_is_number(now) ? json_number_value(now) == 250
                                  : json_is_string(now) && strncmp(json_string_value(now), "250", 3) == 0,
              "%s", json_dumps(last, 0));
    cr_expect(json_is_number(was) ? json_number_value(was) == 100
                                  : json_is_string(was) && strncmp(json_string_value(was), "100", 3) == 0,
              "%s", json_dumps(last, 0));
    json_decref(d);
    json_decref(deals);

    /* a deleted contact: one more item, deleted, with the contact's last state */
    snprintf(path, sizeof path, "/v2/contacts/%lld", contact);
    r = dl_expect(h, "DELETE", path, admin, NULL, 204);
    harness_resp_destroy(&r);
    cr_assert(wait_items("contacts", 2));
    contacts = read_all("contacts", "0", 100);
    cr_assert_eq(json_array_size(contacts), 2);
    cr_expect_str_eq(json_string_value(json_object_get(item_meta(contacts, 1), "event_type")), "deleted");
    cr_expect_str_eq(json_string_value(json_object_get(item_meta(contacts, 1), "event_cause")),
                     "contact.deleted");
    cr_expect_eq(json_integer_value(json_object_get(item_data(contacts, 1), "id")), contact);
    cr_expect_str_eq(json_string_value(json_object_get(item_data(contacts, 1), "last_name")), "Tact");
    json_decref(contacts);

    /* errors: bad positions and limits are 400 invalid_param, a sales token 403, no token 401 */
    expect_400("/v3/leads/stream?position=abc", "non-numeric position");
    expect_400("/v3/leads/stream?position=-1", "negative position");
    expect_400("/v3/leads/stream", "missing position");
    expect_400("/v3/leads/stream?position=0&limit=0", "limit 0");
    expect_400("/v3/leads/stream?position=0&limit=101", "limit 101");
    expect_400("/v3/leads/stream?position=0&bogus=1", "unknown parameter");
    long long uid = 0;
    char *sales = dl_user_token(h, "hose-sales@example.com", "sales", &uid);
    r = dl_expect(h, "GET", "/v3/leads/stream?position=0", sales, NULL, 403);
    harness_resp_destroy(&r);
    free(sales);
    r = dl_expect(h, "GET", "/v3/leads/stream?position=0", NULL, NULL, 401);
    harness_resp_destroy(&r);
    r = dl_expect(h, "POST", "/v3/leads/stream?position=0", admin, "{}", 405);
    harness_resp_destroy(&r);
    r = dl_expect(h, "GET", "/v3/users/stream?position=0", admin, NULL, 404);
    harness_resp_destroy(&r);
}

static bool stream_empty(harness_t *self, void *arg)
{
    (void)self;
    json_t *all = read_all((const char *)arg, "0", 100);
    bool ok = json_array_size(all) == 0;
    json_decref(all);
    return ok;
}

Test(firehose, rows_are_pruned_after_the_retention)
{
    h = harness_start_opts(
        &(harness_opts_t){.gateway_extra = "  stream: {retention_seconds: 2, prune_interval_ms: 200}\n"});
    cr_assert_not_null(h, "stack did not start");
    long long lead = dl_create(h, "/v2/leads", harness_admin_token(h), "{\"last_name\":\"Short lived\"}");
    cr_assert(lead > 0);
    cr_assert(wait_items("leads", 1));
    cr_assert(
        harness_wait_until(h, harness_ms(15000), stream_empty, (void *)"leads", "the lead's row pruned"));
    /* the record's state is kept (the Sync API serves it), and new changes still stream */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.stream_records WHERE resource = 'lead'"),
                 1);
    char path[64];
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    harness_resp_t *r =
        dl_expect(h, "PUT", path, harness_admin_token(h), "{\"data\":{\"title\":\"Again\"}}", 200);
    harness_resp_destroy(&r);
    cr_assert(wait_items("leads", 1));
    json_t *all = read_all("leads", "0", 100);
    cr_expect_str_eq(json_string_value(json_object_get(item_meta(all, 0), "event_type")), "updated");
    cr_expect(json_is_null(json_object_get(json_object_get(item_meta(all, 0), "previous"), "title")));
    json_decref(all);
}

/* Creates (id 0) or renames a lead straight through crm-leads' RPC (the gateway may be down). */
static long long rpc_lead(long long id, const char *last_name)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", harness_rpc_port(h, "leads"));
    const char *eps[] = {ep};
    crm_err_t err;
    crm_err_clear(&err);
    crm_rpc_client_t *c = crm_rpc_client_new(zctx, eps, 1, &err);
    cr_assert_not_null(c, "%s", err.message);
    Crm__Lead in = CRM__LEAD__INIT;
    in.last_name = (char *)last_name;
    char *mask[] = {"last_name"};
    if (id > 0) {
        in.has_id = 1;
        in.id = id;
        in.n_update_mask = 1;
        in.update_mask = mask;
    }
    const char *method = id > 0 ? "leads.update" : "leads.create";
    ProtobufCMessage *out = NULL;
    long long uid = harness_sql_long(h, "SELECT min(user_id) FROM gateway.api_tokens");
    crm_rpc_caller_t caller = {.user_id = uid, .role = "admin", .correlation_id = "firehose-test"};
    int rc =
        crm_rpc_call(c, method, &caller, &in.base, &crm__lead__descriptor, harness_ms(10000), &out, &err);
    crm_rpc_client_destroy(&c);
    cr_assert_eq(rc, CRM_OK, "%s: %s", method, err.message);
    long long got = ((Crm__Lead *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    return got;
}

static long long rpc_create_lead(const char *last_name)
{
    return rpc_lead(0, last_name);
}

Test(firehose, a_killed_gateway_loses_nothing)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    zctx = zmq_ctx_new();
    long long first = dl_create(h, "/v2/leads", harness_admin_token(h), "{\"last_name\":\"Before\"}");
    cr_assert(first > 0);
    cr_assert(wait_items("leads", 1));
    cr_assert_eq(harness_kill(h, "gateway"), 0);
    /* while the gateway is down, crm-leads makes 5 leads: their events go nowhere live */
    long long ids[5];
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "While down %d", i);
        ids[i] = rpc_create_lead(name);
        cr_assert_gt(ids[i], 0);
    }
    cr_assert_eq(harness_restart(h, "gateway"), 0);
    cr_assert(wait_items("leads", 6));
    json_t *all = read_all("leads", "0", 100);
    cr_expect_eq(json_array_size(all), 6, "exactly once each: %s", json_dumps(all, 0));
    for (int i = 0; i < 5; i++) {
        json_t *one = of_record(all, ids[i]);
        cr_expect_eq(json_array_size(one), 1, "lead %lld once", ids[i]);
        json_decref(one);
    }
    json_decref(all);
    /* and again, killed right after a burst of changes through the API */
    long long burst[10];
    for (int i = 0; i < 10; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"last_name\":\"Burst %d\"}", i);
        burst[i] = dl_create(h, "/v2/leads", harness_admin_token(h), body);
    }
    cr_assert_eq(harness_kill(h, "gateway"), 0);
    cr_assert_eq(harness_restart(h, "gateway"), 0);
    cr_assert(wait_items("leads", 16));
    all = read_all("leads", "0", 100);
    cr_expect_eq(json_array_size(all), 16, "exactly once each after the second kill");
    for (int i = 0; i < 10; i++) {
        json_t *one = of_record(all, burst[i]);
        cr_expect_eq(json_array_size(one), 1, "burst lead %lld once", burst[i]);
        json_decref(one);
    }
    json_decref(all);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.dead_letters"), 0);
}

/* The gateway applies events in batches and writes a batch's stream rows in one statement: a record
 * changed several times within one batch (here: created and renamed three times while the gateway
 * was down, replayed together at its restart) must see its own earlier changes — revisions 1..n
 * in order, each `previous` holding the values of the change before, the stored state the last. */
Test(firehose, changes_of_one_record_in_one_batch_see_each_other)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    zctx = zmq_ctx_new();
    cr_assert(dl_create(h, "/v2/leads", harness_admin_token(h), "{\"last_name\":\"Before\"}") > 0);
    cr_assert(wait_items("leads", 1));
    cr_assert_eq(harness_kill(h, "gateway"), 0);
    long long id = rpc_create_lead("Name 0");
    cr_assert_gt(id, 0);
    for (int i = 1; i <= 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "Name %d", i);
        cr_assert_eq(rpc_lead(id, name), id);
    }
    cr_assert_eq(harness_restart(h, "gateway"), 0);
    cr_assert(wait_items("leads", 5));
    json_t *all = read_all("leads", "0", 100);
    json_t *one = of_record(all, id);
    size_t n = json_array_size(one);
    cr_assert_geq(n, 4, "created and 3 renames: %s", json_dumps(one, 0));
    int renamed = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *m = item_meta(one, i), *d = item_data(one, i);
        cr_expect_eq(json_integer_value(json_object_get(m, "sequence")), (json_int_t)i + 1,
                     "revision of item %zu", i);
        cr_expect_str_eq(json_string_value(json_object_get(m, "event_type")), i == 0 ? "created" : "updated");
        if (i == 0)
            continue;
        cr_expect_gt(pos_of(one, i), pos_of(one, i - 1));
        json_t *prev = json_object_get(m, "previous"), *before = item_data(one, i - 1);
        cr_expect_gt(json_object_size(prev), 0, "item %zu changes nothing", i);
        const char *key;
        json_t *v;
        json_object_foreach(prev, key, v)
        {
            json_t *was = json_object_get(before, key);
            cr_expect(json_equal(v, was ? was : json_null()),
                      "item %zu: previous %s is not the item before's", i, key);
        }
        if (json_object_get(prev, "last_name")) {
            char want[32];
            snprintf(want, sizeof want, "Name %d", ++renamed);
            cr_expect_str_eq(json_string_value(json_object_get(d, "last_name")), want);
        }
    }
    cr_expect_eq(renamed, 3, "three renames in order");
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT revision FROM gateway.stream_records WHERE resource = 'lead' AND record_id = %lld"
             " AND data->>'last_name' = 'Name 3'",
             id);
    cr_expect_eq(harness_sql_long(h, sql), (long long)n, "the stored state is the last change");
    json_decref(one);
    json_decref(all);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.dead_letters"), 0);
}

/* The Sync API (SELL_API §7) through HTTP on a real stack, issue 9's later parts: calls, products,
 * orders and line items reach devices from their events (a sales device: its calls, its deals'
 * orders and line items, every product without cost); the cap of 100 active sessions per user;
 * and a record whose owner changes away from a sales user comes to that user's device once as
 * deleted, then no more, while the new owner's device gets it (a deal's order and line items
 * move with the deal). */
#include <criterion/criterion.h>

#include "sync_util.h"

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(sync_visibility, .fini = stop_stack, .timeout = 900);

/* harness_wait_until predicate: the SQL (arg) answers 1 or more. */
static bool sql_true(harness_t *self, void *arg)
{
    return harness_sql_long(self, arg) >= 1;
}

static void wait_sql(const char *what, const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    cr_assert(harness_wait_until(h, harness_ms(20000), sql_true, sql, what), "waited for: %s (%s)", what,
              sql);
}

static const char *event_type(json_t *item)
{
    return json_string_value(json_object_get(sync_meta(item), "event_type"));
}

static const char *ack_key(json_t *item)
{
    return json_string_value(json_object_get(sync_meta(item), "ack_key"));
}

static json_t *data_of(json_t *item)
{
    return json_object_get(item, "data");
}

/* One whole session of the device (start, drain): its items, or an empty array on 204. */
static json_t *session(const char *token, const char *device)
{
    long long total = 0;
    char *s = start(token, device, &total);
    if (!s)
        return json_array();
    json_t *got = drain(token, device, s);
    cr_expect_eq((long long)json_array_size(got), total, "total_count vs items");
    free(s);
    return got;
}

static void put(const char *path, const char *token, const char *body)
{
    harness_resp_t *r = dl_expect(h, "PUT", path, token, body, 200);
    harness_resp_destroy(&r);
}

static void del(const char *path, const char *token)
{
    harness_resp_t *r = dl_expect(h, "DELETE", path, token, NULL, 204);
    harness_resp_destroy(&r);
}

Test(sync_visibility, calls_products_orders_and_line_items)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long us = 0, ut = 0;
    char *s = dl_user_token(h, "sync-s@example.com", "sales", &us);
    char *t = dl_user_token(h, "sync-t@example.com", "sales", &ut);
    char body[512], path[160];

    long long lead_s = dl_create(h, "/v2/leads", s, "{\"last_name\":\"S lead\"}");
    long long lead_a = dl_create(h, "/v2/leads", admin, "{\"last_name\":\"Admin lead\"}");
    snprintf(body, sizeof body, "{\"resource_type\":\"lead\",\"resource_id\":%lld,\"duration\":60}", lead_s);
    long long call_s = dl_create(h, "/v2/calls", s, body);
    snprintf(body, sizeof body, "{\"resource_type\":\"lead\",\"resource_id\":%lld,\"summary\":\"x\"}",
             lead_a);
    long long call_a = dl_create(h, "/v2/calls", admin, body);
    long long product =
        dl_create(h, "/v2/products", admin,
                  "{\"name\":\"Widget\",\"sku\":\"W-1\",\"max_discount\":10,\"cost\":\"40\","
                  "\"cost_currency\":\"USD\",\"prices\":[{\"amount\":\"100\",\"currency\":\"USD\"}]}");
    long long deal_s = dl_create(h, "/v2/deals", s, "{\"name\":\"S deal\"}");
    long long deal_t = dl_create(h, "/v2/deals", t, "{\"name\":\"T deal\"}");
    snprintf(body, sizeof body, "{\"deal_id\":%lld,\"discount\":5}", deal_s);
    long long order_s = dl_create(h, "/v2/orders", s, body);
    snprintf(body, sizeof body, "{\"deal_id\":%lld}", deal_t);
    long long order_t = dl_create(h, "/v2/orders", t, body);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items", order_s);
    snprintf(body, sizeof body,
             "{\"product_id\":%lld,\"currency\":\"USD\",\"quantity\":2,\"variation\":\"-5\"}", product);
    long long li = dl_create(h, path, s, body);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items", order_t);
    snprintf(body, sizeof body, "{\"product_id\":%lld,\"currency\":\"USD\"}", product);
    long long li_t = dl_create(h, path, t, body);
    cr_assert(lead_s > 0 && lead_a > 0 && call_s > 0 && call_a > 0 && product > 0 && deal_s > 0 &&
              deal_t > 0 && order_s > 0 && order_t > 0 && li > 0 && li_t > 0);
    wait_sql("calls, product, orders, line items in the sync state",
             "SELECT (count(*) = 7)::int FROM gateway.stream_records WHERE resource IN "
             "('call', 'product', 'order', 'line_item')");
    /* the owners the gateway keeps: the call's user, the deal's owner for orders and line items */
    char sql[256];
    snprintf(
        sql, sizeof sql,
        "SELECT count(*) FROM gateway.stream_records WHERE owner_id = %lld AND resource IN ('call', 'order', "
        "'line_item')",
        us);
    cr_expect_eq(harness_sql_long(h, sql), 3);

    /* a sales device: its call, its deal's order and line item, the product without cost */
    json_t *got = session(s, "s-phone");
    json_t *c = find(got, "call", call_s), *p = find(got, "product", product),
           *o = find(got, "order", order_s), *l = find(got, "line_item", li);
    cr_assert(c && p && o && l, "sales device got: %s", json_dumps(got, 0));
    cr_expect_null(find(got, "call", call_a), "another user's call on a sales device");
    cr_expect_null(find(got, "order", order_t), "another rep's order on a sales device");
    cr_expect_null(find(got, "line_item", li_t), "another rep's line item on a sales device");
    cr_expect_str_eq(event_type(c), "created");
    cr_expect_eq(json_integer_value(json_object_get(data_of(c), "duration")), 60);
    cr_expect_eq(json_integer_value(json_object_get(data_of(c), "user_id")), us);
    cr_expect_null(json_object_get(data_of(c), "update_mask"), "write-only update_mask in sync data");
    cr_expect(json_is_null(json_object_get(data_of(p), "cost")), "product cost on a sales device: %s",
              json_dumps(data_of(p), 0));
    cr_expect_str_eq(json_string_value(json_object_get(data_of(p), "name")), "Widget");
    cr_expect_eq(json_integer_value(json_object_get(data_of(o), "deal_id")), deal_s);
    cr_expect_eq(json_integer_value(json_object_get(data_of(o), "discount")), 5);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(l), "name")), "Widget");
    cr_expect_str_eq(json_string_value(json_object_get(data_of(l), "value")), "95.00");
    char want[64];
    snprintf(want, sizeof want, "Call-%lld-1", call_s);
    cr_expect_str_eq(ack_key(c), want);
    snprintf(want, sizeof want, "Product-%lld-1", product);
    cr_expect_str_eq(ack_key(p), want);
    snprintf(want, sizeof want, "Order-%lld-1", order_s);
    cr_expect_str_eq(ack_key(o), want);
    snprintf(want, sizeof want, "LineItem-%lld-1", li);
    cr_expect_str_eq(ack_key(l), want);
    ack(s, "s-phone", got, NULL);
    json_decref(got);

    /* an admin device: everything, the product's cost included */
    got = session(admin, "admin-laptop");
    cr_expect_not_null(find(got, "call", call_a));
    cr_expect_not_null(find(got, "order", order_t));
    cr_expect_not_null(find(got, "line_item", li_t));
    p = find(got, "product", product);
    cr_assert_not_null(p);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(p), "cost")), "40.00");
    ack(admin, "admin-laptop", got, NULL);
    json_decref(got);

    /* changes: call updated, product updated, the order deleted (its line item with it) */
    snprintf(path, sizeof path, "/v2/calls/%lld", call_s);
    put(path, s, "{\"data\":{\"summary\":\"Called back\"}}");
    snprintf(path, sizeof path, "/v2/products/%lld", product);
    put(path, admin, "{\"data\":{\"name\":\"Widget 2\"}}");
    snprintf(path, sizeof path, "/v2/orders/%lld", order_s);
    del(path, s);
    wait_sql(
        "call.updated, product.updated, order.deleted, line_item.deleted",
        "SELECT (count(*) = 4)::int FROM gateway.stream_records WHERE (resource = 'call' AND record_id = "
        "%lld "
        "AND revision = 2) OR (resource = 'product' AND revision = 2) OR (resource = 'order' AND record_id = "
        "%lld AND deleted) OR (resource = 'line_item' AND record_id = %lld AND deleted)",
        call_s, order_s, li);
    got = session(s, "s-phone");
    cr_expect_eq(json_array_size(got), 4, "call, product, order, line item: %s", json_dumps(got, 0));
    c = find(got, "call", call_s);
    p = find(got, "product", product);
    o = find(got, "order", order_s);
    l = find(got, "line_item", li);
    cr_assert(c && p && o && l, "%s", json_dumps(got, 0));
    cr_expect_str_eq(event_type(c), "updated");
    cr_expect_str_eq(json_string_value(json_object_get(data_of(c), "summary")), "Called back");
    cr_expect_str_eq(event_type(p), "updated");
    cr_expect_str_eq(json_string_value(json_object_get(data_of(p), "name")), "Widget 2");
    cr_expect(json_is_null(json_object_get(data_of(p), "cost")));
    cr_expect_str_eq(event_type(o), "deleted");
    cr_expect_str_eq(event_type(l), "deleted");
    ack(s, "s-phone", got, NULL);
    json_decref(got);
    cr_expect_null(start(s, "s-phone", &(long long){0}), "all acked: 204");

    /* deleting a deal takes its order and line items: they come as deleted too */
    snprintf(path, sizeof path, "/v2/deals/%lld", deal_t);
    del(path, t);
    wait_sql(
        "the order and line item of the deleted deal",
        "SELECT (count(*) = 2)::int FROM gateway.stream_records WHERE deleted AND ((resource = 'order' AND "
        "record_id = %lld) OR (resource = 'line_item' AND record_id = %lld))",
        order_t, li_t);
    got = session(admin, "admin-laptop");
    o = find(got, "order", order_t);
    l = find(got, "line_item", li_t);
    cr_assert(o && l, "%s", json_dumps(got, 0));
    cr_expect_str_eq(event_type(o), "deleted");
    cr_expect_str_eq(event_type(l), "deleted");
    cr_expect_str_eq(event_type(find(got, "deal", deal_t)), "deleted");
    json_decref(got);

    /* a product deleted: every device hears of it */
    snprintf(path, sizeof path, "/v2/products/%lld", product);
    del(path, admin);
    wait_sql(
        "product.deleted",
        "SELECT count(*) FROM gateway.stream_records WHERE resource = 'product' AND record_id = %lld AND "
        "deleted",
        product);
    got = session(s, "s-phone");
    p = find(got, "product", product);
    cr_assert_not_null(p, "%s", json_dumps(got, 0));
    cr_expect_str_eq(event_type(p), "deleted");
    json_decref(got);

    /* the Firehose stays leads / contacts / deals only */
    harness_resp_t *r = dl_expect(h, "GET", "/v3/leads/stream?position=tail&limit=100", admin, NULL, 200);
    json_t *items = json_object_get(r->json, "items");
    cr_expect_gt(json_array_size(items), 0);
    for (size_t i = 0; i < json_array_size(items); i++)
        cr_expect_str_eq(
            json_string_value(json_object_get(json_object_get(json_array_get(items, i), "meta"), "type")),
            "lead");
    harness_resp_destroy(&r);
    free(s);
    free(t);
}

Test(sync_visibility, at_most_100_active_sessions_per_user)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long lead = dl_create(h, "/v2/leads", admin, "{\"last_name\":\"Capped\"}");
    cr_assert_gt(lead, 0);
    wait_sql("the lead in the sync state",
             "SELECT count(*) FROM gateway.stream_records WHERE resource = 'lead'");
    char device[32], *first = NULL;
    long long total = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(device, sizeof device, "cap-%d", i);
        char *sid = start(admin, device, &total);
        cr_assert_not_null(sid, "session %d", i);
        if (i == 0)
            first = sid;
        else
            free(sid);
    }
    /* the 101st active session: 429 with a Sell error body */
    harness_resp_t *r = sync_call("POST", "/v2/sync/start", admin, "cap-100", NULL);
    cr_expect_eq(r->status, 429, "%ld %s", r->status, r->body);
    cr_expect_str_eq(dl_err(r, "code"), "rate_limit_exceeded", "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "http_status")),
                     "429 Too Many Requests");
    harness_resp_destroy(&r);
    /* nothing of the refused start stays: no device row with a session */
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM gateway.sync_devices WHERE device_uuid = 'cap-100'"), 0);
    /* a device with an active session may start again (its old session is superseded) */
    char *again = start(admin, "cap-7", &total);
    cr_expect_not_null(again, "a device restarting its own session");
    free(again);
    /* another user has its own 100 */
    long long uid = 0;
    char *sales = dl_user_token(h, "cap-sales@example.com", "sales", &uid);
    char *other = start(sales, "cap-100", &total);
    cr_expect_not_null(other, "another user's session");
    free(other);
    /* draining a session's queue (204) ends it: one place free */
    json_t *got = drain(admin, "cap-0", first);
    json_decref(got);
    char *freed = start(admin, "cap-100", &total);
    cr_expect_not_null(freed, "a place freed by a drained session");
    free(freed);
    r = sync_call("POST", "/v2/sync/start", admin, "cap-101", NULL);
    cr_expect_eq(r->status, 429, "%ld %s", r->status, r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.sync_sessions WHERE closed_at IS NULL AND "
                                     "device_id IN (SELECT id FROM gateway.sync_devices WHERE user_id = "
                                     "(SELECT min(user_id) FROM gateway.api_tokens))"),
                 100);
    free(first);
    free(sales);
}

Test(sync_visibility, owner_change_is_a_deletion_for_the_old_owner)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long ua = 0, ub = 0;
    char *a = dl_user_token(h, "vis-a@example.com", "sales", &ua);
    char *b = dl_user_token(h, "vis-b@example.com", "sales", &ub);
    long long lead = dl_create(h, "/v2/leads", a, "{\"last_name\":\"Moving\"}");
    long long stays = dl_create(h, "/v2/leads", a, "{\"last_name\":\"Staying\"}");
    cr_assert(lead > 0 && stays > 0);
    wait_sql(
        "a's leads",
        "SELECT (count(*) = 2)::int FROM gateway.stream_records WHERE resource = 'lead' AND owner_id = %lld",
        ua);

    /* A's device has the lead */
    json_t *got = session(a, "a-phone");
    cr_assert_not_null(find(got, "lead", lead), "%s", json_dumps(got, 0));
    ack(a, "a-phone", got, NULL);
    json_decref(got);

    /* reassigned to B: A's next session has it as deleted (only its id), B's as created */
    char path[96], body[96];
    snprintf(path, sizeof path, "/v2/leads/%lld", lead);
    snprintf(body, sizeof body, "{\"data\":{\"owner_id\":%lld}}", ub);
    put(path, admin, body);
    wait_sql("the lead owned by b",
             "SELECT count(*) FROM gateway.stream_records WHERE resource = 'lead' AND record_id = %lld AND "
             "owner_id "
             "= %lld",
             lead, ub);
    got = session(a, "a-phone");
    json_t *it = find(got, "lead", lead);
    cr_assert_not_null(it, "the lost lead on a's device: %s", json_dumps(got, 0));
    cr_expect_str_eq(event_type(it), "deleted");
    cr_expect_eq(json_object_size(data_of(it)), 1, "only the id of a record a no longer sees: %s",
                 json_dumps(data_of(it), 0));
    cr_expect_null(find(got, "lead", stays), "an unchanged lead came again");
    ack(a, "a-phone", got, NULL);
    json_decref(got);
    got = session(b, "b-tablet");
    it = find(got, "lead", lead);
    cr_assert_not_null(it, "b's device: %s", json_dumps(got, 0));
    cr_expect_str_eq(event_type(it), "created");
    cr_expect_str_eq(json_string_value(json_object_get(data_of(it), "last_name")), "Moving");
    cr_expect_eq(json_integer_value(json_object_get(data_of(it), "owner_id")), ub);
    ack(b, "b-tablet", got, NULL);
    json_decref(got);

    /* B changes it: B's device gets the update, A's nothing */
    put(path, b, "{\"data\":{\"title\":\"B's now\"}}");
    wait_sql("b's change",
             "SELECT count(*) FROM gateway.stream_records WHERE resource = 'lead' AND record_id = %lld AND "
             "data->>'title' = 'B''s now'",
             lead);
    got = session(a, "a-phone");
    cr_expect_null(find(got, "lead", lead), "b's change flowed to a: %s", json_dumps(got, 0));
    json_decref(got);
    got = session(b, "b-tablet");
    it = find(got, "lead", lead);
    cr_assert_not_null(it);
    cr_expect_str_eq(event_type(it), "updated");
    json_decref(got);

    /* back to A: A's device gets it again, as created, with its current state */
    snprintf(body, sizeof body, "{\"data\":{\"owner_id\":%lld}}", ua);
    put(path, admin, body);
    wait_sql("the lead back with a",
             "SELECT count(*) FROM gateway.stream_records WHERE resource = 'lead' AND record_id = %lld AND "
             "owner_id "
             "= %lld",
             lead, ua);
    got = session(a, "a-phone");
    it = find(got, "lead", lead);
    cr_assert_not_null(it, "%s", json_dumps(got, 0));
    cr_expect_str_eq(event_type(it), "created");
    cr_expect_str_eq(json_string_value(json_object_get(data_of(it), "title")), "B's now");
    json_decref(got);
    /* and B's device now has it as deleted */
    got = session(b, "b-tablet");
    it = find(got, "lead", lead);
    cr_assert_not_null(it, "%s", json_dumps(got, 0));
    cr_expect_str_eq(event_type(it), "deleted");
    ack(b, "b-tablet", got, NULL);
    json_decref(got);

    /* a deal moving from A to B takes its order and line items along */
    long long product =
        dl_create(h, "/v2/products", admin,
                  "{\"name\":\"Gadget\",\"prices\":[{\"amount\":\"10\",\"currency\":\"USD\"}]}");
    long long deal = dl_create(h, "/v2/deals", a, "{\"name\":\"A's deal\"}");
    snprintf(body, sizeof body, "{\"deal_id\":%lld}", deal);
    long long order = dl_create(h, "/v2/orders", a, body);
    char lpath[96];
    snprintf(lpath, sizeof lpath, "/v2/orders/%lld/line_items", order);
    snprintf(body, sizeof body, "{\"product_id\":%lld,\"currency\":\"USD\"}", product);
    long long li = dl_create(h, lpath, a, body);
    cr_assert(product > 0 && deal > 0 && order > 0 && li > 0);
    wait_sql("a's order and line item",
             "SELECT (count(*) = 2)::int FROM gateway.stream_records WHERE owner_id = %lld AND resource IN "
             "('order', 'line_item')",
             ua);
    got = session(a, "a-phone");
    cr_expect(find(got, "deal", deal) && find(got, "order", order) && find(got, "line_item", li), "%s",
              json_dumps(got, 0));
    ack(a, "a-phone", got, NULL);
    json_decref(got);
    snprintf(path, sizeof path, "/v2/deals/%lld", deal);
    snprintf(body, sizeof body, "{\"data\":{\"owner_id\":%lld}}", ub);
    put(path, admin, body);
    wait_sql(
        "the deal's order and line item following it to b",
        "SELECT (count(*) = 3)::int FROM gateway.stream_records WHERE owner_id = %lld AND ((resource = "
        "'deal' "
        "AND record_id = %lld) OR (resource = 'order' AND record_id = %lld) OR (resource = 'line_item' AND "
        "record_id = %lld))",
        ub, deal, order, li);
    got = session(a, "a-phone");
    const char *types[] = {"deal", "order", "line_item"};
    long long ids[] = {deal, order, li};
    for (int i = 0; i < 3; i++) {
        it = find(got, types[i], ids[i]);
        cr_expect(it && strcmp(event_type(it), "deleted") == 0, "a's %s after the deal moved: %s", types[i],
                  json_dumps(got, 0));
    }
    json_decref(got);
    got = session(b, "b-tablet");
    for (int i = 0; i < 3; i++) {
        it = find(got, types[i], ids[i]);
        cr_expect(it && strcmp(event_type(it), "created") == 0, "b's %s after the deal moved: %s", types[i],
                  json_dumps(got, 0));
    }
    it = find(got, "line_item", li);
    cr_expect(it && strcmp(json_string_value(json_object_get(data_of(it), "name")), "Gadget") == 0);
    json_decref(got);
    free(a);
    free(b);
}

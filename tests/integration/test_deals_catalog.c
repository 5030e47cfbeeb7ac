/* The catalog of crm-deals through HTTP on a real stack (issue 9, SELL_API §6.14–§6.16): products
 * (prices per currency, active, discount and markup limits, cost for admins only, admin-only
 * writes), orders (one per deal, the deal's visibility) and line items (copies of the product's
 * name, sku and price in the deal's currency; value after variation within the limits; no update). */
#include "deals_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(deals_catalog, .fini = stop_stack, .timeout = 600);

static harness_resp_t *send(const char *method, const char *path, const char *token, const char *data,
                            long want)
{
    char body[1024];
    if (data)
        snprintf(body, sizeof body, "{\"data\":%s}", data);
    return dl_expect(h, method, path, token, data ? body : NULL, want);
}

static void expect_field(const char *method, const char *path, const char *token, const char *data, long want,
                         const char *field)
{
    harness_resp_t *r = send(method, path, token, data, want);
    cr_expect(strstr(r->body, field) != NULL, "%s %s %s: want %s named: %s", method, path, data, field,
              r->body);
    harness_resp_destroy(&r);
}

static void status(const char *method, const char *path, const char *token, const char *data, long want)
{
    harness_resp_t *r = send(method, path, token, data, want);
    harness_resp_destroy(&r);
}

Test(deals_catalog, products_orders_line_items)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long u1, u2, um;
    char *s1 = dl_user_token(h, "k1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "k2@example.com", "sales", &u2);
    char *mgr = dl_user_token(h, "km@example.com", "manager", &um);
    harness_resp_t *r;
    char path[160], data[512];

    /* Products: admin-only writes. */
    const char *widget =
        "{\"name\":\"Widget\",\"sku\":\"W-1\",\"description\":\"A widget\",\"max_discount\":10,"
        "\"max_markup\":20,\"cost\":\"40\",\"cost_currency\":\"USD\",\"prices\":[{\"amount\":"
        "\"100\",\"currency\":\"USD\"},{\"amount\":\"90.50\",\"currency\":\"EUR\"}]}";
    status("POST", "/v2/products", s1, widget, 403);
    status("POST", "/v2/products", mgr, widget, 403);
    long long widget_id = dl_create(h, "/v2/products", admin, widget);
    long long old_id = dl_create(h, "/v2/products", admin,
                                 "{\"name\":\"Old\",\"active\":false,\"prices\":[{"
                                 "\"amount\":\"5\",\"currency\":\"USD\"}]}");
    long long usd_only =
        dl_create(h, "/v2/products", admin,
                  "{\"name\":\"Dollar thing\",\"prices\":[{\"amount\":\"7\",\"currency\":\"USD\"}]}");
    expect_field("POST", "/v2/products", admin, "{\"name\":\"x\",\"max_discount\":101}", 422,
                 "\"/max_discount\"");
    expect_field("POST", "/v2/products", admin, "{\"name\":\"x\",\"max_markup\":-1}", 422, "\"/max_markup\"");
    expect_field("POST", "/v2/products", admin, "{\"prices\":[]}", 422, "\"/name\"");
    expect_field("POST", "/v2/products", admin,
                 "{\"name\":\"x\",\"prices\":[{\"amount\":\"1,5\",\"currency\":\"USD\"}]}", 422,
                 "\"/prices/0\"");
    expect_field(
        "POST", "/v2/products", admin,
        "{\"name\":\"x\",\"prices\":[{\"amount\":\"1\",\"currency\":\"USD\"},{\"amount\":\"2\",\"currency\":"
        "\"USD\"}]}",
        422, "\"/prices/1\"");
    expect_field("POST", "/v2/products", admin, "{\"name\":\"x\",\"cost\":\"abc\"}", 422, "\"/cost\"");
    expect_field("POST", "/v2/products", admin, "{\"name\":\"x\",\"colour\":\"red\"}", 422, "\"/colour\"");
    snprintf(path, sizeof path, "/v2/products/%lld", widget_id);
    r = send("GET", path, admin, NULL, 200);
    cr_expect_str_eq(dl_str(r, "cost"), "40.00", "%s", r->body);
    cr_expect_str_eq(dl_str(r, "sku"), "W-1");
    cr_expect_eq(dl_int(r, "max_discount"), 10);
    cr_expect_eq(json_array_size(json_object_get(dl_data(r), "prices")), 2);
    cr_expect(json_is_true(json_object_get(dl_data(r), "active")));
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "product");
    harness_resp_destroy(&r);
    r = send("GET", path, s1, NULL, 200);
    cr_expect(json_is_null(json_object_get(dl_data(r), "cost")), "cost is for admins only: %s", r->body);
    cr_expect(json_is_null(json_object_get(dl_data(r), "cost_currency")));
    harness_resp_destroy(&r);
    status("PUT", path, s1, "{\"name\":\"Mine\"}", 403);
    status("DELETE", path, mgr, NULL, 403);
    status("GET", "/v2/products/99999", s1, NULL, 404);
    cr_expect_eq(harness_count_items(h, "/v2/products?sku=W-1", s1), 1);
    cr_expect_eq(harness_count_items(h, "/v2/products?active=false", s1), 1);
    cr_expect_eq(harness_count_items(h, "/v2/products?name=Widget", s1), 1);
    cr_expect_eq(harness_count_items(h, "/v2/products", s1), 3);
    status("GET", "/v2/products?colour=red", s1, NULL, 400);
    status("GET", "/v2/products?per_page=101", s1, NULL, 400);
    /* prices replaced wholesale; null clears a nullable attribute */
    snprintf(path, sizeof path, "/v2/products/%lld", usd_only);
    r = send("PUT", path, admin,
             "{\"prices\":[{\"amount\":\"8\",\"currency\":\"USD\"}],\"description\":null,\"sku\":\"D-1\"}",
             200);
    cr_expect_eq(json_array_size(json_object_get(dl_data(r), "prices")), 1);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(dl_data(r), "prices"), 0), "amount"))
            ?: "",
        "8");
    cr_expect(json_is_null(json_object_get(dl_data(r), "description")));
    harness_resp_destroy(&r);
    expect_field("PUT", path, admin, "{\"max_discount\":200}", 422, "\"/max_discount\"");

    /* Orders: one per deal, the deal's visibility. */
    long long d1 = dl_create(h, "/v2/deals", s1, "{\"name\":\"Deal one\",\"value\":\"500\"}");
    long long d2 = dl_create(h, "/v2/deals", s2, "{\"name\":\"Deal two\"}");
    long long d3 = dl_create(h, "/v2/deals", s1, "{\"name\":\"Euro deal\",\"currency\":\"EUR\"}");
    snprintf(data, sizeof data, "{\"deal_id\":%lld,\"discount\":5}", d1);
    long long o1 = dl_create(h, "/v2/orders", s1, data);
    expect_field("POST", "/v2/orders", s1, data, 409, "one order per deal");
    snprintf(data, sizeof data, "{\"deal_id\":%lld}", d2);
    expect_field("POST", "/v2/orders", s1, data, 422, "\"/deal_id\"");
    expect_field("POST", "/v2/orders", s1, "{\"discount\":101}", 422, "\"/discount\"");
    expect_field("POST", "/v2/orders", s1, "{\"discount\":101}", 422, "\"/deal_id\"");
    snprintf(data, sizeof data, "{\"deal_id\":%lld}", d3);
    long long o3 = dl_create(h, "/v2/orders", s1, data);
    snprintf(path, sizeof path, "/v2/orders/%lld", o1);
    r = send("GET", path, s1, NULL, 200);
    cr_expect_eq(dl_int(r, "deal_id"), d1);
    cr_expect_eq(dl_int(r, "discount"), 5);
    harness_resp_destroy(&r);
    status("GET", path, s2, NULL, 404);
    status("GET", path, mgr, NULL, 200);
    cr_expect_eq(harness_count_items(h, "/v2/orders", s2), 0);
    cr_expect_eq(harness_count_items(h, "/v2/orders", mgr), 2);
    snprintf(path, sizeof path, "/v2/orders?deal_id=%lld", d1);
    cr_expect_eq(harness_count_items(h, path, s1), 1);
    snprintf(path, sizeof path, "/v2/orders/%lld", o1);
    r = send("PUT", path, s1, "{\"discount\":10}", 200);
    cr_expect_eq(dl_int(r, "discount"), 10);
    harness_resp_destroy(&r);
    snprintf(data, sizeof data, "{\"deal_id\":%lld}", d3);
    expect_field("PUT", path, s1, data, 422, "\"/deal_id\"");
    status("PUT", path, s2, "{\"discount\":1}", 404);

    /* Line items: copies of the product, value after variation, within the limits. */
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items", o1);
    snprintf(data, sizeof data,
             "{\"product_id\":%lld,\"currency\":\"USD\",\"variation\":\"-10\",\"quantity\":2}", widget_id);
    r = send("POST", path, s1, data, 200);
    long long li1 = dl_int(r, "id");
    cr_expect(li1 > 0);
    cr_expect_str_eq(dl_str(r, "name"), "Widget");
    cr_expect_str_eq(dl_str(r, "sku"), "W-1");
    cr_expect_str_eq(dl_str(r, "description"), "A widget");
    cr_expect_str_eq(dl_str(r, "price"), "100.00");
    cr_expect_str_eq(dl_str(r, "value"), "90.00");
    cr_expect_str_eq(dl_str(r, "variation"), "-10.00");
    cr_expect_eq(dl_int(r, "quantity"), 2);
    cr_expect_eq(dl_int(r, "order_id"), o1);
    cr_expect(json_is_null(json_object_get(dl_data(r), "product_id")), "write-only: %s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "line_item");
    harness_resp_destroy(&r);
    snprintf(data, sizeof data, "{\"product_id\":%lld,\"currency\":\"USD\",\"value\":\"110\"}", widget_id);
    r = send("POST", path, s1, data, 200);
    cr_expect_str_eq(dl_str(r, "variation"), "10.00", "variation follows from value: %s", r->body);
    cr_expect_str_eq(dl_str(r, "value"), "110.00");
    cr_expect_eq(dl_int(r, "quantity"), 1);
    long long li2 = dl_int(r, "id");
    harness_resp_destroy(&r);
    snprintf(data, sizeof data, "{\"product_id\":%lld,\"currency\":\"USD\"}", widget_id);
    r = send("POST", path, s1, data, 200);
    cr_expect_str_eq(dl_str(r, "value"), "100.00", "no variation: the price");
    harness_resp_destroy(&r);
    static const struct {
        const char *fmt, *field;
    } bad[] = {
        {"{\"product_id\":%lld,\"currency\":\"USD\",\"variation\":\"-10.01\"}", "\"/variation\""},
        {"{\"product_id\":%lld,\"currency\":\"USD\",\"variation\":\"+20.5\"}", "\"/variation\""},
        {"{\"product_id\":%lld,\"currency\":\"USD\",\"value\":\"130\"}", "\"/value\""},
        {"{\"product_id\":%lld,\"currency\":\"USD\",\"value\":\"95\",\"variation\":\"-10\"}", "\"/value\""},
        {"{\"product_id\":%lld,\"currency\":\"EUR\"}", "\"/currency\""},
        {"{\"product_id\":%lld}", "\"/currency\""},
        {"{\"product_id\":%lld,\"currency\":\"USD\",\"quantity\":0}", "\"/quantity\""},
        {"{\"product_id\":%lld,\"currency\":\"USD\",\"variation\":\"ten\"}", "\"/variation\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(data, sizeof data, bad[i].fmt, widget_id);
        expect_field("POST", path, s1, data, 422, bad[i].field);
    }
    expect_field("POST", path, s1, "{\"currency\":\"USD\"}", 422, "\"/product_id\"");
    expect_field("POST", path, s1, "{\"product_id\":99999,\"currency\":\"USD\"}", 422, "\"/product_id\"");
    snprintf(data, sizeof data, "{\"product_id\":%lld,\"currency\":\"USD\"}", old_id);
    expect_field("POST", path, s1, data, 422, "inactive");
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items", o3);
    snprintf(data, sizeof data, "{\"product_id\":%lld,\"currency\":\"EUR\"}", usd_only);
    expect_field("POST", path, s1, data, 422, "no price in EUR");
    snprintf(data, sizeof data, "{\"product_id\":%lld,\"currency\":\"EUR\"}", widget_id);
    r = send("POST", path, s1, data, 200);
    cr_expect_str_eq(dl_str(r, "price"), "90.50", "the price in the deal's currency");
    harness_resp_destroy(&r);

    snprintf(path, sizeof path, "/v2/orders/%lld/line_items", o1);
    cr_expect_eq(harness_count_items(h, path, s1), 3);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items?quantity=2", o1);
    cr_expect_eq(harness_count_items(h, path, s1), 1);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items?value=110", o1);
    cr_expect_eq(harness_count_items(h, path, s1), 1);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items", o1);
    status("GET", path, s2, NULL, 404);
    snprintf(data, sizeof data, "{\"product_id\":%lld,\"currency\":\"USD\"}", widget_id);
    status("POST", path, s2, data, 404);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items/%lld", o1, li1);
    status("PUT", path, s1, "{\"quantity\":3}", 405);
    status("GET", path, s2, NULL, 404);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items/%lld", o3, li1);
    status("GET", path, s1, NULL, 404);

    /* The deal's value does not change with line items (SELL_API says nothing of it). */
    snprintf(path, sizeof path, "/v2/deals/%lld", d1);
    r = send("GET", path, s1, NULL, 200);
    cr_expect_eq(dl_int(r, "value"), 500);
    harness_resp_destroy(&r);

    /* A deleted product leaves the line items that copied it alone. */
    snprintf(path, sizeof path, "/v2/products/%lld", widget_id);
    status("DELETE", path, admin, NULL, 204);
    status("GET", path, admin, NULL, 404);
    snprintf(path, sizeof path, "/v2/orders/%lld/line_items/%lld", o1, li1);
    r = send("GET", path, s1, NULL, 200);
    cr_expect_str_eq(dl_str(r, "name"), "Widget");
    harness_resp_destroy(&r);
    status("DELETE", path, s1, NULL, 204);
    status("GET", path, s1, NULL, 404);
    status("DELETE", path, s1, NULL, 404);

    /* Deleting the order removes its line items; deleting a deal its order. */
    snprintf(path, sizeof path, "/v2/orders/%lld", o1);
    status("DELETE", path, s2, NULL, 404);
    status("DELETE", path, s1, NULL, 204);
    status("GET", path, s1, NULL, 404);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deals.line_items WHERE order_id = %lld OR id = %lld", o1,
             li2);
    cr_expect_eq(harness_sql_long(h, sql), 0);
    snprintf(path, sizeof path, "/v2/deals/%lld", d3);
    status("DELETE", path, s1, NULL, 204);
    snprintf(path, sizeof path, "/v2/orders/%lld", o3);
    status("GET", path, mgr, NULL, 404);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.line_items"), 0);
    free(s1);
    free(s2);
    free(mgr);
}

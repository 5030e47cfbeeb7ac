/* Hostile inputs through HTTP on a real stack: malformed JSON, invalid UTF-8, 10,000-deep
 * nesting, duplicate keys, a 10 MiB body, header injection, SQL metacharacters in every field.
 * Each gets its 4xx (with a Sell error body) or is stored verbatim as data, and the gateway
 * stays up and ready. */
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

TestSuite(webhook_hostile, .fini = stop_stack, .timeout = 900);

static const char *FORM = "application/x-www-form-urlencoded";
static const char *JSON = "application/json";

static harness_resp_t *post(const char *ctype, const char *body, size_t len, const char *h1, const char *h2)
{
    harness_req_t req = {.method = "POST",
                         .path = "/webhooks/forms/website",
                         .body = body,
                         .body_len = len,
                         .content_type = ctype,
                         .headers = {h1, h2, NULL}};
    harness_resp_t *r = harness_http(h, &req);
    cr_assert_not_null(r);
    return r;
}

static void expect_4xx(harness_resp_t *r, long status, const char *what)
{
    cr_expect_eq(r->status, status, "%s: %ld, want %ld: %.300s", what, r->status, status, r->body);
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
    const char *details = json_string_value(json_object_get(e, "details"));
    cr_expect(details && *details, "%s: the error body names the problem: %.300s", what, r->body);
}

static bool ready(harness_t *self, void *arg)
{
    (void)arg;
    harness_resp_t *r = harness_http(self, &(harness_req_t){.path = "/readyz"});
    bool ok = r && r->status == 200;
    harness_resp_destroy(&r);
    return ok;
}

static bool lead_count_is(harness_t *self, void *arg)
{
    return harness_sql_long(self, "SELECT count(*) FROM leads.leads") >= *(long long *)arg;
}

Test(webhook_hostile, each_gets_its_4xx_or_is_stored_verbatim)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    harness_resp_t *r;

    /* Malformed JSON in several ways. */
    const char *bad_json[] = {"{",
                              "{\"email\":}",
                              "{\"email\":\"a@example.com\",}",
                              "nul",
                              "\"just a string\"",
                              "{\"email\":\"a@example.com\"} trailing",
                              "{\"a\":\"\\u0000\"}",
                              ""};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        r = post(JSON, bad_json[i], strlen(bad_json[i]) ? 0 : 1, NULL, NULL);
        expect_4xx(r, 400, bad_json[i]);
        harness_resp_destroy(&r);
    }
    /* Invalid UTF-8, in JSON and urlencoded (raw and percent-encoded). */
    r = post(JSON, "{\"email\":\"x@example.com\",\"last_name\":\"\xc3\x28\"}", 0, NULL, NULL);
    expect_4xx(r, 400, "invalid UTF-8 JSON");
    harness_resp_destroy(&r);
    r = post(FORM, "email=x%40example.com&last_name=%C3%28", 0, NULL, NULL);
    expect_4xx(r, 400, "invalid UTF-8 urlencoded");
    harness_resp_destroy(&r);
    r = post(FORM, "email=x%40example.com&last_name=\xff\xfe", 0, NULL, NULL);
    expect_4xx(r, 400, "raw invalid UTF-8 urlencoded");
    harness_resp_destroy(&r);
    /* 10,000-deep nesting, arrays and objects. */
    size_t depth = 10000;
    char *deep = malloc(depth * 6 + 16);
    cr_assert_not_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    r = post(JSON, deep, 0, NULL, NULL);
    expect_4xx(r, 400, "10000-deep arrays");
    harness_resp_destroy(&r);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(deep + n, "{\"a\":");
    deep[n] = '\0';
    char *deep2 = malloc(n + depth + 2);
    memcpy(deep2, deep, n);
    memset(deep2 + n, '}', depth);
    deep2[n + depth] = '\0';
    r = post(JSON, deep2, 0, NULL, NULL);
    expect_4xx(r, 400, "10000-deep objects");
    harness_resp_destroy(&r);
    free(deep);
    free(deep2);
    /* Duplicate keys: refused, never silently shadowed. */
    r = post(JSON, "{\"email\":\"a@example.com\",\"email\":\"b@example.com\"}", 0, NULL, NULL);
    expect_4xx(r, 400, "duplicate keys");
    harness_resp_destroy(&r);
    /* A 10 MiB body: 413 before it is read. */
    size_t big_len = 10u * 1024 * 1024;
    char *big = malloc(big_len + 1);
    cr_assert_not_null(big);
    memset(big, 'a', big_len);
    memcpy(big, "email=big%40example.com&message=", 32);
    big[big_len] = '\0';
    r = post(FORM, big, big_len, NULL, NULL);
    cr_expect_eq(r->status, 413, "10 MiB: %ld", r->status);
    harness_resp_destroy(&r);
    free(big);

    /* Header injection: CR/LF in a request id, a delivery id and a path never reach the answer's
     * headers; a bad delivery id is refused. */
    r = post(FORM, "email=hdr%40example.com", 0, "X-Request-Id: abc\r\nSet-Cookie: injected=1", NULL);
    cr_expect(r->status == 202 || r->status == 400, "%ld %s", r->status, r->body);
    cr_expect_null(harness_resp_header(r, "Set-Cookie"), "no injected response header");
    const char *rid = harness_resp_header(r, "X-Request-Id");
    cr_expect(rid && !strchr(rid, '\r') && !strchr(rid, '\n') && !strstr(rid, "Cookie"), "request id: %s",
              rid ? rid : "(none)");
    harness_resp_destroy(&r);
    r = post(FORM, "email=hdr2%40example.com", 0, "X-Delivery-Id: id\x01with-control", NULL);
    expect_4xx(r, 400, "control character in X-Delivery-Id");
    harness_resp_destroy(&r);
    r = harness_http(h, &(harness_req_t){.method = "POST",
                                         .path = "/webhooks/forms/x%0d%0aSet-Cookie:%20a=b",
                                         .body = "email=p%40example.com",
                                         .content_type = FORM});
    expect_4xx(r, 404, "CRLF in the source name");
    cr_expect_null(harness_resp_header(r, "Set-Cookie"));
    harness_resp_destroy(&r);
    r = harness_http(h, &(harness_req_t){.method = "POST",
                                         .path = "/webhooks/forms/%ff%fe",
                                         .body = "email=p%40example.com",
                                         .content_type = FORM});
    expect_4xx(r, 404, "invalid UTF-8 source name");
    harness_resp_destroy(&r);

    /* SQL metacharacters and other hostile text in every field: stored verbatim. */
    const char *evil =
        "'); DROP TABLE leads.leads; -- \\\" OR 1=1 %s $1 ${x} <script>alert(1)</script> \xe2\x80\xae";
    json_t *body = json_object();
    const char *fields[] = {"first_name", "last_name", "company", "title", "message", "phone"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(body, fields[i], json_string(evil));
    json_object_set_new(body, "email", json_string("o'brien+drop--@example.com"));
    json_object_set_new(body, "interests", json_pack("[s]", evil));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    r = post(JSON, text, 0, "X-Delivery-Id: ';DROP--", NULL);
    cr_expect_eq(r->status, 202, "hostile text accepted as data: %s", r->body);
    harness_resp_destroy(&r);
    free(text);
    long long want = 2; /* with the header injection post above */
    cr_expect(harness_wait_until(h, harness_ms(30000), lead_count_is, &want, "the hostile lead"));
    r = harness_api(h, "GET", "/v2/leads?email=o%27brien%2Bdrop--%40example.com", admin, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *items = json_object_get(r->json, "items");
    cr_expect_eq(json_array_size(items), 1, "exactly one lead: %s", r->body);
    json_t *lead = json_object_get(json_array_get(items, 0), "data");
    const char *keys[] = {"first_name", "last_name", "organization_name", "title", "description", "phone"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_expect_str_eq(json_string_value(json_object_get(lead, keys[i])) ?: "(missing)", evil,
                         "%s verbatim", keys[i]);
    cr_expect_str_eq(json_string_value(json_object_get(lead, "email")) ?: "", "o'brien+drop--@example.com");
    harness_resp_destroy(&r);
    /* The tables are all still there. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads"), 2);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'accepted'"),
                 2);

    /* Nothing but the two 202s stored a lead; every refusal is archived; the gateway is up. */
    cr_expect_gt(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'refused'"),
                 15);
    cr_expect(harness_running(h, "gateway"), "the gateway is still running");
    cr_expect(harness_wait_until(h, harness_ms(10000), ready, NULL, "/readyz"));
}

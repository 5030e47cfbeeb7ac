/* The inbound webhook answer policy (WEBHOOK_SOURCES.md) on a real gateway: a repeated
 * delivery id is answered 200 with the first delivery, and bad input gets its own 4xx with a
 * body naming the problem while nothing is stored. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(webhook_input, .fini = stop_stack, .timeout = 600);

static long long lead_count(harness_t *self)
{
    return harness_sql_long(self, "SELECT count(*) FROM leads.leads");
}

static bool one_lead(harness_t *self, void *arg)
{
    (void)arg;
    return lead_count(self) >= 1;
}

static bool two_leads(harness_t *self, void *arg)
{
    (void)arg;
    return lead_count(self) >= 2;
}

/* The Sell error body's first error, or NULL. */
static json_t *first_error(const harness_resp_t *r)
{
    return json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
}

/* True when the first error's code, field, message or details contain `word`. */
static bool error_mentions(const harness_resp_t *r, const char *word)
{
    json_t *e = first_error(r);
    const char *keys[] = {"code", "field", "message", "details"};
    for (size_t i = 0; i < 4; i++) {
        const char *v = json_string_value(json_object_get(e, keys[i]));
        if (v && strstr(v, word))
            return true;
    }
    return false;
}

static void expect_error(harness_resp_t *r, long status, const char *what)
{
    cr_assert_not_null(r, "%s: no response", what);
    cr_expect_eq(r->status, status, "%s: status %ld, want %ld (%s)", what, r->status, status, r->body);
    json_t *e = first_error(r);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    cr_expect(code && *code, "%s: errors[0].error.code in %s", what, r->body);
    cr_expect(msg && *msg, "%s: errors[0].error.message in %s", what, r->body);
}

Test(webhook_input, dedupe_and_bad_input)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *form = "application/x-www-form-urlencoded";

    /* The same X-Delivery-Id twice: 202 then 200 with the same delivery id; one lead. */
    harness_req_t req = {.method = "POST",
                         .path = "/webhooks/forms/website",
                         .body = "first_name=Dup&last_name=Licate&email=dup%40example.com",
                         .content_type = form,
                         .header = "X-Delivery-Id: form-delivery-42"};
    harness_resp_t *first = harness_http(h, &req);
    harness_resp_t *second = harness_http(h, &req);
    cr_assert_not_null(first);
    cr_assert_not_null(second);
    cr_expect_eq(first->status, 202, "first delivery: %s", first->body);
    cr_expect_eq(second->status, 200, "repeated delivery: %s", second->body);
    json_t *id1 = json_object_get(json_object_get(first->json, "data"), "delivery_id");
    json_t *id2 = json_object_get(json_object_get(second->json, "data"), "delivery_id");
    cr_expect(json_is_integer(id1), "delivery_id in %s", first->body);
    cr_expect_eq(json_integer_value(id1), json_integer_value(id2), "same delivery id: %s / %s", first->body,
                 second->body);
    harness_resp_destroy(&first);
    harness_resp_destroy(&second);
    cr_assert(harness_wait_until(h, harness_ms(30000), one_lead, NULL, "the deduplicated lead"));
    usleep((useconds_t)harness_ms(1500) * 1000);
    cr_expect_eq(lead_count(h), 1, "one lead for a delivery posted twice");
    long long deliveries =
        harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'accepted'");
    cr_expect_eq(deliveries, 1, "one stored delivery");

    /* A form's utm_* and page fields are the capture's context on the lead's timeline. */
    harness_resp_t *ctx = harness_post_form(h, form,
                                            "first_name=Utm&last_name=Tracked&email=utm%40example.com"
                                            "&utm_source=newsletter&utm_campaign=q4&page=%2Fpricing");
    cr_assert_not_null(ctx);
    cr_expect_eq(ctx->status, 202, "%s", ctx->body);
    harness_resp_destroy(&ctx);
    cr_assert(harness_wait_until(h, harness_ms(30000), two_leads, NULL, "the tracked lead"));
    long long tracked = harness_sql_long(h, "SELECT id FROM leads.leads WHERE email = 'utm@example.com'");
    char tl_path[96];
    snprintf(tl_path, sizeof tl_path, "/v2/leads/%lld/activities", tracked);
    ctx = harness_api(h, "GET", tl_path, harness_admin_token(h), NULL);
    cr_assert_eq(ctx->status, 200, "%s", ctx->body);
    json_t *cap = json_object_get(json_array_get(json_object_get(ctx->json, "items"), 0), "data");
    cr_expect_str_eq(json_string_value(json_object_get(cap, "kind")) ?: "", "captured", "%s", ctx->body);
    json_t *context = json_object_get(cap, "context");
    cr_expect_str_eq(json_string_value(json_object_get(context, "utm_source")) ?: "", "newsletter", "%s",
                     ctx->body);
    cr_expect_str_eq(json_string_value(json_object_get(context, "utm_campaign")) ?: "", "q4", "%s",
                     ctx->body);
    cr_expect_str_eq(json_string_value(json_object_get(context, "page")) ?: "", "/pricing", "%s", ctx->body);
    harness_resp_destroy(&ctx);
    deliveries++;

    /* Bad input: each its own 4xx, nothing stored. */
    harness_resp_t *r = harness_post_form(h, "application/json", "{\"email\": \"bad@example.com\",");
    expect_error(r, 400, "malformed JSON");
    harness_resp_destroy(&r);

    r = harness_post_form(h, form, "first_name=Only&message=no+contact+at+all");
    expect_error(r, 422, "no name, organization, e-mail or phone");
    cr_expect(error_mentions(r, "last_name") || error_mentions(r, "email") ||
                  error_mentions(r, "organization") || error_mentions(r, "phone"),
              "422 names the missing field: %s", r->body);
    harness_resp_destroy(&r);

    size_t big_len = 2u * 1024 * 1024;
    char *big = malloc(big_len + 1);
    cr_assert_not_null(big);
    memcpy(big, "email=big%40example.com&message=", 32);
    memset(big + 32, 'x', big_len - 32);
    big[big_len] = '\0';
    r = harness_http(h, &(harness_req_t){.method = "POST",
                                         .path = "/webhooks/forms/website",
                                         .body = big,
                                         .body_len = big_len,
                                         .content_type = form});
    cr_assert_not_null(r);
    cr_expect_eq(r->status, 413, "2 MiB body: %ld %s", r->status, r->body);
    if (r->body_len > 0)
        expect_error(r, 413, "2 MiB body");
    harness_resp_destroy(&r);
    free(big);

    r = harness_post_form(h, "text/plain", "email=plain@example.com");
    expect_error(r, 415, "text/plain");
    harness_resp_destroy(&r);

    r = harness_post_form(
        h, "multipart/form-data; boundary=XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nmulti@example.com\r\n"
        "--XyZ--\r\n");
    expect_error(r, 415, "multipart");
    harness_resp_destroy(&r);

    r = harness_http(h, &(harness_req_t){.method = "GET", .path = "/webhooks/forms/website"});
    expect_error(r, 405, "GET");
    const char *allow = harness_resp_header(r, "Allow");
    cr_expect(allow && strcmp(allow, "POST") == 0, "Allow: POST, got %s", allow ? allow : "(none)");
    harness_resp_destroy(&r);

    r = harness_http(h, &(harness_req_t){.method = "POST",
                                         .path = "/webhooks/forms/no-such-source",
                                         .body = "email=x%40example.com",
                                         .content_type = form});
    expect_error(r, 404, "unknown source");
    harness_resp_destroy(&r);

    /* Nothing of the above was stored or became a lead. */
    usleep((useconds_t)harness_ms(1500) * 1000);
    cr_expect_eq(lead_count(h), 2, "no lead from bad input");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM gateway.deliveries WHERE outcome = 'accepted'"),
                 deliveries, "no delivery stored from bad input");
}

/* Small HTTP helpers for the crm-deals integration tests (test_deals_*.c). Header-only. */
#ifndef DEALS_UTIL_H
#define DEALS_UTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* method path as token with a printf-formatted raw JSON body (NULL: no body). */
static inline harness_resp_t *dl_call(harness_t *h, const char *method, const char *path, const char *token,
                                      const char *body)
{
    return harness_http(h, &(harness_req_t){.method = method,
                                            .path = path,
                                            .body = body,
                                            .content_type = body ? "application/json" : NULL,
                                            .token = token});
}

static inline json_t *dl_data(const harness_resp_t *r)
{
    return r && r->json ? json_object_get(r->json, "data") : NULL;
}

static inline long long dl_int(const harness_resp_t *r, const char *key)
{
    json_t *v = json_object_get(dl_data(r), key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static inline const char *dl_str(const harness_resp_t *r, const char *key)
{
    json_t *v = json_object_get(dl_data(r), key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static inline const char *dl_err(const harness_resp_t *r, const char *key)
{
    json_t *e =
        r && r->json ? json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error") : NULL;
    json_t *f = json_object_get(e, key);
    return json_is_string(f) ? json_string_value(f) : "";
}

/* Expects status want; returns the response (caller destroys it). */
static inline harness_resp_t *dl_expect(harness_t *h, const char *method, const char *path, const char *token,
                                        const char *body, long want)
{
    harness_resp_t *r = dl_call(h, method, path, token, body);
    cr_assert_not_null(r);
    cr_expect_eq(r->status, want, "%s %s %s -> %ld (want %ld): %s", method, path, body ? body : "", r->status,
                 want, r->body);
    return r;
}

/* POST path {"data": data} as token; the new id (asserts 200). */
static inline long long dl_create(harness_t *h, const char *path, const char *token, const char *data)
{
    char *body = malloc(strlen(data) + 16);
    sprintf(body, "{\"data\":%s}", data);
    harness_resp_t *r = dl_expect(h, "POST", path, token, body, 200);
    free(body);
    long long id = dl_int(r, "id");
    harness_resp_destroy(&r);
    return id;
}

/* A user with role and its own API token (malloc'd); *user_id set. */
static inline char *dl_user_token(harness_t *h, const char *email, const char *role, long long *user_id)
{
    char data[256];
    snprintf(data, sizeof data, "{\"name\":\"%s\",\"email\":\"%s\",\"role\":\"%s\"}", email, email, role);
    *user_id = dl_create(h, "/v2/users", harness_admin_token(h), data);
    char body[128];
    snprintf(body, sizeof body, "{\"data\":{\"user_id\":%lld}}", *user_id);
    harness_resp_t *r = dl_call(h, "POST", "/v2/api_tokens", harness_admin_token(h), body);
    cr_assert(r && r->status >= 200 && r->status < 300, "mint token: %s", r ? r->body : "");
    char *tok = strdup(dl_str(r, "token"));
    harness_resp_destroy(&r);
    return tok;
}

/* The items' data objects of a collection reply (new reference), asserting 200. */
static inline json_t *dl_list(harness_t *h, const char *path, const char *token)
{
    harness_resp_t *r = dl_expect(h, "GET", path, token, NULL, 200);
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r->json, "items"), i, it)
        json_array_append(out, json_object_get(it, "data"));
    harness_resp_destroy(&r);
    return out;
}

static inline long long dl_item_int(json_t *items, size_t i, const char *key)
{
    json_t *v = json_object_get(json_array_get(items, i), key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static inline const char *dl_item_str(json_t *items, size_t i, const char *key)
{
    json_t *v = json_object_get(json_array_get(items, i), key);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* A deal's "value" as text whichever JSON form it has (Sell: 1000 or "1000.50"); buf gets it. */
static inline const char *dl_value(json_t *v, char buf[48])
{
    if (json_is_integer(v))
        snprintf(buf, 48, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, 48, "%s", json_is_string(v) ? json_string_value(v) : "?");
    return buf;
}

/* A contact (person) in crm-leads owned by token's user; its id. */
static inline long long dl_contact(harness_t *h, const char *token, const char *last_name)
{
    char data[160];
    snprintf(data, sizeof data, "{\"last_name\":\"%s\"}", last_name);
    return dl_create(h, "/v2/contacts", token, data);
}

/* The deal custom field "Deal type", a dropdown (list) of New, Upsell, Renewal (admin). */
static inline long long dl_deal_type_field(harness_t *h)
{
    return dl_create(h, "/v2/deal/custom_fields", harness_admin_token(h),
                     "{\"name\":\"Deal type\",\"type\":\"list\",\"choices\":[{\"name\":\"New\"},"
                     "{\"name\":\"Upsell\"},{\"name\":\"Renewal\"}]}");
}

#endif

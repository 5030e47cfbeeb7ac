/* Small HTTP helpers for the crm-leads issue 3 part 2 integration tests (sources, reasons,
 * notes, tasks, tags, custom fields, smart lists). Header-only: each test file includes it. */
#ifndef LEADS2_UTIL_H
#define LEADS2_UTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* method path as token with body text (NULL: none; sent raw as application/json). */
static inline harness_resp_t *l2_call(harness_t *h, const char *method, const char *path, const char *token,
                                      const char *body)
{
    return harness_http(h, &(harness_req_t){.method = method,
                                            .path = path,
                                            .body = body,
                                            .content_type = body ? "application/json" : NULL,
                                            .token = token});
}

/* The status of a call (the response is dropped); prints the body when it differs from want. */
static inline long l2_status(harness_t *h, const char *method, const char *path, const char *token,
                             const char *body, long want)
{
    harness_resp_t *r = l2_call(h, method, path, token, body);
    long st = r ? r->status : 0;
    if (st != want)
        fprintf(stderr, "%s %s -> %ld (want %ld): %s\n", method, path, st, want, r ? r->body : "");
    harness_resp_destroy(&r);
    return st;
}

/* data.<key> of a single-object reply as an integer, -1 when absent. */
static inline long long l2_data_int(const harness_resp_t *r, const char *key)
{
    json_t *v = r && r->json ? json_object_get(json_object_get(r->json, "data"), key) : NULL;
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static inline const char *l2_data_str(const harness_resp_t *r, const char *key)
{
    json_t *v = r && r->json ? json_object_get(json_object_get(r->json, "data"), key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* POST path {"data": <body>} as token; the new id, or -1 (body printed). */
static inline long long l2_create(harness_t *h, const char *path, const char *token, const char *data_json)
{
    char *body = malloc(strlen(data_json) + 16);
    sprintf(body, "{\"data\":%s}", data_json);
    harness_resp_t *r = l2_call(h, "POST", path, token, body);
    free(body);
    long long id = r && r->status == 200 ? l2_data_int(r, "id") : -1;
    if (id < 0)
        fprintf(stderr, "POST %s -> %ld: %s\n", path, r ? r->status : 0, r ? r->body : "");
    harness_resp_destroy(&r);
    return id;
}

/* The first error's field and code of an error reply ("" when absent). */
static inline const char *l2_err_field(const harness_resp_t *r)
{
    json_t *e =
        r && r->json ? json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error") : NULL;
    json_t *f = json_object_get(e, "field");
    return json_is_string(f) ? json_string_value(f) : "";
}

static inline const char *l2_err_code(const harness_resp_t *r)
{
    json_t *e =
        r && r->json ? json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error") : NULL;
    json_t *f = json_object_get(e, "code");
    return json_is_string(f) ? json_string_value(f) : "";
}

/* Every error field of an error reply, joined with ',' into buf. */
static inline const char *l2_err_fields(const harness_resp_t *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    json_t *errs = r && r->json ? json_object_get(r->json, "errors") : NULL;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        json_t *f = json_object_get(json_object_get(e, "error"), "field");
        if (json_is_string(f)) {
            if (buf[0])
                strncat(buf, ",", cap - strlen(buf) - 1);
            strncat(buf, json_string_value(f), cap - strlen(buf) - 1);
        }
    }
    return buf;
}

/* Creates a user of role and mints its token (malloc'd); *user_id gets its id. */
static inline char *l2_user_token(harness_t *h, const char *name, const char *role, long long *user_id)
{
    char email[160];
    snprintf(email, sizeof email, "%s@example.com", name);
    long long uid =
        harness_create(h, "users", json_pack("{s:s,s:s,s:s}", "name", name, "email", email, "role", role));
    if (uid < 0)
        return NULL;
    if (user_id)
        *user_id = uid;
    json_t *body = json_pack("{s:{s:I}}", "data", "user_id", (json_int_t)uid);
    harness_resp_t *r = harness_api(h, "POST", "/v2/api_tokens", harness_admin_token(h), body);
    json_decref(body);
    const char *tok =
        r ? json_string_value(json_object_get(json_object_get(r->json, "data"), "token")) : NULL;
    char *out = tok ? strdup(tok) : NULL;
    harness_resp_destroy(&r);
    return out;
}

/* The ids of a collection reply's items, in order, into ids[max]; returns the count or -1. */
static inline int l2_list_ids(harness_t *h, const char *path, const char *token, long long *ids, int max)
{
    harness_resp_t *r = l2_call(h, "GET", path, token, NULL);
    json_t *items = r && r->status == 200 && r->json ? json_object_get(r->json, "items") : NULL;
    if (!json_is_array(items)) {
        fprintf(stderr, "GET %s -> %ld: %s\n", path, r ? r->status : 0, r ? r->body : "");
        harness_resp_destroy(&r);
        return -1;
    }
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (n < max)
            ids[n] = json_integer_value(json_object_get(json_object_get(it, "data"), "id"));
        n++;
    }
    harness_resp_destroy(&r);
    return n;
}

#endif

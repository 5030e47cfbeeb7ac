/* Sync API helpers for the integration tests (test_sync*.c). Header-only; the including test
 * file's stack is the static `h` declared here. */
#ifndef SYNC_UTIL_H
#define SYNC_UTIL_H

#include "deals_util.h"

static harness_t *h;

static inline harness_resp_t *sync_call(const char *method, const char *path, const char *token,
                                        const char *device, const char *body)
{
    char header[128];
    snprintf(header, sizeof header, "X-Basecrm-Device-UUID: %s", device ? device : "");
    harness_resp_t *r = harness_http(h, &(harness_req_t){.method = method,
                                                         .path = path,
                                                         .body = body,
                                                         .content_type = body ? "application/json" : NULL,
                                                         .token = token,
                                                         .header = device ? header : NULL});
    cr_assert_not_null(r);
    return r;
}

/* POST /v2/sync/start; the session id (malloc'd) or NULL on 204; *total the queue's total_count. */
static inline char *start(const char *token, const char *device, long long *total)
{
    harness_resp_t *r = sync_call("POST", "/v2/sync/start", token, device, NULL);
    *total = 0;
    if (r->status == 204) {
        cr_expect_eq(r->body_len, 0);
        harness_resp_destroy(&r);
        return NULL;
    }
    cr_assert_eq(r->status, 201, "start: %ld %s", r->status, r->body);
    json_t *data = json_object_get(r->json, "data");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")),
                     "sync_session");
    json_t *q = json_array_get(json_object_get(data, "queues"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(q, "data"), "name")), "main");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(q, "meta"), "type")), "sync_queue");
    *total = json_integer_value(json_object_get(json_object_get(q, "data"), "total_count"));
    cr_expect_gt(json_integer_value(json_object_get(json_object_get(q, "data"), "pages")), 0);
    char *id = strdup(json_string_value(json_object_get(data, "id")));
    harness_resp_destroy(&r);
    return id;
}

/* Drains the session's queue until 204: every item (new reference). */
static inline json_t *drain(const char *token, const char *device, const char *session)
{
    char path[160];
    snprintf(path, sizeof path, "/v2/sync/%s/queues/main", session);
    json_t *all = json_array();
    for (int guard = 0; guard < 100; guard++) {
        harness_resp_t *r = sync_call("GET", path, token, device, NULL);
        if (r->status == 204) {
            harness_resp_destroy(&r);
            return all;
        }
        cr_assert_eq(r->status, 200, "queue: %ld %s", r->status, r->body);
        json_t *items = json_object_get(r->json, "items");
        cr_assert_gt(json_array_size(items), 0);
        json_t *meta = json_object_get(r->json, "meta");
        cr_expect_eq(json_integer_value(json_object_get(meta, "count")), (long long)json_array_size(items));
        cr_expect(json_is_integer(json_object_get(meta, "count_left")));
        json_array_extend(all, items);
        harness_resp_destroy(&r);
    }
    cr_assert_fail("the queue never drained");
    return all;
}

static inline json_t *sync_meta(json_t *item)
{
    return json_object_get(json_object_get(item, "meta"), "sync");
}

/* The item of (type, id), or NULL. */
static inline json_t *find(json_t *items, const char *type, long long id)
{
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *t = json_string_value(json_object_get(json_object_get(it, "meta"), "type"));
        if (t && strcmp(t, type) == 0 &&
            json_integer_value(json_object_get(json_object_get(it, "data"), "id")) == id)
            return it;
    }
    return NULL;
}

static inline void ack(const char *token, const char *device, json_t *items, const char *only_type)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *t = json_string_value(json_object_get(json_object_get(it, "meta"), "type"));
        if (!only_type || strcmp(t, only_type) == 0)
            json_array_append(keys, json_object_get(sync_meta(it), "ack_key"));
    }
    json_t *body = json_pack("{s:{s:o}}", "data", "ack_keys", keys);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    harness_resp_t *r = sync_call("POST", "/v2/sync/ack", token, device, text);
    free(text);
    cr_expect_eq(r->status, 202, "ack: %ld %s", r->status, r->body);
    cr_expect_eq(r->body_len, 0);
    harness_resp_destroy(&r);
}

static inline bool records_at_least(harness_t *self, void *arg)
{
    const long long *want = arg;
    return harness_sql_long(self, "SELECT count(*) FROM gateway.stream_records") >= *want;
}

#endif

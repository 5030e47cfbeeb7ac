/* The Sync API (SELL_API §7): a device (X-Basecrm-Device-UUID under the caller's user) starts a
 * session over every record changed since its last session plus what it has not acknowledged,
 * drains the session's queue page by page, and acknowledges items by ack key. At least once:
 * an unacknowledged item stays pending and comes back in the device's next session. Records and
 * their revisions come from the state the event consumer keeps (stream.c), never from the
 * services' tables. A sales token's device gets only the records the user owns (notes: wrote;
 * calls: made; orders and line items: of its deals), the users and the products (without cost
 * unless admin); a record that stops being the user's comes once as deleted. At most
 * gateway.sync.max_sessions (100, SELL_API §7) sessions are active per user: one more start is
 * 429 rate_limit_exceeded. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crm/log.h"
#include "crm/util.h"
#include "routes.h"
#include "sell.h"
#include "store_stream.h"
#include "stream.h"

#define DEVICE_HEADER "X-Basecrm-Device-UUID"
#define MAX_ACK_KEYS 1000

static const struct {
    const char *resource, *type;
} ack_types[] = {
    {"lead", "Lead"},   {"contact", "Contact"},    {"deal", "Deal"}, {"note", "Note"},
    {"task", "Task"},   {"user", "User"},          {"call", "Call"}, {"product", "Product"},
    {"order", "Order"}, {"line_item", "LineItem"},
};
#define NTYPES (sizeof ack_types / sizeof ack_types[0])

void gw_sync_ack_key(const char *resource, int64_t id, int revision, char out[64])
{
    const char *type = resource;
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(ack_types[i].resource, resource) == 0)
            type = ack_types[i].type;
    snprintf(out, 64, "%s-%lld-%d", type, (long long)id, revision);
}

bool gw_sync_parse_ack_key(const char *key, char resource[16], int64_t *id, int *revision)
{
    const char *d1 = key ? strchr(key, '-') : NULL;
    const char *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '-'))
        return false;
    size_t tlen = (size_t)(d1 - key);
    bool known = false;
    for (size_t i = 0; i < NTYPES && !known; i++)
        if (strlen(ack_types[i].type) == tlen && strncmp(ack_types[i].type, key, tlen) == 0) {
            snprintf(resource, 16, "%s", ack_types[i].resource);
            known = true;
        }
    char idtext[24], revtext[24];
    size_t ilen = (size_t)(d2 - d1 - 1), rlen = strlen(d2 + 1);
    if (!known || ilen == 0 || ilen >= sizeof idtext || rlen == 0 || rlen > 9)
        return false;
    memcpy(idtext, d1 + 1, ilen);
    idtext[ilen] = '\0';
    memcpy(revtext, d2 + 1, rlen + 1);
    int64_t rev = 0;
    if (strspn(idtext, "0123456789") != ilen || strspn(revtext, "0123456789") != rlen ||
        !crm_parse_i64(idtext, id) || *id <= 0 || !crm_parse_i64(revtext, &rev) || rev <= 0)
        return false;
    *revision = (int)rev;
    return true;
}

/* The device header, or NULL after answering 400. */
static const char *device_of(gw_request_t *req, gw_response_t *resp)
{
    const char *d = gw_request_header(req, DEVICE_HEADER);
    size_t n = d ? strlen(d) : 0;
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)d[i]) || d[i] == '-' || d[i] == '_';
    if (!ok) {
        gw_respond_error(resp, 400, "invalid_header",
                         d ? "the X-Basecrm-Device-UUID header must be 1 to 64 letters, digits, - or _"
                           : "the X-Basecrm-Device-UUID header is required",
                         NULL, NULL, req->corr);
        return NULL;
    }
    return d;
}

static bool no_params(gw_request_t *req, gw_response_t *resp)
{
    if (req->nparams == 0 && !req->too_many_params)
        return true;
    char d[160];
    snprintf(d, sizeof d, "unknown query parameter: %.100s", req->nparams ? req->params[0].key : "");
    gw_respond_error(resp, 400, "invalid_param", d, NULL, NULL, req->corr);
    return false;
}

static long max_sessions(gw_t *gw)
{
    long n = crm_config_int(gw->config, "gateway.sync.max_sessions", 100);
    return n >= 1 ? n : 100;
}

static int page_size(gw_t *gw)
{
    long n = crm_config_int(gw->config, "gateway.sync.page_size", 50);
    return n >= 1 && n <= 1000 ? (int)n : 50;
}

void gw_sync_start(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    const char *device = device_of(req, resp);
    if (!device || !no_params(req, resp))
        return;
    crm_err_t err = {0};
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_err(resp, &err, "sync_session", req->corr);
        return;
    }
    char session[37];
    crm_uuid7(session);
    int64_t device_id = 0, synced = 0, count = 0, active = 0;
    bool sales = !gw_role_allows(req->role, "manager");
    long cap = max_sessions(gw);
    int rc = crm_db_begin(db, &err) ||
             gw_store_sync_device(db, req->user_id, device, &device_id, &synced, &err) ||
             gw_store_sync_active(db, req->user_id, device_id, &active, &err);
    bool full = rc == CRM_OK && active >= cap;
    if (rc == CRM_OK && !full)
        rc = gw_store_sync_enqueue(db, device_id, synced, sales ? req->user_id : 0, &err) ||
             gw_store_sync_session_open(db, device_id, session, &count, &err) || crm_db_commit(db, &err);
    if (rc || full) {
        crm_db_rollback(db);
        crm_db_pool_put(gw->db, db);
        if (!full) {
            gw_respond_err(resp, &err, "sync_session", req->corr);
            return;
        }
        char d[200];
        snprintf(
            d, sizeof d,
            "this user already has %lld active sync sessions (at most %ld): drain a session's queue until "
            "204, or wait a day for it to expire",
            (long long)active, cap);
        gw_respond_error(resp, 429, "rate_limit_exceeded", d, NULL, NULL, req->corr);
        crm_log_warn(req->corr, "sync.session_cap", "user_id=%lld active=%lld max=%ld",
                     (long long)req->user_id, (long long)active, cap);
        return;
    }
    crm_db_pool_put(gw->db, db);
    crm_log_info(req->corr, "sync.started", "user_id=%lld device_id=%lld session=%s items=%lld",
                 (long long)req->user_id, (long long)device_id, count ? session : "-", (long long)count);
    if (count == 0) {
        gw_respond_no_content(resp);
        return;
    }
    int per = page_size(gw);
    json_t *queue = json_pack("{s:{s:s,s:I,s:I},s:{s:s}}", "data", "name", "main", "pages",
                              (json_int_t)((count + per - 1) / per), "total_count", (json_int_t)count, "meta",
                              "type", "sync_queue");
    json_t *body = json_pack("{s:{s:s,s:[o]},s:{s:s}}", "data", "id", session, "queues", queue, "meta",
                             "type", "sync_session");
    gw_respond_json(resp, 201, body);
}

/* A session id as this gateway makes them: a UUID in text form. */
static bool session_id_ok(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

void gw_sync_queue(gw_t *gw, gw_request_t *req, gw_response_t *resp, const char *session_id)
{
    const char *device = device_of(req, resp);
    if (!device || !no_params(req, resp))
        return;
    if (!session_id_ok(session_id)) {
        gw_respond_error(resp, 404, "not_found", "no such sync session for this device", NULL, NULL,
                         req->corr);
        return;
    }
    crm_err_t err = {0};
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_err(resp, &err, "sync_queue", req->corr);
        return;
    }
    int64_t device_id = 0, left = 0;
    PGresult *res = NULL;
    if (gw_store_sync_session_find(db, session_id, req->user_id, device, &device_id, &err) ||
        !(res = gw_store_sync_fetch(db, device_id, session_id, page_size(gw), &err)) ||
        gw_store_sync_left(db, device_id, session_id, &left, &err)) {
        if (res)
            PQclear(res);
        crm_db_pool_put(gw->db, db);
        gw_respond_err(resp, &err, "sync_queue", req->corr);
        return;
    }
    int n = PQntuples(res);
    if (n == 0 && gw_store_sync_session_close(db, session_id, &err)) {
        PQclear(res);
        crm_db_pool_put(gw->db, db);
        gw_respond_err(resp, &err, "sync_queue", req->corr);
        return;
    }
    crm_db_pool_put(gw->db, db);
    if (n == 0) { /* drained: the session is no longer active */
        PQclear(res);
        gw_respond_no_content(resp);
        return;
    }
    bool admin = gw_role_allows(req->role, "admin");
    json_t *items = json_array();
    for (int r = 0; r < n; r++) {
        const char *resource = crm_db_str(res, r, 0);
        int64_t id = crm_db_i64(res, r, 1);
        int revision = (int)crm_db_i64(res, r, 2);
        char key[64];
        gw_sync_ack_key(resource, id, revision, key);
        json_t *data = json_loads(crm_db_str(res, r, 4), 0, NULL);
        if (data && !admin && strcmp(resource, "product") == 0) { /* cost: admins only (§6.14) */
            json_object_set_new(data, "cost", json_null());
            json_object_set_new(data, "cost_currency", json_null());
        }
        json_array_append_new(items,
                              json_pack("{s:o,s:{s:s,s:{s:s,s:s,s:i}}}", "data", data ? data : json_object(),
                                        "meta", "type", resource, "sync", "event_type",
                                        crm_db_bool(res, r, 5)      ? "deleted"
                                        : crm_db_i64(res, r, 3) > 0 ? "updated"
                                                                    : "created",
                                        "ack_key", key, "revision", revision));
    }
    PQclear(res);
    json_t *body = json_pack("{s:o,s:{s:s,s:I,s:I}}", "items", items, "meta", "type", "collection", "count",
                             (json_int_t)n, "count_left", (json_int_t)left);
    gw_respond_json(resp, 200, body);
}

void gw_sync_ack(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    const char *device = device_of(req, resp);
    if (!device || !no_params(req, resp))
        return;
    crm_err_t err = {0};
    json_t *data = gw_body_data(req->body, req->body_len, &err);
    if (!data) {
        gw_respond_err(resp, &err, "sync_ack", req->corr);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v)
    {
        if (strcmp(k, "ack_keys") != 0) {
            char field[120];
            snprintf(field, sizeof field, "/%.100s", k);
            crm_err_set(&err, CRM_EINVALID, field, "unknown", "unknown attribute %.100s", k);
            goto invalid;
        }
    }
    json_t *keys = json_object_get(data, "ack_keys");
    if (!keys || json_is_null(keys)) {
        crm_err_set(&err, CRM_EINVALID, "/ack_keys", "missing", "ack_keys is required");
        goto invalid;
    }
    if (!json_is_array(keys) || json_array_size(keys) > MAX_ACK_KEYS) {
        crm_err_set(&err, CRM_EINVALID, "/ack_keys", "invalid_type",
                    "ack_keys must be an array of at most %d ack keys", MAX_ACK_KEYS);
        goto invalid;
    }
    json_t *acks = json_array();
    size_t i;
    json_array_foreach(keys, i, v)
    {
        char resource[16], field[32];
        int64_t id = 0;
        int revision = 0;
        if (!json_is_string(v) || !gw_sync_parse_ack_key(json_string_value(v), resource, &id, &revision)) {
            snprintf(field, sizeof field, "/ack_keys/%zu", i);
            crm_err_set(&err, CRM_EINVALID, field, "incorrect_value",
                        "an ack key looks like Lead-12-3 (as given in meta.sync.ack_key)");
            json_decref(acks);
            goto invalid;
        }
        json_array_append_new(acks, json_pack("{s:s,s:I,s:i}", "resource", resource, "record_id",
                                              (json_int_t)id, "revision", revision));
    }
    size_t nkeys = json_array_size(keys);
    json_decref(data);
    char *text = json_dumps(acks, JSON_COMPACT);
    json_decref(acks);
    int64_t applied = 0;
    crm_db_t *db = text ? gw_db_get(gw, gw->db_wait_ms, &err) : NULL;
    if (!db || gw_store_sync_ack(db, req->user_id, device, text, &applied, &err)) {
        if (db)
            crm_db_pool_put(gw->db, db);
        free(text);
        if (!err.code)
            crm_err_set(&err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        gw_respond_err(resp, &err, "sync_ack", req->corr);
        return;
    }
    crm_db_pool_put(gw->db, db);
    free(text);
    crm_log_info(req->corr, "sync.acked", "user_id=%lld keys=%zu applied=%lld", (long long)req->user_id,
                 nkeys, (long long)applied);
    gw_response_clear(resp);
    resp->status = 202;
    return;
invalid:
    json_decref(data);
    gw_respond_err(resp, &err, "sync_ack", req->corr);
}

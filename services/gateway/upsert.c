/* POST <collection>/upsert (SELL_API.md §6.5–§6.7, §6.20): the query string holds list filters,
 * the body the record; no match creates it, exactly one match updates it, several are a 409.
 * Generic over the route table: it drives the collection's own list, create and update routes,
 * so visibility, validation and events are theirs.
 *
 * Find-then-write is one critical section per (collection, filters): two upserts with the same
 * filters at once would otherwise both find nothing and both create. The gateway holds, across
 * the list RPC and the create/update RPC, a transaction-scoped Postgres advisory lock keyed on the
 * collection and the sorted filters (so several gateway instances serialize too; a crashed
 * gateway's lock goes with its connection), and before it an in-process striped mutex (so
 * threads of one gateway queue without holding a pooled connection each). The services' write
 * RPCs answer after their commit, so the next holder's list sees the record the previous one
 * made. A plain POST is not serialized with upserts (Sell has no uniqueness either). */
#include "routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "owner_pool.h"
#include "store.h"

#define UPSERT_STRIPES 64
static pthread_mutex_t stripes[UPSERT_STRIPES] = {[0 ... UPSERT_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

static int cmp_param(const void *a, const void *b)
{
    const gw_param_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

/* "<collection>?k1=v1&k2=v2" with the filters sorted (malloc'd): the same filters in any order
 * name the same critical section. */
static char *lock_key(const char *base, const gw_request_t *req)
{
    gw_param_t *ps = calloc(req->nparams + 1, sizeof *ps);
    size_t len = strlen(base) + 2;
    for (size_t i = 0; ps && i < req->nparams; i++) {
        ps[i] = req->params[i];
        len += strlen(ps[i].key) + strlen(ps[i].value) + 2;
    }
    char *key = ps ? malloc(len) : NULL;
    if (!key) {
        free(ps);
        return NULL;
    }
    qsort(ps, req->nparams, sizeof *ps, cmp_param);
    size_t n = (size_t)snprintf(key, len, "%s?", base);
    for (size_t i = 0; i < req->nparams; i++)
        n += (size_t)snprintf(key + n, len - n, "%s%s=%s", i ? "&" : "", ps[i].key, ps[i].value);
    free(ps);
    return key;
}

static unsigned stripe_of(const char *key)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % UPSERT_STRIPES;
}

static const char *const not_filters[] = {"page", "per_page", "sort_by", NULL};

/* Checks the query: at least one filter, and no paging or sorting. */
static int check_filters(const gw_request_t *req, crm_err_t *err)
{
    if (req->nparams == 0)
        return crm_err_set(err, CRM_EBADREQUEST, NULL, "invalid_param",
                           "upsert needs at least one filter in the query string, e.g. ?email=...");
    for (size_t i = 0; i < req->nparams; i++)
        for (size_t k = 0; not_filters[k]; k++)
            if (strcmp(req->params[i].key, not_filters[k]) == 0)
                return crm_err_set(err, CRM_EBADREQUEST, req->params[i].key, "invalid_param",
                                   "%s is not a filter: upsert matches on filters only", not_filters[k]);
    return CRM_OK;
}

/* How many records match (0, 1 or 2 = "several") and the id of the one. */
static int count_matches(gw_t *gw, const gw_route_t *list, gw_request_t *req, int *n, long long *id,
                         crm_err_t *err)
{
    *n = 0;
    *id = 0;
    ProtobufCMessage *in = crm_pb_new(list->req_desc), *out = NULL;
    if (!in)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    if (gw_apply_params(in, req->params, req->nparams, err) != CRM_OK ||
        crm_pbjson_set_field_text(in, "per_page", "2", err) != CRM_OK ||
        gw_route_call(gw, list, req, in, &out, err) != CRM_OK) {
        protobuf_c_message_free_unpacked(in, NULL);
        return err->code;
    }
    protobuf_c_message_free_unpacked(in, NULL);
    json_t *j = crm_pbjson_from_message(out);
    protobuf_c_message_free_unpacked(out, NULL);
    json_t *items = json_object_get(j, "items");
    size_t k = json_array_size(items);
    *n = k > 1 || json_is_true(json_object_get(j, "has_more")) ? 2 : (int)k;
    if (k == 1)
        *id = (long long)json_integer_value(json_object_get(json_array_get(items, 0), "id"));
    json_decref(j);
    return *n == 1 && *id <= 0 ? crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "the match has no id") : CRM_OK;
}

static void upsert_locked(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp,
                          const char *base, const gw_route_t *list, const gw_route_t *create)
{
    crm_err_t err;
    crm_err_clear(&err);
    char path[240];
    json_t *data = NULL;
    ProtobufCMessage *in = NULL, *out = NULL;
    const gw_route_t *r = create;
    int n = 0;
    long long id = 0;
    /* Filters first (unknown ones 400), then the whole body (unknown attributes 422) before any
     * create or update. */
    if (count_matches(gw, list, req, &n, &id, &err) != CRM_OK ||
        !(data = gw_body_data(req->body, req->body_len, &err)) ||
        gw_owner_pool(gw, create, req, data, &err) != CRM_OK || /* owner_id "pool:{id}" */
        !(in = crm_pbjson_to_message(create->req_desc, data, "", &err)))
        goto fail;
    if (n > 1) {
        crm_err_set(&err, CRM_ECONFLICT, NULL, "conflict",
                    "several %ss match the filters; upsert updates at most one: narrow the filters",
                    route->meta_type);
        goto fail;
    }
    if (n == 1) {
        snprintf(path, sizeof path, "%s/%lld", base, id);
        gw_path_t upp;
        r = gw_route_match("PUT", path, &upp);
        if (!r || r->kind != GW_UPDATE) {
            crm_err_set(&err, CRM_EINTERNAL, NULL, NULL, "upsert: no update route for %s", path);
            goto fail;
        }
        protobuf_c_message_free_unpacked(in, NULL);
        char idtext[24];
        snprintf(idtext, sizeof idtext, "%lld", id);
        if (!(in = gw_update_request(gw, req, r, path, data, &err)) ||
            crm_pbjson_set_field_text(in, "id", idtext, &err) != CRM_OK)
            goto fail;
    }
    if (!gw_role_allows(req->role, r->min_role)) {
        crm_err_set(&err, CRM_EFORBIDDEN, NULL, "forbidden", "this action needs the %s role", r->min_role);
        goto fail;
    }
    if (gw_route_call(gw, r, req, in, &out, &err) != CRM_OK)
        goto fail;
    gw_route_render(r, req, out, 0, 0, resp);
    protobuf_c_message_free_unpacked(in, NULL);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    json_decref(data);
    return;
fail:
    gw_respond_err(resp, &err, route->meta_type, req->corr);
    if (in)
        protobuf_c_message_free_unpacked(in, NULL);
    json_decref(data);
}

void gw_upsert(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    crm_err_t err;
    crm_err_clear(&err);
    char base[200];
    const char *suffix = "/upsert";
    size_t plen = strlen(route->pattern), slen = strlen(suffix);
    if (plen <= slen || plen - slen >= sizeof base || strcmp(route->pattern + plen - slen, suffix) != 0) {
        gw_respond_error(resp, 500, "server_error", "upsert route without /upsert", NULL, NULL, req->corr);
        return;
    }
    snprintf(base, sizeof base, "%.*s", (int)(plen - slen), route->pattern);
    gw_path_t pp;
    const gw_route_t *list = gw_route_match("GET", base, &pp);
    const gw_route_t *create = gw_route_match("POST", base, &pp);
    if (!list || list->kind != GW_LIST || !create || create->kind != GW_CREATE) {
        gw_respond_error(resp, 500, "server_error", "upsert route without list and create routes", NULL, NULL,
                         req->corr);
        return;
    }
    if (check_filters(req, &err) != CRM_OK) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    char *key = lock_key(base, req);
    if (!key) {
        gw_respond_error(resp, 500, "server_error", "out of memory", NULL, NULL, req->corr);
        return;
    }
    pthread_mutex_t *mu = &stripes[stripe_of(key)];
    pthread_mutex_lock(mu);
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db || crm_db_begin(db, &err) != CRM_OK || gw_store_upsert_lock(db, key, &err) != CRM_OK) {
        if (db) {
            crm_db_rollback(db);
            crm_db_pool_put(gw->db, db);
        }
        pthread_mutex_unlock(mu);
        free(key);
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    upsert_locked(gw, route, req, resp, base, list, create);
    crm_db_rollback(db); /* the transaction only holds the lock */
    crm_db_pool_put(gw->db, db);
    pthread_mutex_unlock(mu);
    free(key);
}

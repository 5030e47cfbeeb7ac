/* The /v2 REST table and the one generic handler behind it (DESIGN §5): query, path and body
 * become the request message through pbjson, the owning service answers over RPC, and the
 * reply is rendered in the Sell envelope. No per-resource code besides the table. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "assign.pb-c.h"
#include "auth.h"
#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/rpc.h"
#include "crm/util.h"
#include "deals.pb-c.h"
#include "leads.pb-c.h"
#include "notify.pb-c.h"
#include "owner_pool.h"
#include "rpc.pb-c.h"

/* Every service's table (routes_<service>.c), searched in this order. */
static const struct {
    const gw_route_t *routes;
    const size_t *n;
} tables[] = {
    {gw_routes_assign, &gw_routes_assign_n},   {gw_routes_leads, &gw_routes_leads_n},
    {gw_routes_deals, &gw_routes_deals_n},     {gw_routes_notify, &gw_routes_notify_n},
    {gw_routes_gateway, &gw_routes_gateway_n},
};
#define NTABLES (sizeof tables / sizeof tables[0])

size_t gw_routes_count(void)
{
    size_t n = 0;
    for (size_t t = 0; t < NTABLES; t++)
        n += *tables[t].n;
    return n;
}

const gw_route_t *gw_route_at(size_t i)
{
    for (size_t t = 0; t < NTABLES; t++) {
        if (i < *tables[t].n)
            return &tables[t].routes[i];
        i -= *tables[t].n;
    }
    return NULL;
}

/* Matches path against pattern; a "{name}" segment takes a positive decimal integer, stored in
 * pp under name ("{id}" → "id"). */
static bool pattern_match(const char *pattern, const char *path, gw_path_t *pp)
{
    pp->n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t nlen = close ? (size_t)(close - p - 1) : 0;
            size_t n = strspn(s, "0123456789");
            if (!close || nlen == 0 || nlen >= sizeof pp->p[0].name || pp->n >= GW_MAX_PATH_PARAMS)
                return false; /* a malformed pattern never matches (the unit test checks them) */
            if (n == 0 || n >= 20 || (s[n] != '\0' && s[n] != '/') || s[0] == '0')
                return false;
            memcpy(pp->p[pp->n].name, p + 1, nlen);
            pp->p[pp->n].name[nlen] = '\0';
            memcpy(pp->p[pp->n].value, s, n);
            pp->p[pp->n].value[n] = '\0';
            pp->n++;
            s += n;
            p = close + 1;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    /* One trailing slash is tolerated ("/v2/leads/"). */
    if (*p == '\0' && s[0] == '/' && s[1] == '\0')
        return true;
    return *p == '\0' && *s == '\0';
}

const char *gw_path_get(const gw_path_t *pp, const char *name)
{
    for (size_t i = 0; i < pp->n; i++)
        if (strcmp(pp->p[i].name, name) == 0)
            return pp->p[i].value;
    return NULL;
}

const gw_route_t *gw_route_match(const char *method, const char *path, gw_path_t *pp)
{
    pp->n = 0;
    if (!method || !path)
        return NULL;
    for (size_t t = 0; t < NTABLES; t++) {
        for (size_t i = 0; i < *tables[t].n; i++) {
            const gw_route_t *r = &tables[t].routes[i];
            if (strcmp(r->method, method) == 0 && pattern_match(r->pattern, path, pp))
                return r;
        }
    }
    pp->n = 0;
    return NULL;
}

bool gw_path_known(const char *path)
{
    gw_path_t pp;
    for (size_t t = 0; t < NTABLES; t++)
        for (size_t i = 0; i < *tables[t].n; i++)
            if (pattern_match(tables[t].routes[i].pattern, path, &pp))
                return true;
    return false;
}

static int role_rank(const char *role)
{
    if (!role)
        return 0;
    if (strcmp(role, "sales") == 0)
        return 1;
    if (strcmp(role, "manager") == 0)
        return 2;
    if (strcmp(role, "admin") == 0)
        return 3;
    return 0;
}

bool gw_role_allows(const char *role, const char *min_role)
{
    int have = role_rank(role);
    return have > 0 && have >= role_rank(min_role);
}

static int parse_paging_value(const char *name, const char *text, long lo, long hi, long *out, crm_err_t *err)
{
    int64_t v = 0;
    if (!crm_parse_i64(text, &v))
        return crm_err_set(err, CRM_EBADREQUEST, name, "invalid_param", "%s must be an integer, given: %.64s",
                           name, text);
    if (v < lo || v > hi) {
        if (hi == GW_MAX_PER_PAGE)
            return crm_err_set(err, CRM_EBADREQUEST, name, "invalid_param",
                               "%s must be between %ld and %ld, given: %lld", name, lo, hi, (long long)v);
        return crm_err_set(err, CRM_EBADREQUEST, name, "invalid_param",
                           "%s must be greater than or equal to %ld, given: %lld", name, lo, (long long)v);
    }
    *out = (long)v;
    return CRM_OK;
}

int gw_paging(const gw_param_t *params, size_t n, long *page, long *per_page, crm_err_t *err)
{
    *page = GW_DEFAULT_PAGE;
    *per_page = GW_DEFAULT_PER_PAGE;
    for (size_t i = 0; i < n; i++) {
        int rc = CRM_OK;
        if (strcmp(params[i].key, "page") == 0)
            rc = parse_paging_value("page", params[i].value, 1, 1000000000L, page, err);
        else if (strcmp(params[i].key, "per_page") == 0)
            rc = parse_paging_value("per_page", params[i].value, 1, GW_MAX_PER_PAGE, per_page, err);
        if (rc != CRM_OK)
            return rc;
    }
    return CRM_OK;
}

static void grow(char **buf, size_t len, size_t *cap, size_t need)
{
    if (len + need + 1 <= *cap)
        return;
    *cap = (*cap + need) * 2 + 64;
    *buf = realloc(*buf, *cap);
    if (!*buf)
        abort(); /* out of memory: nothing sensible to answer */
}

/* Appends s to buf; percent-encoded (RFC 3986 unreserved characters kept) when encode. */
static void append(char **buf, size_t *len, size_t *cap, const char *s, bool encode)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        grow(buf, *len, cap, 3);
        bool keep = !encode || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
        if (keep) {
            (*buf)[(*len)++] = (char)c;
        } else {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = hex[c >> 4];
            (*buf)[(*len)++] = hex[c & 15];
        }
    }
    (*buf)[*len] = '\0';
}

static char *page_link(const char *base, const char *path, const gw_param_t *params, size_t n, long page,
                       long per_page)
{
    size_t cap = 0, len = 0;
    char *buf = NULL;
    char paging[64];
    snprintf(paging, sizeof paging, "?page=%ld&per_page=%ld", page, per_page);
    grow(&buf, len, &cap, 0);
    buf[0] = '\0';
    append(&buf, &len, &cap, base, false);
    append(&buf, &len, &cap, path, false);
    append(&buf, &len, &cap, paging, false);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(params[i].key, "page") == 0 || strcmp(params[i].key, "per_page") == 0)
            continue;
        append(&buf, &len, &cap, "&", false);
        append(&buf, &len, &cap, params[i].key, true);
        append(&buf, &len, &cap, "=", false);
        append(&buf, &len, &cap, params[i].value, true);
    }
    return buf;
}

void gw_links_build(const char *base, const char *path, const gw_param_t *params, size_t n, long page,
                    long per_page, bool has_more, gw_links_t *out)
{
    memset(out, 0, sizeof *out);
    base = base ? base : "";
    out->self = page_link(base, path, params, n, page, per_page);
    out->first_page = page_link(base, path, params, n, 1, per_page);
    if (page > 1)
        out->prev_page = page_link(base, path, params, n, page - 1, per_page);
    if (has_more)
        out->next_page = page_link(base, path, params, n, page + 1, per_page);
}

/* Sell's bracket filters: "address[city]=X" sets field address_city; "custom_fields[Size]=M"
 * appends "Size=M" to a repeated string field custom_fields. 1 when handled, 0 when key has no
 * brackets, or a CRM_EBADREQUEST code. */
static int apply_bracket_param(ProtobufCMessage *msg, const char *key, const char *value, crm_err_t *err)
{
    const char *open = strchr(key, '[');
    size_t len = strlen(key);
    if (!open || open == key || len < 3 || key[len - 1] != ']' || open + 1 >= key + len - 1)
        return 0;
    char outer[64], inner[128], flat[200];
    size_t olen = (size_t)(open - key), ilen = len - 2 - olen;
    if (olen >= sizeof outer || ilen >= sizeof inner || memchr(open + 1, '[', ilen) ||
        memchr(open + 1, ']', ilen))
        return crm_err_set(err, CRM_EBADREQUEST, key, "invalid_param", "unknown query parameter: %.100s",
                           key);
    memcpy(outer, key, olen);
    outer[olen] = '\0';
    memcpy(inner, open + 1, ilen);
    inner[ilen] = '\0';
    snprintf(flat, sizeof flat, "%s_%s", outer, inner);
    crm_err_t e;
    crm_err_clear(&e);
    const ProtobufCFieldDescriptor *f = crm_pbjson_field(msg->descriptor, flat);
    if (f && f->label != PROTOBUF_C_LABEL_REPEATED) {
        if (crm_pbjson_set_field_text(msg, flat, value, &e) != CRM_OK)
            return crm_err_set(err, CRM_EBADREQUEST, key, "invalid_param",
                               "invalid value for query parameter %.100s: %.300s", key, e.message);
        return 1;
    }
    f = crm_pbjson_field(msg->descriptor, outer);
    if (f && f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_STRING) {
        size_t vlen = strlen(value);
        char *pair = malloc(ilen + vlen + 2);
        if (!pair)
            return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        snprintf(pair, ilen + vlen + 2, "%s=%s", inner, value);
        int rc = crm_pbjson_set_field_text(msg, outer, pair, &e);
        free(pair);
        if (rc != CRM_OK)
            return crm_err_set(err, CRM_EBADREQUEST, key, "invalid_param", "invalid query parameter %.100s",
                               key);
        return 1;
    }
    return crm_err_set(err, CRM_EBADREQUEST, key, "invalid_param", "unknown query parameter: %.100s", key);
}

int gw_no_params(const gw_request_t *req, crm_err_t *err)
{
    if (req->nparams == 0)
        return CRM_OK;
    return crm_err_set(err, CRM_EBADREQUEST, req->params[0].key, "invalid_param",
                       "unknown query parameter: %.100s", req->params[0].key);
}

int gw_apply_params(ProtobufCMessage *msg, const gw_param_t *params, size_t n, crm_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *key = params[i].key;
        int br = apply_bracket_param(msg, key, params[i].value, err);
        if (br == 1)
            continue;
        if (br != 0)
            return br;
        /* "id" comes from the path only; a query "id" would silently override it. */
        if (strcmp(key, "id") == 0 || !crm_pbjson_field(msg->descriptor, key))
            return crm_err_set(err, CRM_EBADREQUEST, key, "invalid_param", "unknown query parameter: %.100s",
                               key);
        crm_err_t e;
        crm_err_clear(&e);
        if (crm_pbjson_set_field_text(msg, key, params[i].value, &e) != CRM_OK)
            return crm_err_set(err, CRM_EBADREQUEST, key, "invalid_param",
                               "invalid value for query parameter %.100s: %.300s", key,
                               e.message[0] ? e.message : "unparsable");
    }
    return CRM_OK;
}

json_t *gw_body_data(const char *body, size_t len, crm_err_t *err)
{
    if (!body || len == 0) {
        crm_err_set(err, CRM_EBADREQUEST, NULL, "invalid_payload",
                    "the request body is empty; expected {\"data\": {...}}");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        crm_err_set(err, CRM_EBADREQUEST, NULL, "invalid_payload",
                    "the request body is not valid JSON: %.200s", jerr.text);
        return NULL;
    }
    json_t *data = json_is_object(root) ? json_object_get(root, "data") : NULL;
    if (!json_is_object(data)) {
        json_decref(root);
        crm_err_set(err, CRM_EBADREQUEST, NULL, "invalid_payload",
                    "the request body must be a JSON object {\"data\": {...}}");
        return NULL;
    }
    json_incref(data);
    json_decref(root);
    return data;
}

/* A PUT: the request's "update_mask" field (when it has one) gets every top-level key of the
 * body, so the service changes exactly the attributes sent (null included). */
void gw_fill_update_mask(ProtobufCMessage *in, const json_t *data)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(in->descriptor, "update_mask");
    if (!f || f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_STRING)
        return;
    size_t n = json_object_size(data), k = 0;
    char **keys = calloc(n + 1, sizeof *keys);
    if (!keys)
        abort();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)data, key, v)
    {
        (void)v;
        keys[k++] = crm_pb_strdup(key);
    }
    *(char ***)((char *)in + f->offset) = keys;
    *(size_t *)((char *)in + f->quantifier_offset) = k;
}

static ProtobufCMessage *build_request(gw_t *gw, const gw_route_t *r, gw_request_t *req, crm_err_t *err)
{
    ProtobufCMessage *in = NULL;
    if (r->kind == GW_CREATE || r->kind == GW_UPDATE) {
        if (gw_no_params(req, err) != CRM_OK)
            return NULL;
        json_t *data = gw_body_data(req->body, req->body_len, err);
        if (!data)
            return NULL;
        if (gw_owner_pool(gw, r, req, data, err) != CRM_OK) { /* owner_id "pool:{id}" */
            json_decref(data);
            return NULL;
        }
        in = r->kind == GW_UPDATE ? gw_update_request(gw, req, r, req->path, data, err)
                                  : crm_pbjson_to_message(r->req_desc, data, "", err);
        json_decref(data);
        if (!in)
            return NULL;
    } else {
        in = crm_pb_new(r->req_desc);
        if (!in) {
            crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
            return NULL;
        }
        if (gw_apply_params(in, req->params, req->nparams, err) != CRM_OK) {
            protobuf_c_message_free_unpacked(in, NULL);
            return NULL;
        }
    }
    char self_id[32];
    if (r->self_id) {
        snprintf(self_id, sizeof self_id, "%lld", (long long)req->user_id);
        if (crm_pbjson_set_field_text(in, "id", self_id, err) != CRM_OK) {
            protobuf_c_message_free_unpacked(in, NULL);
            return NULL;
        }
    }
    /* Path parameters override the body: PUT /v2/leads/7 updates lead 7 whatever "id" says. */
    for (size_t i = 0; i < req->pathp.n; i++) {
        if (!crm_pbjson_field(r->req_desc, req->pathp.p[i].name))
            continue;
        if (crm_pbjson_set_field_text(in, req->pathp.p[i].name, req->pathp.p[i].value, err) != CRM_OK) {
            protobuf_c_message_free_unpacked(in, NULL);
            crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such %s", r->meta_type);
            return NULL;
        }
    }
    return in;
}

static void render_reply(const gw_route_t *r, gw_request_t *req, const ProtobufCMessage *out, long page,
                         long per_page, gw_response_t *resp)
{
    if (r->kind == GW_DELETE) {
        gw_respond_no_content(resp);
        return;
    }
    json_t *j = out ? crm_pbjson_from_message(out) : json_object();
    if (!j) {
        gw_respond_error(resp, 500, "server_error", "could not render the reply", NULL, NULL, req->corr);
        return;
    }
    if (r->kind != GW_LIST) {
        gw_respond_json(resp, 200, gw_sell_single(j, r->meta_type));
        return;
    }
    json_t *items = json_object_get(j, "items");
    items = json_is_array(items) ? json_incref(items) : json_array();
    bool has_more = json_is_true(json_object_get(j, "has_more"));
    /* A reply whose items' type varies (smart list items: leads or contacts) names it. */
    const char *item_type = json_string_value(json_object_get(j, "item_type"));
    char type[32];
    snprintf(type, sizeof type, "%s", item_type ? item_type : r->meta_type);
    json_decref(j);
    gw_links_t links;
    gw_links_build(req->base, req->path, req->params, req->nparams, page, per_page, has_more, &links);
    gw_respond_json(resp, 200, gw_sell_collection(items, type, &links));
    gw_links_clear(&links);
}

void gw_routes_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    const gw_route_t *r = gw_route_match(req->method, req->path, &req->pathp);
    if (!r) {
        if (gw_path_known(req->path))
            gw_respond_error(resp, 405, "method_not_allowed", "this path does not take that method", NULL,
                             NULL, req->corr);
        else
            gw_respond_error(resp, 404, "incorrect_path", "Requested path was not found.", NULL, NULL,
                             req->corr);
        return;
    }
    resp->route = r->pattern;
    if (!gw_role_allows(req->role, r->min_role)) {
        gw_respond_error(resp, 403, "forbidden", "this action needs the admin role", NULL, NULL, req->corr);
        return;
    }
    if (req->too_many_params) {
        gw_respond_error(resp, 400, "invalid_param", "too many query parameters", NULL, NULL, req->corr);
        return;
    }
    if (r->kind == GW_CUSTOM) {
        r->custom(gw, r, req, resp);
        return;
    }
    crm_err_t err;
    crm_err_clear(&err);
    long page = GW_DEFAULT_PAGE, per_page = GW_DEFAULT_PER_PAGE;
    if (r->kind == GW_LIST && gw_paging(req->params, req->nparams, &page, &per_page, &err) != CRM_OK) {
        gw_respond_err(resp, &err, r->meta_type, req->corr);
        return;
    }
    ProtobufCMessage *in = build_request(gw, r, req, &err);
    if (!in) {
        gw_respond_err(resp, &err, r->meta_type, req->corr);
        return;
    }
    ProtobufCMessage *out = NULL;
    int rc = gw_route_call(gw, r, req, in, &out, &err);
    protobuf_c_message_free_unpacked(in, NULL);
    if (rc != CRM_OK) {
        gw_respond_err(resp, &err, r->meta_type, req->corr);
        return;
    }
    render_reply(r, req, out, page, per_page, resp);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
}

int gw_route_call(gw_t *gw, const gw_route_t *r, const gw_request_t *req, const ProtobufCMessage *in,
                  ProtobufCMessage **out, crm_err_t *err)
{
    *out = NULL;
    crm_rpc_client_t *client = r->service ? gw_client(gw, r->service) : NULL;
    crm_rpc_caller_t caller = {.user_id = req->user_id, .role = req->role, .correlation_id = req->corr};
    int rc = client ? crm_rpc_call(client, r->rpc_method, &caller, in, r->reply_desc,
                                   gw_rpc_timeout_ms(gw, r->service), out, err)
                    : crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no client for service %s",
                                  r->service ? r->service : "-");
    if (rc == CRM_EUNAVAILABLE || rc == CRM_EINTERNAL)
        crm_log_warn(req->corr, "rpc.failed", "method=%s code=%s", r->rpc_method, crm_code_name(rc));
    return rc;
}

void gw_route_render(const gw_route_t *r, gw_request_t *req, const ProtobufCMessage *out, long page,
                     long per_page, gw_response_t *resp)
{
    render_reply(r, req, out, page, per_page, resp);
}

/* The /v2 REST table and its generic handler: a route names the service, the RPC method, the
 * request and reply protobuf types and the Sell meta type; the handler converts query, path
 * and body to the request message (pbjson), calls the service and renders the reply. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <stdbool.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include "crm/err.h"
#include "gateway.h"
#include "sell.h"

typedef enum { GW_ONE, GW_LIST, GW_CREATE, GW_UPDATE, GW_DELETE, GW_CUSTOM } gw_kind_t;

typedef struct gw_route_t gw_route_t;
typedef void (*gw_custom_fn)(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);

struct gw_route_t {
    const char *method;
    const char *pattern;    /* "/v2/users/{id}" */
    const char *service;    /* "assign" */
    const char *rpc_method; /* "users.get" */
    const ProtobufCMessageDescriptor *req_desc;
    const ProtobufCMessageDescriptor *reply_desc;
    const char *meta_type; /* "user" */
    gw_kind_t kind;
    const char *min_role; /* "sales" | "manager" | "admin" */
    bool self_id;         /* field "id" := the caller's user id (/users/self) */
    gw_custom_fn custom;  /* GW_CUSTOM: handled here instead of the generic path */
};

#define GW_DEFAULT_PAGE 1
#define GW_DEFAULT_PER_PAGE 25
#define GW_MAX_PER_PAGE 100

/* The route for method and path, or NULL. pp gets the "{name}" segments of the pattern; each
 * matches only a positive decimal integer, and the generic handler sets the request field of
 * that name (when the request message has one). */
const gw_route_t *gw_route_match(const char *method, const char *path, gw_path_t *pp);
/* The value of path parameter name, or NULL. */
const char *gw_path_get(const gw_path_t *pp, const char *name);
/* True when some route (any method) matches path: then a miss is 405, not 404. */
bool gw_path_known(const char *path);
/* All routes, for tests: gw_route_at(0 .. gw_routes_count() - 1). */
size_t gw_routes_count(void);
const gw_route_t *gw_route_at(size_t i);

/* Each service's table lives in routes_<service>.c; add a route there. */
#define GW_ROUTE_TABLE(name)                                                                                 \
    extern const gw_route_t gw_routes_##name[];                                                              \
    extern const size_t gw_routes_##name##_n
GW_ROUTE_TABLE(assign);
GW_ROUTE_TABLE(leads);
GW_ROUTE_TABLE(deals);
GW_ROUTE_TABLE(notify);
GW_ROUTE_TABLE(gateway);

#define GW_D(x) (&x##__descriptor)
#define GW_TABLE_END(name)                                                                                   \
    const size_t gw_routes_##name##_n = sizeof gw_routes_##name / sizeof gw_routes_##name[0]

/* True when role is at least min_role (sales < manager < admin). */
bool gw_role_allows(const char *role, const char *min_role);

/* Reads and checks page (≥ 1) and per_page (1..100) from the query; defaults 1 and 25.
 * CRM_EBADREQUEST naming the parameter otherwise. */
int gw_paging(const gw_param_t *params, size_t n, long *page, long *per_page, crm_err_t *err);

/* Links of a list page: base + path + "?page=P&per_page=N" + the other query parameters
 * (percent-encoded, in order). prev_page only after page 1, next_page only when has_more. */
void gw_links_build(const char *base, const char *path, const gw_param_t *params, size_t n, long page,
                    long per_page, bool has_more, gw_links_t *out);

/* CRM_EBADREQUEST (400 invalid_param) naming the first query parameter when there is one: for
 * routes that take none (creates, updates, deletes of custom handlers). */
int gw_no_params(const gw_request_t *req, crm_err_t *err);

/* Sets every query parameter on msg; a failure names the parameter (400 invalid_param). */
int gw_apply_params(ProtobufCMessage *msg, const gw_param_t *params, size_t n, crm_err_t *err);

/* Parses a request body that must be {"data": {...}}; returns a new reference to data or NULL
 * with a 400 invalid_payload explanation in err. */
json_t *gw_body_data(const char *body, size_t len, crm_err_t *err);

/* The request's "update_mask" field (when it has one) := every top-level key of data. */
void gw_fill_update_mask(ProtobufCMessage *in, const json_t *data);

/* Calls route's RPC with in as the caller of req; *out is the reply (NULL on failure, err set). */
int gw_route_call(gw_t *gw, const gw_route_t *r, const gw_request_t *req, const ProtobufCMessage *in,
                  ProtobufCMessage **out, crm_err_t *err);
/* Renders a reply of route r (single, collection with links, or 204) into resp. */
void gw_route_render(const gw_route_t *r, gw_request_t *req, const ProtobufCMessage *out, long page,
                     long per_page, gw_response_t *resp);

/* readonly.c — read-only attributes in a PUT body (id, created_at, updated_at, creator_id and a
 * few per resource): clients send records back whole, so a value equal to the current one (GET
 * of path, as the caller) is accepted and dropped; a different one is a 422 naming each such
 * attribute. Keys that are not fields of the update's message are left for pbjson ("unknown").
 * Without a GET route for path they are dropped unchecked. data is changed in place. */
int gw_readonly_check(gw_t *gw, gw_request_t *req, const gw_route_t *update, const char *path, json_t *data,
                      crm_err_t *err);
/* The request message of an update route from data: unknown attributes 422 (pbjson), read-only
 * ones checked (gw_readonly_check against path), update_mask filled. NULL with err set. */
ProtobufCMessage *gw_update_request(gw_t *gw, gw_request_t *req, const gw_route_t *update, const char *path,
                                    json_t *data, crm_err_t *err);

/* upsert.c — POST <collection>/upsert (Sell §6.5–§6.7), a GW_CUSTOM handler usable by any record
 * type whose table has GET <collection> (GW_LIST), POST <collection> (GW_CREATE) and PUT
 * <collection>/{id} (GW_UPDATE): the query string holds list filters (at least one; page,
 * per_page and sort_by are not filters → 400), the body the record. No match → create, exactly
 * one → update it (partial, like PUT), several → 409. Add a route
 * {"POST", "<collection>/upsert", "<svc>", NULL, NULL, NULL, "<type>", GW_CUSTOM, "<role>",
 * false, gw_upsert} (routes_leads.c has the leads and contacts ones). */
void gw_upsert(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);

/* Handles one authenticated /v2 request (req->user_id and req->role set). */
void gw_routes_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp);

#endif

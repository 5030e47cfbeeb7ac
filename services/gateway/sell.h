/* Zendesk Sell wire shapes (SELL_API.md §2–§4): single and collection envelopes, the error
 * body, the mapping from crm_code_t to HTTP status and error code, and the helpers that put a
 * JSON body into a gw_response_t. Pure functions: no I/O. */
#ifndef GW_SELL_H
#define GW_SELL_H

#include <stdbool.h>
#include <jansson.h>
#include "crm/err.h"
#include "gateway.h"

/* A JSON string of s that always exists: bytes that are not valid UTF-8 become '?'. */
json_t *gw_json_text(const char *s);

/* {"data": data, "meta": {"type": type}}. Steals data. */
json_t *gw_sell_single(json_t *data, const char *type);

/* Pagination links of a collection; NULL members are omitted. */
typedef struct {
    char *self;
    char *first_page;
    char *prev_page;
    char *next_page;
} gw_links_t;
void gw_links_clear(gw_links_t *links);

/* {"items": [{"data": d, "meta": {"type": type}}...], "meta": {"type": "collection",
 * "count": n, "links": {...}}}. Steals items (a JSON array of data objects). */
json_t *gw_sell_collection(json_t *items, const char *type, const gw_links_t *links);

/* The error body. resource and field are included only when not NULL/"". */
json_t *gw_sell_error_body(int http_status, const char *code, const char *message, const char *details,
                           const char *resource, const char *field, const char *logref);

/* "Unprocessable Entity" for 422, ... ("Unknown" for others). */
const char *gw_http_reason(int status);

/* HTTP status and Sell error code for a failure (err->code, err->reason). */
int gw_sell_status(const crm_err_t *err, const char **code);

/* The short, generic message of a Sell error code ("attribute value is incorrect"). */
const char *gw_sell_message(const char *code);

/* resp ← status and the compact JSON of body (stolen). */
void gw_respond_json(gw_response_t *resp, int status, json_t *body);
/* resp ← a Sell error body. */
void gw_respond_error(gw_response_t *resp, int status, const char *code, const char *details,
                      const char *resource, const char *field, const char *logref);
/* resp ← the Sell error body for err (status from gw_sell_status; resource and field only on 422). */
void gw_respond_err(gw_response_t *resp, const crm_err_t *err, const char *resource, const char *logref);
/* resp ← 204, no body, no Content-Type. */
void gw_respond_no_content(gw_response_t *resp);
/* Frees the body of resp and zeroes it. */
void gw_response_clear(gw_response_t *resp);

/* True when s is a sane request id: 1..64 chars of [A-Za-z0-9-_]. */
bool gw_request_id_ok(const char *s);

#endif

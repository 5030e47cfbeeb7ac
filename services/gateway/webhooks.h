/* Inbound webhooks: POST /webhooks/{support|chat|forms}/{source} → the answer policy of
 * WEBHOOK_SOURCES.md step by step (source and method, size, content type, signature, parse,
 * event type, dedupe, map and validate, store), the delivery archive of every outcome, and the
 * admin routes GET /v2/webhook_sources, /v2/webhook_deliveries[/{id}]. */
#ifndef GW_WEBHOOKS_H
#define GW_WEBHOOKS_H

#include <stdbool.h>
#include "gateway.h"
#include "routes.h"

#define GW_WEBHOOK_ROOT "/webhooks/"

/* True for a path under /webhooks/. */
bool gw_webhook_path(const char *path);
/* The route label of a webhook path for metrics ("/webhooks/chat/{source}"), static. */
const char *gw_webhook_route(const char *path);

/* Policy step 1, checked on the headers before any body is read: unknown source, or a source
 * whose kind is not the path's group (support, chat, forms) → 404, other method than POST →
 * 405 with Allow: POST. Returns true when resp was filled (the request is answered). */
bool gw_webhook_precheck(gw_t *gw, const gw_request_t *req, gw_response_t *resp);

/* The rest of the policy once the body is read (steps 3..9), answering in resp; blocks while
 * the accepted events are committed. */
void gw_webhook_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp);

/* The same in three steps, so that no thread waits while the group committer works:
 * gw_webhook_start runs steps 3..8 and answers in resp (returning NULL) unless events are left
 * to store; then gw_webhook_submit hands them to the committer, which calls done(arg) from its
 * thread once they are stored, and gw_webhook_finish writes the answer and frees p. The request
 * (its body, headers and correlation id) must stay valid until gw_webhook_finish. */
typedef struct gw_webhook_pending gw_webhook_pending_t;
gw_webhook_pending_t *gw_webhook_start(gw_t *gw, gw_request_t *req, gw_response_t *resp);
void gw_webhook_submit(gw_t *gw, gw_webhook_pending_t *p, void (*done)(void *arg), void *arg);
void gw_webhook_finish(gw_t *gw, gw_webhook_pending_t *p, gw_response_t *resp);

/* Step 2 answered by the HTTP layer (413 before or while reading the body): counted and
 * archived (without the body). */
void gw_webhook_too_large(gw_t *gw, const gw_request_t *req);

/* Counts a delivery outcome in metrics: crm_gateway_deliveries_total{source,outcome,reason}. */
void gw_webhook_count(gw_t *gw, const char *source, const char *outcome, const char *reason);

/* GET /v2/webhook_sources (admin): the configured sources, never their secrets. */
void gw_webhook_sources_list(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);
/* GET /v2/webhook_deliveries (admin; source, outcome, page, per_page). */
void gw_webhook_deliveries_list(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);
/* GET /v2/webhook_deliveries/{id} (admin): one delivery with its body (LiveChat's secret_key
 * masked). */
void gw_webhook_delivery_get(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);

#endif

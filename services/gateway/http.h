/* The gateway's public HTTP server (libmicrohttpd, thread pool): request ids, body limits,
 * one log line per request, dispatch to /healthz|/readyz|/metrics, /v2 and /webhooks. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "crm/err.h"
#include "gateway.h"

/* Binds gateway.http_bind:gateway.http_port (port 0 → ephemeral) and starts serving. */
gw_http_t *gw_http_new(gw_t *gw, crm_err_t *err);
int gw_http_port(const gw_http_t *self);
/* Stops accepting, finishes in-flight requests. Safe to call twice. */
void gw_http_stop(gw_http_t *self);
void gw_http_destroy(gw_http_t **self_p);

/* Routes one fully read request to its handler (exposed for tests). */
void gw_dispatch(gw_t *gw, gw_request_t *req, gw_response_t *resp);

#endif

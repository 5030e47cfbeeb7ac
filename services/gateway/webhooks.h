/* Inbound form webhooks: POST /webhooks/forms/{source} → one stored delivery and one
 * lead.captured event, following the answer policy of WEBHOOK_SOURCES.md. */
#ifndef GW_WEBHOOKS_H
#define GW_WEBHOOKS_H

#include <stdbool.h>
#include "gateway.h"

#define GW_WEBHOOK_PREFIX "/webhooks/forms/"

/* Policy step 1, checked on the headers before any body is read: unknown source (or not a
 * form source) → 404, other method than POST → 405 with Allow: POST. Returns true when resp
 * was filled (the request is answered). */
bool gw_webhook_precheck(gw_t *gw, const gw_request_t *req, gw_response_t *resp);

/* The rest of the policy once the body is read (steps 3..9). */
void gw_webhook_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp);

/* Counts a delivery outcome in metrics: crm_gateway_deliveries_total{source,outcome,reason}. */
void gw_webhook_count(gw_t *gw, const char *source, const char *outcome, const char *reason);

#endif

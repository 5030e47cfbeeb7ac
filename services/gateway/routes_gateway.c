/* /v2 routes of the gateway's own resources (API tokens, webhook sources and deliveries): method, pattern,
 * service, RPC method, request and reply messages, Sell meta type, kind, least role, self id, custom handler.
 */
#include "routes.h"
#include "auth.h"
#include "webhooks.h"

const gw_route_t gw_routes_gateway[] = {
    {"POST", "/v2/api_tokens", NULL, NULL, NULL, NULL, "api_token", GW_CUSTOM, "admin", false,
     gw_auth_create_token},
    {"GET", "/v2/api_tokens", NULL, NULL, NULL, NULL, "api_token", GW_CUSTOM, "admin", false,
     gw_auth_list_tokens},
    {"DELETE", "/v2/api_tokens/{id}", NULL, NULL, NULL, NULL, "api_token", GW_CUSTOM, "admin", false,
     gw_auth_revoke_token},
    {"GET", "/v2/webhook_sources", NULL, NULL, NULL, NULL, "webhook_source", GW_CUSTOM, "admin", false,
     gw_webhook_sources_list},
    {"GET", "/v2/webhook_deliveries", NULL, NULL, NULL, NULL, "webhook_delivery", GW_CUSTOM, "admin", false,
     gw_webhook_deliveries_list},
    {"GET", "/v2/webhook_deliveries/{id}", NULL, NULL, NULL, NULL, "webhook_delivery", GW_CUSTOM, "admin",
     false, gw_webhook_delivery_get},
};
GW_TABLE_END(gateway);

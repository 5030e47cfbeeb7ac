/* /v2 routes of notifications and outbound webhooks (crm-notify): method, pattern, service, RPC method,
 * request and reply messages, Sell meta type, kind, least role, self id, custom handler. */
#include "routes.h"
#include "notify.pb-c.h"

const gw_route_t gw_routes_notify[] = {
    {"GET", "/v2/notifications", "notify", "notifications.list", GW_D(crm__notification_list_request),
     GW_D(crm__notification_list), "notification", GW_LIST, "sales", false, NULL},
};
GW_TABLE_END(notify);

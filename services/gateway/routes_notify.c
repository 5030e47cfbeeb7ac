/* /v2 routes of notifications and outbound webhooks (crm-notify): method, pattern, service, RPC method,
 * request and reply messages, Sell meta type, kind, least role, self id, custom handler.
 * Marking read: PUT /v2/notifications/{id} {"data": {"read": true|false}}, or POST
 * /v2/notifications/{id}/read (no body); POST /v2/notifications/read_all marks all of them. */
#include "routes.h"
#include "notify.pb-c.h"

const gw_route_t gw_routes_notify[] = {
    {"GET", "/v2/notifications", "notify", "notifications.list", GW_D(crm__notification_list_request),
     GW_D(crm__notification_list), "notification", GW_LIST, "sales", false, NULL},
    {"PUT", "/v2/notifications/{id}", "notify", "notifications.update", GW_D(crm__notification_update),
     GW_D(crm__notification), "notification", GW_UPDATE, "sales", false, NULL},
    {"POST", "/v2/notifications/{id}/read", "notify", "notifications.mark_read",
     GW_D(crm__notification_update), GW_D(crm__notification), "notification", GW_ONE, "sales", false, NULL},
    {"POST", "/v2/notifications/read_all", "notify", "notifications.read_all",
     GW_D(crm__notification_read_all_request), GW_D(crm__notification_read_all_reply),
     "notification_read_all", GW_ONE, "sales", false, NULL},
    {"GET", "/v2/notification_settings", "notify", "settings.get",
     GW_D(crm__notification_settings_get_request), GW_D(crm__notification_settings), "notification_settings",
     GW_ONE, "sales", false, NULL},
    {"PUT", "/v2/notification_settings", "notify", "settings.update", GW_D(crm__notification_settings),
     GW_D(crm__notification_settings), "notification_settings", GW_UPDATE, "sales", false, NULL},
};
GW_TABLE_END(notify);

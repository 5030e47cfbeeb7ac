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
    /* Outbound webhooks (admins). */
    {"GET", "/v2/webhook_subscriptions", "notify", "webhooks.list",
     GW_D(crm__webhook_subscription_list_request), GW_D(crm__webhook_subscription_list),
     "webhook_subscription", GW_LIST, "admin", false, NULL},
    {"POST", "/v2/webhook_subscriptions", "notify", "webhooks.create", GW_D(crm__webhook_subscription),
     GW_D(crm__webhook_subscription), "webhook_subscription", GW_CREATE, "admin", false, NULL},
    {"GET", "/v2/webhook_subscriptions/{id}", "notify", "webhooks.get",
     GW_D(crm__webhook_subscription_get_request), GW_D(crm__webhook_subscription), "webhook_subscription",
     GW_ONE, "admin", false, NULL},
    {"PUT", "/v2/webhook_subscriptions/{id}", "notify", "webhooks.update", GW_D(crm__webhook_subscription),
     GW_D(crm__webhook_subscription), "webhook_subscription", GW_UPDATE, "admin", false, NULL},
    {"DELETE", "/v2/webhook_subscriptions/{id}", "notify", "webhooks.delete",
     GW_D(crm__webhook_subscription_get_request), GW_D(crm__webhook_subscription), "webhook_subscription",
     GW_DELETE, "admin", false, NULL},
    {"GET", "/v2/webhook_subscriptions/{id}/deliveries", "notify", "webhooks.deliveries",
     GW_D(crm__webhook_delivery_list_request), GW_D(crm__webhook_delivery_list), "webhook_delivery", GW_LIST,
     "admin", false, NULL},
    {"POST", "/v2/webhook_subscriptions/{id}/deliveries/{delivery_id}/retry", "notify", "webhooks.retry",
     GW_D(crm__webhook_delivery_retry_request), GW_D(crm__webhook_delivery), "webhook_delivery", GW_ONE,
     "admin", false, NULL},
    {"POST", "/v2/webhook_subscriptions/{id}/replay", "notify", "webhooks.replay",
     GW_D(crm__webhook_replay_request), GW_D(crm__webhook_replay_reply), "webhook_replay", GW_UPDATE, "admin",
     false, NULL},
};
GW_TABLE_END(notify);

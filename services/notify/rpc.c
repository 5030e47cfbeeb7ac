/* crm-notify request handlers: the inbox (notifications.list, .update, .mark_read, .read_all)
 * and notification settings (settings.get, settings.update). A user sees and changes its own;
 * an admin may name another user with user_id (DESIGN §7). */
#include "notify.h"

#include <stdio.h>
#include <string.h>

#include "crm/pbjson.h"

static bool is_admin(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "admin") == 0 || strcmp(ctx->role, "system") == 0;
}

/* The user a request is about: the caller, or user_id when an admin names another one. */
static int target_user(const crm_rpc_ctx_t *ctx, bool has_user_id, int64_t user_id, const char *what,
                       int64_t *user, crm_err_t *err)
{
    *user = ctx->user_id;
    if (!has_user_id || user_id == ctx->user_id)
        return CRM_OK;
    if (!is_admin(ctx))
        return crm_err_set(err, CRM_EFORBIDDEN, "/user_id", "forbidden", "only admins may %s of another user",
                           what);
    if (user_id <= 0)
        return crm_err_set(err, CRM_EINVALID, "/user_id", "incorrect_value",
                           "user_id must be a positive integer");
    *user = user_id;
    return CRM_OK;
}

static int notification_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                             ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__NotificationListRequest *req = (const Crm__NotificationListRequest *)in;
    int64_t user;
    if (target_user(ctx, req->has_user_id, req->user_id, "read the notifications", &user, err))
        return err->code;
    Crm__NotificationList *list = NULL;
    int rc = notify_store_list(ctx->db, user, req, &list, err);
    *out = list ? &list->base : NULL;
    return rc;
}

static int set_read(const crm_rpc_ctx_t *ctx, int64_t id, bool read, ProtobufCMessage **out, crm_err_t *err)
{
    Crm__Notification *n = NULL;
    int rc = notify_store_set_read(ctx->db, id, is_admin(ctx), ctx->user_id, read, &n, err);
    *out = n ? &n->base : NULL;
    return rc;
}

/* PUT /v2/notifications/{id} {"data": {"read": true|false}} */
static int notification_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                               ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__NotificationUpdate *req = (const Crm__NotificationUpdate *)in;
    if (!req->has_id || req->id <= 0)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such notification");
    if (!req->has_read)
        return crm_err_set(err, CRM_EINVALID, "/read", "missing", "read is required (true or false)");
    return set_read(ctx, req->id, req->read, out, err);
}

/* POST /v2/notifications/{id}/read */
static int notification_mark_read(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                                  ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__NotificationUpdate *req = (const Crm__NotificationUpdate *)in;
    if (!req->has_id || req->id <= 0)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such notification");
    return set_read(ctx, req->id, true, out, err);
}

static int notification_read_all(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                                 ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__NotificationReadAllRequest *req = (const Crm__NotificationReadAllRequest *)in;
    int64_t user, updated = 0;
    if (target_user(ctx, req->has_user_id, req->user_id, "mark the notifications", &user, err))
        return err->code;
    if (notify_store_read_all(ctx->db, user, &updated, err))
        return err->code;
    Crm__NotificationReadAllReply *r =
        (Crm__NotificationReadAllReply *)crm_pb_new(&crm__notification_read_all_reply__descriptor);
    r->has_user_id = r->has_updated = 1;
    r->user_id = user;
    r->updated = updated;
    *out = &r->base;
    return CRM_OK;
}

static int settings_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                        ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__NotificationSettingsGetRequest *req = (const Crm__NotificationSettingsGetRequest *)in;
    int64_t user;
    if (target_user(ctx, req->has_user_id, req->user_id, "read the notification settings", &user, err))
        return err->code;
    Crm__NotificationSettings *s = NULL;
    int rc = notify_store_settings_get(ctx->db, user, &s, err);
    *out = s ? &s->base : NULL;
    return rc;
}

static int settings_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                           ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__NotificationSettings *req = (const Crm__NotificationSettings *)in;
    int64_t user;
    if (target_user(ctx, req->has_user_id, req->user_id, "change the notification settings", &user, err))
        return err->code;
    if (req->updated_at)
        return crm_err_set(err, CRM_EINVALID, "/updated_at", "read_only", "updated_at is set by the server");
    if (user <= 0)
        return crm_err_set(err, CRM_EINVALID, "/user_id", "missing",
                           "name the user whose settings to change");
    Crm__NotificationSettings *s = NULL;
    int rc = notify_store_settings_update(ctx->db, user, req, &s, err);
    *out = s ? &s->base : NULL;
    return rc;
}

/* --- outbound webhook subscriptions (admins) ------------------------------------------------ */

static int need_admin(const crm_rpc_ctx_t *ctx, crm_err_t *err)
{
    if (is_admin(ctx))
        return CRM_OK;
    return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "webhook subscriptions are for admins");
}

/* Checks the fields of a create (every one required) or an update (only those given). */
static int check_sub(const Crm__WebhookSubscription *in, bool create, crm_err_t *err)
{
    crm_err_clear(err);
    if (in->url || create) {
        if (!in->url || !*in->url)
            crm_err_add(err, CRM_EINVALID, "/url", "missing", "url is required");
        else if ((strncmp(in->url, "http://", 7) != 0 && strncmp(in->url, "https://", 8) != 0) ||
                 strlen(in->url) > 2000 || strpbrk(in->url, " \t\r\n"))
            crm_err_add(err, CRM_EINVALID, "/url", "invalid", "url must be an http:// or https:// URL");
    }
    if (create && in->n_event_types == 0)
        crm_err_add(err, CRM_EINVALID, "/event_types", "missing",
                    "event_types needs at least one event type");
    for (size_t i = 0; i < in->n_event_types; i++)
        if (strcmp(in->event_types[i], "*") != 0 && !notify_topic_known(in->event_types[i])) {
            char f[64];
            snprintf(f, sizeof f, "/event_types/%zu", i);
            crm_err_add(err, CRM_EINVALID, f, "invalid", "unknown event type %.60s", in->event_types[i]);
        }
    if (in->secret || create) {
        if (!in->secret || !*in->secret)
            crm_err_add(err, CRM_EINVALID, "/secret", "missing", "secret is required");
        else if (strlen(in->secret) < 16)
            crm_err_add(err, CRM_EINVALID, "/secret", "too_short", "secret needs at least 16 characters");
    }
    if (in->secondary_secret && *in->secondary_secret && strlen(in->secondary_secret) < 16)
        crm_err_add(err, CRM_EINVALID, "/secondary_secret", "too_short",
                    "secondary_secret needs at least 16 characters (\"\" removes it)");
    if (in->has_secondary_secret_set)
        crm_err_add(err, CRM_EINVALID, "/secondary_secret_set", "read_only",
                    "secondary_secret_set is read-only");
    if (in->has_created_by)
        crm_err_add(err, CRM_EINVALID, "/created_by", "read_only", "created_by is read-only");
    if (in->created_at)
        crm_err_add(err, CRM_EINVALID, "/created_at", "read_only", "created_at is read-only");
    if (in->updated_at)
        crm_err_add(err, CRM_EINVALID, "/updated_at", "read_only", "updated_at is read-only");
    return err->code;
}

static int sub_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    if (need_admin(ctx, err) || check_sub((const Crm__WebhookSubscription *)in, true, err))
        return err->code;
    Crm__WebhookSubscription *s = NULL;
    int rc = notify_store_sub_create(ctx->db, (const Crm__WebhookSubscription *)in, ctx->user_id, &s, err);
    *out = s ? &s->base : NULL;
    return rc;
}

static int sub_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    const Crm__WebhookSubscription *req = (const Crm__WebhookSubscription *)in;
    if (need_admin(ctx, err) || check_sub(req, false, err))
        return err->code;
    Crm__WebhookSubscription *s = NULL;
    int rc = notify_store_sub_update(ctx->db, req, &s, err);
    *out = s ? &s->base : NULL;
    return rc;
}

static int sub_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                   crm_err_t *err)
{
    (void)arg;
    if (need_admin(ctx, err))
        return err->code;
    Crm__WebhookSubscription *s = NULL;
    int rc = notify_store_sub_get(ctx->db, ((const Crm__WebhookSubscriptionGetRequest *)in)->id, &s, err);
    *out = s ? &s->base : NULL;
    return rc;
}

static int sub_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    *out = NULL;
    if (need_admin(ctx, err))
        return err->code;
    return notify_store_sub_delete(ctx->db, ((const Crm__WebhookSubscriptionGetRequest *)in)->id, err);
}

static int sub_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    if (need_admin(ctx, err))
        return err->code;
    Crm__WebhookSubscriptionList *l = NULL;
    int rc = notify_store_sub_list(ctx->db, (const Crm__WebhookSubscriptionListRequest *)in, &l, err);
    *out = l ? &l->base : NULL;
    return rc;
}

static int deliveries_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                           ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__WebhookDeliveryListRequest *req = (const Crm__WebhookDeliveryListRequest *)in;
    if (need_admin(ctx, err))
        return err->code;
    if (req->status && strcmp(req->status, "pending") != 0 && strcmp(req->status, "delivered") != 0 &&
        strcmp(req->status, "failed") != 0)
        return crm_err_set(err, CRM_EBADREQUEST, "status", "invalid_param",
                           "status must be pending, delivered or failed");
    Crm__WebhookDeliveryList *l = NULL;
    int rc = notify_store_deliveries_list(ctx->db, req, &l, err);
    *out = l ? &l->base : NULL;
    return rc;
}

static int delivery_retry(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                          ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__WebhookDeliveryRetryRequest *req = (const Crm__WebhookDeliveryRetryRequest *)in;
    if (need_admin(ctx, err))
        return err->code;
    Crm__WebhookDelivery *d = NULL;
    int rc = notify_store_delivery_retry(ctx->db, req->id, req->delivery_id, &d, err);
    *out = d ? &d->base : NULL;
    return rc;
}

static int replay(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                  crm_err_t *err)
{
    (void)arg;
    const Crm__WebhookReplayRequest *req = (const Crm__WebhookReplayRequest *)in;
    if (need_admin(ctx, err))
        return err->code;
    crm_err_clear(err);
    if (!req->from)
        crm_err_add(err, CRM_EINVALID, "/from", "missing", "from (ISO 8601 time) is required");
    else
        notify_store_check_time(ctx->db, req->from, "/from", err);
    if (!req->to)
        crm_err_add(err, CRM_EINVALID, "/to", "missing", "to (ISO 8601 time) is required");
    else
        notify_store_check_time(ctx->db, req->to, "/to", err);
    if (err->code)
        return err->code;
    Crm__WebhookSubscription *s = NULL;
    if (notify_store_sub_get(ctx->db, req->id, &s, err))
        return err->code;
    protobuf_c_message_free_unpacked(&s->base, NULL);
    int64_t queued = 0;
    if (notify_store_replay(ctx->db, req->id, req->from, req->to, &queued, err))
        return err->code;
    Crm__WebhookReplayReply *r =
        (Crm__WebhookReplayReply *)crm_pb_new(&crm__webhook_replay_reply__descriptor);
    r->has_subscription_id = r->has_queued = 1;
    r->subscription_id = req->id;
    r->queued = queued;
    *out = &r->base;
    return CRM_OK;
}

void notify_rpc_register(notify_t *self)
{
    crm_rpc_server_t *rpc = self->daemon->rpc;
    crm_rpc_server_handle(rpc, "notifications.list", &crm__notification_list_request__descriptor,
                          notification_list, self);
    crm_rpc_server_handle(rpc, "notifications.update", &crm__notification_update__descriptor,
                          notification_update, self);
    crm_rpc_server_handle(rpc, "notifications.mark_read", &crm__notification_update__descriptor,
                          notification_mark_read, self);
    crm_rpc_server_handle(rpc, "notifications.read_all", &crm__notification_read_all_request__descriptor,
                          notification_read_all, self);
    crm_rpc_server_handle(rpc, "settings.get", &crm__notification_settings_get_request__descriptor,
                          settings_get, self);
    crm_rpc_server_handle(rpc, "settings.update", &crm__notification_settings__descriptor, settings_update,
                          self);
    crm_rpc_server_handle(rpc, "webhooks.create", &crm__webhook_subscription__descriptor, sub_create, self);
    crm_rpc_server_handle(rpc, "webhooks.update", &crm__webhook_subscription__descriptor, sub_update, self);
    crm_rpc_server_handle(rpc, "webhooks.get", &crm__webhook_subscription_get_request__descriptor, sub_get,
                          self);
    crm_rpc_server_handle(rpc, "webhooks.delete", &crm__webhook_subscription_get_request__descriptor,
                          sub_delete, self);
    crm_rpc_server_handle(rpc, "webhooks.list", &crm__webhook_subscription_list_request__descriptor, sub_list,
                          self);
    crm_rpc_server_handle(rpc, "webhooks.deliveries", &crm__webhook_delivery_list_request__descriptor,
                          deliveries_list, self);
    crm_rpc_server_handle(rpc, "webhooks.retry", &crm__webhook_delivery_retry_request__descriptor,
                          delivery_retry, self);
    crm_rpc_server_handle(rpc, "webhooks.replay", &crm__webhook_replay_request__descriptor, replay, self);
}

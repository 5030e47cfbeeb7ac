/* crm-notify request handlers: the inbox (notifications.list, .update, .mark_read, .read_all)
 * and notification settings (settings.get, settings.update). A user sees and changes its own;
 * an admin may name another user with user_id (DESIGN §7). */
#include "notify.h"

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
}

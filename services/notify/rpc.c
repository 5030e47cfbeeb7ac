/* crm-notify request handlers: notifications.list. A user sees its own inbox; an admin may
 * name another user with user_id (DESIGN §7). */
#include "notify.h"

#include <string.h>

static int notification_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                             crm_err_t *err)
{
    (void)arg;
    const Crm__NotificationListRequest *req = (const Crm__NotificationListRequest *)in;
    int64_t user = ctx->user_id;
    if (req->has_user_id && req->user_id != ctx->user_id) {
        if (strcmp(ctx->role, "admin") != 0 && strcmp(ctx->role, "system") != 0)
            return crm_err_set(err, CRM_EFORBIDDEN, "user_id", "forbidden",
                               "only admins may read another user's notifications");
        user = req->user_id;
    }
    Crm__NotificationList *list = NULL;
    int rc = notify_store_list(ctx->db, user, req, &list, err);
    *out = list ? &list->base : NULL;
    return rc;
}

void notify_rpc_register(notify_t *self)
{
    crm_rpc_server_handle(self->daemon->rpc, "notifications.list", &crm__notification_list_request__descriptor,
                          notification_list, self);
}

/* crm-notify event handlers: owner.assigned → an in-app notification for the new owner (B3).
 * Stored in the inbox's transaction and keyed by event id: exactly one per assignment. */
#include "notify.h"

#include <stdio.h>

#include "crm/log.h"

static int on_owner_assigned(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                             crm_err_t *err)
{
    (void)arg;
    const Crm__OwnerAssigned *oa = (const Crm__OwnerAssigned *)payload;
    if (!oa->has_owner_id || oa->owner_id <= 0 || !oa->resource_type)
        return CRM_OK;
    char message[512];
    snprintf(message, sizeof message, "A %s was assigned to you: %s", oa->resource_type,
             oa->resource_label ? oa->resource_label : "");
    bool created = false;
    int rc = notify_store_add(tx, oa->owner_id, "assigned", oa->resource_type, oa->resource_id, message, env->event_id,
                              &created, err);
    if (rc == CRM_OK && created)
        crm_log_info(env->correlation_id, "notification.stored", "user_id=%lld kind=assigned %s_id=%lld",
                     (long long)oa->owner_id, oa->resource_type, (long long)oa->resource_id);
    return rc;
}

int notify_consume_register(notify_t *self, crm_err_t *err)
{
    if (crm_daemon_consume_from(self->daemon, "assign", err))
        return err->code;
    crm_inbox_on(self->daemon->inbox, "assign", "owner.assigned", &crm__owner_assigned__descriptor, on_owner_assigned,
                 self);
    return CRM_OK;
}

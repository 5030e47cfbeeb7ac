/* crm-notify event handlers: owner.assigned → the new owner (kind "assigned"), deal.stage_changed →
 * the deal's owner (kind "deal_stage_changed"), each as the user's settings ask (in-app and/or
 * e-mail). Stored in the inbox's transaction and keyed by (event id, user): exactly one per event
 * and user, also when the event is replayed. */
#include "notify.h"

#include <stdio.h>

#include "crm/log.h"
#include "deals.pb-c.h"

/* Tells user_id about one event through the channels the user chose for kind. */
static int tell(crm_db_t *tx, const Crm__Envelope *env, int64_t user_id, const char *kind,
                const char *resource_type, int64_t resource_id, const char *message, crm_err_t *err)
{
    bool in_app, email;
    if (notify_store_prefs(tx, user_id, kind, &in_app, &email, err))
        return err->code;
    if (in_app) {
        bool created = false;
        if (notify_store_add(tx, user_id, kind, resource_type, resource_id, message, env->event_id, &created,
                             err))
            return err->code;
        if (created)
            crm_log_info(env->correlation_id, "notification.stored", "user_id=%lld kind=%s %s_id=%lld",
                         (long long)user_id, kind, resource_type, (long long)resource_id);
    }
    if (email) {
        bool created = false;
        if (notify_store_mail_add(tx, user_id, kind, message, message, env->event_id, &created, err))
            return err->code;
        if (created)
            crm_log_info(env->correlation_id, "mail.queued", "user_id=%lld kind=%s", (long long)user_id,
                         kind);
    }
    return CRM_OK;
}

static int on_owner_assigned(void *arg, crm_db_t *tx, const Crm__Envelope *env,
                             const ProtobufCMessage *payload, crm_err_t *err)
{
    (void)arg;
    const Crm__OwnerAssigned *oa = (const Crm__OwnerAssigned *)payload;
    if (!oa->has_owner_id || oa->owner_id <= 0 || !oa->resource_type)
        return CRM_OK;
    char message[512];
    snprintf(message, sizeof message, "A %s was assigned to you: %s", oa->resource_type,
             oa->resource_label ? oa->resource_label : "");
    return tell(tx, env, oa->owner_id, "assigned", oa->resource_type, oa->resource_id, message, err);
}

static int on_deal_stage_changed(void *arg, crm_db_t *tx, const Crm__Envelope *env,
                                 const ProtobufCMessage *payload, crm_err_t *err)
{
    (void)arg;
    const Crm__DealStageChanged *sc = (const Crm__DealStageChanged *)payload;
    const Crm__Deal *deal = sc->deal;
    if (!deal || !deal->has_owner_id || deal->owner_id <= 0)
        return CRM_OK; /* nobody to tell */
    int64_t deal_id = sc->has_deal_id ? sc->deal_id : deal->id;
    char message[512];
    snprintf(message, sizeof message, "Your deal %s moved from %s to %s", deal->name ? deal->name : "",
             sc->previous_stage_name ? sc->previous_stage_name : "(none)",
             sc->stage_name ? sc->stage_name : "?");
    return tell(tx, env, deal->owner_id, "deal_stage_changed", "deal", deal_id, message, err);
}

int notify_consume_register(notify_t *self, crm_err_t *err)
{
    if (crm_daemon_consume_from(self->daemon, "assign", err) ||
        crm_daemon_consume_from(self->daemon, "deals", err))
        return err->code;
    crm_inbox_on(self->daemon->inbox, "assign", "owner.assigned", &crm__owner_assigned__descriptor,
                 on_owner_assigned, self);
    crm_inbox_on(self->daemon->inbox, "deals", "deal.stage_changed", &crm__deal_stage_changed__descriptor,
                 on_deal_stage_changed, self);
    return CRM_OK;
}

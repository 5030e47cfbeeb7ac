/* crm-leads event handlers: lead.captured from the gateway, owner.assigned from assign. Each
 * runs inside the inbox's transaction, so the change, its events and the offset commit together. */
#include "leads.h"

#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"

static int emit(leads_t *self, crm_db_t *tx, const char *type, const Crm__Envelope *cause, Crm__Lead *lead,
                int64_t delivery_id, const char *source, crm_err_t *err)
{
    Crm__LeadEvent ev = CRM__LEAD_EVENT__INIT;
    ev.lead = lead;
    ev.has_capture_delivery_id = delivery_id > 0;
    ev.capture_delivery_id = delivery_id;
    ev.source_name = (char *)source;
    return crm_outbox_append(self->daemon->outbox, tx, type, cause->correlation_id, &ev.base, err);
}

static int on_lead_captured(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                            crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__LeadCaptured *cap = (const Crm__LeadCaptured *)payload;
    Crm__Lead *lead = NULL;
    int rc = leads_store_capture(tx, cap, env->event_id, &lead, err);
    if (rc != CRM_OK)
        return rc;
    if (!lead) {
        crm_log_info(env->correlation_id, "lead.capture_repeated", "delivery_id=%lld", (long long)cap->delivery_id);
        return CRM_OK;
    }
    rc = emit(self, tx, "lead.created", env, lead, cap->delivery_id, cap->source, err);
    crm_log_info(env->correlation_id, "lead.created", "lead_id=%lld delivery_id=%lld source=%s", (long long)lead->id,
                 (long long)cap->delivery_id, cap->source ? cap->source : "");
    protobuf_c_message_free_unpacked(&lead->base, NULL);
    return rc;
}

static int on_owner_assigned(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                             crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__OwnerAssigned *oa = (const Crm__OwnerAssigned *)payload;
    if (!oa->resource_type || strcmp(oa->resource_type, "lead") != 0)
        return CRM_OK; /* contacts come with issue 3 */
    Crm__Lead *lead = NULL;
    int rc = leads_store_set_owner(tx, oa->resource_id, oa->owner_id, env->event_id, &lead, err);
    if (rc != CRM_OK)
        return rc;
    if (!lead) {
        crm_log_warn(env->correlation_id, "lead.owner_for_missing_lead", "lead_id=%lld", (long long)oa->resource_id);
        return CRM_OK;
    }
    rc = emit(self, tx, "lead.updated", env, lead, 0, NULL, err);
    crm_log_info(env->correlation_id, "lead.owner_set", "lead_id=%lld owner_id=%lld", (long long)lead->id,
                 (long long)oa->owner_id);
    protobuf_c_message_free_unpacked(&lead->base, NULL);
    return rc;
}

int leads_consume_register(leads_t *self, crm_err_t *err)
{
    crm_daemon_t *d = self->daemon;
    if (crm_daemon_consume_from(d, "gateway", err) || crm_daemon_consume_from(d, "assign", err))
        return err->code;
    crm_inbox_on(d->inbox, "gateway", "lead.captured", &crm__lead_captured__descriptor, on_lead_captured, self);
    crm_inbox_on(d->inbox, "assign", "owner.assigned", &crm__owner_assigned__descriptor, on_owner_assigned, self);
    return CRM_OK;
}

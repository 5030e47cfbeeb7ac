/* crm-leads event handlers: lead.captured from the gateway, owner.assigned from assign,
 * deal.created from deals. Each
 * runs inside the inbox's transaction, so the change, its events and the offset commit together. */
#include "leads.h"

#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"

/* lead.captured (A4, C5): a repeated delivery does nothing; a capture of a linked support ticket
 * goes to that ticket's lead; one whose normalized e-mail or E.164 phone matches an open lead
 * merges into it (empty fields filled); anything else makes a new lead. The dedup keys are locked
 * (transaction advisory locks) before the lookup, so two concurrent captures of one person,
 * whichever instance or batch applies them, never make two leads. */
static int on_lead_captured(void *arg, crm_db_t *tx, const Crm__Envelope *env,
                            const ProtobufCMessage *payload, crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__LeadCaptured *cap = (const Crm__LeadCaptured *)payload;
    Crm__Lead *lead = NULL;
    bool created = false;
    int64_t contact_id = 0;
    int rc = leads_store_capture_dedup(tx, cap, env->event_id, &lead, &created, &contact_id, err);
    if (rc != CRM_OK)
        return rc;
    if (contact_id > 0) {
        crm_log_info(env->correlation_id, "lead.capture_to_contact",
                     "contact_id=%lld delivery_id=%lld ticket_id=%s", (long long)contact_id,
                     (long long)cap->delivery_id, cap->ticket_id ? cap->ticket_id : "");
        return CRM_OK;
    }
    if (!lead) {
        crm_log_info(env->correlation_id, "lead.capture_repeated", "delivery_id=%lld",
                     (long long)cap->delivery_id);
        return CRM_OK;
    }
    if (cap->ticket_id && *cap->ticket_id)
        rc = leads_ticket_link(tx, lead->id, cap, env->event_id, err);
    if (rc == CRM_OK)
        rc = leads_emit_lead(self, tx, created ? "lead.created" : "lead.updated", env->correlation_id, lead,
                             lead->has_owner_id ? lead->owner_id : 0, 0, 0, cap->delivery_id, cap->source,
                             err);
    crm_log_info(env->correlation_id, created ? "lead.created" : "lead.capture_merged",
                 "lead_id=%lld delivery_id=%lld source=%s", (long long)lead->id, (long long)cap->delivery_id,
                 cap->source ? cap->source : "");
    protobuf_c_message_free_unpacked(&lead->base, NULL);
    return rc;
}

static int on_owner_assigned(void *arg, crm_db_t *tx, const Crm__Envelope *env,
                             const ProtobufCMessage *payload, crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__OwnerAssigned *oa = (const Crm__OwnerAssigned *)payload;
    if (oa->resource_type && strcmp(oa->resource_type, "contact") == 0) {
        Crm__Contact *c = NULL;
        int64_t prev = 0;
        int rc = leads_contact_set_owner(tx, oa->resource_id, oa->owner_id, env->event_id, &c, &prev, err);
        if (rc != CRM_OK)
            return rc;
        if (!c) {
            crm_log_warn(env->correlation_id, "contact.owner_for_missing_contact", "contact_id=%lld",
                         (long long)oa->resource_id);
            return CRM_OK;
        }
        rc = leads_emit_contact(self, tx, "contact.updated", env->correlation_id, c, prev, 0,
                                oa->has_assignment_id ? oa->assignment_id : 0, 0, 0, err);
        crm_log_info(env->correlation_id, "contact.owner_set", "contact_id=%lld owner_id=%lld",
                     (long long)c->id, (long long)oa->owner_id);
        protobuf_c_message_free_unpacked(&c->base, NULL);
        return rc;
    }
    if (!oa->resource_type || strcmp(oa->resource_type, "lead") != 0)
        return CRM_OK;
    Crm__Lead *lead = NULL;
    int rc = leads_store_set_owner(tx, oa->resource_id, oa->owner_id, env->event_id, &lead, err);
    if (rc != CRM_OK)
        return rc;
    if (!lead) {
        crm_log_warn(env->correlation_id, "lead.owner_for_missing_lead", "lead_id=%lld",
                     (long long)oa->resource_id);
        return CRM_OK;
    }
    rc = leads_emit_lead(self, tx, "lead.updated", env->correlation_id, lead,
                         oa->has_previous_owner_id ? oa->previous_owner_id : 0, 0,
                         oa->has_assignment_id ? oa->assignment_id : 0, 0, NULL, err);
    crm_log_info(env->correlation_id, "lead.owner_set", "lead_id=%lld owner_id=%lld", (long long)lead->id,
                 (long long)oa->owner_id);
    protobuf_c_message_free_unpacked(&lead->base, NULL);
    return rc;
}

/* deal.created of a conversion (crm-deals consumed lead.converted, or the RPC made it): the
 * conversion's deal_id. */
static int on_deal_created(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                           crm_err_t *err)
{
    (void)arg;
    const Crm__DealEvent *ev = (const Crm__DealEvent *)payload;
    if (!ev->has_conversion_id || ev->conversion_id <= 0 || !ev->deal || !ev->deal->has_id)
        return CRM_OK;
    crm_log_info(env->correlation_id, "conversion.deal", "conversion_id=%lld deal_id=%lld",
                 (long long)ev->conversion_id, (long long)ev->deal->id);
    return leads_conversion_deal(tx, ev->conversion_id, ev->deal->id, err);
}

int leads_consume_register(leads_t *self, crm_err_t *err)
{
    crm_daemon_t *d = self->daemon;
    if (crm_daemon_consume_from(d, "gateway", err) || crm_daemon_consume_from(d, "assign", err) ||
        crm_daemon_consume_from(d, "deals", err))
        return err->code;
    crm_inbox_on(d->inbox, "gateway", "lead.captured", &crm__lead_captured__descriptor, on_lead_captured,
                 self);
    crm_inbox_on(d->inbox, "assign", "owner.assigned", &crm__owner_assigned__descriptor, on_owner_assigned,
                 self);
    crm_inbox_on(d->inbox, "deals", "deal.created", &crm__deal_event__descriptor, on_deal_created, self);
    return CRM_OK;
}

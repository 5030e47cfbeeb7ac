/* crm-deals event handlers: lead.converted (from leads) creates the conversion's deal, keyed by
 * conversion_id so that the RPC deals.create_from_conversion and the event together, and under
 * replay, make exactly one deal; owner.assigned (from assign) sets a deal's owner. Each runs in
 * the inbox's transaction: the deal, its events and the offset commit together. */
#include "deals.h"

#include <string.h>

#include "crm/log.h"

static int on_lead_converted(void *arg, crm_db_t *tx, const Crm__Envelope *env,
                             const ProtobufCMessage *payload, crm_err_t *err)
{
    deals_t *self = arg;
    const Crm__LeadConverted *lc = (const Crm__LeadConverted *)payload;
    if (!lc->has_create_deal || !lc->create_deal)
        return CRM_OK;
    deals_caller_t c = {.corr = env->correlation_id, .outbox = self->daemon->outbox};
    int64_t id = 0;
    bool created = false;
    int rc = deals_store_from_conversion(tx, &c, lc, &id, &created, err);
    if (rc == CRM_OK)
        crm_log_info(env->correlation_id, "deal.from_conversion",
                     "conversion_id=%lld deal_id=%lld created=%d via=event", (long long)lc->conversion_id,
                     (long long)id, created);
    return rc;
}

static int on_owner_assigned(void *arg, crm_db_t *tx, const Crm__Envelope *env,
                             const ProtobufCMessage *payload, crm_err_t *err)
{
    deals_t *self = arg;
    const Crm__OwnerAssigned *oa = (const Crm__OwnerAssigned *)payload;
    if (!oa->resource_type || strcmp(oa->resource_type, "deal") != 0 || !oa->has_owner_id)
        return CRM_OK;
    deals_caller_t c = {.corr = env->correlation_id, .outbox = self->daemon->outbox};
    bool found = false;
    int rc = deals_store_set_owner(tx, &c, oa->resource_id, oa->owner_id, oa->assignment_id, &found, err);
    if (rc == CRM_OK && !found)
        crm_log_warn(env->correlation_id, "deal.owner_for_missing_deal", "deal_id=%lld",
                     (long long)oa->resource_id);
    return rc;
}

int deals_consume_register(deals_t *self, crm_err_t *err)
{
    crm_daemon_t *d = self->daemon;
    if (crm_daemon_consume_from(d, "leads", err) || crm_daemon_consume_from(d, "assign", err))
        return err->code;
    crm_inbox_on(d->inbox, "leads", "lead.converted", &crm__lead_converted__descriptor, on_lead_converted,
                 self);
    crm_inbox_on(d->inbox, "assign", "owner.assigned", &crm__owner_assigned__descriptor, on_owner_assigned,
                 self);
    return CRM_OK;
}

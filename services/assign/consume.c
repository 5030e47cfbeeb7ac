/* crm-assign event handlers: a new lead without an owner gets one from the default lead pool.
 * Runs in the inbox's transaction: the turn, the assignment row, owner.assigned and the offset
 * commit together, so every lead gets exactly one assignment. */
#include "assign.h"

#include <stdio.h>
#include <string.h>

#include "crm/log.h"

static void lead_label(const Crm__Lead *l, char *buf, size_t len)
{
    if (l->first_name && l->last_name)
        snprintf(buf, len, "%s %s", l->first_name, l->last_name);
    else if (l->last_name || l->organization_name)
        snprintf(buf, len, "%s", l->last_name ? l->last_name : l->organization_name);
    else
        snprintf(buf, len, "lead %lld", (long long)l->id);
}

static int on_lead_created(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                           crm_err_t *err)
{
    assign_t *self = arg;
    const Crm__LeadEvent *ev = (const Crm__LeadEvent *)payload;
    const Crm__Lead *lead = ev->lead;
    if (!lead || !lead->has_id || (lead->has_owner_id && lead->owner_id > 0))
        return CRM_OK; /* already owned: nothing to decide */
    int64_t owner = 0, pool = 0, assignment = 0;
    int rc = assign_store_round_robin(tx, "lead", lead->id, env->event_id, &owner, &pool, &assignment, err);
    if (rc != CRM_OK)
        return rc;
    if (!owner) {
        crm_log_warn(env->correlation_id, "assign.no_pool", "resource_type=lead resource_id=%lld", (long long)lead->id);
        return CRM_OK;
    }
    char label[256];
    lead_label(lead, label, sizeof label);
    Crm__OwnerAssigned oa = CRM__OWNER_ASSIGNED__INIT;
    oa.resource_type = "lead";
    oa.has_resource_id = oa.has_owner_id = oa.has_pool_id = oa.has_assignment_id = 1;
    oa.resource_id = lead->id;
    oa.owner_id = owner;
    oa.pool_id = pool;
    oa.assignment_id = assignment;
    oa.resource_label = label;
    rc = crm_outbox_append(self->daemon->outbox, tx, "owner.assigned", env->correlation_id, &oa.base, err);
    crm_log_info(env->correlation_id, "owner.assigned", "resource_type=lead resource_id=%lld owner_id=%lld pool_id=%lld",
                 (long long)lead->id, (long long)owner, (long long)pool);
    return rc;
}

int assign_consume_register(assign_t *self, crm_err_t *err)
{
    if (crm_daemon_consume_from(self->daemon, "leads", err))
        return err->code;
    crm_inbox_on(self->daemon->inbox, "leads", "lead.created", &crm__lead_event__descriptor, on_lead_created, self);
    return CRM_OK;
}

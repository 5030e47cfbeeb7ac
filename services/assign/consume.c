/* crm-assign event handlers: the owner protocol (see the comment in proto/leads.proto) for
 * leads, contacts and deals, and the open/closed state of records for the caps.
 *
 * For lead.created/updated, contact.created/updated, deal.created/updated:
 *   assignment_id set          → the record applied one of our owner.assigned: nothing (the
 *                                assignment wrote the ownership row in its own transaction);
 *   assign_pool_id set         → pick from that pool (a pool of another record type is refused:
 *                                the default pool of the record's type is used instead, logged);
 *   owner changed, by hand     → (created with an owner, or updated with owner_id !=
 *                                previous_owner_id, and not already the owner we know) record a manual
 *                                assignment and emit owner.assigned (not when a user creates a
 *                                record owned by themselves, nor for a conversion's contact or
 *                                deal, which inherit the lead's owner);
 *   created without owner/pool → the default pool of that type (nothing when there is none);
 *   otherwise                  → only note the current owner.
 * Each runs in the inbox's transaction: the turn, the assignment row (unique cause_event_id),
 * owner.assigned and the offset commit together, so each cause event assigns exactly once. */
#include "assign.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crm/log.h"

typedef struct {
    const char *type; /* lead | contact | deal */
    int64_t id, owner, previous, pool, assignment, changed_by;
    bool created, has_previous;
    bool converted; /* made by a lead conversion: it inherits the lead's owner, no new assignment */
    char label[256];
} rec_t;

static void name_label(char *buf, size_t len, const char *first, const char *last, const char *org,
                       const char *type, int64_t id)
{
    if (first && *first && last && *last)
        snprintf(buf, len, "%s %s", first, last);
    else if (last && *last)
        snprintf(buf, len, "%s", last);
    else if (org && *org)
        snprintf(buf, len, "%s", org);
    else
        snprintf(buf, len, "%s %lld", type, (long long)id);
}

static int emit(assign_t *self, crm_db_t *tx, const Crm__Envelope *env, const rec_t *r, int64_t owner,
                int64_t previous, const assign_pick_t *pick, const char *kind, int64_t assignment_id,
                crm_err_t *err)
{
    Crm__OwnerAssigned oa = CRM__OWNER_ASSIGNED__INIT;
    oa.resource_type = (char *)r->type;
    oa.has_resource_id = oa.has_owner_id = oa.has_assignment_id = 1;
    oa.resource_id = r->id;
    oa.owner_id = owner;
    oa.assignment_id = assignment_id;
    oa.resource_label = (char *)r->label;
    oa.kind = (char *)kind;
    if (previous > 0) {
        oa.has_previous_owner_id = 1;
        oa.previous_owner_id = previous;
    }
    if (pick && pick->pool_id) {
        oa.has_pool_id = 1;
        oa.pool_id = pick->pool_id;
    }
    if (pick && pick->fallback) {
        oa.has_fallback = oa.fallback = 1;
        oa.admin_ids = (int64_t *)pick->admin_ids;
        oa.n_admin_ids = pick->n_admins;
    }
    if (r->changed_by > 0 && !pick) {
        oa.has_changed_by = 1;
        oa.changed_by = r->changed_by;
    }
    int rc =
        crm_outbox_append(self->daemon->outbox, tx, "owner.assigned", env->correlation_id, &oa.base, err);
    crm_log_info(env->correlation_id, "owner.assigned",
                 "resource_type=%s resource_id=%lld owner_id=%lld pool_id=%lld kind=%s", r->type,
                 (long long)r->id, (long long)owner, (long long)(pick ? pick->pool_id : 0), kind);
    return rc;
}

static int pick_and_emit(assign_t *self, crm_db_t *tx, const Crm__Envelope *env, const rec_t *r, int64_t pool,
                         crm_err_t *err)
{
    int64_t previous = r->owner > 0 ? r->owner : r->previous;
    assign_pick_t pick;
    int rc = assign_store_pick(tx, pool, r->type, r->id, previous, env->event_id, &pick, err);
    if (rc == CRM_OK && pool > 0 && (pick.mismatch || pick.pool_id == 0)) {
        /* Pools are never mixed: a pool of another type (or a deleted one) is not used. */
        crm_log_warn(env->correlation_id, "assign.pool_refused",
                     "resource_type=%s resource_id=%lld pool_id=%lld reason=%s", r->type, (long long)r->id,
                     (long long)pool, pick.mismatch ? "another_resource_type" : "no_such_pool");
        rc = assign_store_pick(tx, 0, r->type, r->id, previous, env->event_id, &pick, err);
    }
    if (rc != CRM_OK)
        return rc;
    if (pick.owner_id <= 0) {
        crm_log_warn(env->correlation_id, "assign.no_pool", "resource_type=%s resource_id=%lld", r->type,
                     (long long)r->id);
        return CRM_OK;
    }
    return emit(self, tx, env, r, pick.owner_id, previous, &pick, pick.kind, pick.assignment_id, err);
}

static int decide(assign_t *self, crm_db_t *tx, const Crm__Envelope *env, const rec_t *r, crm_err_t *err)
{
    if (r->id <= 0)
        return CRM_OK;
    /* The echo of an assignment: every assignment row was written with its ownership row in one
     * transaction (a pick, a manual change, assign.pick_bulk), so there is nothing to note. */
    if (r->assignment > 0)
        return CRM_OK;
    bool seen = false;
    if (assign_store_seen(tx, env->event_id, &seen, err) != CRM_OK)
        return err->code;
    if (seen)
        return CRM_OK; /* replayed: already decided */
    if (r->pool > 0)
        return pick_and_emit(self, tx, env, r, r->pool, err);
    /* A change by hand: the producer says the owner moved (previous_owner_id absent = none), and
     * it is news to us (not the owner we already know: a producer echoing our owner.assigned
     * without assignment_id does not loop). */
    bool changed = r->owner > 0 && (r->created || r->owner != r->previous);
    if (changed) {
        int64_t known = 0;
        if (assign_store_owner_of(tx, r->type, r->id, &known, err) != CRM_OK)
            return err->code;
        changed = known != r->owner;
    }
    if (changed) {
        if (r->created && (r->owner == r->changed_by || r->converted))
            return assign_store_ownership_set(tx, r->type, r->id, r->owner, err);
        int64_t aid = 0;
        if (assign_store_manual(tx, r->type, r->id, r->owner, r->previous, r->changed_by, env->event_id, &aid,
                                err))
            return err->code;
        return emit(self, tx, env, r, r->owner, r->previous, NULL, "manual", aid, err);
    }
    if (r->created && r->owner <= 0)
        return pick_and_emit(self, tx, env, r, 0, err);
    return r->owner > 0 ? assign_store_ownership_set(tx, r->type, r->id, r->owner, err) : CRM_OK;
}

#define EVENT_FIELDS(r, ev)                                                                                  \
    do {                                                                                                     \
        (r).has_previous = (ev)->has_previous_owner_id;                                                      \
        (r).previous = (ev)->has_previous_owner_id ? (ev)->previous_owner_id : 0;                            \
        (r).pool = (ev)->has_assign_pool_id ? (ev)->assign_pool_id : 0;                                      \
        (r).assignment = (ev)->has_assignment_id ? (ev)->assignment_id : 0;                                  \
        (r).changed_by = (ev)->has_changed_by ? (ev)->changed_by : 0;                                        \
    } while (0)

static int on_lead(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                   crm_err_t *err)
{
    const Crm__LeadEvent *ev = (const Crm__LeadEvent *)payload;
    const Crm__Lead *l = ev->lead;
    if (!l || !l->has_id)
        return CRM_OK;
    rec_t r = {.type = "lead", .id = l->id, .owner = l->has_owner_id ? l->owner_id : 0};
    r.created = strcmp(env->type, "lead.created") == 0;
    EVENT_FIELDS(r, ev);
    name_label(r.label, sizeof r.label, l->first_name, l->last_name, l->organization_name, "lead", l->id);
    return decide(arg, tx, env, &r, err);
}

static int on_contact(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                      crm_err_t *err)
{
    const Crm__ContactEvent *ev = (const Crm__ContactEvent *)payload;
    const Crm__Contact *c = ev->contact;
    if (!c || !c->has_id)
        return CRM_OK;
    rec_t r = {.type = "contact", .id = c->id, .owner = c->has_owner_id ? c->owner_id : 0};
    r.created = strcmp(env->type, "contact.created") == 0;
    r.converted = ev->has_conversion_id && ev->conversion_id > 0;
    EVENT_FIELDS(r, ev);
    name_label(r.label, sizeof r.label, c->first_name, c->last_name, c->name, "contact", c->id);
    return decide(arg, tx, env, &r, err);
}

static int on_deal(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                   crm_err_t *err)
{
    const Crm__DealEvent *ev = (const Crm__DealEvent *)payload;
    const Crm__Deal *d = ev->deal;
    if (!d || !d->has_id)
        return CRM_OK;
    int64_t owner = d->has_owner_id ? d->owner_id : 0;
    if (strcmp(env->type, "deal.won") == 0 || strcmp(env->type, "deal.lost") == 0)
        return assign_store_ownership_close(tx, "deal", d->id, owner, true, err);
    rec_t r = {.type = "deal", .id = d->id, .owner = owner};
    r.created = strcmp(env->type, "deal.created") == 0;
    r.converted = ev->has_conversion_id && ev->conversion_id > 0;
    EVENT_FIELDS(r, ev);
    name_label(r.label, sizeof r.label, NULL, NULL, d->name, "deal", d->id);
    return decide(arg, tx, env, &r, err);
}

/* A deal moved back to an open stage counts against its owner's cap again. */
static int on_deal_stage(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                         crm_err_t *err)
{
    (void)arg;
    (void)env;
    const Crm__DealStageChanged *ev = (const Crm__DealStageChanged *)payload;
    if (!ev->has_deal_id || !ev->category)
        return CRM_OK;
    bool closed = strcmp(ev->category, "won") == 0 || strcmp(ev->category, "lost") == 0 ||
                  strcmp(ev->category, "unqualified") == 0;
    int64_t owner = ev->deal && ev->deal->has_owner_id ? ev->deal->owner_id : 0;
    return assign_store_ownership_close(tx, "deal", ev->deal_id, owner, closed, err);
}

/* A lead is closed when unqualified (or converted); another status opens it again. */
static int on_lead_status(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                          crm_err_t *err)
{
    (void)arg;
    (void)env;
    const Crm__LeadStatusChanged *ev = (const Crm__LeadStatusChanged *)payload;
    if (!ev->has_lead_id || !ev->status)
        return CRM_OK;
    bool closed = strcasecmp(ev->status, "unqualified") == 0 || strcasecmp(ev->status, "converted") == 0;
    int64_t owner = ev->lead && ev->lead->has_owner_id ? ev->lead->owner_id : 0;
    return assign_store_ownership_close(tx, "lead", ev->lead_id, owner, closed, err);
}

static int on_lead_converted(void *arg, crm_db_t *tx, const Crm__Envelope *env,
                             const ProtobufCMessage *payload, crm_err_t *err)
{
    (void)arg;
    (void)env;
    const Crm__LeadConverted *ev = (const Crm__LeadConverted *)payload;
    if (!ev->has_lead_id)
        return CRM_OK;
    int64_t owner = ev->lead && ev->lead->has_owner_id ? ev->lead->owner_id : 0;
    return assign_store_ownership_close(tx, "lead", ev->lead_id, owner, true, err);
}

/* lead.deleted, contact.deleted, deal.deleted: a deleted record no longer counts against its
 * owner's cap (max_open). The ownership row is closed, not removed: replays stay no-ops. */
static int on_deleted(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                      crm_err_t *err)
{
    (void)arg;
    const char *type = NULL;
    int64_t id = 0;
    if (strcmp(env->type, "lead.deleted") == 0) {
        const Crm__LeadEvent *ev = (const Crm__LeadEvent *)payload;
        type = "lead";
        id = ev->lead && ev->lead->has_id ? ev->lead->id : 0;
    } else if (strcmp(env->type, "contact.deleted") == 0) {
        const Crm__ContactEvent *ev = (const Crm__ContactEvent *)payload;
        type = "contact";
        id = ev->contact && ev->contact->has_id ? ev->contact->id : 0;
    } else {
        const Crm__DealEvent *ev = (const Crm__DealEvent *)payload;
        type = "deal";
        id = ev->deal && ev->deal->has_id ? ev->deal->id : 0;
    }
    if (id <= 0)
        return CRM_OK;
    return assign_store_ownership_close(tx, type, id, 0, true, err);
}

int assign_consume_register(assign_t *self, crm_err_t *err)
{
    if (crm_daemon_consume_from(self->daemon, "leads", err) ||
        crm_daemon_consume_from(self->daemon, "deals", err))
        return err->code;
    crm_inbox_t *in = self->daemon->inbox;
    crm_inbox_on(in, "leads", "lead.created", &crm__lead_event__descriptor, on_lead, self);
    crm_inbox_on(in, "leads", "lead.updated", &crm__lead_event__descriptor, on_lead, self);
    crm_inbox_on(in, "leads", "lead.status_changed", &crm__lead_status_changed__descriptor, on_lead_status,
                 self);
    crm_inbox_on(in, "leads", "lead.converted", &crm__lead_converted__descriptor, on_lead_converted, self);
    crm_inbox_on(in, "leads", "contact.created", &crm__contact_event__descriptor, on_contact, self);
    crm_inbox_on(in, "leads", "contact.updated", &crm__contact_event__descriptor, on_contact, self);
    crm_inbox_on(in, "leads", "lead.deleted", &crm__lead_event__descriptor, on_deleted, self);
    crm_inbox_on(in, "leads", "contact.deleted", &crm__contact_event__descriptor, on_deleted, self);
    crm_inbox_on(in, "deals", "deal.deleted", &crm__deal_event__descriptor, on_deleted, self);
    crm_inbox_on(in, "deals", "deal.created", &crm__deal_event__descriptor, on_deal, self);
    crm_inbox_on(in, "deals", "deal.updated", &crm__deal_event__descriptor, on_deal, self);
    crm_inbox_on(in, "deals", "deal.won", &crm__deal_event__descriptor, on_deal, self);
    crm_inbox_on(in, "deals", "deal.lost", &crm__deal_event__descriptor, on_deal, self);
    crm_inbox_on(in, "deals", "deal.stage_changed", &crm__deal_stage_changed__descriptor, on_deal_stage,
                 self);
    return CRM_OK;
}

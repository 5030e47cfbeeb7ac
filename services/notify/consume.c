/* crm-notify event handlers: owner.assigned → the new owner (kind "assigned"; a fallback assignment
 * also tells each admin the event names), deal.stage_changed →
 * the deal's owner (kind "deal_stage_changed"), task.due → the task's owner (kind "task_due"),
 * lead.stale → the lead's owner (kind "lead_stale"), import.finished (from leads or deals) → one
 * digest per owner of the import (kind "assigned"), each as the user's settings ask (in-app
 * and/or e-mail). Stored in the inbox's transaction and keyed by (event id, user): exactly one per event
 * and user, also when the event is replayed.
 *
 * Every event of the topics below is also stored for outbound webhooks (webhook_events, with the
 * JSON body a delivery POSTs) and gets one delivery row per active subscription that names its type,
 * in the same transaction (unique per subscription and event). The handlers buffer these rows and
 * the inbox's flush writes a whole batch of them in one statement before the batch commits
 * (crm_inbox_on_flush); a rolled-back batch or event drops its buffered rows. */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"
#include "activities.pb-c.h"
#include "crm/util.h"
#include "deals.pb-c.h"
#include "import.pb-c.h"
#include "leads.pb-c.h"
#include "reminders.pb-c.h"

/* Tells user_id about one event through the channels the user chose for kind; key (one
 * notification and one e-mail per key and user) is the event id, or the import for a digest. */
static int tell_keyed(crm_db_t *tx, const Crm__Envelope *env, const char *key, int64_t user_id,
                      const char *kind, const char *resource_type, int64_t resource_id, const char *message,
                      crm_err_t *err)
{
    bool stored = false, queued = false;
    if (notify_store_tell(tx, user_id, kind, resource_type, resource_id, message, key, &stored, &queued, err))
        return err->code;
    if (stored)
        crm_log_info(env->correlation_id, "notification.stored", "user_id=%lld kind=%s %s_id=%lld",
                     (long long)user_id, kind, resource_type, (long long)resource_id);
    if (queued)
        crm_log_info(env->correlation_id, "mail.queued", "user_id=%lld kind=%s", (long long)user_id, kind);
    return CRM_OK;
}

static int tell(crm_db_t *tx, const Crm__Envelope *env, int64_t user_id, const char *kind,
                const char *resource_type, int64_t resource_id, const char *message, crm_err_t *err)
{
    return tell_keyed(tx, env, env->event_id, user_id, kind, resource_type, resource_id, message, err);
}

/* 1234567 → "1,234,567" */
static void thousands(char out[32], int64_t v)
{
    char d[24];
    int n = snprintf(d, sizeof d, "%lld", (long long)(v < 0 ? -v : v)), o = 0;
    if (v < 0)
        out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = d[i];
    }
    out[o] = 0;
}

/* import.finished → one digest per owner the import gave records to (kind "assigned": the owner's
 * choices for assignments apply), keyed by the import: a replay, or a second import.finished of
 * the same import, adds nothing. The rows' own events carry import_id and notify nobody. */
static int tell_import_finished(crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                                crm_err_t *err)
{
    const Crm__ImportFinished *f = (const Crm__ImportFinished *)payload;
    if (!f->import_id || !*f->import_id)
        return CRM_OK;
    const char *type = f->resource_type && *f->resource_type ? f->resource_type : "record";
    const char *file = f->file_name && *f->file_name ? f->file_name : f->import_id;
    if (strrchr(file, '/') && strrchr(file, '/')[1]) /* crmctl sends the path: the file's name */
        file = strrchr(file, '/') + 1;
    char key[200];
    snprintf(key, sizeof key, "import:%s", f->import_id);
    for (size_t i = 0; i < f->n_owners; i++) {
        const Crm__ImportOwnerCount *o = f->owners[i];
        int64_t created = o->has_created ? o->created : 0, merged = o->has_merged ? o->merged : 0;
        if (!o->has_owner_id || o->owner_id <= 0 || created + merged <= 0)
            continue;
        char c[32], m[32], message[512];
        thousands(c, created);
        thousands(m, merged);
        if (created == 0) /* only rows merged into records this owner already had */
            snprintf(message, sizeof message, "Import %s: %s row%s merged into your %ss", file, m,
                     merged == 1 ? "" : "s", type);
        else if (merged == 0)
            snprintf(message, sizeof message, "Import %s: %s new %s%s assigned to you", file, c, type,
                     created == 1 ? "" : "s");
        else
            snprintf(message, sizeof message, "Import %s: %s new %s%s assigned to you, %s merged", file, c,
                     type, created == 1 ? "" : "s", m);
        if (tell_keyed(tx, env, key, o->owner_id, "assigned", type, 0, message, err))
            return err->code;
    }
    crm_log_info(env->correlation_id, "import.digest", "import_id=%s resource_type=%s owners=%zu",
                 f->import_id, type, f->n_owners);
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
    const char *label = oa->resource_label ? oa->resource_label : "";
    if (oa->fallback)
        snprintf(message, sizeof message,
                 "A %s was assigned to you as the fallback owner of pool %lld (no member was eligible): %s",
                 oa->resource_type, (long long)oa->pool_id, label);
    else
        snprintf(message, sizeof message, "A %s was assigned to you: %s", oa->resource_type, label);
    if (tell(tx, env, oa->owner_id, "assigned", oa->resource_type, oa->resource_id, message, err))
        return err->code;
    /* Everyone in the pool was away, full or inactive: the admins are told (one notification per
     * admin and event; an admin who is also the fallback owner got the message above). */
    for (size_t i = 0; oa->fallback && i < oa->n_admin_ids; i++) {
        if (oa->admin_ids[i] <= 0 || oa->admin_ids[i] == oa->owner_id)
            continue;
        snprintf(message, sizeof message,
                 "Pool %lld had no eligible member (all away, full or inactive): %s %s went to the fallback "
                 "owner, user %lld",
                 (long long)oa->pool_id, oa->resource_type, label, (long long)oa->owner_id);
        if (tell(tx, env, oa->admin_ids[i], "assigned", oa->resource_type, oa->resource_id, message, err))
            return err->code;
    }
    return CRM_OK;
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

static int tell_task_due(crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                         crm_err_t *err)
{
    const Crm__Task *task = ((const Crm__TaskEvent *)payload)->task;
    if (!task || !task->has_owner_id || task->owner_id <= 0)
        return CRM_OK;
    char message[512];
    snprintf(message, sizeof message, "A task is due%s%s: %s", task->due_date ? " on " : "",
             task->due_date ? task->due_date : "", task->content ? task->content : "");
    /* The notification points at the task's record when it has one, else at the task. */
    bool on_record = task->resource_type && task->has_resource_id;
    return tell(tx, env, task->owner_id, "task_due", on_record ? task->resource_type : "task",
                on_record ? task->resource_id : task->id, message, err);
}

static int tell_lead_stale(crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                           crm_err_t *err)
{
    const Crm__LeadStale *ls = (const Crm__LeadStale *)payload;
    if (!ls->has_owner_id || ls->owner_id <= 0 || !ls->has_lead_id)
        return CRM_OK;
    char message[512];
    snprintf(message, sizeof message, "Your lead %s has had no activity since %s", ls->name ? ls->name : "",
             ls->last_activity_at ? ls->last_activity_at : "?");
    return tell(tx, env, ls->owner_id, "lead_stale", "lead", ls->lead_id, message, err);
}

/* The webhook events of the batch in hand, in the order they were applied: owned strings. */
typedef struct {
    char **event_ids, **types, **occurred_at, **bodies;
    size_t n, cap;
} webhook_buffer_t;

static void buffer_clear(webhook_buffer_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->event_ids[i]);
        free(b->types[i]);
        free(b->occurred_at[i]);
        free(b->bodies[i]);
    }
    b->n = 0;
}

static int buffer_add(webhook_buffer_t *b, const char *event_id, const char *type, const char *when,
                      char *body, crm_err_t *err)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char ***cols[4] = {&b->event_ids, &b->types, &b->occurred_at, &b->bodies};
        for (int i = 0; i < 4; i++) {
            char **a = realloc(*cols[i], cap * sizeof *a);
            if (!a) {
                free(body);
                return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory buffering a webhook event");
            }
            *cols[i] = a;
        }
        b->cap = cap;
    }
    b->event_ids[b->n] = crm_strdup(event_id);
    b->types[b->n] = crm_strdup(type);
    b->occurred_at[b->n] = crm_strdup(when);
    b->bodies[b->n] = body;
    b->n++;
    return CRM_OK;
}

/* Renders the event's webhook body and buffers it (with its deliveries) for the batch's flush. */
static int to_webhooks(webhook_buffer_t *buf, const Crm__Envelope *env, const ProtobufCMessage *payload,
                       crm_err_t *err)
{
    char when[32];
    crm_time_format(env->has_occurred_at ? env->occurred_at : crm_now_us(), when);
    json_t *data = crm_pbjson_from_message(payload);
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:o}", "id", env->event_id ? env->event_id : "", "type",
                  env->type ? env->type : "", "occurred_at", when, "data", data ? data : json_null());
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot render the webhook body of %s", env->type);
    return buffer_add(buf, env->event_id ? env->event_id : "", env->type ? env->type : "", when, text, err);
}

/* The inbox's flush: the batch's webhook events and their deliveries in one statement. */
static int flush_webhooks(void *arg, crm_db_t *tx, crm_err_t *err)
{
    webhook_buffer_t *buf = arg;
    if (buf->n == 0)
        return CRM_OK;
    int64_t queued = 0;
    int rc = notify_store_webhook_events(tx, buf->n, buf->event_ids, buf->types, buf->occurred_at,
                                         buf->bodies, &queued, err);
    if (rc == CRM_OK && queued > 0)
        crm_log_info(NULL, "webhook.queued", "events=%zu deliveries=%lld", buf->n, (long long)queued);
    buffer_clear(buf);
    return rc;
}

static void discard_webhooks(void *arg)
{
    buffer_clear(arg);
}

typedef int (*notify_fn)(crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                         crm_err_t *err);

typedef struct {
    const char *producer, *type;
    const ProtobufCMessageDescriptor *desc;
    notify_fn tell; /* the in-app / e-mail part, or NULL */
} topic_t;

static int tell_assigned(crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *p, crm_err_t *err)
{
    return on_owner_assigned(NULL, tx, env, p, err);
}

static int tell_stage_changed(crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *p,
                              crm_err_t *err)
{
    return on_deal_stage_changed(NULL, tx, env, p, err);
}

static const topic_t topics[] = {
    {"leads", "lead.created", &crm__lead_event__descriptor, NULL},
    {"leads", "lead.updated", &crm__lead_event__descriptor, NULL},
    {"leads", "lead.status_changed", &crm__lead_status_changed__descriptor, NULL},
    {"leads", "lead.converted", &crm__lead_converted__descriptor, NULL},
    {"leads", "task.due", &crm__task_event__descriptor, tell_task_due},
    {"leads", "lead.stale", &crm__lead_stale__descriptor, tell_lead_stale},
    {"leads", "contact.created", &crm__contact_event__descriptor, NULL},
    {"leads", "contact.updated", &crm__contact_event__descriptor, NULL},
    {"deals", "deal.created", &crm__deal_event__descriptor, NULL},
    {"deals", "deal.updated", &crm__deal_event__descriptor, NULL},
    {"deals", "deal.stage_changed", &crm__deal_stage_changed__descriptor, tell_stage_changed},
    {"deals", "deal.won", &crm__deal_event__descriptor, NULL},
    {"deals", "deal.lost", &crm__deal_event__descriptor, NULL},
    {"assign", "owner.assigned", &crm__owner_assigned__descriptor, tell_assigned},
    {"leads", "import.finished", &crm__import_finished__descriptor, tell_import_finished},
    {"deals", "import.finished", &crm__import_finished__descriptor, tell_import_finished},
};
#define NTOPICS (sizeof topics / sizeof topics[0])

/* The handlers' state: the webhook buffer, and each topic bound to it (a handler's arg). */
typedef struct {
    const topic_t *topic;
    webhook_buffer_t *buffer;
} binding_t;

struct notify_consume_t {
    webhook_buffer_t buffer;
    binding_t bindings[NTOPICS];
};

static int on_event(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                    crm_err_t *err)
{
    const binding_t *b = arg;
    if (b->topic->tell && b->topic->tell(tx, env, payload, err))
        return err->code;
    return to_webhooks(b->buffer, env, payload, err);
}

bool notify_topic_known(const char *type)
{
    for (size_t i = 0; i < NTOPICS; i++)
        if (type && strcmp(type, topics[i].type) == 0)
            return true;
    return false;
}

int notify_consume_register(notify_t *self, crm_err_t *err)
{
    const char *producers[] = {"leads", "deals", "assign"};
    for (size_t i = 0; i < 3; i++)
        if (crm_daemon_consume_from(self->daemon, producers[i], err))
            return err->code;
    notify_consume_t *c = calloc(1, sizeof *c);
    if (!c)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    self->consume = c;
    for (size_t i = 0; i < NTOPICS; i++) {
        c->bindings[i] = (binding_t){&topics[i], &c->buffer};
        crm_inbox_on(self->daemon->inbox, topics[i].producer, topics[i].type, topics[i].desc, on_event,
                     &c->bindings[i]);
    }
    crm_inbox_on_flush(self->daemon->inbox, flush_webhooks, discard_webhooks, &c->buffer);
    return CRM_OK;
}

void notify_consume_destroy(notify_consume_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notify_consume_t *c = *self_p;
    *self_p = NULL;
    buffer_clear(&c->buffer);
    free(c->buffer.event_ids);
    free(c->buffer.types);
    free(c->buffer.occurred_at);
    free(c->buffer.bodies);
    free(c);
}

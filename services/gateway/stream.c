/* The Firehose and the event consumer behind it and the Sync API (stream.h): each record event
 * becomes one stream row (with `previous`) and the record's new state, in the inbox's
 * transaction; GET /v3/<resource>/stream reads the rows after a position. The consumer buffers the
 * changes of an inbox batch and writes them in one statement before the batch commits
 * (crm_inbox_on_flush); the stored state of the records the batch's events name is read ahead in
 * one statement (crm_inbox_on_prepare) into the batch's cache, which also keeps the changes made
 * earlier in the batch. */
#include "stream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "activities.pb-c.h"
#include "assign.pb-c.h"
#include "calls.pb-c.h"
#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/util.h"
#include "deals.pb-c.h"
#include "leads.pb-c.h"
#include "retention.h"
#include "routes.h"
#include "sell.h"
#include "store_stream.h"

#define FIREHOSE_DEFAULT_LIMIT 25
#define FIREHOSE_MAX_LIMIT 100

/* A record's state in the batch in hand: as read ahead, or as changed earlier (not written yet). */
typedef struct {
    const char *resource; /* NULL: a free slot */
    int64_t id;
    bool found; /* false: never seen */
    int revision;
    bool deleted;
    int64_t owner_id;
    char *data;
} cached_t;

/* The changes of the batch in hand (strings owned), and the records they changed. Used by the
 * inbox's thread only. */
typedef struct {
    gw_stream_change_t *changes;
    size_t n, cap;
    cached_t *slots; /* open addressing, a power of two, at most half full */
    size_t nslots, used;
    bool locked; /* the stream's advisory lock is held by the transaction in hand */
} batch_t;

typedef struct topic_t topic_t;

/* A topic's handler argument. */
typedef struct {
    const topic_t *topic;
    batch_t *batch;
} binding_t;

struct gw_stream_t {
    gw_t *gw;
    batch_t batch;
    binding_t *bindings;
    long retention_s;
    long prune_interval_ms;
    pthread_t thread;
    bool running;
    bool stopping;
    pthread_mutex_t mu;
    pthread_cond_t cond;
};

/* The events that carry a record: the payload's field `field` is the record after the change.
 * Who may see the record on a sales token's Sync device: the user in the record's key `owner`, or
 * the one in the payload's int64 field `event_owner` (orders and line items: their deal's owner);
 * neither: everyone (users, products). */
struct topic_t {
    const char *producer, *topic;
    const ProtobufCMessageDescriptor *desc;
    const char *field;    /* the record's field in the payload (NULL: the payload is the record) */
    const char *resource; /* Sell singular name */
    const char *owner;
    const char *event_owner;
};

#define OWNED(producer, topic, desc, field, resource)                                                        \
    {                                                                                                        \
        producer, topic, desc, field, resource, "owner_id", NULL                                             \
    }

static const topic_t topics[] = {
    OWNED("leads", "lead.created", &crm__lead_event__descriptor, "lead", "lead"),
    OWNED("leads", "lead.updated", &crm__lead_event__descriptor, "lead", "lead"),
    OWNED("leads", "lead.status_changed", &crm__lead_status_changed__descriptor, "lead", "lead"),
    OWNED("leads", "lead.converted", &crm__lead_converted__descriptor, "lead", "lead"),
    OWNED("leads", "contact.created", &crm__contact_event__descriptor, "contact", "contact"),
    OWNED("leads", "contact.updated", &crm__contact_event__descriptor, "contact", "contact"),
    OWNED("leads", "lead.deleted", &crm__lead_event__descriptor, "lead", "lead"),
    OWNED("leads", "contact.deleted", &crm__contact_event__descriptor, "contact", "contact"),
    {"leads", "note.created", &crm__note_event__descriptor, "note", "note", "creator_id", NULL},
    {"leads", "note.updated", &crm__note_event__descriptor, "note", "note", "creator_id", NULL},
    {"leads", "note.deleted", &crm__note_event__descriptor, "note", "note", "creator_id", NULL},
    OWNED("leads", "task.created", &crm__task_event__descriptor, "task", "task"),
    OWNED("leads", "task.updated", &crm__task_event__descriptor, "task", "task"),
    OWNED("leads", "task.deleted", &crm__task_event__descriptor, "task", "task"),
    OWNED("leads", "task.due", &crm__task_event__descriptor, "task", "task"),
    OWNED("deals", "deal.created", &crm__deal_event__descriptor, "deal", "deal"),
    OWNED("deals", "deal.updated", &crm__deal_event__descriptor, "deal", "deal"),
    OWNED("deals", "deal.stage_changed", &crm__deal_stage_changed__descriptor, "deal", "deal"),
    OWNED("deals", "deal.won", &crm__deal_event__descriptor, "deal", "deal"),
    OWNED("deals", "deal.lost", &crm__deal_event__descriptor, "deal", "deal"),
    OWNED("deals", "deal.deleted", &crm__deal_event__descriptor, "deal", "deal"),
    {"assign", "user.created", &crm__user__descriptor, NULL, "user", NULL, NULL},
    {"assign", "user.updated", &crm__user__descriptor, NULL, "user", NULL, NULL},
    {"leads", "call.created", &crm__call_event__descriptor, "call", "call", "user_id", NULL},
    {"leads", "call.updated", &crm__call_event__descriptor, "call", "call", "user_id", NULL},
    {"leads", "call.deleted", &crm__call_event__descriptor, "call", "call", "user_id", NULL},
    {"deals", "product.created", &crm__product_event__descriptor, "product", "product", NULL, NULL},
    {"deals", "product.updated", &crm__product_event__descriptor, "product", "product", NULL, NULL},
    {"deals", "product.deleted", &crm__product_event__descriptor, "product", "product", NULL, NULL},
    {"deals", "order.created", &crm__order_event__descriptor, "order", "order", NULL, "deal_owner_id"},
    {"deals", "order.updated", &crm__order_event__descriptor, "order", "order", NULL, "deal_owner_id"},
    {"deals", "order.deleted", &crm__order_event__descriptor, "order", "order", NULL, "deal_owner_id"},
    {"deals", "line_item.created", &crm__line_item_event__descriptor, "line_item", "line_item", NULL,
     "deal_owner_id"},
    {"deals", "line_item.deleted", &crm__line_item_event__descriptor, "line_item", "line_item", NULL,
     "deal_owner_id"},
};
#define NTOPICS (sizeof topics / sizeof topics[0])

/* Request-only attributes of records that events may carry: never part of a record's data. */
static const char *const write_only[] = {"assign_pool_id", "pipeline_change", "contact_ids", "update_mask"};

/* ---- pure parts ---------------------------------------------------------------------------- */

json_t *gw_stream_previous(const json_t *old, const json_t *new_)
{
    json_t *prev = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)new_, key, v)
    {
        json_t *o = json_object_get(old, key);
        if (!json_equal(o ? o : json_null(), v))
            json_object_set_new(prev, key, o ? json_incref(o) : json_null());
    }
    json_object_foreach((json_t *)old, key, v)
    {
        if (!json_object_get(new_, key) && !json_is_null(v))
            json_object_set(prev, key, v);
    }
    return prev;
}

bool gw_stream_parse_position(const char *text, int64_t *after, bool *top)
{
    *after = 0;
    *top = false;
    if (!text)
        return false;
    if (strcmp(text, "tail") == 0)
        return true;
    if (strcmp(text, "top") == 0) {
        *top = true;
        return true;
    }
    if (!text[0] || strspn(text, "0123456789") != strlen(text) || strlen(text) > 18)
        return false;
    return crm_parse_i64(text, after) && *after >= 0;
}

/* ---- the consumer -------------------------------------------------------------------------- */

static int64_t json_id(const json_t *data, const char *key)
{
    json_t *v = json_object_get(data, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* The int64 field `name` of a message (0 when unset or not an int64). */
static int64_t message_i64(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (!f || f->type != PROTOBUF_C_TYPE_INT64 || f->label == PROTOBUF_C_LABEL_REPEATED)
        return 0;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        !*(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset))
        return 0;
    return *(const int64_t *)((const char *)m + f->offset);
}

/* ---- the batch: buffered changes and the records they changed ---- */

static size_t slot_of(const batch_t *b, const char *resource, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    for (const char *s = resource; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    size_t i = (size_t)(h ^ (h >> 29)) & (b->nslots - 1);
    while (b->slots[i].resource && (b->slots[i].id != id || strcmp(b->slots[i].resource, resource) != 0))
        i = (i + 1) & (b->nslots - 1);
    return i;
}

static const cached_t *batch_lookup(const batch_t *b, const char *resource, int64_t id)
{
    if (b->used == 0)
        return NULL;
    const cached_t *c = &b->slots[slot_of(b, resource, id)];
    return c->resource ? c : NULL;
}

/* Puts a record's state into the cache (data copied; NULL when !found). An entry already there
 * keeps its key. */
static int batch_put(batch_t *b, const char *resource, int64_t id, bool found, int revision, bool deleted,
                     int64_t owner_id, const char *data, crm_err_t *err)
{
    if (2 * (b->used + 1) > b->nslots) {
        size_t nslots = b->nslots ? 2 * b->nslots : 256;
        cached_t *old = b->slots;
        size_t oldn = b->nslots;
        b->slots = calloc(nslots, sizeof *b->slots);
        if (!b->slots) {
            b->slots = old;
            return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        }
        b->nslots = nslots;
        for (size_t i = 0; i < oldn; i++)
            if (old[i].resource)
                b->slots[slot_of(b, old[i].resource, old[i].id)] = old[i];
        free(old);
    }
    cached_t *s = &b->slots[slot_of(b, resource, id)];
    if (s->resource) {
        free(s->data);
        resource = s->resource;
    } else {
        b->used++;
    }
    int64_t owner = owner_id > 0 ? owner_id : 0; /* as stored: none (NULL) reads back as 0 */
    *s = (cached_t){resource, id, found, revision, deleted, owner, found && data ? crm_strdup(data) : NULL};
    return CRM_OK;
}

/* Buffers a change (its strings copied) and remembers the record's new state. */
static int batch_add(batch_t *b, const gw_stream_change_t *c, crm_err_t *err)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        gw_stream_change_t *a = realloc(b->changes, cap * sizeof *a);
        if (!a)
            return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        b->changes = a;
        b->cap = cap;
    }
    gw_stream_change_t *d = &b->changes[b->n++];
    *d = *c; /* resource, event_type and event_cause are the topics' static strings */
    d->event_id = crm_strdup(c->event_id);
    d->data = crm_strdup(c->data);
    d->previous = crm_strdup(c->previous);
    d->occurred_at = crm_strdup(c->occurred_at);
    return batch_put(b, c->resource, c->record_id, true, c->revision, strcmp(c->event_type, "deleted") == 0,
                     c->owner_id, c->data, err);
}

static void batch_clear_changes(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free((char *)b->changes[i].event_id);
        free((char *)b->changes[i].data);
        free((char *)b->changes[i].previous);
        free((char *)b->changes[i].occurred_at);
    }
    b->n = 0;
}

static void batch_forget(batch_t *b)
{
    for (size_t i = 0; b->used && i < b->nslots; i++)
        if (b->slots[i].resource) {
            free(b->slots[i].data);
            b->slots[i] = (cached_t){0};
        }
    b->used = 0;
}

/* Writes the buffered changes; the stored state is then the truth again (the cache is dropped). */
static int batch_write(batch_t *b, crm_db_t *tx, crm_err_t *err)
{
    int rc = gw_store_stream_append(tx, b->changes, b->n, err);
    if (rc == CRM_OK && b->n)
        crm_log_debug(NULL, "stream.appended", "changes=%zu", b->n);
    batch_clear_changes(b);
    batch_forget(b);
    return rc;
}

/* The inbox's flush: the batch (or, when redone carefully, the event) ends here; the transaction
 * may end next, and the advisory lock with it. */
static int flush_stream(void *arg, crm_db_t *tx, crm_err_t *err)
{
    batch_t *b = arg;
    b->locked = false;
    return batch_write(b, tx, err);
}

/* The inbox's discard: rolled back, nothing buffered or remembered is true any more. */
static void discard_stream(void *arg)
{
    batch_t *b = arg;
    b->locked = false;
    batch_clear_changes(b);
    batch_forget(b);
}

/* The record's state: as read ahead or changed earlier in the batch, else as stored (the first
 * read of a transaction takes the stream's advisory lock). */
static int record_state(batch_t *b, crm_db_t *tx, const char *resource, int64_t id, bool *found,
                        int *revision, bool *deleted, int64_t *owner_id, char **data, crm_err_t *err)
{
    const cached_t *c = batch_lookup(b, resource, id);
    if (c) {
        *found = c->found;
        *revision = c->found ? c->revision : 0;
        *deleted = c->found && c->deleted;
        *owner_id = c->found ? c->owner_id : 0;
        *data = c->found && c->data ? crm_strdup(c->data) : NULL;
        return CRM_OK;
    }
    if (gw_store_stream_record_get(tx, !b->locked, resource, id, found, revision, deleted, owner_id, data,
                                   err))
        return err->code;
    b->locked = true;
    return CRM_OK;
}

/* The record an event of topic t carries (NULL: none). */
static const ProtobufCMessage *event_record(const topic_t *t, const ProtobufCMessage *payload)
{
    const ProtobufCFieldDescriptor *f =
        payload && t->field ? protobuf_c_message_descriptor_get_field_by_name(payload->descriptor, t->field)
                            : NULL;
    return !t->field ? payload
           : f && f->type == PROTOBUF_C_TYPE_MESSAGE
               ? *(ProtobufCMessage *const *)((const char *)payload + f->offset)
               : NULL;
}

/* The inbox's read-ahead: the stored state of the records the events name (those not in the
 * batch's cache yet), in one statement that also takes the stream's advisory lock. */
static int prepare_stream(void *arg, crm_db_t *tx, const Crm__Envelope *const *events, size_t n,
                          crm_err_t *err)
{
    batch_t *b = arg;
    char **resources = malloc(n * sizeof *resources);
    int64_t *ids = malloc(n * sizeof *ids);
    if (!resources || !ids) {
        free(resources);
        free(ids);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    }
    size_t k = 0;
    int rc = CRM_OK;
    for (size_t i = 0; i < n && rc == CRM_OK; i++) {
        const topic_t *t = NULL;
        for (size_t j = 0; j < NTOPICS && !t; j++)
            if (events[i]->type && strcmp(topics[j].topic, events[i]->type) == 0)
                t = &topics[j];
        ProtobufCMessage *m =
            t ? protobuf_c_message_unpack(t->desc, NULL, events[i]->payload.len, events[i]->payload.data)
              : NULL;
        const ProtobufCMessage *rec = m ? event_record(t, m) : NULL;
        int64_t id = rec ? message_i64(rec, "id") : 0;
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        if (id <= 0 || batch_lookup(b, t->resource, id))
            continue; /* not a record's, or known already (also: twice in the batch) */
        resources[k] = (char *)t->resource;
        ids[k++] = id;
        rc = batch_put(b, t->resource, id, false, 0, false, 0, NULL, err); /* never seen, unless stored */
    }
    PGresult *res = rc == CRM_OK && k ? gw_store_stream_records_get(tx, resources, ids, k, err) : NULL;
    if (rc == CRM_OK && k && !res)
        rc = err->code;
    for (int r = 0; res && r < PQntuples(res); r++) {
        if (PQgetisnull(res, r, 0))
            continue;
        int64_t id = crm_db_i64(res, r, 1);
        const cached_t *c = batch_lookup(b, PQgetvalue(res, r, 0), id);
        if (c && (rc = batch_put(b, c->resource, id, true, (int)crm_db_i64(res, r, 2), crm_db_bool(res, r, 4),
                                 PQgetisnull(res, r, 5) ? 0 : crm_db_i64(res, r, 5), PQgetvalue(res, r, 3),
                                 err)) != CRM_OK)
            break;
    }
    if (res) {
        PQclear(res);
        b->locked = true;
    }
    free(resources);
    free(ids);
    return rc;
}

static int on_event(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                    crm_err_t *err)
{
    const binding_t *bd = arg;
    const topic_t *t = bd->topic;
    batch_t *b = bd->batch;
    const ProtobufCMessage *rec = event_record(t, payload);
    if (!rec)
        return CRM_OK; /* an event without its record: nothing to show */
    json_t *data = crm_pbjson_from_message(rec);
    if (!data)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot render the record of %s", t->topic);
    for (size_t i = 0; i < sizeof write_only / sizeof write_only[0]; i++)
        json_object_del(data, write_only[i]);
    int64_t id = json_id(data, "id");
    if (id <= 0) {
        json_decref(data);
        return CRM_OK;
    }
    bool deleting = strstr(t->topic, ".deleted") != NULL, found = false, was_deleted = false;
    int revision = 0;
    int64_t old_owner = 0;
    char *old_text = NULL;
    json_t *prev = NULL;
    char *data_text = NULL, *prev_text = NULL;
    int rc = CRM_OK;
    if (record_state(b, tx, t->resource, id, &found, &revision, &was_deleted, &old_owner, &old_text, err)) {
        rc = err->code;
        goto done;
    }
    bool update = found && !was_deleted;
    /* Deleted: the owner of the last state we have (below); else the one the event names. */
    int64_t owner = t->event_owner ? message_i64(payload, t->event_owner)
                    : t->owner     ? json_id(data, t->owner)
                                   : 0;
    if (deleting) {
        /* The event names the record only: what it was is the last state we have. */
        json_t *old = update ? json_loads(old_text, 0, NULL) : NULL;
        if (!old)
            goto done; /* never seen, or already gone: nothing to show */
        json_decref(data);
        data = old;
        prev = json_object();
        owner = t->owner ? json_id(data, t->owner) : old_owner;
    } else if (update) {
        json_t *old = json_loads(old_text, 0, NULL);
        prev = gw_stream_previous(old, data);
        json_decref(old);
        if (json_object_size(prev) == 0 && owner == old_owner)
            goto done; /* the same state again (task.due, a repeated update): no change to show */
    } else {
        prev = json_object();
    }
    data_text = json_dumps(data, JSON_COMPACT);
    prev_text = json_dumps(prev, JSON_COMPACT);
    if (!data_text || !prev_text) {
        rc = crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        goto done;
    }
    char when[32];
    crm_time_format(env->has_occurred_at ? env->occurred_at : crm_now_us(), when);
    gw_stream_change_t c = {
        .resource = t->resource,
        .record_id = id,
        .event_type = deleting ? "deleted"
                      : update ? "updated"
                               : "created",
        .event_cause = t->topic,
        .event_id = env->event_id ? env->event_id : "",
        .revision = revision + 1,
        .owner_id = owner,
        .data = data_text,
        .previous = prev_text,
        .occurred_at = when,
    };
    rc = batch_add(b, &c, err);
    /* A deal changed owner: its orders and line items follow, after the deal's row and from their
     * stored state, so the batch so far is written first. */
    if (rc == CRM_OK && update && !deleting && owner != old_owner && strcmp(t->resource, "deal") == 0 &&
        (rc = batch_write(b, tx, err)) == CRM_OK)
        rc = gw_store_stream_follow_deal(tx, id, owner, t->topic, c.event_id, when, err);
done:
    free(old_text);
    free(data_text);
    free(prev_text);
    json_decref(prev);
    json_decref(data);
    return rc;
}

/* ---- pruning ------------------------------------------------------------------------------- */

static void prune_once(gw_stream_t *self)
{
    crm_err_t err = {0};
    crm_db_t *db = gw_db_get(self->gw, self->gw->db_wait_ms, &err);
    if (!db)
        return;
    int64_t deleted = 0;
    if (gw_store_stream_prune(db, self->retention_s, &deleted, &err) != CRM_OK) {
        char q[300];
        crm_log_warn(NULL, "stream.prune_failed", "error=%s", crm_log_quote(err.message, q, sizeof q));
    } else if (deleted > 0) {
        crm_log_info(NULL, "stream.pruned", "rows=%lld retention_seconds=%ld", (long long)deleted,
                     self->retention_s);
        crm_metrics_inc(self->gw->metrics, "crm_gateway_stream_pruned_total", "", (double)deleted);
    }
    crm_db_pool_put(self->gw->db, db);
}

static void *prune_run(void *arg)
{
    gw_stream_t *self = arg;
    pthread_mutex_lock(&self->mu);
    while (!self->stopping) {
        pthread_mutex_unlock(&self->mu);
        prune_once(self);
        gw_deliveries_prune(self->gw); /* the delivery archive's retention rides on this thread */
        pthread_mutex_lock(&self->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += self->prune_interval_ms / 1000;
        ts.tv_nsec += (self->prune_interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!self->stopping)
            pthread_cond_timedwait(&self->cond, &self->mu, &ts);
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

gw_stream_t *gw_stream_new(gw_t *gw, crm_err_t *err)
{
    if (!gw->d->inbox) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "the gateway has no inbox for the stream");
        return NULL;
    }
    gw_stream_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->gw = gw;
    self->retention_s = crm_config_int(gw->config, "gateway.stream.retention_seconds", 259200);
    if (self->retention_s < 1)
        self->retention_s = 259200;
    self->prune_interval_ms = crm_config_int(gw->config, "gateway.stream.prune_interval_ms", 60000);
    if (self->prune_interval_ms < 10)
        self->prune_interval_ms = 60000;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cond, NULL);
    const char *producers[] = {"leads", "deals", "assign"};
    for (size_t i = 0; i < 3; i++)
        if (crm_daemon_consume_from(gw->d, producers[i], err) != CRM_OK) {
            gw_stream_destroy(&self);
            return NULL;
        }
    self->bindings = calloc(NTOPICS, sizeof *self->bindings);
    if (!self->bindings) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        gw_stream_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < NTOPICS; i++) {
        self->bindings[i] = (binding_t){&topics[i], &self->batch};
        crm_inbox_on(gw->d->inbox, topics[i].producer, topics[i].topic, topics[i].desc, on_event,
                     &self->bindings[i]);
    }
    crm_inbox_on_flush(gw->d->inbox, flush_stream, discard_stream, &self->batch);
    crm_inbox_on_prepare(gw->d->inbox, prepare_stream, &self->batch);
    crm_metrics_help(gw->metrics, "crm_gateway_stream_pruned_total",
                     "Firehose rows deleted after the retention period");
    crm_metrics_help(
        gw->metrics, "crm_gateway_deliveries_pruned_total",
        "Archived webhook deliveries past gateway.delivery_retention_seconds: accepted ones whose "
        "raw body was dropped, others deleted");
    return self;
}

int gw_stream_start(gw_stream_t *self, crm_err_t *err)
{
    if (self->running)
        return CRM_OK;
    self->stopping = false;
    if (pthread_create(&self->thread, NULL, prune_run, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot start the stream pruning thread");
    self->running = true;
    return CRM_OK;
}

void gw_stream_stop(gw_stream_t *self)
{
    if (!self || !self->running)
        return;
    pthread_mutex_lock(&self->mu);
    self->stopping = true;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mu);
    pthread_join(self->thread, NULL);
    self->running = false;
}

void gw_stream_destroy(gw_stream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_stream_t *self = *self_p;
    gw_stream_stop(self);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mu);
    discard_stream(&self->batch);
    free(self->batch.changes);
    free(self->batch.slots);
    free(self->bindings);
    free(self);
    *self_p = NULL;
}

/* ---- the Firehose -------------------------------------------------------------------------- */

static json_t *parse_or_null(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    return j ? j : json_null();
}

static json_t *firehose_item(const PGresult *res, int r, const char *resource)
{
    json_t *meta = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:I,s:o}", "type", resource, "event_type", crm_db_str(res, r, 1), "event_cause",
        crm_db_str(res, r, 2), "event_id", crm_db_str(res, r, 3), "event_time", crm_db_str(res, r, 7),
        "sequence", (json_int_t)crm_db_i64(res, r, 4), "previous", parse_or_null(crm_db_str(res, r, 6)));
    char pos[24];
    snprintf(pos, sizeof pos, "%lld", crm_db_i64(res, r, 0));
    json_object_set_new(meta, "position", json_string(pos));
    return json_pack("{s:o,s:o}", "data", parse_or_null(crm_db_str(res, r, 5)), "meta", meta);
}

static void firehose(gw_t *gw, gw_request_t *req, gw_response_t *resp, const char *resource)
{
    if (!gw_role_allows(req->role, "manager")) {
        gw_respond_error(resp, 403, "forbidden", "the firehose needs a manager or admin token", NULL, NULL,
                         req->corr);
        return;
    }
    const char *position = NULL;
    long limit = FIREHOSE_DEFAULT_LIMIT;
    for (size_t i = 0; i < req->nparams; i++) {
        const char *k = req->params[i].key, *v = req->params[i].value;
        int64_t n = 0;
        if (strcmp(k, "position") == 0) {
            position = v;
        } else if (strcmp(k, "limit") == 0) {
            if (!crm_parse_i64(v, &n) || n < 1 || n > FIREHOSE_MAX_LIMIT) {
                char d[160];
                snprintf(d, sizeof d, "limit must be between 1 and %d, given: %.40s", FIREHOSE_MAX_LIMIT, v);
                gw_respond_error(resp, 400, "invalid_param", d, NULL, NULL, req->corr);
                return;
            }
            limit = (long)n;
        } else {
            char d[160];
            snprintf(d, sizeof d, "unknown query parameter: %.100s", k);
            gw_respond_error(resp, 400, "invalid_param", d, NULL, NULL, req->corr);
            return;
        }
    }
    int64_t after = 0;
    bool top = false;
    if (!position || !gw_stream_parse_position(position, &after, &top)) {
        char d[200];
        snprintf(d, sizeof d,
                 "position must be top, tail or a position from a previous reply (a non-negative integer), "
                 "given: %.40s",
                 position ? position : "(none)");
        gw_respond_error(resp, 400, "invalid_param", d, NULL, NULL, req->corr);
        return;
    }
    crm_err_t err = {0};
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_err(resp, &err, resource, req->corr);
        return;
    }
    json_t *items = json_array();
    int64_t next = after;
    bool at_top = true;
    if (top) {
        if (gw_store_stream_top(db, &next, &err) != CRM_OK)
            goto failed;
    } else {
        PGresult *res = gw_store_stream_page(db, resource, after, (int)limit + 1, &err);
        if (!res)
            goto failed;
        int n = PQntuples(res);
        at_top = n <= limit;
        for (int r = 0; r < n && r < limit; r++) {
            json_array_append_new(items, firehose_item(res, r, resource));
            next = crm_db_i64(res, r, 0);
        }
        PQclear(res);
    }
    crm_db_pool_put(gw->db, db);
    char pos[24];
    snprintf(pos, sizeof pos, "%lld", (long long)next);
    json_t *body = json_pack("{s:o,s:{s:s,s:I,s:s,s:b}}", "items", items, "meta", "type", "collection",
                             "count", (json_int_t)json_array_size(items), "position", pos, "top", at_top);
    gw_respond_json(resp, 200, body);
    return;
failed:
    crm_db_pool_put(gw->db, db);
    json_decref(items);
    gw_respond_err(resp, &err, resource, req->corr);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

bool gw_stream_path(const char *path)
{
    return path && (strncmp(path, "/v3/", 4) == 0 || strncmp(path, "/v2/sync/", 9) == 0);
}

/* "/v2/sync/<session>/queues/main" → session (into out); false for any other path. */
static bool queue_path(const char *path, char out[64])
{
    const char *p = path + strlen("/v2/sync/");
    const char *slash = strchr(p, '/');
    if (!slash || slash == p || (size_t)(slash - p) >= 64 || strcmp(slash, "/queues/main") != 0)
        return false;
    memcpy(out, p, (size_t)(slash - p));
    out[slash - p] = '\0';
    return true;
}

void gw_stream_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    static const struct {
        const char *path, *resource;
    } streams[] = {
        {"/v3/leads/stream", "lead"},
        {"/v3/contacts/stream", "contact"},
        {"/v3/deals/stream", "deal"},
    };
    const char *method = req->method ? req->method : "";
    bool is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++) {
        if (strcmp(req->path, streams[i].path) != 0)
            continue;
        resp->route = streams[i].path;
        if (!is_get)
            gw_respond_error(resp, 405, "method_not_allowed", "this path does not take that method", NULL,
                             NULL, req->corr);
        else
            firehose(gw, req, resp, streams[i].resource);
        return;
    }
    char session[64];
    if (strcmp(req->path, "/v2/sync/start") == 0 || strcmp(req->path, "/v2/sync/ack") == 0) {
        bool start = strcmp(req->path, "/v2/sync/start") == 0;
        resp->route = start ? "/v2/sync/start" : "/v2/sync/ack";
        if (!is_post)
            gw_respond_error(resp, 405, "method_not_allowed", "this path does not take that method", NULL,
                             NULL, req->corr);
        else if (start)
            gw_sync_start(gw, req, resp);
        else
            gw_sync_ack(gw, req, resp);
        return;
    }
    if (strncmp(req->path, "/v2/sync/", 9) == 0 && queue_path(req->path, session)) {
        resp->route = "/v2/sync/{session_id}/queues/main";
        if (!is_get)
            gw_respond_error(resp, 405, "method_not_allowed", "this path does not take that method", NULL,
                             NULL, req->corr);
        else
            gw_sync_queue(gw, req, resp, session);
        return;
    }
    gw_respond_error(resp, 404, "incorrect_path", "Requested path was not found.", NULL, NULL, req->corr);
}

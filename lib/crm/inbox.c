/* inbox: one thread per consumer that gathers events from the bus, applies them in seq order per
 * producer with the stored offset advanced in the same transaction (exactly once), and fills gaps,
 * lost tails and start-up backlog with events.replay against the producer (DESIGN §4.2–4.3). */
#include "crm/inbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crm/bus.h"
#include "crm/log.h"
#include "crm/util.h"
#include "rpc.pb-c.h"

#define GATHER_MAX 500        /* messages gathered into one batch */
#define PENDING_MAX 10000     /* events held per producer; beyond, they are left to replay */
#define REPLAY_LIMIT 1000
#define REPLAY_CALLS_PER_TX 5 /* bounds one transaction; the rest follows in the next */
#define REPLAY_TIMEOUT_MS 3000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define SAVEPOINT "crm_inbox_event"

typedef struct {
    char *type;
    const ProtobufCMessageDescriptor *desc;
    crm_event_fn fn;
    void *arg;
} handler_t;

typedef struct {
    char *name;
    crm_rpc_client_t *rpc;
    handler_t *handlers;
    size_t nhandlers;
    Crm__Envelope **pending; /* live events not yet applied, owned */
    size_t npending, cap;
    atomic_ullong offset;    /* the last committed offset seen by this instance */
    uint64_t target;         /* highest seq known to exist (heartbeat, dropped event) */
    bool catch_up;           /* the start-up replay up to the latest is still owed */
    int64_t retry_at_us;
    long backoff_ms;
} producer_t;

/* A consumer's buffered writes (crm_inbox_on_flush). */
typedef struct {
    crm_inbox_flush_fn flush;
    crm_inbox_discard_fn discard;
    void *arg;
} flusher_t;

/* A consumer's reading ahead (crm_inbox_on_prepare). */
typedef struct {
    crm_inbox_prepare_fn prepare;
    void *arg;
} preparer_t;

/* Per-event outcomes of the batch in hand, counted in metrics only once it commits. */
typedef struct {
    char type[96];
    const char *outcome;
} outcome_t;

struct crm_inbox_t {
    void *zctx;
    char *sub_endpoint;
    crm_db_params_t params; /* strings owned */
    crm_outbox_t *outbox;
    crm_metrics_t *metrics;
    crm_db_t *db;
    producer_t *producers;
    size_t nproducers;
    flusher_t *flushers;
    size_t nflushers;
    preparer_t *preparers;
    size_t npreparers;

    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
    bool ready;
    int start_rc;
    crm_err_t start_err;

    outcome_t *outcomes;
    size_t noutcomes, capoutcomes;
    size_t replays; /* replay calls in the batch in hand */
    /* The batch in hand is being redone with a savepoint around each event (one of its events
     * failed). Otherwise events are applied without savepoints: two round trips less per event. */
    bool careful;
    int nice; /* the consumer thread's nice value (crm_inbox_set_nice) */
};

/* Result of applying part of a batch. */
enum {
    STEP_OK = 0,
    STEP_ROLLBACK = 1, /* transient failure: undo the whole batch, back off */
    STEP_STALL = 2,    /* the producer cannot be reached: keep what is done, back off */
    STEP_MORE = 3,     /* this transaction is big enough: keep what is done, go on at once */
    STEP_REDO = 4,     /* an event failed outside a savepoint: undo the batch, redo it carefully */
};

static const char SQL_OFFSET_ENSURE[] =
    "INSERT INTO inbox_offsets (producer, last_seq) VALUES ($1, 0) ON CONFLICT (producer) DO NOTHING";
static const char SQL_OFFSET_GET[] = "SELECT last_seq FROM inbox_offsets WHERE producer = $1";
/* Another instance of this consumer may be applying the same events: the row lock makes them
 * take turns, and each skips what the other already applied (seq <= the locked offset). */
static const char SQL_OFFSET_LOCK[] = "SELECT last_seq FROM inbox_offsets WHERE producer = $1 FOR UPDATE";
static const char SQL_OFFSET_SET[] =
    "UPDATE inbox_offsets SET last_seq = $2::bigint, updated_at = now() WHERE producer = $1";
static const char SQL_DEAD_LETTER[] =
    "INSERT INTO dead_letters (producer, seq, type, event_id, error, payload)"
    " VALUES ($1, $2::bigint, $3, $4, $5, $6::bytea)";

static char *dup_or_null(const char *s) { return s ? crm_strdup(s) : NULL; }

crm_inbox_t *crm_inbox_new(void *zctx, const char *sub_endpoint, const crm_db_params_t *db_params,
                           crm_outbox_t *outbox, crm_metrics_t *metrics, crm_err_t *err) {
    if (!db_params || !sub_endpoint) {
        crm_err_set(err, CRM_EINVALID, NULL, NULL, "inbox: endpoint and database parameters are required");
        return NULL;
    }
    crm_inbox_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "inbox: out of memory");
        return NULL;
    }
    self->zctx = zctx;
    self->sub_endpoint = crm_strdup(sub_endpoint);
    self->params.conninfo = dup_or_null(db_params->conninfo);
    self->params.user = dup_or_null(db_params->user);
    self->params.password = dup_or_null(db_params->password);
    self->params.schema = dup_or_null(db_params->schema);
    self->params.retry_seconds = db_params->retry_seconds;
    self->outbox = outbox;
    self->metrics = metrics;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cond, NULL);
    return self;
}

static producer_t *producer_find(crm_inbox_t *self, const char *name) {
    for (size_t i = 0; name && i < self->nproducers; i++)
        if (strcmp(self->producers[i].name, name) == 0) return &self->producers[i];
    return NULL;
}

static const handler_t *handler_find(const producer_t *p, const char *type) {
    for (size_t i = 0; type && i < p->nhandlers; i++)
        if (strcmp(p->handlers[i].type, type) == 0) return &p->handlers[i];
    return NULL;
}

int crm_inbox_add_producer(crm_inbox_t *self, const char *producer, const char *const *rpc_endpoints, size_t n,
                           crm_err_t *err) {
    if (!self || !producer || !*producer) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "inbox: no producer");
    if (self->running) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "inbox: already started");
    if (producer_find(self, producer)) return CRM_OK;
    crm_rpc_client_t *rpc = crm_rpc_client_new(self->zctx, rpc_endpoints, n, err);
    if (!rpc) return err && err->code ? err->code : CRM_EINTERNAL;
    producer_t *ps = realloc(self->producers, (self->nproducers + 1) * sizeof *ps);
    if (!ps) {
        crm_rpc_client_destroy(&rpc);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "inbox: out of memory");
    }
    self->producers = ps;
    producer_t *p = &ps[self->nproducers++];
    memset(p, 0, sizeof *p);
    p->name = crm_strdup(producer);
    p->rpc = rpc;
    atomic_init(&p->offset, 0);
    p->backoff_ms = BACKOFF_MIN_MS;
    return CRM_OK;
}

void crm_inbox_on(crm_inbox_t *self, const char *producer, const char *type, const ProtobufCMessageDescriptor *desc,
                  crm_event_fn fn, void *arg) {
    if (!self || self->running || !type || !fn) return;
    producer_t *p = producer_find(self, producer);
    if (!p) {
        crm_log_error(NULL, "inbox.unknown_producer", "producer=%s type=%s", producer ? producer : "", type);
        return;
    }
    handler_t *hs = realloc(p->handlers, (p->nhandlers + 1) * sizeof *hs);
    if (!hs) return;
    p->handlers = hs;
    hs[p->nhandlers++] = (handler_t){crm_strdup(type), desc, fn, arg};
}

void crm_inbox_on_flush(crm_inbox_t *self, crm_inbox_flush_fn flush, crm_inbox_discard_fn discard, void *arg) {
    if (!self || self->running || !flush || !discard) return;
    flusher_t *fs = realloc(self->flushers, (self->nflushers + 1) * sizeof *fs);
    if (!fs) return;
    self->flushers = fs;
    fs[self->nflushers++] = (flusher_t){flush, discard, arg};
}

void crm_inbox_on_prepare(crm_inbox_t *self, crm_inbox_prepare_fn prepare, void *arg) {
    if (!self || self->running || !prepare) return;
    preparer_t *ps = realloc(self->preparers, (self->npreparers + 1) * sizeof *ps);
    if (!ps) return;
    self->preparers = ps;
    ps[self->npreparers++] = (preparer_t){prepare, arg};
}

uint64_t crm_inbox_offset(crm_inbox_t *self, const char *producer) {
    producer_t *p = self ? producer_find(self, producer) : NULL;
    return p ? (uint64_t)atomic_load(&p->offset) : 0;
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void label_value(char *out, size_t size, const char *v) {
    size_t w = 0;
    for (const char *s = v ? v : ""; *s && w + 3 < size; s++) {
        if (*s == '"' || *s == '\\' || *s == '\n') out[w++] = '\\';
        out[w++] = *s == '\n' ? 'n' : *s;
    }
    out[w] = 0;
}

static void outcome_note(crm_inbox_t *self, const char *type, const char *outcome) {
    if (self->noutcomes == self->capoutcomes) {
        size_t cap = self->capoutcomes ? self->capoutcomes * 2 : 256;
        outcome_t *o = realloc(self->outcomes, cap * sizeof *o);
        if (!o) return;
        self->outcomes = o;
        self->capoutcomes = cap;
    }
    outcome_t *o = &self->outcomes[self->noutcomes++];
    snprintf(o->type, sizeof o->type, "%s", type ? type : "");
    o->outcome = outcome;
}

static void metrics_commit(crm_inbox_t *self, producer_t *p) {
    if (self->metrics) {
        char t[200], lab[300];
        for (size_t i = 0; i < self->noutcomes; i++) {
            label_value(t, sizeof t, self->outcomes[i].type);
            snprintf(lab, sizeof lab, "type=\"%s\",outcome=\"%s\"", t, self->outcomes[i].outcome);
            crm_metrics_inc(self->metrics, "crm_events_in_total", lab, 1);
        }
        label_value(t, sizeof t, p->name);
        snprintf(lab, sizeof lab, "producer=\"%s\"", t);
        if (self->replays) crm_metrics_inc(self->metrics, "crm_inbox_replays_total", lab, (double)self->replays);
        uint64_t off = atomic_load(&p->offset);
        crm_metrics_set(self->metrics, "crm_inbox_lag", lab, p->target > off ? (double)(p->target - off) : 0);
    }
    self->noutcomes = 0;
    self->replays = 0;
}

/* ---- applying ----------------------------------------------------------------------------- */

/* Drops what the handlers buffered: its transaction (or savepoint) is being rolled back. */
static void discard_buffers(crm_inbox_t *self) {
    for (size_t i = 0; i < self->nflushers; i++) self->flushers[i].discard(self->flushers[i].arg);
}

/* Writes what the handlers buffered, in the open transaction. On failure every buffer is dropped
 * (the caller rolls back what it belongs to). */
static int flush_buffers(crm_inbox_t *self, crm_err_t *err) {
    for (size_t i = 0; i < self->nflushers; i++) {
        int rc = self->flushers[i].flush(self->flushers[i].arg, self->db, err);
        if (rc != CRM_OK) {
            if (err->code == CRM_OK) err->code = rc;
            discard_buffers(self);
            return err->code;
        }
    }
    return CRM_OK;
}

static int dead_letter(crm_inbox_t *self, producer_t *p, const Crm__Envelope *env, const char *why,
                       crm_err_t *err) {
    char seq[32];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)env->seq);
    char *hex = malloc(2 * env->payload.len + 3);
    if (!hex) return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "inbox: out of memory");
    hex[0] = '\\';
    hex[1] = 'x';
    crm_hex_encode(env->payload.data, env->payload.len, hex + 2);
    const char *params[6] = {p->name, seq, env->type ? env->type : "", env->event_id, why, hex};
    int rc = crm_db_run(self->db, "crm_inbox_dead_letter", SQL_DEAD_LETTER, 6, params, err);
    free(hex);
    return rc;
}

/* Lets the consumer read ahead for the events (of n) that are still to be applied: above offset, up
 * to `to` (0: no bound). */
static int prepare_events(crm_inbox_t *self, producer_t *p, Crm__Envelope *const *events, size_t n,
                          uint64_t offset, uint64_t to) {
    if (!self->npreparers || self->careful || n == 0) return STEP_OK;
    const Crm__Envelope **ahead = malloc(n * sizeof *ahead);
    if (!ahead) return STEP_OK; /* only an optimization */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (events[i]->seq > offset && (!to || events[i]->seq <= to) && handler_find(p, events[i]->type))
            ahead[k++] = events[i];
    int st = STEP_OK;
    for (size_t i = 0; k && st == STEP_OK && i < self->npreparers; i++) {
        crm_err_t err = {0};
        if (self->preparers[i].prepare(self->preparers[i].arg, self->db, ahead, k, &err) == CRM_OK) continue;
        char q[600];
        bool transient = crm_err_is_transient(&err) || !crm_db_ok(self->db);
        crm_log_warn(NULL, transient ? "inbox.prepare_retry" : "inbox.redo_batch", "producer=%s prepare_error=%s",
                     p->name, crm_log_quote(err.message, q, sizeof q));
        st = transient ? STEP_ROLLBACK : STEP_REDO;
    }
    free(ahead);
    return st;
}

/* Applies env (whose seq is above *offset) and advances *offset. A transient failure asks the
 * caller to roll the whole batch back. A batch is first applied without savepoints; the first
 * permanent failure undoes it (STEP_REDO) and the caller redoes it carefully, each event in a
 * savepoint: then a permanent failure dead-letters that event alone and moves on, so one bad
 * event never blocks the producer's stream and the others are still applied exactly once. */
static int apply_event(crm_inbox_t *self, producer_t *p, const Crm__Envelope *env, uint64_t *offset) {
    const handler_t *h = handler_find(p, env->type);
    if (!h) { /* not ours (cannot happen with type filters): nothing to do but move past it */
        *offset = env->seq;
        outcome_note(self, env->type, "skipped");
        return STEP_OK;
    }
    crm_err_t err = {0};
    ProtobufCMessage *msg = NULL;
    if (h->desc) {
        msg = protobuf_c_message_unpack(h->desc, NULL, env->has_payload ? env->payload.len : 0,
                                        env->has_payload ? env->payload.data : NULL);
        if (!msg) crm_err_set(&err, CRM_EINVALID, NULL, NULL, "payload does not unpack as %s", h->desc->name);
    }
    if (self->careful && crm_db_savepoint(self->db, SAVEPOINT, &err) != CRM_OK) {
        if (msg) protobuf_c_message_free_unpacked(msg, NULL);
        return STEP_ROLLBACK;
    }
    int rc = err.code;
    if (rc == CRM_OK) {
        rc = h->fn(h->arg, self->db, env, msg, &err);
        if (rc != CRM_OK && err.code == CRM_OK) err.code = rc;
    }
    /* Carefully, each event's buffered rows are written inside its savepoint: a failing row is
     * this event's failure. */
    if (rc == CRM_OK && self->careful) rc = flush_buffers(self, &err);
    if (rc != CRM_OK) discard_buffers(self); /* the event's rows go with its rollback */
    if (msg) protobuf_c_message_free_unpacked(msg, NULL);
    if (rc == CRM_OK) {
        crm_err_t ignored;
        if (self->careful && crm_db_exec_simple(self->db, "RELEASE SAVEPOINT " SAVEPOINT, &ignored) != CRM_OK)
            return STEP_ROLLBACK;
        *offset = env->seq;
        outcome_note(self, env->type, "applied");
        return STEP_OK;
    }
    char q[600];
    if (crm_err_is_transient(&err) || !crm_db_ok(self->db)) {
        crm_log_warn(env->correlation_id, "inbox.retry", "producer=%s type=%s seq=%llu error=%s", p->name, env->type,
                     (unsigned long long)env->seq, crm_log_quote(err.message, q, sizeof q));
        return STEP_ROLLBACK;
    }
    if (!self->careful) {
        crm_log_info(env->correlation_id, "inbox.redo_batch", "producer=%s type=%s seq=%llu error=%s",
                     p->name, env->type, (unsigned long long)env->seq,
                     crm_log_quote(err.message, q, sizeof q));
        return STEP_REDO;
    }
    crm_err_t derr = {0};
    if (crm_db_rollback_to(self->db, SAVEPOINT, &derr) != CRM_OK ||
        dead_letter(self, p, env, err.message[0] ? err.message : crm_code_name(rc), &derr) != CRM_OK)
        return STEP_ROLLBACK;
    crm_log_error(env->correlation_id, "inbox.dead_letter", "producer=%s type=%s seq=%llu error=%s", p->name,
                  env->type, (unsigned long long)env->seq, crm_log_quote(err.message, q, sizeof q));
    *offset = env->seq;
    outcome_note(self, env->type, "dead");
    return STEP_OK;
}

/* Replays from *offset+1 up to `to` (0 = the producer's latest), only the types we handle,
 * applying what comes back. Bounded to REPLAY_CALLS_PER_TX calls; *done tells whether `to`
 * (or the latest) was reached. */
static int replay_range(crm_inbox_t *self, producer_t *p, uint64_t *offset, uint64_t to, bool *done) {
    *done = false;
    char **types = calloc(p->nhandlers ? p->nhandlers : 1, sizeof *types);
    if (!types) return STEP_STALL;
    for (size_t i = 0; i < p->nhandlers; i++) types[i] = p->handlers[i].type;
    int status = STEP_OK;
    for (int call = 0; call < REPLAY_CALLS_PER_TX && status == STEP_OK && !*done; call++) {
        Crm__ReplayRequest req = CRM__REPLAY_REQUEST__INIT;
        req.has_from_seq = 1;
        req.from_seq = *offset + 1;
        req.has_to_seq = 1;
        req.to_seq = to;
        req.n_types = p->nhandlers;
        req.types = types;
        req.has_limit = 1;
        req.limit = REPLAY_LIMIT;
        ProtobufCMessage *out = NULL;
        crm_err_t err = {0};
        crm_rpc_caller_t caller = {0, "system", NULL};
        int rc = crm_rpc_call(p->rpc, "events.replay", &caller, &req.base, &crm__replay_reply__descriptor,
                              REPLAY_TIMEOUT_MS, &out, &err);
        self->replays++;
        uint64_t oldest = 0;
        if (rc != CRM_OK && crm_outbox_replay_pruned(&err, &oldest) && oldest > req.from_seq) {
            /* The producer pruned what we still lacked (its outbox retention is shorter than our
             * outage): those events are gone. Say so loudly, count it, and go on from the oldest
             * retained event (or from `to`: events we hold past it are still applied); every event
             * still retained is applied exactly once as usual. */
            uint64_t upto = to && oldest - 1 > to ? to : oldest - 1;
            crm_log_error(
                NULL, "inbox.replay_pruned",
                "producer=%s wanted_seq=%llu oldest_seq=%llu lost_upto=%llu remedy=\"make the producer's "
                "outbox_retention_seconds longer than the longest consumer outage\"",
                p->name, (unsigned long long)req.from_seq, (unsigned long long)oldest,
                (unsigned long long)upto);
            if (self->metrics) {
                char t[200], lab[300];
                label_value(t, sizeof t, p->name);
                snprintf(lab, sizeof lab, "producer=\"%s\"", t);
                crm_metrics_inc(self->metrics, "crm_inbox_replay_pruned_total", lab, 1);
                crm_metrics_inc(self->metrics, "crm_inbox_replay_pruned_seqs_total", lab,
                                (double)(upto - req.from_seq + 1));
            }
            *offset = upto;
            if (to && *offset >= to)
                *done = true;
            continue;
        }
        if (rc != CRM_OK || !out) {
            char q[600];
            crm_log_warn(NULL, "inbox.replay_failed", "producer=%s from=%llu error=%s", p->name,
                         (unsigned long long)req.from_seq, crm_log_quote(err.message, q, sizeof q));
            if (out) protobuf_c_message_free_unpacked(out, NULL);
            status = STEP_STALL;
            break;
        }
        Crm__ReplayReply *reply = (Crm__ReplayReply *)out;
        uint64_t before = *offset;
        status = prepare_events(self, p, reply->events, reply->n_events, *offset, to);
        for (size_t i = 0; i < reply->n_events && status == STEP_OK; i++) {
            const Crm__Envelope *env = reply->events[i];
            if (env->seq <= *offset) continue;
            if (to && env->seq > to) break;
            status = apply_event(self, p, env, offset);
        }
        if (status == STEP_OK) {
            /* Everything up to through_seq was scanned: the seqs we skipped are other types. */
            uint64_t through = reply->through_seq;
            if (to && through > to) through = to;
            if (through > *offset) *offset = through;
            if (reply->latest_seq > p->target) p->target = reply->latest_seq;
            uint64_t goal = to ? to : reply->latest_seq;
            if (*offset >= goal) {
                *done = true;
            } else if (*offset == before) { /* no progress: the producer cannot give us `to` */
                crm_log_warn(NULL, "inbox.replay_stuck", "producer=%s offset=%llu wanted=%llu latest=%llu", p->name,
                             (unsigned long long)*offset, (unsigned long long)goal,
                             (unsigned long long)reply->latest_seq);
                status = STEP_STALL;
            }
        }
        protobuf_c_message_free_unpacked(out, NULL);
    }
    free(types);
    return status;
}

static int cmp_seq(const void *a, const void *b) {
    uint64_t x = (*(Crm__Envelope *const *)a)->seq, y = (*(Crm__Envelope *const *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Applies the producer's pending events (sorted by seq), filling gaps by replay. */
static int apply_pending(crm_inbox_t *self, producer_t *p, uint64_t *offset) {
    int prep = prepare_events(self, p, p->pending, p->npending, *offset, 0);
    if (prep != STEP_OK) return prep;
    for (size_t i = 0; i < p->npending; i++) {
        const Crm__Envelope *env = p->pending[i];
        if (env->seq <= *offset) {
            outcome_note(self, env->type, "skipped");
            continue;
        }
        if (env->seq > *offset + 1) { /* a gap: mostly types we do not take, sometimes a loss */
            bool done = false;
            int st = replay_range(self, p, offset, env->seq - 1, &done);
            if (st != STEP_OK) return st;
            if (!done) return STEP_MORE; /* the rest in the next transaction */
            if (env->seq <= *offset) continue;
        }
        int st = apply_event(self, p, env, offset);
        if (st != STEP_OK) return st;
    }
    return STEP_OK;
}

static void pending_drop_upto(producer_t *p, uint64_t offset) {
    size_t w = 0;
    for (size_t i = 0; i < p->npending; i++) {
        if (p->pending[i]->seq <= offset)
            crm__envelope__free_unpacked(p->pending[i], NULL);
        else
            p->pending[w++] = p->pending[i];
    }
    p->npending = w;
}

static void backoff(producer_t *p) {
    p->retry_at_us = crm_mono_us() + p->backoff_ms * 1000;
    p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

static bool has_work(const producer_t *p) {
    return p->npending > 0 || p->catch_up || p->target > atomic_load(&p->offset);
}

/* One transaction for one producer: lock the offset, apply what is pending and catch up on
 * what is known to exist, store the offset, commit. */
static void process_producer(crm_inbox_t *self, producer_t *p) {
    crm_err_t err = {0};
    const char *name[1] = {p->name};
    uint64_t appended = crm_outbox_appended(self->outbox);
    self->careful = false;
redo:
    self->noutcomes = 0;
    self->replays = 0;
    if (p->npending > 1) qsort(p->pending, p->npending, sizeof *p->pending, cmp_seq);
    if (crm_db_begin(self->db, &err) != CRM_OK) goto transient;
    PGresult *res = crm_db_exec(self->db, "crm_inbox_offset_lock", SQL_OFFSET_LOCK, 1, name, &err);
    if (!res || PQntuples(res) != 1) {
        if (res) PQclear(res);
        crm_db_rollback(self->db);
        /* the row went missing (it is made at start): make it again and retry */
        crm_db_run(self->db, "crm_inbox_offset_ensure", SQL_OFFSET_ENSURE, 1, name, &err);
        goto transient;
    }
    uint64_t stored = (uint64_t)crm_db_i64(res, 0, 0);
    PQclear(res);
    uint64_t offset = stored;
    int st = apply_pending(self, p, &offset);
    bool caught_up = false;
    if (st == STEP_OK && (p->catch_up || p->target > offset)) {
        bool done = false;
        st = replay_range(self, p, &offset, p->catch_up ? 0 : p->target, &done);
        caught_up = st == STEP_OK && done;
    }
    if (st == STEP_ROLLBACK) goto transient;
    if (st != STEP_REDO && flush_buffers(self, &err) != CRM_OK) {
        /* the batch's buffered rows: a transient failure retries the batch, another one redoes
         * it event by event, each event's rows flushed in its savepoint */
        if (crm_err_is_transient(&err) || !crm_db_ok(self->db) || self->careful) goto transient;
        char q[600];
        crm_log_info(NULL, "inbox.redo_batch", "producer=%s flush_error=%s", p->name,
                     crm_log_quote(err.message, q, sizeof q));
        err = (crm_err_t){0};
        st = STEP_REDO;
    }
    if (st == STEP_REDO) { /* nothing of this try is kept; the pending events are all still here */
        crm_db_rollback(self->db);
        discard_buffers(self);
        self->careful = true;
        goto redo;
    }
    if (offset != stored) {
        char off_s[32];
        snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)offset);
        const char *params[2] = {p->name, off_s};
        if (crm_db_run(self->db, "crm_inbox_offset_set", SQL_OFFSET_SET, 2, params, &err) != CRM_OK) goto transient;
    }
    if (crm_db_commit(self->db, &err) != CRM_OK) goto transient;
    atomic_store(&p->offset, offset);
    if (caught_up) p->catch_up = false;
    pending_drop_upto(p, offset);
    bool applied = false;
    for (size_t i = 0; i < self->noutcomes && !applied; i++) applied = strcmp(self->outcomes[i].outcome, "skipped");
    metrics_commit(self, p);
    /* Handlers appended events: let our relay publish them now (not when none did: a relay
     * round that finds nothing costs four statements). */
    if (applied && self->outbox && crm_outbox_appended(self->outbox) != appended)
        crm_outbox_kick(self->outbox);
    if (st == STEP_STALL) {
        backoff(p);
    } else {
        p->backoff_ms = BACKOFF_MIN_MS;
        p->retry_at_us = 0;
    }
    return;
transient:
    /* Nothing of this batch is kept; the pending events stay and are tried again. */
    crm_db_rollback(self->db);
    discard_buffers(self);
    self->noutcomes = 0;
    self->replays = 0;
    if (err.message[0]) {
        char q[600];
        crm_log_warn(NULL, "inbox.batch_failed", "producer=%s error=%s", p->name,
                     crm_log_quote(err.message, q, sizeof q));
    }
    backoff(p);
}

/* ---- the thread --------------------------------------------------------------------------- */

static void take_message(crm_inbox_t *self, crm_bus_msg_t *msg) {
    if (msg->heartbeat) {
        producer_t *p = producer_find(self, msg->heartbeat->producer);
        if (p && msg->heartbeat->latest_seq > p->target) p->target = msg->heartbeat->latest_seq;
        return;
    }
    Crm__Envelope *env = msg->envelope;
    if (!env) return;
    producer_t *p = producer_find(self, env->producer);
    if (!p || !handler_find(p, env->type) || !env->has_seq || env->seq == 0) return;
    if (env->seq <= atomic_load(&p->offset)) {
        outcome_note(self, env->type, "skipped");
        return;
    }
    if (p->npending >= PENDING_MAX) { /* too far behind: let replay fetch it later */
        if (env->seq > p->target) p->target = env->seq;
        return;
    }
    if (p->npending == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        Crm__Envelope **a = realloc(p->pending, cap * sizeof *a);
        if (!a) {
            if (env->seq > p->target) p->target = env->seq;
            return;
        }
        p->pending = a;
        p->cap = cap;
    }
    p->pending[p->npending++] = env;
    msg->envelope = NULL; /* now owned by pending */
}

static bool should_stop(crm_inbox_t *self) {
    pthread_mutex_lock(&self->mu);
    bool s = self->stopping;
    pthread_mutex_unlock(&self->mu);
    return s;
}

/* How long the gather may wait for a first message: not at all when a producer can be
 * processed now, else until the earliest retry (at most 100 ms, to notice stop). */
static int gather_timeout_ms(crm_inbox_t *self) {
    int64_t now = crm_mono_us();
    int64_t wait_us = 100000;
    for (size_t i = 0; i < self->nproducers; i++) {
        producer_t *p = &self->producers[i];
        if (!has_work(p)) continue;
        int64_t d = p->retry_at_us - now;
        if (d <= 0) return 0;
        if (d < wait_us) wait_us = d;
    }
    return (int)(wait_us / 1000);
}

static void gather(crm_inbox_t *self, crm_bus_sub_t *sub) {
    int timeout = gather_timeout_ms(self);
    for (int n = 0; n < GATHER_MAX; n++) {
        crm_bus_msg_t msg = {0};
        int rc = crm_bus_recv(sub, n == 0 ? timeout : 0, &msg);
        if (rc <= 0) break;
        take_message(self, &msg);
        crm_bus_msg_clear(&msg);
    }
    /* skips of live duplicates are counted here, outside any batch */
    if (self->noutcomes && self->metrics) {
        char t[200], lab[300];
        for (size_t i = 0; i < self->noutcomes; i++) {
            label_value(t, sizeof t, self->outcomes[i].type);
            snprintf(lab, sizeof lab, "type=\"%s\",outcome=\"skipped\"", t);
            crm_metrics_inc(self->metrics, "crm_events_in_total", lab, 1);
        }
    }
    self->noutcomes = 0;
}

static int load_offsets(crm_inbox_t *self, crm_err_t *err) {
    for (size_t i = 0; i < self->nproducers; i++) {
        producer_t *p = &self->producers[i];
        const char *name[1] = {p->name};
        if (crm_db_run(self->db, "crm_inbox_offset_ensure", SQL_OFFSET_ENSURE, 1, name, err) != CRM_OK)
            return err->code;
        PGresult *res = crm_db_exec(self->db, "crm_inbox_offset_get", SQL_OFFSET_GET, 1, name, err);
        if (!res) return err->code;
        atomic_store(&p->offset, (unsigned long long)crm_db_i64(res, 0, 0));
        PQclear(res);
        p->catch_up = true; /* at start, replay from the stored offset to catch up */
    }
    return CRM_OK;
}

static void *inbox_run(void *arg) {
    crm_inbox_t *self = arg;
    crm_err_t err = {0};
    /* Linux: a thread's nice value is its own (setpriority on its thread id). */
    if (self->nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), self->nice) != 0)
        crm_log_warn(NULL, "inbox.nice_failed", "nice=%d", self->nice);
    crm_bus_sub_t *sub = crm_bus_sub_new(self->zctx, self->sub_endpoint, &err);
    int rc = sub ? CRM_OK : (err.code ? err.code : CRM_EINTERNAL);
    for (size_t i = 0; rc == CRM_OK && i < self->nproducers; i++)
        for (size_t j = 0; rc == CRM_OK && j < self->producers[i].nhandlers; j++)
            rc = crm_bus_subscribe(sub, self->producers[i].handlers[j].type, &err);
    if (rc == CRM_OK) rc = crm_bus_subscribe(sub, CRM_BUS_HEARTBEAT_TOPIC, &err);
    pthread_mutex_lock(&self->mu);
    self->ready = true;
    self->start_rc = rc;
    self->start_err = err;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mu);
    if (rc != CRM_OK) {
        crm_bus_sub_destroy(&sub);
        return NULL;
    }
    while (!should_stop(self)) {
        gather(self, sub);
        if (crm_db_check(self->db, &err) != CRM_OK) {
            crm_sleep_ms(200);
            continue;
        }
        int64_t now = crm_mono_us();
        for (size_t i = 0; i < self->nproducers; i++) {
            producer_t *p = &self->producers[i];
            if (has_work(p) && now >= p->retry_at_us) process_producer(self, p);
        }
    }
    crm_bus_sub_destroy(&sub);
    return NULL;
}

int crm_inbox_start(crm_inbox_t *self, crm_err_t *err) {
    if (!self) return crm_err_set(err, CRM_EINVALID, NULL, NULL, "inbox: no inbox");
    if (self->running) return CRM_OK;
    if (!self->db) {
        self->db = crm_db_connect(&self->params, err);
        if (!self->db) return err && err->code ? err->code : CRM_EUNAVAILABLE;
    }
    crm_err_t local = {0};
    if (!err) err = &local;
    int rc = load_offsets(self, err);
    if (rc != CRM_OK) return rc;
    self->ready = false;
    self->stopping = false;
    if (pthread_create(&self->thread, NULL, inbox_run, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "inbox: cannot start the thread");
    pthread_mutex_lock(&self->mu);
    while (!self->ready) pthread_cond_wait(&self->cond, &self->mu);
    rc = self->start_rc;
    pthread_mutex_unlock(&self->mu);
    if (rc != CRM_OK) {
        pthread_join(self->thread, NULL);
        *err = self->start_err;
        return rc;
    }
    self->running = true;
    crm_log_info(NULL, "inbox.started", "producers=%zu", self->nproducers);
    return CRM_OK;
}

void crm_inbox_set_nice(crm_inbox_t *self, int nice) {
    self->nice = nice < 0 ? 0 : (nice > 19 ? 19 : nice);
}

void crm_inbox_stop(crm_inbox_t *self) {
    if (!self || !self->running) return;
    pthread_mutex_lock(&self->mu);
    self->stopping = true;
    pthread_mutex_unlock(&self->mu);
    pthread_join(self->thread, NULL);
    self->running = false;
}

void crm_inbox_destroy(crm_inbox_t **self_p) {
    if (!self_p || !*self_p) return;
    crm_inbox_t *self = *self_p;
    *self_p = NULL;
    crm_inbox_stop(self);
    for (size_t i = 0; i < self->nproducers; i++) {
        producer_t *p = &self->producers[i];
        for (size_t j = 0; j < p->npending; j++) crm__envelope__free_unpacked(p->pending[j], NULL);
        free(p->pending);
        for (size_t j = 0; j < p->nhandlers; j++) free(p->handlers[j].type);
        free(p->handlers);
        crm_rpc_client_destroy(&p->rpc);
        free(p->name);
    }
    free(self->producers);
    free(self->flushers);
    free(self->preparers);
    free(self->outcomes);
    crm_db_destroy(&self->db);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mu);
    free(self->sub_endpoint);
    free((char *)self->params.conninfo);
    free((char *)self->params.user);
    free((char *)self->params.password);
    free((char *)self->params.schema);
    free(self);
}

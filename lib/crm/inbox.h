/* The inbox (DESIGN §4.2–4.3): a consumer subscribes to event types, applies each event and
 * advances its stored offset for the producer (<schema>.inbox_offsets) in one transaction, so
 * an event is applied exactly once. An event with seq <= offset is skipped. A gap (seq >
 * offset + 1), a heartbeat ahead of the offset, or start-up triggers events.replay against the
 * producer, which fills the gap from its outbox. Events are applied in seq order per producer.
 *
 * Several instances of a consumer may run: the offset row is locked for the transaction, so
 * only one applies a given event. */
#ifndef CRM_INBOX_H
#define CRM_INBOX_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "crm/err.h"
#include "crm/db.h"
#include "crm/metrics.h"
#include "crm/outbox.h"
#include "crm/rpc.h"
#include "envelope.pb-c.h"

typedef struct crm_inbox_t crm_inbox_t;

/* Applies one event inside the open transaction tx. payload is the Envelope's payload unpacked
 * with the descriptor given to crm_inbox_on. Return CRM_OK when applied (or deliberately
 * ignored). A transient failure (crm_err_is_transient) rolls back and retries later; any other
 * failure is permanent for this event: it is recorded in dead_letters and skipped. */
typedef int (*crm_event_fn)(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                            crm_err_t *err);

/* outbox: this service's own outbox, kicked after each commit (handlers may append events);
 * may be NULL. The inbox opens its own database connection and SUB socket. */
crm_inbox_t *crm_inbox_new(void *zctx, const char *sub_endpoint, const crm_db_params_t *db_params,
                           crm_outbox_t *outbox, crm_metrics_t *metrics, crm_err_t *err);
/* Where to ask producer for replays (its RPC endpoints). */
int crm_inbox_add_producer(crm_inbox_t *self, const char *producer, const char *const *rpc_endpoints, size_t n,
                           crm_err_t *err);
/* Handle events of `type` from `producer` (which must have been added). */
void crm_inbox_on(crm_inbox_t *self, const char *producer, const char *type, const ProtobufCMessageDescriptor *desc,
                  crm_event_fn fn, void *arg);
/* Buffered writes. A handler may buffer rows instead of writing them, for flush to write them all
 * in one statement: flush(arg, tx, err) runs in the batch's transaction after its events were
 * applied and before the offset is stored, and must empty the buffer. When a batch is redone with
 * a savepoint per event (one of its events failed permanently), flush runs after each event inside
 * that event's savepoint, so a row that fails is dead-lettered with its event alone. A failing
 * flush is handled as the failure of the events it wrote (transient: the batch is retried;
 * otherwise: redone event by event). discard(arg) must drop the buffer without writing it: it is
 * called whenever the transaction that the buffered rows belong to is rolled back (wholly, or to
 * the event's savepoint), so that nothing buffered survives a rollback. Before crm_inbox_start;
 * called on the consumer thread only. */
typedef int (*crm_inbox_flush_fn)(void *arg, crm_db_t *tx, crm_err_t *err);
typedef void (*crm_inbox_discard_fn)(void *arg);
void crm_inbox_on_flush(crm_inbox_t *self, crm_inbox_flush_fn flush, crm_inbox_discard_fn discard, void *arg);
/* Reading ahead. Before a batch's events are applied (the pending ones, then each page a replay
 * brings), prepare(arg, tx, events, n, err) gets those not applied yet that have a handler, in the
 * batch's transaction, so that it may read in one statement what their handlers will need. Not
 * called when a batch is redone event by event. A transient failure rolls the batch back (retried
 * later); another one redoes it event by event, without prepare. Before crm_inbox_start. */
typedef int (*crm_inbox_prepare_fn)(void *arg, crm_db_t *tx, const Crm__Envelope *const *events, size_t n,
                                    crm_err_t *err);
void crm_inbox_on_prepare(crm_inbox_t *self, crm_inbox_prepare_fn prepare, void *arg);
/* Before crm_inbox_start: the consumer thread runs at this nice value (0..19; 0 = as the
 * daemon), so that applying events yields the CPU to the daemon's request threads when the
 * machine is saturated. */
void crm_inbox_set_nice(crm_inbox_t *self, int nice);
int crm_inbox_start(crm_inbox_t *self, crm_err_t *err);
/* Finishes the batch in hand, then stops. */
void crm_inbox_stop(crm_inbox_t *self);
void crm_inbox_destroy(crm_inbox_t **self_p);
/* The stored offset for producer as last seen by this instance. */
uint64_t crm_inbox_offset(crm_inbox_t *self, const char *producer);

#endif

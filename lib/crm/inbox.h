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

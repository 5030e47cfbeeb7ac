/* The outbox (DESIGN §4.1): a service writes each event into <schema>.outbox in the same
 * transaction as the state change it announces. A relay thread gives committed rows their
 * gap-free per-producer seq (one relay at a time across instances, under an advisory lock),
 * publishes them in seq order, and publishes a heartbeat with the latest seq every second.
 * events.replay serves consumers that missed something. */
#ifndef CRM_OUTBOX_H
#define CRM_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "crm/err.h"
#include "crm/db.h"
#include "crm/metrics.h"
#include "crm/rpc.h"

typedef struct crm_outbox_t crm_outbox_t;

/* producer: the service name written into every Envelope. The relay opens its own database
 * connection with db_params and its own PUB socket to pub_endpoint. */
crm_outbox_t *crm_outbox_new(const char *producer, void *zctx, const char *pub_endpoint,
                             const crm_db_params_t *db_params, crm_metrics_t *metrics, crm_err_t *err);
/* Appends an event inside the caller's open transaction tx. The event becomes visible to the
 * relay only when tx commits; call crm_outbox_kick after the commit to publish it at once. */
int crm_outbox_append(crm_outbox_t *self, crm_db_t *tx, const char *type, const char *correlation_id,
                      const ProtobufCMessage *payload, crm_err_t *err);
/* Appends n events (types[i], payloads[i]) at once with COPY, inside tx: for bulk writers. */
int crm_outbox_append_many(crm_outbox_t *self, crm_db_t *tx, const char *const *types, const char *correlation_id,
                           const ProtobufCMessage *const *payloads, size_t n, crm_err_t *err);
void crm_outbox_kick(crm_outbox_t *self);
/* Before crm_outbox_start: the relay deletes published rows that occurred more than retention_s
 * seconds ago (0 keeps every row; the default is 7 days), in batches of at most 1000 rows, a pass
 * every prune_interval_ms (default 60000; a pass goes on while batches come back full). It never
 * deletes a row without a seq (not published yet) nor the newest row. A replay below the oldest
 * retained seq is answered with an error (crm_outbox_replay_pruned). */
void crm_outbox_set_retention(crm_outbox_t *self, long retention_s, long prune_interval_ms);
int crm_outbox_start(crm_outbox_t *self, crm_err_t *err);
/* Sequences and publishes what is committed, then stops the relay. */
void crm_outbox_stop(crm_outbox_t *self);
void crm_outbox_destroy(crm_outbox_t **self_p);
/* Registers "events.replay" (crm.ReplayRequest → crm.ReplayReply) on an RPC server whose
 * workers connect to this producer's schema. */
void crm_outbox_serve_replay(crm_outbox_t *self, crm_rpc_server_t *rpc);
/* The reason of the error events.replay answers when from_seq is below the oldest retained seq
 * (CRM_ECONFLICT, field "/from_seq"; a second field error "/oldest_seq" whose message is the
 * oldest retained seq). */
#define CRM_OUTBOX_PRUNED "pruned"
/* True when err is that answer; *oldest is then the producer's oldest retained seq. */
bool crm_outbox_replay_pruned(const crm_err_t *err, uint64_t *oldest);
/* How many appends (crm_outbox_append, _many) this process has made, committed or not: a
 * caller compares it before and after its transaction to kick the relay only when it appended. */
uint64_t crm_outbox_appended(crm_outbox_t *self);
/* Rows appended but not yet published (for /metrics and tests). */
int64_t crm_outbox_backlog(crm_outbox_t *self);

#endif

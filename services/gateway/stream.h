/* The Firehose (SELL_API §8, GET /v3/{leads|contacts|deals}/stream) and the Sync API (§7,
 * /v2/sync/...), both fed by the records' events: the gateway consumes lead.*, contact.*,
 * deal.* (deleted included), note.created, task.* and user.* through the inbox (exactly once, replayed on gaps and at
 * start) into its own schema — one stream row per change with the `previous` values of the
 * changed top-level fields, and the latest state of each record (store_stream.h). A pruning
 * thread drops stream rows after gateway.stream.retention_seconds (72 h). */
#ifndef GW_STREAM_H
#define GW_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "gateway.h"

typedef struct gw_stream_t gw_stream_t;

/* Registers the event consumers on the daemon's inbox (which must exist) and reads
 * gateway.stream.* settings. */
gw_stream_t *gw_stream_new(gw_t *gw, crm_err_t *err);
/* Starts the pruning thread. */
int gw_stream_start(gw_stream_t *self, crm_err_t *err);
void gw_stream_stop(gw_stream_t *self);
void gw_stream_destroy(gw_stream_t **self_p);

/* True for the paths handled here: /v3/... and /v2/sync/... */
bool gw_stream_path(const char *path);
/* Handles one authenticated request on such a path. */
void gw_stream_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp);

/* ---- pure parts (unit tested) ---- */

/* The old values of the top-level keys whose value differs between old and new (a key missing
 * on one side counts as null): a new object, {} when nothing changed. */
json_t *gw_stream_previous(const json_t *old, const json_t *new_);
/* A firehose position: "tail" → 0 (the oldest kept), "top" → *top = true, a decimal ≥ 0 →
 * that. false for anything else. */
bool gw_stream_parse_position(const char *text, int64_t *after, bool *top);
/* A sync ack key "<Type>-<id>-<revision>" ("Lead-12-3"); resource gets the lower-case singular
 * ("lead"). false when malformed or of an unknown type. */
bool gw_sync_parse_ack_key(const char *key, char resource[16], int64_t *id, int *revision);
/* The ack key of (resource, id, revision) into out. */
void gw_sync_ack_key(const char *resource, int64_t id, int revision, char out[64]);

/* sync.c: the three Sync API routes. */
void gw_sync_start(gw_t *gw, gw_request_t *req, gw_response_t *resp);
void gw_sync_queue(gw_t *gw, gw_request_t *req, gw_response_t *resp, const char *session_id);
void gw_sync_ack(gw_t *gw, gw_request_t *req, gw_response_t *resp);

#endif

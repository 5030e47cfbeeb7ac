/* All SQL of the Firehose and the Sync API (migration 004_stream.sql): the change stream and
 * the latest state of each record, written by the event consumer (stream.c), and the Sync API's
 * devices, sessions and per-device items (sync.c). */
#ifndef GW_STORE_STREAM_H
#define GW_STORE_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include "crm/db.h"
#include "crm/err.h"

/* One change of a record, as stored in stream_events and stream_records. */
typedef struct {
    const char *resource; /* lead | contact | deal | note | task */
    int64_t record_id;
    const char *event_type; /* created | updated | deleted */
    const char *event_cause;
    const char *event_id;
    int revision;
    int64_t owner_id;        /* 0 = none */
    const char *data;        /* JSON text */
    const char *previous;    /* JSON text */
    const char *occurred_at; /* RFC 3339 */
} gw_stream_change_t;

/* Locks and reads the stored state of a record: *found false when never seen; else *revision,
 * *deleted and *data (malloc'd JSON text, caller frees). With lock, first serializes writers of
 * the stream until the transaction ends, so that positions commit in order (a reader at position
 * n never misses a lower one committed later): once per transaction, before its first append. */
int gw_store_stream_record_get(crm_db_t *tx, bool lock, const char *resource, int64_t record_id, bool *found,
                               int *revision, bool *deleted, int64_t *owner_id, char **data, crm_err_t *err);
/* The stored state of the records (resources[i], ids[i]), taking the stream's advisory lock first
 * as gw_store_stream_record_get does, in one statement. Columns: resource, record_id, revision,
 * data, deleted, owner_id; records never seen have no row (one row of NULLs when none is stored).
 * Caller PQclear()s; NULL on error. */
PGresult *gw_store_stream_records_get(crm_db_t *tx, char *const *resources, const int64_t *ids, size_t n,
                                      crm_err_t *err);
/* Appends n changes to the stream in one statement, in that order, and makes each record's last
 * change its state. */
int gw_store_stream_append(crm_db_t *tx, const gw_stream_change_t *c, size_t n, crm_err_t *err);
/* A deal's owner became owner_id: its order and line items (whose visibility is the deal's) get
 * a change row each with that owner (event_type updated, previous {}), so that Sync moves them
 * with the deal. */
int gw_store_stream_follow_deal(crm_db_t *tx, int64_t deal_id, int64_t owner_id, const char *cause,
                                const char *event_id, const char *occurred_at, crm_err_t *err);
/* Firehose page: up to limit rows of resource after position `after`, in order. Columns:
 * position, event_type, event_cause, event_id, revision, data, previous, occurred_at (UTC
 * "…Z"). Caller PQclear()s. */
PGresult *gw_store_stream_page(crm_db_t *db, const char *resource, int64_t after, int limit, crm_err_t *err);
/* The highest position stored (0 when none). */
int gw_store_stream_top(crm_db_t *db, int64_t *position, crm_err_t *err);
/* Deletes stream rows stored more than retention_s seconds ago and sync sessions older than a
 * day; *deleted gets the number of stream rows removed. */
int gw_store_stream_prune(crm_db_t *db, long retention_s, int64_t *deleted, crm_err_t *err);

/* ---- Sync API ---- */

/* The device (user, uuid), made on first use and locked for the transaction. */
int gw_store_sync_device(crm_db_t *tx, int64_t user_id, const char *uuid, int64_t *device_id,
                         int64_t *synced_position, crm_err_t *err);
/* Queues for the device every record changed after synced_position (only those owned by
 * owner_id when > 0, and users and products) and advances the device's synced_position. A record
 * deleted before the device ever had it is queued as already acknowledged (nothing to send). With
 * owner_id > 0, an item of a record that changed to another owner becomes hidden: sent once as
 * deleted, then no more until the record is the user's again. */
int gw_store_sync_enqueue(crm_db_t *tx, int64_t device_id, int64_t synced_position, int64_t owner_id,
                          crm_err_t *err);
/* Takes the user's sync lock (until the transaction ends) and counts the user's active sessions
 * on devices other than device_id (opened less than a day ago, neither drained nor superseded). */
int gw_store_sync_active(crm_db_t *tx, int64_t user_id, int64_t device_id, int64_t *active, crm_err_t *err);
/* Closes the device's earlier sessions and opens session_id over every pending item of the device; *count
 * gets how many (0: no session is stored). */
int gw_store_sync_session_open(crm_db_t *tx, int64_t device_id, const char *session_id, int64_t *count,
                               crm_err_t *err);
/* The device of a session of (user, uuid); CRM_ENOTFOUND when none. */
int gw_store_sync_session_find(crm_db_t *db, const char *session_id, int64_t user_id, const char *uuid,
                               int64_t *device_id, crm_err_t *err);
/* Takes up to limit unsent items of the session, marks them sent, and returns them in order.
 * Columns: resource, record_id, revision, acked_revision, data, deleted. Caller PQclear()s. */
PGresult *gw_store_sync_fetch(crm_db_t *db, int64_t device_id, const char *session_id, int limit,
                              crm_err_t *err);
/* Unsent items left in the session. */
int gw_store_sync_left(crm_db_t *db, int64_t device_id, const char *session_id, int64_t *left,
                       crm_err_t *err);
/* Marks the session drained (no longer active). */
int gw_store_sync_session_close(crm_db_t *db, const char *session_id, crm_err_t *err);
/* Acknowledges items of the device (user, uuid): acks is a JSON array of {"resource": "lead",
 * "record_id": 12, "revision": 3}; each such item counts as delivered up to that revision (never
 * beyond the revision it was sent at). Unknown devices and items are ignored; *applied gets
 * how many items were acknowledged. */
int gw_store_sync_ack(crm_db_t *db, int64_t user_id, const char *uuid, const char *acks, int64_t *applied,
                      crm_err_t *err);

#endif

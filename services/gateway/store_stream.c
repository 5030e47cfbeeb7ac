/* All SQL of the Firehose and the Sync API (see store_stream.h and 004_stream.sql). */
#include "store_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crm/row.h"
#include "crm/util.h"

#define TS_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* The advisory lock key of stream writers ("stream" in ASCII). */
#define STREAM_LOCK_KEY "126943580234093"

static const char *i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

/* Runs a statement whose one row, one column is a bigint. */
static int one_i64(crm_db_t *db, const char *name, const char *sql, int n, const char *const *params,
                   int64_t *out, crm_err_t *err)
{
    PGresult *res = crm_db_exec(db, name, sql, n, params, err);
    if (!res)
        return err->code;
    *out = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    return CRM_OK;
}

int gw_store_stream_record_get(crm_db_t *tx, bool lock, const char *resource, int64_t record_id, bool *found,
                               int *revision, bool *deleted, int64_t *owner_id, char **data, crm_err_t *err)
{
    char id[24];
    const char *params[] = {resource, i64(id, record_id)};
    /* The advisory lock first (the outer side of the nested loop: a subquery with a volatile
     * function is never pulled up, and a join without a clause can only be a nested loop), then
     * the row lock, in the same order as always: no deadlock with another writer. */
    PGresult *res =
        lock ? crm_db_exec(tx, "gw_stream_record_get",
                           "SELECT r.revision, r.data::text, r.deleted, r.owner_id"
                           " FROM (SELECT pg_advisory_xact_lock(" STREAM_LOCK_KEY ") AS locked) l"
                           " LEFT JOIN LATERAL (SELECT revision, data, deleted, owner_id FROM stream_records"
                           " WHERE resource = $1 AND record_id = $2::bigint FOR UPDATE) r ON true",
                           2, params, err)
             : crm_db_exec(tx, "gw_stream_record_read",
                           "SELECT revision, data::text, deleted, owner_id FROM stream_records"
                           " WHERE resource = $1 AND record_id = $2::bigint FOR UPDATE",
                           2, params, err);
    if (!res)
        return err->code;
    *found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
    *revision = *found ? (int)crm_db_i64(res, 0, 0) : 0;
    *data = *found ? crm_strdup(PQgetvalue(res, 0, 1)) : NULL;
    *deleted = *found && crm_db_bool(res, 0, 2);
    *owner_id = *found && !PQgetisnull(res, 0, 3) ? crm_db_i64(res, 0, 3) : 0;
    PQclear(res);
    return CRM_OK;
}

/* A Postgres bigint[] / int[] literal of n values, 0 → NULL when zero_null; malloc'd. */
static char *int_array(size_t n, const int64_t *v, bool zero_null)
{
    char *out = malloc(n * 21 + 3), *w = out;
    if (!out)
        abort();
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        w += zero_null && v[i] == 0 ? sprintf(w, "NULL") : sprintf(w, "%lld", (long long)v[i]);
    }
    strcpy(w, "}");
    return out;
}

PGresult *gw_store_stream_records_get(crm_db_t *tx, char *const *resources, const int64_t *ids, size_t n,
                                      crm_err_t *err)
{
    char *arr[2] = {crm_param_text_array(resources, n), int_array(n, ids, false)};
    const char *params[] = {arr[0], arr[1]};
    /* The advisory lock first, as in gw_stream_record_get; a row of NULLs when none is stored. */
    PGresult *res =
        crm_db_exec(tx, "gw_stream_records_get",
                    "SELECT r.resource, r.record_id, r.revision, r.data::text, r.deleted, r.owner_id"
                    " FROM (SELECT pg_advisory_xact_lock(" STREAM_LOCK_KEY ") AS locked) l"
                    " LEFT JOIN LATERAL (SELECT resource, record_id, revision, data, deleted, owner_id FROM "
                    "stream_records"
                    " WHERE (resource, record_id) IN (SELECT * FROM unnest($1::text[], $2::bigint[])) FOR "
                    "UPDATE) r ON true",
                    2, params, err);
    free(arr[0]);
    free(arr[1]);
    return res;
}

int gw_store_stream_append(crm_db_t *tx, const gw_stream_change_t *c, size_t n, crm_err_t *err)
{
    if (n == 0)
        return CRM_OK;
    char **cols[7];
    int64_t *ids = malloc(n * sizeof *ids), *revs = malloc(n * sizeof *revs),
            *owners = malloc(n * sizeof *owners);
    if (!ids || !revs || !owners)
        abort();
    for (int k = 0; k < 7; k++) {
        cols[k] = malloc(n * sizeof *cols[k]);
        if (!cols[k])
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        const char *v[7] = {c[i].resource, c[i].event_type, c[i].event_cause, c[i].event_id,
                            c[i].data,     c[i].previous,   c[i].occurred_at};
        for (int k = 0; k < 7; k++)
            cols[k][i] = (char *)v[k];
        ids[i] = c[i].record_id;
        revs[i] = c[i].revision;
        owners[i] = c[i].owner_id > 0 ? c[i].owner_id : 0;
    }
    char *arr[10] = {crm_param_text_array(cols[0], n), int_array(n, ids, false),
                     crm_param_text_array(cols[1], n), crm_param_text_array(cols[2], n),
                     crm_param_text_array(cols[3], n), int_array(n, revs, false),
                     int_array(n, owners, true),       crm_param_text_array(cols[4], n),
                     crm_param_text_array(cols[5], n), crm_param_text_array(cols[6], n)};
    const char *params[10];
    for (int k = 0; k < 10; k++)
        params[k] = arr[k];
    /* One statement for the changes of a batch: the stream rows in their order (positions follow
     * it), and each record's state from its last change. */
    int rc = crm_db_run(
        tx, "gw_stream_append",
        "WITH c AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
        " $6::int[], $7::bigint[], $8::jsonb[], $9::jsonb[], $10::timestamptz[]) WITH ORDINALITY"
        " AS u (resource, record_id, event_type, event_cause, event_id, revision, owner_id, data, previous,"
        " occurred_at, ord)),"
        " ev AS (INSERT INTO stream_events (resource, record_id, event_type, event_cause, event_id,"
        " revision, owner_id, data, previous, occurred_at)"
        " SELECT resource, record_id, event_type, event_cause, event_id, revision, owner_id, data, previous,"
        " occurred_at FROM c ORDER BY ord"
        " RETURNING position, resource, record_id, revision, owner_id, event_type, data)"
        " INSERT INTO stream_records (resource, record_id, revision, position, owner_id, deleted, data)"
        " SELECT DISTINCT ON (resource, record_id) resource, record_id, revision, position, owner_id,"
        " event_type = 'deleted', data FROM ev ORDER BY resource, record_id, position DESC"
        " ON CONFLICT (resource, record_id) DO UPDATE SET revision = EXCLUDED.revision,"
        " position = EXCLUDED.position, owner_id = EXCLUDED.owner_id, deleted = EXCLUDED.deleted,"
        " data = EXCLUDED.data, updated_at = now()",
        10, params, err);
    for (int k = 0; k < 10; k++)
        free(arr[k]);
    for (int k = 0; k < 7; k++)
        free(cols[k]);
    free(ids);
    free(revs);
    free(owners);
    return rc;
}

int gw_store_stream_follow_deal(crm_db_t *tx, int64_t deal_id, int64_t owner_id, const char *cause,
                                const char *event_id, const char *occurred_at, crm_err_t *err)
{
    char d[24], o[24];
    const char *params[] = {i64(d, deal_id), owner_id > 0 ? i64(o, owner_id) : NULL, cause, event_id,
                            occurred_at};
    return crm_db_run(
        tx, "gw_stream_follow_deal",
        "WITH orders AS (SELECT record_id FROM stream_records WHERE resource = 'order'"
        "  AND (data->>'deal_id')::bigint = $1::bigint),"
        " src AS (SELECT resource, record_id, revision, data FROM stream_records r WHERE NOT deleted"
        "  AND r.owner_id IS DISTINCT FROM $2::bigint AND ((resource = 'order' AND record_id IN"
        "  (SELECT record_id FROM orders)) OR (resource = 'line_item' AND (data->>'order_id')::bigint IN"
        "  (SELECT record_id FROM orders)))),"
        " ev AS (INSERT INTO stream_events (resource, record_id, event_type, event_cause, event_id, revision,"
        "  owner_id, data, previous, occurred_at)"
        "  SELECT resource, record_id, 'updated', $3, $4, revision + 1, $2::bigint, data, '{}',"
        "  $5::timestamptz FROM src RETURNING resource, record_id, revision, position)"
        " UPDATE stream_records r SET revision = ev.revision, position = ev.position, owner_id = $2::bigint,"
        " updated_at = now() FROM ev WHERE r.resource = ev.resource AND r.record_id = ev.record_id",
        5, params, err);
}

PGresult *gw_store_stream_page(crm_db_t *db, const char *resource, int64_t after, int limit, crm_err_t *err)
{
    char a[24], l[24];
    const char *params[] = {resource, i64(a, after), i64(l, limit)};
    return crm_db_exec(
        db, "gw_stream_page",
        "SELECT position, event_type, event_cause, event_id, revision, data::text, previous::text, " TS_UTC(
            "occurred_at") " FROM stream_events WHERE resource = $1 AND position > $2::bigint"
                           " ORDER BY position LIMIT $3::int",
        3, params, err);
}

int gw_store_stream_top(crm_db_t *db, int64_t *position, crm_err_t *err)
{
    return one_i64(db, "gw_stream_top", "SELECT max(position) FROM stream_events", 0, NULL, position, err);
}

int gw_store_stream_prune(crm_db_t *db, long retention_s, int64_t *deleted, crm_err_t *err)
{
    char s[24];
    const char *params[] = {i64(s, retention_s)};
    if (one_i64(db, "gw_stream_prune",
                "WITH gone AS (DELETE FROM stream_events"
                " WHERE created_at < now() - make_interval(secs => $1::bigint) RETURNING 1)"
                " SELECT count(*) FROM gone",
                1, params, deleted, err))
        return err->code;
    return crm_db_run(db, "gw_sync_sessions_prune",
                      "DELETE FROM sync_sessions WHERE created_at < now() - interval '1 day'", 0, NULL, err);
}

/* ---- Sync API ---- */

int gw_store_sync_device(crm_db_t *tx, int64_t user_id, const char *uuid, int64_t *device_id,
                         int64_t *synced_position, crm_err_t *err)
{
    char u[24];
    const char *params[] = {i64(u, user_id), uuid};
    /* DO UPDATE (not NOTHING) so that the row is returned and locked in both cases. */
    PGresult *res =
        crm_db_exec(tx, "gw_sync_device",
                    "INSERT INTO sync_devices (user_id, device_uuid) VALUES ($1::bigint, $2)"
                    " ON CONFLICT (user_id, device_uuid) DO UPDATE SET device_uuid = EXCLUDED.device_uuid"
                    " RETURNING id, synced_position",
                    2, params, err);
    if (!res)
        return err->code;
    *device_id = crm_db_i64(res, 0, 0);
    *synced_position = crm_db_i64(res, 0, 1);
    PQclear(res);
    return CRM_OK;
}

/* Records every device may see whatever its user (r: a stream_records row). */
#define SYNC_PUBLIC "r.resource IN ('user', 'product')"

int gw_store_sync_enqueue(crm_db_t *tx, int64_t device_id, int64_t synced_position, int64_t owner_id,
                          crm_err_t *err)
{
    char d[24], p[24], o[24];
    const char *params[] = {i64(d, device_id), i64(p, synced_position),
                            owner_id > 0 ? i64(o, owner_id) : NULL};
    /* Lost visibility first: an item of the device whose record changed to an owner other than
     * the device's user becomes hidden (sent once as deleted). Only records the device has. */
    if (owner_id > 0 &&
        crm_db_run(tx, "gw_sync_hide",
                   "UPDATE sync_items i SET hidden = true,"
                   " revision = GREATEST(r.revision, i.acked_revision + 1), position = r.position"
                   " FROM stream_records r WHERE i.device_id = $1::bigint AND NOT i.hidden"
                   " AND r.resource = i.resource AND r.record_id = i.record_id AND r.position > $2::bigint"
                   " AND r.owner_id IS DISTINCT FROM $3::bigint AND NOT " SYNC_PUBLIC,
                   3, params, err))
        return err->code;
    int64_t upto = 0;
    /* Visible records: queued; an item hidden before comes back as created (acked_revision 0). */
    if (one_i64(
            tx, "gw_sync_enqueue",
            "WITH src AS (SELECT r.resource, r.record_id, r.revision, r.position, r.deleted"
            "  FROM stream_records r WHERE r.position > $2::bigint"
            "  AND ($3::bigint IS NULL OR r.owner_id = $3::bigint OR " SYNC_PUBLIC ")),"
            " up AS (INSERT INTO sync_items (device_id, resource, record_id, revision, acked_revision,"
            "  position)"
            "  SELECT $1::bigint, resource, record_id, revision, CASE WHEN deleted THEN revision ELSE 0 END,"
            "  position FROM src"
            "  ON CONFLICT (device_id, resource, record_id) DO UPDATE"
            "  SET revision = GREATEST(sync_items.revision, EXCLUDED.revision), position = EXCLUDED.position,"
            "  acked_revision = CASE WHEN sync_items.hidden THEN EXCLUDED.acked_revision"
            "  ELSE sync_items.acked_revision END, hidden = false)"
            " SELECT COALESCE((SELECT max(position) FROM stream_records WHERE position > $2::bigint),"
            " $2::bigint)",
            3, params, &upto, err))
        return err->code;
    const char *params2[] = {d, i64(p, upto)};
    return crm_db_run(tx, "gw_sync_device_advance",
                      "UPDATE sync_devices SET synced_position = GREATEST(synced_position, $2::bigint)"
                      " WHERE id = $1::bigint",
                      2, params2, err);
}

int gw_store_sync_active(crm_db_t *tx, int64_t user_id, int64_t device_id, int64_t *active, crm_err_t *err)
{
    char u[24], d[24];
    const char *params[] = {i64(u, user_id), i64(d, device_id)};
    /* Starts of one user serialize here, so that two of them cannot both take the last place. */
    if (crm_db_run(tx, "gw_sync_user_lock",
                   "SELECT pg_advisory_xact_lock(1937337955, ($1::bigint % 2147483647)::int)", 1, params,
                   err))
        return err->code;
    return one_i64(tx, "gw_sync_active",
                   "SELECT count(*) FROM sync_sessions s JOIN sync_devices d ON d.id = s.device_id"
                   " WHERE d.user_id = $1::bigint AND s.device_id <> $2::bigint AND s.closed_at IS NULL"
                   " AND s.created_at > now() - interval '1 day'",
                   2, params, active, err);
}

int gw_store_sync_session_open(crm_db_t *tx, int64_t device_id, const char *session_id, int64_t *count,
                               crm_err_t *err)
{
    char d[24];
    const char *params[] = {i64(d, device_id), session_id};
    if (one_i64(tx, "gw_sync_pending",
                "SELECT count(*) FROM sync_items WHERE device_id = $1::bigint AND revision > acked_revision",
                1, params, count, err))
        return err->code;
    /* The device's earlier sessions are superseded: their items move to the new one. */
    if (crm_db_run(
            tx, "gw_sync_sessions_supersede",
            "UPDATE sync_sessions SET closed_at = now() WHERE device_id = $1::bigint AND closed_at IS NULL",
            1, params, err))
        return err->code;
    if (*count == 0)
        return CRM_OK;
    if (crm_db_run(tx, "gw_sync_session_insert",
                   "INSERT INTO sync_sessions (id, device_id) VALUES ($2::uuid, $1::bigint)", 2, params, err))
        return err->code;
    return crm_db_run(tx, "gw_sync_session_assign",
                      "UPDATE sync_items SET session_id = $2::uuid, sent = false"
                      " WHERE device_id = $1::bigint AND revision > acked_revision",
                      2, params, err);
}

int gw_store_sync_session_find(crm_db_t *db, const char *session_id, int64_t user_id, const char *uuid,
                               int64_t *device_id, crm_err_t *err)
{
    char u[24];
    const char *params[] = {session_id, i64(u, user_id), uuid};
    PGresult *res = crm_db_exec(db, "gw_sync_session_find",
                                "SELECT d.id FROM sync_sessions s JOIN sync_devices d ON d.id = s.device_id"
                                " WHERE s.id = $1::uuid AND d.user_id = $2::bigint AND d.device_uuid = $3",
                                3, params, err);
    if (!res)
        return err->code;
    int rc = CRM_OK;
    if (PQntuples(res) == 0)
        rc = crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such sync session for this device");
    else
        *device_id = crm_db_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

PGresult *gw_store_sync_fetch(crm_db_t *db, int64_t device_id, const char *session_id, int limit,
                              crm_err_t *err)
{
    char d[24], l[24];
    const char *params[] = {i64(d, device_id), session_id, i64(l, limit)};
    /* The data is the record's state now (it may have changed since the session opened): the
     * item's revision follows, so that its ack key names what was sent. */
    return crm_db_exec(
        db, "gw_sync_fetch",
        "WITH picked AS (SELECT resource, record_id FROM sync_items"
        "  WHERE device_id = $1::bigint AND session_id = $2::uuid AND NOT sent"
        "  AND revision > acked_revision ORDER BY position LIMIT $3::int FOR UPDATE SKIP LOCKED),"
        " sent AS (UPDATE sync_items i SET sent = true, revision = r.revision"
        "  FROM picked p, stream_records r"
        "  WHERE i.device_id = $1::bigint AND i.resource = p.resource AND i.record_id = p.record_id"
        "  AND r.resource = p.resource AND r.record_id = p.record_id"
        "  RETURNING i.resource, i.record_id, r.revision, i.acked_revision,"
        "  CASE WHEN i.hidden THEN jsonb_build_object('id', i.record_id) ELSE r.data END AS data,"
        "  r.deleted OR i.hidden AS deleted, i.position)"
        " SELECT resource, record_id, revision, acked_revision, data::text, deleted FROM sent"
        " ORDER BY position",
        3, params, err);
}

int gw_store_sync_left(crm_db_t *db, int64_t device_id, const char *session_id, int64_t *left, crm_err_t *err)
{
    char d[24];
    const char *params[] = {i64(d, device_id), session_id};
    return one_i64(db, "gw_sync_left",
                   "SELECT count(*) FROM sync_items WHERE device_id = $1::bigint AND session_id = $2::uuid"
                   " AND NOT sent AND revision > acked_revision",
                   2, params, left, err);
}

int gw_store_sync_session_close(crm_db_t *db, const char *session_id, crm_err_t *err)
{
    const char *params[] = {session_id};
    return crm_db_run(db, "gw_sync_session_close",
                      "UPDATE sync_sessions SET closed_at = now() WHERE id = $1::uuid AND closed_at IS NULL",
                      1, params, err);
}

int gw_store_sync_ack(crm_db_t *db, int64_t user_id, const char *uuid, const char *acks, int64_t *applied,
                      crm_err_t *err)
{
    char u[24];
    const char *params[] = {i64(u, user_id), uuid, acks};
    return one_i64(db, "gw_sync_ack",
                   "WITH a AS (SELECT * FROM jsonb_to_recordset($3::jsonb)"
                   "  AS x(resource text, record_id bigint, revision int)),"
                   " done AS (UPDATE sync_items i"
                   "  SET acked_revision = GREATEST(i.acked_revision, LEAST(a.revision, i.revision))"
                   "  FROM a, sync_devices d"
                   "  WHERE d.user_id = $1::bigint AND d.device_uuid = $2 AND i.device_id = d.id"
                   "  AND i.resource = a.resource AND i.record_id = a.record_id RETURNING 1)"
                   " SELECT count(*) FROM done",
                   3, params, applied, err);
}

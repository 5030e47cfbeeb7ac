/* All SQL of crm-gateway: API token lookups and inserts, and the inbound delivery archive
 * whose unique (source, external_id) index makes repeated deliveries idempotent. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crm/util.h"
#include "sell.h"

#define TS_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static void token_row(const PGresult *res, int r, gw_token_row_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = crm_db_i64(res, r, 0);
    out->user_id = crm_db_i64(res, r, 1);
    snprintf(out->role, sizeof out->role, "%s", crm_db_str(res, r, 2) ? crm_db_str(res, r, 2) : "");
    snprintf(out->name, sizeof out->name, "%s", crm_db_str(res, r, 3) ? crm_db_str(res, r, 3) : "");
    out->revoked = crm_db_bool(res, r, 4);
    snprintf(out->created_at, sizeof out->created_at, "%s",
             crm_db_str(res, r, 5) ? crm_db_str(res, r, 5) : "");
}

int gw_store_token_find(crm_db_t *db, const char *token_hash, gw_token_row_t *out, crm_err_t *err)
{
    const char *params[] = {token_hash};
    PGresult *res = crm_db_exec(db, "gw_token_find",
                                "SELECT id, user_id, role, name, revoked_at IS NOT NULL, " TS_UTC(
                                    "created_at") " FROM api_tokens WHERE token_hash = $1",
                                1, params, err);
    if (!res)
        return err->code;
    int rc = CRM_OK;
    if (PQntuples(res) == 0)
        rc = crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such token");
    else
        token_row(res, 0, out);
    PQclear(res);
    return rc;
}

int gw_store_token_insert(crm_db_t *db, const char *token_hash, int64_t user_id, const char *role,
                          const char *name, bool ignore_existing, gw_token_row_t *out, crm_err_t *err)
{
    char uid[32];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *params[] = {token_hash, uid, role, name ? name : ""};
    PGresult *res;
    if (ignore_existing) {
        /* Bootstrap: two gateways may store the same admin token at once; the unique index on
         * token_hash keeps one row, and the loser reads it below. */
        res = crm_db_exec(db, "gw_token_insert_ignore",
                          "INSERT INTO api_tokens (token_hash, user_id, role, name) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (token_hash) DO NOTHING "
                          "RETURNING id, user_id, role, name, revoked_at IS NOT NULL, " TS_UTC("created_at"),
                          4, params, err);
    } else {
        res = crm_db_exec(db, "gw_token_insert",
                          "INSERT INTO api_tokens (token_hash, user_id, role, name) VALUES ($1, $2, $3, $4) "
                          "RETURNING id, user_id, role, name, revoked_at IS NOT NULL, " TS_UTC("created_at"),
                          4, params, err);
    }
    if (!res)
        return err->code;
    int n = PQntuples(res);
    if (n > 0 && out)
        token_row(res, 0, out);
    PQclear(res);
    if (n == 0)
        return out ? gw_store_token_find(db, token_hash, out, err) : CRM_OK;
    return CRM_OK;
}

int gw_store_tokens_sync_user(crm_db_t *db, int64_t user_id, const char *role, bool revoke, crm_err_t *err)
{
    char uid[32];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *params[] = {uid, role, revoke ? "true" : "false"};
    return crm_db_run(db, "gw_tokens_sync_user",
                      "UPDATE api_tokens SET role = coalesce($2, role), "
                      "revoked_at = CASE WHEN $3::boolean THEN now() ELSE revoked_at END "
                      "WHERE user_id = $1::bigint AND revoked_at IS NULL",
                      3, params, err);
}

int gw_store_token_revoke(crm_db_t *db, int64_t id, char hash[65], crm_err_t *err)
{
    char tid[32];
    snprintf(tid, sizeof tid, "%lld", (long long)id);
    const char *params[] = {tid};
    PGresult *res =
        crm_db_exec(db, "gw_token_revoke",
                    "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1::bigint "
                    "RETURNING token_hash",
                    1, params, err);
    if (!res)
        return err->code;
    int rc = CRM_OK;
    if (PQntuples(res) == 0)
        rc = crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no api token %s", tid);
    else
        snprintf(hash, 65, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int gw_store_token_list(crm_db_t *db, int64_t user_id, long page, long per_page, json_t **items,
                        bool *has_more, crm_err_t *err)
{
    char uid[32], lim[32], off[32];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(lim, sizeof lim, "%ld", per_page + 1);
    snprintf(off, sizeof off, "%ld", (page - 1) * per_page);
    const char *params[] = {uid, lim, off};
    PGresult *res =
        crm_db_exec(db, "gw_token_list",
                    "SELECT id, user_id, role, name, " TS_UTC("created_at") ", " TS_UTC(
                        "revoked_at") " FROM api_tokens WHERE ($1::bigint = 0 OR user_id = $1::bigint) "
                                      "ORDER BY id LIMIT $2::bigint OFFSET $3::bigint",
                    3, params, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *has_more = n > per_page;
    *items = json_array();
    for (int r = 0; r < n && r < per_page; r++)
        json_array_append_new(
            *items, json_pack("{s:I,s:I,s:s,s:s,s:s,s:o}", "id", (json_int_t)crm_db_i64(res, r, 0), "user_id",
                              (json_int_t)crm_db_i64(res, r, 1), "role", crm_db_str(res, r, 2), "name",
                              crm_db_str(res, r, 3), "created_at", crm_db_str(res, r, 4), "revoked_at",
                              crm_db_str(res, r, 5) ? json_string(crm_db_str(res, r, 5)) : json_null()));
    PQclear(res);
    return CRM_OK;
}

int gw_store_delivery_find(crm_db_t *db, const char *source, const char *external_id, int64_t *id,
                           crm_err_t *err)
{
    const char *params[] = {source, external_id};
    PGresult *res =
        crm_db_exec(db, "gw_delivery_find",
                    "SELECT id FROM deliveries WHERE source = $1 AND external_id = $2", 2, params, err);
    if (!res)
        return err->code;
    int rc = CRM_OK;
    if (PQntuples(res) == 0)
        rc = crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such delivery");
    else
        *id = crm_db_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

int gw_store_archive(crm_db_t *db, const gw_archive_in_t *in, int64_t *id, bool *inserted, crm_err_t *err)
{
    char *hex = malloc(2 * in->body_len + 3);
    if (!hex)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "out of memory storing the delivery");
    hex[0] = '\\';
    hex[1] = 'x';
    crm_hex_encode(in->body ? in->body : "", in->body_len, hex + 2);
    char received[32], status[16];
    snprintf(received, sizeof received, "%lld", (long long)in->received_at_us);
    snprintf(status, sizeof status, "%d", in->status);
    const char *params[] = {in->source,
                            in->external_id,
                            in->content_type ? in->content_type : "",
                            hex,
                            in->correlation_id ? in->correlation_id : "",
                            received,
                            in->outcome,
                            in->reason,
                            status,
                            in->sender_id,
                            in->details ? in->details : ""};
    PGresult *res =
        crm_db_exec(db, "gw_archive_insert",
                    "INSERT INTO deliveries (source, external_id, content_type, body, correlation_id, "
                    "received_at, outcome, "
                    "reason, status, sender_delivery_id, details) VALUES ($1, $2, $3, $4::bytea, $5, "
                    "to_timestamp($6::bigint / 1000000.0), $7, $8, $9::int, $10, $11) "
                    "ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
                    11, params, err);
    free(hex);
    if (!res)
        return err->code;
    *inserted = PQntuples(res) > 0;
    *id = *inserted ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    return CRM_OK;
}

/* A text[] literal being built: elements quoted, '"' and '\' escaped, NULL as NULL. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} arr_t;

static void arr_put(arr_t *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t cap = (a->len + n + 2) * 2;
        char *p = realloc(a->p, cap);
        if (!p) {
            a->oom = true;
            return;
        }
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, s, n);
    a->len += n;
    a->p[a->len] = 0;
}

static void arr_add(arr_t *a, const char *s)
{
    arr_put(a, a->len ? "," : "{", 1);
    if (!s) {
        arr_put(a, "NULL", 4);
        return;
    }
    arr_put(a, "\"", 1);
    for (const char *q = s; *q;) {
        size_t run = strcspn(q, "\"\\");
        arr_put(a, q, run);
        q += run;
        if (*q) {
            char esc[2] = {'\\', *q++};
            arr_put(a, esc, 2);
        }
    }
    arr_put(a, "\"", 1);
}

/* Adds bytes as hex text (decoded in SQL with decode(x, 'hex')). */
static void arr_add_hex(arr_t *a, const void *bytes, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (!hex) {
        a->oom = true;
        return;
    }
    crm_hex_encode(bytes, n, hex);
    arr_add(a, hex);
    free(hex);
}

static const char *arr_end(arr_t *a)
{
    if (!a->len)
        arr_put(a, "{", 1);
    arr_put(a, "}", 1);
    return a->oom ? NULL : a->p;
}

int gw_store_delivery_ids(crm_db_t *db, size_t n, int64_t *ids, crm_err_t *err)
{
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    const char *params[] = {count};
    PGresult *res = crm_db_exec(db, "gw_delivery_ids",
                                "SELECT nextval(pg_get_serial_sequence('deliveries', 'id')) "
                                "FROM generate_series(1, $1::int)",
                                1, params, err);
    if (!res)
        return err->code;
    int rc = (size_t)PQntuples(res) == n
                 ? CRM_OK
                 : crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "delivery ids: short read");
    for (size_t i = 0; rc == CRM_OK && i < n; i++)
        ids[i] = crm_db_i64(res, (int)i, 0);
    PQclear(res);
    return rc;
}

int gw_store_accept_batch(crm_db_t *db, const gw_archive_in_t *const *in, const int64_t *ids,
                          const char *event_type, const ProtobufCMessage *const *events, size_t n,
                          bool *inserted, crm_err_t *err)
{
    enum {
        ID,
        SOURCE,
        EXT,
        CTYPE,
        BODY,
        CORR,
        RECEIVED,
        OUTCOME,
        REASON,
        STATUS,
        SENDER,
        DETAILS,
        EVENT_ID,
        PAYLOAD,
        NCOLS
    };
    arr_t col[NCOLS];
    memset(col, 0, sizeof col);
    uint8_t *buf = NULL;
    size_t bufcap = 0;
    char num[32], event_id[37];
    for (size_t i = 0; i < n; i++) {
        const gw_archive_in_t *r = in[i];
        snprintf(num, sizeof num, "%lld", (long long)ids[i]);
        arr_add(&col[ID], num);
        arr_add(&col[SOURCE], r->source);
        arr_add(&col[EXT], r->external_id);
        arr_add(&col[CTYPE], r->content_type ? r->content_type : "");
        arr_add_hex(&col[BODY], r->body ? r->body : "", r->body_len);
        arr_add(&col[CORR], r->correlation_id ? r->correlation_id : "");
        snprintf(num, sizeof num, "%lld", (long long)r->received_at_us);
        arr_add(&col[RECEIVED], num);
        arr_add(&col[OUTCOME], r->outcome);
        arr_add(&col[REASON], r->reason);
        snprintf(num, sizeof num, "%d", r->status);
        arr_add(&col[STATUS], num);
        arr_add(&col[SENDER], r->sender_id);
        arr_add(&col[DETAILS], r->details ? r->details : "");
        crm_uuid7(event_id);
        arr_add(&col[EVENT_ID], event_id);
        size_t len = protobuf_c_message_get_packed_size(events[i]);
        if (len + 1 > bufcap) {
            uint8_t *nb = realloc(buf, len + 1);
            if (!nb) {
                col[PAYLOAD].oom = true;
                break;
            }
            buf = nb;
            bufcap = len + 1;
        }
        protobuf_c_message_pack(events[i], buf);
        arr_add_hex(&col[PAYLOAD], buf, len);
    }
    free(buf);
    const char *params[NCOLS + 1];
    bool oom = false;
    for (int c = 0; c < NCOLS; c++)
        oom |= !(params[c] = arr_end(&col[c]));
    params[NCOLS] = event_type;
    int rc = CRM_OK;
    if (oom)
        rc = crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "out of memory storing the deliveries");
    PGresult *res = NULL;
    if (rc == CRM_OK)
        res = crm_db_exec(
            db, "gw_accept_batch",
            "WITH v AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::text[], $7::bigint[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], "
            "$13::uuid[], "
            "$14::text[]) AS v(id, source, external_id, content_type, body, correlation_id, received_us, "
            "outcome, "
            "reason, status, sender, details, event_id, payload)), "
            "d AS (INSERT INTO deliveries (id, source, external_id, content_type, body, correlation_id, "
            "received_at, outcome, reason, status, sender_delivery_id, details) "
            "SELECT id, source, external_id, content_type, decode(body, 'hex'), correlation_id, "
            "to_timestamp(received_us / 1000000.0), outcome, reason, status, sender, details FROM v ORDER BY "
            "id "
            "ON CONFLICT (source, external_id) DO NOTHING RETURNING id), "
            /* the outbox row as crm_outbox_append writes it (lib/crm/outbox.c) */
            "o AS (INSERT INTO outbox (event_id, type, correlation_id, payload) "
            "SELECT v.event_id, $15, nullif(v.correlation_id, ''), decode(v.payload, 'hex') FROM v "
            "JOIN d USING (id) ORDER BY v.id) "
            "SELECT id FROM d",
            NCOLS + 1, params, err);
    for (int c = 0; c < NCOLS; c++)
        free(col[c].p);
    if (!res)
        return rc != CRM_OK ? rc : err->code;
    for (size_t i = 0; i < n; i++)
        inserted[i] = false;
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t id = crm_db_i64(res, r, 0);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == id)
                inserted[i] = true;
    }
    PQclear(res);
    return CRM_OK;
}

#define ARCHIVE_COLS                                                                                         \
    "id, source, outcome, reason, status, sender_delivery_id, content_type, octet_length(body), "            \
    "correlation_id, details, " TS_UTC("received_at") ", body IS NULL"

static json_t *archive_item(const PGresult *res, int r)
{
    const char *sender = crm_db_str(res, r, 5);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(crm_db_i64(res, r, 0)));
    json_object_set_new(o, "source", gw_json_text(crm_db_str(res, r, 1)));
    json_object_set_new(o, "outcome", gw_json_text(crm_db_str(res, r, 2)));
    json_object_set_new(o, "reason", gw_json_text(crm_db_str(res, r, 3)));
    json_object_set_new(o, "status", json_integer(crm_db_i64(res, r, 4)));
    json_object_set_new(o, "delivery_id", sender ? gw_json_text(sender) : json_null());
    json_object_set_new(o, "content_type", gw_json_text(crm_db_str(res, r, 6)));
    json_object_set_new(o, "body_size", json_integer(crm_db_i64(res, r, 7)));
    json_object_set_new(o, "correlation_id", gw_json_text(crm_db_str(res, r, 8)));
    json_object_set_new(o, "details", gw_json_text(crm_db_str(res, r, 9)));
    json_object_set_new(o, "received_at", gw_json_text(crm_db_str(res, r, 10)));
    /* the raw body was dropped after gateway.delivery_retention_seconds (the row stays: dedupe) */
    json_object_set_new(o, "body_pruned", json_boolean(crm_db_bool(res, r, 11)));
    return o;
}

int gw_store_archive_list(crm_db_t *db, const char *source, const char *outcome, long page, long per_page,
                          json_t **items, bool *has_more, crm_err_t *err)
{
    char limit[24], offset[24];
    snprintf(limit, sizeof limit, "%ld", per_page + 1);
    snprintf(offset, sizeof offset, "%ld", (page - 1) * per_page);
    const char *params[] = {source, outcome, limit, offset};
    PGresult *res =
        crm_db_exec(db, "gw_archive_list",
                    "SELECT " ARCHIVE_COLS " FROM deliveries "
                    "WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR outcome = $2) "
                    "ORDER BY id DESC LIMIT $3::bigint OFFSET $4::bigint",
                    4, params, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    *has_more = n > per_page;
    *items = json_array();
    for (int r = 0; r < n && r < per_page; r++)
        json_array_append_new(*items, archive_item(res, r));
    PQclear(res);
    return CRM_OK;
}

int gw_store_archive_get(crm_db_t *db, int64_t id, json_t **item, crm_err_t *err)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *params[] = {ids};
    PGresult *res = crm_db_exec(
        db, "gw_archive_get",
        "SELECT " ARCHIVE_COLS ", encode(body, 'hex') FROM deliveries WHERE id = $1::bigint", 1, params, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such webhook delivery");
    }
    *item = archive_item(res, 0);
    if (PQgetisnull(res, 0, 12)) { /* pruned: the body is gone, not empty */
        json_object_set_new(*item, "body", json_null());
        PQclear(res);
        return CRM_OK;
    }
    const char *hex = crm_db_str(res, 0, 12);
    size_t hl = hex ? strlen(hex) : 0;
    char *body = malloc(hl / 2 + 1);
    if (body) {
        size_t n = 0;
        for (size_t i = 0; i + 1 < hl; i += 2) {
            unsigned v = 0;
            sscanf(hex + i, "%2x", &v);
            body[n++] = (char)v;
        }
        body[n] = '\0';
        json_object_set_new(*item, "body", gw_json_text(body));
        free(body);
    }
    PQclear(res);
    return CRM_OK;
}

int gw_store_deliveries_prune(crm_db_t *db, long retention_s, int limit, int64_t *dropped, int64_t *deleted,
                              crm_err_t *err)
{
    char ret[24], lim[24];
    snprintf(ret, sizeof ret, "%ld", retention_s);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {ret, lim};
    PGresult *res = crm_db_exec(
        db, "gw_deliveries_prune",
        "WITH b AS MATERIALIZED (SELECT id, outcome = 'accepted' AS keep FROM deliveries"
        "  WHERE body IS NOT NULL AND received_at < now() - make_interval(secs => $1::bigint)"
        "  ORDER BY received_at LIMIT $2::int),"
        " u AS (UPDATE deliveries d SET body = NULL FROM b WHERE d.id = b.id AND b.keep RETURNING 1),"
        " x AS (DELETE FROM deliveries d USING b WHERE d.id = b.id AND NOT b.keep RETURNING 1)"
        " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM x)",
        2, params, err);
    if (!res)
        return err->code;
    *dropped = crm_db_i64(res, 0, 0);
    *deleted = crm_db_i64(res, 0, 1);
    PQclear(res);
    return CRM_OK;
}

int gw_store_upsert_lock(crm_db_t *tx, const char *key, crm_err_t *err)
{
    const char *params[] = {key};
    return crm_db_run(tx, "gw_upsert_lock",
                      "SELECT pg_advisory_xact_lock(hashtextextended('upsert ' || $1, 0))", 1, params, err);
}

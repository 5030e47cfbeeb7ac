/* All SQL of the gateway (schema gateway): API tokens and inbound deliveries. */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "crm/db.h"
#include <protobuf-c/protobuf-c.h>
#include <jansson.h>
#include "crm/err.h"
#include <jansson.h>

typedef struct {
    int64_t id;
    int64_t user_id;
    char role[16];
    char name[128];
    bool revoked;
    char created_at[32]; /* "2017-06-04T18:28:53Z" */
} gw_token_row_t;

/* CRM_ENOTFOUND when no such hash. */
int gw_store_token_find(crm_db_t *db, const char *token_hash, gw_token_row_t *out, crm_err_t *err);
/* Inserts a token hash; when ignore_existing, an existing hash is left alone (and *out is
 * filled from it); otherwise a duplicate hash is CRM_ECONFLICT. */
int gw_store_token_insert(crm_db_t *db, const char *token_hash, int64_t user_id, const char *role,
                          const char *name, bool ignore_existing, gw_token_row_t *out, crm_err_t *err);

/* Tokens follow their user (issue 5): role copied onto every live token, and when revoke,
 * every live token of the user is revoked (a deactivated user's tokens stop working). */
int gw_store_tokens_sync_user(crm_db_t *db, int64_t user_id, const char *role, bool revoke, crm_err_t *err);
/* Revokes token id (idempotent); hash gets its token_hash (65 bytes) for the cache;
 * CRM_ENOTFOUND when no such id. */
int gw_store_token_revoke(crm_db_t *db, int64_t id, char hash[65], crm_err_t *err);
/* Tokens by id (never the hash): a JSON array of {id, user_id, role, name, created_at,
 * revoked_at} for page (limit per_page + 1 rows to tell has_more), filtered by user_id when > 0. */
int gw_store_token_list(crm_db_t *db, int64_t user_id, long page, long per_page, json_t **items,
                        bool *has_more, crm_err_t *err);

/* The id of the delivery (source, external_id), CRM_ENOTFOUND when none. */
int gw_store_delivery_find(crm_db_t *db, const char *source, const char *external_id, int64_t *id,
                           crm_err_t *err);
/* One row of the delivery archive as written (gw_store_archive) and read. */
typedef struct {
    int64_t id;
    const char *source;
    const char *outcome;     /* accepted | ignored | duplicate | refused */
    const char *reason;      /* ok | signature_mismatch | content_type | ... */
    int status;              /* the HTTP status answered */
    const char *external_id; /* dedupe key (accepted and ignored only), or NULL */
    const char *sender_id;   /* the sender's delivery id as received, or NULL */
    const char *content_type;
    const void *body;
    size_t body_len;
    const char *correlation_id;
    const char *details;
    int64_t received_at_us;
} gw_archive_in_t;

/* Inserts an archive row inside or outside a transaction. With external_id set, an existing
 * (source, external_id) inserts nothing and *inserted is false (*id 0). */
int gw_store_archive(crm_db_t *db, const gw_archive_in_t *in, int64_t *id, bool *inserted, crm_err_t *err);

/* Group commit (commit.c): n accepted deliveries and one event each, stored in ONE statement
 * (its own transaction, or the caller's). ids[] must come from gw_store_delivery_ids: the events
 * already carry them. A delivery whose (source, external_id) exists, in the table or earlier in
 * the batch, stores nothing and no event: inserted[i] is false. Events are appended to the
 * outbox exactly as crm_outbox_append does (the relay sequences them). */
int gw_store_accept_batch(crm_db_t *db, const gw_archive_in_t *const *in, const int64_t *ids,
                          const char *event_type, const ProtobufCMessage *const *events, size_t n, bool *inserted,
                          crm_err_t *err);
/* n fresh delivery ids (the deliveries' own sequence), in one round trip. */
int gw_store_delivery_ids(crm_db_t *db, size_t n, int64_t *ids, crm_err_t *err);

/* The archive as JSON for GET /v2/webhook_deliveries: items (newest first) of the page,
 * filtered by source and outcome when not NULL; *has_more when another page follows. Each item:
 * id, source, outcome, reason, status, delivery_id (sender's), content_type, body_size,
 * correlation_id, details, received_at, body_pruned; with_body adds "body" (text, invalid UTF-8 as '?'). */
int gw_store_archive_list(crm_db_t *db, const char *source, const char *outcome, long page, long per_page,
                          json_t **items, bool *has_more, crm_err_t *err);
/* One archived delivery with its body; CRM_ENOTFOUND when none. */
int gw_store_archive_get(crm_db_t *db, int64_t id, json_t **item, crm_err_t *err);

/* Delivery archive retention: of at most `limit` deliveries received more than retention_s
 * seconds ago and still carrying a body, the accepted ones lose their raw body (the row and its
 * dedupe key stay) and the others (refused, ignored, duplicate) are deleted. */
int gw_store_deliveries_prune(crm_db_t *db, long retention_s, int limit, int64_t *dropped, int64_t *deleted,
                              crm_err_t *err);

/* POST .../upsert: waits for and takes the transaction-scoped advisory lock of key (the
 * collection and its normalized filters), held until tx commits or rolls back. */
int gw_store_upsert_lock(crm_db_t *tx, const char *key, crm_err_t *err);

#endif

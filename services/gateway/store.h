/* All SQL of the gateway (schema gateway): API tokens and inbound deliveries. */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "crm/db.h"
#include <jansson.h>
#include "crm/err.h"

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
/* Inserts a delivery inside the caller's transaction. *inserted = false when
 * (source, external_id) already exists (then *id is 0: read it with gw_store_delivery_find
 * after rolling back). external_id may be NULL (no dedupe). */
int gw_store_delivery_insert(crm_db_t *db, const char *source, const char *external_id,
                             const char *content_type, const void *body, size_t body_len,
                             const char *correlation_id, int64_t received_at_us, int64_t *id, bool *inserted,
                             crm_err_t *err);

#endif

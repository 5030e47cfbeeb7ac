/* API tokens (DESIGN §7): Bearer tokens stored as SHA-256 hex in gateway.api_tokens, mapped
 * to a user and role, looked up on every request (no cache); the bootstrap admin and its token file;
 * POST /v2/api_tokens. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include "crm/err.h"
#include "gateway.h"
#include "routes.h"

gw_auth_t *gw_auth_new(void);
void gw_auth_destroy(gw_auth_t **self_p);

/* Extracts the token of an "Authorization: Bearer <token>" value into out (size outlen);
 * false when absent or malformed. */
bool gw_auth_bearer(const char *header, char *out, size_t outlen);

/* Authenticates req from its Authorization header: sets req->user_id and req->role and returns
 * 0; otherwise fills resp (401, or 503 when the database is down) and returns -1. */
int gw_auth_check(gw_t *gw, gw_request_t *req, gw_response_t *resp);

/* The start-up bootstrap (run on its own thread until done or gw->quit): users.bootstrap on
 * assign, then the admin token file and its stored hash. Sets gw->bootstrapped. */
void *gw_auth_bootstrap_thread(void *arg);
/* One attempt of the above; 0 when done. */
int gw_auth_bootstrap_once(gw_t *gw, crm_err_t *err);

/* Reads the token file at path, or creates it (mode 0600, exclusively: two gateways starting
 * at once end up with the same token) with a new token. out gets the token (65 bytes). */
int gw_auth_token_file(const char *path, char out[65], bool *created, crm_err_t *err);

/* POST /v2/api_tokens (admin only); refused (422 /user_id) for an inactive user. */
void gw_auth_create_token(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);
/* GET /v2/api_tokens[?user_id=N] (admin only): the tokens, never their secret or hash. */
void gw_auth_list_tokens(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);
/* DELETE /v2/api_tokens/{id} (admin only): revoked at once, in every gateway instance (tokens are
 * looked up on every request). */
void gw_auth_revoke_token(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);
/* PUT /v2/users/{id} and DELETE /v2/users/{id} (deactivate): the route's RPC on assign, then
 * the user's tokens follow: the new role is copied onto them, and an inactive user's tokens are
 * revoked (effective on the next request). */
void gw_auth_user_write(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp);

#endif

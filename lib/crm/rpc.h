/* Request/reply between services (DESIGN §5). A service binds a ROUTER and serves each request
 * on one of its worker threads, each with its own database connection; callers connect a
 * DEALER to every instance listed in the config, so requests spread across instances.
 *
 * Wire: [empty frame][packed crm.Request] → [empty frame][packed crm.Reply]. */
#ifndef CRM_RPC_H
#define CRM_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "crm/err.h"
#include "crm/db.h"
#include "crm/metrics.h"
#include "rpc.pb-c.h"

typedef struct crm_rpc_server_t crm_rpc_server_t;
typedef struct crm_rpc_client_t crm_rpc_client_t;

/* What a handler sees of the request. */
typedef struct {
    const char *method;
    const char *correlation_id; /* never NULL ("" when absent) */
    int64_t user_id;            /* the caller (0 for system calls) */
    const char *role;           /* "admin" | "manager" | "sales" | "system" (never NULL) */
    crm_db_t *db;               /* this worker's connection (NULL when the server has no database) */
} crm_rpc_ctx_t;

/* A handler gets the request payload unpacked with the descriptor given at registration and
 * returns a crm_code_t. On CRM_OK it may set *out to a reply message allocated entirely with
 * malloc (every string, array and sub-message), which the server packs and frees with
 * protobuf_c_message_free_unpacked(*out, NULL). On failure it fills err (field, reason,
 * message), which travels back in the Reply. */
typedef int (*crm_rpc_handler_fn)(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                                  ProtobufCMessage **out, crm_err_t *err);

/* workers: threads serving requests; each takes a connection from pool (pool may be NULL). */
crm_rpc_server_t *crm_rpc_server_new(void *zctx, const char *bind_endpoint, int workers, crm_db_pool_t *pool,
                                     crm_metrics_t *metrics, crm_err_t *err);
/* Register before crm_rpc_server_start. in_desc: the payload's message type. */
void crm_rpc_server_handle(crm_rpc_server_t *self, const char *method, const ProtobufCMessageDescriptor *in_desc,
                           crm_rpc_handler_fn fn, void *arg);
int crm_rpc_server_start(crm_rpc_server_t *self, crm_err_t *err);
/* Stops taking requests, lets in-flight ones finish, joins the workers. */
void crm_rpc_server_stop(crm_rpc_server_t *self);
void crm_rpc_server_destroy(crm_rpc_server_t **self_p);

/* A client for one service: its DEALER sockets connect to every endpoint. Thread-safe: each
 * calling thread gets its own socket. */
crm_rpc_client_t *crm_rpc_client_new(void *zctx, const char *const *endpoints, size_t n, crm_err_t *err);
void crm_rpc_client_destroy(crm_rpc_client_t **self_p);

typedef struct {
    int64_t user_id;
    const char *role;           /* NULL → "system" */
    const char *correlation_id; /* may be NULL */
} crm_rpc_caller_t;

/* Sends method(in) and waits up to timeout_ms for the reply. Returns the reply's status as a
 * crm_code_t: CRM_OK with *out unpacked by out_desc (free with protobuf_c_message_free_unpacked;
 * out may be NULL to ignore the payload), or the failure with err filled from the reply.
 * No reply in time, or no instance reachable → CRM_EUNAVAILABLE. */
int crm_rpc_call(crm_rpc_client_t *self, const char *method, const crm_rpc_caller_t *caller,
                 const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc, int timeout_ms,
                 ProtobufCMessage **out, crm_err_t *err);

#endif

/* The admin HTTP server every daemon runs on its own port: /healthz (the process is alive),
 * /readyz (200 only when the readiness callback says the database, bus and RPC sockets are up
 * and migrations are done; 503 otherwise, with the reason as text), /metrics (Prometheus). */
#ifndef CRM_ADMIN_H
#define CRM_ADMIN_H

#include <stdbool.h>
#include "crm/err.h"
#include "crm/metrics.h"

typedef struct crm_admin_t crm_admin_t;

/* Fills reason (size reason_len) when not ready. */
typedef bool (*crm_ready_fn)(void *arg, char *reason, unsigned long reason_len);

/* port 0 → an ephemeral port (see crm_admin_port). bind_addr e.g. "127.0.0.1" or "0.0.0.0". */
crm_admin_t *crm_admin_new(const char *bind_addr, int port, crm_metrics_t *metrics, crm_ready_fn ready,
                           void *ready_arg, crm_err_t *err);
int crm_admin_port(const crm_admin_t *self);
void crm_admin_destroy(crm_admin_t **self_p);

/* Shared with the gateway, which answers the same three paths on its public port.
 * Returns the HTTP status and sets *body (static or malloc'd per *body_free) and *ctype;
 * returns 0 when path is not one of the three. */
int crm_admin_answer(const char *path, crm_metrics_t *metrics, crm_ready_fn ready, void *ready_arg,
                     char **body, bool *body_free, const char **ctype);

#endif

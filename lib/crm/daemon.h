/* The wiring every daemon shares: command line (--config, --help), configuration, logging,
 * the ZeroMQ context, the database pool with migrations, the RPC server, outbox relay, inbox,
 * the admin HTTP server, signals and draining. A service's main.c builds a spec, registers its
 * handlers on the parts it gets here, and calls crm_daemon_run. */
#ifndef CRM_DAEMON_H
#define CRM_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include "crm/admin.h"
#include "crm/config.h"
#include "crm/db.h"
#include "crm/err.h"
#include "crm/inbox.h"
#include "crm/metrics.h"
#include "crm/outbox.h"
#include "crm/rpc.h"

typedef struct {
    const char *name;                  /* service name; also its schema and config section */
    const char *summary;               /* one line for --help */
    const crm_migration_t *migrations; /* the service's own migrations (NULL for none) */
    size_t migration_count;
    bool database;                     /* needs its schema (pool, migrations) */
    bool rpc;                          /* binds <name>.rpc_bind */
    bool outbox;                       /* produces events (implies database and rpc, for replay) */
    bool inbox;                        /* consumes events (implies database) */
} crm_daemon_spec_t;

typedef struct crm_daemon_t {
    const crm_daemon_spec_t *spec;
    crm_config_t *config;
    void *zctx;
    crm_metrics_t *metrics;
    crm_db_params_t db_params;   /* the service's own login, schema = spec->name */
    crm_db_pool_t *db;           /* NULL unless spec->database */
    crm_rpc_server_t *rpc;       /* NULL unless spec->rpc */
    crm_outbox_t *outbox;        /* NULL unless spec->outbox */
    crm_inbox_t *inbox;          /* NULL unless spec->inbox */
    crm_admin_t *admin;
    volatile sig_atomic_t stopping;
    volatile int ready;          /* set once everything started; cleared while draining */
    char *strings[8];            /* owned copies behind db_params */
    crm_ready_fn extra_ready;    /* see crm_daemon_set_ready_check */
    void *extra_ready_arg;
} crm_daemon_t;

/* Parses argv, loads config, connects and migrates, creates (but does not start) the parts the
 * spec asks for. On --help prints usage and returns NULL with err->code == CRM_OK. */
crm_daemon_t *crm_daemon_new(const crm_daemon_spec_t *spec, int argc, char **argv, crm_err_t *err);
/* Makes an inbox producer known from the config (<producer>.rpc_endpoints). */
int crm_daemon_consume_from(crm_daemon_t *self, const char *producer, crm_err_t *err);
/* An RPC client for another service, from <service>.rpc_endpoints (caller destroys it). */
crm_rpc_client_t *crm_daemon_client(crm_daemon_t *self, const char *service, crm_err_t *err);
/* Starts RPC, outbox relay, inbox, admin HTTP; marks ready; waits for SIGTERM/SIGINT; drains
 * (stop taking work, finish in-flight, flush the outbox) and returns the exit status. */
int crm_daemon_run(crm_daemon_t *self);
/* Extra readiness condition for services with more to do before serving (may be NULL). */
void crm_daemon_set_ready_check(crm_daemon_t *self, crm_ready_fn fn, void *arg);
void crm_daemon_destroy(crm_daemon_t **self_p);

/* The database login of a service, built from database.url and database.service_roles /
 * database.service_password: each service logs in as role crm_<name> (DESIGN §6). */
void crm_daemon_db_params(const crm_config_t *config, const char *service, crm_db_params_t *out);

#endif

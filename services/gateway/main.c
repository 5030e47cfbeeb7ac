/* crm-gateway: the HTTP front door (REST /v2 → RPC, form webhooks → lead.captured). Wiring
 * only: the daemon's parts from libcrm, then the gateway's context (gateway.c). */
#include <stdio.h>
#include "crm/daemon.h"
#include "crm/log.h"
#include "gateway.h"

int main(int argc, char **argv)
{
    static crm_daemon_spec_t spec = {
        .name = "gateway",
        .summary = "HTTP front door: REST /v2 API and inbound webhooks",
        .database = true,
        .rpc = true,
        .outbox = true,
        .inbox = true, /* the records' events feed the Firehose and the Sync API (stream.c) */
    };
    spec.migrations = gateway_migrations;
    spec.migration_count = gateway_migrations_count;
    crm_err_t err;
    crm_err_clear(&err);
    crm_daemon_t *d = crm_daemon_new(&spec, argc, argv, &err);
    if (!d) {
        if (err.code == CRM_OK)
            return 0; /* --help */
        fprintf(stderr, "crm-gateway: %s\n", err.message);
        return 1;
    }
    gw_t *gw = gw_new(d, &err);
    if (!gw) {
        crm_log_error(NULL, "gateway.start_failed", "reason=\"%s\"", err.message);
        crm_daemon_destroy(&d);
        return 1;
    }
    crm_daemon_set_ready_check(d, gw_ready, gw);
    if (gw_start(gw, &err) != CRM_OK) {
        crm_log_error(NULL, "gateway.start_failed", "reason=\"%s\"", err.message);
        gw_destroy(&gw);
        crm_daemon_destroy(&d);
        return 1;
    }
    int rc = crm_daemon_run(d);
    gw_stop(gw);
    gw_destroy(&gw);
    crm_daemon_destroy(&d);
    return rc;
}

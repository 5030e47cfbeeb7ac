/* crm-deals: owner of pipelines, stages and deals (DESIGN §2). Wiring only. */
#include <stdio.h>

#include "deals.h"

extern const crm_migration_t deals_migrations[];
extern const unsigned deals_migrations_count;

int main(int argc, char **argv)
{
    const crm_daemon_spec_t spec = {
        .name = "deals",
        .summary = "crm-deals: pipelines, stages, deals, stage history and pipeline reports.",
        .migrations = deals_migrations,
        .migration_count = deals_migrations_count,
        .database = true,
        .rpc = true,
        .outbox = true,
        .inbox = true,
    };
    crm_err_t err;
    crm_daemon_t *d = crm_daemon_new(&spec, argc, argv, &err);
    if (!d)
        return err.code == CRM_OK ? 0 : 1;
    deals_t self = {.daemon = d};
    self.assign = crm_daemon_client(d, "assign", &err); /* teams.get, for team funnels */
    if (!self.assign)
        fprintf(stderr, "crm-deals: no crm-assign client (team funnels unavailable): %s\n", err.message);
    self.leads = crm_daemon_client(d, "leads", &err); /* contacts and custom field definitions */
    if (!self.leads)
        fprintf(stderr, "crm-deals: no crm-leads client (deal writes naming contacts will fail): %s\n",
                err.message);
    deals_rpc_register(&self);
    if (deals_consume_register(&self, &err) != CRM_OK) {
        fprintf(stderr, "crm-deals: %s\n", err.message);
        crm_rpc_client_destroy(&self.assign);
        crm_rpc_client_destroy(&self.leads);
        crm_daemon_destroy(&d);
        return 1;
    }
    int rc = crm_daemon_run(d);
    crm_rpc_client_destroy(&self.assign); /* before the daemon's ZeroMQ context goes */
    crm_rpc_client_destroy(&self.leads);
    crm_daemon_destroy(&d);
    return rc;
}

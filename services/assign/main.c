/* crm-assign: decides who owns what (DESIGN §2). Wiring only. */
#include <stdio.h>

#include "assign.h"

extern const crm_migration_t assign_migrations[];
extern const unsigned assign_migrations_count;

int main(int argc, char **argv)
{
    const crm_daemon_spec_t spec = {
        .name = "assign",
        .summary =
            "crm-assign: users, teams, roles, distribution pools (round robin) and the assignment log.",
        .migrations = assign_migrations,
        .database = true,
        .rpc = true,
        .outbox = true,
        .inbox = true,
        .migration_count = assign_migrations_count,
    };
    crm_err_t err;
    crm_daemon_t *d = crm_daemon_new(&spec, argc, argv, &err);
    if (!d)
        return err.code == CRM_OK ? 0 : 1;
    assign_t self = {.daemon = d};
    assign_rpc_register(&self);
    if (assign_consume_register(&self, &err) != CRM_OK) {
        fprintf(stderr, "crm-assign: %s\n", err.message);
        crm_daemon_destroy(&d);
        return 1;
    }
    int rc = crm_daemon_run(d);
    crm_daemon_destroy(&d);
    return rc;
}

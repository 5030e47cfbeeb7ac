/* crm-leads: owner of leads and contacts (DESIGN §2). Wiring only. */
#include <stdio.h>

#include "extras.h"
#include "leads.h"

extern const crm_migration_t leads_migrations[];
extern const unsigned leads_migrations_count;

int main(int argc, char **argv)
{
    const crm_daemon_spec_t spec = {
        .name = "leads",
        .summary = "crm-leads: leads, contacts, lead sources, statuses, dedup and the activity timeline.",
        .migrations = leads_migrations,
        .database = true,
        .rpc = true,
        .outbox = true,
        .inbox = true,
        .migration_count = leads_migrations_count,
    };
    crm_err_t err;
    crm_daemon_t *d = crm_daemon_new(&spec, argc, argv, &err);
    if (!d)
        return err.code == CRM_OK ? 0 : 1;
    leads_t self = {.daemon = d};
    if (leads_config(&self, &err) != CRM_OK) {
        fprintf(stderr, "crm-leads: %s\n", err.message);
        crm_daemon_destroy(&d);
        return 1;
    }
    self.deals = crm_daemon_client(d, "deals", &err); /* NULL: conversions leave the deal to lead.converted */
    self.assign = crm_daemon_client(d, "assign", &err); /* NULL: imports fail their batches (retried) */
    leads_rpc_register(&self);
    leads_extras_register(d->rpc, d->outbox, &err); /* sources, reasons, notes, tasks, tags, custom fields */
    if (leads_consume_register(&self, &err) != CRM_OK) {
        fprintf(stderr, "crm-leads: %s\n", err.message);
        crm_daemon_destroy(&d);
        return 1;
    }
    leads_reminders_t *reminders = leads_reminders_new(d);
    if (leads_reminders_start(reminders, &err) != CRM_OK) {
        fprintf(stderr, "crm-leads: %s\n", err.message);
        leads_reminders_destroy(&reminders);
        crm_daemon_destroy(&d);
        return 1;
    }
    int rc = crm_daemon_run(d);
    leads_reminders_destroy(&reminders);
    if (self.deals) /* before the daemon: its ZeroMQ context waits for every socket */
        crm_rpc_client_destroy(&self.deals);
    if (self.assign)
        crm_rpc_client_destroy(&self.assign);
    crm_daemon_destroy(&d);
    return rc;
}

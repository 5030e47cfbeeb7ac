/* crm-notify: tells people and systems what happened (DESIGN §2). Wiring only. */
#include <curl/curl.h>
#include <stdio.h>

#include "notify.h"

extern const crm_migration_t notify_migrations[];
extern const unsigned notify_migrations_count;

int main(int argc, char **argv)
{
    const crm_daemon_spec_t spec = {
        .name = "notify",
        .summary = "crm-notify: notification settings, the in-app inbox, e-mail and outbound webhooks.",
        .migrations = notify_migrations,
        .database = true,
        .rpc = true,
        .outbox = false,
        .inbox = true,
        .migration_count = notify_migrations_count,
    };
    crm_err_t err;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    crm_daemon_t *d = crm_daemon_new(&spec, argc, argv, &err);
    if (!d)
        return err.code == CRM_OK ? 0 : 1;
    notify_t self = {.daemon = d};
    notify_rpc_register(&self);
    if (notify_consume_register(&self, &err) != CRM_OK) {
        fprintf(stderr, "crm-notify: %s\n", err.message);
        crm_daemon_destroy(&d);
        notify_consume_destroy(&self.consume);
        return 1;
    }
    self.mail = notify_mail_new(d, &err);
    if (!self.mail || notify_mail_start(self.mail, &err) != CRM_OK) {
        fprintf(stderr, "crm-notify: %s\n", err.message);
        notify_mail_destroy(&self.mail);
        crm_daemon_destroy(&d);
        notify_consume_destroy(&self.consume);
        return 1;
    }
    self.webhooks = notify_webhooks_new(d);
    if (notify_webhooks_start(self.webhooks, &err) != CRM_OK) {
        fprintf(stderr, "crm-notify: %s\n", err.message);
        notify_webhooks_destroy(&self.webhooks);
        notify_mail_destroy(&self.mail);
        crm_daemon_destroy(&d);
        notify_consume_destroy(&self.consume);
        return 1;
    }
    int rc = crm_daemon_run(d);
    notify_webhooks_destroy(&self.webhooks);
    notify_mail_destroy(&self.mail);
    crm_daemon_destroy(&d);
    notify_consume_destroy(&self.consume);
    curl_global_cleanup();
    return rc;
}

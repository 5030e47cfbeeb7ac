/* crm-gateway's context: the daemon's parts it uses, its RPC clients and configured webhook
 * sources, start/stop of the HTTP server and of the bootstrap thread, and readiness. */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "crm/log.h"
#include "crm/util.h"
#include "http.h"

static const char *const svc_names[GW_SVC_COUNT] = {"leads", "assign", "notify", "deals"};

crm_rpc_client_t *gw_client(gw_t *gw, const char *service)
{
    for (int i = 0; service && i < GW_SVC_COUNT; i++)
        if (strcmp(svc_names[i], service) == 0)
            return gw->clients[i];
    return NULL;
}

int gw_rpc_timeout_ms(gw_t *gw, const char *service)
{
    long dflt = crm_config_int(gw->config, "gateway.rpc_timeout_ms", 5000);
    char key[64];
    snprintf(key, sizeof key, "%s.rpc_timeout_ms", service ? service : "gateway");
    long v = crm_config_int(gw->config, key, dflt);
    return v > 0 && v < 600000 ? (int)v : 5000;
}

crm_db_t *gw_db_get(gw_t *gw, int timeout_ms, crm_err_t *err)
{
    if (!gw->db) {
        crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no database pool");
        return NULL;
    }
    return crm_db_pool_get(gw->db, timeout_ms, err);
}

const gw_source_t *gw_source_find(const gw_t *gw, const char *name)
{
    for (size_t i = 0; name && i < gw->nsources; i++)
        if (strcmp(gw->sources[i].name, name) == 0)
            return &gw->sources[i];
    return NULL;
}

void gw_sources_load(gw_t *gw)
{
    gw->nsources = 0;
    size_t n = crm_config_len(gw->config, "gateway.sources");
    if (n == 0 && !crm_config_has(gw->config, "gateway.sources")) {
        /* The documented default: one unsigned HTML form source. */
        gw_source_t *s = &gw->sources[gw->nsources++];
        snprintf(s->name, sizeof s->name, "website");
        snprintf(s->kind, sizeof s->kind, "form");
        snprintf(s->signature, sizeof s->signature, "none");
        return;
    }
    for (size_t i = 0; i < n && gw->nsources < GW_MAX_SOURCES; i++) {
        char key[96];
        snprintf(key, sizeof key, "gateway.sources.%zu.name", i);
        const char *name = crm_config_str(gw->config, key, NULL);
        snprintf(key, sizeof key, "gateway.sources.%zu.kind", i);
        const char *kind = crm_config_str(gw->config, key, "form");
        snprintf(key, sizeof key, "gateway.sources.%zu.signature", i);
        /* No default: a source is unsigned only when it says "signature: none". */
        const char *sig = crm_config_str(gw->config, key, "");
        if (!name || !name[0]) {
            crm_log_warn(NULL, "gateway.source_skipped", "index=%zu reason=\"no name\"", i);
            continue;
        }
        gw_source_t *s = &gw->sources[gw->nsources++];
        snprintf(s->name, sizeof s->name, "%s", name);
        snprintf(s->kind, sizeof s->kind, "%s", kind);
        snprintf(s->signature, sizeof s->signature, "%s", sig);
        crm_log_info(NULL, "gateway.source", "name=%s kind=%s signature=%s", s->name, s->kind,
                     s->signature[0] ? s->signature : "(unset)");
    }
}

gw_t *gw_new(crm_daemon_t *d, crm_err_t *err)
{
    gw_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->d = d;
    self->config = d->config;
    self->metrics = d->metrics;
    self->db = d->db;
    self->outbox = d->outbox;
    pthread_mutex_init(&self->boot_lock, NULL);
    snprintf(self->boot_reason, sizeof self->boot_reason, "bootstrap not started");
    long max_body = crm_config_int(self->config, "gateway.max_body_bytes", 1048576);
    self->max_body = max_body > 0 ? (size_t)max_body : 1048576;
    self->db_wait_ms = (int)crm_config_int(self->config, "gateway.db_wait_ms", 2000);
    gw_sources_load(self);
    self->auth = gw_auth_new();
    for (int i = 0; i < GW_SVC_COUNT; i++) {
        self->clients[i] = crm_daemon_client(d, svc_names[i], err);
        if (!self->clients[i]) {
            gw_destroy(&self);
            return NULL;
        }
    }
    crm_metrics_help(self->metrics, "crm_http_requests_total", "HTTP requests by method, route and status");
    crm_metrics_help(self->metrics, "crm_http_request_duration_seconds", "HTTP request latency by route");
    crm_metrics_help(self->metrics, "crm_gateway_deliveries_total",
                     "Inbound webhook deliveries by source, outcome and reason");
    return self;
}

/* Bootstraps, then watches for SIGTERM: the HTTP server stops taking requests as soon as the
 * daemon starts draining, so that nothing is accepted after the outbox's last flush. */
static void *boot_and_watch(void *arg)
{
    gw_t *self = arg;
    gw_auth_bootstrap_thread(self);
    while (!atomic_load(&self->quit)) {
        if (self->d->stopping) {
            gw_http_stop(self->http);
            break;
        }
        crm_sleep_ms(20);
    }
    return NULL;
}

int gw_start(gw_t *self, crm_err_t *err)
{
    self->http = gw_http_new(self, err);
    if (!self->http)
        return err->code;
    if (pthread_create(&self->boot_thread, NULL, boot_and_watch, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot start the bootstrap thread");
    self->boot_started = true;
    return CRM_OK;
}

void gw_stop(gw_t *self)
{
    if (!self)
        return;
    atomic_store(&self->quit, true);
    gw_http_stop(self->http);
    if (self->boot_started) {
        pthread_join(self->boot_thread, NULL);
        self->boot_started = false;
    }
}

void gw_destroy(gw_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_t *self = *self_p;
    gw_stop(self);
    gw_http_destroy(&self->http);
    for (int i = 0; i < GW_SVC_COUNT; i++)
        crm_rpc_client_destroy(&self->clients[i]);
    gw_auth_destroy(&self->auth);
    pthread_mutex_destroy(&self->boot_lock);
    free(self);
    *self_p = NULL;
}

bool gw_ready(void *arg, char *reason, unsigned long reason_len)
{
    gw_t *self = arg;
    if (!self->http) {
        snprintf(reason, reason_len, "http server not started");
        return false;
    }
    if (!atomic_load(&self->bootstrapped)) {
        pthread_mutex_lock(&self->boot_lock);
        snprintf(reason, reason_len, "bootstrap: %s", self->boot_reason);
        pthread_mutex_unlock(&self->boot_lock);
        return false;
    }
    return true;
}

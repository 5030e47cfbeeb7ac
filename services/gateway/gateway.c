/* crm-gateway's context: the daemon's parts it uses, its RPC clients and configured webhook
 * sources, start/stop of the HTTP server and of the bootstrap thread, and readiness. */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "commit.h"
#include "crm/log.h"
#include "crm/util.h"
#include "http.h"
#include "mapping.h"
#include "ratelimit.h"
#include "signature.h"
#include "stream.h"

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

static const char *cfg(const gw_t *gw, size_t i, const char *sub, const char *dflt)
{
    char key[160];
    snprintf(key, sizeof key, "gateway.sources.%zu.%s", i, sub);
    return crm_config_str(gw->config, key, dflt);
}

static size_t cfg_len(const gw_t *gw, size_t i, const char *sub)
{
    char key[160];
    snprintf(key, sizeof key, "gateway.sources.%zu.%s", i, sub);
    return crm_config_len(gw->config, key);
}

static const char *cfg_item(const gw_t *gw, size_t i, const char *sub, size_t j)
{
    char key[160];
    snprintf(key, sizeof key, "gateway.sources.%zu.%s", i, sub);
    return crm_config_list_str(gw->config, key, j);
}

static bool known_type(const char *t)
{
    static const char *const types[] = {"zendesk",  "intercom", "sunshine", "livechat",
                                        "typeform", "webflow",  "html",     "json"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i], t) == 0)
            return true;
    return false;
}

/* The mapping entries of source i (gateway.sources.i.mapping: a list of {field, pointer | ref |
 * label | key | value}). */
static void load_mapping(const gw_t *gw, size_t i, gw_source_t *s)
{
    size_t n = cfg_len(gw, i, "mapping");
    for (size_t j = 0; j < n && s->nmapping < GW_MAX_MAPPING; j++) {
        char sub[64];
        gw_map_entry_t *m = &s->mapping[s->nmapping];
        memset(m, 0, sizeof *m);
#define MAPKEY(member)                                                                                       \
    snprintf(sub, sizeof sub, "mapping.%zu." #member, j);                                                    \
    snprintf(m->member, sizeof m->member, "%s", cfg(gw, i, sub, ""))
        MAPKEY(field);
        MAPKEY(pointer);
        MAPKEY(ref);
        MAPKEY(label);
        MAPKEY(key);
        MAPKEY(value);
#undef MAPKEY
        int sources = !!m->pointer[0] + !!m->ref[0] + !!m->label[0] + !!m->key[0] + !!m->value[0];
        if (!gw_mapping_field_ok(m->field) || sources != 1 || (m->pointer[0] && m->pointer[0] != '/')) {
            crm_log_error(NULL, "gateway.mapping_skipped",
                          "source=%s index=%zu reason=\"needs a known field and exactly one of pointer "
                          "(starting with /), ref, label, key, value\"",
                          s->name, j);
            continue;
        }
        s->nmapping++;
    }
}

void gw_sources_load(gw_t *gw)
{
    gw->nsources = 0;
    size_t n = crm_config_len(gw->config, "gateway.sources");
    if (n == 0 && !crm_config_has(gw->config, "gateway.sources")) {
        /* The documented default: one unsigned HTML form source. */
        gw_source_t *s = &gw->sources[gw->nsources++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "website");
        snprintf(s->kind, sizeof s->kind, "form");
        snprintf(s->type, sizeof s->type, "html");
        snprintf(s->signature, sizeof s->signature, "none");
        s->tolerance_s = 300;
        return;
    }
    for (size_t i = 0; i < n && gw->nsources < GW_MAX_SOURCES; i++) {
        const char *name = cfg(gw, i, "name", NULL);
        if (!name || !name[0] || strlen(name) >= sizeof gw->sources[0].name || strchr(name, '/')) {
            crm_log_warn(NULL, "gateway.source_skipped", "index=%zu reason=\"no usable name\"", i);
            continue;
        }
        gw_source_t *s = &gw->sources[gw->nsources++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", name);
        snprintf(s->kind, sizeof s->kind, "%s", cfg(gw, i, "kind", "form"));
        const char *dflt_type = strcmp(s->kind, "support") == 0 ? "zendesk"
                                : strcmp(s->kind, "form") == 0  ? "html"
                                                                : "";
        snprintf(s->type, sizeof s->type, "%s", cfg(gw, i, "type", dflt_type));
        /* No default: a source is unsigned only when it says "signature: none". */
        snprintf(s->signature, sizeof s->signature, "%s", cfg(gw, i, "signature", ""));
        char key[160];
        snprintf(key, sizeof key, "gateway.sources.%zu.tolerance_seconds", i);
        s->tolerance_s = crm_config_int(gw->config, key, 300);
        const char *one = cfg(gw, i, "secret", NULL);
        if (one && one[0])
            snprintf(s->secrets[s->nsecrets++], sizeof s->secrets[0], "%s", one);
        size_t ns = cfg_len(gw, i, "secrets");
        for (size_t j = 0; j < ns && s->nsecrets < 2; j++) {
            const char *v = cfg_item(gw, i, "secrets", j);
            if (v && v[0])
                snprintf(s->secrets[s->nsecrets++], sizeof s->secrets[0], "%s", v);
        }
        snprintf(s->delivery_header, sizeof s->delivery_header, "%s", cfg(gw, i, "delivery_id_header", ""));
        snprintf(s->delivery_pointer, sizeof s->delivery_pointer, "%s",
                 cfg(gw, i, "delivery_id_pointer", ""));
        snprintf(s->event_pointer, sizeof s->event_pointer, "%s", cfg(gw, i, "event_pointer", ""));
        size_t ne = cfg_len(gw, i, "events");
        for (size_t j = 0; j < ne && s->nevents < 4; j++) {
            const char *v = cfg_item(gw, i, "events", j);
            if (v)
                snprintf(s->events[s->nevents++], sizeof s->events[0], "%s", v);
        }
        size_t nt = cfg_len(gw, i, "tags");
        for (size_t j = 0; j < nt && s->ntags < GW_MAX_SOURCE_TAGS; j++) {
            const char *v = cfg_item(gw, i, "tags", j);
            if (v && v[0])
                snprintf(s->tags[s->ntags++], sizeof s->tags[0], "%s", v);
        }
        load_mapping(gw, i, s);
        gw_sig_scheme_t scheme = gw_sig_scheme(s->signature);
        if (!s->signature[0])
            snprintf(s->problem, sizeof s->problem,
                     "the source does not declare `signature: none`, so unsigned deliveries are refused");
        else if (scheme == GW_SIG_UNKNOWN)
            snprintf(s->problem, sizeof s->problem,
                     "this source's signature scheme is not supported: deliveries are refused");
        else if (scheme != GW_SIG_NONE && s->nsecrets == 0)
            snprintf(s->problem, sizeof s->problem,
                     "this source has no secret configured: deliveries are refused");
        else if (!known_type(s->type))
            snprintf(s->problem, sizeof s->problem,
                     "this source's type is not supported: deliveries are refused");
        if (s->problem[0])
            crm_log_error(NULL, "gateway.source_unusable",
                          "name=%s kind=%s type=%s signature=%s reason=\"%s\"", s->name, s->kind, s->type,
                          s->signature[0] ? s->signature : "(unset)", s->problem);
        else
            crm_log_info(NULL, "gateway.source",
                         "name=%s kind=%s type=%s signature=%s secrets=%zu mapping=%zu", s->name, s->kind,
                         s->type, s->signature, s->nsecrets, s->nmapping);
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
    /* Per API token: burst requests at once, per_second sustained; per_second 0 turns it off. */
    long rl_rate = crm_config_int(self->config, "gateway.rate_limit.per_second", 200);
    long rl_burst = crm_config_int(self->config, "gateway.rate_limit.burst", 2 * rl_rate);
    self->ratelimit = gw_ratelimit_new((double)rl_rate, (double)rl_burst);
    for (int i = 0; i < GW_SVC_COUNT; i++) {
        self->clients[i] = crm_daemon_client(d, svc_names[i], err);
        if (!self->clients[i]) {
            gw_destroy(&self);
            return NULL;
        }
    }
    self->stream = gw_stream_new(self, err);
    if (!self->stream) {
        gw_destroy(&self);
        return NULL;
    }
    crm_metrics_help(self->metrics, "crm_http_requests_total", "HTTP requests by method, route and status");
    crm_metrics_help(self->metrics, "crm_http_request_duration_seconds", "HTTP request latency by route");
    crm_metrics_help(self->metrics, "crm_gateway_deliveries_total",
                     "Inbound webhook deliveries by source, outcome and reason");
    crm_metrics_help(self->metrics, "crm_gateway_commit_batches_total",
                     "Transactions of the webhook group committer (each stores one or more deliveries)");
    crm_metrics_help(self->metrics, "crm_gateway_commit_duration_seconds",
                     "Time a group commit of accepted webhooks took (connection, statements, WAL flush)");
    crm_metrics_help(self->metrics, "crm_gateway_commit_deliveries_total",
                     "Accepted webhook deliveries handed to the group committer");
    crm_metrics_help(self->metrics, "crm_gateway_rate_limited_total",
                     "REST requests refused 429 by the per-token rate limit");
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
    /* Group commit (commit.h): committer threads, each batching up to commit_batch accepted
     * deliveries into one transaction. */
    self->committer = gw_committer_new(self, (int)crm_config_int(self->config, "gateway.commit_threads", 2),
                                       (int)crm_config_int(self->config, "gateway.commit_batch", 256), err);
    if (!self->committer)
        return err->code;
    self->http = gw_http_new(self, err);
    if (!self->http)
        return err->code;
    if (pthread_create(&self->boot_thread, NULL, boot_and_watch, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot start the bootstrap thread");
    self->boot_started = true;
    if (gw_stream_start(self->stream, err) != CRM_OK)
        return err->code;
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
    gw_committer_destroy(&self->committer); /* after HTTP: no request waits on it any more */
    gw_stream_stop(self->stream);
}

void gw_destroy(gw_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_t *self = *self_p;
    gw_stop(self);
    gw_http_destroy(&self->http);
    gw_stream_destroy(&self->stream);
    for (int i = 0; i < GW_SVC_COUNT; i++)
        crm_rpc_client_destroy(&self->clients[i]);
    gw_auth_destroy(&self->auth);
    gw_ratelimit_destroy(&self->ratelimit);
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

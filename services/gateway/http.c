/* The public HTTP server of crm-gateway (libmicrohttpd with a thread pool). Per request: a
 * request id (echoed, used as correlation id and error logref), the body size limit (413
 * before reading when Content-Length says so, or as soon as a chunked body crosses it), one
 * structured log line and metrics, and dispatch to the admin paths, /v2 or /webhooks.
 *
 * A webhook whose events go to the group committer does not hold its thread while they are
 * stored: the connection is suspended, the committer resumes it once the commit is done, and
 * the thread answers it then (so one slow commit never stalls the other connections a pool
 * thread serves). */
#include "http.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "crm/log.h"
#include "crm/util.h"
#include "ratelimit.h"
#include "routes.h"
#include "sell.h"
#include "stream.h"
#include "webhooks.h"

typedef struct api_job api_job_t;

struct gw_http_t {
    gw_t *gw;
    struct MHD_Daemon *mhd;
    int port;
    pthread_mutex_t lock;
    _Atomic int suspended; /* webhooks and API requests from their suspension until their answer is sent */
    /* API workers: a /v2 or /v3 request runs on one of them (its RPCs may take a while) while its
     * connection is suspended, so the pool threads stay free for webhooks and other requests. */
    pthread_t *api_threads;
    int napi;
    pthread_mutex_t api_mu;
    pthread_cond_t api_cv;
    api_job_t *api_head, *api_tail;
    bool api_stopping;
};

/* What we keep about one request between libmicrohttpd's calls. */
typedef struct {
    int64_t start_us;
    char corr[65];
    char method[16];
    char *path;
    char *body;
    size_t len, cap;
    bool too_large;
    size_t discarded; /* bytes thrown away after crossing the limit */
    bool answered;
    bool too_large_noted; /* the 413 was counted and archived */
    int status;
    const char *route; /* static pattern for metrics */
    char note[100];    /* the handler's fields for the log line (gw_response_t.note) */
    /* a webhook whose events are with the committer (the connection is suspended) */
    gw_webhook_pending_t *pending;
    atomic_bool stored;
    bool counted; /* in gw_http_t.suspended until on_completed */
    struct MHD_Connection *conn;
    /* an API request on an API worker (the connection is suspended); done once it has answered */
    api_job_t *api;
    atomic_bool api_done;
} req_ctx_t;

struct api_job {
    api_job_t *next;
    req_ctx_t *ctx;
    struct MHD_Connection *conn;
    gw_request_t req;
    char base[300];
    gw_response_t resp;
};

static const char *mhd_header(void *arg, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)arg, MHD_HEADER_KIND, name);
}

const char *gw_request_header(const gw_request_t *req, const char *name)
{
    return req->header ? req->header(req->header_arg, name) : NULL;
}

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    gw_request_t *req = cls;
    if (req->nparams >= GW_MAX_PARAMS) {
        req->too_many_params = true;
        return MHD_NO;
    }
    req->params[req->nparams].key = key ? key : "";
    req->params[req->nparams].value = value ? value : "";
    req->nparams++;
    return MHD_YES;
}

static bool host_ok(const char *h)
{
    if (!h || !h[0] || strlen(h) > 255)
        return false;
    for (const char *p = h; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '-' || c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, req_ctx_t *ctx, gw_response_t *resp)
{
    struct MHD_Response *r;
    const char *ctype = resp->ctype, *allow = resp->allow;
    if (resp->note[0])
        snprintf(ctx->note, sizeof ctx->note, " %s", resp->note);
    if (resp->body && resp->len > 0) {
        r = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (r)
            resp->body = NULL; /* now owned by libmicrohttpd */
    } else {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    gw_response_clear(resp);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "X-Request-Id", ctx->corr);
    if (resp->status != 204 && ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (resp->status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (resp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", resp->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    } else if (resp->status == 503) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    if (resp->status == 413)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ctx->status = resp->status;
    if (resp->route)
        ctx->route = resp->route;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    ctx->answered = ret == MHD_YES;
    return ret;
}

/* The public readiness: the daemon's own state, then the gateway's bootstrap. */
static bool public_ready(void *arg, char *reason, unsigned long reason_len)
{
    gw_t *gw = arg;
    if (!gw->d->ready) {
        snprintf(reason, reason_len, "%s", gw->d->stopping ? "draining" : "starting");
        return false;
    }
    return gw_ready(gw, reason, reason_len);
}

static bool admin_path(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 || strcmp(path, "/metrics") == 0;
}

/* The per-token rate limit of /v2 (after authentication): 429 with Retry-After and a Sell
 * error body. Keyed by the bearer token's hash, so each token has its own bucket. */
static bool rate_limited(gw_t *gw, const gw_request_t *req, gw_response_t *resp)
{
    if (!gw->ratelimit)
        return false;
    char token[256];
    if (!gw_auth_bearer(gw_request_header(req, "Authorization"), token, sizeof token))
        return false;
    char key[65];
    crm_sha256_hex(token, strlen(token), key);
    int wait = gw_ratelimit_take(gw->ratelimit, key, crm_mono_us());
    if (wait == 0)
        return false;
    char details[160];
    snprintf(details, sizeof details, "too many requests for this API token: retry after %d s", wait);
    gw_respond_error(resp, 429, "rate_limit_exceeded", details, NULL, NULL, req->corr);
    resp->retry_after = wait;
    crm_metrics_inc(gw->metrics, "crm_gateway_rate_limited_total", "", 1);
    return true;
}

void gw_dispatch(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    if (admin_path(req->path)) {
        char *body = NULL;
        bool body_free = false;
        const char *ctype = NULL;
        int status = crm_admin_answer(req->path, gw->metrics, public_ready, gw, &body, &body_free, &ctype);
        if (status > 0) {
            gw_response_clear(resp);
            resp->status = status;
            resp->body = body_free ? body : (body ? strdup(body) : NULL);
            resp->len = resp->body ? strlen(resp->body) : 0;
            resp->ctype = ctype;
            resp->route = "admin";
            return;
        }
    }
    if (gw_stream_path(req->path)) { /* Firehose /v3 and Sync API /v2/sync (stream.h) */
        resp->route = "/v3";
        if (gw_auth_check(gw, req, resp) != 0 || rate_limited(gw, req, resp))
            return;
        gw_stream_handle(gw, req, resp);
        return;
    }
    if (strncmp(req->path, "/v2/", 4) == 0 || strcmp(req->path, "/v2") == 0) {
        resp->route = "/v2";
        if (gw_auth_check(gw, req, resp) != 0)
            return;
        if (rate_limited(gw, req, resp))
            return;
        gw_routes_handle(gw, req, resp);
        return;
    }
    if (gw_webhook_path(req->path)) {
        resp->route = gw_webhook_route(req->path);
        if (!gw_webhook_precheck(gw, req, resp))
            gw_webhook_handle(gw, req, resp);
        return;
    }
    gw_respond_error(resp, 404, "incorrect_path", "Requested path was not found.", NULL, NULL, req->corr);
}

static void fill_request(struct MHD_Connection *conn, req_ctx_t *ctx, gw_request_t *req, char *base,
                         size_t baselen)
{
    memset(req, 0, sizeof *req);
    req->method = ctx->method;
    req->path = ctx->path;
    req->corr = ctx->corr;
    req->header = mhd_header;
    req->header_arg = conn;
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (host_ok(host))
        snprintf(base, baselen, "http://%s", host);
    else
        base[0] = '\0';
    req->base = base;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_param, req);
    req->body = ctx->body;
    req->body_len = ctx->len;
}

static bool is_webhook_path(const char *path)
{
    return gw_webhook_path(path);
}

static enum MHD_Result answer_too_large(gw_http_t *self, struct MHD_Connection *conn, req_ctx_t *ctx)
{
    gw_response_t resp = {0};
    char details[128];
    snprintf(details, sizeof details, "the request body exceeds the limit of %zu bytes", self->gw->max_body);
    gw_respond_error(&resp, 413, "request_too_large", details, NULL, NULL, ctx->corr);
    if (is_webhook_path(ctx->path) && !ctx->too_large_noted) {
        ctx->too_large_noted = true;
        gw_request_t req;
        char base[300];
        fill_request(conn, ctx, &req, base, sizeof base);
        req.body = NULL;
        req.body_len = 0;
        gw_webhook_too_large(self->gw, &req);
    }
    return send_response(conn, ctx, &resp);
}

/* First call for a request: headers only. Answers at once what needs no body. */
static enum MHD_Result on_headers(gw_http_t *self, struct MHD_Connection *conn, req_ctx_t *ctx)
{
    gw_request_t req;
    char base[300];
    fill_request(conn, ctx, &req, base, sizeof base);
    gw_response_t resp = {0};
    ctx->route = is_webhook_path(ctx->path)           ? gw_webhook_route(ctx->path)
                 : strncmp(ctx->path, "/v2/", 4) == 0 ? "/v2"
                                                      : NULL;
    if (is_webhook_path(ctx->path) && gw_webhook_precheck(self->gw, &req, &resp))
        return send_response(conn, ctx, &resp);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t n = 0;
    if (cl && crm_parse_i64(cl, &n) && n > (int64_t)self->gw->max_body)
        return answer_too_large(self, conn, ctx);
    return MHD_YES;
}

/* An API worker: takes a suspended request, dispatches it (authentication, RPCs) and resumes its
 * connection; the pool thread then sends the answer. */
static void *api_worker(void *arg)
{
    gw_http_t *self = arg;
    pthread_mutex_lock(&self->api_mu);
    for (;;) {
        while (!self->api_head && !self->api_stopping)
            pthread_cond_wait(&self->api_cv, &self->api_mu);
        api_job_t *job = self->api_head;
        if (!job)
            break; /* stopping and nothing left */
        self->api_head = job->next;
        if (!self->api_head)
            self->api_tail = NULL;
        pthread_mutex_unlock(&self->api_mu);
        gw_dispatch(self->gw, &job->req, &job->resp);
        if (job->resp.status == 0)
            gw_respond_error(&job->resp, 500, "server_error", "no answer", NULL, NULL, job->req.corr);
        req_ctx_t *ctx = job->ctx;
        struct MHD_Connection *conn = job->conn;
        atomic_store(&ctx->api_done, true);
        MHD_resume_connection(conn); /* job and ctx belong to the pool thread from here */
        pthread_mutex_lock(&self->api_mu);
    }
    pthread_mutex_unlock(&self->api_mu);
    return NULL;
}

/* Hands a request to the API workers: its connection waits suspended (MHD keeps its headers,
 * query arguments and our body meanwhile), counted like a held webhook. */
static enum MHD_Result api_submit(gw_http_t *self, struct MHD_Connection *conn, req_ctx_t *ctx)
{
    api_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return MHD_NO;
    job->ctx = ctx;
    job->conn = conn;
    fill_request(conn, ctx, &job->req, job->base, sizeof job->base);
    ctx->api = job;
    ctx->conn = conn;
    ctx->counted = true;
    atomic_fetch_add(&self->suspended, 1);
    MHD_suspend_connection(conn);
    pthread_mutex_lock(&self->api_mu);
    if (self->api_tail)
        self->api_tail->next = job;
    else
        self->api_head = job;
    self->api_tail = job;
    pthread_cond_signal(&self->api_cv);
    pthread_mutex_unlock(&self->api_mu);
    return MHD_YES;
}

/* From a committer thread: the suspended webhook's events are stored; its pool thread answers. */
static void on_stored(void *arg)
{
    req_ctx_t *ctx = arg;
    atomic_store(&ctx->stored, true);
    MHD_resume_connection(ctx->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    gw_http_t *self = cls;
    req_ctx_t *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        ctx->start_us = crm_mono_us();
        snprintf(ctx->method, sizeof ctx->method, "%s", method ? method : "");
        ctx->path = strdup(url ? url : "/");
        const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        if (gw_request_id_ok(rid))
            snprintf(ctx->corr, sizeof ctx->corr, "%s", rid);
        else
            crm_uuid7(ctx->corr);
        *con_cls = ctx;
        if (!ctx->path)
            return MHD_NO;
        return on_headers(self, conn, ctx);
    }
    if (ctx->answered) {
        *upload_data_size = 0; /* answered early: discard whatever the client still sends */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ctx->too_large) {
            /* A sender that keeps streaming long past the limit would hold a thread forever:
             * after another max(max_body, 1 MiB) the connection is closed without an answer. */
            ctx->discarded += n;
            size_t allowance = self->gw->max_body > (1u << 20) ? self->gw->max_body : (1u << 20);
            return ctx->discarded > allowance ? MHD_NO : MHD_YES;
        }
        if (ctx->len + n > self->gw->max_body) {
            /* A chunked (or lying) body crossed the limit: stop keeping it and answer 413. */
            ctx->too_large = true;
            free(ctx->body);
            ctx->body = NULL;
            ctx->len = ctx->cap = 0;
            /* libmicrohttpd may refuse a response in the middle of an upload: then the rest is
             * discarded and the 413 goes out when the body ends (or the timeout closes it). */
            (void)answer_too_large(self, conn, ctx);
            return MHD_YES;
        }
        if (ctx->len + n + 1 > ctx->cap) {
            size_t cap = ctx->cap ? ctx->cap : 4096;
            while (cap < ctx->len + n + 1)
                cap *= 2;
            char *b = realloc(ctx->body, cap);
            if (!b)
                return MHD_NO;
            ctx->body = b;
            ctx->cap = cap;
        }
        memcpy(ctx->body + ctx->len, upload_data, n);
        ctx->len += n;
        ctx->body[ctx->len] = '\0';
        return MHD_YES;
    }
    if (ctx->too_large)
        return answer_too_large(self, conn, ctx);
    gw_response_t resp = {0};
    if (ctx->api) {
        if (!atomic_load(&ctx->api_done))
            return MHD_YES; /* not resumed by its API worker yet */
        api_job_t *job = ctx->api;
        ctx->api = NULL;
        enum MHD_Result ret = send_response(conn, ctx, &job->resp); /* counted until on_completed */
        free(job);
        return ret;
    }
    if (ctx->pending) {
        if (!atomic_load(&ctx->stored))
            return MHD_YES; /* not resumed by the committer yet */
        gw_webhook_finish(self->gw, ctx->pending, &resp);
        ctx->pending = NULL;
        /* still counted: gw_http_stop must not close the connection before the answer is
         * written; on_completed uncounts it */
        return send_response(conn, ctx, &resp);
    }
    bool webhook = gw_webhook_path(ctx->path);
    if (!webhook && self->napi > 0 && !admin_path(ctx->path))
        return api_submit(self, conn, ctx); /* fills its own request, kept while suspended */
    gw_request_t req;
    char base[300];
    fill_request(conn, ctx, &req, base, sizeof base);
    if (webhook) {
        resp.route = gw_webhook_route(ctx->path);
        if (gw_webhook_precheck(self->gw, &req, &resp))
            return send_response(conn, ctx, &resp);
        gw_webhook_pending_t *p = gw_webhook_start(self->gw, &req, &resp);
        if (p) {
            ctx->pending = p;
            ctx->conn = conn;
            ctx->counted = true;
            atomic_fetch_add(&self->suspended, 1);
            MHD_suspend_connection(conn);
            gw_webhook_submit(self->gw, p, on_stored, ctx);
            return MHD_YES;
        }
        return send_response(conn, ctx, &resp);
    }
    gw_dispatch(self->gw, &req, &resp);
    if (resp.status == 0)
        gw_respond_error(&resp, 500, "server_error", "no answer", NULL, NULL, ctx->corr);
    return send_response(conn, ctx, &resp);
}

static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    gw_http_t *self = cls;
    req_ctx_t *ctx = *con_cls;
    if (!ctx)
        return;
    double secs = (double)(crm_mono_us() - ctx->start_us) / 1e6;
    char qpath[300];
    crm_log_quote(ctx->path ? ctx->path : "", qpath, sizeof qpath);
    crm_log_info(ctx->corr, "http.request", "method=%s path=%s status=%d duration_ms=%.3f bytes_in=%zu%s%s",
                 method_label(ctx->method), qpath, ctx->status, secs * 1000.0, ctx->len, ctx->note,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
    char labels[256];
    const char *route = ctx->route ? ctx->route : "other";
    snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\",status=\"%d\"", method_label(ctx->method),
             route, ctx->status);
    crm_metrics_inc(self->gw->metrics, "crm_http_requests_total", labels, 1);
    snprintf(labels, sizeof labels, "route=\"%s\"", route);
    crm_metrics_observe(self->gw->metrics, "crm_http_request_duration_seconds", labels, secs);
    if (ctx->counted)
        atomic_fetch_sub(&self->suspended, 1); /* its answer is out (or the client went) */
    free(ctx->path);
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
}

gw_http_t *gw_http_new(gw_t *gw, crm_err_t *err)
{
    const char *bind = crm_config_str(gw->config, "gateway.http_bind", "127.0.0.1");
    long port = crm_config_int(gw->config, "gateway.http_port", 8080);
    long threads = crm_config_int(gw->config, "gateway.http_threads", 32);
    long timeout_s = crm_config_int(gw->config, "gateway.request_timeout_seconds", 30);
    if (port < 0 || port > 65535) {
        crm_err_set(err, CRM_EINVALID, "gateway.http_port", "incorrect_value", "bad gateway.http_port %ld",
                    port);
        return NULL;
    }
    threads = threads < 1 ? 1 : (threads > 256 ? 256 : threads);
    struct sockaddr_in sin = {0};
    struct sockaddr_in6 sin6 = {0};
    struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, bind, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, bind, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        crm_err_set(err, CRM_EINVALID, "gateway.http_bind", "incorrect_value",
                    "gateway.http_bind must be an IP address, given: %s", bind);
        return NULL;
    }
    gw_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->gw = gw;
    pthread_mutex_init(&self->lock, NULL);
    pthread_mutex_init(&self->api_mu, NULL);
    pthread_cond_init(&self->api_cv, NULL);
    long api = crm_config_int(gw->config, "gateway.api_threads", threads);
    api = api < 0 ? 0 : (api > 256 ? 256 : api);
    self->api_threads = api > 0 ? calloc((size_t)api, sizeof *self->api_threads) : NULL;
    for (long i = 0; i < api && self->api_threads; i++)
        if (pthread_create(&self->api_threads[self->napi], NULL, api_worker, self) == 0)
            self->napi++;
    self->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, self, MHD_OPTION_SOCK_ADDR,
                                 sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(timeout_s > 0 ? timeout_s : 30),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, self, MHD_OPTION_END);
    if (!self->mhd) {
        crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "cannot listen on %s:%ld", bind, port);
        gw_http_destroy(&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : (int)port;
    crm_log_info(NULL, "http.listening", "bind=%s port=%d threads=%ld api_threads=%d max_body=%zu", bind,
                 self->port, threads, self->napi, gw->max_body);
    return self;
}

int gw_http_port(const gw_http_t *self)
{
    return self ? self->port : 0;
}

void gw_http_stop(gw_http_t *self)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    if (self->mhd) {
        /* Stop accepting first (the listen socket closes), let the committer finish the
         * suspended webhooks (it stops after us) and wait until their answers are written
         * (counted down in on_completed, not when queued: MHD_stop_daemon closes connections
         * whose answer is still queued), then wait for in-flight requests. */
        MHD_socket fd = MHD_quiesce_daemon(self->mhd);
        for (int ms = 0; atomic_load(&self->suspended) > 0 && ms < 30000; ms++)
            usleep(1000);
        if (atomic_load(&self->suspended) > 0)
            crm_log_warn(NULL, "http.stop_suspended", "connections=%d", atomic_load(&self->suspended));
        MHD_stop_daemon(self->mhd);
        if (fd != MHD_INVALID_SOCKET)
            close(fd); /* quiesce hands the listen socket to us; close it only after stop */
        self->mhd = NULL;
        crm_log_info(NULL, "http.stopped", "port=%d", self->port);
    }
    /* The API workers last: every request they had is answered (none can come any more). */
    pthread_mutex_lock(&self->api_mu);
    self->api_stopping = true;
    pthread_cond_broadcast(&self->api_cv);
    pthread_mutex_unlock(&self->api_mu);
    for (int i = 0; i < self->napi; i++)
        pthread_join(self->api_threads[i], NULL);
    self->napi = 0;
    pthread_mutex_unlock(&self->lock);
}

void gw_http_destroy(gw_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_http_t *self = *self_p;
    gw_http_stop(self);
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->api_mu);
    pthread_cond_destroy(&self->api_cv);
    free(self->api_threads);
    free(self);
    *self_p = NULL;
}

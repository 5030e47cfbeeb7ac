/* The admin HTTP server (libmicrohttpd, its own polling thread): /healthz, /readyz and
 * /metrics on each daemon's admin port. crm_admin_answer is shared with the gateway. */
#include "crm/admin.h"
#include "crm/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct crm_admin_t {
    struct MHD_Daemon *daemon;
    crm_metrics_t *metrics;
    crm_ready_fn ready;
    void *ready_arg;
    int port;
};

int crm_admin_answer(const char *path, crm_metrics_t *metrics, crm_ready_fn ready, void *ready_arg, char **body,
                     bool *body_free, const char **ctype)
{
    *body_free = false;
    *ctype = "text/plain; charset=utf-8";
    if (!path)
        return 0;
    if (strcmp(path, "/healthz") == 0) {
        *body = (char *)"ok\n";
        return 200;
    }
    if (strcmp(path, "/readyz") == 0) {
        char reason[256] = "";
        if (!ready || ready(ready_arg, reason, sizeof reason)) {
            *body = (char *)"ready\n";
            return 200;
        }
        char *text = malloc(strlen(reason) + 16);
        if (!text) {
            *body = (char *)"not ready\n";
            return 503;
        }
        sprintf(text, "not ready: %s\n", reason[0] ? reason : "starting");
        *body = text;
        *body_free = true;
        return 503;
    }
    if (strcmp(path, "/metrics") == 0) {
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        size_t len = 0;
        char *text = crm_metrics_render(metrics, &len);
        if (!text) {
            *body = (char *)"metrics unavailable\n";
            return 500;
        }
        *body = text;
        *body_free = true;
        return 200;
    }
    return 0;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, int status, char *body, bool body_free,
                                 const char *ctype)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), body, body_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (body_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result admin_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                     const char *version, const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    (void)version, (void)upload_data;
    crm_admin_t *self = cls;
    /* First call for a request: come back once the headers (and any body) are in. */
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* ignore bodies: nothing here takes one */
        return MHD_YES;
    }
    const char *text_plain = "text/plain; charset=utf-8";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(conn, 405, (char *)"method not allowed\n", false, text_plain);
    char *body = NULL;
    bool body_free = false;
    const char *ctype = text_plain;
    int status = crm_admin_answer(url, self->metrics, self->ready, self->ready_arg, &body, &body_free, &ctype);
    if (status == 0)
        return send_text(conn, 404, (char *)"not found\n", false, text_plain);
    return send_text(conn, status, body, body_free, ctype);
}

/* libmicrohttpd's own error messages, as logfmt lines like everything else. */
static void admin_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[400], q[440];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    crm_log_warn(NULL, "admin.http", "error=%s", crm_log_quote(msg, q, sizeof q));
}

crm_admin_t *crm_admin_new(const char *bind_addr, int port, crm_metrics_t *metrics, crm_ready_fn ready,
                           void *ready_arg, crm_err_t *err)
{
    if (port < 0 || port > 65535) {
        crm_err_set(err, CRM_EINVALID, "admin_port", "incorrect_value", "admin: bad port %d", port);
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const char *addr = (bind_addr && *bind_addr) ? bind_addr : "127.0.0.1";
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        crm_err_set(err, CRM_EINVALID, "admin_bind", "incorrect_value", "admin: bad bind address %s", addr);
        return NULL;
    }
    crm_admin_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->metrics = metrics;
    self->ready = ready;
    self->ready_arg = ready_arg;
    self->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, admin_request, self, MHD_OPTION_EXTERNAL_LOGGER,
                                    admin_mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
                                    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                                    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
    if (!self->daemon) {
        crm_err_set(err, CRM_EUNAVAILABLE, "admin_port", "bind_failed", "admin: cannot listen on %s:%d", addr, port);
        free(self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? (int)info->port : port;
    return self;
}

int crm_admin_port(const crm_admin_t *self)
{
    return self ? self->port : 0;
}

void crm_admin_destroy(crm_admin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    MHD_stop_daemon((*self_p)->daemon);
    free(*self_p);
    *self_p = NULL;
}

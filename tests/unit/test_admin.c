/* Unit tests of admin.c: real HTTP requests (libcurl) to /healthz, /readyz, /metrics and 404s. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crm/admin.h"

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    buf_t *b = arg;
    b->data = realloc(b->data, b->len + size * n + 1);
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* GET (or another method) http://127.0.0.1:port/path → status; body in *out (malloc'd). */
static long http(int port, const char *method, const char *path, char **out, char **ctype_out)
{
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    buf_t b = {.data = calloc(1, 1)};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (ctype_out) {
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        *ctype_out = ct ? strdup(ct) : NULL;
    }
    curl_easy_cleanup(c);
    if (out)
        *out = b.data;
    else
        free(b.data);
    return status;
}

static atomic_bool is_ready;

static bool ready_cb(void *arg, char *reason, unsigned long len)
{
    cr_assert_str_eq((const char *)arg, "ctx");
    if (atomic_load(&is_ready))
        return true;
    snprintf(reason, len, "database down");
    return false;
}

Test(admin, endpoints_over_http)
{
    crm_metrics_t *m = crm_metrics_new();
    crm_metrics_help(m, "crm_things_total", "Things.");
    crm_metrics_inc(m, "crm_things_total", "kind=\"a\"", 5);
    crm_err_t err;
    atomic_store(&is_ready, false);
    crm_admin_t *a = crm_admin_new("127.0.0.1", 0, m, ready_cb, "ctx", &err);
    cr_assert_not_null(a, "%s", err.message);
    int port = crm_admin_port(a);
    cr_assert_gt(port, 0);

    char *body = NULL, *ct = NULL;
    cr_assert_eq(http(port, "GET", "/healthz", &body, NULL), 200);
    cr_assert_str_eq(body, "ok\n");
    free(body);

    cr_assert_eq(http(port, "GET", "/readyz", &body, NULL), 503);
    cr_assert(strstr(body, "database down") != NULL, "%s", body);
    free(body);
    atomic_store(&is_ready, true);
    cr_assert_eq(http(port, "GET", "/readyz", &body, NULL), 200);
    free(body);

    cr_assert_eq(http(port, "GET", "/metrics", &body, &ct), 200);
    cr_assert(strstr(body, "# HELP crm_things_total Things.\n# TYPE crm_things_total counter\n"
                           "crm_things_total{kind=\"a\"} 5\n") != NULL, "%s", body);
    cr_assert(strncmp(ct, "text/plain; version=0.0.4", 25) == 0, "%s", ct);
    free(body);
    free(ct);

    cr_assert_eq(http(port, "GET", "/nope", &body, NULL), 404);
    free(body);
    cr_assert_eq(http(port, "POST", "/healthz", &body, NULL), 405);
    free(body);

    crm_admin_destroy(&a);
    cr_assert_null(a);
    crm_metrics_destroy(&m);
}

Test(admin, no_ready_callback_and_port_in_use)
{
    crm_err_t err;
    crm_admin_t *a = crm_admin_new("127.0.0.1", 0, NULL, NULL, NULL, &err);
    cr_assert_not_null(a, "%s", err.message);
    int port = crm_admin_port(a);
    char *body = NULL;
    cr_assert_eq(http(port, "GET", "/readyz", &body, NULL), 200);
    free(body);
    cr_assert_eq(http(port, "GET", "/metrics", &body, NULL), 200);
    free(body);
    /* A second server on the same port fails with an error, not a crash. */
    crm_admin_t *b = crm_admin_new("127.0.0.1", port, NULL, NULL, NULL, &err);
    cr_assert_null(b);
    cr_assert_neq(err.code, CRM_OK);
    cr_assert_null(crm_admin_new("not an address", 0, NULL, NULL, NULL, &err));
    crm_admin_destroy(&a);
}

Test(admin, answer_directly)
{
    char *body;
    bool body_free;
    const char *ct;
    cr_assert_eq(crm_admin_answer("/healthz", NULL, NULL, NULL, &body, &body_free, &ct), 200);
    cr_assert_not(body_free);
    cr_assert_eq(crm_admin_answer("/v2/leads", NULL, NULL, NULL, &body, &body_free, &ct), 0);
    atomic_store(&is_ready, false);
    cr_assert_eq(crm_admin_answer("/readyz", NULL, ready_cb, "ctx", &body, &body_free, &ct), 503);
    cr_assert(body_free);
    free(body);
}

/* Tests of the gateway's HTTP layer over real sockets (libcurl → libmicrohttpd): request ids,
 * size limits (Content-Length and chunked), the webhook answer policy, auth, roles, paging
 * checks, and — against a throwaway Postgres — accepted, duplicate and invalid deliveries with
 * their outbox rows. The services behind /v2 are absent here, so a good request gets 503. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "auth.h"
#include "crm/config.h"
#include "crm/db.h"
#include "crm/metrics.h"
#include "crm/outbox.h"
#include "crm/rpc.h"
#include "crm/util.h"
#include "gateway.h"
#include "http.h"
#include "pgtest.h"
#include "store.h"

static pgtest_t *pg;
static crm_db_params_t params;
static crm_db_pool_t *pool;
static crm_outbox_t *outbox;
static void *zctx;
static crm_daemon_t fake_daemon;
static gw_t *gw;
static int port;

static const char yaml[] = "gateway:\n"
                           "  http_bind: 127.0.0.1\n"
                           "  http_port: 0\n"
                           "  http_threads: 2\n"
                           "  max_body_bytes: 1000\n"
                           "  rpc_timeout_ms: 300\n"
                           "  sources:\n"
                           "    - {name: website, kind: form, signature: none}\n"
                           "    - {name: signed, kind: form, signature: hmac-sha256}\n"
                           "    - {name: implicit, kind: form}\n"
                           "    - {name: desk, kind: support, signature: none}\n";

static void start_gateway(bool with_db)
{
    crm_err_t err;
    zctx = zmq_ctx_new();
    gw = calloc(1, sizeof *gw);
    fake_daemon.ready = 1;
    gw->d = &fake_daemon;
    gw->config = crm_config_parse(yaml, strlen(yaml), &err);
    cr_assert_not_null(gw->config, "%s", err.message);
    gw->metrics = crm_metrics_new();
    pthread_mutex_init(&gw->boot_lock, NULL);
    gw->max_body = (size_t)crm_config_int(gw->config, "gateway.max_body_bytes", 0);
    gw->db_wait_ms = 1000;
    gw_sources_load(gw);
    cr_assert_eq(gw->nsources, 4);
    gw->auth = gw_auth_new();
    if (with_db) {
        pg = pgtest_start();
        cr_assert_not_null(pg);
        params = (crm_db_params_t){.conninfo = pgtest_url(pg), .schema = "gateway", .retry_seconds = 5};
        crm_db_t *db = crm_db_connect(&params, &err);
        cr_assert_not_null(db, "%s", err.message);
        cr_assert_eq(crm_db_migrate(db, "gateway", gateway_migrations, gateway_migrations_count, &err),
                     CRM_OK, "%s", err.message);
        crm_db_destroy(&db);
        pool = crm_db_pool_new(&params, 2, &err);
        cr_assert_not_null(pool, "%s", err.message);
        char pub[64];
        snprintf(pub, sizeof pub, "tcp://127.0.0.1:%d", pgtest_free_port());
        outbox = crm_outbox_new("gateway", zctx, pub, &params, gw->metrics, &err);
        cr_assert_not_null(outbox, "%s", err.message);
        gw->db = pool;
        gw->outbox = outbox;
    }
    /* Nobody listens there: calls time out (503). */
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", pgtest_free_port());
    const char *eps[] = {ep};
    for (int i = 0; i < GW_SVC_COUNT; i++) {
        gw->clients[i] = crm_rpc_client_new(zctx, eps, 1, &err);
        cr_assert_not_null(gw->clients[i], "%s", err.message);
    }
    gw->http = gw_http_new(gw, &err);
    cr_assert_not_null(gw->http, "%s", err.message);
    port = gw_http_port(gw->http);
    cr_assert_gt(port, 0);
    atomic_store(&gw->bootstrapped, true);
}

static void stop_gateway(void)
{
    crm_config_t *cfg = gw->config;
    crm_metrics_t *m = gw->metrics;
    gw_destroy(&gw);
    crm_outbox_destroy(&outbox);
    crm_db_pool_destroy(&pool);
    crm_config_destroy(&cfg);
    crm_metrics_destroy(&m);
    zmq_ctx_term(zctx);
    if (pg)
        pgtest_destroy(&pg);
}

static void setup_nodb(void)
{
    start_gateway(false);
}
static void setup_db(void)
{
    start_gateway(true);
}

typedef struct {
    long status;
    char *body;
    size_t len;
    char headers[8192];
    size_t hlen;
} reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    r->body = realloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t k = size * n;
    if (r->hlen + k < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

typedef struct {
    size_t left;
} chunk_src_t;

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    chunk_src_t *s = arg;
    size_t k = size * n < 100 ? size * n : 100;
    if (k > s->left)
        k = s->left;
    memset(buf, 'a', k);
    s->left -= k;
    return k;
}

/* headers: NULL-terminated; body NULL → none; chunked_len > 0 → a chunked body of that size. */
static reply_t http(const char *method, const char *path, const char *const *headers, const char *body,
                    size_t chunked_len)
{
    reply_t r = {0};
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    chunk_src_t src = {chunked_len};
    if (chunked_len) {
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else if (r.status == 0)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r;
}

static json_t *json_of(const reply_t *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, &e);
    cr_assert_not_null(j, "not JSON (%ld): %s", r->status, r->body ? r->body : "(empty)");
    return j;
}

static const char *error_code(json_t *j)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(json_object_get(j, "errors"), 0), "error"), "code"));
}

static void assert_error(const reply_t *r, long status, const char *code)
{
    cr_assert_eq(r->status, status, "status %ld, body %s", r->status, r->body ? r->body : "");
    cr_assert(strstr(r->headers, "application/json; charset=utf-8"), "%s", r->headers);
    json_t *j = json_of(r);
    cr_assert_str_eq(error_code(j), code, "%s", r->body);
    const char *logref = json_string_value(json_object_get(json_object_get(j, "meta"), "logref"));
    cr_assert(logref && logref[0]);
    json_decref(j);
}

TestSuite(gateway_http, .init = setup_nodb, .fini = stop_gateway);

Test(gateway_http, request_id_echo_and_unknown_path)
{
    const char *h[] = {"X-Request-Id: my-req_1", NULL};
    reply_t r = http("GET", "/nothing", h, NULL, 0);
    assert_error(&r, 404, "incorrect_path");
    cr_assert(strstr(r.headers, "X-Request-Id: my-req_1"), "%s", r.headers);
    json_t *j = json_of(&r);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "meta"), "logref")), "my-req_1");
    json_decref(j);
    free(r.body);
    const char *bad[] = {"X-Request-Id: has space", NULL};
    r = http("GET", "/nothing", bad, NULL, 0);
    cr_assert_not(strstr(r.headers, "has space"));
    cr_assert(strstr(r.headers, "X-Request-Id: "), "a fresh id is made");
    free(r.body);
}

Test(gateway_http, admin_paths)
{
    reply_t r = http("GET", "/healthz", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    free(r.body);
    r = http("GET", "/metrics", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    free(r.body);
}

Test(gateway_http, v2_needs_a_token)
{
    reply_t r = http("GET", "/v2/leads", NULL, NULL, 0);
    assert_error(&r, 401, "unauthorized");
    free(r.body);
    const char *h[] = {"Authorization: Basic abc", NULL};
    r = http("GET", "/v2/users/self", h, NULL, 0);
    assert_error(&r, 401, "unauthorized");
    free(r.body);
    const char *h2[] = {"Authorization: Bearer abc", NULL};
    r = http("GET", "/v2/users/self", h2, NULL, 0);
    assert_error(&r, 503, "temporarily_unavailable"); /* no token store in this suite */
    free(r.body);
}

Test(gateway_http, webhook_source_and_method)
{
    reply_t r = http("POST", "/webhooks/forms/nope", NULL, "a=b", 0);
    assert_error(&r, 404, "not_found");
    free(r.body);
    r = http("POST", "/webhooks/forms/desk", NULL, "a=b", 0);
    assert_error(&r, 404, "not_found"); /* not a form source */
    free(r.body);
    r = http("GET", "/webhooks/forms/website", NULL, NULL, 0);
    assert_error(&r, 405, "method_not_allowed");
    cr_assert(strstr(r.headers, "Allow: POST"), "%s", r.headers);
    free(r.body);
}

Test(gateway_http, body_limits)
{
    char big[1500];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    reply_t r = http("POST", "/webhooks/forms/website", h, big, 0);
    assert_error(&r, 413, "request_too_large");
    free(r.body);
    r = http("POST", "/webhooks/forms/website", h, NULL, 5000);
    assert_error(&r, 413, "request_too_large");
    free(r.body);
    r = http("POST", "/v2/users", NULL, big, 0);
    assert_error(&r, 413, "request_too_large");
    free(r.body);
    /* the source check comes before the size check */
    r = http("POST", "/webhooks/forms/nope", h, big, 0);
    assert_error(&r, 404, "not_found");
    free(r.body);
}

Test(gateway_http, webhook_content_type_and_signature)
{
    const char *xml[] = {"Content-Type: text/xml", NULL};
    reply_t r = http("POST", "/webhooks/forms/website", xml, "<a/>", 0);
    assert_error(&r, 415, "unsupported_media_type");
    free(r.body);
    const char *mp[] = {"Content-Type: multipart/form-data; boundary=x", NULL};
    r = http("POST", "/webhooks/forms/website", mp, "--x--", 0);
    assert_error(&r, 415, "unsupported_media_type");
    free(r.body);
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    r = http("POST", "/webhooks/forms/signed", form, "email=a%40b.co", 0);
    assert_error(&r, 401, "unauthorized");
    free(r.body);
    r = http("POST", "/webhooks/forms/implicit", form, "email=a%40b.co", 0);
    assert_error(&r, 401, "unauthorized"); /* unsigned only when declared so */
    free(r.body);
    const char *js[] = {"Content-Type: application/json", NULL};
    r = http("POST", "/webhooks/forms/website", js, "{\"email\":", 0);
    assert_error(&r, 400, "invalid_payload");
    free(r.body);
    r = http("POST", "/webhooks/forms/website", form, "email=a%40b.co", 0);
    assert_error(&r, 503, "temporarily_unavailable"); /* no database in this suite */
    free(r.body);
}

/* ---- with Postgres ---- */

TestSuite(gateway_http_db, .init = setup_db, .fini = stop_gateway);

static long long count_outbox(void)
{
    crm_err_t err;
    crm_db_t *db = crm_db_connect(&params, &err);
    cr_assert_not_null(db);
    PGresult *res = crm_db_exec(db, "count_outbox",
                                "SELECT count(*) FROM outbox WHERE type = 'lead.captured'", 0, NULL, &err);
    cr_assert_not_null(res, "%s", err.message);
    long long n = crm_db_i64(res, 0, 0);
    PQclear(res);
    crm_db_destroy(&db);
    return n;
}

static long long delivery_id_of(const reply_t *r)
{
    json_t *j = json_of(r);
    long long id = json_integer_value(json_object_get(json_object_get(j, "data"), "delivery_id"));
    json_decref(j);
    return id;
}

Test(gateway_http_db, webhook_accept_dedupe_invalid)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded; charset=UTF-8", "X-Delivery-Id: d-1",
                       NULL};
    reply_t r =
        http("POST", "/webhooks/forms/website", h, "first_name=Ann&last_name=Lee&email=ann%40x.io", 0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    long long first = delivery_id_of(&r);
    cr_assert_gt(first, 0);
    free(r.body);
    r = http("POST", "/webhooks/forms/website", h, "first_name=Ann&last_name=Lee&email=ann%40x.io", 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(delivery_id_of(&r), first);
    free(r.body);
    cr_assert_eq(count_outbox(), 1, "one event for one delivery id");

    const char *h2[] = {"Content-Type: application/json", "X-Delivery-Id: d-2", NULL};
    r = http("POST", "/webhooks/forms/website", h2, "{\"first_name\":\"Bo\"}", 0);
    assert_error(&r, 422, "missing");
    json_t *j = json_of(&r);
    json_t *e = json_object_get(json_array_get(json_object_get(j, "errors"), 0), "error");
    cr_assert(json_is_string(json_object_get(e, "field")), "%s", r.body);
    json_decref(j);
    free(r.body);
    r = http("POST", "/webhooks/forms/website", h2, "{\"email\":\"bad@\"}", 0);
    assert_error(&r, 422, "incorrect_value");
    free(r.body);
    /* without a delivery id: every post is a new delivery */
    const char *h3[] = {"Content-Type: application/json", NULL};
    r = http("POST", "/webhooks/forms/website", h3, "{\"email\":\"c@d.io\"}", 0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    free(r.body);
    r = http("POST", "/webhooks/forms/website", h3, "{\"email\":\"c@d.io\"}", 0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    free(r.body);
    cr_assert_eq(count_outbox(), 3);
    cr_assert_eq(crm_metrics_get(gw->metrics, "crm_gateway_deliveries_total",
                                 "source=\"website\",outcome=\"accepted\",reason=\"ok\""),
                 3);
    cr_assert_eq(crm_metrics_get(gw->metrics, "crm_gateway_deliveries_total",
                                 "source=\"website\",outcome=\"duplicate\",reason=\"seen\""),
                 1);
}

static void make_token(const char *token, int64_t user_id, const char *role)
{
    crm_err_t err;
    char hash[65];
    crm_sha256_hex(token, strlen(token), hash);
    crm_db_t *db = crm_db_connect(&params, &err);
    gw_token_row_t row;
    cr_assert_eq(gw_store_token_insert(db, hash, user_id, role, "t", false, &row, &err), CRM_OK, "%s",
                 err.message);
    crm_db_destroy(&db);
}

Test(gateway_http_db, auth_roles_and_params)
{
    make_token("sales-token", 2, "sales");
    make_token("admin-token", 1, "admin");
    const char *bad[] = {"Authorization: Bearer wrong", NULL};
    reply_t r = http("GET", "/v2/leads", bad, NULL, 0);
    assert_error(&r, 401, "unauthorized");
    free(r.body);
    const char *sales[] = {"Authorization: Bearer sales-token", "Content-Type: application/json", NULL};
    r = http("POST", "/v2/users", sales, "{\"data\":{\"name\":\"x\",\"email\":\"x@y.z\"}}", 0);
    assert_error(&r, 403, "forbidden");
    free(r.body);
    r = http("POST", "/v2/api_tokens", sales, "{\"data\":{\"user_id\":2}}", 0);
    assert_error(&r, 403, "forbidden");
    free(r.body);
    r = http("GET", "/v2/leads?per_page=200", sales, NULL, 0);
    assert_error(&r, 400, "invalid_param");
    cr_assert(strstr(r.body, "must be between 1 and 100, given: 200"), "%s", r.body);
    free(r.body);
    r = http("GET", "/v2/users/self?unknown=param", sales, NULL, 0);
    assert_error(&r, 400, "invalid_param");
    cr_assert(strstr(r.body, "unknown"), "%s", r.body);
    free(r.body);
    r = http("GET", "/v2/leads", sales, NULL, 0);
    assert_error(&r, 503, "temporarily_unavailable"); /* leads is not running */
    free(r.body);
    r = http("GET", "/v2/nothing", sales, NULL, 0);
    assert_error(&r, 404, "incorrect_path");
    free(r.body);
    const char *admin[] = {"Authorization: Bearer admin-token", "Content-Type: application/json", NULL};
    r = http("POST", "/v2/users", admin, "{\"name\":\"x\"}", 0);
    assert_error(&r, 400, "invalid_payload");
    free(r.body);
    r = http("POST", "/v2/users", admin, "{\"data\":{\"nme\":\"x\"}}", 0);
    assert_error(&r, 422, "unknown");
    free(r.body);
    r = http("POST", "/v2/api_tokens", admin, "{\"data\":{\"name\":\"x\"}}", 0);
    assert_error(&r, 422, "missing");
    free(r.body);
    r = http("POST", "/v2/api_tokens", admin, "{\"data\":{\"user_id\":\"2\"}}", 0);
    assert_error(&r, 422, "invalid_type");
    free(r.body);
}

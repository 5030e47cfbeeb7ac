/* Unit tests of rpc.c: a real server with handlers and a client over TCP (no database):
 * round trips, errors, unknown methods, bad payloads, deadlines, no server, two instances,
 * concurrent callers and draining on stop. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "crm/rpc.h"
#include "crm/util.h"

static void *zctx;
static crm_metrics_t *metrics;

static void setup(void)
{
    zctx = zmq_ctx_new();
    metrics = crm_metrics_new();
}

static void teardown(void)
{
    zmq_ctx_term(zctx);
    crm_metrics_destroy(&metrics);
}

/* A free TCP port on 127.0.0.1 (bound and released at once). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* echo: FieldError{field, code, message} → FieldError{field = in.field, code = correlation id,
 * message = "<instance>:<role>:<user_id>"}; everything malloc'd as the contract demands. */
static int h_echo(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                  crm_err_t *err)
{
    (void)err;
    const Crm__FieldError *req = (const Crm__FieldError *)in;
    Crm__FieldError *rep = malloc(sizeof *rep);
    crm__field_error__init(rep);
    rep->field = strdup(req->field ? req->field : "");
    rep->code = strdup(ctx->correlation_id);
    char buf[128];
    snprintf(buf, sizeof buf, "%s:%s:%lld", (const char *)arg, ctx->role, (long long)ctx->user_id);
    rep->message = strdup(buf);
    *out = &rep->base;
    cr_assert_null(ctx->db);
    return CRM_OK;
}

static int h_fail(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                  crm_err_t *err)
{
    (void)arg, (void)ctx, (void)in, (void)out;
    crm_err_add(err, CRM_EINVALID, "/last_name", "missing", "last_name is required");
    return crm_err_add(err, CRM_EINVALID, "/email", "blank", "email must not be blank");
}

static int h_sleep(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                   crm_err_t *err)
{
    (void)arg, (void)ctx, (void)out, (void)err;
    const Crm__FieldError *req = (const Crm__FieldError *)in;
    crm_sleep_ms(atol(req->field ? req->field : "0"));
    return CRM_OK;
}

static crm_rpc_server_t *server_on(int port, const char *name, int workers)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    crm_err_t err;
    crm_rpc_server_t *srv = crm_rpc_server_new(zctx, ep, workers, NULL, metrics, &err);
    cr_assert_not_null(srv, "%s", err.message);
    crm_rpc_server_handle(srv, "test.echo", &crm__field_error__descriptor, h_echo, (void *)name);
    crm_rpc_server_handle(srv, "test.fail", &crm__field_error__descriptor, h_fail, NULL);
    crm_rpc_server_handle(srv, "test.sleep", &crm__field_error__descriptor, h_sleep, NULL);
    cr_assert_eq(crm_rpc_server_start(srv, &err), 0, "%s", err.message);
    return srv;
}

static crm_rpc_client_t *client_to(const int *ports, size_t n)
{
    char eps[4][64];
    const char *p[4];
    for (size_t i = 0; i < n; i++) {
        snprintf(eps[i], sizeof eps[i], "tcp://127.0.0.1:%d", ports[i]);
        p[i] = eps[i];
    }
    crm_err_t err;
    crm_rpc_client_t *c = crm_rpc_client_new(zctx, p, n, &err);
    cr_assert_not_null(c, "%s", err.message);
    return c;
}

static int echo(crm_rpc_client_t *c, const char *field, Crm__FieldError **rep, crm_err_t *err, int timeout)
{
    Crm__FieldError in = CRM__FIELD_ERROR__INIT;
    in.field = (char *)field;
    crm_rpc_caller_t caller = {.user_id = 42, .role = "sales", .correlation_id = "corr-7"};
    return crm_rpc_call(c, "test.echo", &caller, &in.base, &crm__field_error__descriptor, timeout,
                        (ProtobufCMessage **)rep, err);
}

TestSuite(rpc, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(rpc_db, .init = setup, .fini = teardown);

Test(rpc, echo_roundtrip_errors_unknown)
{
    int port = free_port();
    crm_rpc_server_t *srv = server_on(port, "a", 2);
    crm_rpc_client_t *c = client_to(&port, 1);
    crm_err_t err;
    Crm__FieldError *rep = NULL;
    cr_assert_eq(echo(c, "hello", &rep, &err, 3000), CRM_OK, "%s", err.message);
    cr_assert_str_eq(rep->field, "hello");
    cr_assert_str_eq(rep->code, "corr-7");
    cr_assert_str_eq(rep->message, "a:sales:42");
    protobuf_c_message_free_unpacked(&rep->base, NULL);

    /* System caller: NULL caller → role "system", user 0, correlation "". */
    Crm__FieldError in = CRM__FIELD_ERROR__INIT;
    cr_assert_eq(crm_rpc_call(c, "test.echo", NULL, &in.base, &crm__field_error__descriptor, 3000,
                              (ProtobufCMessage **)&rep, &err),
                 CRM_OK);
    cr_assert_str_eq(rep->message, "a:system:0");
    cr_assert_str_eq(rep->code, "");
    protobuf_c_message_free_unpacked(&rep->base, NULL);

    /* Handler error: code, field, reason and message travel back. */
    rep = (void *)0x1;
    cr_assert_eq(crm_rpc_call(c, "test.fail", NULL, &in.base, &crm__field_error__descriptor, 3000,
                              (ProtobufCMessage **)&rep, &err),
                 CRM_EINVALID);
    cr_assert_null(rep);
    cr_assert_eq(err.code, CRM_EINVALID);
    cr_assert_str_eq(err.field, "/last_name");
    cr_assert_str_eq(err.reason, "missing");
    cr_assert_str_eq(err.message, "last_name is required");
    cr_assert_eq(err.nmore, 1, "the second field error travels too");
    cr_assert_str_eq(err.more[0].field, "/email");
    cr_assert_str_eq(err.more[0].reason, "blank");

    /* Unknown method. */
    cr_assert_eq(crm_rpc_call(c, "test.nope", NULL, &in.base, NULL, 3000, NULL, &err), CRM_ENOTFOUND);
    cr_assert(strstr(err.message, "test.nope") != NULL, "%s", err.message);

    cr_assert_geq(crm_metrics_get(metrics, "crm_rpc_requests_total", "method=\"test.echo\",status=\"OK\""),
                  2);
    cr_assert_eq(
        crm_metrics_get(metrics, "crm_rpc_requests_total", "method=\"test.fail\",status=\"INVALID\""), 1);
    cr_assert_eq(
        crm_metrics_get(metrics, "crm_rpc_requests_total", "method=\"unknown\",status=\"NOT_FOUND\""), 1);
    cr_assert_geq(crm_metrics_get(metrics, "crm_rpc_handler_seconds", "method=\"test.echo\""), 2);

    crm_rpc_client_destroy(&c);
    crm_rpc_server_destroy(&srv);
    cr_assert_null(srv);
}

/* Sends a hand-made Request on a raw DEALER and returns the reply (or NULL after timeout). */
static Crm__Reply *raw_call(int port, const Crm__Request *req, int timeout_ms)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    zmq_connect(s, ep);
    uint8_t buf[512];
    size_t len = crm__request__pack(req, buf);
    zmq_send(s, "", 0, ZMQ_SNDMORE);
    zmq_send(s, buf, len, 0);
    zmq_pollitem_t item = {.socket = s, .events = ZMQ_POLLIN};
    Crm__Reply *rep = NULL;
    if (zmq_poll(&item, 1, timeout_ms) == 1) {
        char empty[8];
        zmq_recv(s, empty, sizeof empty, 0);
        uint8_t rbuf[2048];
        int n = zmq_recv(s, rbuf, sizeof rbuf, 0);
        rep = crm__reply__unpack(NULL, (size_t)n, rbuf);
    }
    zmq_close(s);
    return rep;
}

Test(rpc, bad_payload_and_expired_deadline)
{
    int port = free_port();
    crm_rpc_server_t *srv = server_on(port, "a", 1);
    Crm__Request req = CRM__REQUEST__INIT;
    req.request_id = "r1";
    req.method = "test.echo";
    req.has_payload = 1;
    req.payload.data = (uint8_t *)"\xff\xff\xff\xff";
    req.payload.len = 4;
    Crm__Reply *rep = raw_call(port, &req, 3000);
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep->request_id, "r1");
    cr_assert_eq(rep->status, CRM__STATUS__BAD_REQUEST);
    cr_assert_not_null(rep->message);
    crm__reply__free_unpacked(rep, NULL);

    /* A request whose deadline has passed is dropped without a reply, and counted. */
    req.request_id = "r2";
    req.has_payload = 0;
    req.has_deadline = 1;
    req.deadline = crm_now_ms() - 1000;
    rep = raw_call(port, &req, 500);
    cr_assert_null(rep);
    cr_assert_eq(crm_metrics_get(metrics, "crm_rpc_expired_total", "method=\"test.echo\""), 1);

    /* The worker is still there. */
    req.request_id = "r3";
    req.deadline = crm_now_ms() + 3000;
    rep = raw_call(port, &req, 3000);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->status, CRM__STATUS__OK);
    crm__reply__free_unpacked(rep, NULL);
    crm_rpc_server_destroy(&srv);
}

Test(rpc, timeout_then_next_call_works)
{
    int port = free_port();
    crm_rpc_server_t *srv = server_on(port, "a", 2);
    crm_rpc_client_t *c = client_to(&port, 1);
    crm_err_t err;
    Crm__FieldError in = CRM__FIELD_ERROR__INIT;
    in.field = "700";
    int64_t t0 = crm_mono_us();
    cr_assert_eq(crm_rpc_call(c, "test.sleep", NULL, &in.base, NULL, 200, NULL, &err), CRM_EUNAVAILABLE);
    int64_t took = crm_mono_us() - t0;
    cr_assert(took >= 190000 && took < 600000, "timed out after %lld us", (long long)took);
    /* The late reply of the first call must not be taken for this one's. */
    for (int i = 0; i < 5; i++) {
        Crm__FieldError *rep = NULL;
        char f[16];
        snprintf(f, sizeof f, "n%d", i);
        cr_assert_eq(echo(c, f, &rep, &err, 3000), CRM_OK, "%s", err.message);
        cr_assert_str_eq(rep->field, f);
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        crm_sleep_ms(150);
    }
    crm_rpc_client_destroy(&c);
    crm_rpc_server_destroy(&srv);
}

Test(rpc, no_server_is_unavailable_quickly)
{
    int port = free_port();
    crm_rpc_client_t *c = client_to(&port, 1);
    crm_err_t err;
    Crm__FieldError *rep = NULL;
    int64_t t0 = crm_mono_us();
    cr_assert_eq(echo(c, "x", &rep, &err, 5000), CRM_EUNAVAILABLE);
    cr_assert_lt(crm_mono_us() - t0, 1000000, "fails well before the 5 s timeout");
    cr_assert_eq(err.code, CRM_EUNAVAILABLE);
    crm_rpc_client_destroy(&c);

    const char *bad[] = {"nonsense"};
    cr_assert_null(crm_rpc_client_new(zctx, bad, 1, &err));
    cr_assert_null(crm_rpc_client_new(zctx, NULL, 0, &err));
}

Test(rpc, two_instances_both_serve)
{
    int ports[2] = {free_port(), free_port()};
    crm_rpc_server_t *a = server_on(ports[0], "a", 2);
    crm_rpc_server_t *b = server_on(ports[1], "b", 2);
    crm_rpc_client_t *c = client_to(ports, 2);
    crm_err_t err;
    int seen_a = 0, seen_b = 0;
    for (int i = 0; i < 40; i++) {
        Crm__FieldError *rep = NULL;
        cr_assert_eq(echo(c, "x", &rep, &err, 3000), CRM_OK, "%s", err.message);
        if (rep->message[0] == 'a')
            seen_a++;
        else
            seen_b++;
        protobuf_c_message_free_unpacked(&rep->base, NULL);
    }
    cr_assert_gt(seen_a, 0);
    cr_assert_gt(seen_b, 0);
    /* One instance gone: calls still succeed on the other. */
    crm_rpc_server_destroy(&a);
    crm_sleep_ms(200);
    for (int i = 0; i < 10; i++) {
        Crm__FieldError *rep = NULL;
        cr_assert_eq(echo(c, "y", &rep, &err, 3000), CRM_OK, "call %d: %s", i, err.message);
        cr_assert_eq(rep->message[0], 'b');
        protobuf_c_message_free_unpacked(&rep->base, NULL);
    }
    crm_rpc_client_destroy(&c);
    crm_rpc_server_destroy(&b);
}

typedef struct {
    crm_rpc_client_t *c;
    int id;
    int ok;
} caller_arg_t;

static void *caller_thread(void *p)
{
    caller_arg_t *a = p;
    for (int i = 0; i < 50; i++) {
        char f[32];
        snprintf(f, sizeof f, "t%d-%d", a->id, i);
        Crm__FieldError *rep = NULL;
        crm_err_t err;
        if (echo(a->c, f, &rep, &err, 5000) == CRM_OK && strcmp(rep->field, f) == 0)
            a->ok++;
        if (rep)
            protobuf_c_message_free_unpacked(&rep->base, NULL);
    }
    return NULL;
}

Test(rpc, eight_threads_one_client)
{
    int port = free_port();
    crm_rpc_server_t *srv = server_on(port, "a", 4);
    crm_rpc_client_t *c = client_to(&port, 1);
    pthread_t th[8];
    caller_arg_t args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (caller_arg_t){.c = c, .id = i};
        pthread_create(&th[i], NULL, caller_thread, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].ok, 50, "thread %d: %d of 50", i, args[i].ok);
    }
    crm_rpc_client_destroy(&c);
    crm_rpc_server_destroy(&srv);
}

typedef struct {
    crm_rpc_client_t *c;
    int rc;
} slow_arg_t;

static void *slow_call(void *p)
{
    slow_arg_t *a = p;
    Crm__FieldError in = CRM__FIELD_ERROR__INIT;
    in.field = "400";
    crm_err_t err;
    a->rc = crm_rpc_call(a->c, "test.sleep", NULL, &in.base, NULL, 3000, NULL, &err);
    return NULL;
}

Test(rpc, stop_drains_in_flight)
{
    int port = free_port();
    crm_rpc_server_t *srv = server_on(port, "a", 2);
    crm_rpc_client_t *c = client_to(&port, 1);
    slow_arg_t a = {.c = c, .rc = -1};
    pthread_t th;
    pthread_create(&th, NULL, slow_call, &a);
    crm_sleep_ms(150);
    int64_t t0 = crm_mono_us();
    crm_rpc_server_stop(srv);
    cr_assert_geq(crm_mono_us() - t0, 100000, "stop waited for the in-flight request");
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, CRM_OK, "the in-flight request was answered");
    crm_rpc_client_destroy(&c);
    crm_rpc_server_destroy(&srv);
}

/* --- with a database: each request gets a pooled connection (needs Postgres) ------------- */
#include "pgtest.h"

static int h_db(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                crm_err_t *err)
{
    (void)arg, (void)in;
    if (!ctx->db)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "no db");
    const char *params[1] = {ctx->correlation_id};
    PGresult *res = crm_db_exec(ctx->db, "rpc_test_echo", "SELECT $1::text || '-db'", 1, params, err);
    if (!res)
        return err->code;
    Crm__FieldError *rep = malloc(sizeof *rep);
    crm__field_error__init(rep);
    rep->field = strdup(crm_db_str(res, 0, 0));
    PQclear(res);
    *out = &rep->base;
    return CRM_OK;
}

Test(rpc_db, handler_gets_a_pooled_connection, .timeout = 120)
{
    pgtest_t *pg = pgtest_start();
    cr_assert_not_null(pg, "postgres did not start");
    crm_db_params_t params = {.conninfo = pgtest_url(pg)};
    crm_err_t err;
    crm_db_pool_t *pool = crm_db_pool_new(&params, 2, &err);
    cr_assert_not_null(pool, "%s", err.message);
    int port = free_port();
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    crm_rpc_server_t *srv = crm_rpc_server_new(zctx, ep, 3, pool, metrics, &err);
    cr_assert_not_null(srv, "%s", err.message);
    crm_rpc_server_handle(srv, "test.db", &crm__field_error__descriptor, h_db, NULL);
    cr_assert_eq(crm_rpc_server_start(srv, &err), 0);
    crm_rpc_client_t *c = client_to(&port, 1);
    for (int i = 0; i < 5; i++) {
        char corr[16];
        snprintf(corr, sizeof corr, "c%d", i);
        crm_rpc_caller_t caller = {.correlation_id = corr};
        Crm__FieldError in = CRM__FIELD_ERROR__INIT;
        Crm__FieldError *rep = NULL;
        cr_assert_eq(crm_rpc_call(c, "test.db", &caller, &in.base, &crm__field_error__descriptor, 5000,
                                  (ProtobufCMessage **)&rep, &err),
                     CRM_OK, "%s", err.message);
        char want[32];
        snprintf(want, sizeof want, "c%d-db", i);
        cr_assert_str_eq(rep->field, want);
        protobuf_c_message_free_unpacked(&rep->base, NULL);
    }
    cr_assert_eq(crm_db_pool_in_use(pool), 0, "connections went back to the pool");
    crm_rpc_client_destroy(&c);
    crm_rpc_server_destroy(&srv);
    crm_db_pool_destroy(&pool);
    pgtest_destroy(&pg);
}

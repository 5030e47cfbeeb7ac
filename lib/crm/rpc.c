/* Request/reply between services (DESIGN §5). Server: a ROUTER bound for callers, a broker
 * thread that hands each request to an idle worker (least-recently-used queue over an inproc
 * ROUTER), and N worker threads that decode, dispatch by method and reply. Client: one DEALER
 * per calling thread, connected to every instance, waiting for the reply with its request id. */
#include "crm/rpc.h"
#include "crm/log.h"
#include "crm/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define RPC_MAX_MSG_BYTES (16 * 1024 * 1024) /* a hostile peer cannot make us allocate more */
#define RPC_POLL_MS 100
#define RPC_DRAIN_MAX_MS 30000
#define RPC_POOL_WAIT_MS 5000
#define RPC_READY "\001READY"
#define RPC_STOP "\001STOP"

/* ============================== server ============================== */

typedef struct {
    char *method;
    const ProtobufCMessageDescriptor *in_desc;
    crm_rpc_handler_fn fn;
    void *arg;
} rpc_route_t;

struct crm_rpc_server_t {
    void *zctx;
    void *frontend; /* ROUTER bound at the service endpoint */
    void *backend;  /* ROUTER bound at inproc, workers connect to it */
    char backend_ep[64];
    int nworkers;
    crm_db_pool_t *pool;
    crm_metrics_t *metrics;
    rpc_route_t *routes;
    size_t nroutes;
    pthread_t broker_thread;
    pthread_t *worker_threads;
    bool started;
    atomic_bool stopping;     /* set by crm_rpc_server_stop: take no new requests */
    atomic_bool workers_exit; /* set by the broker thread once every worker is idle */
};

static void frames_close(zmq_msg_t *frames, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
}

/* Receives a whole multipart message, keeping at most max frames (the rest are discarded but
 * counted in *total). Returns the number kept, or -1 when nothing could be read. */
static int recv_frames(void *sock, zmq_msg_t *frames, int max, int *total, int flags)
{
    int kept = 0;
    *total = 0;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, flags) < 0) {
            zmq_msg_close(&part);
            frames_close(frames, kept);
            return -1;
        }
        more = zmq_msg_more(&part);
        (*total)++;
        if (kept < max)
            frames[kept++] = part;
        else
            zmq_msg_close(&part);
    }
    return kept;
}

/* Sends frames[0..n) as one message; the frames are consumed. */
static void send_frames(void *sock, zmq_msg_t *frames, int n)
{
    for (int i = 0; i < n; i++) {
        if (zmq_msg_send(&frames[i], sock, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            zmq_msg_close(&frames[i]);
    }
}

static void metric_inc(crm_metrics_t *m, const char *name, const char *method, const char *status)
{
    if (!m)
        return;
    char labels[256];
    if (status)
        snprintf(labels, sizeof labels, "method=\"%s\",status=\"%s\"", method, status);
    else
        snprintf(labels, sizeof labels, "method=\"%s\"", method);
    crm_metrics_inc(m, name, labels, 1);
}

/* --- the broker thread: LRU dispatch from the frontend to idle workers -------------------- */

typedef struct {
    zmq_msg_t ids[64];
    int n;
} worker_queue_t;

/* The broker thread forwards a request only to a worker that said it is idle (READY or a
 * reply), so a slow handler never holds up requests another worker could serve. Draining:
 * once stopping is set it stops reading the frontend and keeps forwarding replies until every
 * worker is idle again, so in-flight requests finish and their replies go out. */
static void *rpc_broker_run(void *arg)
{
    crm_rpc_server_t *self = arg;
    worker_queue_t idle = {.n = 0};
    int64_t drain_deadline = 0;
    for (;;) {
        bool stopping = atomic_load(&self->stopping);
        if (stopping && drain_deadline == 0)
            drain_deadline = crm_mono_us() + (int64_t)RPC_DRAIN_MAX_MS * 1000;
        if (stopping && (idle.n >= self->nworkers || crm_mono_us() > drain_deadline))
            break;
        zmq_pollitem_t items[2] = {{.socket = self->backend, .events = ZMQ_POLLIN},
                                   {.socket = self->frontend, .events = ZMQ_POLLIN}};
        int nitems = (!stopping && idle.n > 0) ? 2 : 1;
        if (zmq_poll(items, nitems, RPC_POLL_MS) < 0 && zmq_errno() != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN) {
            /* [worker id][READY] or [worker id][client id][empty][reply] */
            zmq_msg_t f[4];
            int total;
            int n = recv_frames(self->backend, f, 4, &total, ZMQ_DONTWAIT);
            if (n >= 2) {
                if (idle.n < (int)(sizeof idle.ids / sizeof *idle.ids)) {
                    zmq_msg_init(&idle.ids[idle.n]);
                    zmq_msg_move(&idle.ids[idle.n], &f[0]);
                    idle.n++;
                }
                if (n == 4 && total == 4)
                    send_frames(self->frontend, f + 1, 3);
                else
                    frames_close(f + 1, n - 1);
                zmq_msg_close(&f[0]);
            } else if (n > 0) {
                frames_close(f, n);
            }
        }
        if (nitems == 2 && (items[1].revents & ZMQ_POLLIN) && idle.n > 0) {
            /* [client id][empty][request]: anything else is dropped here. */
            zmq_msg_t f[4];
            int total;
            int n = recv_frames(self->frontend, f + 1, 3, &total, ZMQ_DONTWAIT);
            if (n == 3 && total == 3 && zmq_msg_size(&f[2]) == 0) {
                idle.n--;
                zmq_msg_init(&f[0]);
                zmq_msg_move(&f[0], &idle.ids[idle.n]);
                zmq_msg_close(&idle.ids[idle.n]);
                send_frames(self->backend, f, 4);
            } else if (n > 0) {
                frames_close(f + 1, n);
            }
        }
    }
    /* Every worker is idle (or the drain took too long): tell them to leave. */
    atomic_store(&self->workers_exit, true);
    for (int i = 0; i < idle.n; i++) {
        zmq_msg_send(&idle.ids[i], self->backend, ZMQ_SNDMORE);
        zmq_send(self->backend, RPC_STOP, strlen(RPC_STOP), ZMQ_DONTWAIT);
    }
    return NULL;
}

/* --- workers ----------------------------------------------------------------------------- */

static const rpc_route_t *route_find(const crm_rpc_server_t *self, const char *method)
{
    for (size_t i = 0; i < self->nroutes; i++)
        if (strcmp(self->routes[i].method, method) == 0)
            return &self->routes[i];
    return NULL;
}

static int clamp_code(int code)
{
    return (code < CRM_OK || code > CRM_EBADREQUEST) ? CRM_EINTERNAL : code;
}

/* Packs reply and sends [client id][empty][reply] to the broker thread. */
static void worker_reply(void *sock, zmq_msg_t *client_id, const Crm__Reply *reply)
{
    size_t len = crm__reply__get_packed_size(reply);
    zmq_msg_t body;
    if (zmq_msg_init_size(&body, len) != 0) {
        zmq_send(sock, RPC_READY, strlen(RPC_READY), 0);
        return;
    }
    crm__reply__pack(reply, zmq_msg_data(&body));
    zmq_msg_send(client_id, sock, ZMQ_SNDMORE);
    zmq_send(sock, "", 0, ZMQ_SNDMORE);
    zmq_msg_send(&body, sock, 0);
}

/* Serves one decoded request: fills reply (status, message, errors, payload). Returns the
 * handler's reply buffer to free after sending (or NULL). */
static uint8_t *serve_request(crm_rpc_server_t *self, const Crm__Request *req, Crm__Reply *reply,
                              Crm__FieldError *fe, Crm__FieldError **fe_list, crm_err_t *err,
                              const char **label)
{
    const char *method = req->method ? req->method : "";
    const rpc_route_t *route = route_find(self, method);
    crm_err_clear(err);
    *label = route ? route->method : "unknown"; /* unknown names never become metric labels */
    int code;
    ProtobufCMessage *in = NULL, *out = NULL;
    crm_db_t *db = NULL;
    uint8_t *payload = NULL;
    int64_t t0 = crm_mono_us();
    if (!route) {
        code = crm_err_set(err, CRM_ENOTFOUND, "method", "unknown", "unknown method %.200s", method);
        goto done;
    }
    in = protobuf_c_message_unpack(route->in_desc, NULL, req->has_payload ? req->payload.len : 0,
                                   req->has_payload ? req->payload.data : (const uint8_t *)"");
    if (!in) {
        code = crm_err_set(err, CRM_EBADREQUEST, "payload", "invalid_type", "payload of %s is not a valid %s",
                           route->method, route->in_desc->name);
        goto done;
    }
    if (self->pool) {
        int wait = RPC_POOL_WAIT_MS;
        if (req->has_deadline) {
            int64_t left = req->deadline - crm_now_ms();
            wait = left < 1 ? 1 : (left < wait ? (int)left : wait);
        }
        db = crm_db_pool_get(self->pool, wait, err);
        if (!db) {
            code = err->code ? err->code
                             : crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no database connection");
            goto done;
        }
    }
    crm_rpc_ctx_t ctx = {
        .method = route->method,
        .correlation_id = req->correlation_id ? req->correlation_id : "",
        .user_id = req->caller ? req->caller->user_id : 0,
        .role = (req->caller && req->caller->role) ? req->caller->role : "system",
        .db = db,
    };
    code = clamp_code(route->fn(route->arg, &ctx, in, &out, err));
    if (db)
        crm_db_pool_put(self->pool, db); /* rolls back whatever transaction the handler left open */
    if (code == CRM_OK && out) {
        size_t len = protobuf_c_message_get_packed_size(out);
        payload = malloc(len ? len : 1);
        if (payload) {
            protobuf_c_message_pack(out, payload);
            reply->has_payload = 1;
            reply->payload.data = payload;
            reply->payload.len = len;
        } else {
            code = crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        }
    }
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    if (self->metrics) {
        char labels[160];
        snprintf(labels, sizeof labels, "method=\"%s\"", route->method);
        crm_metrics_observe(self->metrics, "crm_rpc_handler_seconds", labels,
                            (double)(crm_mono_us() - t0) / 1e6);
    }
done:
    if (in)
        protobuf_c_message_free_unpacked(in, NULL);
    reply->has_status = 1;
    reply->status = (Crm__Status)code;
    if (code != CRM_OK) {
        if (!err->message[0])
            snprintf(err->message, sizeof err->message, "%s", crm_code_name(code));
        reply->message = err->message;
        if (err->field[0] || err->reason[0]) {
            crm__field_error__init(&fe[0]);
            fe[0].field = err->field;
            fe[0].code = err->reason;
            fe[0].message = err->message;
            fe_list[0] = &fe[0];
            size_t n = 1;
            for (int i = 0; i < err->nmore && i < CRM_ERR_MAX_MORE; i++, n++) {
                crm__field_error__init(&fe[n]);
                fe[n].field = err->more[i].field;
                fe[n].code = err->more[i].reason;
                fe[n].message = err->more[i].message;
                fe_list[n] = &fe[n];
            }
            reply->n_errors = n;
            reply->errors = fe_list;
        }
    }
    return payload;
}

/* Handles one message [client id][empty][request] from the broker thread; always answers the
 * broker (a reply, or READY when the request is dropped) so the worker is known to be idle. */
static void worker_handle(crm_rpc_server_t *self, void *sock, zmq_msg_t *f, int n, int total)
{
    if (n != 3 || total != 3) {
        frames_close(f, n);
        zmq_send(sock, RPC_READY, strlen(RPC_READY), 0);
        return;
    }
    Crm__Request *req = crm__request__unpack(NULL, zmq_msg_size(&f[2]), zmq_msg_data(&f[2]));
    Crm__Reply reply = CRM__REPLY__INIT;
    Crm__FieldError fe[1 + CRM_ERR_MAX_MORE];
    Crm__FieldError *fe_list[1 + CRM_ERR_MAX_MORE];
    crm_err_t err;
    uint8_t *payload = NULL;
    const char *label = "unknown";
    if (!req) {
        crm_err_set(&err, CRM_EBADREQUEST, NULL, NULL, "request does not parse as crm.Request");
        reply.has_status = 1;
        reply.status = CRM__STATUS__BAD_REQUEST;
        reply.message = err.message;
    } else if (req->has_deadline && req->deadline < crm_now_ms()) {
        /* The caller has given up: doing the work would only waste a worker. */
        const rpc_route_t *route = route_find(self, req->method ? req->method : "");
        metric_inc(self->metrics, "crm_rpc_expired_total", route ? route->method : "unknown", NULL);
        crm_log_warn(req->correlation_id, "rpc.expired", "method=%s", route ? route->method : "unknown");
        crm__request__free_unpacked(req, NULL);
        frames_close(f, n);
        zmq_send(sock, RPC_READY, strlen(RPC_READY), 0);
        return;
    } else {
        reply.request_id = req->request_id;
        payload = serve_request(self, req, &reply, fe, fe_list, &err, &label);
    }
    metric_inc(self->metrics, "crm_rpc_requests_total", label, crm_code_name((int)reply.status));
    worker_reply(sock, &f[0], &reply);
    free(payload);
    if (req)
        crm__request__free_unpacked(req, NULL);
    frames_close(f, n);
}

static void *rpc_worker_run(void *arg)
{
    crm_rpc_server_t *self = arg;
    void *sock = zmq_socket(self->zctx, ZMQ_DEALER);
    if (!sock)
        return NULL;
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, self->backend_ep) != 0) {
        zmq_close(sock);
        return NULL;
    }
    zmq_send(sock, RPC_READY, strlen(RPC_READY), 0);
    while (!atomic_load(&self->workers_exit)) {
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&item, 1, RPC_POLL_MS);
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        if (rc <= 0)
            continue;
        zmq_msg_t f[3];
        int total;
        int n = recv_frames(sock, f, 3, &total, ZMQ_DONTWAIT);
        if (n <= 0)
            continue;
        if (n == 1 && total == 1 && zmq_msg_size(&f[0]) == strlen(RPC_STOP) &&
            memcmp(zmq_msg_data(&f[0]), RPC_STOP, strlen(RPC_STOP)) == 0) {
            zmq_msg_close(&f[0]);
            break;
        }
        worker_handle(self, sock, f, n, total);
    }
    zmq_close(sock);
    return NULL;
}

/* --- server lifecycle -------------------------------------------------------------------- */

crm_rpc_server_t *crm_rpc_server_new(void *zctx, const char *bind_endpoint, int workers, crm_db_pool_t *pool,
                                     crm_metrics_t *metrics, crm_err_t *err)
{
    if (!zctx || !bind_endpoint) {
        crm_err_set(err, CRM_EINVALID, "rpc_bind", "missing",
                    "rpc: a context and a bind endpoint are needed");
        return NULL;
    }
    crm_rpc_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->zctx = zctx;
    self->nworkers = workers < 1 ? 1 : (workers > 64 ? 64 : workers);
    self->pool = pool;
    self->metrics = metrics;
    atomic_init(&self->stopping, false);
    atomic_init(&self->workers_exit, false);
    self->frontend = zmq_socket(zctx, ZMQ_ROUTER);
    if (!self->frontend) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "rpc: zmq_socket: %s", zmq_strerror(zmq_errno()));
        free(self);
        return NULL;
    }
    int64_t maxmsg = RPC_MAX_MSG_BYTES;
    int linger = 1000;
    zmq_setsockopt(self->frontend, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(self->frontend, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(self->frontend, bind_endpoint) != 0) {
        crm_err_set(err, CRM_EUNAVAILABLE, "rpc_bind", "bind_failed", "rpc: cannot bind %s: %s",
                    bind_endpoint, zmq_strerror(zmq_errno()));
        zmq_close(self->frontend);
        free(self);
        return NULL;
    }
    return self;
}

void crm_rpc_server_handle(crm_rpc_server_t *self, const char *method,
                           const ProtobufCMessageDescriptor *in_desc, crm_rpc_handler_fn fn, void *arg)
{
    if (!self || !method || !in_desc || !fn || self->started)
        return;
    rpc_route_t *routes = realloc(self->routes, (self->nroutes + 1) * sizeof *routes);
    if (!routes)
        return;
    self->routes = routes;
    routes[self->nroutes++] =
        (rpc_route_t){.method = crm_strdup(method), .in_desc = in_desc, .fn = fn, .arg = arg};
}

int crm_rpc_server_start(crm_rpc_server_t *self, crm_err_t *err)
{
    if (!self || self->started)
        return crm_err_set(err, CRM_EINVALID, NULL, NULL, "rpc: server missing or already started");
    snprintf(self->backend_ep, sizeof self->backend_ep, "inproc://crm-rpc-%p", (void *)self);
    self->backend = zmq_socket(self->zctx, ZMQ_ROUTER);
    int linger = 0;
    if (!self->backend)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "rpc: zmq_socket: %s", zmq_strerror(zmq_errno()));
    zmq_setsockopt(self->backend, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(self->backend, self->backend_ep) != 0) {
        zmq_close(self->backend);
        self->backend = NULL;
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "rpc: bind backend: %s",
                           zmq_strerror(zmq_errno()));
    }
    self->worker_threads = calloc((size_t)self->nworkers, sizeof *self->worker_threads);
    if (!self->worker_threads)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    for (int i = 0; i < self->nworkers; i++) {
        if (pthread_create(&self->worker_threads[i], NULL, rpc_worker_run, self) != 0) {
            /* Run with the workers that did start; stop() joins exactly these. */
            self->nworkers = i;
            break;
        }
    }
    if (self->nworkers == 0 || pthread_create(&self->broker_thread, NULL, rpc_broker_run, self) != 0) {
        atomic_store(&self->workers_exit, true);
        for (int i = 0; i < self->nworkers; i++)
            pthread_join(self->worker_threads[i], NULL);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "rpc: cannot start threads");
    }
    self->started = true;
    return CRM_OK;
}

void crm_rpc_server_stop(crm_rpc_server_t *self)
{
    if (!self || !self->started)
        return;
    atomic_store(&self->stopping, true);
    pthread_join(self->broker_thread, NULL);
    for (int i = 0; i < self->nworkers; i++)
        pthread_join(self->worker_threads[i], NULL);
    self->started = false;
}

void crm_rpc_server_destroy(crm_rpc_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    crm_rpc_server_t *self = *self_p;
    crm_rpc_server_stop(self);
    if (self->frontend)
        zmq_close(self->frontend);
    if (self->backend)
        zmq_close(self->backend);
    for (size_t i = 0; i < self->nroutes; i++)
        free(self->routes[i].method);
    free(self->routes);
    free(self->worker_threads);
    free(self);
    *self_p = NULL;
}

/* ============================== client ============================== */

typedef struct client_sock {
    void *sock;
    struct crm_rpc_client_t *client;
    struct client_sock *next;
} client_sock_t;

struct crm_rpc_client_t {
    void *zctx;
    char **endpoints;
    size_t n;
    pthread_key_t key;    /* this thread's client_sock_t */
    pthread_mutex_t lock; /* guards socks */
    client_sock_t *socks; /* every thread's socket, closed at destroy */
};

static void client_sock_unlink(crm_rpc_client_t *self, client_sock_t *cs)
{
    pthread_mutex_lock(&self->lock);
    for (client_sock_t **p = &self->socks; *p; p = &(*p)->next) {
        if (*p == cs) {
            *p = cs->next;
            break;
        }
    }
    pthread_mutex_unlock(&self->lock);
}

/* Runs when a calling thread exits: its socket is closed then, not left to the context. */
static void client_sock_release(void *arg)
{
    client_sock_t *cs = arg;
    client_sock_unlink(cs->client, cs);
    zmq_close(cs->sock);
    free(cs);
}

crm_rpc_client_t *crm_rpc_client_new(void *zctx, const char *const *endpoints, size_t n, crm_err_t *err)
{
    if (!zctx || !endpoints || n == 0) {
        crm_err_set(err, CRM_EINVALID, "rpc_endpoints", "missing", "rpc: no endpoints");
        return NULL;
    }
    crm_rpc_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->zctx = zctx;
    self->endpoints = calloc(n, sizeof *self->endpoints);
    if (!self->endpoints || pthread_key_create(&self->key, client_sock_release) != 0) {
        free(self->endpoints);
        free(self);
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "rpc: cannot create the client");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    for (size_t i = 0; i < n; i++)
        self->endpoints[i] = crm_strdup(endpoints[i] ? endpoints[i] : "");
    self->n = n;
    /* Validate the endpoints once, so a typo fails here and not at the first call. */
    void *probe = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    if (probe)
        zmq_setsockopt(probe, ZMQ_LINGER, &linger, sizeof linger);
    for (size_t i = 0; probe && i < n; i++) {
        if (zmq_connect(probe, self->endpoints[i]) != 0) {
            crm_err_set(err, CRM_EINVALID, "rpc_endpoints", "invalid", "rpc: bad endpoint %s: %s",
                        self->endpoints[i], zmq_strerror(zmq_errno()));
            zmq_close(probe);
            crm_rpc_client_destroy(&self);
            return NULL;
        }
    }
    if (probe)
        zmq_close(probe);
    return self;
}

void crm_rpc_client_destroy(crm_rpc_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    crm_rpc_client_t *self = *self_p;
    /* No destructor may run after this point (threads exiting later leave their socket to us). */
    pthread_key_delete(self->key);
    pthread_mutex_lock(&self->lock);
    client_sock_t *cs = self->socks;
    self->socks = NULL;
    pthread_mutex_unlock(&self->lock);
    while (cs) {
        client_sock_t *next = cs->next;
        zmq_close(cs->sock);
        free(cs);
        cs = next;
    }
    for (size_t i = 0; i < self->n; i++)
        free(self->endpoints[i]);
    free(self->endpoints);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

static void *client_socket(crm_rpc_client_t *self, crm_err_t *err)
{
    client_sock_t *cs = pthread_getspecific(self->key);
    if (cs)
        return cs->sock;
    void *s = zmq_socket(self->zctx, ZMQ_DEALER);
    if (!s) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "rpc: zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    /* IMMEDIATE: queue only to connected peers, so a call with no instance up fails fast
     * instead of waiting in a queue for a peer that may never come. */
    int one = 1, linger = 0;
    int64_t maxmsg = RPC_MAX_MSG_BYTES;
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    for (size_t i = 0; i < self->n; i++)
        zmq_connect(s, self->endpoints[i]);
    cs = calloc(1, sizeof *cs);
    if (!cs) {
        zmq_close(s);
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    cs->sock = s;
    cs->client = self;
    pthread_mutex_lock(&self->lock);
    cs->next = self->socks;
    self->socks = cs;
    pthread_mutex_unlock(&self->lock);
    pthread_setspecific(self->key, cs);
    return s;
}

/* Sends [empty][request], waiting a little for a connected peer (a fresh socket needs a few
 * milliseconds to connect). Returns 0, or CRM_EUNAVAILABLE when no instance is reachable. */
static int client_send(void *sock, const uint8_t *buf, size_t len, int64_t deadline_us, const char *method,
                       crm_err_t *err)
{
    int64_t connect_deadline = crm_mono_us() + 250 * 1000;
    if (connect_deadline > deadline_us)
        connect_deadline = deadline_us;
    for (;;) {
        if (zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == 0) {
            zmq_send(sock, buf, len, 0); /* the first frame went: the rest is accepted */
            return CRM_OK;
        }
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
            return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "rpc %s: send: %s", method,
                               zmq_strerror(zmq_errno()));
        int64_t left = connect_deadline - crm_mono_us();
        if (left <= 0)
            return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "rpc %s: no instance reachable", method);
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLOUT};
        zmq_poll(&item, 1, (long)((left + 999) / 1000));
    }
}

/* Turns the matching reply into the call's result. */
static int client_result(const Crm__Reply *reply, const ProtobufCMessageDescriptor *out_desc,
                         ProtobufCMessage **out, const char *method, crm_err_t *err)
{
    int code = reply->has_status ? clamp_code((int)reply->status) : CRM_OK;
    if (code != CRM_OK) {
        const Crm__FieldError *fe = reply->n_errors > 0 ? reply->errors[0] : NULL;
        crm_err_set(err, code, fe ? fe->field : NULL, fe ? fe->code : NULL, "%s",
                    reply->message ? reply->message : crm_code_name(code));
        for (size_t i = 1; i < reply->n_errors; i++) {
            const Crm__FieldError *more = reply->errors[i];
            crm_err_add(err, code, more->field, more->code, "%s", more->message ? more->message : "");
        }
        return code;
    }
    crm_err_clear(err);
    if (out && out_desc) {
        *out = protobuf_c_message_unpack(out_desc, NULL, reply->has_payload ? reply->payload.len : 0,
                                         reply->has_payload ? reply->payload.data : (const uint8_t *)"");
        if (!*out)
            return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "rpc %s: reply payload is not a valid %s",
                               method, out_desc->name);
    }
    return CRM_OK;
}

int crm_rpc_call(crm_rpc_client_t *self, const char *method, const crm_rpc_caller_t *caller,
                 const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc, int timeout_ms,
                 ProtobufCMessage **out, crm_err_t *err)
{
    if (out)
        *out = NULL;
    if (!self || !method)
        return crm_err_set(err, CRM_EINVALID, "method", "missing", "rpc: no client or method");
    void *sock = client_socket(self, err);
    if (!sock)
        return err ? err->code : CRM_EINTERNAL;
    if (timeout_ms <= 0)
        timeout_ms = 5000;

    char request_id[37];
    crm_uuid7(request_id);
    Crm__Caller c = CRM__CALLER__INIT;
    c.has_user_id = 1;
    c.user_id = caller ? caller->user_id : 0;
    c.role = (char *)((caller && caller->role) ? caller->role : "system");
    Crm__Request req = CRM__REQUEST__INIT;
    req.request_id = request_id;
    req.method = (char *)method;
    req.caller = &c;
    req.has_deadline = 1;
    req.deadline = crm_now_ms() + timeout_ms;
    req.correlation_id = (char *)((caller && caller->correlation_id) ? caller->correlation_id : "");
    uint8_t *payload = NULL;
    if (in) {
        size_t plen = protobuf_c_message_get_packed_size(in);
        payload = malloc(plen ? plen : 1);
        if (!payload)
            return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        protobuf_c_message_pack(in, payload);
        req.has_payload = 1;
        req.payload.data = payload;
        req.payload.len = plen;
    }
    size_t len = crm__request__get_packed_size(&req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        free(payload);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    }
    crm__request__pack(&req, buf);
    free(payload);

    int64_t deadline_us = crm_mono_us() + (int64_t)timeout_ms * 1000;
    int rc = client_send(sock, buf, len, deadline_us, method, err);
    free(buf);
    if (rc != CRM_OK)
        return rc;

    for (;;) {
        int64_t left = deadline_us - crm_mono_us();
        if (left <= 0)
            break;
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        int n = zmq_poll(&item, 1, (long)((left + 999) / 1000));
        if (n < 0 && zmq_errno() != EINTR)
            break;
        if (n <= 0)
            continue;
        zmq_msg_t f[2];
        int total;
        int k = recv_frames(sock, f, 2, &total, ZMQ_DONTWAIT);
        if (k <= 0)
            continue;
        Crm__Reply *reply = NULL;
        if (k == 2 && total == 2 && zmq_msg_size(&f[0]) == 0)
            reply = crm__reply__unpack(NULL, zmq_msg_size(&f[1]), zmq_msg_data(&f[1]));
        frames_close(f, k);
        /* Replies to earlier calls that timed out may still arrive: only ours counts. */
        if (!reply || !reply->request_id || strcmp(reply->request_id, request_id) != 0) {
            if (reply)
                crm__reply__free_unpacked(reply, NULL);
            continue;
        }
        rc = client_result(reply, out_desc, out, method, err);
        crm__reply__free_unpacked(reply, NULL);
        return rc;
    }
    return crm_err_set(err, CRM_EUNAVAILABLE, NULL, "timeout", "rpc %s: no reply within %d ms", method,
                       timeout_ms);
}

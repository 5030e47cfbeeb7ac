/* The bus: PUB/SUB sockets through crm-broker. Publishing never blocks (a full queue drops; the
 * outbox/inbox replay makes delivery exact); receiving skips malformed messages. */
#include "crm/bus.h"
#include "crm/log.h"
#include "crm/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define BUS_HWM 100000
#define BUS_PUB_LINGER_MS 1000 /* give queued events a moment at close; never hang shutdown */

struct crm_bus_pub_t {
    void *sock;
    uint64_t dropped;
};

struct crm_bus_sub_t {
    void *sock;
    uint64_t malformed;
};

static void *bus_socket(void *zctx, int type, const char *endpoint, crm_err_t *err)
{
    if (!zctx || !endpoint || !*endpoint) {
        crm_err_set(err, CRM_EINVALID, "endpoint", "missing", "bus: a ZeroMQ context and an endpoint are needed");
        return NULL;
    }
    void *s = zmq_socket(zctx, type);
    if (!s) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "bus: zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int hwm = BUS_HWM;
    int linger = type == ZMQ_PUB ? BUS_PUB_LINGER_MS : 0;
    zmq_setsockopt(s, type == ZMQ_PUB ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, endpoint) != 0) {
        crm_err_set(err, CRM_EINVALID, "endpoint", "invalid", "bus: cannot connect to %s: %s", endpoint,
                    zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

crm_bus_pub_t *crm_bus_pub_new(void *zctx, const char *endpoint, crm_err_t *err)
{
    void *s = bus_socket(zctx, ZMQ_PUB, endpoint, err);
    if (!s)
        return NULL;
    crm_bus_pub_t *self = calloc(1, sizeof *self);
    if (!self) {
        zmq_close(s);
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->sock = s;
    return self;
}

void crm_bus_pub_destroy(crm_bus_pub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmq_close((*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

/* Sends [topic][body] without blocking. A full queue is not an error: the message is dropped
 * and the consumer's gap detection replays it (DESIGN §4). */
static int publish_frames(crm_bus_pub_t *self, const char *topic, const void *body, size_t len, crm_err_t *err)
{
    size_t tlen = strlen(topic);
    if (zmq_send(self->sock, topic, tlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EAGAIN) {
            self->dropped++;
            return CRM_OK;
        }
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "bus: send: %s", zmq_strerror(zmq_errno()));
    }
    /* Once the first frame is queued, ZeroMQ guarantees the rest of the message fits. */
    if (zmq_send(self->sock, body, len, ZMQ_DONTWAIT) < 0)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "bus: send: %s", zmq_strerror(zmq_errno()));
    return CRM_OK;
}

int crm_bus_publish(crm_bus_pub_t *self, const Crm__Envelope *env, crm_err_t *err)
{
    if (!self || !env || !env->type || !*env->type)
        return crm_err_set(err, CRM_EINVALID, "type", "missing", "bus: an envelope needs a type");
    if (strlen(env->type) >= sizeof(((crm_bus_msg_t *)0)->topic))
        return crm_err_set(err, CRM_EINVALID, "type", "too_long", "bus: topic too long");
    size_t len = crm__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    crm__envelope__pack(env, buf);
    int rc = publish_frames(self, env->type, buf, len, err);
    free(buf);
    return rc;
}

int crm_bus_publish_heartbeat(crm_bus_pub_t *self, const char *producer, uint64_t latest_seq, crm_err_t *err)
{
    if (!self || !producer)
        return crm_err_set(err, CRM_EINVALID, "producer", "missing", "bus: a heartbeat needs a producer");
    Crm__Heartbeat hb = CRM__HEARTBEAT__INIT;
    hb.producer = (char *)producer;
    hb.has_latest_seq = 1;
    hb.latest_seq = latest_seq;
    hb.has_sent_at = 1;
    hb.sent_at = crm_now_us();
    uint8_t buf[512];
    size_t len = crm__heartbeat__get_packed_size(&hb);
    if (len > sizeof buf)
        return crm_err_set(err, CRM_EINVALID, "producer", "too_long", "bus: producer name too long");
    crm__heartbeat__pack(&hb, buf);
    return publish_frames(self, CRM_BUS_HEARTBEAT_TOPIC, buf, len, err);
}

crm_bus_sub_t *crm_bus_sub_new(void *zctx, const char *endpoint, crm_err_t *err)
{
    void *s = bus_socket(zctx, ZMQ_SUB, endpoint, err);
    if (!s)
        return NULL;
    crm_bus_sub_t *self = calloc(1, sizeof *self);
    if (!self) {
        zmq_close(s);
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->sock = s;
    return self;
}

void crm_bus_sub_destroy(crm_bus_sub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmq_close((*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

int crm_bus_subscribe(crm_bus_sub_t *self, const char *topic_prefix, crm_err_t *err)
{
    if (!self || !topic_prefix)
        return crm_err_set(err, CRM_EINVALID, "topic", "missing", "bus: no topic prefix");
    if (zmq_setsockopt(self->sock, ZMQ_SUBSCRIBE, topic_prefix, strlen(topic_prefix)) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "bus: subscribe: %s", zmq_strerror(zmq_errno()));
    return CRM_OK;
}

void *crm_bus_sub_socket(crm_bus_sub_t *self)
{
    return self ? self->sock : NULL;
}

void crm_bus_msg_clear(crm_bus_msg_t *msg)
{
    if (!msg)
        return;
    if (msg->envelope)
        crm__envelope__free_unpacked(msg->envelope, NULL);
    if (msg->heartbeat)
        crm__heartbeat__free_unpacked(msg->heartbeat, NULL);
    msg->envelope = NULL;
    msg->heartbeat = NULL;
    msg->topic[0] = '\0';
}

/* Reads one whole message (all its frames) without blocking. Returns 1 when it was a valid
 * bus message (msg filled), 0 when it was malformed (skipped), -1 when nothing was there or on
 * a socket error (errno-like value in *zerr). */
static int read_message(crm_bus_sub_t *self, crm_bus_msg_t *msg, int *zerr)
{
    zmq_msg_t frames[2];
    int kept = 0, total = 0;
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, self->sock, ZMQ_DONTWAIT) < 0) {
            *zerr = zmq_errno();
            zmq_msg_close(&part);
            for (int i = 0; i < kept; i++)
                zmq_msg_close(&frames[i]);
            return -1;
        }
        more = zmq_msg_more(&part);
        total++;
        if (kept < 2)
            frames[kept++] = part;
        else
            zmq_msg_close(&part); /* a third frame: the message is malformed; drain it */
    }
    int ok = 0;
    if (total == 2) {
        size_t tlen = zmq_msg_size(&frames[0]);
        const uint8_t *body = zmq_msg_data(&frames[1]);
        size_t blen = zmq_msg_size(&frames[1]);
        if (tlen > 0 && tlen < sizeof msg->topic) {
            memcpy(msg->topic, zmq_msg_data(&frames[0]), tlen);
            msg->topic[tlen] = '\0';
            if (strcmp(msg->topic, CRM_BUS_HEARTBEAT_TOPIC) == 0) {
                msg->heartbeat = crm__heartbeat__unpack(NULL, blen, body);
                ok = msg->heartbeat && msg->heartbeat->producer != NULL;
            } else {
                msg->envelope = crm__envelope__unpack(NULL, blen, body);
                ok = msg->envelope != NULL;
            }
        }
    }
    for (int i = 0; i < kept; i++)
        zmq_msg_close(&frames[i]);
    if (!ok)
        crm_bus_msg_clear(msg);
    return ok;
}

int crm_bus_recv(crm_bus_sub_t *self, int timeout_ms, crm_bus_msg_t *msg)
{
    if (!self || !msg)
        return -1;
    memset(msg, 0, sizeof *msg);
    int64_t deadline = timeout_ms < 0 ? -1 : crm_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        long wait_ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - crm_mono_us();
            wait_ms = left <= 0 ? 0 : (long)((left + 999) / 1000);
        }
        zmq_pollitem_t item = {.socket = self->sock, .events = ZMQ_POLLIN};
        int n = zmq_poll(&item, 1, wait_ms);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                return 0; /* a signal: let the caller look at its stop flag */
            return -1;
        }
        if (n == 0)
            return 0;
        int zerr = 0;
        int rc = read_message(self, msg, &zerr);
        if (rc == 1)
            return 1;
        if (rc == 0) {
            /* Malformed messages are skipped and counted, never returned (bus.h). */
            self->malformed++;
            crm_log_warn(NULL, "bus.malformed", "count=%llu", (unsigned long long)self->malformed);
        } else if (zerr != EAGAIN) {
            return zerr == EINTR ? 0 : -1;
        }
        if (deadline >= 0 && crm_mono_us() >= deadline)
            return 0;
    }
}

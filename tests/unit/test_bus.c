/* Unit tests of bus.c: publish envelopes and heartbeats through an XSUB/XPUB forwarder (one in
 * a thread, and the real crm-broker binary), subscribe by prefix, receive; malformed skipped. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>
#include "crm/bus.h"
#include "crm/util.h"

typedef struct {
    void *zctx;
    void *xsub, *xpub;
    char xsub_ep[128], xpub_ep[128];
    pthread_t thread;
} proxy_t;

static void *proxy_run(void *arg)
{
    proxy_t *p = arg;
    void *ctl = zmq_socket(p->zctx, ZMQ_PAIR);
    zmq_connect(ctl, "inproc://test-bus-ctl");
    zmq_proxy_steerable(p->xsub, p->xpub, NULL, ctl);
    zmq_close(ctl);
    return NULL;
}

static void proxy_start(proxy_t *p, void *zctx)
{
    p->zctx = zctx;
    p->xsub = zmq_socket(zctx, ZMQ_XSUB);
    p->xpub = zmq_socket(zctx, ZMQ_XPUB);
    cr_assert_eq(zmq_bind(p->xsub, "tcp://127.0.0.1:*"), 0);
    cr_assert_eq(zmq_bind(p->xpub, "tcp://127.0.0.1:*"), 0);
    size_t n = sizeof p->xsub_ep;
    zmq_getsockopt(p->xsub, ZMQ_LAST_ENDPOINT, p->xsub_ep, &n);
    n = sizeof p->xpub_ep;
    zmq_getsockopt(p->xpub, ZMQ_LAST_ENDPOINT, p->xpub_ep, &n);
    pthread_create(&p->thread, NULL, proxy_run, p);
}

static void proxy_stop(proxy_t *p, void *ctl)
{
    zmq_send(ctl, "TERMINATE", 9, 0);
    pthread_join(p->thread, NULL);
    zmq_close(p->xsub);
    zmq_close(p->xpub);
}

static Crm__Envelope make_env(char *type, uint64_t seq, char *id)
{
    Crm__Envelope e = CRM__ENVELOPE__INIT;
    e.event_id = id;
    e.type = type;
    e.producer = "leads";
    e.has_seq = 1;
    e.seq = seq;
    e.has_payload = 1;
    e.payload.data = (uint8_t *)"abc";
    e.payload.len = 3;
    return e;
}

/* Publishes (retrying, for the slow-joiner window) until sub receives something; returns it. */
static int publish_until_received(crm_bus_pub_t *pub, crm_bus_sub_t *sub, const Crm__Envelope *env,
                                  crm_bus_msg_t *msg)
{
    crm_err_t err;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(crm_bus_publish(pub, env, &err), 0, "%s", err.message);
        int rc = crm_bus_recv(sub, 100, msg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void roundtrip(void *zctx, const char *pub_ep, const char *sub_ep)
{
    crm_err_t err;
    crm_bus_pub_t *pub = crm_bus_pub_new(zctx, pub_ep, &err);
    cr_assert_not_null(pub, "%s", err.message);
    crm_bus_sub_t *sub = crm_bus_sub_new(zctx, sub_ep, &err);
    cr_assert_not_null(sub, "%s", err.message);
    cr_assert_not_null(crm_bus_sub_socket(sub));
    cr_assert_eq(crm_bus_subscribe(sub, "lead.", &err), 0);
    cr_assert_eq(crm_bus_subscribe(sub, CRM_BUS_HEARTBEAT_TOPIC, &err), 0);

    char id[37];
    crm_uuid7(id);
    Crm__Envelope e = make_env("lead.created", 1, id);
    crm_bus_msg_t msg;
    cr_assert_eq(publish_until_received(pub, sub, &e, &msg), 1);
    cr_assert_str_eq(msg.topic, "lead.created");
    cr_assert_not_null(msg.envelope);
    cr_assert_null(msg.heartbeat);
    cr_assert_str_eq(msg.envelope->event_id, id);
    cr_assert_str_eq(msg.envelope->producer, "leads");
    cr_assert_eq(msg.envelope->payload.len, 3);
    cr_assert_eq(memcmp(msg.envelope->payload.data, "abc", 3), 0);
    crm_bus_msg_clear(&msg);
    cr_assert_null(msg.envelope);
    /* Drain the retries of the slow-joiner loop. */
    while (crm_bus_recv(sub, 200, &msg) == 1)
        crm_bus_msg_clear(&msg);

    /* Prefix filtering: deal.* is not subscribed, lead.updated is. */
    Crm__Envelope d = make_env("deal.created", 1, id);
    Crm__Envelope u = make_env("lead.updated", 2, id);
    cr_assert_eq(crm_bus_publish(pub, &d, &err), 0);
    cr_assert_eq(crm_bus_publish(pub, &u, &err), 0);
    cr_assert_eq(crm_bus_publish_heartbeat(pub, "leads", 2, &err), 0);
    cr_assert_eq(crm_bus_recv(sub, 2000, &msg), 1);
    cr_assert_str_eq(msg.topic, "lead.updated");
    cr_assert_eq(msg.envelope->seq, 2);
    crm_bus_msg_clear(&msg);
    cr_assert_eq(crm_bus_recv(sub, 2000, &msg), 1);
    cr_assert_str_eq(msg.topic, "heartbeat");
    cr_assert_not_null(msg.heartbeat);
    cr_assert_str_eq(msg.heartbeat->producer, "leads");
    cr_assert_eq(msg.heartbeat->latest_seq, 2);
    cr_assert_gt(msg.heartbeat->sent_at, 0);
    crm_bus_msg_clear(&msg);
    cr_assert_eq(crm_bus_recv(sub, 200, &msg), 0, "nothing else arrives");

    /* Malformed messages are skipped: a raw PUB sends junk, then one good event. */
    void *raw = zmq_socket(zctx, ZMQ_PUB);
    zmq_connect(raw, pub_ep);
    crm_sleep_ms(300);
    zmq_send(raw, "lead.bad", 8, ZMQ_SNDMORE);
    zmq_send(raw, "\xff\xff\xff", 3, 0);          /* not a protobuf */
    zmq_send(raw, "lead.one", 8, 0);              /* one frame only */
    zmq_send(raw, "lead.three", 10, ZMQ_SNDMORE); /* three frames */
    zmq_send(raw, "x", 1, ZMQ_SNDMORE);
    zmq_send(raw, "y", 1, 0);
    uint8_t buf[256];
    Crm__Envelope g = make_env("lead.good", 3, id);
    size_t len = crm__envelope__pack(&g, buf);
    zmq_send(raw, "lead.good", 9, ZMQ_SNDMORE);
    zmq_send(raw, buf, len, 0);
    cr_assert_eq(crm_bus_recv(sub, 3000, &msg), 1);
    cr_assert_str_eq(msg.topic, "lead.good");
    crm_bus_msg_clear(&msg);
    zmq_close(raw);

    /* An envelope without a type is refused. */
    Crm__Envelope bad = CRM__ENVELOPE__INIT;
    cr_assert_eq(crm_bus_publish(pub, &bad, &err), CRM_EINVALID);

    crm_bus_pub_destroy(&pub);
    crm_bus_sub_destroy(&sub);
    cr_assert_null(pub);
    cr_assert_null(sub);
}

Test(bus, through_proxy_thread)
{
    void *zctx = zmq_ctx_new();
    void *ctl = zmq_socket(zctx, ZMQ_PAIR);
    zmq_bind(ctl, "inproc://test-bus-ctl");
    proxy_t p;
    proxy_start(&p, zctx);
    roundtrip(zctx, p.xsub_ep, p.xpub_ep);
    proxy_stop(&p, ctl);
    zmq_close(ctl);
    zmq_ctx_term(zctx);
}

Test(bus, bad_endpoint_and_no_broker)
{
    void *zctx = zmq_ctx_new();
    crm_err_t err;
    cr_assert_null(crm_bus_pub_new(zctx, "nonsense://", &err));
    cr_assert_neq(err.code, CRM_OK);
    cr_assert_null(crm_bus_sub_new(zctx, NULL, &err));
    /* No broker: publishing still returns at once (never blocks), receiving times out. */
    crm_bus_pub_t *pub = crm_bus_pub_new(zctx, "tcp://127.0.0.1:1", &err);
    cr_assert_not_null(pub);
    int64_t t0 = crm_mono_us();
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(crm_bus_publish_heartbeat(pub, "x", (uint64_t)i, &err), 0);
    cr_assert_lt(crm_mono_us() - t0, 2000000);
    crm_bus_sub_t *sub = crm_bus_sub_new(zctx, "tcp://127.0.0.1:1", &err);
    crm_bus_subscribe(sub, "", &err);
    crm_bus_msg_t msg;
    t0 = crm_mono_us();
    cr_assert_eq(crm_bus_recv(sub, 100, &msg), 0);
    cr_assert_geq(crm_mono_us() - t0, 90000);
    crm_bus_pub_destroy(&pub);
    crm_bus_sub_destroy(&sub);
    zmq_ctx_term(zctx);
}

static int free_port(void)
{
    void *zctx = zmq_ctx_new();
    void *s = zmq_socket(zctx, ZMQ_REP);
    zmq_bind(s, "tcp://127.0.0.1:*");
    char ep[128];
    size_t n = sizeof ep;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &n);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_term(zctx);
    return atoi(strrchr(ep, ':') + 1);
}

Test(bus, through_real_broker)
{
    const char *bin = CRM_BUILD_DIR "/services/crm-broker";
    if (access(bin, X_OK) != 0)
        cr_assert_fail("crm-broker not built at %s (build target crm-broker first)", bin);
    char xsub[64], xpub[64], admin[16];
    snprintf(xsub, sizeof xsub, "tcp://127.0.0.1:%d", free_port());
    snprintf(xpub, sizeof xpub, "tcp://127.0.0.1:%d", free_port());
    snprintf(admin, sizeof admin, "%d", free_port());
    pid_t pid = fork();
    if (pid == 0) {
        setenv("CRM_BROKER_XSUB_BIND", xsub, 1);
        setenv("CRM_BROKER_XPUB_BIND", xpub, 1);
        setenv("CRM_BROKER_ADMIN_PORT", admin, 1);
        setenv("CRM_LOG_LEVEL", "warn", 1);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    crm_sleep_ms(300);
    void *zctx = zmq_ctx_new();
    roundtrip(zctx, xsub, xpub);
    zmq_ctx_term(zctx);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "broker exits 0 on SIGTERM (status %d)", status);
}

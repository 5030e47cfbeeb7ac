/* crm-broker: the stateless ZeroMQ forwarder of the bus. Publishers connect to its XSUB side,
 * subscribers to its XPUB side; subscriptions flow back upstream. SIGTERM/SIGINT stop it
 * cleanly (exit 0). Serves /healthz, /readyz and /metrics on its admin port. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "crm/admin.h"
#include "crm/config.h"
#include "crm/log.h"
#include "crm/metrics.h"

#define BROKER_HWM 100000
#define BROKER_BATCH 1000 /* messages moved per socket per poll round, so neither side starves */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    atomic_bool bound;
} broker_state_t;

static bool broker_ready(void *arg, char *reason, unsigned long reason_len)
{
    broker_state_t *st = arg;
    if (atomic_load(&st->bound))
        return true;
    snprintf(reason, reason_len, "sockets not bound");
    return false;
}

static void usage(void)
{
    printf("Usage: crm-broker [--config FILE] [--help]\n\n"
           "The bus forwarder: publishers connect to broker.xsub_bind, subscribers to broker.xpub_bind.\n\n"
           "  --config FILE  the YAML configuration (default: $CRM_CONFIG, else deploy/config/crm.yaml\n"
           "                 when it exists, else built-in defaults); CRM_* variables override keys\n"
           "  --help         this text\n");
}

/* Moves one whole multipart message from src to dst without blocking. Returns 1 when a
 * message moved, 0 when src had none, -1 on error. */
static int forward_one(void *src, void *dst)
{
    int more = 1, moved = 0;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, src, moved ? 0 : ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&part);
            return (e == EAGAIN || e == EINTR) && !moved ? 0 : -1;
        }
        more = zmq_msg_more(&part);
        /* XPUB with NODROP off never blocks: a slow subscriber loses messages (they are
         * replayed from the producer's outbox), the broker never stalls. */
        if (zmq_msg_send(&part, dst, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            zmq_msg_close(&part);
        moved = 1;
    }
    return 1;
}

static void *bind_socket(void *zctx, int type, const char *endpoint)
{
    void *s = zmq_socket(zctx, type);
    if (!s)
        return NULL;
    int hwm = BROKER_HWM, linger = 0, nodrop = 0;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_XPUB)
        zmq_setsockopt(s, ZMQ_XPUB_NODROP, &nodrop, sizeof nodrop);
    if (zmq_bind(s, endpoint) != 0) {
        crm_log_error(NULL, "broker.bind_failed", "endpoint=%s error=\"%s\"", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static const char *config_path(int argc, char **argv, int *status)
{
    const char *path = NULL;
    *status = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            *status = 0;
            return NULL;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            fprintf(stderr, "crm-broker: unknown argument %s (try --help)\n", argv[i]);
            *status = 2;
            return NULL;
        }
    }
    if (!path)
        path = getenv("CRM_CONFIG");
    if (!path) {
        FILE *f = fopen("deploy/config/crm.yaml", "r");
        if (f) {
            fclose(f);
            path = "deploy/config/crm.yaml";
        }
    }
    return path;
}

static void forward_loop(void *xsub, void *xpub, crm_metrics_t *metrics)
{
    while (!stop_requested) {
        zmq_pollitem_t items[2] = {{.socket = xsub, .events = ZMQ_POLLIN}, {.socket = xpub, .events = ZMQ_POLLIN}};
        int n = zmq_poll(items, 2, 500);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            crm_log_error(NULL, "broker.poll_failed", "error=\"%s\"", zmq_strerror(zmq_errno()));
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            int moved = 0;
            while (moved < BROKER_BATCH && forward_one(xsub, xpub) == 1)
                moved++;
            crm_metrics_inc(metrics, "crm_broker_messages_total", NULL, moved);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            int moved = 0;
            while (moved < BROKER_BATCH && forward_one(xpub, xsub) == 1)
                moved++;
            crm_metrics_inc(metrics, "crm_broker_subscriptions_total", NULL, moved);
        }
    }
}

int main(int argc, char **argv)
{
    int status;
    const char *path = config_path(argc, argv, &status);
    if (status >= 0)
        return status;
    crm_err_t err;
    crm_config_t *config = crm_config_load(path, &err);
    if (!config) {
        fprintf(stderr, "crm-broker: %s\n", err.message);
        return 1;
    }
    crm_log_init("broker", crm_log_level_parse(crm_config_str(config, "log.level", "info")));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    crm_metrics_t *metrics = crm_metrics_new();
    crm_metrics_help(metrics, "crm_broker_messages_total", "Bus messages forwarded from publishers to subscribers.");
    crm_metrics_help(metrics, "crm_broker_subscriptions_total", "Subscription messages forwarded upstream.");
    crm_metrics_inc(metrics, "crm_broker_messages_total", NULL, 0); /* present from the start */
    broker_state_t state;
    atomic_init(&state.bound, false);
    const char *admin_bind = crm_config_str(config, "broker.admin_bind", "127.0.0.1");
    int admin_port = (int)crm_config_int(config, "broker.admin_port", 7190);
    crm_admin_t *admin = crm_admin_new(admin_bind, admin_port, metrics, broker_ready, &state, &err);
    if (!admin) {
        crm_log_error(NULL, "broker.admin_failed", "error=\"%s\"", err.message);
        crm_metrics_destroy(&metrics);
        crm_config_destroy(&config);
        return 1;
    }

    const char *xsub_ep = crm_config_str(config, "broker.xsub_bind", "tcp://127.0.0.1:7100");
    const char *xpub_ep = crm_config_str(config, "broker.xpub_bind", "tcp://127.0.0.1:7101");
    void *zctx = zmq_ctx_new();
    void *xsub = bind_socket(zctx, ZMQ_XSUB, xsub_ep);
    void *xpub = xsub ? bind_socket(zctx, ZMQ_XPUB, xpub_ep) : NULL;
    int rc = 1;
    if (xsub && xpub) {
        atomic_store(&state.bound, true);
        crm_log_info(NULL, "broker.started", "xsub=%s xpub=%s admin_port=%d", xsub_ep, xpub_ep,
                     crm_admin_port(admin));
        forward_loop(xsub, xpub, metrics);
        rc = stop_requested ? 0 : 1;
        crm_log_info(NULL, "broker.stopped", "forwarded=%.0f",
                     crm_metrics_get(metrics, "crm_broker_messages_total", NULL));
    }
    if (xsub)
        zmq_close(xsub);
    if (xpub)
        zmq_close(xpub);
    zmq_ctx_term(zctx);
    crm_admin_destroy(&admin);
    crm_metrics_destroy(&metrics);
    crm_config_destroy(&config);
    return rc;
}

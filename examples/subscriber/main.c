/* crm-subscriber: how another service listens to CRM events (SPEC G4).
 *
 * Subscribes to one event type on the bus (default deal.stage_changed from crm-deals), first
 * catches up from the offset stored in a file with events.replay on the producer, then prints each
 * event as one JSON line: {"seq", "event_id", "type", "producer", "occurred_at", "data"}. The bus
 * may drop messages, so a live event after a gap, and a heartbeat ahead of the offset, also trigger
 * events.replay for what was missed. The offset (the producer's seq scanned through) is written
 * after each printed event: a crash between printing and writing prints that event again on the
 * next start (at least once; the event_id tells a duplicate).
 *
 *   crm-subscriber [--config crm.yaml] [--offset-file subscriber.offset] [--type deal.stage_changed]
 *                  [--producer deals] [--exit-idle-ms N]
 *
 * Endpoints come from the YAML: bus.subscribe and <producer>.rpc_endpoints. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "assign.pb-c.h"
#include "crm/bus.h"
#include "crm/config.h"
#include "crm/log.h"
#include "crm/outbox.h"
#include "crm/pbjson.h"
#include "crm/rpc.h"
#include "crm/util.h"
#include "deals.pb-c.h"
#include "leads.pb-c.h"
#include "rpc.pb-c.h"

/* The payload message of each event type this example can print. */
static const struct {
    const char *type;
    const ProtobufCMessageDescriptor *desc;
} payloads[] = {
    {"deal.stage_changed", &crm__deal_stage_changed__descriptor},
    {"deal.created", &crm__deal_event__descriptor},
    {"deal.updated", &crm__deal_event__descriptor},
    {"deal.won", &crm__deal_event__descriptor},
    {"deal.lost", &crm__deal_event__descriptor},
    {"lead.created", &crm__lead_event__descriptor},
    {"lead.updated", &crm__lead_event__descriptor},
    {"lead.status_changed", &crm__lead_status_changed__descriptor},
    {"lead.converted", &crm__lead_converted__descriptor},
    {"owner.assigned", &crm__owner_assigned__descriptor},
};

typedef struct {
    const char *type, *producer, *offset_file;
    uint64_t offset;
    crm_rpc_client_t *rpc;
} sub_t;

static uint64_t offset_load(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (f) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* Writes the offset atomically (temp file + rename). */
static int offset_store(const char *path, uint64_t v)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%llu\n", (unsigned long long)v);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static void print_event(const Crm__Envelope *env)
{
    const ProtobufCMessageDescriptor *desc = NULL;
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
        if (strcmp(env->type, payloads[i].type) == 0)
            desc = payloads[i].desc;
    json_t *data = json_null();
    if (desc && env->has_payload) {
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, env->payload.len, env->payload.data);
        if (m) {
            data = crm_pbjson_from_message(m);
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
    char when[32];
    crm_time_format(env->occurred_at, when);
    json_t *out =
        json_pack("{s:I,s:s,s:s,s:s,s:s,s:o}", "seq", (json_int_t)env->seq, "event_id",
                  env->event_id ? env->event_id : "", "type", env->type, "producer",
                  env->producer ? env->producer : "", "occurred_at", when, "data", data ? data : json_null());
    char *text = json_dumps(out, JSON_COMPACT);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(out);
}

/* Prints one event unless seen, then stores the offset. */
static void handle(sub_t *s, const Crm__Envelope *env)
{
    if (env->seq <= s->offset)
        return;
    if (strcmp(env->type, s->type) == 0)
        print_event(env);
    s->offset = env->seq;
    if (offset_store(s->offset_file, s->offset) != 0)
        fprintf(stderr, "crm-subscriber: cannot write %s: %s\n", s->offset_file, strerror(errno));
}

/* events.replay from offset+1 up to `to` (0 = the latest), in pages. */
static int catch_up(sub_t *s, uint64_t to)
{
    for (;;) {
        Crm__ReplayRequest req = CRM__REPLAY_REQUEST__INIT;
        req.has_from_seq = req.has_to_seq = 1;
        req.from_seq = s->offset + 1;
        req.to_seq = to;
        char *types[1] = {(char *)s->type};
        req.n_types = 1;
        req.types = types;
        ProtobufCMessage *out = NULL;
        crm_err_t err;
        crm_rpc_caller_t caller = {.role = "system"};
        int rc = crm_rpc_call(s->rpc, "events.replay", &caller, &req.base, &crm__replay_reply__descriptor,
                              5000, &out, &err);
        uint64_t oldest = 0;
        if (rc != CRM_OK && crm_outbox_replay_pruned(&err, &oldest) && oldest > req.from_seq) {
            /* The producer's outbox retention dropped them: they cannot be had any more. Say so
             * and go on from the oldest retained event (README: Retention). */
            uint64_t upto = to && oldest - 1 > to ? to : oldest - 1;
            fprintf(stderr,
                    "crm-subscriber: events %llu..%llu of %s were pruned by its outbox retention; going on\n",
                    (unsigned long long)req.from_seq, (unsigned long long)upto, s->producer);
            s->offset = upto;
            offset_store(s->offset_file, s->offset);
            if (to && s->offset >= to)
                return 0;
            continue;
        }
        if (rc != CRM_OK) {
            fprintf(stderr, "crm-subscriber: events.replay on %s: %s\n", s->producer, err.message);
            return -1;
        }
        Crm__ReplayReply *r = (Crm__ReplayReply *)out;
        uint64_t before = s->offset;
        for (size_t i = 0; i < r->n_events; i++)
            handle(s, r->events[i]);
        uint64_t through = r->through_seq, latest = r->latest_seq;
        if (through > s->offset) { /* scanned through seqs of other types too */
            s->offset = through;
            offset_store(s->offset_file, s->offset);
        }
        protobuf_c_message_free_unpacked(out, NULL);
        uint64_t goal = to ? to : latest;
        if (s->offset >= goal || s->offset == before)
            return 0;
    }
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    sub_t s = {.type = "deal.stage_changed", .producer = "deals", .offset_file = "subscriber.offset"};
    long exit_idle_ms = -1;
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"offset-file", required_argument, 0, 'o'},
                                         {"type", required_argument, 0, 't'},
                                         {"producer", required_argument, 0, 'p'},
                                         {"exit-idle-ms", required_argument, 0, 'x'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:o:t:p:x:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'o':
            s.offset_file = optarg;
            break;
        case 't':
            s.type = optarg;
            break;
        case 'p':
            s.producer = optarg;
            break;
        case 'x':
            exit_idle_ms = atol(optarg);
            break;
        default:
            fprintf(
                c == 'h' ? stdout : stderr,
                "usage: crm-subscriber [--config crm.yaml] [--offset-file F] [--type deal.stage_changed]\n"
                "                      [--producer deals] [--exit-idle-ms N]\n"
                "Prints each event of the type as one JSON line, catching up from the stored offset.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    crm_log_init("subscriber", CRM_LOG_WARN);
    crm_err_t err;
    crm_config_t *cfg = crm_config_load(config, &err);
    if (!cfg) {
        fprintf(stderr, "crm-subscriber: %s\n", err.message);
        return 1;
    }
    char key[128];
    snprintf(key, sizeof key, "%s.rpc_endpoints", s.producer);
    const char *eps[16];
    size_t n = crm_config_len(cfg, key);
    if (n == 0 || n > 16) {
        fprintf(stderr, "crm-subscriber: no %s in the config\n", key);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        eps[i] = crm_config_list_str(cfg, key, i);
    void *zctx = zmq_ctx_new();
    s.rpc = crm_rpc_client_new(zctx, eps, n, &err);
    crm_bus_sub_t *bus =
        s.rpc ? crm_bus_sub_new(zctx, crm_config_str(cfg, "bus.subscribe", "tcp://127.0.0.1:7101"), &err)
              : NULL;
    /* Subscribe before catching up, so nothing published meanwhile is missed. */
    if (!bus || crm_bus_subscribe(bus, s.type, &err) ||
        crm_bus_subscribe(bus, CRM_BUS_HEARTBEAT_TOPIC, &err)) {
        fprintf(stderr, "crm-subscriber: %s\n", err.message);
        return 1;
    }
    s.offset = offset_load(s.offset_file);
    if (catch_up(&s, 0) != 0)
        return 1;
    int64_t idle_since = crm_mono_us();
    for (;;) {
        crm_bus_msg_t msg;
        memset(&msg, 0, sizeof msg);
        int rc = crm_bus_recv(bus, 200, &msg);
        if (rc < 0)
            break;
        if (rc == 1 && msg.envelope && msg.envelope->producer &&
            strcmp(msg.envelope->producer, s.producer) == 0) {
            const Crm__Envelope *env = msg.envelope;
            if (env->seq > s.offset + 1)
                catch_up(&s, env->seq - 1); /* missed ones (or other types) before it */
            handle(&s, env);
            idle_since = crm_mono_us();
        } else if (rc == 1 && msg.heartbeat && msg.heartbeat->producer &&
                   strcmp(msg.heartbeat->producer, s.producer) == 0 && msg.heartbeat->latest_seq > s.offset) {
            catch_up(&s, msg.heartbeat->latest_seq);
        }
        crm_bus_msg_clear(&msg);
        if (exit_idle_ms >= 0 && crm_mono_us() - idle_since > exit_idle_ms * 1000)
            break;
    }
    crm_bus_sub_destroy(&bus);
    crm_rpc_client_destroy(&s.rpc);
    zmq_ctx_term(zctx);
    crm_config_destroy(&cfg);
    return 0;
}

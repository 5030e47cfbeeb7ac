/* The bus: ZeroMQ PUB/SUB through crm-broker (publishers connect to its XSUB side, subscribers
 * to its XPUB side). A message is two frames: the topic (the event type, or "heartbeat"), then
 * a packed crm.Envelope (or crm.Heartbeat). The bus may drop messages; the outbox and inbox
 * (outbox.h, inbox.h) make delivery exact. A socket belongs to one thread. */
#ifndef CRM_BUS_H
#define CRM_BUS_H

#include <stddef.h>
#include <stdint.h>
#include "crm/err.h"
#include "envelope.pb-c.h"

#define CRM_BUS_HEARTBEAT_TOPIC "heartbeat"

typedef struct crm_bus_pub_t crm_bus_pub_t;
typedef struct crm_bus_sub_t crm_bus_sub_t;

crm_bus_pub_t *crm_bus_pub_new(void *zctx, const char *endpoint, crm_err_t *err);
void crm_bus_pub_destroy(crm_bus_pub_t **self_p);
/* Publishes env under topic env->type. Never blocks: a full queue drops (the consumer replays). */
int crm_bus_publish(crm_bus_pub_t *self, const Crm__Envelope *env, crm_err_t *err);
int crm_bus_publish_heartbeat(crm_bus_pub_t *self, const char *producer, uint64_t latest_seq, crm_err_t *err);

crm_bus_sub_t *crm_bus_sub_new(void *zctx, const char *endpoint, crm_err_t *err);
void crm_bus_sub_destroy(crm_bus_sub_t **self_p);
int crm_bus_subscribe(crm_bus_sub_t *self, const char *topic_prefix, crm_err_t *err);

typedef struct {
    char topic[128];
    Crm__Envelope *envelope;   /* set for events; free with crm__envelope__free_unpacked(e, NULL) */
    Crm__Heartbeat *heartbeat; /* set for heartbeats; free with crm__heartbeat__free_unpacked */
} crm_bus_msg_t;

/* Waits up to timeout_ms (-1 = forever) for one message. Returns 1 with *msg filled, 0 on
 * timeout, or a negative value on error (a malformed message is skipped and counted, not an
 * error). */
int crm_bus_recv(crm_bus_sub_t *self, int timeout_ms, crm_bus_msg_t *msg);
void crm_bus_msg_clear(crm_bus_msg_t *msg);
/* The ZeroMQ socket, for zmq_poll alongside other sockets. */
void *crm_bus_sub_socket(crm_bus_sub_t *self);

#endif

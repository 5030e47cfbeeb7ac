/* crm-notify: the service context shared by rpc.c and consume.c, and its store API. */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdbool.h>
#include "crm/daemon.h"
#include "assign.pb-c.h"
#include "notify.pb-c.h"

typedef struct notify_mail_t notify_mail_t;
typedef struct notify_webhooks_t notify_webhooks_t;
typedef struct notify_consume_t notify_consume_t;

typedef struct {
    crm_daemon_t *daemon;
    notify_mail_t *mail;
    notify_webhooks_t *webhooks;
    notify_consume_t *consume; /* consume.c: the handlers' state */
} notify_t;

void notify_rpc_register(notify_t *self);
int notify_consume_register(notify_t *self, crm_err_t *err);
/* After the daemon (its inbox) is gone. */
void notify_consume_destroy(notify_consume_t **self_p);

/* store.c */
int notify_store_list(crm_db_t *db, int64_t user_id, const Crm__NotificationListRequest *req,
                      Crm__NotificationList **out, crm_err_t *err);

/* Event kinds a user can be told about, with their default channels. */
#define NOTIFY_KINDS 4
typedef struct {
    const char *kind; /* "assigned", "deal_stage_changed", "lead_stale", "task_due" */
    bool in_app, email;
} notify_kind_t;
extern const notify_kind_t notify_kinds[NOTIFY_KINDS];
int notify_kind_index(const char *kind); /* -1 when unknown */
const Crm__NotificationChannels *notify_settings_channels(const Crm__NotificationSettings *s, int i);
/* Tells user_id about one event through the channels the user chose for kind (the defaults
 * unless changed), in one statement: an in-app notification and/or a queued e-mail (subject and
 * body = message), each at most once per key (event id) and user. *stored / *queued: whether a
 * notification / an e-mail was added now. */
int notify_store_tell(crm_db_t *tx, int64_t user_id, const char *kind, const char *resource_type,
                      int64_t resource_id, const char *message, const char *key, bool *stored, bool *queued,
                      crm_err_t *err);
int notify_store_settings_get(crm_db_t *db, int64_t user_id, Crm__NotificationSettings **out, crm_err_t *err);
/* Changes the channels `in` names, keeps the others; returns the settings after. */
int notify_store_settings_update(crm_db_t *db, int64_t user_id, const Crm__NotificationSettings *in,
                                 Crm__NotificationSettings **out, crm_err_t *err);
/* Marks notification id (of user_id unless owner_any) read or unread; CRM_ENOTFOUND otherwise. */
int notify_store_set_read(crm_db_t *db, int64_t id, bool owner_any, int64_t user_id, bool read,
                          Crm__Notification **out, crm_err_t *err);
int notify_store_read_all(crm_db_t *db, int64_t user_id, int64_t *updated, crm_err_t *err);

/* Outbound webhooks. Stores n consumed events in one statement, in that order (each once per event
 * id), and queues one delivery per active subscription of an event's type; *queued = how many. */
int notify_store_webhook_events(crm_db_t *tx, size_t n, char *const *event_ids, char *const *types,
                                char *const *occurred_at, char *const *bodies, int64_t *queued,
                                crm_err_t *err);
int notify_store_sub_create(crm_db_t *db, const Crm__WebhookSubscription *in, int64_t created_by,
                            Crm__WebhookSubscription **out, crm_err_t *err);
int notify_store_sub_update(crm_db_t *db, const Crm__WebhookSubscription *in, Crm__WebhookSubscription **out,
                            crm_err_t *err);
int notify_store_sub_get(crm_db_t *db, int64_t id, Crm__WebhookSubscription **out, crm_err_t *err);
int notify_store_sub_delete(crm_db_t *db, int64_t id, crm_err_t *err);
int notify_store_sub_list(crm_db_t *db, const Crm__WebhookSubscriptionListRequest *req,
                          Crm__WebhookSubscriptionList **out, crm_err_t *err);
int notify_store_deliveries_list(crm_db_t *db, const Crm__WebhookDeliveryListRequest *req,
                                 Crm__WebhookDeliveryList **out, crm_err_t *err);
int notify_store_delivery_retry(crm_db_t *db, int64_t sub_id, int64_t delivery_id, Crm__WebhookDelivery **out,
                                crm_err_t *err);
int notify_store_replay(crm_db_t *db, int64_t sub_id, const char *from, const char *to, int64_t *queued,
                        crm_err_t *err);
/* CRM_OK when text casts to timestamptz; otherwise adds a 422 for field ("/from"). */
int notify_store_check_time(crm_db_t *db, const char *text, const char *field, crm_err_t *err);
/* consume.c: true for the event types crm-notify consumes (and webhooks may name). */
bool notify_topic_known(const char *type);

/* mail.c: the e-mail sender thread (notify.smtp.*, notify.mail.*). Without notify.smtp.host it
 * sends nothing and mails stay queued. */
notify_mail_t *notify_mail_new(crm_daemon_t *d, crm_err_t *err);
int notify_mail_start(notify_mail_t *self, crm_err_t *err);
void notify_mail_destroy(notify_mail_t **self_p);

/* webhook.c: the outbound webhook sender thread (notify.webhooks.*). */
notify_webhooks_t *notify_webhooks_new(crm_daemon_t *d);
int notify_webhooks_start(notify_webhooks_t *self, crm_err_t *err);
void notify_webhooks_destroy(notify_webhooks_t **self_p);
/* out = "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=<same with secondary>]". */
void notify_webhook_sign(const char *secret, const char *secondary, long long t, const char *body, char *out,
                         size_t len);

#endif

/* crm-notify: the service context shared by rpc.c and consume.c, and its store API. */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdbool.h>
#include "crm/daemon.h"
#include "assign.pb-c.h"
#include "notify.pb-c.h"

typedef struct {
    crm_daemon_t *daemon;
} notify_t;

void notify_rpc_register(notify_t *self);
int notify_consume_register(notify_t *self, crm_err_t *err);

/* store.c */
/* Stores one in-app notification; a second one for the same event and user is not stored. */
int notify_store_add(crm_db_t *tx, int64_t user_id, const char *kind, const char *resource_type, int64_t resource_id,
                     const char *message, const char *event_id, bool *created, crm_err_t *err);
int notify_store_list(crm_db_t *db, int64_t user_id, const Crm__NotificationListRequest *req,
                      Crm__NotificationList **out, crm_err_t *err);

#endif

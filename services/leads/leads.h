/* crm-leads: the service context shared by its rpc.c and consume.c, and its store API. */
#ifndef LEADS_H
#define LEADS_H

#include <stdbool.h>
#include "crm/daemon.h"
#include "crm/rpc.h"
#include "assign.pb-c.h"
#include "leads.pb-c.h"

typedef struct {
    crm_daemon_t *daemon;
} leads_t;

/* rpc.c and consume.c */
void leads_rpc_register(leads_t *self);
int leads_consume_register(leads_t *self, crm_err_t *err);

/* store.c: all SQL of the service. Replies are malloc'd protobuf-c messages. */
/* Creates the lead of a capture unless that delivery was captured before (then *lead = NULL). */
int leads_store_capture(crm_db_t *tx, const Crm__LeadCaptured *cap, const char *event_id, Crm__Lead **lead,
                        crm_err_t *err);
/* Sets the owner; *lead = NULL when the lead no longer exists. */
int leads_store_set_owner(crm_db_t *tx, int64_t lead_id, int64_t owner_id, const char *event_id, Crm__Lead **lead,
                          crm_err_t *err);
/* visible_owner: when set, only leads of that owner are visible (role sales). */
int leads_store_get(crm_db_t *db, int64_t id, bool restrict_owner, int64_t visible_owner, Crm__Lead **lead,
                    crm_err_t *err);
int leads_store_list(crm_db_t *db, const Crm__LeadListRequest *req, bool restrict_owner, int64_t visible_owner,
                     Crm__LeadList **list, crm_err_t *err);

#endif

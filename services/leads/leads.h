/* crm-leads: the service context shared by its rpc.c and consume.c, and its store API. */
#ifndef LEADS_H
#define LEADS_H

#include <stdbool.h>
#include "crm/customvalue.h"
#include "crm/daemon.h"
#include "crm/rpc.h"
#include "assign.pb-c.h"
#include "deals.pb-c.h"
#include "leads.pb-c.h"
#include "records.h"

#define LEADS_MAX_STATUSES 32
#define LEADS_MAX_REQUIRED 16

/* A lead status (C1) and the fields a lead needs to enter it (C2), from leads.statuses and
 * leads.status_rules.<name>.required. */
typedef struct {
    const char *name;
    const char *required[LEADS_MAX_REQUIRED];
    size_t nrequired;
} leads_status_t;

typedef struct {
    crm_daemon_t *daemon;
    leads_status_t statuses[LEADS_MAX_STATUSES]; /* statuses[0] is the default of a new lead */
    size_t nstatuses;
    crm_rpc_client_t *deals; /* deals.create_from_conversion; NULL when not configured */
    int deals_timeout_ms;
    crm_rpc_client_t *assign; /* assign.pick_bulk (imports: owners in bulk) */
    int assign_timeout_ms;
} leads_t;

/* reminders.c: the thread announcing due tasks (task.due) and stale leads (lead.stale). */
typedef struct leads_reminders_t leads_reminders_t;
leads_reminders_t *leads_reminders_new(crm_daemon_t *d);
int leads_reminders_start(leads_reminders_t *self, crm_err_t *err);
void leads_reminders_destroy(leads_reminders_t **self_p);

/* rpc.c and consume.c */
void leads_rpc_register(leads_t *self);
int leads_consume_register(leads_t *self, crm_err_t *err);
/* import.c: leads.import_batch and leads.import_status (bulk CSV import, proto/import.proto). */
void leads_import_register(leads_t *self);
/* import_custom.c: the definitions of the custom fields of rtype named in columns[0..n); the other
 * columns are appended to *unknown (protobuf strings). */
int leads_import_custom_defs(crm_db_t *tx, const char *rtype, char **columns, size_t n, crm_cv_defs_t *defs,
                             char ***unknown, size_t *nunknown, crm_err_t *err);
/* contacts_resolve.c: contacts.resolve (many contacts by e-mail or name at once, for importers). */
void leads_contacts_resolve_register(leads_t *self);

/* api.c: configuration, the /v2 leads, contacts, statuses and timelines, conversions. */
int leads_config(leads_t *self, crm_err_t *err);
void leads_api_register(leads_t *self);
void leads_conversions_register(leads_t *self);
const leads_status_t *leads_status_find(const leads_t *self, const char *name);
/* E.164 form of a phone typed with a leading "+" ("+49 30 123" → "+4930123"), else NULL; malloc'd. */
char *leads_phone_e164(const char *phone);
int leads_emit_lead(leads_t *self, crm_db_t *tx, const char *type, const char *corr, const Crm__Lead *lead,
                    int64_t previous_owner_id, int64_t changed_by, int64_t assignment_id, int64_t delivery_id,
                    const char *source, crm_err_t *err);
int leads_emit_contact(leads_t *self, crm_db_t *tx, const char *type, const char *corr, const Crm__Contact *c,
                       int64_t previous_owner_id, int64_t changed_by, int64_t assignment_id,
                       int64_t conversion_id, int64_t assign_pool_id, crm_err_t *err);
/* Sets the owner of a contact (owner.assigned); *c = NULL when it no longer exists. */
int leads_contact_set_owner(crm_db_t *tx, int64_t id, int64_t owner_id, const char *event_id,
                            Crm__Contact **c, int64_t *previous_owner_id, crm_err_t *err);
/* Sell: a record's tags create the missing /v2/tags of its resource type (rtype "lead" | "contact"). */
int leads_tags_ensure(crm_db_t *tx, const char *rtype, char *const *tags, size_t n, int64_t creator_id,
                      crm_err_t *err);
/* convert.c: deal.created of a conversion fills lead_conversions.deal_id. */
int leads_conversion_deal(crm_db_t *tx, int64_t conversion_id, int64_t deal_id, crm_err_t *err);

/* timeline.c */
int leads_timeline_add(crm_db_t *tx, bool contact, int64_t id, const char *kind, int64_t actor_id,
                       const char *summary, const char *previous_value, const char *value,
                       const char *event_id, crm_err_t *err);
/* Links a support ticket or chat on a contact's timeline (one row per (source, ticket)). */
int leads_contact_ticket_link(crm_db_t *tx, int64_t contact_id, const Crm__LeadCaptured *cap,
                              const char *event_id, crm_err_t *err);
/* The lead a (source, ticket) is linked to, or 0. */
int leads_ticket_lead(crm_db_t *tx, const char *source, const char *ticket_id, int64_t *lead_id,
                      crm_err_t *err);
/* Links (or re-links, updating subject/status/url) the capture's ticket to lead_id. */
int leads_ticket_link(crm_db_t *tx, int64_t lead_id, const Crm__LeadCaptured *cap, const char *event_id,
                      crm_err_t *err);
int leads_timeline_list(crm_db_t *db, bool contact, const Crm__TimelineRequest *req, Crm__Timeline **out,
                        crm_err_t *err);

/* store.c: captures and owner changes. Replies are malloc'd protobuf-c messages. */
/* The status of the leads captures make (default "New"; the string must outlive the daemon). */
void leads_store_set_default_status(const char *status);
/* Applies a capture: *lead = the new (*created) or merged lead, NULL when it was applied before
 * or (contact_id not NULL) when it went to a contact: a support ticket or chat already linked to
 * a contact, or whose requester's e-mail is a contact's and no open lead's, is linked on that
 * contact's timeline (*contact_id) and makes no lead. */
int leads_store_capture_dedup(crm_db_t *tx, const Crm__LeadCaptured *cap, const char *event_id,
                              Crm__Lead **lead, bool *created, int64_t *contact_id, crm_err_t *err);
/* One lead (CRM_ENOTFOUND when missing or, restrict_owner, not owned by visible_owner). */
int leads_store_get(crm_db_t *db, int64_t id, bool restrict_owner, int64_t visible_owner, Crm__Lead **lead,
                    crm_err_t *err);
/* Sets the owner; *lead = NULL when the lead no longer exists. */
int leads_store_set_owner(crm_db_t *tx, int64_t lead_id, int64_t owner_id, const char *event_id,
                          Crm__Lead **lead, crm_err_t *err);

/* api.c: configuration, the /v2 leads, contacts, statuses and timelines, conversions. */
int leads_config(leads_t *self, crm_err_t *err);
void leads_api_register(leads_t *self);
void leads_conversions_register(leads_t *self);
const leads_status_t *leads_status_find(const leads_t *self, const char *name);
/* E.164 form of a phone typed with a leading "+" ("+49 30 123" → "+4930123"), else NULL; malloc'd. */
char *leads_phone_e164(const char *phone);
int leads_emit_lead(leads_t *self, crm_db_t *tx, const char *type, const char *corr, const Crm__Lead *lead,
                    int64_t previous_owner_id, int64_t changed_by, int64_t assignment_id, int64_t delivery_id,
                    const char *source, crm_err_t *err);
int leads_emit_contact(leads_t *self, crm_db_t *tx, const char *type, const char *corr, const Crm__Contact *c,
                       int64_t previous_owner_id, int64_t changed_by, int64_t assignment_id,
                       int64_t conversion_id, int64_t assign_pool_id, crm_err_t *err);
/* Sets the owner of a contact (owner.assigned); *c = NULL when it no longer exists. */
int leads_contact_set_owner(crm_db_t *tx, int64_t id, int64_t owner_id, const char *event_id,
                            Crm__Contact **c, int64_t *previous_owner_id, crm_err_t *err);
/* convert.c: deal.created of a conversion fills lead_conversions.deal_id. */
int leads_conversion_deal(crm_db_t *tx, int64_t conversion_id, int64_t deal_id, crm_err_t *err);

/* timeline.c */
int leads_timeline_add(crm_db_t *tx, bool contact, int64_t id, const char *kind, int64_t actor_id,
                       const char *summary, const char *previous_value, const char *value,
                       const char *event_id, crm_err_t *err);
/* The lead a (source, ticket) is linked to, or 0. */
int leads_ticket_lead(crm_db_t *tx, const char *source, const char *ticket_id, int64_t *lead_id,
                      crm_err_t *err);
/* Links (or re-links, updating subject/status/url) the capture's ticket to lead_id. */
int leads_ticket_link(crm_db_t *tx, int64_t lead_id, const Crm__LeadCaptured *cap, const char *event_id,
                      crm_err_t *err);
int leads_timeline_list(crm_db_t *db, bool contact, const Crm__TimelineRequest *req, Crm__Timeline **out,
                        crm_err_t *err);

#endif

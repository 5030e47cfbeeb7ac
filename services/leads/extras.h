/* crm-leads, issue 3 part 2: lead sources, lead unqualified reasons, notes, tasks, tags, custom
 * field definitions and smart lists (catalog.c, notes.c, customfields.c, smartlists.c), and the
 * helpers they share (extras.c). One registration call from main.c wires all their RPCs. */
#ifndef LEADS_EXTRAS_H
#define LEADS_EXTRAS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "crm/db.h"
#include "crm/err.h"
#include "crm/outbox.h"
#include "crm/rpc.h"
#include "activities.pb-c.h"

typedef struct {
    crm_outbox_t *outbox;
} leads_extras_t;

/* Registers every RPC of this part on rpc; outbox carries note.created / task.created. */
int leads_extras_register(crm_rpc_server_t *rpc, crm_outbox_t *outbox, crm_err_t *err);

/* Checks a record's custom_fields object (name → value) against the definitions of
 * resource_type ("lead", "contact", "deal"): every unknown name and every value of the wrong
 * shape is a CRM_EINVALID field error naming "/custom_fields/<name>" (crm_err_add, so all of
 * them are reported, up to 1 + CRM_ERR_MAX_MORE). values NULL or JSON null is fine; anything but
 * an object is an error on "/custom_fields". Accepted values by type: string/text/phone a
 * string; email a string with one '@'; url an http(s):// URL; number a JSON number or a decimal
 * string ("123.45"); date "YYYY-MM-DD"; datetime ISO 8601; bool true/false; list one of the
 * choices, as its name or as {"name": ...} / {"id": n}; multi_select_list an array of distinct
 * choices. null clears a field and is always accepted. On success, values is normalized in
 * place: list choices become their names (what records store and emit). */
int leads_custom_fields_validate(crm_db_t *db, const char *resource_type, json_t *values, crm_err_t *err);

/* --- shared helpers (extras.c) ----------------------------------------------------------- */
/* "2014-09-27T16:32:56Z", with optional fraction and offset (+00:00, +0000, Z) / "2014-09-27". */
bool leads_iso_datetime_ok(const char *s);
bool leads_iso_date_ok(const char *s);
bool leads_resource_type_ok(const char *s); /* lead | contact | deal */
bool leads_blank(const char *s);
/* True when the caller only sees what it owns (role sales). */
bool leads_is_sales(const crm_rpc_ctx_t *ctx);

/* Runs a statement whose rows have one column, a JSON object with the message's field names,
 * into one message (none → CRM_ENOTFOUND "<what> <id> not found"). */
int leads_json_one(crm_db_t *db, const char *stmt, const char *sql, int n, const char *const *p,
                   const ProtobufCMessageDescriptor *desc, const char *what, int64_t id,
                   ProtobufCMessage **out, crm_err_t *err);
/* The same for lists: list_desc has "repeated X items" and "bool has_more"; rows past per_page
 * only set has_more. */
int leads_json_list(crm_db_t *db, const char *stmt, const char *sql, int n, const char *const *p,
                    const ProtobufCMessageDescriptor *list_desc, int per_page, ProtobufCMessage **out,
                    crm_err_t *err);
/* A unique violation (CRM_ECONFLICT) turned into Sell's 422 already_exists on field. */
int leads_conflict_as_taken(crm_err_t *err, const char *field, const char *value);

/* Per-file registration, called by leads_extras_register. */
void leads_catalog_register(crm_rpc_server_t *rpc, leads_extras_t *self);
void leads_notes_register(crm_rpc_server_t *rpc, leads_extras_t *self);
void leads_custom_fields_register(crm_rpc_server_t *rpc, leads_extras_t *self);
void leads_smart_lists_register(crm_rpc_server_t *rpc, leads_extras_t *self);
void leads_calls_register(crm_rpc_server_t *rpc, leads_extras_t *self);

/* notes.c, for the other activity kinds (calls.c): the resource_type/resource_id pair of a create
 * (required) or an update (both or neither), 422 naming the field; the lead or contact must exist
 * and, for sales, be the caller's (a deal id is taken as given); a timeline row on the lead or
 * contact (nothing for a deal). */
int leads_activity_pair_check(const char *rtype, bool has_rid, int64_t rid, bool required, crm_err_t *err);
int leads_activity_resource_check(const crm_rpc_ctx_t *ctx, const char *rtype, int64_t rid, crm_err_t *err);
int leads_activity_timeline(const crm_rpc_ctx_t *ctx, const char *rtype, int64_t id, const char *kind,
                            const char *text, crm_err_t *err);

#define LEADS_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#endif

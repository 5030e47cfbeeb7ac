/* crm-leads records: the generic SQL of lead and contact rows (records.c). */
#ifndef LEADS_RECORDS_H
#define LEADS_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "crm/db.h"
#include "crm/err.h"
#include "leads.pb-c.h"

typedef enum { F_STR, F_I64, F_BOOL, F_TAGS, F_JSON, F_ADDR, F_TS } rec_ftype_t;

/* One column: its name, the JSON key of the API ("address" for address_*), the kind of value,
 * the offset of the protobuf member (of Crm__Address for F_ADDR) and of its has_/n_ member. */
typedef struct {
    const char *col;
    const char *json;
    rec_ftype_t type;
    size_t off;
    size_t has_off;
    bool writable;
} rec_field_t;

typedef struct {
    const char *table; /* "leads" */
    const char *type;  /* "lead" */
    const ProtobufCMessageDescriptor *desc;
    const rec_field_t *fields; /* in SELECT order */
    size_t n;
    size_t address_off;
    size_t mask_off, n_mask_off; /* update_mask */
    const char *const *sorts;    /* sortable columns, the default first */
} rec_type_t;

extern const rec_type_t rec_lead, rec_contact;

/* True when a PUT sent key json (its update_mask; without one: the field is set in m). */
bool rec_sent(const rec_type_t *t, const ProtobufCMessage *m, const char *json);
/* The SELECT list rec_from_row reads, each column prefixed (e.g. "l."); malloc'd. */
char *rec_select_list(const rec_type_t *t, const char *prefix);
ProtobufCMessage *rec_from_row(const rec_type_t *t, const PGresult *res, int r);
/* Inserts every writable field of in (creator_id given; extra_col/extra_val one more column). */
int rec_insert(crm_db_t *db, const rec_type_t *t, const ProtobufCMessage *in, int64_t creator_id,
               const char *extra_col, const char *extra_val, ProtobufCMessage **out, crm_err_t *err);
/* Changes the writable fields sent (rec_sent); CRM_ENOTFOUND when not there or not visible. */
int rec_update(crm_db_t *db, const rec_type_t *t, int64_t id, const ProtobufCMessage *in, bool restrict_owner,
               int64_t visible_owner, ProtobufCMessage **out, crm_err_t *err);
int rec_get(crm_db_t *db, const rec_type_t *t, int64_t id, bool restrict_owner, int64_t visible_owner,
            bool for_update, ProtobufCMessage **out, crm_err_t *err);
int rec_delete(crm_db_t *db, const rec_type_t *t, int64_t id, bool restrict_owner, int64_t visible_owner,
               crm_err_t *err);
/* A list request (page, per_page, sort_by, ids, and fields named like columns as equality
 * filters; custom_fields "name=value" pairs). extra_where: a fixed SQL condition or NULL. */
int rec_list(crm_db_t *db, const rec_type_t *t, const ProtobufCMessage *req, const char *extra_where,
             bool restrict_owner, int64_t visible_owner, ProtobufCMessage **list, crm_err_t *err);

#endif

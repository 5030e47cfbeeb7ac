/* Helpers shared by the issue 3 part 2 modules of crm-leads, and their one registration call. */
#include "extras.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/customvalue.h"
#include "crm/pbjson.h"

static leads_extras_t extras;

int leads_extras_register(crm_rpc_server_t *rpc, crm_outbox_t *outbox, crm_err_t *err)
{
    (void)err;
    extras.outbox = outbox;
    leads_catalog_register(rpc, &extras);
    leads_notes_register(rpc, &extras);
    leads_custom_fields_register(rpc, &extras);
    leads_smart_lists_register(rpc, &extras);
    leads_calls_register(rpc, &extras);
    return CRM_OK;
}

bool leads_blank(const char *s)
{
    if (!s)
        return true;
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

bool leads_is_sales(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "sales") == 0;
}

bool leads_resource_type_ok(const char *s)
{
    return s && (strcmp(s, "lead") == 0 || strcmp(s, "contact") == 0 || strcmp(s, "deal") == 0);
}

/* The checks of imported custom values (crm/customvalue.h) are the ones of the API. */
bool leads_iso_date_ok(const char *s)
{
    return crm_cv_date_ok(s);
}

bool leads_iso_datetime_ok(const char *s)
{
    return crm_cv_datetime_ok(s);
}

static ProtobufCMessage *row_message(const ProtobufCMessageDescriptor *desc, const char *text, crm_err_t *err)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    if (!obj) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "row is not JSON: %s", jerr.text);
        return NULL;
    }
    ProtobufCMessage *m = crm_pbjson_to_message(desc, obj, "", err);
    json_decref(obj);
    if (!m)
        err->code = CRM_EINTERNAL; /* our own SQL disagrees with the .proto: a bug */
    return m;
}

int leads_json_one(crm_db_t *db, const char *stmt, const char *sql, int n, const char *const *p,
                   const ProtobufCMessageDescriptor *desc, const char *what, int64_t id,
                   ProtobufCMessage **out, crm_err_t *err)
{
    *out = NULL;
    PGresult *res = crm_db_exec(db, stmt, sql, n, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", what, (long long)id);
    }
    *out = row_message(desc, PQgetvalue(res, 0, 0), err);
    PQclear(res);
    return *out ? CRM_OK : err->code;
}

int leads_json_list(crm_db_t *db, const char *stmt, const char *sql, int n, const char *const *p,
                    const ProtobufCMessageDescriptor *list_desc, int per_page, ProtobufCMessage **out,
                    crm_err_t *err)
{
    *out = NULL;
    const ProtobufCFieldDescriptor *fi = crm_pbjson_field(list_desc, "items");
    const ProtobufCFieldDescriptor *fm = crm_pbjson_field(list_desc, "has_more");
    if (!fi || !fm || fi->type != PROTOBUF_C_TYPE_MESSAGE)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "%s is not a list message", list_desc->name);
    PGresult *res = crm_db_exec(db, stmt, sql, n, p, err);
    if (!res)
        return err->code;
    int rows = PQntuples(res);
    int take = rows > per_page ? per_page : rows;
    ProtobufCMessage *list = crm_pb_new(list_desc);
    ProtobufCMessage **items = calloc((size_t)take + 1, sizeof *items);
    char *base = (char *)list;
    *(ProtobufCMessage ***)(base + fi->offset) = items;
    size_t *count = (size_t *)(base + fi->quantifier_offset);
    *(protobuf_c_boolean *)(base + fm->quantifier_offset) = 1;
    *(protobuf_c_boolean *)(base + fm->offset) = rows > per_page;
    for (int r = 0; r < take; r++) {
        ProtobufCMessage *m = row_message(fi->descriptor, PQgetvalue(res, r, 0), err);
        if (!m) {
            PQclear(res);
            protobuf_c_message_free_unpacked(list, NULL);
            return err->code;
        }
        items[(*count)++] = m;
    }
    PQclear(res);
    *out = list;
    return CRM_OK;
}

int leads_conflict_as_taken(crm_err_t *err, const char *field, const char *value)
{
    if (err->code != CRM_ECONFLICT)
        return err->code;
    return crm_err_set(err, CRM_EINVALID, field, "already_exists", "%s '%.200s' is already taken", field + 1,
                       value ? value : "");
}

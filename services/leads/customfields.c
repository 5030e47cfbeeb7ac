/* crm-leads custom field definitions per resource type: GET/POST /v2/{lead|contact|deal}/
 * custom_fields and GET/PUT/DELETE /v2/{lead|contact|deal}/custom_fields/{id} (reads for every
 * role, writes for admins), and leads_custom_fields_validate, which checks a record's
 * custom_fields object against them.
 *
 * Types are Sell's names: string, text, number, date, datetime, list (a dropdown), multi_select_list,
 * bool, url, email, phone; "dropdown", "multi_select", "multi-select" and "boolean" are accepted on
 * write as aliases. A list type needs choices ([{"name": ...}], names unique); a choice's id is
 * its 1-based position. The type of a field cannot change (the values stored on records would
 * no longer match it). Deleting a definition leaves values already stored on records alone. */
#include "extras.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/customvalue.h"
#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

typedef struct {
    leads_extras_t *self;
    const char *rtype;
} cf_route_t;

static cf_route_t routes[3] = {{NULL, "lead"}, {NULL, "contact"}, {NULL, "deal"}};

static const struct {
    const char *in, *canon;
} type_names[] = {
    {"string", "string"},
    {"text", "text"},
    {"number", "number"},
    {"date", "date"},
    {"datetime", "datetime"},
    {"list", "list"},
    {"dropdown", "list"},
    {"multi_select_list", "multi_select_list"},
    {"multi_select", "multi_select_list"},
    {"multi-select", "multi_select_list"},
    {"bool", "bool"},
    {"boolean", "bool"},
    {"url", "url"},
    {"email", "email"},
    {"phone", "phone"},
};

static const char *canon_type(const char *t)
{
    for (size_t i = 0; t && i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcmp(t, type_names[i].in) == 0)
            return type_names[i].canon;
    return NULL;
}

static bool is_list_type(const char *t)
{
    return strcmp(t, "list") == 0 || strcmp(t, "multi_select_list") == 0;
}

#define CF_JSON                                                                                              \
    "json_build_object('id', id, 'name', name, 'type', type, 'choices', (SELECT coalesce(json_agg("          \
    "json_build_object('id', o, 'name', c) ORDER BY o), '[]') FROM unnest(choices) WITH ORDINALITY AS x(c, " \
    "o)), "                                                                                                  \
    "'for_company', for_company, 'for_contact', for_contact, 'resource_type', resource_type, 'creator_id', " \
    "creator_id, 'created_at', " LEADS_TS("created_at") ", 'updated_at', " LEADS_TS("updated_at") ")::text"

static int cf_fetch(crm_db_t *db, const char *rtype, int64_t id, ProtobufCMessage **out, crm_err_t *err)
{
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, id), rtype};
    return leads_json_one(db, "cf_get",
                          "SELECT " CF_JSON " FROM custom_fields WHERE id = $1 AND resource_type = $2", 2, p,
                          &crm__custom_field__descriptor, "custom field", id, out, err);
}

static int cf_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                  crm_err_t *err)
{
    const cf_route_t *rt = arg;
    return cf_fetch(ctx->db, rt->rtype, ((const Crm__ActivityIdRequest *)in)->id, out, err);
}

static const char *const cf_sorts[] = {"id", "name", "created_at", "updated_at", NULL};

static int cf_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                   crm_err_t *err)
{
    const cf_route_t *rt = arg;
    const Crm__CustomFieldListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, cf_sorts, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    char sql[1536], stmt[64], b[2][24];
    snprintf(sql, sizeof sql,
             "SELECT " CF_JSON
             " FROM custom_fields WHERE resource_type = $1 AND ($2::bigint[] IS NULL OR id = ANY "
             "($2)) AND ($3::text IS NULL OR name = $3) ORDER BY %s %s, id %s LIMIT $4 OFFSET $5",
             cf_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "cf_list_%s_%d", cf_sorts[sort], desc);
    const char *p[] = {rt->rtype, ids, r->name, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    int rc = leads_json_list(ctx->db, stmt, sql, 5, p, &crm__custom_field_list__descriptor, page.per_page,
                             out, err);
    free(ids);
    return rc;
}

/* The choices of a definition as a text[] literal (malloc'd, NULL when none given), checked. */
static char *choices_param(const Crm__CustomField *f, crm_err_t *err)
{
    if (f->n_choices == 0)
        return NULL;
    char **names = calloc(f->n_choices, sizeof *names);
    for (size_t i = 0; i < f->n_choices; i++) {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/choices/%zu/name", i);
        const char *n = f->choices[i]->name;
        if (leads_blank(n)) {
            crm_err_add(err, CRM_EINVALID, ptr, "missing", "a choice needs a name");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (names[j] && strcmp(names[j], n) == 0)
                crm_err_add(err, CRM_EINVALID, ptr, "already_exists", "choice '%.100s' is given twice", n);
        names[i] = f->choices[i]->name;
    }
    char *out = err->code == CRM_OK ? crm_param_text_array(names, f->n_choices) : NULL;
    free(names);
    return out;
}

static bool need_admin(const crm_rpc_ctx_t *ctx, crm_err_t *err)
{
    if (strcmp(ctx->role, "admin") == 0 || strcmp(ctx->role, "system") == 0)
        return false;
    crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "this action needs the admin role");
    return true;
}

static int cf_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    const cf_route_t *rt = arg;
    const Crm__CustomField *f = (const void *)in;
    *out = NULL;
    if (need_admin(ctx, err))
        return err->code;
    const char *type = canon_type(f->type);
    if (leads_blank(f->name))
        crm_err_add(err, CRM_EINVALID, "/name", "missing", "name is required");
    if (!f->type)
        crm_err_add(err, CRM_EINVALID, "/type", "missing", "type is required");
    else if (!type)
        crm_err_add(
            err, CRM_EINVALID, "/type", "incorrect_value",
            "type must be one of string, text, number, date, datetime, list, multi_select_list, bool, url, "
            "email, phone");
    if (f->resource_type && strcmp(f->resource_type, rt->rtype) != 0)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type is %s on this path", rt->rtype);
    if (type && is_list_type(type) && f->n_choices == 0)
        crm_err_add(err, CRM_EINVALID, "/choices", "missing", "a %s field needs choices", type);
    if (type && !is_list_type(type) && f->n_choices > 0)
        crm_err_add(err, CRM_EINVALID, "/choices", "incorrect_value", "only list fields have choices");
    char *choices = choices_param(f, err);
    if (err->code != CRM_OK) {
        free(choices);
        return err->code;
    }
    bool contact = strcmp(rt->rtype, "contact") == 0;
    char creator[24];
    const char *p[] = {rt->rtype,
                       f->name,
                       type,
                       choices,
                       contact ? crm_param_bool(true, f->has_for_company ? f->for_company : true) : NULL,
                       contact ? crm_param_bool(true, f->has_for_contact ? f->for_contact : true) : NULL,
                       crm_param_i64(creator, ctx->user_id > 0, ctx->user_id)};
    PGresult *res =
        crm_db_exec(ctx->db, "cf_create",
                    "INSERT INTO custom_fields (resource_type, name, type, choices, for_company, "
                    "for_contact, creator_id) VALUES ($1, $2, $3, COALESCE($4::text[], '{}'), $5, $6, $7) "
                    "RETURNING id",
                    7, p, err);
    free(choices);
    if (!res)
        return leads_conflict_as_taken(err, "/name", f->name);
    int64_t id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return cf_fetch(ctx->db, rt->rtype, id, out, err);
}

static int cf_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    const cf_route_t *rt = arg;
    const Crm__CustomField *f = (const void *)in;
    *out = NULL;
    if (need_admin(ctx, err))
        return err->code;
    Crm__CustomField *cur = NULL;
    if (cf_fetch(ctx->db, rt->rtype, f->id, (ProtobufCMessage **)&cur, err))
        return err->code;
    if (f->name && leads_blank(f->name))
        crm_err_add(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    if (f->type && (!canon_type(f->type) || strcmp(canon_type(f->type), cur->type) != 0))
        crm_err_add(err, CRM_EINVALID, "/type", "incorrect_value",
                    "the type of a custom field cannot change");
    if (f->resource_type && strcmp(f->resource_type, rt->rtype) != 0)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type is %s on this path", rt->rtype);
    if (f->n_choices > 0 && !is_list_type(cur->type))
        crm_err_add(err, CRM_EINVALID, "/choices", "incorrect_value", "only list fields have choices");
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    char *choices = choices_param(f, err);
    if (err->code != CRM_OK) {
        free(choices);
        return err->code;
    }
    bool contact = strcmp(rt->rtype, "contact") == 0;
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, f->id), f->name, choices,
                       contact ? crm_param_bool(f->has_for_company, f->for_company) : NULL,
                       contact ? crm_param_bool(f->has_for_contact, f->for_contact) : NULL};
    int rc = crm_db_run(
        ctx->db, "cf_update",
        "UPDATE custom_fields SET name = COALESCE($2, name), choices = COALESCE($3::text[], choices), "
        "for_company = COALESCE($4::boolean, for_company), for_contact = COALESCE($5::boolean, "
        "for_contact), updated_at = now() WHERE id = $1",
        5, p, err);
    free(choices);
    if (rc != CRM_OK)
        return leads_conflict_as_taken(err, "/name", f->name);
    return cf_fetch(ctx->db, rt->rtype, f->id, out, err);
}

static int cf_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    const cf_route_t *rt = arg;
    *out = NULL;
    if (need_admin(ctx, err))
        return err->code;
    int64_t id = ((const Crm__ActivityIdRequest *)in)->id;
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, id), rt->rtype};
    PGresult *res =
        crm_db_exec(ctx->db, "cf_delete",
                    "DELETE FROM custom_fields WHERE id = $1 AND resource_type = $2 RETURNING id", 2, p, err);
    if (!res)
        return err->code;
    int rows = PQntuples(res);
    PQclear(res);
    return rows ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "custom field %lld not found",
                              (long long)id);
}

/* custom_fields.<type>.check: leads_custom_fields_validate over RPC, for services that keep
 * records with custom fields defined here (crm-deals). */
static int cf_check(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_, ProtobufCMessage **out,
                    crm_err_t *err)
{
    const cf_route_t *rt = arg;
    const Crm__CustomFieldValues *in = (const Crm__CustomFieldValues *)in_;
    json_t *values =
        in->custom_fields_json ? json_loads(in->custom_fields_json, JSON_DECODE_ANY, NULL) : NULL;
    if (in->custom_fields_json && !values)
        return crm_err_set(err, CRM_EINVALID, "/custom_fields", "invalid_type",
                           "custom_fields must be an object of name → value");
    int rc = leads_custom_fields_validate(ctx->db, rt->rtype, values, err);
    if (rc == CRM_OK) {
        Crm__CustomFieldValues *r =
            (Crm__CustomFieldValues *)crm_pb_new(&crm__custom_field_values__descriptor);
        r->custom_fields_json =
            values ? json_dumps(values, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        *out = &r->base;
    }
    json_decref(values);
    return rc;
}

void leads_custom_fields_register(crm_rpc_server_t *rpc, leads_extras_t *self)
{
    for (int i = 0; i < 3; i++) {
        cf_route_t *rt = &routes[i];
        rt->self = self;
        char m[64];
        snprintf(m, sizeof m, "custom_fields.%s.list", rt->rtype);
        crm_rpc_server_handle(rpc, m, &crm__custom_field_list_request__descriptor, cf_list, rt);
        snprintf(m, sizeof m, "custom_fields.%s.get", rt->rtype);
        crm_rpc_server_handle(rpc, m, &crm__activity_id_request__descriptor, cf_get, rt);
        snprintf(m, sizeof m, "custom_fields.%s.create", rt->rtype);
        crm_rpc_server_handle(rpc, m, &crm__custom_field__descriptor, cf_create, rt);
        snprintf(m, sizeof m, "custom_fields.%s.update", rt->rtype);
        crm_rpc_server_handle(rpc, m, &crm__custom_field__descriptor, cf_update, rt);
        snprintf(m, sizeof m, "custom_fields.%s.delete", rt->rtype);
        crm_rpc_server_handle(rpc, m, &crm__activity_id_request__descriptor, cf_delete, rt);
        snprintf(m, sizeof m, "custom_fields.%s.check", rt->rtype);
        crm_rpc_server_handle(rpc, m, &crm__custom_field_values__descriptor, cf_check, rt);
    }
}

/* --- validation of values on records ----------------------------------------------------- */
/* A JSON pointer "/custom_fields/<name>" with '~' and '/' escaped (RFC 6901). */
static void pointer(char out[128], const char *name)
{
    size_t n = (size_t)snprintf(out, 128, "/custom_fields/");
    for (const char *s = name; *s && n + 3 < 128; s++) {
        if (*s == '~' || *s == '/') {
            out[n++] = '~';
            out[n++] = *s == '~' ? '0' : '1';
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

static bool decimal_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    int before = 0, after = 0;
    while (isdigit((unsigned char)*s))
        s++, before++;
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s))
            s++, after++;
        if (after == 0)
            return false;
    }
    return before > 0 && *s == '\0';
}

/* The choice named or identified by v (a string, or {"id": n} / {"name": s}), or NULL. The
 * choices column is a json array of names. */
static const char *choice_of(const json_t *choices, const json_t *v)
{
    const char *name = NULL;
    json_int_t id = 0;
    if (json_is_string(v)) {
        name = json_string_value(v);
    } else if (json_is_object(v)) {
        const json_t *jn = json_object_get(v, "name"), *ji = json_object_get(v, "id");
        if (json_is_string(jn))
            name = json_string_value(jn);
        else if (json_is_integer(ji))
            id = json_integer_value(ji);
        else
            return NULL;
    } else {
        return NULL;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(choices, i, c)
    {
        if ((name && strcmp(json_string_value(c), name) == 0) || (!name && (json_int_t)i + 1 == id))
            return json_string_value(c);
    }
    return NULL;
}

/* Checks one value; returns a normalized copy (list choices as names) or NULL with *why set. */
static json_t *check_value(const char *type, const json_t *choices, json_t *v, const char **why)
{
    bool texty = strcmp(type, "string") == 0 || strcmp(type, "text") == 0 || strcmp(type, "phone") == 0 ||
                 strcmp(type, "email") == 0 || strcmp(type, "url") == 0;
    if (texty && json_is_string(v) && (*why = crm_cv_too_long(type, json_string_value(v))))
        return NULL; /* the limits of an import (crm/customvalue.h) */
    if (strcmp(type, "string") == 0 || strcmp(type, "text") == 0 || strcmp(type, "phone") == 0) {
        *why = "expected a string";
        return json_is_string(v) ? json_incref(v) : NULL;
    }
    if (strcmp(type, "email") == 0) {
        *why = "expected an e-mail address";
        const char *s = json_string_value(v);
        const char *at = s ? strchr(s, '@') : NULL;
        return at && at != s && at[1] && !strchr(at + 1, '@') ? json_incref(v) : NULL;
    }
    if (strcmp(type, "url") == 0) {
        *why = "expected an http:// or https:// URL";
        return json_is_string(v) && crm_cv_url_ok(json_string_value(v)) ? json_incref(v) : NULL;
    }
    if (strcmp(type, "number") == 0) {
        *why = "expected a number or a decimal string such as \"123.45\"";
        return json_is_number(v) || (json_is_string(v) && decimal_text(json_string_value(v))) ? json_incref(v)
                                                                                              : NULL;
    }
    if (strcmp(type, "date") == 0) {
        *why = "expected a date YYYY-MM-DD";
        return json_is_string(v) && leads_iso_date_ok(json_string_value(v)) ? json_incref(v) : NULL;
    }
    if (strcmp(type, "datetime") == 0) {
        *why = "expected an ISO 8601 date-time";
        return json_is_string(v) && leads_iso_datetime_ok(json_string_value(v)) ? json_incref(v) : NULL;
    }
    if (strcmp(type, "bool") == 0) {
        *why = "expected true or false";
        return json_is_boolean(v) ? json_incref(v) : NULL;
    }
    if (strcmp(type, "list") == 0) {
        *why = "expected one of the field's choices";
        const char *c = choice_of(choices, v);
        return c ? json_string(c) : NULL;
    }
    if (strcmp(type, "multi_select_list") == 0) {
        *why = "expected an array of the field's choices, each once";
        if (!json_is_array(v))
            return NULL;
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!crm_cv_add_choice(out, choice_of(choices, e))) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    *why = "the field has an unknown type";
    return NULL;
}

int leads_custom_fields_validate(crm_db_t *db, const char *resource_type, json_t *values, crm_err_t *err)
{
    if (!values || json_is_null(values))
        return CRM_OK;
    if (!json_is_object(values))
        return crm_err_set(err, CRM_EINVALID, "/custom_fields", "invalid_type",
                           "custom_fields must be an object of name → value");
    if (json_object_size(values) == 0)
        return CRM_OK;
    const char *p[] = {resource_type};
    PGresult *res = crm_db_exec(db, "cf_defs",
                                "SELECT json_object_agg(name, json_build_object('type', type, 'choices', "
                                "to_json(choices)))::text FROM custom_fields WHERE resource_type = $1",
                                1, p, err);
    if (!res)
        return err->code;
    json_t *defs = PQgetisnull(res, 0, 0) ? json_object() : json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!defs)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "custom field definitions unreadable");
    int rc = CRM_OK;
    const char *name;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(values, tmp, name, v)
    {
        char ptr[128];
        pointer(ptr, name);
        const json_t *def = json_object_get(defs, name);
        if (!def) {
            rc = crm_err_add(err, CRM_EINVALID, ptr, "unknown", "no %s custom field is named '%.80s'",
                             resource_type, name);
            continue;
        }
        if (json_is_null(v))
            continue;
        const char *why = "";
        const char *type = json_string_value(json_object_get(def, "type"));
        json_t *norm = check_value(type, json_object_get(def, "choices"), v, &why);
        if (!norm) {
            rc = crm_err_add(err, CRM_EINVALID, ptr, "incorrect_value", "%s (%s field)", why, type);
            continue;
        }
        json_object_set_new(values, name, norm);
    }
    json_decref(defs);
    return rc;
}

/* crm-leads records: the SQL of lead and contact rows, driven by one column table per record
 * type (which column, which protobuf field, which kind of value), so create, partial update,
 * read and the list filters of both come from the same code. */
#include "records.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define L(f) offsetof(Crm__Lead, f)
#define C(f) offsetof(Crm__Contact, f)
#define A(f) offsetof(Crm__Address, f)
#define STR(T, f)                                                                                            \
    {                                                                                                        \
#f, #f, F_STR, T(f), 0, true                                                                         \
    }
#define I64(T, f, w)                                                                                         \
    {                                                                                                        \
#f, #f, F_I64, T(f), T(has_##f), w                                                                   \
    }
#define ADDR(f)                                                                                              \
    {                                                                                                        \
        "address_" #f, "address", F_ADDR, A(f), 0, true                                                      \
    }

static const rec_field_t lead_fields[] = {
    I64(L, id, false),
    I64(L, creator_id, false),
    I64(L, owner_id, true),
    STR(L, first_name),
    STR(L, last_name),
    STR(L, organization_name),
    STR(L, status),
    I64(L, source_id, true),
    STR(L, title),
    STR(L, description),
    STR(L, industry),
    STR(L, website),
    STR(L, email),
    STR(L, phone),
    STR(L, mobile),
    STR(L, fax),
    STR(L, twitter),
    STR(L, facebook),
    STR(L, linkedin),
    STR(L, skype),
    ADDR(line1),
    ADDR(city),
    ADDR(postal_code),
    ADDR(state),
    ADDR(country),
    {"tags", "tags", F_TAGS, L(tags), L(n_tags), true},
    I64(L, unqualified_reason_id, true),
    {"custom_fields", "custom_fields", F_JSON, L(custom_fields_json), 0, true},
    {"converted_at", "converted_at", F_TS, L(converted_at), 0, false},
    {"created_at", "created_at", F_TS, L(created_at), 0, false},
    {"updated_at", "updated_at", F_TS, L(updated_at), 0, false},
};

static const rec_field_t contact_fields[] = {
    I64(C, id, false),
    I64(C, creator_id, false),
    I64(C, owner_id, true),
    {"is_organization", "is_organization", F_BOOL, C(is_organization), C(has_is_organization), true},
    I64(C, contact_id, true),
    I64(C, parent_organization_id, true),
    STR(C, name),
    STR(C, first_name),
    STR(C, last_name),
    STR(C, customer_status),
    STR(C, prospect_status),
    STR(C, title),
    STR(C, description),
    STR(C, industry),
    STR(C, website),
    STR(C, email),
    STR(C, phone),
    STR(C, mobile),
    STR(C, fax),
    STR(C, twitter),
    STR(C, facebook),
    STR(C, linkedin),
    STR(C, skype),
    ADDR(line1),
    ADDR(city),
    ADDR(postal_code),
    ADDR(state),
    ADDR(country),
    {"tags", "tags", F_TAGS, C(tags), C(n_tags), true},
    {"custom_fields", "custom_fields", F_JSON, C(custom_fields_json), 0, true},
    {"created_at", "created_at", F_TS, C(created_at), 0, false},
    {"updated_at", "updated_at", F_TS, C(updated_at), 0, false},
};

static const char *const lead_sorts[] = {"updated_at", "id",    "created_at", "first_name",
                                         "last_name",  "email", "status",     "organization_name",
                                         "owner_id",   NULL};
static const char *const contact_sorts[] = {"last_name", "id",    "created_at", "updated_at", "first_name",
                                            "name",      "email", "owner_id",   NULL};

const rec_type_t rec_lead = {
    "leads",
    "lead",
    &crm__lead__descriptor,
    lead_fields,
    sizeof lead_fields / sizeof lead_fields[0],
    L(address),
    L(update_mask),
    L(n_update_mask),
    lead_sorts,
};

const rec_type_t rec_contact = {
    "contacts",
    "contact",
    &crm__contact__descriptor,
    contact_fields,
    sizeof contact_fields / sizeof contact_fields[0],
    C(address),
    C(update_mask),
    C(n_update_mask),
    contact_sorts,
};

#define AT(msg, off) ((char *)(msg) + (off))

/* ---- SQL text --------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} sb_t;

static void sb_add(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sb_t *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (b->buf && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 256) * 2;
        b->buf = realloc(b->buf, b->cap);
        if (!b->buf)
            abort();
    }
}

static void select_cols(const rec_type_t *t, sb_t *b, const char *prefix)
{
    for (size_t i = 0; i < t->n; i++) {
        const rec_field_t *f = &t->fields[i];
        const char *sep = i ? ", " : "";
        switch (f->type) {
        case F_TAGS:
            sb_add(b, "%sto_json(%s%s)::text", sep, prefix, f->col);
            break;
        case F_JSON:
            sb_add(b, "%s%s%s::text", sep, prefix, f->col);
            break;
        case F_TS:
            sb_add(b, "%sto_char(%s%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", sep, prefix,
                   f->col);
            break;
        default:
            sb_add(b, "%s%s%s", sep, prefix, f->col);
        }
    }
}

char *rec_select_list(const rec_type_t *t, const char *prefix)
{
    sb_t b = {0};
    select_cols(t, &b, prefix);
    return b.buf;
}

/* A statement name for generated SQL: the table, a tag and a hash of the text. */
static void stmt_name(char out[64], const rec_type_t *t, const char *tag, const char *sql)
{
    char hex[65];
    crm_sha256_hex(sql, strlen(sql), hex);
    snprintf(out, 64, "%s_%s_%.16s", t->table, tag, hex);
}

/* ---- rows ------------------------------------------------------------------------------------- */

ProtobufCMessage *rec_from_row(const rec_type_t *t, const PGresult *res, int r)
{
    ProtobufCMessage *m = crm_pb_new(t->desc);
    bool any_address = false;
    for (size_t i = 0; i < t->n; i++)
        any_address = any_address || (t->fields[i].type == F_ADDR && !PQgetisnull(res, r, (int)i));
    Crm__Address *addr = NULL;
    if (any_address) {
        addr = (Crm__Address *)crm_pb_new(&crm__address__descriptor);
        *(Crm__Address **)AT(m, t->address_off) = addr;
    }
    for (size_t i = 0; i < t->n; i++) {
        const rec_field_t *f = &t->fields[i];
        int c = (int)i;
        switch (f->type) {
        case F_STR:
        case F_JSON:
        case F_TS:
            *(char **)AT(m, f->off) = crm_row_str(res, r, c);
            break;
        case F_I64:
            crm_row_i64(res, r, c, (protobuf_c_boolean *)AT(m, f->has_off), (int64_t *)AT(m, f->off));
            break;
        case F_BOOL:
            crm_row_bool(res, r, c, (protobuf_c_boolean *)AT(m, f->has_off),
                         (protobuf_c_boolean *)AT(m, f->off));
            break;
        case F_TAGS:
            crm_row_str_array(res, r, c, (size_t *)AT(m, f->has_off), (char ***)AT(m, f->off));
            break;
        case F_ADDR:
            if (addr)
                *(char **)AT(addr, f->off) = crm_row_str(res, r, c);
            break;
        }
    }
    return m;
}

static bool mask_has(const ProtobufCMessage *m, const rec_type_t *t, const char *json)
{
    size_t n = *(const size_t *)AT(m, t->n_mask_off);
    char **keys = *(char ***)AT(m, t->mask_off);
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], json) == 0)
            return true;
    return false;
}

bool rec_sent(const rec_type_t *t, const ProtobufCMessage *m, const char *json)
{
    if (*(const size_t *)AT(m, t->n_mask_off) > 0)
        return mask_has(m, t, json);
    for (size_t i = 0; i < t->n; i++) {
        const rec_field_t *f = &t->fields[i];
        if (strcmp(f->json, json) != 0)
            continue;
        switch (f->type) {
        case F_STR:
        case F_JSON:
            return *(char **)AT(m, f->off) != NULL;
        case F_I64:
        case F_BOOL:
            return *(protobuf_c_boolean *)AT(m, f->has_off);
        case F_TAGS:
            return *(size_t *)AT(m, f->has_off) > 0;
        case F_ADDR:
            return *(void **)AT(m, t->address_off) != NULL;
        default:
            return false;
        }
    }
    return false;
}

/* The parameter text of field f of m (malloc'd into *owned when needed), or NULL for SQL NULL. */
static const char *param_of(const rec_type_t *t, const rec_field_t *f, const ProtobufCMessage *m,
                            char buf[24], char **owned)
{
    *owned = NULL;
    switch (f->type) {
    case F_STR:
    case F_JSON: {
        const char *s = *(char **)AT(m, f->off);
        return s;
    }
    case F_I64:
        return crm_param_i64(buf, *(protobuf_c_boolean *)AT(m, f->has_off), *(int64_t *)AT(m, f->off));
    case F_BOOL:
        return crm_param_bool(*(protobuf_c_boolean *)AT(m, f->has_off), *(protobuf_c_boolean *)AT(m, f->off));
    case F_TAGS:
        *owned = crm_param_text_array(*(char **const *)AT(m, f->off), *(size_t *)AT(m, f->has_off));
        return *owned;
    case F_ADDR: {
        const Crm__Address *a = *(Crm__Address **)AT(m, t->address_off);
        return a ? *(char **)AT(a, f->off) : NULL;
    }
    default:
        return NULL;
    }
}

/* Whether a PUT changes column f: its JSON key was sent; for the address, only the parts given
 * (the whole address when "address": null). */
static bool column_changes(const rec_type_t *t, const rec_field_t *f, const ProtobufCMessage *m)
{
    if (!f->writable || !rec_sent(t, m, f->json))
        return false;
    if (f->type != F_ADDR)
        return true;
    const Crm__Address *a = *(Crm__Address **)AT(m, t->address_off);
    return !a || *(char **)AT(a, f->off) != NULL;
}

static const char *cast_of(const rec_field_t *f)
{
    switch (f->type) {
    case F_I64:
        return "::bigint";
    case F_BOOL:
        return "::boolean";
    case F_TAGS:
        return "::text[]";
    case F_JSON:
        return "::jsonb";
    default:
        return "::text";
    }
}

static const char *default_of(const rec_field_t *f)
{
    if (f->type == F_TAGS)
        return "'{}'";
    if (f->type == F_JSON)
        return "'{}'";
    if (f->type == F_BOOL)
        return "false";
    return NULL;
}

static int one_row(const rec_type_t *t, PGresult *res, ProtobufCMessage **out, crm_err_t *err, int64_t id)
{
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = rec_from_row(t, res, 0);
    PQclear(res);
    if (!*out)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", t->type,
                           (long long)id);
    return CRM_OK;
}

int rec_insert(crm_db_t *db, const rec_type_t *t, const ProtobufCMessage *in, int64_t creator_id,
               const char *extra_col, const char *extra_val, ProtobufCMessage **out, crm_err_t *err)
{
    *out = NULL;
    sb_t cols = {0}, vals = {0}, sql = {0};
    const char *params[64];
    char bufs[64][24];
    char *owned[64];
    int np = 0;
    params[np] = crm_param_i64(bufs[np], creator_id > 0, creator_id);
    owned[np++] = NULL;
    sb_add(&cols, "creator_id");
    sb_add(&vals, "$1");
    if (extra_col) {
        params[np] = extra_val;
        owned[np++] = NULL;
        sb_add(&cols, ", %s", extra_col);
        sb_add(&vals, ", $%d", np);
    }
    for (size_t i = 0; i < t->n; i++) {
        const rec_field_t *f = &t->fields[i];
        if (!f->writable)
            continue;
        params[np] = param_of(t, f, in, bufs[np], &owned[np]);
        np++;
        sb_add(&cols, ", %s", f->col);
        const char *dflt = default_of(f);
        if (dflt)
            sb_add(&vals, ", COALESCE($%d%s, %s)", np, cast_of(f), dflt);
        else
            sb_add(&vals, ", $%d%s", np, cast_of(f));
    }
    sb_add(&sql, "INSERT INTO %s (%s) VALUES (%s) RETURNING ", t->table, cols.buf, vals.buf);
    select_cols(t, &sql, "");
    char name[64];
    stmt_name(name, t, extra_col ? extra_col : "insert", sql.buf);
    PGresult *res = crm_db_exec(db, name, sql.buf, np, params, err);
    for (int i = 0; i < np; i++)
        free(owned[i]);
    free(cols.buf);
    free(vals.buf);
    free(sql.buf);
    return one_row(t, res, out, err, 0);
}

int rec_update(crm_db_t *db, const rec_type_t *t, int64_t id, const ProtobufCMessage *in, bool restrict_owner,
               int64_t visible_owner, ProtobufCMessage **out, crm_err_t *err)
{
    *out = NULL;
    sb_t sql = {0};
    const char *params[64];
    char bufs[64][24];
    char *owned[64] = {0};
    int np = 0;
    params[np] = crm_param_i64(bufs[np], true, id);
    np++;
    params[np] = crm_param_i64(bufs[np], restrict_owner, visible_owner);
    np++;
    sb_add(&sql, "UPDATE %s SET updated_at = now()", t->table);
    for (size_t i = 0; i < t->n; i++) {
        const rec_field_t *f = &t->fields[i];
        if (!column_changes(t, f, in))
            continue;
        params[np] = param_of(t, f, in, bufs[np], &owned[np]);
        np++;
        const char *dflt = default_of(f);
        if (dflt)
            sb_add(&sql, ", %s = COALESCE($%d%s, %s)", f->col, np, cast_of(f), dflt);
        else
            sb_add(&sql, ", %s = $%d%s", f->col, np, cast_of(f));
    }
    sb_add(&sql, " WHERE id = $1 AND ($2::bigint IS NULL OR owner_id = $2) RETURNING ");
    select_cols(t, &sql, "");
    char name[64];
    stmt_name(name, t, "update", sql.buf);
    PGresult *res = crm_db_exec(db, name, sql.buf, np, params, err);
    for (int i = 0; i < np; i++)
        free(owned[i]);
    free(sql.buf);
    return one_row(t, res, out, err, id);
}

int rec_get(crm_db_t *db, const rec_type_t *t, int64_t id, bool restrict_owner, int64_t visible_owner,
            bool for_update, ProtobufCMessage **out, crm_err_t *err)
{
    *out = NULL;
    sb_t sql = {0};
    sb_add(&sql, "SELECT ");
    select_cols(t, &sql, "");
    sb_add(&sql, " FROM %s WHERE id = $1 AND ($2::bigint IS NULL OR owner_id = $2)%s", t->table,
           for_update ? " FOR UPDATE" : "");
    char name[64], b1[24], b2[24];
    stmt_name(name, t, for_update ? "get_lock" : "get", sql.buf);
    const char *p[] = {crm_param_i64(b1, true, id), crm_param_i64(b2, restrict_owner, visible_owner)};
    PGresult *res = crm_db_exec(db, name, sql.buf, 2, p, err);
    free(sql.buf);
    return one_row(t, res, out, err, id);
}

int rec_delete(crm_db_t *db, const rec_type_t *t, int64_t id, bool restrict_owner, int64_t visible_owner,
               crm_err_t *err)
{
    char sql[256], name[64], b1[24], b2[24];
    snprintf(sql, sizeof sql,
             "DELETE FROM %s WHERE id = $1 AND ($2::bigint IS NULL OR owner_id = $2) RETURNING id", t->table);
    stmt_name(name, t, "delete", sql);
    const char *p[] = {crm_param_i64(b1, true, id), crm_param_i64(b2, restrict_owner, visible_owner)};
    PGresult *res = crm_db_exec(db, name, sql, 2, p, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    PQclear(res);
    if (n != 1)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", t->type,
                           (long long)id);
    return CRM_OK;
}

/* ---- lists ------------------------------------------------------------------------------------ */

static bool is_column(const rec_type_t *t, const char *name, const rec_field_t **out)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->fields[i].col, name) == 0) {
            *out = &t->fields[i];
            return true;
        }
    return false;
}

int rec_list(crm_db_t *db, const rec_type_t *t, const ProtobufCMessage *req, const char *extra_where,
             bool restrict_owner, int64_t visible_owner, ProtobufCMessage **list, crm_err_t *err)
{
    *list = NULL;
    const ProtobufCMessageDescriptor *d = req->descriptor;
    const ProtobufCFieldDescriptor *fp = protobuf_c_message_descriptor_get_field_by_name(d, "page");
    const ProtobufCFieldDescriptor *fpp = protobuf_c_message_descriptor_get_field_by_name(d, "per_page");
    const ProtobufCFieldDescriptor *fs = protobuf_c_message_descriptor_get_field_by_name(d, "sort_by");
    const ProtobufCFieldDescriptor *fi = protobuf_c_message_descriptor_get_field_by_name(d, "ids");
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(*(protobuf_c_boolean *)AT(req, fp->quantifier_offset),
                        *(int32_t *)AT(req, fp->offset),
                        *(protobuf_c_boolean *)AT(req, fpp->quantifier_offset),
                        *(int32_t *)AT(req, fpp->offset), &page, err) ||
        crm_sort_parse(*(char **)AT(req, fs->offset), t->sorts, 0, false, &sort, &desc, err))
        return err->code;
    const char *ids_csv = *(char **)AT(req, fi->offset);
    char *ids = NULL;
    if (ids_csv && !(ids = crm_param_ids(ids_csv, "ids", err)))
        return err->code;

    sb_t sql = {0};
    const char *params[64];
    char bufs[64][24];
    char *owned[64] = {0};
    int np = 0;
    int rc = CRM_OK;
    sb_add(&sql, "SELECT ");
    select_cols(t, &sql, "");
    sb_add(&sql, " FROM %s WHERE true", t->table);
    if (restrict_owner) {
        params[np] = crm_param_i64(bufs[np], true, visible_owner);
        np++;
        sb_add(&sql, " AND owner_id = $%d", np);
    }
    if (ids) {
        params[np] = ids;
        owned[np++] = ids;
        sb_add(&sql, " AND id = ANY ($%d::bigint[])", np);
    }
    if (extra_where)
        sb_add(&sql, " AND %s", extra_where);
    for (unsigned i = 0; i < d->n_fields && rc == CRM_OK; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f == fp || f == fpp || f == fs || f == fi)
            continue;
        if (strcmp(f->name, "custom_fields") == 0) {
            size_t n = *(size_t *)AT(req, f->quantifier_offset);
            char **pairs = *(char ***)AT(req, f->offset);
            for (size_t k = 0; k < n && np + 2 < 64; k++) {
                char *eq = strchr(pairs[k], '=');
                if (!eq) {
                    rc = crm_err_set(err, CRM_EBADREQUEST, "custom_fields", "invalid_param",
                                     "custom_fields[name]=value expected");
                    break;
                }
                owned[np] = strndup(pairs[k], (size_t)(eq - pairs[k]));
                params[np] = owned[np];
                np++;
                params[np] = eq + 1;
                np++;
                /* Values of lists (multi-select) match when they contain the value. */
                sb_add(&sql,
                       " AND (custom_fields ->> $%d::text = $%d::text OR (jsonb_typeof(custom_fields -> "
                       "$%d::text) = "
                       "'array' AND custom_fields -> $%d::text ? $%d::text))",
                       np - 1, np, np - 1, np - 1, np);
            }
            continue;
        }
        const rec_field_t *col;
        if (!is_column(t, f->name, &col))
            continue;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            const char *v = *(char **)AT(req, f->offset);
            if (!v)
                continue;
            params[np++] = v;
            if (strcmp(f->name, "email") == 0 && t == &rec_lead) /* the dedup key's index (migration 017) */
                sb_add(&sql, " AND email_norm = nullif(lower(btrim($%d)), '')", np);
            else if (strcmp(f->name, "email") == 0)
                sb_add(&sql, " AND lower(email) = lower($%d)", np);
            else
                sb_add(&sql, " AND %s = $%d", col->col, np);
        } else if (f->type == PROTOBUF_C_TYPE_INT64) {
            if (!*(protobuf_c_boolean *)AT(req, f->quantifier_offset))
                continue;
            params[np] = crm_param_i64(bufs[np], true, *(int64_t *)AT(req, f->offset));
            np++;
            sb_add(&sql, " AND %s = $%d", col->col, np);
        } else if (f->type == PROTOBUF_C_TYPE_BOOL) {
            if (!*(protobuf_c_boolean *)AT(req, f->quantifier_offset))
                continue;
            params[np++] = crm_param_bool(true, *(protobuf_c_boolean *)AT(req, f->offset));
            sb_add(&sql, " AND %s = $%d::boolean", col->col, np);
        }
    }
    if (rc == CRM_OK) {
        const char *dir = desc ? "DESC" : "ASC";
        params[np] = crm_param_i64(bufs[np], true, page.limit);
        np++;
        params[np] = crm_param_i64(bufs[np], true, page.offset);
        np++;
        sb_add(&sql, " ORDER BY %s %s NULLS LAST, id %s LIMIT $%d OFFSET $%d", t->sorts[sort], dir, dir,
               np - 1, np);
        char name[64];
        stmt_name(name, t, "list", sql.buf);
        PGresult *res = crm_db_exec(db, name, sql.buf, np, params, err);
        if (!res) {
            rc = err->code;
        } else {
            const ProtobufCMessageDescriptor *ld = NULL;
            ld = t == &rec_lead ? &crm__lead_list__descriptor : &crm__contact_list__descriptor;
            ProtobufCMessage *out = crm_pb_new(ld);
            const ProtobufCFieldDescriptor *items =
                protobuf_c_message_descriptor_get_field_by_name(ld, "items");
            const ProtobufCFieldDescriptor *more =
                protobuf_c_message_descriptor_get_field_by_name(ld, "has_more");
            int rows = PQntuples(res);
            int n = rows > page.per_page ? page.per_page : rows;
            *(protobuf_c_boolean *)AT(out, more->quantifier_offset) = 1;
            *(protobuf_c_boolean *)AT(out, more->offset) = rows > page.per_page;
            ProtobufCMessage **arr = calloc((size_t)n + 1, sizeof *arr);
            for (int r = 0; r < n; r++)
                arr[r] = rec_from_row(t, res, r);
            *(ProtobufCMessage ***)AT(out, items->offset) = arr;
            *(size_t *)AT(out, items->quantifier_offset) = (size_t)n;
            PQclear(res);
            *list = out;
        }
    }
    for (int i = 0; i < np; i++)
        free(owned[i]);
    free(sql.buf);
    return rc;
}

/* crm-leads catalog resources: /v2/lead_sources (CRUD), /v2/lead_unqualified_reasons (list and
 * get for everyone; create, update, delete for admins) and /v2/tags (per resource type; names
 * unique within a type). All SQL is parameterised; statement texts are built only from the
 * constant tables below. */
#include "extras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"
#include "leads.h"

/* Lead sources and unqualified reasons: a name unique in its table, a creator, timestamps. */
typedef struct {
    const char *table;  /* SQL table */
    const char *what;   /* "lead source" */
    const char *prefix; /* statement name prefix */
    const char *extra;  /* extra JSON members (", 'resource_type', resource_type") */
    const char *in_use; /* SQL counting the leads that use row $1 */
    const ProtobufCMessageDescriptor *desc, *list_desc;
} named_t;

static const named_t sources = {"lead_sources",
                                "lead source",
                                "lsrc",
                                ", 'resource_type', resource_type",
                                "SELECT count(*) FROM leads WHERE source_id = $1",
                                &crm__lead_source__descriptor,
                                &crm__lead_source_list__descriptor};
static const named_t reasons = {"lead_unqualified_reasons",
                                "lead unqualified reason",
                                "lunq",
                                "",
                                "SELECT count(*) FROM leads WHERE unqualified_reason_id = $1",
                                &crm__unqualified_reason__descriptor,
                                &crm__unqualified_reason_list__descriptor};

static bool is_admin(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "admin") == 0 || strcmp(ctx->role, "system") == 0;
}

static int need_admin(const crm_rpc_ctx_t *ctx, crm_err_t *err)
{
    if (is_admin(ctx))
        return CRM_OK;
    return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "this action needs the admin role");
}

#define NAMED_JSON(n, buf)                                                                                   \
    snprintf(                                                                                                \
        buf, sizeof buf,                                                                                     \
        "json_build_object('id', id, 'name', name, 'creator_id', creator_id%s, 'created_at', " LEADS_TS(     \
            "created_at") ", 'updated_at', " LEADS_TS("updated_at") ")::text",                               \
        (n)->extra)

static int named_get(const named_t *n, crm_db_t *db, int64_t id, ProtobufCMessage **out, crm_err_t *err)
{
    char js[512], sql[768], stmt[64], idb[24];
    NAMED_JSON(n, js);
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE id = $1", js, n->table);
    snprintf(stmt, sizeof stmt, "%s_get", n->prefix);
    const char *p[] = {crm_param_i64(idb, true, id)};
    return leads_json_one(db, stmt, sql, 1, p, n->desc, n->what, id, out, err);
}

static const char *const named_sorts[] = {"id", "name", "created_at", "updated_at", NULL};

static int named_list(const named_t *n, crm_db_t *db, bool has_page, int32_t page_no, bool has_per_page,
                      int32_t per_page, const char *sort_by, const char *ids_csv, const char *name,
                      ProtobufCMessage **out, crm_err_t *err)
{
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(has_page, page_no, has_per_page, per_page, &page, err) ||
        crm_sort_parse(sort_by, named_sorts, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (ids_csv && !(ids = crm_param_ids(ids_csv, "ids", err)))
        return err->code;
    char js[512], sql[1024], stmt[64], b[2][24];
    NAMED_JSON(n, js);
    snprintf(
        sql, sizeof sql,
        "SELECT %s FROM %s WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) AND ($2::text IS NULL OR name = $2) "
        "ORDER BY %s %s, id %s LIMIT $3 OFFSET $4",
        js, n->table, named_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "%s_list_%s_%d", n->prefix, named_sorts[sort], desc);
    const char *p[] = {ids, name, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    int rc = leads_json_list(db, stmt, sql, 4, p, n->list_desc, page.per_page, out, err);
    free(ids);
    return rc;
}

static int named_create(const named_t *n, const crm_rpc_ctx_t *ctx, const char *name, ProtobufCMessage **out,
                        crm_err_t *err)
{
    if (leads_blank(name))
        return crm_err_set(err, CRM_EINVALID, "/name", "missing", "name is required");
    char sql[512], stmt[64], creator[24];
    snprintf(sql, sizeof sql, "INSERT INTO %s (name, creator_id) VALUES ($1, $2) RETURNING id", n->table);
    snprintf(stmt, sizeof stmt, "%s_create", n->prefix);
    const char *p[] = {name, crm_param_i64(creator, ctx->user_id > 0, ctx->user_id)};
    PGresult *res = crm_db_exec(ctx->db, stmt, sql, 2, p, err);
    if (!res)
        return leads_conflict_as_taken(err, "/name", name);
    int64_t id = 0;
    crm_parse_i64(PQgetvalue(res, 0, 0), &id);
    PQclear(res);
    return named_get(n, ctx->db, id, out, err);
}

static int named_update(const named_t *n, const crm_rpc_ctx_t *ctx, int64_t id, const char *name,
                        ProtobufCMessage **out, crm_err_t *err)
{
    if (name && leads_blank(name))
        return crm_err_set(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    char sql[512], stmt[64], idb[24];
    snprintf(sql, sizeof sql,
             "UPDATE %s SET name = COALESCE($2, name), updated_at = now() WHERE id = $1 RETURNING id",
             n->table);
    snprintf(stmt, sizeof stmt, "%s_update", n->prefix);
    const char *p[] = {crm_param_i64(idb, true, id), name};
    PGresult *res = crm_db_exec(ctx->db, stmt, sql, 2, p, err);
    if (!res)
        return leads_conflict_as_taken(err, "/name", name);
    int rows = PQntuples(res);
    PQclear(res);
    if (rows == 0)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", n->what,
                           (long long)id);
    return named_get(n, ctx->db, id, out, err);
}

/* Refused (409) while a lead still uses it: deleting would leave leads pointing nowhere. */
static int named_delete(const named_t *n, const crm_rpc_ctx_t *ctx, int64_t id, crm_err_t *err)
{
    char sql[256], stmt[64], idb[24];
    const char *p[] = {crm_param_i64(idb, true, id)};
    if (crm_db_begin(ctx->db, err))
        return err->code;
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE id = $1 FOR UPDATE", n->table);
    snprintf(stmt, sizeof stmt, "%s_lock", n->prefix);
    PGresult *res = crm_db_exec(ctx->db, stmt, sql, 1, p, err);
    if (!res)
        goto fail;
    int found = PQntuples(res);
    PQclear(res);
    if (!found) {
        crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", n->what, (long long)id);
        goto fail;
    }
    snprintf(stmt, sizeof stmt, "%s_in_use", n->prefix);
    res = crm_db_exec(ctx->db, stmt, n->in_use, 1, p, err);
    if (!res)
        goto fail;
    long long used = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (used > 0) {
        crm_err_set(err, CRM_ECONFLICT, NULL, "in_use", "%s %lld is used by %lld lead(s)", n->what,
                    (long long)id, used);
        goto fail;
    }
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = $1", n->table);
    snprintf(stmt, sizeof stmt, "%s_delete", n->prefix);
    if (crm_db_run(ctx->db, stmt, sql, 1, p, err) || crm_db_commit(ctx->db, err))
        goto fail;
    return CRM_OK;
fail:
    crm_db_rollback(ctx->db);
    return err->code;
}

/* --- lead sources ------------------------------------------------------------------------ */
static int resource_type_lead(const char *rt, crm_err_t *err)
{
    if (rt && strcmp(rt, "lead") != 0)
        return crm_err_set(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                           "resource_type of a lead source must be lead");
    return CRM_OK;
}

static int source_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__LeadSourceListRequest *r = (const void *)in;
    return named_list(&sources, ctx->db, r->has_page, r->page, r->has_per_page, r->per_page, r->sort_by,
                      r->ids, r->name, out, err);
}

static int source_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    return named_get(&sources, ctx->db, ((const Crm__ActivityIdRequest *)in)->id, out, err);
}

static int source_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__LeadSource *s = (const void *)in;
    if (need_admin(ctx, err) || resource_type_lead(s->resource_type, err))
        return err->code;
    return named_create(&sources, ctx, s->name, out, err);
}

static int source_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__LeadSource *s = (const void *)in;
    if (need_admin(ctx, err) || resource_type_lead(s->resource_type, err))
        return err->code;
    return named_update(&sources, ctx, s->id, s->name, out, err);
}

static int source_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    *out = NULL;
    if (need_admin(ctx, err))
        return err->code;
    return named_delete(&sources, ctx, ((const Crm__ActivityIdRequest *)in)->id, err);
}

/* --- lead unqualified reasons -------------------------------------------------------------- */
static int reason_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__UnqualifiedReasonListRequest *r = (const void *)in;
    return named_list(&reasons, ctx->db, r->has_page, r->page, r->has_per_page, r->per_page, r->sort_by,
                      r->ids, r->name, out, err);
}

static int reason_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    return named_get(&reasons, ctx->db, ((const Crm__ActivityIdRequest *)in)->id, out, err);
}

static int reason_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    if (need_admin(ctx, err))
        return err->code;
    return named_create(&reasons, ctx, ((const Crm__UnqualifiedReason *)in)->name, out, err);
}

static int reason_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__UnqualifiedReason *r = (const void *)in;
    if (need_admin(ctx, err))
        return err->code;
    return named_update(&reasons, ctx, r->id, r->name, out, err);
}

static int reason_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    *out = NULL;
    if (need_admin(ctx, err))
        return err->code;
    return named_delete(&reasons, ctx, ((const Crm__ActivityIdRequest *)in)->id, err);
}

/* --- tags ---------------------------------------------------------------------------------- */
#define TAG_JSON                                                                                             \
    "json_build_object('id', id, 'creator_id', creator_id, 'name', name, 'resource_type', resource_type, "   \
    "'created_at', " LEADS_TS("created_at") ", 'updated_at', " LEADS_TS("updated_at") ")::text"

static int tag_get_id(crm_db_t *db, int64_t id, ProtobufCMessage **out, crm_err_t *err)
{
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, id)};
    return leads_json_one(db, "tags_get", "SELECT " TAG_JSON " FROM tags WHERE id = $1", 1, p,
                          &crm__tag__descriptor, "tag", id, out, err);
}

static int tag_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                   crm_err_t *err)
{
    (void)arg;
    return tag_get_id(ctx->db, ((const Crm__ActivityIdRequest *)in)->id, out, err);
}

static const char *const tag_sorts[] = {"updated_at", "id", "name", "created_at", NULL};

static int tag_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    const Crm__TagListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, tag_sorts, 0, false, &sort, &desc, err))
        return err->code;
    if (r->resource_type && !leads_resource_type_ok(r->resource_type))
        return crm_err_set(err, CRM_EBADREQUEST, "resource_type", "invalid_param",
                           "resource_type must be lead, contact or deal");
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    char sql[1024], stmt[64], b[3][24];
    snprintf(sql, sizeof sql,
             "SELECT " TAG_JSON " FROM tags WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) "
             "AND ($2::bigint IS NULL OR creator_id = $2) AND ($3::text IS NULL OR name = $3) "
             "AND ($4::text IS NULL OR resource_type = $4) ORDER BY %s %s, id %s LIMIT $5 OFFSET $6",
             tag_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "tags_list_%s_%d", tag_sorts[sort], desc);
    const char *p[] = {ids,
                       crm_param_i64(b[0], r->has_creator_id, r->creator_id),
                       r->name,
                       r->resource_type,
                       crm_param_i64(b[1], true, page.limit),
                       crm_param_i64(b[2], true, page.offset)};
    int rc = leads_json_list(ctx->db, stmt, sql, 6, p, &crm__tag_list__descriptor, page.per_page, out, err);
    free(ids);
    return rc;
}

static int tag_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    const Crm__Tag *t = (const void *)in;
    crm_err_clear(err);
    if (leads_blank(t->name))
        crm_err_add(err, CRM_EINVALID, "/name", "missing", "name is required");
    if (!t->resource_type)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "missing", "resource_type is required");
    else if (!leads_resource_type_ok(t->resource_type))
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type is not included in the list: lead, contact, deal");
    if (err->code != CRM_OK)
        return err->code;
    char creator[24];
    const char *p[] = {t->name, t->resource_type, crm_param_i64(creator, ctx->user_id > 0, ctx->user_id)};
    PGresult *res = crm_db_exec(
        ctx->db, "tags_create",
        "INSERT INTO tags (name, resource_type, creator_id) VALUES ($1, $2, $3) RETURNING id", 3, p, err);
    if (!res)
        return leads_conflict_as_taken(err, "/name", t->name);
    int64_t id = 0;
    crm_parse_i64(PQgetvalue(res, 0, 0), &id);
    PQclear(res);
    return tag_get_id(ctx->db, id, out, err);
}

/* Renaming or deleting a lead tag also renames / removes it on every lead that carries it, in
 * the same transaction; each changed lead gets its lead.updated event (outbox). Contacts and
 * deals keep their own tag arrays in their own tables and are not rewritten here. */
static int retag_leads(leads_extras_t *self, const crm_rpc_ctx_t *ctx, const char *old_name,
                       const char *new_name, crm_err_t *err)
{
    const char *p[] = {old_name, new_name};
    PGresult *res = crm_db_exec(ctx->db, "tags_retag_leads",
                                "UPDATE leads SET tags = CASE WHEN $2::text IS NULL OR $2 = ANY (tags) "
                                "THEN array_remove(tags, $1) ELSE array_replace(tags, $1, $2) END, "
                                "updated_at = now() WHERE tags @> ARRAY[$1::text] RETURNING id",
                                2, p, err);
    if (!res)
        return err->code;
    int rc = CRM_OK;
    for (int r = 0; r < PQntuples(res) && rc == CRM_OK; r++) {
        int64_t id = 0;
        crm_parse_i64(PQgetvalue(res, r, 0), &id);
        Crm__Lead *lead = NULL;
        rc = leads_store_get(ctx->db, id, false, 0, &lead, err);
        if (rc != CRM_OK)
            break;
        Crm__LeadEvent ev = CRM__LEAD_EVENT__INIT;
        ev.lead = lead;
        ev.has_changed_by = 1;
        ev.changed_by = ctx->user_id;
        ev.has_previous_owner_id = lead->has_owner_id;
        ev.previous_owner_id = lead->owner_id;
        rc = crm_outbox_append(self->outbox, ctx->db, "lead.updated", ctx->correlation_id, &ev.base, err);
        protobuf_c_message_free_unpacked(&lead->base, NULL);
    }
    PQclear(res);
    return rc;
}

static int tag_lock(crm_db_t *db, int64_t id, char **name, char **rtype, crm_err_t *err)
{
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, id)};
    PGresult *res = crm_db_exec(db, "tags_lock",
                                "SELECT name, resource_type FROM tags WHERE id = $1 FOR UPDATE", 1, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "tag %lld not found", (long long)id);
    }
    *name = crm_row_str(res, 0, 0);
    *rtype = crm_row_str(res, 0, 1);
    PQclear(res);
    return CRM_OK;
}

static int tag_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    leads_extras_t *self = arg;
    const Crm__Tag *t = (const void *)in;
    if (t->name && leads_blank(t->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    if (t->resource_type && !leads_resource_type_ok(t->resource_type))
        return crm_err_set(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                           "resource_type is not included in the list: lead, contact, deal");
    if (crm_db_begin(ctx->db, err))
        return err->code;
    char *old_name = NULL, *old_type = NULL, idb[24];
    if (tag_lock(ctx->db, t->id, &old_name, &old_type, err))
        goto fail;
    if (t->resource_type && strcmp(t->resource_type, old_type) != 0) {
        crm_err_set(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "the resource_type of a tag cannot change");
        goto fail;
    }
    const char *p[] = {crm_param_i64(idb, true, t->id), t->name};
    if (crm_db_run(ctx->db, "tags_update",
                   "UPDATE tags SET name = COALESCE($2, name), updated_at = now() WHERE id = $1", 2, p,
                   err)) {
        leads_conflict_as_taken(err, "/name", t->name);
        goto fail;
    }
    if (t->name && strcmp(t->name, old_name) != 0 && strcmp(old_type, "lead") == 0 &&
        retag_leads(self, ctx, old_name, t->name, err))
        goto fail;
    if (crm_db_commit(ctx->db, err))
        goto fail;
    crm_outbox_kick(self->outbox);
    free(old_name);
    free(old_type);
    return tag_get_id(ctx->db, t->id, out, err);
fail:
    crm_db_rollback(ctx->db);
    free(old_name);
    free(old_type);
    return err->code;
}

static int tag_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    leads_extras_t *self = arg;
    *out = NULL;
    int64_t id = ((const Crm__ActivityIdRequest *)in)->id;
    if (crm_db_begin(ctx->db, err))
        return err->code;
    char *name = NULL, *rtype = NULL, idb[24];
    const char *p[] = {crm_param_i64(idb, true, id)};
    if (tag_lock(ctx->db, id, &name, &rtype, err) ||
        crm_db_run(ctx->db, "tags_delete", "DELETE FROM tags WHERE id = $1", 1, p, err) ||
        (strcmp(rtype, "lead") == 0 && retag_leads(self, ctx, name, NULL, err)) ||
        crm_db_commit(ctx->db, err)) {
        crm_db_rollback(ctx->db);
        free(name);
        free(rtype);
        return err->code;
    }
    crm_outbox_kick(self->outbox);
    free(name);
    free(rtype);
    return CRM_OK;
}

void leads_catalog_register(crm_rpc_server_t *rpc, leads_extras_t *self)
{
    crm_rpc_server_handle(rpc, "lead_sources.list", &crm__lead_source_list_request__descriptor, source_list,
                          self);
    crm_rpc_server_handle(rpc, "lead_sources.get", &crm__activity_id_request__descriptor, source_get, self);
    crm_rpc_server_handle(rpc, "lead_sources.create", &crm__lead_source__descriptor, source_create, self);
    crm_rpc_server_handle(rpc, "lead_sources.update", &crm__lead_source__descriptor, source_update, self);
    crm_rpc_server_handle(rpc, "lead_sources.delete", &crm__activity_id_request__descriptor, source_delete,
                          self);
    crm_rpc_server_handle(rpc, "lead_unqualified_reasons.list",
                          &crm__unqualified_reason_list_request__descriptor, reason_list, self);
    crm_rpc_server_handle(rpc, "lead_unqualified_reasons.get", &crm__activity_id_request__descriptor,
                          reason_get, self);
    crm_rpc_server_handle(rpc, "lead_unqualified_reasons.create", &crm__unqualified_reason__descriptor,
                          reason_create, self);
    crm_rpc_server_handle(rpc, "lead_unqualified_reasons.update", &crm__unqualified_reason__descriptor,
                          reason_update, self);
    crm_rpc_server_handle(rpc, "lead_unqualified_reasons.delete", &crm__activity_id_request__descriptor,
                          reason_delete, self);
    crm_rpc_server_handle(rpc, "tags.list", &crm__tag_list_request__descriptor, tag_list, self);
    crm_rpc_server_handle(rpc, "tags.get", &crm__activity_id_request__descriptor, tag_get, self);
    crm_rpc_server_handle(rpc, "tags.create", &crm__tag__descriptor, tag_create, self);
    crm_rpc_server_handle(rpc, "tags.update", &crm__tag__descriptor, tag_update, self);
    crm_rpc_server_handle(rpc, "tags.delete", &crm__activity_id_request__descriptor, tag_delete, self);
}

/* crm-leads smart lists (SPEC C3): POST/GET/PUT/DELETE /v2/smart_lists and
 * GET /v2/smart_lists/{id}/items (leads or contacts: a list's resource_type, fixed at creation).
 *
 * A smart list is visible to its creator and, when shared, to everyone; only its creator (or an
 * admin) changes or deletes it (others get 404 for private lists, 403 for shared ones). Its
 * filter is compiled (smartfilter.c) at every write, so a stored filter always compiles, and at
 * every read of the items, into parameterised SQL. Items follow the usual visibility: a sales
 * caller gets only the matching records it owns. Converted leads are left out unless the filter
 * says "converted". */
#include "extras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"
#include "leads.h"
#include "records.h"
#include "smartfilter.h"

/* Sortable columns of a smart list's records; the SQL is built only from these lists. */
static const char *const item_sorts[] = {"updated_at", "created_at",       "id",
                                         "last_name",  "first_name",       "organization_name",
                                         "status",     "last_activity_at", NULL};
static const char *const contact_item_sorts[] = {
    "updated_at", "created_at", "id", "last_name", "first_name", "name", "last_activity_at", NULL};

static bool is_contact_list(const char *resource_type)
{
    return resource_type && strcmp(resource_type, "contact") == 0;
}

static const char *const *sorts_of(const char *resource_type)
{
    return is_contact_list(resource_type) ? contact_item_sorts : item_sorts;
}

static bool resource_type_ok(const char *t)
{
    return t && (strcmp(t, "lead") == 0 || strcmp(t, "contact") == 0);
}

static bool is_admin(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "admin") == 0 || strcmp(ctx->role, "system") == 0;
}

#define SL_JSON                                                                                              \
    "json_build_object('id', id, 'name', name, 'resource_type', resource_type, 'filter', filter, "           \
    "'sort_by', sort_by, 'shared', shared, 'creator_id', creator_id, 'created_at', " LEADS_TS(               \
        "created_at") ", 'updated_at', " LEADS_TS("updated_at") ")::text"

/* $1: the caller (NULL for admins and managers, who see every list). */
#define SL_VISIBLE "($1::bigint IS NULL OR creator_id = $1 OR shared)"

static const char *viewer(const crm_rpc_ctx_t *ctx, char buf[24])
{
    return crm_param_i64(buf, leads_is_sales(ctx), ctx->user_id);
}

static int sl_fetch(const crm_rpc_ctx_t *ctx, int64_t id, bool all, Crm__SmartList **out, crm_err_t *err)
{
    char me[24], idb[24];
    const char *p[] = {all ? NULL : viewer(ctx, me), crm_param_i64(idb, true, id)};
    return leads_json_one(ctx->db, "sl_get",
                          "SELECT " SL_JSON " FROM smart_lists WHERE id = $2 AND " SL_VISIBLE, 2, p,
                          &crm__smart_list__descriptor, "smart list", id, (ProtobufCMessage **)out, err);
}

static int sl_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                  crm_err_t *err)
{
    (void)arg;
    return sl_fetch(ctx, ((const Crm__ActivityIdRequest *)in)->id, false, (Crm__SmartList **)out, err);
}

static const char *const sl_sorts[] = {"id", "name", "created_at", "updated_at", NULL};

static int sl_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                   crm_err_t *err)
{
    (void)arg;
    const Crm__SmartListListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, sl_sorts, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    char sql[1536], stmt[64], me[24], b[2][24];
    snprintf(sql, sizeof sql,
             "SELECT " SL_JSON " FROM smart_lists WHERE " SL_VISIBLE
             " AND ($2::bigint[] IS NULL OR id = ANY ($2)) "
             "AND ($3::text IS NULL OR name = $3) AND ($4::text IS NULL OR resource_type = $4) "
             "ORDER BY %s %s, id %s LIMIT $5 OFFSET $6",
             sl_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "sl_list_%s_%d", sl_sorts[sort], desc);
    const char *p[] = {viewer(ctx, me),
                       ids,
                       r->name,
                       r->resource_type,
                       crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    int rc =
        leads_json_list(ctx->db, stmt, sql, 6, p, &crm__smart_list_list__descriptor, page.per_page, out, err);
    free(ids);
    return rc;
}

/* Checks the filter text (a JSON object that compiles for records of rtype) and sort_by; adds
 * field errors to err. */
static void check_definition(const Crm__SmartList *s, const char *rtype, crm_err_t *err)
{
    if (s->filter_json) {
        json_error_t je;
        json_t *f = json_loads(s->filter_json, JSON_DECODE_ANY, &je);
        leads_filter_t lf;
        crm_err_t fe;
        crm_err_clear(&fe);
        if (!f)
            crm_err_add(err, CRM_EINVALID, "/filter", "invalid_type", "filter must be a JSON object");
        else if (leads_filter_compile_for(rtype, f, 1, &lf, &fe) != CRM_OK)
            crm_err_add(err, CRM_EINVALID, fe.field, fe.reason, "%s", fe.message);
        else
            leads_filter_clear(&lf);
        json_decref(f);
    }
    if (s->sort_by) {
        int idx;
        bool desc;
        crm_err_t se;
        crm_err_clear(&se);
        if (crm_sort_parse(s->sort_by, sorts_of(rtype), 0, true, &idx, &desc, &se) != CRM_OK)
            crm_err_add(err, CRM_EINVALID, "/sort_by", "incorrect_value", "%s", se.message);
    }
}

static int sl_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    const Crm__SmartList *s = (const void *)in;
    *out = NULL;
    if (leads_blank(s->name))
        crm_err_add(err, CRM_EINVALID, "/name", "missing", "name is required");
    if (!s->resource_type)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "missing", "resource_type is required");
    else if (!resource_type_ok(s->resource_type))
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type is not included in the list: lead, contact");
    check_definition(s, resource_type_ok(s->resource_type) ? s->resource_type : "lead", err);
    if (err->code != CRM_OK)
        return err->code;
    char creator[24];
    const char *p[] = {s->name,
                       s->resource_type,
                       s->filter_json,
                       s->sort_by,
                       crm_param_bool(s->has_shared, s->shared),
                       crm_param_i64(creator, ctx->user_id > 0, ctx->user_id)};
    PGresult *res =
        crm_db_exec(ctx->db, "sl_create",
                    "INSERT INTO smart_lists (name, resource_type, filter, sort_by, shared, creator_id) "
                    "VALUES ($1, $2, COALESCE($3::jsonb, '{}'), COALESCE($4, 'updated_at:desc'), "
                    "COALESCE($5::boolean, false), $6) RETURNING id",
                    6, p, err);
    if (!res)
        return err->code;
    int64_t id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return sl_fetch(ctx, id, true, (Crm__SmartList **)out, err);
}

/* The list for a change: visible (else 404) and the caller's own or the caller an admin (else
 * 403). rtype (when not NULL, 16 bytes) gets its resource type. */
static int sl_writable(const crm_rpc_ctx_t *ctx, int64_t id, char *rtype, crm_err_t *err)
{
    Crm__SmartList *cur = NULL;
    if (sl_fetch(ctx, id, false, &cur, err))
        return err->code;
    bool mine = cur->has_creator_id && cur->creator_id == ctx->user_id;
    bool admin = is_admin(ctx) || strcmp(ctx->role, "manager") == 0;
    if (rtype)
        snprintf(rtype, 16, "%s", cur->resource_type ? cur->resource_type : "lead");
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    if (!mine && !admin)
        return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "only its creator changes a smart list");
    return CRM_OK;
}

static int sl_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    const Crm__SmartList *s = (const void *)in;
    *out = NULL;
    char rtype[16];
    if (sl_writable(ctx, s->id, rtype, err))
        return err->code;
    if (s->name && leads_blank(s->name))
        crm_err_add(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    if (s->resource_type && strcmp(s->resource_type, rtype) != 0)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "the resource_type of a smart list (%s) cannot change", rtype);
    check_definition(s, rtype, err);
    if (err->code != CRM_OK)
        return err->code;
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, s->id), s->name, s->filter_json, s->sort_by,
                       crm_param_bool(s->has_shared, s->shared)};
    if (crm_db_run(
            ctx->db, "sl_update",
            "UPDATE smart_lists SET name = COALESCE($2, name), filter = COALESCE($3::jsonb, filter), "
            "sort_by = COALESCE($4, sort_by), shared = COALESCE($5::boolean, shared), updated_at = now() "
            "WHERE id = $1",
            5, p, err))
        return err->code;
    return sl_fetch(ctx, s->id, true, (Crm__SmartList **)out, err);
}

static int sl_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    *out = NULL;
    int64_t id = ((const Crm__ActivityIdRequest *)in)->id;
    if (sl_writable(ctx, id, NULL, err))
        return err->code;
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, id)};
    return crm_db_run(ctx->db, "sl_delete", "DELETE FROM smart_lists WHERE id = $1", 1, p, err);
}

/* Runs dynamic SQL (a compiled filter) as an unnamed statement: nothing is left prepared on the
 * connection per filter. */
static PGresult *exec_dynamic(crm_db_t *db, const char *sql, int n, const char *const *p, crm_err_t *err)
{
    if (crm_db_check(db, err) != CRM_OK)
        return NULL;
    PGresult *res = PQexecParams(crm_db_conn(db), sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!res || PQstatus(crm_db_conn(db)) != CONNECTION_OK)
        crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "database unavailable");
    else if (state && strncmp(state, "22", 2) == 0) /* a value Postgres refuses (range, format) */
        crm_err_set(err, CRM_EINVALID, "/filter", "incorrect_value", "%s", PQresultErrorMessage(res));
    else
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "smart list query failed: %s", PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

/* The page's records (by id, through the records reader) as a JSON array in the order of ids. */
static int items_json(crm_db_t *db, const rec_type_t *t, const int64_t *ids, int n, json_t *out,
                      crm_err_t *err)
{
    if (n <= 0 || n > 1000) /* a page: at most per_page (100) ids */
        return n == 0 ? CRM_OK : crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "smart list page too large");
    size_t cap = (size_t)n * 21 + 1, len = 0;
    char *csv = malloc(cap);
    if (!csv)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    csv[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(csv + len, cap - len, "%s%lld", i ? "," : "", (long long)ids[i]);
    /* LeadListRequest and ContactListRequest share ids/per_page, which is all rec_list reads here. */
    Crm__LeadListRequest lreq = CRM__LEAD_LIST_REQUEST__INIT;
    Crm__ContactListRequest creq = CRM__CONTACT_LIST_REQUEST__INIT;
    lreq.ids = creq.ids = csv;
    lreq.has_per_page = creq.has_per_page = 1;
    lreq.per_page = creq.per_page = 100;
    ProtobufCMessage *got = NULL;
    int rc = rec_list(db, t, t == &rec_contact ? &creq.base : &lreq.base, NULL, false, 0, &got, err);
    free(csv);
    if (rc != CRM_OK)
        return rc;
    json_t *found = crm_pbjson_from_message(got);
    protobuf_c_message_free_unpacked(got, NULL);
    json_t *arr = json_object_get(found, "items");
    for (int i = 0; i < n; i++) {
        size_t k;
        json_t *it;
        json_array_foreach(arr, k, it)
        {
            if (json_integer_value(json_object_get(it, "id")) == ids[i]) {
                json_array_append(out, it); /* a record deleted since is simply absent */
                break;
            }
        }
    }
    json_decref(found);
    return CRM_OK;
}

static int sl_items(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    const Crm__SmartListItemsRequest *r = (const void *)in;
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err))
        return err->code;
    Crm__SmartList *sl = NULL;
    if (sl_fetch(ctx, r->id, false, &sl, err))
        return err->code;
    bool contacts = is_contact_list(sl->resource_type);
    const rec_type_t *t = contacts ? &rec_contact : &rec_lead;
    const char *const *sorts = sorts_of(sl->resource_type);
    json_t *filter = json_loads(sl->filter_json ? sl->filter_json : "{}", JSON_DECODE_ANY, NULL);
    int sort;
    bool desc;
    leads_filter_t lf;
    crm_err_t ce;
    crm_err_clear(&ce);
    int rc = crm_sort_parse(sl->sort_by, sorts, 0, true, &sort, &desc, &ce);
    if (rc == CRM_OK)
        rc = leads_filter_compile_for(contacts ? "contact" : "lead", filter, 2, &lf, &ce);
    /* Converted leads only when the filter asks about them; contacts have no such state. */
    bool all = contacts || json_object_get(filter, "converted") != NULL;
    json_decref(filter);
    protobuf_c_message_free_unpacked(&sl->base, NULL);
    if (rc != CRM_OK) /* stored before a language change: say so instead of guessing */
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "smart list %lld no longer compiles: %s",
                           (long long)r->id, ce.message);
    const char *order = strcmp(sorts[sort], "last_activity_at") != 0 ? sorts[sort]
                        : contacts                                   ? LEADS_CONTACT_LAST_ACTIVITY_SQL
                                                                     : LEADS_LAST_ACTIVITY_SQL;
    size_t cap = strlen(lf.sql) + 1024;
    char *sql = malloc(cap);
    int n = lf.nparams;
    snprintf(sql, cap,
             "SELECT id FROM %s WHERE ($1::bigint IS NULL OR owner_id = $1)%s AND %s "
             "ORDER BY %s %s%s, id %s LIMIT $%d OFFSET $%d",
             t->table, all ? "" : " AND converted_at IS NULL", lf.sql, order, desc ? "DESC" : "ASC",
             /* Plain column orders match their btree indexes; records never active sort last. */
             order == sorts[sort] ? "" : " NULLS LAST", desc ? "DESC" : "ASC", n + 2, n + 3);
    const char **p = calloc((size_t)n + 3, sizeof *p);
    char me[24], lim[24], off[24];
    p[0] = viewer(ctx, me);
    for (int i = 0; i < n; i++)
        p[i + 1] = lf.params[i];
    p[n + 1] = crm_param_i64(lim, true, page.limit);
    p[n + 2] = crm_param_i64(off, true, page.offset);
    PGresult *res = exec_dynamic(ctx->db, sql, n + 3, p, err);
    free(p);
    free(sql);
    leads_filter_clear(&lf);
    if (!res)
        return err->code;
    int rows = PQntuples(res), take = rows > page.per_page ? page.per_page : rows;
    int64_t *ids = calloc((size_t)take + 1, sizeof *ids);
    for (int i = 0; i < take; i++)
        ids[i] = atoll(PQgetvalue(res, i, 0));
    PQclear(res);
    json_t *arr = json_array();
    rc = items_json(ctx->db, t, ids, take, arr, err);
    free(ids);
    if (rc != CRM_OK) {
        json_decref(arr);
        return rc;
    }
    Crm__SmartListItems *list = (Crm__SmartListItems *)crm_pb_new(&crm__smart_list_items__descriptor);
    list->items_json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->item_type = crm_pb_strdup(t->type);
    *out = &list->base;
    return CRM_OK;
}

void leads_smart_lists_register(crm_rpc_server_t *rpc, leads_extras_t *self)
{
    crm_rpc_server_handle(rpc, "smart_lists.list", &crm__smart_list_list_request__descriptor, sl_list, self);
    crm_rpc_server_handle(rpc, "smart_lists.get", &crm__activity_id_request__descriptor, sl_get, self);
    crm_rpc_server_handle(rpc, "smart_lists.create", &crm__smart_list__descriptor, sl_create, self);
    crm_rpc_server_handle(rpc, "smart_lists.update", &crm__smart_list__descriptor, sl_update, self);
    crm_rpc_server_handle(rpc, "smart_lists.delete", &crm__activity_id_request__descriptor, sl_delete, self);
    crm_rpc_server_handle(rpc, "smart_lists.items", &crm__smart_list_items_request__descriptor, sl_items,
                          self);
}

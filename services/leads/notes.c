/* crm-leads notes and tasks: /v2/notes and /v2/tasks on leads, contacts and deals (tasks may
 * also float, without a record).
 *
 * Visibility (H1) for a sales caller: a note is visible when the caller created it, or when it
 * hangs on a lead (or, once crm-leads has its contacts table, a contact) the caller owns; a
 * task also when the caller owns the task. Deals live in crm-deals, so a note or task on a deal
 * is visible to a sales caller only through creator_id / owner_id. Admins and managers see all.
 * Invisible records answer 404. Creating on a lead or contact needs that record to exist and,
 * for sales, to be owned by the caller (422 on /resource_id otherwise); deal ids are not checked
 * here (crm-deals owns them).
 *
 * Each create writes, in one transaction, the row, a note.created / task.created event (outbox)
 * and, for a lead or a contact, a timeline row (leads_timeline_add, kind "note" / "task") so
 * GET /v2/{leads,contacts}/{id}/activities shows it. */
#include "extras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"
#include "leads.h"

/* True when this schema has a contacts table (it comes with the contacts work of issue 3). */
static bool have_contacts(crm_db_t *db)
{
    crm_err_t e;
    crm_err_clear(&e);
    PGresult *res =
        crm_db_exec(db, "ex_have_contacts", "SELECT to_regclass('contacts') IS NOT NULL", 0, NULL, &e);
    bool yes = res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    if (res)
        PQclear(res);
    return yes;
}

/* The visibility condition on $1 (the sales caller's id, or NULL for everyone). */
static void visible_sql(char *buf, size_t cap, bool contacts, bool tasks)
{
    snprintf(buf, cap,
             "($1::bigint IS NULL OR creator_id = $1%s OR (resource_type = 'lead' AND resource_id IN "
             "(SELECT id FROM leads WHERE owner_id = $1))%s)",
             tasks ? " OR owner_id = $1" : "",
             contacts ? " OR (resource_type = 'contact' AND resource_id IN (SELECT id FROM contacts WHERE "
                        "owner_id = $1))"
                      : "");
}

/* A lead or contact must exist and, for sales, be the caller's; a deal id is taken as given. */
static int check_resource(const crm_rpc_ctx_t *ctx, const char *rtype, int64_t rid, crm_err_t *err)
{
    if (strcmp(rtype, "deal") == 0)
        return CRM_OK;
    if (strcmp(rtype, "contact") == 0 && !have_contacts(ctx->db))
        return CRM_OK;
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, rid)};
    bool lead = strcmp(rtype, "lead") == 0;
    PGresult *res = crm_db_exec(ctx->db, lead ? "ex_lead_owner" : "ex_contact_owner",
                                lead ? "SELECT owner_id FROM leads WHERE id = $1"
                                     : "SELECT owner_id FROM contacts WHERE id = $1",
                                1, p, err);
    if (!res)
        return err->code;
    bool found = PQntuples(res) == 1;
    int64_t owner = found && !PQgetisnull(res, 0, 0) ? atoll(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    if (!found || (leads_is_sales(ctx) && owner != ctx->user_id))
        return crm_err_set(err, CRM_EINVALID, "/resource_id", "incorrect_value", "%s %lld not found", rtype,
                           (long long)rid);
    return CRM_OK;
}

/* A row on the timeline of the lead or contact (deals keep theirs in crm-deals). */
static int add_timeline(const crm_rpc_ctx_t *ctx, const char *rtype, int64_t id, const char *kind,
                        const char *text, crm_err_t *err)
{
    bool contact = strcmp(rtype, "contact") == 0;
    if (strcmp(rtype, "lead") != 0 && !(contact && have_contacts(ctx->db)))
        return CRM_OK;
    char summary[256];
    snprintf(summary, sizeof summary, "%s", text);
    /* Cut on a UTF-8 boundary. */
    size_t n = strlen(summary);
    if (n == sizeof summary - 1)
        while (n > 0 && ((unsigned char)summary[n - 1] & 0xC0) == 0x80)
            summary[--n] = '\0';
    if (n > 0 && ((unsigned char)summary[n - 1] & 0xC0) == 0xC0)
        summary[n - 1] = '\0';
    return leads_timeline_add(ctx->db, contact, id, kind, ctx->user_id, summary, NULL, NULL, NULL, err);
}

static const char *sales_param(const crm_rpc_ctx_t *ctx, char buf[24])
{
    return crm_param_i64(buf, leads_is_sales(ctx), ctx->user_id);
}

/* --- notes ---------------------------------------------------------------------------------- */
#define NOTE_JSON                                                                                            \
    "json_build_object('id', id, 'creator_id', creator_id, 'content', content, 'resource_type', "            \
    "resource_type, 'resource_id', resource_id, 'is_important', is_important, 'tags', to_json(tags), "       \
    "'type', type, 'created_at', " LEADS_TS("created_at") ", 'updated_at', " LEADS_TS(                       \
        "updated_at") ")::text"

static int note_fetch(const crm_rpc_ctx_t *ctx, int64_t id, bool all, bool lock, Crm__Note **out,
                      crm_err_t *err)
{
    bool c = have_contacts(ctx->db);
    char vis[512], sql[1536], stmt[64], me[24], idb[24];
    visible_sql(vis, sizeof vis, c, false);
    snprintf(sql, sizeof sql, "SELECT " NOTE_JSON " FROM notes WHERE id = $2 AND %s%s", vis,
             lock ? " FOR UPDATE" : "");
    snprintf(stmt, sizeof stmt, "notes_get_%d_%d", c, lock);
    const char *p[] = {all ? NULL : sales_param(ctx, me), crm_param_i64(idb, true, id)};
    return leads_json_one(ctx->db, stmt, sql, 2, p, &crm__note__descriptor, "note", id,
                          (ProtobufCMessage **)out, err);
}

static int note_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    return note_fetch(ctx, ((const Crm__ActivityIdRequest *)in)->id, false, false, (Crm__Note **)out, err);
}

static const char *const note_sorts[] = {"updated_at", "id", "created_at", NULL};

static int note_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    const Crm__NoteListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, note_sorts, 0, false, &sort, &desc, err))
        return err->code;
    if (r->resource_type && !leads_resource_type_ok(r->resource_type))
        return crm_err_set(err, CRM_EBADREQUEST, "resource_type", "invalid_param",
                           "resource_type must be lead, contact or deal");
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    bool c = have_contacts(ctx->db);
    char vis[512], sql[2048], stmt[64], me[24], b[4][24];
    visible_sql(vis, sizeof vis, c, false);
    snprintf(sql, sizeof sql,
             "SELECT " NOTE_JSON " FROM notes WHERE %s AND ($2::bigint[] IS NULL OR id = ANY ($2)) "
             "AND ($3::bigint IS NULL OR creator_id = $3) AND ($4::text IS NULL OR resource_type = $4) "
             "AND ($5::bigint IS NULL OR resource_id = $5) "
             "AND ($6::text IS NULL OR strpos(lower(content), lower($6)) > 0) "
             "ORDER BY %s %s, id %s LIMIT $7 OFFSET $8",
             vis, note_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "notes_list_%d_%s_%d", c, note_sorts[sort], desc);
    const char *p[] = {sales_param(ctx, me),
                       ids,
                       crm_param_i64(b[0], r->has_creator_id, r->creator_id),
                       r->resource_type,
                       crm_param_i64(b[1], r->has_resource_id, r->resource_id),
                       r->q,
                       crm_param_i64(b[2], true, page.limit),
                       crm_param_i64(b[3], true, page.offset)};
    int rc = leads_json_list(ctx->db, stmt, sql, 8, p, &crm__note_list__descriptor, page.per_page, out, err);
    free(ids);
    return rc;
}

/* The resource pair of a create (required) or an update (optional, but both or neither). */
static int check_pair(const char *rtype, bool has_rid, int64_t rid, bool required, crm_err_t *err)
{
    if (!rtype && !has_rid && !required)
        return err->code; /* earlier field errors, if any */
    if (!rtype)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "missing", "resource_type is required");
    else if (!leads_resource_type_ok(rtype))
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type is not included in the list: lead, contact, deal");
    if (!has_rid)
        crm_err_add(err, CRM_EINVALID, "/resource_id", "missing", "resource_id is required");
    else if (rid <= 0)
        crm_err_add(err, CRM_EINVALID, "/resource_id", "incorrect_value",
                    "resource_id must be a positive id");
    return err->code;
}

static int note_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_extras_t *self = arg;
    const Crm__Note *n = (const void *)in;
    *out = NULL;
    if (leads_blank(n->content))
        crm_err_add(err, CRM_EINVALID, "/content", "missing", "content is required");
    if (check_pair(n->resource_type, n->has_resource_id, n->resource_id, true, err))
        return err->code;
    if (crm_db_begin(ctx->db, err))
        return err->code;
    char *tags = crm_param_text_array(n->tags, n->n_tags);
    char rid[24], creator[24];
    const char *p[] = {n->content,
                       n->resource_type,
                       crm_param_i64(rid, true, n->resource_id),
                       crm_param_bool(n->has_is_important, n->is_important),
                       tags,
                       crm_param_i64(creator, ctx->user_id > 0, ctx->user_id)};
    Crm__Note *note = NULL;
    PGresult *res = NULL;
    if (check_resource(ctx, n->resource_type, n->resource_id, err))
        goto fail;
    res =
        crm_db_exec(ctx->db, "notes_create",
                    "INSERT INTO notes (content, resource_type, resource_id, is_important, tags, creator_id) "
                    "VALUES ($1, $2, $3, COALESCE($4::boolean, false), $5, $6) RETURNING id",
                    6, p, err);
    if (!res)
        goto fail;
    int64_t id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (note_fetch(ctx, id, true, false, &note, err))
        goto fail;
    Crm__NoteEvent ev = CRM__NOTE_EVENT__INIT;
    ev.note = note;
    ev.has_changed_by = 1;
    ev.changed_by = ctx->user_id;
    char summary[256];
    snprintf(summary, sizeof summary, "Note: %s", n->content);
    if (crm_outbox_append(self->outbox, ctx->db, "note.created", ctx->correlation_id, &ev.base, err) ||
        add_timeline(ctx, n->resource_type, n->resource_id, "note", summary, err) ||
        crm_db_commit(ctx->db, err))
        goto fail;
    free(tags);
    crm_outbox_kick(self->outbox);
    crm_log_info(ctx->correlation_id, "note.created", "note_id=%lld resource=%s:%lld", (long long)id,
                 n->resource_type, (long long)n->resource_id);
    *out = &note->base;
    return CRM_OK;
fail:
    crm_db_rollback(ctx->db);
    free(tags);
    if (note)
        protobuf_c_message_free_unpacked(&note->base, NULL);
    return err->code;
}

/* note.updated / note.deleted and task.updated / task.deleted, in the caller's transaction (the
 * Sync API and the Firehose follow them); a deleted one carries only the id. */
static int emit_note(leads_extras_t *self, const crm_rpc_ctx_t *ctx, const char *type, Crm__Note *note,
                     crm_err_t *err)
{
    Crm__NoteEvent ev = CRM__NOTE_EVENT__INIT;
    ev.note = note;
    ev.has_changed_by = 1;
    ev.changed_by = ctx->user_id;
    return crm_outbox_append(self->outbox, ctx->db, type, ctx->correlation_id, &ev.base, err);
}

static int emit_task(leads_extras_t *self, const crm_rpc_ctx_t *ctx, const char *type, Crm__Task *task,
                     crm_err_t *err)
{
    Crm__TaskEvent ev = CRM__TASK_EVENT__INIT;
    ev.task = task;
    ev.has_changed_by = 1;
    ev.changed_by = ctx->user_id;
    return crm_outbox_append(self->outbox, ctx->db, type, ctx->correlation_id, &ev.base, err);
}

static int note_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_extras_t *self = arg;
    const Crm__Note *n = (const void *)in;
    *out = NULL;
    if (n->content && leads_blank(n->content))
        crm_err_add(err, CRM_EINVALID, "/content", "blank", "content must not be blank");
    if (check_pair(n->resource_type, n->has_resource_id, n->resource_id, false, err))
        return err->code;
    if (crm_db_begin(ctx->db, err))
        return err->code;
    Crm__Note *cur = NULL, *after = NULL;
    char *tags = n->n_tags ? crm_param_text_array(n->tags, n->n_tags) : NULL;
    char idb[24], rid[24];
    const char *p[] = {crm_param_i64(idb, true, n->id),
                       n->content,
                       crm_param_bool(n->has_is_important, n->is_important),
                       tags,
                       n->resource_type,
                       crm_param_i64(rid, n->has_resource_id, n->resource_id)};
    if (note_fetch(ctx, n->id, false, true, &cur, err) ||
        (n->resource_type && check_resource(ctx, n->resource_type, n->resource_id, err)) ||
        crm_db_run(
            ctx->db, "notes_update",
            "UPDATE notes SET content = COALESCE($2, content), is_important = COALESCE($3::boolean, "
            "is_important), tags = COALESCE($4::text[], tags), resource_type = COALESCE($5, resource_type), "
            "resource_id = COALESCE($6::bigint, resource_id), updated_at = now() WHERE id = $1",
            6, p, err) ||
        note_fetch(ctx, n->id, true, false, &after, err) ||
        emit_note(self, ctx, "note.updated", after, err) || crm_db_commit(ctx->db, err)) {
        crm_db_rollback(ctx->db);
        free(tags);
        if (cur)
            protobuf_c_message_free_unpacked(&cur->base, NULL);
        if (after)
            protobuf_c_message_free_unpacked(&after->base, NULL);
        return err->code;
    }
    free(tags);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    crm_outbox_kick(self->outbox);
    *out = &after->base;
    return CRM_OK;
}

/* DELETE of a note (task false) or task visible to the caller, with <kind>.deleted carrying only
 * the id in the same transaction. */
static int activity_delete(leads_extras_t *self, const crm_rpc_ctx_t *ctx, bool task, int64_t id,
                           crm_err_t *err)
{
    bool c = have_contacts(ctx->db);
    char vis[512], sql[1024], stmt[64], me[24], idb[24];
    visible_sql(vis, sizeof vis, c, task);
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = $2 AND %s RETURNING id", task ? "tasks" : "notes",
             vis);
    snprintf(stmt, sizeof stmt, "%s_delete_%d", task ? "tasks" : "notes", c);
    const char *p[] = {sales_param(ctx, me), crm_param_i64(idb, true, id)};
    if (crm_db_begin(ctx->db, err))
        return err->code;
    PGresult *res = crm_db_exec(ctx->db, stmt, sql, 2, p, err);
    int rows = res ? PQntuples(res) : 0;
    if (res)
        PQclear(res);
    Crm__Note note = CRM__NOTE__INIT;
    Crm__Task tk = CRM__TASK__INIT;
    note.has_id = tk.has_id = 1;
    note.id = tk.id = id;
    int rc = !res    ? err->code
             : !rows ? crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found",
                                   task ? "task" : "note", (long long)id)
             : task  ? emit_task(self, ctx, "task.deleted", &tk, err)
                     : emit_note(self, ctx, "note.deleted", &note, err);
    if (rc == CRM_OK && crm_db_commit(ctx->db, err) == CRM_OK) {
        crm_outbox_kick(self->outbox);
        return CRM_OK;
    }
    crm_db_rollback(ctx->db);
    return err->code;
}

static int note_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    *out = NULL;
    return activity_delete(arg, ctx, false, ((const Crm__ActivityIdRequest *)in)->id, err);
}

/* --- tasks ---------------------------------------------------------------------------------- */
#define TASK_JSON                                                                                            \
    "json_build_object('id', id, 'creator_id', creator_id, 'owner_id', owner_id, 'content', content, "       \
    "'resource_type', resource_type, 'resource_id', resource_id, 'due_date', " LEADS_TS(                     \
        "due_date") ", "                                                                                     \
                    "'remind_at', " LEADS_TS(                                                                \
                        "remind_at") ", 'completed', completed, "                                            \
                                     "'completed_at', " LEADS_TS(                                            \
                                         "completed_at") ", 'overdue', (NOT completed "                      \
                                                         "AND due_date IS NOT NULL "                         \
                                                         "AND due_date < now()), "                           \
                                                         "'created_at', " LEADS_TS(                          \
                                                             "created_at") ", "                              \
                                                                           "'updated_"                       \
                                                                           "at',"                            \
                                                                           " " LEADS_TS(                     \
                                                                               "updated_at") ")::text"

static int task_fetch(const crm_rpc_ctx_t *ctx, int64_t id, bool all, bool lock, Crm__Task **out,
                      crm_err_t *err)
{
    bool c = have_contacts(ctx->db);
    char vis[512], sql[2048], stmt[64], me[24], idb[24];
    visible_sql(vis, sizeof vis, c, true);
    snprintf(sql, sizeof sql, "SELECT " TASK_JSON " FROM tasks WHERE id = $2 AND %s%s", vis,
             lock ? " FOR UPDATE" : "");
    snprintf(stmt, sizeof stmt, "tasks_get_%d_%d", c, lock);
    const char *p[] = {all ? NULL : sales_param(ctx, me), crm_param_i64(idb, true, id)};
    return leads_json_one(ctx->db, stmt, sql, 2, p, &crm__task__descriptor, "task", id,
                          (ProtobufCMessage **)out, err);
}

static int task_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    return task_fetch(ctx, ((const Crm__ActivityIdRequest *)in)->id, false, false, (Crm__Task **)out, err);
}

static const char *const task_sorts[] = {"updated_at", "id", "created_at", "due_date", NULL};

static int task_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    const Crm__TaskListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, task_sorts, 0, false, &sort, &desc, err))
        return err->code;
    if (r->resource_type && !leads_resource_type_ok(r->resource_type))
        return crm_err_set(err, CRM_EBADREQUEST, "resource_type", "invalid_param",
                           "resource_type must be lead, contact or deal");
    if (r->type && strcmp(r->type, "floating") != 0 && strcmp(r->type, "related") != 0)
        return crm_err_set(err, CRM_EBADREQUEST, "type", "invalid_param", "type must be floating or related");
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    bool c = have_contacts(ctx->db);
    char vis[512], sql[3072], stmt[64], me[24], b[5][24];
    visible_sql(vis, sizeof vis, c, true);
    /* NULLS LAST on due_date ascending puts undated tasks after dated ones. */
    snprintf(
        sql, sizeof sql,
        "SELECT " TASK_JSON " FROM tasks WHERE %s AND ($2::bigint[] IS NULL OR id = ANY ($2)) "
        "AND ($3::bigint IS NULL OR creator_id = $3) AND ($4::bigint IS NULL OR owner_id = $4) "
        "AND ($5::text IS NULL OR resource_type = $5) AND ($6::bigint IS NULL OR resource_id = $6) "
        "AND ($7::boolean IS NULL OR completed = $7) "
        "AND ($8::boolean IS NULL OR (NOT completed AND due_date IS NOT NULL AND due_date < now()) = $8) "
        "AND ($9::boolean IS NULL OR (remind_at IS NOT NULL) = $9) "
        "AND ($10::text IS NULL OR strpos(lower(content), lower($10)) > 0) "
        "AND ($11::text IS NULL OR (resource_type IS NULL) = ($11 = 'floating')) "
        "ORDER BY %s %s, id %s LIMIT $12 OFFSET $13",
        vis, task_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "tasks_list_%d_%s_%d", c, task_sorts[sort], desc);
    const char *p[] = {sales_param(ctx, me),
                       ids,
                       crm_param_i64(b[0], r->has_creator_id, r->creator_id),
                       crm_param_i64(b[1], r->has_owner_id, r->owner_id),
                       r->resource_type,
                       crm_param_i64(b[2], r->has_resource_id, r->resource_id),
                       crm_param_bool(r->has_completed, r->completed),
                       crm_param_bool(r->has_overdue, r->overdue),
                       crm_param_bool(r->has_remind, r->remind),
                       r->q,
                       r->type,
                       crm_param_i64(b[3], true, page.limit),
                       crm_param_i64(b[4], true, page.offset)};
    int rc = leads_json_list(ctx->db, stmt, sql, 13, p, &crm__task_list__descriptor, page.per_page, out, err);
    free(ids);
    return rc;
}

static void check_dates(const Crm__Task *t, crm_err_t *err)
{
    if (t->due_date && !leads_iso_datetime_ok(t->due_date))
        crm_err_add(err, CRM_EINVALID, "/due_date", "invalid_type",
                    "due_date must be an ISO 8601 date-time such as 2017-06-04T18:28:53Z");
    if (t->remind_at && !leads_iso_datetime_ok(t->remind_at))
        crm_err_add(err, CRM_EINVALID, "/remind_at", "invalid_type",
                    "remind_at must be an ISO 8601 date-time such as 2017-06-04T18:28:53Z");
    if (t->has_owner_id && t->owner_id <= 0)
        crm_err_add(err, CRM_EINVALID, "/owner_id", "incorrect_value", "owner_id must be a user id");
}

static int task_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_extras_t *self = arg;
    const Crm__Task *t = (const void *)in;
    *out = NULL;
    if (leads_blank(t->content))
        crm_err_add(err, CRM_EINVALID, "/content", "missing", "content is required");
    check_dates(t, err);
    if (check_pair(t->resource_type, t->has_resource_id, t->resource_id, false, err))
        return err->code;
    /* The owner defaults to the creator (Sell: a floating task belongs to its owner). */
    bool has_owner = t->has_owner_id || ctx->user_id > 0;
    int64_t owner = t->has_owner_id ? t->owner_id : ctx->user_id;
    if (crm_db_begin(ctx->db, err))
        return err->code;
    char rid[24], creator[24], ob[24];
    const char *p[] = {t->content,
                       t->resource_type,
                       crm_param_i64(rid, t->has_resource_id, t->resource_id),
                       t->due_date,
                       t->remind_at,
                       crm_param_bool(t->has_completed, t->completed),
                       crm_param_i64(ob, has_owner, owner),
                       crm_param_i64(creator, ctx->user_id > 0, ctx->user_id)};
    Crm__Task *task = NULL;
    PGresult *res = NULL;
    if (t->resource_type && check_resource(ctx, t->resource_type, t->resource_id, err))
        goto fail;
    res = crm_db_exec(
        ctx->db, "tasks_create",
        "INSERT INTO tasks (content, resource_type, resource_id, due_date, remind_at, completed, "
        "completed_at, owner_id, creator_id) VALUES ($1, $2, $3, $4::timestamptz, $5::timestamptz, "
        "COALESCE($6::boolean, false), CASE WHEN $6::boolean THEN now() END, $7, $8) RETURNING id",
        8, p, err);
    if (!res)
        goto fail;
    int64_t id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (task_fetch(ctx, id, true, false, &task, err))
        goto fail;
    Crm__TaskEvent ev = CRM__TASK_EVENT__INIT;
    ev.task = task;
    ev.has_changed_by = 1;
    ev.changed_by = ctx->user_id;
    char summary[256];
    snprintf(summary, sizeof summary, "Task%s%s: %s", task->due_date ? " due " : "",
             task->due_date ? task->due_date : "", t->content);
    if (crm_outbox_append(self->outbox, ctx->db, "task.created", ctx->correlation_id, &ev.base, err) ||
        (t->resource_type && add_timeline(ctx, t->resource_type, t->resource_id, "task", summary, err)) ||
        crm_db_commit(ctx->db, err))
        goto fail;
    crm_outbox_kick(self->outbox);
    crm_log_info(ctx->correlation_id, "task.created", "task_id=%lld owner_id=%lld", (long long)id,
                 (long long)owner);
    *out = &task->base;
    return CRM_OK;
fail:
    crm_db_rollback(ctx->db);
    if (task)
        protobuf_c_message_free_unpacked(&task->base, NULL);
    return err->code;
}

static int task_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_extras_t *self = arg;
    const Crm__Task *t = (const void *)in;
    *out = NULL;
    if (t->content && leads_blank(t->content))
        crm_err_add(err, CRM_EINVALID, "/content", "blank", "content must not be blank");
    check_dates(t, err);
    if (check_pair(t->resource_type, t->has_resource_id, t->resource_id, false, err))
        return err->code;
    if (crm_db_begin(ctx->db, err))
        return err->code;
    Crm__Task *cur = NULL, *after = NULL;
    char idb[24], rid[24], ob[24];
    const char *p[] = {crm_param_i64(idb, true, t->id),
                       t->content,
                       crm_param_i64(ob, t->has_owner_id, t->owner_id),
                       t->due_date,
                       t->remind_at,
                       crm_param_bool(t->has_completed, t->completed),
                       t->resource_type,
                       crm_param_i64(rid, t->has_resource_id, t->resource_id)};
    /* completed_at: set when a task becomes completed, cleared when it is reopened. */
    if (task_fetch(ctx, t->id, false, true, &cur, err) ||
        (t->resource_type && check_resource(ctx, t->resource_type, t->resource_id, err)) ||
        crm_db_run(
            ctx->db, "tasks_update",
            "UPDATE tasks SET content = COALESCE($2, content), owner_id = COALESCE($3::bigint, owner_id), "
            "due_date = COALESCE($4::timestamptz, due_date), remind_at = COALESCE($5::timestamptz, "
            "remind_at), completed = COALESCE($6::boolean, completed), completed_at = CASE WHEN "
            "$6::boolean IS NULL THEN completed_at WHEN $6 AND NOT completed THEN now() WHEN $6 THEN "
            "completed_at END, resource_type = COALESCE($7, resource_type), resource_id = "
            "COALESCE($8::bigint, resource_id), updated_at = now() WHERE id = $1",
            8, p, err) ||
        task_fetch(ctx, t->id, true, false, &after, err) ||
        emit_task(self, ctx, "task.updated", after, err) || crm_db_commit(ctx->db, err)) {
        crm_db_rollback(ctx->db);
        if (cur)
            protobuf_c_message_free_unpacked(&cur->base, NULL);
        if (after)
            protobuf_c_message_free_unpacked(&after->base, NULL);
        return err->code;
    }
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    crm_outbox_kick(self->outbox);
    *out = &after->base;
    return CRM_OK;
}

static int task_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    *out = NULL;
    return activity_delete(arg, ctx, true, ((const Crm__ActivityIdRequest *)in)->id, err);
}

void leads_notes_register(crm_rpc_server_t *rpc, leads_extras_t *self)
{
    crm_rpc_server_handle(rpc, "notes.list", &crm__note_list_request__descriptor, note_list, self);
    crm_rpc_server_handle(rpc, "notes.get", &crm__activity_id_request__descriptor, note_get, self);
    crm_rpc_server_handle(rpc, "notes.create", &crm__note__descriptor, note_create, self);
    crm_rpc_server_handle(rpc, "notes.update", &crm__note__descriptor, note_update, self);
    crm_rpc_server_handle(rpc, "notes.delete", &crm__activity_id_request__descriptor, note_delete, self);
    crm_rpc_server_handle(rpc, "tasks.list", &crm__task_list_request__descriptor, task_list, self);
    crm_rpc_server_handle(rpc, "tasks.get", &crm__activity_id_request__descriptor, task_get, self);
    crm_rpc_server_handle(rpc, "tasks.create", &crm__task__descriptor, task_create, self);
    crm_rpc_server_handle(rpc, "tasks.update", &crm__task__descriptor, task_update, self);
    crm_rpc_server_handle(rpc, "tasks.delete", &crm__activity_id_request__descriptor, task_delete, self);
}

/* --- shared with the other activity kinds (calls.c) ------------------------------------------ */
int leads_activity_pair_check(const char *rtype, bool has_rid, int64_t rid, bool required, crm_err_t *err)
{
    return check_pair(rtype, has_rid, rid, required, err);
}

int leads_activity_resource_check(const crm_rpc_ctx_t *ctx, const char *rtype, int64_t rid, crm_err_t *err)
{
    return check_resource(ctx, rtype, rid, err);
}

int leads_activity_timeline(const crm_rpc_ctx_t *ctx, const char *rtype, int64_t id, const char *kind,
                            const char *text, crm_err_t *err)
{
    return add_timeline(ctx, rtype, id, kind, text, err);
}

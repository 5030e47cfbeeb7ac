/* crm-leads calls (issue 9, SELL_API.md §6.17–§6.20): /v2/calls CRUD on leads, contacts and
 * deals, the seeded /v2/call_outcomes and /v2/visit_outcomes, the read-only /v2/text_messages and
 * /v2/visits, and the industry lists of leads and contacts.
 *
 * Visibility for a sales caller, as notes (notes.c): a call is visible when the caller made it
 * (user_id) or logged it (creator_id), or when it hangs on a lead or contact the caller owns; a
 * text message when it is the caller's (user_id) or on an owned lead or contact; a visit when
 * the caller made it (creator_id) or it is on an owned lead or contact. Invisible records answer
 * 404. Admins and managers see all.
 *
 * A call create writes, in one transaction, the row, a call.created event and a timeline row
 * (kind "call") on the lead or contact; update and delete write call.updated / call.deleted. */
#include "extras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.pb-c.h"
#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

/* The visibility condition on $1 (the sales caller's id, or NULL for everyone); mine is the
 * condition on the record's own user columns. */
static void visible(char *buf, size_t cap, const char *mine)
{
    snprintf(buf, cap,
             "($1::bigint IS NULL OR %s OR (resource_type = 'lead' AND resource_id IN (SELECT id FROM leads "
             "WHERE owner_id = $1)) OR (resource_type = 'contact' AND resource_id IN (SELECT id FROM "
             "contacts WHERE owner_id = $1)))",
             mine);
}

static const char *sales_param(const crm_rpc_ctx_t *ctx, char buf[24])
{
    return crm_param_i64(buf, leads_is_sales(ctx), ctx->user_id);
}

/* A list's resource_type and resource_id filters: a known type, and both or neither when
 * together is set (text messages, visits). */
static int resource_filter(const char *rtype, bool has_rid, bool together, crm_err_t *err)
{
    if (rtype && !leads_resource_type_ok(rtype))
        return crm_err_set(err, CRM_EBADREQUEST, "resource_type", "invalid_param",
                           "resource_type must be lead, contact or deal");
    if (together && !rtype != !has_rid)
        return crm_err_set(err, CRM_EBADREQUEST, rtype ? "resource_id" : "resource_type", "invalid_param",
                           "resource_type and resource_id go together");
    return CRM_OK;
}

/* --- calls ---------------------------------------------------------------------------------- */
#define CALL_JSON                                                                                            \
    "json_build_object('id', id, 'user_id', user_id, 'summary', summary, 'recording_url', recording_url, "   \
    "'outcome_id', outcome_id, 'duration', duration, 'phone_number', phone_number, 'incoming', incoming, "   \
    "'missed', missed, 'external_id', external_id, 'resource_type', resource_type, 'resource_id', "          \
    "resource_id, 'associated_deal_ids', to_json(associated_deal_ids), 'made_at', " LEADS_TS(                \
        "made_at") ", 'creator_id', creator_id, 'created_at', " LEADS_TS("created_at") ", "                  \
                                                                                       "'updated_at',"       \
                                                                                       " " LEADS_TS("update" \
                                                                                                    "d_at") ")::text"
#define CALL_MINE "user_id = $1 OR creator_id = $1"

static int call_fetch(const crm_rpc_ctx_t *ctx, int64_t id, bool all, bool lock, Crm__Call **out,
                      crm_err_t *err)
{
    char vis[512], sql[2048], me[24], idb[24];
    visible(vis, sizeof vis, CALL_MINE);
    snprintf(sql, sizeof sql, "SELECT " CALL_JSON " FROM calls WHERE id = $2 AND %s%s", vis,
             lock ? " FOR UPDATE" : "");
    const char *p[] = {all ? NULL : sales_param(ctx, me), crm_param_i64(idb, true, id)};
    return leads_json_one(ctx->db, lock ? "calls_get_lock" : "calls_get", sql, 2, p, &crm__call__descriptor,
                          "call", id, (ProtobufCMessage **)out, err);
}

static int call_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    return call_fetch(ctx, ((const Crm__ActivityIdRequest *)in)->id, false, false, (Crm__Call **)out, err);
}

static const char *const call_sorts[] = {"id", "made_at", "created_at", "updated_at", "duration", NULL};

static int call_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    const Crm__CallListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, call_sorts, 0, false, &sort, &desc, err) ||
        resource_filter(r->resource_type, r->has_resource_id, false, err))
        return err->code;
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    char vis[512], sql[4096], stmt[64], me[24], b[7][24];
    visible(vis, sizeof vis, CALL_MINE);
    snprintf(sql, sizeof sql,
             "SELECT " CALL_JSON " FROM calls WHERE %s AND ($2::bigint[] IS NULL OR id = ANY ($2)) "
             "AND ($3::bigint IS NULL OR user_id = $3) AND ($4::bigint IS NULL OR outcome_id = $4) "
             "AND ($5::text IS NULL OR resource_type = $5) AND ($6::bigint IS NULL OR resource_id = $6) "
             "AND ($7::boolean IS NULL OR incoming = $7) AND ($8::boolean IS NULL OR missed = $8) "
             "AND ($9::text IS NULL OR phone_number = $9) AND ($10::text IS NULL OR external_id = $10) "
             "AND ($11::bigint IS NULL OR creator_id = $11) "
             "ORDER BY %s %s NULLS LAST, id %s LIMIT $12 OFFSET $13",
             vis, call_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "calls_list_%s_%d", call_sorts[sort], desc);
    const char *p[] = {sales_param(ctx, me),
                       ids,
                       crm_param_i64(b[0], r->has_user_id, r->user_id),
                       crm_param_i64(b[1], r->has_outcome_id, r->outcome_id),
                       r->resource_type,
                       crm_param_i64(b[2], r->has_resource_id, r->resource_id),
                       crm_param_bool(r->has_incoming, r->incoming),
                       crm_param_bool(r->has_missed, r->missed),
                       r->phone_number,
                       r->external_id,
                       crm_param_i64(b[3], r->has_creator_id, r->creator_id),
                       crm_param_i64(b[4], true, page.limit),
                       crm_param_i64(b[5], true, page.offset)};
    int rc = leads_json_list(ctx->db, stmt, sql, 13, p, &crm__call_list__descriptor, page.per_page, out, err);
    free(ids);
    return rc;
}

/* The writable attributes of a call, in the order of the UPDATE below. */
static const char *const call_attrs[] = {
    "user_id",  "summary", "recording_url", "outcome_id",    "duration",    "phone_number",
    "incoming", "missed",  "external_id",   "resource_type", "resource_id", "associated_deal_ids",
    "made_at",  NULL};

/* True when a PUT sent attribute a (its update_mask; without one: the field is set). */
static bool call_sent(const Crm__Call *c, const char *a)
{
    if (c->n_update_mask > 0) {
        for (size_t i = 0; i < c->n_update_mask; i++)
            if (strcmp(c->update_mask[i], a) == 0)
                return true;
        return false;
    }
    const ProtobufCFieldDescriptor *f = crm_pbjson_field(&crm__call__descriptor, a);
    if (!f)
        return false;
    const char *base = (const char *)c;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(base + f->quantifier_offset) > 0;
    if (f->type == PROTOBUF_C_TYPE_STRING)
        return *(char *const *)(base + f->offset) != NULL;
    return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

static bool url_ok(const char *s)
{
    return strncmp(s, "http://", 7) == 0 ? s[7] != '\0' : strncmp(s, "https://", 8) == 0 && s[8] != '\0';
}

/* Field checks shared by create and update (values that are set). */
static void call_check(const Crm__Call *c, crm_err_t *err)
{
    if (c->has_user_id && c->user_id <= 0)
        crm_err_add(err, CRM_EINVALID, "/user_id", "incorrect_value", "user_id must be a user id");
    if (c->has_duration && c->duration < 0)
        crm_err_add(err, CRM_EINVALID, "/duration", "incorrect_value", "duration must be 0 or more seconds");
    if (c->has_outcome_id && c->outcome_id <= 0)
        crm_err_add(err, CRM_EINVALID, "/outcome_id", "incorrect_value",
                    "outcome_id must be a call outcome id");
    if (c->recording_url && !url_ok(c->recording_url))
        crm_err_add(err, CRM_EINVALID, "/recording_url", "incorrect_value",
                    "recording_url must be an http:// or https:// URL");
    if (c->made_at && !leads_iso_datetime_ok(c->made_at))
        crm_err_add(err, CRM_EINVALID, "/made_at", "invalid_type",
                    "made_at must be an ISO 8601 date-time such as 2017-06-04T18:28:53Z");
    for (size_t i = 0; i < c->n_associated_deal_ids; i++)
        if (c->associated_deal_ids[i] <= 0) {
            crm_err_add(err, CRM_EINVALID, "/associated_deal_ids", "incorrect_value",
                        "associated_deal_ids must be deal ids");
            break;
        }
}

/* The outcome must exist (in the transaction). */
static int outcome_check(const crm_rpc_ctx_t *ctx, const Crm__Call *c, crm_err_t *err)
{
    if (!c->has_outcome_id)
        return CRM_OK;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, c->outcome_id)};
    PGresult *res =
        crm_db_exec(ctx->db, "calls_outcome_exists", "SELECT 1 FROM call_outcomes WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    PQclear(res);
    return n ? CRM_OK
             : crm_err_set(err, CRM_EINVALID, "/outcome_id", "incorrect_value", "call outcome %lld not found",
                           (long long)c->outcome_id);
}

/* The parameters $2.. of an insert or update, in call_attrs order; ids is freed by the caller. */
static void call_params(const Crm__Call *c, char b[4][24], char **ids, const char **p)
{
    *ids = NULL;
    if (c->n_associated_deal_ids > 0) {
        size_t cap = c->n_associated_deal_ids * 21 + 3, len = 0;
        *ids = malloc(cap);
        len += (size_t)snprintf(*ids + len, cap - len, "{");
        for (size_t i = 0; i < c->n_associated_deal_ids; i++)
            len += (size_t)snprintf(*ids + len, cap - len, "%s%lld", i ? "," : "",
                                    (long long)c->associated_deal_ids[i]);
        snprintf(*ids + len, cap - len, "}");
    }
    p[0] = crm_param_i64(b[0], c->has_user_id, c->user_id);
    p[1] = c->summary;
    p[2] = c->recording_url;
    p[3] = crm_param_i64(b[1], c->has_outcome_id, c->outcome_id);
    p[4] = crm_param_i64(b[2], c->has_duration, c->duration);
    p[5] = c->phone_number;
    p[6] = crm_param_bool(c->has_incoming, c->incoming);
    p[7] = crm_param_bool(c->has_missed, c->missed);
    p[8] = c->external_id;
    p[9] = c->resource_type;
    p[10] = crm_param_i64(b[3], c->has_resource_id, c->resource_id);
    p[11] = *ids ? *ids : "{}";
    p[12] = c->made_at;
}

static int call_emit(leads_extras_t *self, const crm_rpc_ctx_t *ctx, const char *type, Crm__Call *call,
                     crm_err_t *err)
{
    Crm__CallEvent ev = CRM__CALL_EVENT__INIT;
    ev.call = call;
    ev.has_changed_by = 1;
    ev.changed_by = ctx->user_id;
    return crm_outbox_append(self->outbox, ctx->db, type, ctx->correlation_id, &ev.base, err);
}

static int call_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_extras_t *self = arg;
    Crm__Call *c = (Crm__Call *)in;
    *out = NULL;
    call_check(c, err);
    if (leads_activity_pair_check(c->resource_type, c->has_resource_id, c->resource_id, true, err))
        return err->code;
    if (!c->has_user_id && ctx->user_id > 0) { /* the caller made the call unless told otherwise */
        c->has_user_id = 1;
        c->user_id = ctx->user_id;
    }
    char b[4][24], creator[24], *ids = NULL;
    const char *p[14];
    call_params(c, b, &ids, p);
    p[13] = crm_param_i64(creator, ctx->user_id > 0, ctx->user_id);
    Crm__Call *call = NULL;
    PGresult *res = NULL;
    if (crm_db_begin(ctx->db, err)) {
        free(ids);
        return err->code;
    }
    if (leads_activity_resource_check(ctx, c->resource_type, c->resource_id, err) ||
        outcome_check(ctx, c, err))
        goto fail;
    res = crm_db_exec(
        ctx->db, "calls_create",
        "INSERT INTO calls (user_id, summary, recording_url, outcome_id, duration, phone_number, "
        "incoming, missed, external_id, resource_type, resource_id, associated_deal_ids, made_at, "
        "creator_id) VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::boolean, false), "
        "COALESCE($8::boolean, false), $9, $10, $11, COALESCE($12::bigint[], '{}'), "
        "COALESCE($13::timestamptz, now()), $14) RETURNING id",
        14, p, err);
    if (!res)
        goto fail;
    int64_t id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (call_fetch(ctx, id, true, false, &call, err))
        goto fail;
    char summary[256];
    snprintf(summary, sizeof summary, "%s call%s%s%s%s", call->incoming ? "Incoming" : "Outgoing",
             call->missed ? " (missed)" : "", call->phone_number ? " " : "",
             call->phone_number ? call->phone_number : "", call->summary ? ": " : "");
    size_t n = strlen(summary);
    if (call->summary && n < sizeof summary - 1)
        snprintf(summary + n, sizeof summary - n, "%s", call->summary);
    if (call_emit(self, ctx, "call.created", call, err) ||
        leads_activity_timeline(ctx, call->resource_type, call->resource_id, "call", summary, err) ||
        crm_db_commit(ctx->db, err))
        goto fail;
    free(ids);
    crm_outbox_kick(self->outbox);
    crm_log_info(ctx->correlation_id, "call.created", "call_id=%lld resource=%s:%lld", (long long)id,
                 call->resource_type, (long long)call->resource_id);
    *out = &call->base;
    return CRM_OK;
fail:
    crm_db_rollback(ctx->db);
    free(ids);
    if (call)
        protobuf_c_message_free_unpacked(&call->base, NULL);
    return err->code;
}

static int call_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_extras_t *self = arg;
    const Crm__Call *c = (const void *)in;
    *out = NULL;
    call_check(c, err);
    bool rt = call_sent(c, "resource_type"), ri = call_sent(c, "resource_id");
    if ((rt || ri) &&
        leads_activity_pair_check(c->resource_type, c->has_resource_id, c->resource_id, true, err))
        return err->code;
    if (err->code)
        return err->code;
    /* The mask of the attributes this PUT changes (null ones included). */
    char *sent[16];
    size_t ns = 0;
    for (size_t i = 0; call_attrs[i]; i++)
        if (call_sent(c, call_attrs[i]))
            sent[ns++] = (char *)call_attrs[i];
    char *mask = crm_param_text_array(sent, ns);
    char b[4][24], idb[24], *ids = NULL;
    const char *p[15];
    call_params(c, b, &ids, p);
    p[13] = crm_param_i64(idb, true, c->id);
    p[14] = mask;
    Crm__Call *cur = NULL, *call = NULL;
    if (crm_db_begin(ctx->db, err)) {
        free(ids);
        free(mask);
        return err->code;
    }
    if (call_fetch(ctx, c->id, false, true, &cur, err) ||
        (rt && leads_activity_resource_check(ctx, c->resource_type, c->resource_id, err)) ||
        outcome_check(ctx, c, err))
        goto fail;
#define SET(col, expr) col " = CASE WHEN '" col "' = ANY ($15) THEN " expr " ELSE " col " END, "
    if (crm_db_run(
            ctx->db, "calls_update",
            "UPDATE calls SET " SET("user_id", "$1::bigint") SET("summary", "$2") SET("recording_url", "$3")
                SET("outcome_id", "$4::bigint") SET("duration", "$5::integer") SET("phone_number", "$6") SET(
                    "incoming", "COALESCE($7::boolean, false)") SET("missed", "COALESCE($8::boolean, false)")
                    SET("external_id", "$9") SET("resource_type", "$10") SET("resource_id", "$11::bigint")
                        SET("associated_deal_ids", "COALESCE($12::bigint[], '{}')")
                            SET("made_at",
                                "COALESCE($13::timestamptz, made_at)") "updated_at = now() WHERE id = $14",
            15, p, err) ||
        call_fetch(ctx, c->id, true, false, &call, err) || call_emit(self, ctx, "call.updated", call, err) ||
        crm_db_commit(ctx->db, err))
        goto fail;
#undef SET
    free(ids);
    free(mask);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    crm_outbox_kick(self->outbox);
    *out = &call->base;
    return CRM_OK;
fail:
    crm_db_rollback(ctx->db);
    free(ids);
    free(mask);
    if (cur)
        protobuf_c_message_free_unpacked(&cur->base, NULL);
    if (call)
        protobuf_c_message_free_unpacked(&call->base, NULL);
    return err->code;
}

static int call_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_extras_t *self = arg;
    *out = NULL;
    int64_t id = ((const Crm__ActivityIdRequest *)in)->id;
    Crm__Call *cur = NULL;
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, id)};
    if (crm_db_begin(ctx->db, err))
        return err->code;
    if (call_fetch(ctx, id, false, true, &cur, err) ||
        crm_db_run(ctx->db, "calls_delete", "DELETE FROM calls WHERE id = $1", 1, p, err) ||
        call_emit(self, ctx, "call.deleted", cur, err) || crm_db_commit(ctx->db, err)) {
        crm_db_rollback(ctx->db);
        if (cur)
            protobuf_c_message_free_unpacked(&cur->base, NULL);
        return err->code;
    }
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    crm_outbox_kick(self->outbox);
    return CRM_OK;
}

/* --- call and visit outcomes ------------------------------------------------------------------- */
#define OUTCOME_JSON                                                                                         \
    "json_build_object('id', id, 'name', name, 'creator_id', creator_id, 'created_at', " LEADS_TS(           \
        "created_at") ", 'updated_at', " LEADS_TS("updated_at") ")::text"

static const char *const outcome_sorts[] = {"id", "name", "created_at", "updated_at", NULL};

/* arg is the table: "call_outcomes" or "visit_outcomes". */
static int outcome_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                        ProtobufCMessage **out, crm_err_t *err)
{
    const char *table = arg;
    const Crm__OutcomeListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, outcome_sorts, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    char sql[1024], stmt[64], b[2][24];
    snprintf(sql, sizeof sql,
             "SELECT " OUTCOME_JSON " FROM %s WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) "
             "AND ($2::text IS NULL OR name = $2) ORDER BY %s %s, id %s LIMIT $3 OFFSET $4",
             table, outcome_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "%s_list_%s_%d", table, outcome_sorts[sort], desc);
    const char *p[] = {ids, r->name, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    int rc =
        leads_json_list(ctx->db, stmt, sql, 4, p, &crm__outcome_list__descriptor, page.per_page, out, err);
    free(ids);
    return rc;
}

static int outcome_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    const char *table = arg;
    int64_t id = ((const Crm__ActivityIdRequest *)in)->id;
    char sql[512], stmt[64], idb[24];
    snprintf(sql, sizeof sql, "SELECT " OUTCOME_JSON " FROM %s WHERE id = $1", table);
    snprintf(stmt, sizeof stmt, "%s_get", table);
    const char *p[] = {crm_param_i64(idb, true, id)};
    return leads_json_one(ctx->db, stmt, sql, 1, p, &crm__outcome__descriptor,
                          strcmp(table, "call_outcomes") == 0 ? "call outcome" : "visit outcome", id, out,
                          err);
}

/* --- text messages ------------------------------------------------------------------------------ */
#define TEXT_JSON                                                                                            \
    "json_build_object('id', id, 'user_id', user_id, 'user_phone_number', user_phone_number, 'content', "    \
    "content, 'incoming', incoming, 'resource_type', resource_type, 'resource_id', resource_id, "            \
    "'resource_phone_number', resource_phone_number, 'associated_deal_ids', to_json(associated_deal_ids), "  \
    "'sent_at', " LEADS_TS("sent_at") ", 'created_at', " LEADS_TS("created_at") ", 'updated_at', " LEADS_TS( \
        "updated_at") ")::text"

static int text_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    int64_t id = ((const Crm__ActivityIdRequest *)in)->id;
    char vis[512], sql[1536], me[24], idb[24];
    visible(vis, sizeof vis, "user_id = $1");
    snprintf(sql, sizeof sql, "SELECT " TEXT_JSON " FROM text_messages WHERE id = $2 AND %s", vis);
    const char *p[] = {sales_param(ctx, me), crm_param_i64(idb, true, id)};
    return leads_json_one(ctx->db, "text_messages_get", sql, 2, p, &crm__text_message__descriptor,
                          "text message", id, out, err);
}

static const char *const text_sorts[] = {"id", "sent_at", "created_at", "updated_at", NULL};

static int text_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    const Crm__TextMessageListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    /* Sell's default order of text messages is id:desc; "field" alone sorts ascending. */
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, text_sorts, 0, r->sort_by == NULL, &sort, &desc, err) ||
        resource_filter(r->resource_type, r->has_resource_id, true, err))
        return err->code;
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    char vis[512], sql[2048], stmt[64], me[24], b[3][24];
    visible(vis, sizeof vis, "user_id = $1");
    snprintf(sql, sizeof sql,
             "SELECT " TEXT_JSON " FROM text_messages WHERE %s AND ($2::bigint[] IS NULL OR id = ANY ($2)) "
             "AND ($3::text IS NULL OR resource_type = $3) AND ($4::bigint IS NULL OR resource_id = $4) "
             "ORDER BY %s %s, id %s LIMIT $5 OFFSET $6",
             vis, text_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "text_messages_list_%s_%d", text_sorts[sort], desc);
    const char *p[] = {sales_param(ctx, me),
                       ids,
                       r->resource_type,
                       crm_param_i64(b[0], r->has_resource_id, r->resource_id),
                       crm_param_i64(b[1], true, page.limit),
                       crm_param_i64(b[2], true, page.offset)};
    int rc = leads_json_list(ctx->db, stmt, sql, 6, p, &crm__text_message_list__descriptor, page.per_page,
                             out, err);
    free(ids);
    return rc;
}

/* --- visits ------------------------------------------------------------------------------------- */
#define VISIT_JSON                                                                                           \
    "json_build_object('id', id, 'creator_id', creator_id, 'outcome_id', outcome_id, 'resource_type', "      \
    "resource_type, 'resource_id', resource_id, 'visited_at', " LEADS_TS(                                    \
        "visited_at") ", 'resource_address', resource_address, 'rep_location_verification_status', "         \
                      "rep_location_verification_status, 'summary', summary, 'created_at', " LEADS_TS(       \
                          "created_at") ", 'updated_at', " LEADS_TS("updated_at") ")::text"

static int visit_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    int64_t id = ((const Crm__ActivityIdRequest *)in)->id;
    char vis[512], sql[1536], me[24], idb[24];
    visible(vis, sizeof vis, "creator_id = $1");
    snprintf(sql, sizeof sql, "SELECT " VISIT_JSON " FROM visits WHERE id = $2 AND %s", vis);
    const char *p[] = {sales_param(ctx, me), crm_param_i64(idb, true, id)};
    return leads_json_one(ctx->db, "visits_get", sql, 2, p, &crm__visit__descriptor, "visit", id, out, err);
}

static const char *const visit_sorts[] = {"id", "visited_at", "created_at", "updated_at", NULL};

static int visit_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    const Crm__VisitListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, visit_sorts, 0, false, &sort, &desc, err) ||
        resource_filter(r->resource_type, r->has_resource_id, true, err))
        return err->code;
    char *ids = NULL;
    if (r->ids && !(ids = crm_param_ids(r->ids, "ids", err)))
        return err->code;
    char vis[512], sql[2048], stmt[64], me[24], b[5][24];
    visible(vis, sizeof vis, "creator_id = $1");
    snprintf(sql, sizeof sql,
             "SELECT " VISIT_JSON " FROM visits WHERE %s AND ($2::bigint[] IS NULL OR id = ANY ($2)) "
             "AND ($3::bigint IS NULL OR outcome_id = $3) AND ($4::bigint IS NULL OR creator_id = $4) "
             "AND ($5::text IS NULL OR resource_type = $5) AND ($6::bigint IS NULL OR resource_id = $6) "
             "AND ($7::text IS NULL OR rep_location_verification_status = $7) "
             "ORDER BY %s %s, id %s LIMIT $8 OFFSET $9",
             vis, visit_sorts[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    snprintf(stmt, sizeof stmt, "visits_list_%s_%d", visit_sorts[sort], desc);
    const char *p[] = {sales_param(ctx, me),
                       ids,
                       crm_param_i64(b[0], r->has_outcome_id, r->outcome_id),
                       crm_param_i64(b[1], r->has_creator_id, r->creator_id),
                       r->resource_type,
                       crm_param_i64(b[2], r->has_resource_id, r->resource_id),
                       r->rep_location_verification_status,
                       crm_param_i64(b[3], true, page.limit),
                       crm_param_i64(b[4], true, page.offset)};
    int rc = leads_json_list(ctx->db, stmt, sql, 9, p, &crm__visit_list__descriptor, page.per_page, out, err);
    free(ids);
    return rc;
}

/* --- industries --------------------------------------------------------------------------------- */
static int industry_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    static const char *const sorts[] = {"name", NULL};
    const Crm__IndustryListRequest *r = (const void *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(r->has_page, r->page, r->has_per_page, r->per_page, &page, err) ||
        crm_sort_parse(r->sort_by, sorts, 0, false, &sort, &desc, err))
        return err->code;
    char b[2][24];
    const char *p[] = {r->name, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    return leads_json_list(
        ctx->db, desc ? "industries_list_desc" : "industries_list_asc",
        desc ? "SELECT json_build_object('name', name)::text FROM industries WHERE ($1::text IS "
               "NULL OR name = $1) ORDER BY name DESC LIMIT $2 OFFSET $3"
             : "SELECT json_build_object('name', name)::text FROM industries WHERE ($1::text IS "
               "NULL OR name = $1) ORDER BY name ASC LIMIT $2 OFFSET $3",
        3, p, &crm__industry_list__descriptor, page.per_page, out, err);
}

void leads_calls_register(crm_rpc_server_t *rpc, leads_extras_t *self)
{
    crm_rpc_server_handle(rpc, "calls.list", &crm__call_list_request__descriptor, call_list, self);
    crm_rpc_server_handle(rpc, "calls.get", &crm__activity_id_request__descriptor, call_get, self);
    crm_rpc_server_handle(rpc, "calls.create", &crm__call__descriptor, call_create, self);
    crm_rpc_server_handle(rpc, "calls.update", &crm__call__descriptor, call_update, self);
    crm_rpc_server_handle(rpc, "calls.delete", &crm__activity_id_request__descriptor, call_delete, self);
    crm_rpc_server_handle(rpc, "call_outcomes.list", &crm__outcome_list_request__descriptor, outcome_list,
                          (void *)"call_outcomes");
    crm_rpc_server_handle(rpc, "call_outcomes.get", &crm__activity_id_request__descriptor, outcome_get,
                          (void *)"call_outcomes");
    crm_rpc_server_handle(rpc, "visit_outcomes.list", &crm__outcome_list_request__descriptor, outcome_list,
                          (void *)"visit_outcomes");
    crm_rpc_server_handle(rpc, "visit_outcomes.get", &crm__activity_id_request__descriptor, outcome_get,
                          (void *)"visit_outcomes");
    crm_rpc_server_handle(rpc, "text_messages.list", &crm__text_message_list_request__descriptor, text_list,
                          NULL);
    crm_rpc_server_handle(rpc, "text_messages.get", &crm__activity_id_request__descriptor, text_get, NULL);
    crm_rpc_server_handle(rpc, "visits.list", &crm__visit_list_request__descriptor, visit_list, NULL);
    crm_rpc_server_handle(rpc, "visits.get", &crm__activity_id_request__descriptor, visit_get, NULL);
    crm_rpc_server_handle(rpc, "industries.lead.list", &crm__industry_list_request__descriptor, industry_list,
                          NULL);
    crm_rpc_server_handle(rpc, "industries.contact.list", &crm__industry_list_request__descriptor,
                          industry_list, NULL);
}

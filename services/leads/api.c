/* crm-leads /v2 handlers for leads, contacts, lead statuses and timelines. Each mutation runs in
 * one transaction with its timeline rows and its events (outbox). Visibility (DESIGN §7, H1): a
 * sales caller sees and changes only the records it owns (404 otherwise); admins, managers and
 * the system see all. */
#include "leads.h"

#include "extras.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"

static bool restricted(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "sales") == 0;
}

/* ---- configuration -------------------------------------------------------------------------- */

static const char *const default_statuses[] = {"New", "Working", "Unqualified", "Converted"};

int leads_config(leads_t *self, crm_err_t *err)
{
    const crm_config_t *cfg = self->daemon->config;
    size_t n = crm_config_len(cfg, "leads.statuses");
    self->nstatuses = 0;
    for (size_t i = 0; i < (n ? n : 4); i++) {
        const char *name = n ? crm_config_list_str(cfg, "leads.statuses", i) : default_statuses[i];
        if (!name || !*name || self->nstatuses >= LEADS_MAX_STATUSES)
            return crm_err_set(err, CRM_EINVALID, "leads.statuses", NULL, "leads.statuses: bad element %zu",
                               i);
        leads_status_t *s = &self->statuses[self->nstatuses++];
        s->name = name;
        s->nrequired = 0;
        char path[256];
        snprintf(path, sizeof path, "leads.status_rules.%s.required", name);
        size_t nr = crm_config_len(cfg, path);
        for (size_t k = 0; k < nr && k < LEADS_MAX_REQUIRED; k++) {
            const char *f = crm_config_list_str(cfg, path, k);
            if (!f || !crm_pbjson_field(&crm__lead__descriptor, f))
                return crm_err_set(err, CRM_EINVALID, path, NULL, "%s: '%s' is not a lead attribute", path,
                                   f ? f : "");
            s->required[s->nrequired++] = f;
        }
    }
    if (!leads_status_find(self, "Converted") && self->nstatuses < LEADS_MAX_STATUSES)
        self->statuses[self->nstatuses++] = (leads_status_t){.name = "Converted"};
    leads_store_set_default_status(self->statuses[0].name);
    self->deals_timeout_ms = (int)crm_config_int(cfg, "leads.conversion_deal_timeout_ms", 2000);
    return CRM_OK;
}

const leads_status_t *leads_status_find(const leads_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->nstatuses; i++)
        if (strcmp(self->statuses[i].name, name) == 0)
            return &self->statuses[i];
    return NULL;
}

char *leads_phone_e164(const char *phone)
{
    if (!phone)
        return NULL;
    while (isspace((unsigned char)*phone))
        phone++;
    if (*phone != '+')
        return NULL;
    char *out = malloc(strlen(phone) + 1);
    size_t n = 0;
    out[n++] = '+';
    for (const char *p = phone + 1; *p; p++)
        if (isdigit((unsigned char)*p))
            out[n++] = *p;
    out[n] = '\0';
    if (n < 8 || n > 16) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- events --------------------------------------------------------------------------------- */

/* lead.created / lead.updated; assign_pool_id > 0 asks crm-assign to pick the owner from that pool. */
static int emit_lead(leads_t *self, crm_db_t *tx, const char *type, const char *corr, const Crm__Lead *lead,
                     int64_t previous_owner_id, int64_t changed_by, int64_t assignment_id,
                     int64_t delivery_id, const char *source, int64_t assign_pool_id, crm_err_t *err)
{
    Crm__LeadEvent ev = CRM__LEAD_EVENT__INIT;
    ev.lead = (Crm__Lead *)lead;
    ev.has_capture_delivery_id = delivery_id > 0;
    ev.capture_delivery_id = delivery_id;
    ev.source_name = (char *)source;
    ev.has_previous_owner_id = previous_owner_id > 0;
    ev.previous_owner_id = previous_owner_id;
    ev.has_changed_by = 1;
    ev.changed_by = changed_by;
    ev.has_assignment_id = assignment_id > 0;
    ev.assignment_id = assignment_id;
    ev.has_assign_pool_id = assign_pool_id > 0;
    ev.assign_pool_id = assign_pool_id;
    return crm_outbox_append(self->daemon->outbox, tx, type, corr, &ev.base, err);
}

int leads_emit_lead(leads_t *self, crm_db_t *tx, const char *type, const char *corr, const Crm__Lead *lead,
                    int64_t previous_owner_id, int64_t changed_by, int64_t assignment_id, int64_t delivery_id,
                    const char *source, crm_err_t *err)
{
    return emit_lead(self, tx, type, corr, lead, previous_owner_id, changed_by, assignment_id, delivery_id,
                     source, 0, err);
}

/* owner_id "pool:{id}" arrives as assign_pool_id (the gateway checked the pool serves this record
 * type): a positive id, and not together with an owner_id. Returns the pool (0: none). */
static int64_t pool_of(bool has_pool, int64_t pool, bool owner_sent, crm_err_t *err)
{
    if (!has_pool)
        return 0;
    if (pool <= 0)
        crm_err_add(err, CRM_EINVALID, "/assign_pool_id", "incorrect_value",
                    "assign_pool_id must be positive");
    else if (owner_sent)
        crm_err_add(err, CRM_EINVALID, "/owner_id", "incorrect_value",
                    "give either owner_id or \"pool:{id}\" (assign_pool_id), not both");
    return pool > 0 ? pool : 0;
}

int leads_emit_contact(leads_t *self, crm_db_t *tx, const char *type, const char *corr, const Crm__Contact *c,
                       int64_t previous_owner_id, int64_t changed_by, int64_t assignment_id,
                       int64_t conversion_id, int64_t assign_pool_id, crm_err_t *err)
{
    Crm__ContactEvent ev = CRM__CONTACT_EVENT__INIT;
    ev.contact = (Crm__Contact *)c;
    ev.has_previous_owner_id = previous_owner_id > 0;
    ev.previous_owner_id = previous_owner_id;
    ev.has_changed_by = 1;
    ev.changed_by = changed_by;
    ev.has_assignment_id = assignment_id > 0;
    ev.assignment_id = assignment_id;
    ev.has_conversion_id = conversion_id > 0;
    ev.conversion_id = conversion_id;
    ev.has_assign_pool_id = assign_pool_id > 0;
    ev.assign_pool_id = assign_pool_id;
    return crm_outbox_append(self->daemon->outbox, tx, type, corr, &ev.base, err);
}

/* ---- validation ----------------------------------------------------------------------------- */

static bool blank(const char *s)
{
    if (!s)
        return true;
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

static bool json_blank(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_string(v) && blank(json_string_value(v))) ||
           (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
}

/* A record's custom_fields checked against the definitions of rtype (customfields.c): every
 * unknown name and wrong value is named "/custom_fields/<name>" (added to err, so one 422 lists
 * them with the other errors); on success *text is replaced by the normalized object (list
 * choices given as {"id": n} become their names). */
static int check_custom_fields(crm_db_t *db, const char *rtype, char **text, crm_err_t *err)
{
    if (!*text)
        return CRM_OK;
    json_t *v = json_loads(*text, JSON_DECODE_ANY, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return crm_err_add(err, CRM_EINVALID, "/custom_fields", "invalid_type",
                           "custom_fields must be an object of name: value");
    }
    int rc = leads_custom_fields_validate(db, rtype, v, err);
    if (rc == CRM_OK) {
        char *norm = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        free(*text);
        *text = norm;
    }
    json_decref(v);
    return rc;
}

/* C2: the fields the status needs, all of them named in one 422. */
static int check_status_rules(const leads_status_t *st, const Crm__Lead *lead, crm_err_t *err)
{
    if (!st || st->nrequired == 0)
        return CRM_OK;
    json_t *j = crm_pbjson_from_message(&lead->base);
    int rc = CRM_OK;
    for (size_t i = 0; i < st->nrequired; i++)
        if (json_blank(json_object_get(j, st->required[i]))) {
            char field[140];
            snprintf(field, sizeof field, "/%s", st->required[i]);
            rc = crm_err_add(err, CRM_EINVALID, field, "missing", "%s is required for status %s",
                             st->required[i], st->name);
        }
    json_decref(j);
    return rc;
}

static int check_lead_name(const Crm__Lead *l, crm_err_t *err)
{
    if (!blank(l->last_name) || !blank(l->organization_name))
        return CRM_OK;
    crm_err_add(err, CRM_EINVALID, "/last_name", "missing", "a lead needs last_name or organization_name");
    return crm_err_add(err, CRM_EINVALID, "/organization_name", "missing",
                       "a lead needs last_name or organization_name");
}

static int check_contact_name(const Crm__Contact *c, crm_err_t *err)
{
    if (c->is_organization && blank(c->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "missing", "an organization needs a name");
    if (!c->is_organization && blank(c->last_name))
        return crm_err_set(err, CRM_EINVALID, "/last_name", "missing", "a person needs a last_name");
    return CRM_OK;
}

/* The status a create or update asks for: configured, and not "Converted" (only a conversion
 * converts). */
static int check_status_name(leads_t *self, const char *status, const leads_status_t **out, crm_err_t *err)
{
    *out = leads_status_find(self, status);
    if (!*out)
        return crm_err_set(err, CRM_EINVALID, "/status", "incorrect_value", "unknown lead status '%.100s'",
                           status ? status : "");
    if (strcmp(status, "Converted") == 0)
        return crm_err_set(err, CRM_EINVALID, "/status", "incorrect_value",
                           "a lead becomes Converted through POST /v2/lead_conversions");
    return CRM_OK;
}

static int set_phone_norm(crm_db_t *tx, int64_t id, const char *phone, crm_err_t *err)
{
    char *e164 = leads_phone_e164(phone);
    char idb[24];
    const char *p[] = {crm_param_i64(idb, true, id), e164};
    int rc = crm_db_run(tx, "leads_phone_norm",
                        "UPDATE leads SET phone_norm = $2 WHERE id = $1 AND phone_norm IS DISTINCT FROM $2",
                        2, p, err);
    free(e164);
    return rc;
}

int leads_tags_ensure(crm_db_t *tx, const char *rtype, char *const *tags, size_t n, int64_t creator_id,
                      crm_err_t *err)
{
    if (n == 0)
        return CRM_OK;
    char *arr = crm_param_text_array(tags, n);
    char cb[24];
    const char *p[] = {arr, rtype, crm_param_i64(cb, creator_id > 0, creator_id)};
    int rc =
        crm_db_run(tx, "tags_ensure",
                   "INSERT INTO tags (name, resource_type, creator_id) SELECT DISTINCT t, $2, $3::bigint "
                   "FROM unnest($1::text[]) AS t WHERE btrim(t) <> '' "
                   "ON CONFLICT (resource_type, name) DO NOTHING",
                   3, p, err);
    free(arr);
    return rc;
}

static int finish(crm_db_t *db, int rc, crm_err_t *err)
{
    if (rc == CRM_OK)
        return crm_db_commit(db, err);
    crm_db_rollback(db);
    return rc;
}

/* ---- leads ---------------------------------------------------------------------------------- */

static int lead_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    Crm__Lead *in = (Crm__Lead *)in_;
    const leads_status_t *st = &self->statuses[0];
    check_lead_name(in, err);
    if (in->status)
        check_status_name(self, in->status, &st, err);
    check_custom_fields(ctx->db, "lead", &in->custom_fields_json, err);
    int64_t pool = pool_of(in->has_assign_pool_id, in->assign_pool_id, in->has_owner_id, err);
    if (err->code != CRM_OK)
        return err->code;
    if (!in->status)
        in->status = crm_pb_strdup(st->name);
    if (!in->has_owner_id && ctx->user_id > 0 &&
        pool == 0) { /* Sell: the creator owns it unless told otherwise */
        in->has_owner_id = 1;
        in->owner_id = ctx->user_id;
    }
    if (check_status_rules(st, in, err) != CRM_OK)
        return err->code;
    Crm__Lead *lead = NULL;
    if (crm_db_begin(ctx->db, err) != CRM_OK)
        return err->code;
    int rc =
        rec_insert(ctx->db, &rec_lead, &in->base, ctx->user_id, NULL, NULL, (ProtobufCMessage **)&lead, err);
    if (rc == CRM_OK)
        rc = set_phone_norm(ctx->db, lead->id, lead->phone, err);
    if (rc == CRM_OK)
        rc = leads_tags_ensure(ctx->db, "lead", lead->tags, lead->n_tags, ctx->user_id, err);
    if (rc == CRM_OK)
        rc = leads_timeline_add(ctx->db, false, lead->id, "created", ctx->user_id, "Lead created", NULL,
                                lead->status, NULL, err);
    if (rc == CRM_OK)
        rc = emit_lead(self, ctx->db, "lead.created", ctx->correlation_id, lead, 0, ctx->user_id, 0, 0, NULL,
                       pool, err);
    rc = finish(ctx->db, rc, err);
    if (rc != CRM_OK) {
        if (lead)
            protobuf_c_message_free_unpacked(&lead->base, NULL);
        return rc;
    }
    crm_outbox_kick(self->daemon->outbox);
    crm_log_info(ctx->correlation_id, "lead.created", "lead_id=%lld by=%lld", (long long)lead->id,
                 (long long)ctx->user_id);
    *out = &lead->base;
    return CRM_OK;
}

static int lead_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    return rec_get(ctx->db, &rec_lead, ((const Crm__LeadGetRequest *)in)->id, restricted(ctx), ctx->user_id,
                   false, out, err);
}

static int lead_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__Lead *in = (const Crm__Lead *)in_;
    const leads_status_t *st = NULL;
    bool status_sent = rec_sent(&rec_lead, in_, "status");
    if (status_sent)
        check_status_name(self, in->status, &st, err);
    check_custom_fields(ctx->db, "lead", &((Crm__Lead *)in_)->custom_fields_json, err);
    int64_t pool =
        pool_of(in->has_assign_pool_id, in->assign_pool_id, rec_sent(&rec_lead, in_, "owner_id"), err);
    if (err->code != CRM_OK)
        return err->code;
    Crm__Lead *before = NULL, *after = NULL;
    if (crm_db_begin(ctx->db, err) != CRM_OK)
        return err->code;
    int rc = rec_get(ctx->db, &rec_lead, in->id, restricted(ctx), ctx->user_id, true,
                     (ProtobufCMessage **)&before, err);
    if (rc == CRM_OK && before->converted_at)
        rc = crm_err_set(err, CRM_ECONFLICT, NULL, "conflict", "lead %lld was converted", (long long)in->id);
    if (rc == CRM_OK)
        rc = rec_update(ctx->db, &rec_lead, in->id, in_, restricted(ctx), ctx->user_id,
                        (ProtobufCMessage **)&after, err);
    bool status_changed = rc == CRM_OK && strcmp(before->status ? before->status : "", after->status) != 0;
    bool owner_changed =
        rc == CRM_OK && (before->has_owner_id != after->has_owner_id || before->owner_id != after->owner_id);
    if (rc == CRM_OK && check_lead_name(after, err) != CRM_OK)
        rc = err->code;
    if (rc == CRM_OK && status_changed && check_status_rules(st, after, err) != CRM_OK)
        rc = err->code;
    if (rc == CRM_OK && rec_sent(&rec_lead, in_, "phone"))
        rc = set_phone_norm(ctx->db, after->id, after->phone, err);
    if (rc == CRM_OK && rec_sent(&rec_lead, in_, "tags"))
        rc = leads_tags_ensure(ctx->db, "lead", after->tags, after->n_tags, ctx->user_id, err);
    if (rc == CRM_OK && status_changed) {
        char summary[256];
        snprintf(summary, sizeof summary, "Status changed from %s to %s", before->status, after->status);
        rc = leads_timeline_add(ctx->db, false, after->id, "status_changed", ctx->user_id, summary,
                                before->status, after->status, NULL, err);
        if (rc == CRM_OK) {
            Crm__LeadStatusChanged ev = CRM__LEAD_STATUS_CHANGED__INIT;
            ev.has_lead_id = 1;
            ev.lead_id = after->id;
            ev.previous_status = before->status;
            ev.status = after->status;
            ev.has_changed_by = 1;
            ev.changed_by = ctx->user_id;
            ev.lead = after;
            rc = crm_outbox_append(self->daemon->outbox, ctx->db, "lead.status_changed", ctx->correlation_id,
                                   &ev.base, err);
        }
    }
    if (rc == CRM_OK && owner_changed) {
        char summary[128], prev[24], now[24];
        snprintf(prev, sizeof prev, "%lld", (long long)before->owner_id);
        snprintf(now, sizeof now, "%lld", (long long)after->owner_id);
        snprintf(summary, sizeof summary, "Owner changed to user %lld", (long long)after->owner_id);
        rc = leads_timeline_add(ctx->db, false, after->id, "owner_changed", ctx->user_id, summary,
                                before->has_owner_id ? prev : NULL, after->has_owner_id ? now : NULL, NULL,
                                err);
    }
    if (rc == CRM_OK)
        rc = emit_lead(self, ctx->db, "lead.updated", ctx->correlation_id, after,
                       before->has_owner_id ? before->owner_id : 0, ctx->user_id, 0, 0, NULL, pool, err);
    rc = finish(ctx->db, rc, err);
    if (before)
        protobuf_c_message_free_unpacked(&before->base, NULL);
    if (rc != CRM_OK) {
        if (after)
            protobuf_c_message_free_unpacked(&after->base, NULL);
        return rc;
    }
    crm_outbox_kick(self->daemon->outbox);
    *out = &after->base;
    return CRM_OK;
}

static int lead_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    *out = NULL;
    int64_t id = ((const Crm__LeadGetRequest *)in)->id;
    /* lead.deleted (only the id) in the same transaction: the Firehose and the Sync API show it */
    Crm__Lead gone = CRM__LEAD__INIT;
    gone.has_id = 1;
    gone.id = id;
    if (crm_db_begin(ctx->db, err) != CRM_OK)
        return err->code;
    int rc = rec_delete(ctx->db, &rec_lead, id, restricted(ctx), ctx->user_id, err);
    if (rc == CRM_OK)
        rc = leads_emit_lead(self, ctx->db, "lead.deleted", ctx->correlation_id, &gone, 0, ctx->user_id, 0, 0,
                             NULL, err);
    rc = finish(ctx->db, rc, err);
    if (rc == CRM_OK) {
        crm_outbox_kick(self->daemon->outbox);
        crm_log_info(ctx->correlation_id, "lead.deleted", "lead_id=%lld by=%lld", (long long)id,
                     (long long)ctx->user_id);
    }
    return rc;
}

static int lead_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    const Crm__LeadListRequest *req = (const Crm__LeadListRequest *)in;
    /* Converted leads leave the default list; a status filter or ids= still finds them. */
    const char *where = req->status || req->ids ? NULL : "converted_at IS NULL";
    return rec_list(ctx->db, &rec_lead, in, where, restricted(ctx), ctx->user_id, out, err);
}

static int lead_timeline(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__TimelineRequest *req = (const Crm__TimelineRequest *)in;
    ProtobufCMessage *lead = NULL;
    int rc = rec_get(ctx->db, &rec_lead, req->id, restricted(ctx), ctx->user_id, false, &lead, err);
    if (rc != CRM_OK)
        return rc;
    protobuf_c_message_free_unpacked(lead, NULL);
    return leads_timeline_list(ctx->db, false, req, (Crm__Timeline **)out, err);
}

static int status_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    (void)ctx;
    const Crm__LeadStatusListRequest *req = (const Crm__LeadStatusListRequest *)in;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    if (req->sort_by && strcmp(req->sort_by, "id") != 0 && strcmp(req->sort_by, "id:asc") != 0)
        return crm_err_set(err, CRM_EBADREQUEST, "sort_by", "invalid_param", "lead statuses sort by id only");
    Crm__LeadStatusList *l = (Crm__LeadStatusList *)crm_pb_new(&crm__lead_status_list__descriptor);
    l->items = calloc(self->nstatuses + 1, sizeof *l->items);
    for (size_t i = (size_t)page.offset; i < self->nstatuses && (int)l->n_items < page.per_page; i++) {
        Crm__LeadStatus *s = (Crm__LeadStatus *)crm_pb_new(&crm__lead_status__descriptor);
        s->has_id = 1;
        s->id = (int64_t)i + 1;
        s->name = crm_pb_strdup(self->statuses[i].name);
        s->required = calloc(self->statuses[i].nrequired + 1, sizeof *s->required);
        for (size_t k = 0; k < self->statuses[i].nrequired; k++)
            s->required[s->n_required++] = crm_pb_strdup(self->statuses[i].required[k]);
        l->items[l->n_items++] = s;
    }
    l->has_has_more = 1;
    l->has_more = (size_t)page.offset + l->n_items < self->nstatuses;
    *out = &l->base;
    return CRM_OK;
}

/* ---- contacts ------------------------------------------------------------------------------- */

static int contact_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                          ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    Crm__Contact *in = (Crm__Contact *)in_;
    check_contact_name(in, err);
    check_custom_fields(ctx->db, "contact", &in->custom_fields_json, err);
    int64_t pool = pool_of(in->has_assign_pool_id, in->assign_pool_id, in->has_owner_id, err);
    if (err->code != CRM_OK)
        return err->code;
    if (!in->has_owner_id && ctx->user_id > 0 && pool == 0) {
        in->has_owner_id = 1;
        in->owner_id = ctx->user_id;
    }
    Crm__Contact *c = NULL;
    if (crm_db_begin(ctx->db, err) != CRM_OK)
        return err->code;
    int rc = rec_insert(ctx->db, &rec_contact, in_, ctx->user_id, NULL, NULL, (ProtobufCMessage **)&c, err);
    if (rc == CRM_OK)
        rc = leads_tags_ensure(ctx->db, "contact", c->tags, c->n_tags, ctx->user_id, err);
    if (rc == CRM_OK)
        rc = leads_timeline_add(ctx->db, true, c->id, "created", ctx->user_id, "Contact created", NULL, NULL,
                                NULL, err);
    if (rc == CRM_OK)
        rc = leads_emit_contact(self, ctx->db, "contact.created", ctx->correlation_id, c, 0, ctx->user_id, 0,
                                0, pool, err);
    rc = finish(ctx->db, rc, err);
    if (rc != CRM_OK) {
        if (c)
            protobuf_c_message_free_unpacked(&c->base, NULL);
        return rc;
    }
    crm_outbox_kick(self->daemon->outbox);
    *out = &c->base;
    return CRM_OK;
}

static int contact_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    return rec_get(ctx->db, &rec_contact, ((const Crm__ContactGetRequest *)in)->id, restricted(ctx),
                   ctx->user_id, false, out, err);
}

static int contact_update(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                          ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__Contact *in = (const Crm__Contact *)in_;
    check_custom_fields(ctx->db, "contact", &((Crm__Contact *)in_)->custom_fields_json, err);
    int64_t pool =
        pool_of(in->has_assign_pool_id, in->assign_pool_id, rec_sent(&rec_contact, in_, "owner_id"), err);
    if (err->code != CRM_OK)
        return err->code;
    Crm__Contact *before = NULL, *after = NULL;
    if (crm_db_begin(ctx->db, err) != CRM_OK)
        return err->code;
    int rc = rec_get(ctx->db, &rec_contact, in->id, restricted(ctx), ctx->user_id, true,
                     (ProtobufCMessage **)&before, err);
    /* is_organization is fixed at creation; clients echo it back, so the same value is fine. */
    if (rc == CRM_OK && rec_sent(&rec_contact, in_, "is_organization") &&
        (!in->has_is_organization || !in->is_organization != !before->is_organization))
        rc = crm_err_set(err, CRM_EINVALID, "/is_organization", "incorrect_value",
                         "is_organization cannot change after creation");
    if (rc == CRM_OK)
        rc = rec_update(ctx->db, &rec_contact, in->id, in_, restricted(ctx), ctx->user_id,
                        (ProtobufCMessage **)&after, err);
    if (rc == CRM_OK && check_contact_name(after, err) != CRM_OK)
        rc = err->code;
    if (rc == CRM_OK && rec_sent(&rec_contact, in_, "tags"))
        rc = leads_tags_ensure(ctx->db, "contact", after->tags, after->n_tags, ctx->user_id, err);
    bool owner_changed =
        rc == CRM_OK && (before->has_owner_id != after->has_owner_id || before->owner_id != after->owner_id);
    if (rc == CRM_OK && owner_changed) {
        char summary[128], prev[24], now[24];
        snprintf(prev, sizeof prev, "%lld", (long long)before->owner_id);
        snprintf(now, sizeof now, "%lld", (long long)after->owner_id);
        snprintf(summary, sizeof summary, "Owner changed to user %lld", (long long)after->owner_id);
        rc = leads_timeline_add(ctx->db, true, after->id, "owner_changed", ctx->user_id, summary,
                                before->has_owner_id ? prev : NULL, after->has_owner_id ? now : NULL, NULL,
                                err);
    }
    if (rc == CRM_OK)
        rc = leads_emit_contact(self, ctx->db, "contact.updated", ctx->correlation_id, after,
                                before->has_owner_id ? before->owner_id : 0, ctx->user_id, 0, 0, pool, err);
    rc = finish(ctx->db, rc, err);
    if (before)
        protobuf_c_message_free_unpacked(&before->base, NULL);
    if (rc != CRM_OK) {
        if (after)
            protobuf_c_message_free_unpacked(&after->base, NULL);
        return rc;
    }
    crm_outbox_kick(self->daemon->outbox);
    *out = &after->base;
    return CRM_OK;
}

static int contact_delete(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                          ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    *out = NULL;
    /* contact.deleted (only the id) in the same transaction, as lead.deleted */
    Crm__Contact gone = CRM__CONTACT__INIT;
    gone.has_id = 1;
    gone.id = ((const Crm__ContactGetRequest *)in)->id;
    if (crm_db_begin(ctx->db, err) != CRM_OK)
        return err->code;
    int rc = rec_delete(ctx->db, &rec_contact, gone.id, restricted(ctx), ctx->user_id, err);
    if (rc == CRM_OK)
        rc = leads_emit_contact(self, ctx->db, "contact.deleted", ctx->correlation_id, &gone, 0, ctx->user_id,
                                0, 0, 0, err);
    rc = finish(ctx->db, rc, err);
    if (rc == CRM_OK)
        crm_outbox_kick(self->daemon->outbox);
    return rc;
}

static int contact_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                        ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    return rec_list(ctx->db, &rec_contact, in, NULL, restricted(ctx), ctx->user_id, out, err);
}

static int contact_timeline(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                            ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__TimelineRequest *req = (const Crm__TimelineRequest *)in;
    ProtobufCMessage *c = NULL;
    int rc = rec_get(ctx->db, &rec_contact, req->id, restricted(ctx), ctx->user_id, false, &c, err);
    if (rc != CRM_OK)
        return rc;
    protobuf_c_message_free_unpacked(c, NULL);
    return leads_timeline_list(ctx->db, true, req, (Crm__Timeline **)out, err);
}

int leads_contact_set_owner(crm_db_t *tx, int64_t id, int64_t owner_id, const char *event_id,
                            Crm__Contact **c, int64_t *previous_owner_id, crm_err_t *err)
{
    *c = NULL;
    *previous_owner_id = 0;
    Crm__Contact *before = NULL;
    int rc = rec_get(tx, &rec_contact, id, false, 0, true, (ProtobufCMessage **)&before, err);
    if (rc == CRM_ENOTFOUND) {
        crm_err_clear(err);
        return CRM_OK;
    }
    if (rc != CRM_OK)
        return rc;
    *previous_owner_id = before->has_owner_id ? before->owner_id : 0;
    protobuf_c_message_free_unpacked(&before->base, NULL);
    Crm__Contact set = CRM__CONTACT__INIT;
    set.has_owner_id = 1;
    set.owner_id = owner_id;
    rc = rec_update(tx, &rec_contact, id, &set.base, false, 0, (ProtobufCMessage **)c, err);
    if (rc != CRM_OK)
        return rc;
    if (*previous_owner_id == owner_id)
        return CRM_OK; /* an assignment confirming the owner already set is no timeline news */
    char summary[128], now[24], prev[24];
    snprintf(now, sizeof now, "%lld", (long long)owner_id);
    snprintf(prev, sizeof prev, "%lld", (long long)*previous_owner_id);
    snprintf(summary, sizeof summary, "Owner set to user %lld", (long long)owner_id);
    return leads_timeline_add(tx, true, id, "owner_changed", 0, summary, *previous_owner_id ? prev : NULL,
                              now, event_id, err);
}

void leads_api_register(leads_t *self)
{
    crm_rpc_server_t *rpc = self->daemon->rpc;
    crm_rpc_server_handle(rpc, "leads.create", &crm__lead__descriptor, lead_create, self);
    crm_rpc_server_handle(rpc, "leads.get", &crm__lead_get_request__descriptor, lead_get, self);
    crm_rpc_server_handle(rpc, "leads.update", &crm__lead__descriptor, lead_update, self);
    crm_rpc_server_handle(rpc, "leads.delete", &crm__lead_get_request__descriptor, lead_delete, self);
    crm_rpc_server_handle(rpc, "leads.list", &crm__lead_list_request__descriptor, lead_list, self);
    crm_rpc_server_handle(rpc, "leads.timeline", &crm__timeline_request__descriptor, lead_timeline, self);
    crm_rpc_server_handle(rpc, "lead_statuses.list", &crm__lead_status_list_request__descriptor, status_list,
                          self);
    crm_rpc_server_handle(rpc, "contacts.create", &crm__contact__descriptor, contact_create, self);
    crm_rpc_server_handle(rpc, "contacts.get", &crm__contact_get_request__descriptor, contact_get, self);
    crm_rpc_server_handle(rpc, "contacts.update", &crm__contact__descriptor, contact_update, self);
    crm_rpc_server_handle(rpc, "contacts.delete", &crm__contact_get_request__descriptor, contact_delete,
                          self);
    crm_rpc_server_handle(rpc, "contacts.list", &crm__contact_list_request__descriptor, contact_list, self);
    crm_rpc_server_handle(rpc, "contacts.timeline", &crm__timeline_request__descriptor, contact_timeline,
                          self);
}

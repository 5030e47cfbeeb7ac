/* crm-leads lead conversions (SPEC D1, D2): POST /v2/lead_conversions turns a lead into a person
 * contact and (found by name, or created) its organization, marks the lead converted, and asks
 * crm-deals for the deal. The conversion, the contacts, the lead's change and lead.converted
 * commit together; the deal comes from the RPC during the request when crm-deals answers, and
 * otherwise from crm-deals consuming lead.converted (its deal.created carries conversion_id and
 * fills deal_id here; GET /v2/lead_conversions/{id} also asks again). crm-deals makes at most one
 * deal per conversion id. */
#include "leads.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"

#define CONV_COLS                                                                                            \
    "id, lead_id, individual_id, organization_id, deal_id, creator_id, to_char(created_at AT TIME ZONE "     \
    "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), owner_id, assign_pool_id, create_deal, deal_name, "           \
    "deal_value, "                                                                                           \
    "deal_currency, pipeline_id"

typedef struct {
    Crm__LeadConversion *conv;
    int64_t owner_id, pool_id, pipeline_id;
    char *deal_name, *deal_value, *deal_currency;
} conv_row_t;

static void row_clear(conv_row_t *r)
{
    if (r->conv)
        protobuf_c_message_free_unpacked(&r->conv->base, NULL);
    free(r->deal_name);
    free(r->deal_value);
    free(r->deal_currency);
    memset(r, 0, sizeof *r);
}

static void conv_from_row(const PGresult *res, int i, conv_row_t *out)
{
    memset(out, 0, sizeof *out);
    Crm__LeadConversion *c = (Crm__LeadConversion *)crm_pb_new(&crm__lead_conversion__descriptor);
    crm_row_i64(res, i, 0, &c->has_id, &c->id);
    crm_row_i64(res, i, 1, &c->has_lead_id, &c->lead_id);
    crm_row_i64(res, i, 2, &c->has_individual_id, &c->individual_id);
    crm_row_i64(res, i, 3, &c->has_organization_id, &c->organization_id);
    crm_row_i64(res, i, 4, &c->has_deal_id, &c->deal_id);
    crm_row_i64(res, i, 5, &c->has_creator_id, &c->creator_id);
    c->created_at = crm_row_str(res, i, 6);
    protobuf_c_boolean has;
    crm_row_i64(res, i, 7, &has, &out->owner_id);
    crm_row_i64(res, i, 8, &has, &out->pool_id);
    crm_row_bool(res, i, 9, &c->has_create_deal, &c->create_deal);
    out->deal_name = crm_row_str(res, i, 10);
    out->deal_value = crm_row_str(res, i, 11);
    out->deal_currency = crm_row_str(res, i, 12);
    crm_row_i64(res, i, 13, &has, &out->pipeline_id);
    char text[48];
    if (out->pool_id > 0)
        snprintf(text, sizeof text, "\"pool:%lld\"", (long long)out->pool_id);
    else if (out->owner_id > 0)
        snprintf(text, sizeof text, "%lld", (long long)out->owner_id);
    else
        text[0] = '\0';
    c->owner_id_json = text[0] ? crm_pb_strdup(text) : NULL;
    out->conv = c;
}

/* owner_id of the request: 12, "12" or "pool:3". */
static int parse_owner(const char *json, int64_t *user, int64_t *pool, crm_err_t *err)
{
    *user = *pool = 0;
    if (!json)
        return CRM_OK;
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    int rc = CRM_OK;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *user = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        long long n = 0;
        int used = 0;
        if (strncmp(s, "pool:", 5) == 0 && sscanf(s + 5, "%lld%n", &n, &used) == 1 && s[5 + used] == '\0' &&
            n > 0)
            *pool = n;
        else if (sscanf(s, "%lld%n", &n, &used) == 1 && s[used] == '\0' && n > 0)
            *user = n;
        else
            rc = CRM_EINVALID;
    } else if (!json_is_null(v)) {
        rc = CRM_EINVALID;
    }
    json_decref(v);
    (void)err; /* the caller names the field */
    return rc;
}

/* A decimal amount: digits with at most one '.', an optional leading '-'. */
static bool decimal_ok(const char *s)
{
    if (*s == '-')
        s++;
    int digits = 0, dots = 0;
    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            digits++;
        else if (*s == '.' && dots++ == 0)
            continue;
        else
            return false;
    }
    return digits > 0 && digits <= 30;
}

/* deal.value as text: a JSON number or a decimal string; malloc'd, or NULL with err set. */
static char *deal_value(const char *json, crm_err_t *err)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    char *out = NULL;
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        out = crm_pb_strdup(buf);
    } else if (json_is_real(v)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.2f", json_real_value(v));
        out = crm_pb_strdup(buf);
    } else if (json_is_string(v) && decimal_ok(json_string_value(v))) {
        out = crm_pb_strdup(json_string_value(v));
    }
    json_decref(v);
    (void)err; /* the caller names the field */
    return out;
}

static int conv_get_row(crm_db_t *db, int64_t id, bool restrict_user, int64_t user, conv_row_t *out,
                        crm_err_t *err)
{
    char b1[24], b2[24];
    const char *p[] = {crm_param_i64(b1, true, id), crm_param_i64(b2, restrict_user, user)};
    PGresult *res = crm_db_exec(db, "conversions_get",
                                "SELECT " CONV_COLS " FROM lead_conversions WHERE id = $1 AND "
                                "($2::bigint IS NULL OR creator_id = $2 OR owner_id = $2)",
                                2, p, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    if (n == 1)
        conv_from_row(res, 0, out);
    PQclear(res);
    if (n != 1)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "lead conversion %lld not found",
                           (long long)id);
    return CRM_OK;
}

int leads_conversion_deal(crm_db_t *tx, int64_t conversion_id, int64_t deal_id, crm_err_t *err)
{
    char b1[24], b2[24];
    const char *p[] = {crm_param_i64(b1, true, conversion_id), crm_param_i64(b2, true, deal_id)};
    return crm_db_run(tx, "conversions_set_deal",
                      "UPDATE lead_conversions SET deal_id = $2 WHERE id = $1 AND deal_id IS NULL", 2, p,
                      err);
}

/* The LeadConverted of a conversion (event payload and RPC request). */
static void converted_msg(const conv_row_t *row, Crm__Lead *lead, Crm__LeadConverted *m)
{
    crm__lead_converted__init(m);
    const Crm__LeadConversion *c = row->conv;
    m->has_conversion_id = 1;
    m->conversion_id = c->id;
    m->has_lead_id = 1;
    m->lead_id = c->lead_id;
    m->has_individual_id = c->has_individual_id;
    m->individual_id = c->individual_id;
    m->has_organization_id = c->has_organization_id;
    m->organization_id = c->organization_id;
    m->has_owner_id = row->owner_id > 0;
    m->owner_id = row->owner_id;
    m->has_creator_id = c->has_creator_id;
    m->creator_id = c->creator_id;
    m->has_create_deal = 1;
    m->create_deal = c->create_deal;
    m->deal_name = row->deal_name;
    m->deal_value = row->deal_value;
    m->deal_currency = row->deal_currency;
    m->has_pipeline_id = row->pipeline_id > 0;
    m->pipeline_id = row->pipeline_id;
    m->lead = lead;
    m->converted_at = c->created_at;
}

/* Asks crm-deals for the conversion's deal (idempotent there); fills deal_id on success. */
static void ask_deal(leads_t *self, crm_db_t *db, const char *corr, conv_row_t *row)
{
    if (!self->deals || !row->conv->create_deal || row->conv->has_deal_id)
        return;
    Crm__LeadConverted m;
    converted_msg(row, NULL, &m);
    crm_rpc_caller_t caller = {.user_id = row->conv->creator_id, .role = NULL, .correlation_id = corr};
    ProtobufCMessage *reply = NULL;
    crm_err_t err;
    crm_err_clear(&err);
    int rc = crm_rpc_call(self->deals, "deals.create_from_conversion", &caller, &m.base,
                          &crm__conversion_deal_reply__descriptor, self->deals_timeout_ms, &reply, &err);
    if (rc != CRM_OK) {
        crm_log_warn(corr, "conversion.deal_deferred", "conversion_id=%lld code=%s msg=\"%s\"",
                     (long long)row->conv->id, crm_code_name(rc), err.message);
        return;
    }
    Crm__ConversionDealReply *r = (Crm__ConversionDealReply *)reply;
    if (r->has_deal_id && r->deal_id > 0 &&
        leads_conversion_deal(db, row->conv->id, r->deal_id, &err) == CRM_OK) {
        row->conv->has_deal_id = 1;
        row->conv->deal_id = r->deal_id;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
}

static Crm__Contact *contact_from_lead(const Crm__Lead *l, bool org, int64_t owner, int64_t org_id)
{
    Crm__Contact *c = (Crm__Contact *)crm_pb_new(&crm__contact__descriptor);
    c->has_is_organization = 1;
    c->is_organization = org;
    c->has_owner_id = owner > 0;
    c->owner_id = owner;
    if (org) {
        c->name = crm_pb_strdup(l->organization_name);
        c->website = crm_pb_strdup(l->website);
        c->industry = crm_pb_strdup(l->industry);
        return c;
    }
    c->has_contact_id = org_id > 0;
    c->contact_id = org_id;
    c->first_name = crm_pb_strdup(l->first_name);
    c->last_name = crm_pb_strdup(l->last_name);
    char name[512];
    snprintf(name, sizeof name, "%s%s%s", l->first_name ? l->first_name : "", l->first_name ? " " : "",
             l->last_name ? l->last_name : "");
    c->name = crm_pb_strdup(name);
    char **strs[] = {&c->title,  &c->description, &c->industry, &c->website,  &c->email,    &c->phone,
                     &c->mobile, &c->fax,         &c->twitter,  &c->facebook, &c->linkedin, &c->skype};
    const char *from[] = {l->title,  l->description, l->industry, l->website,  l->email,    l->phone,
                          l->mobile, l->fax,         l->twitter,  l->facebook, l->linkedin, l->skype};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        *strs[i] = crm_pb_strdup(from[i]);
    if (l->address) {
        Crm__Address *a = (Crm__Address *)crm_pb_new(&crm__address__descriptor);
        a->line1 = crm_pb_strdup(l->address->line1);
        a->city = crm_pb_strdup(l->address->city);
        a->postal_code = crm_pb_strdup(l->address->postal_code);
        a->state = crm_pb_strdup(l->address->state);
        a->country = crm_pb_strdup(l->address->country);
        c->address = a;
    }
    c->tags = calloc(l->n_tags + 1, sizeof *c->tags);
    for (size_t i = 0; i < l->n_tags; i++)
        c->tags[c->n_tags++] = crm_pb_strdup(l->tags[i]);
    c->custom_fields_json = crm_pb_strdup(l->custom_fields_json);
    return c;
}

static int find_org(crm_db_t *tx, const char *name, int64_t *id, crm_err_t *err)
{
    *id = 0;
    const char *p[] = {name};
    PGresult *res = crm_db_exec(tx, "contacts_org_by_name",
                                "SELECT id FROM contacts WHERE is_organization AND lower(name) = lower($1) "
                                "ORDER BY id LIMIT 1",
                                1, p, err);
    if (!res)
        return err->code;
    protobuf_c_boolean has;
    if (PQntuples(res) == 1)
        crm_row_i64(res, 0, 0, &has, id);
    PQclear(res);
    return CRM_OK;
}

static bool blank(const char *s)
{
    while (s && isspace((unsigned char)*s))
        s++;
    return !s || !*s;
}

static int conversion_create(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                             ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__LeadConversion *in = (const Crm__LeadConversion *)in_;
    int64_t owner = 0, pool = 0;
    char *value = NULL;
    if (!in->has_lead_id || in->lead_id <= 0)
        crm_err_add(err, CRM_EINVALID, "/lead_id", "missing", "lead_id is required");
    if (parse_owner(in->owner_id_json, &owner, &pool, err) != CRM_OK)
        crm_err_add(err, CRM_EINVALID, "/owner_id", "incorrect_value",
                    "owner_id must be a user id or \"pool:{id}\"");
    const Crm__ConversionDeal *deal = in->deal;
    if (deal && deal->value_json && !(value = deal_value(deal->value_json, err)))
        crm_err_add(err, CRM_EINVALID, "/deal/value", "incorrect_value",
                    "deal.value must be a decimal amount");
    if (deal && deal->currency &&
        (strlen(deal->currency) != 3 || !isupper((unsigned char)deal->currency[0]) ||
         !isupper((unsigned char)deal->currency[1]) || !isupper((unsigned char)deal->currency[2])))
        crm_err_add(err, CRM_EINVALID, "/deal/currency", "incorrect_value",
                    "deal.currency must be ISO 4217 (EUR)");
    if (deal && !in->create_deal)
        crm_err_add(err, CRM_EINVALID, "/create_deal", "incorrect_value",
                    "deal given without create_deal: true");
    if (err->code != CRM_OK) {
        free(value);
        return err->code;
    }
    bool restrict_owner = strcmp(ctx->role, "sales") == 0;
    Crm__Lead *lead = NULL, *after = NULL;
    Crm__Contact *person = NULL, *org = NULL;
    conv_row_t row = {0};
    int64_t org_id = 0;
    if (crm_db_begin(ctx->db, err) != CRM_OK) {
        free(value);
        return err->code;
    }
    int rc = rec_get(ctx->db, &rec_lead, in->lead_id, restrict_owner, ctx->user_id, true,
                     (ProtobufCMessage **)&lead, err);
    if (rc == CRM_ENOTFOUND) /* name the field: the lead of the body is not there (or not visible) */
        rc = crm_err_set(err, CRM_EINVALID, "/lead_id", "incorrect_value", "lead %lld not found",
                         (long long)in->lead_id);
    if (rc == CRM_OK && lead->converted_at)
        rc = crm_err_set(err, CRM_ECONFLICT, "/lead_id", "already_exists", "lead %lld is already converted",
                         (long long)lead->id);
    if (rc == CRM_OK && blank(lead->last_name) && blank(lead->organization_name))
        rc = crm_err_set(err, CRM_EINVALID, "/lead_id", "incorrect_value", "the lead has no name to convert");
    if (owner == 0 && pool == 0)
        owner = lead && lead->has_owner_id ? lead->owner_id : ctx->user_id;
    /* The organization: found by name (case-insensitive), else created. */
    if (rc == CRM_OK && !blank(lead->organization_name)) {
        rc = find_org(ctx->db, lead->organization_name, &org_id, err);
        if (rc == CRM_OK && org_id == 0) {
            Crm__Contact *o = contact_from_lead(lead, true, owner, 0);
            rc = rec_insert(ctx->db, &rec_contact, &o->base, ctx->user_id, NULL, NULL,
                            (ProtobufCMessage **)&org, err);
            protobuf_c_message_free_unpacked(&o->base, NULL);
            if (rc == CRM_OK)
                org_id = org->id;
        }
    }
    if (rc == CRM_OK && !blank(lead->last_name)) {
        Crm__Contact *p = contact_from_lead(lead, false, owner, org_id);
        rc = rec_insert(ctx->db, &rec_contact, &p->base, ctx->user_id, NULL, NULL,
                        (ProtobufCMessage **)&person, err);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        if (rc == CRM_OK)
            rc = leads_tags_ensure(ctx->db, "contact", person->tags, person->n_tags, ctx->user_id, err);
    }
    if (rc == CRM_OK) {
        char b[6][24];
        char name[512];
        const char *deal_name = deal && deal->name ? deal->name : NULL;
        if (in->create_deal && !deal_name) {
            snprintf(name, sizeof name, "%s",
                     !blank(lead->organization_name) ? lead->organization_name
                                                     : (lead->last_name ? lead->last_name : ""));
            deal_name = name;
        }
        const char *p[] = {crm_param_i64(b[0], true, lead->id),
                           crm_param_i64(b[1], person != NULL, person ? person->id : 0),
                           crm_param_i64(b[2], org_id > 0, org_id),
                           crm_param_i64(b[3], ctx->user_id > 0, ctx->user_id),
                           crm_param_i64(b[4], pool == 0 && owner > 0, owner),
                           crm_param_i64(b[5], pool > 0, pool),
                           crm_param_bool(true, in->create_deal),
                           in->create_deal ? deal_name : NULL,
                           in->create_deal ? value : NULL,
                           in->create_deal && deal ? deal->currency : NULL,
                           NULL};
        char pb[24];
        p[10] =
            crm_param_i64(pb, in->create_deal && deal && deal->has_pipeline_id, deal ? deal->pipeline_id : 0);
        /* individual_id NOT NULL: an organization-only lead records its organization there too. */
        if (!person)
            p[1] = p[2];
        PGresult *res =
            crm_db_exec(ctx->db, "conversions_insert",
                        "INSERT INTO lead_conversions (lead_id, individual_id, organization_id, creator_id, "
                        "owner_id, assign_pool_id, create_deal, deal_name, deal_value, deal_currency, "
                        "pipeline_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                        "RETURNING " CONV_COLS,
                        11, p, err);
        if (!res) {
            rc = err->code;
            if (rc == CRM_ECONFLICT)
                crm_err_set(err, CRM_ECONFLICT, "/lead_id", "already_exists",
                            "lead %lld is already converted", (long long)lead->id);
        } else {
            conv_from_row(res, 0, &row);
            PQclear(res);
        }
    }
    if (rc == CRM_OK) {
        char idb[24];
        const char *p[] = {crm_param_i64(idb, true, lead->id)};
        PGresult *res =
            crm_db_exec(ctx->db, "leads_mark_converted",
                        "UPDATE leads SET status = 'Converted', converted_at = now(), updated_at = now() "
                        "WHERE id = $1",
                        1, p, err);
        if (!res)
            rc = err->code;
        else
            PQclear(res);
        if (rc == CRM_OK)
            rc = rec_get(ctx->db, &rec_lead, lead->id, false, 0, false, (ProtobufCMessage **)&after, err);
    }
    const int64_t cid = row.conv ? row.conv->id : 0;
    if (rc == CRM_OK) {
        char summary[256], cv[24];
        snprintf(cv, sizeof cv, "%lld", (long long)cid);
        snprintf(summary, sizeof summary, "Converted (conversion %lld): contact %lld, organization %lld",
                 (long long)cid, person ? (long long)person->id : 0LL, (long long)org_id);
        rc = leads_timeline_add(ctx->db, false, lead->id, "converted", ctx->user_id, summary, lead->status,
                                "Converted", NULL, err);
        Crm__Contact *made[] = {org, person};
        for (int i = 0; i < 2 && rc == CRM_OK; i++) {
            if (!made[i])
                continue;
            snprintf(summary, sizeof summary, "Created from lead %lld (conversion %lld)", (long long)lead->id,
                     (long long)cid);
            rc = leads_timeline_add(ctx->db, true, made[i]->id, "converted", ctx->user_id, summary, NULL, cv,
                                    NULL, err);
            if (rc == CRM_OK)
                rc = leads_emit_contact(self, ctx->db, "contact.created", ctx->correlation_id, made[i], 0,
                                        ctx->user_id, 0, cid, pool, err);
        }
    }
    if (rc == CRM_OK) {
        Crm__LeadStatusChanged sc = CRM__LEAD_STATUS_CHANGED__INIT;
        sc.has_lead_id = 1;
        sc.lead_id = lead->id;
        sc.previous_status = lead->status;
        sc.status = after->status;
        sc.has_changed_by = 1;
        sc.changed_by = ctx->user_id;
        sc.lead = after;
        rc = crm_outbox_append(self->daemon->outbox, ctx->db, "lead.status_changed", ctx->correlation_id,
                               &sc.base, err);
    }
    if (rc == CRM_OK)
        rc = leads_emit_lead(self, ctx->db, "lead.updated", ctx->correlation_id, after,
                             lead->has_owner_id ? lead->owner_id : 0, ctx->user_id, 0, 0, NULL, err);
    if (rc == CRM_OK) {
        Crm__LeadConverted m;
        converted_msg(&row, after, &m);
        rc = crm_outbox_append(self->daemon->outbox, ctx->db, "lead.converted", ctx->correlation_id, &m.base,
                               err);
    }
    if (rc == CRM_OK)
        rc = crm_db_commit(ctx->db, err);
    else
        crm_db_rollback(ctx->db);
    free(value);
    Crm__Lead *free_leads[] = {lead, after};
    for (int i = 0; i < 2; i++)
        if (free_leads[i])
            protobuf_c_message_free_unpacked(&free_leads[i]->base, NULL);
    if (person)
        protobuf_c_message_free_unpacked(&person->base, NULL);
    if (org)
        protobuf_c_message_free_unpacked(&org->base, NULL);
    if (rc != CRM_OK) {
        row_clear(&row);
        return rc;
    }
    crm_outbox_kick(self->daemon->outbox);
    crm_log_info(ctx->correlation_id, "lead.converted", "conversion_id=%lld lead_id=%lld by=%lld",
                 (long long)cid, (long long)in->lead_id, (long long)ctx->user_id);
    ask_deal(self, ctx->db, ctx->correlation_id, &row);
    *out = &row.conv->base;
    row.conv = NULL;
    row_clear(&row);
    return CRM_OK;
}

static int conversion_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                          ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    conv_row_t row;
    int rc = conv_get_row(ctx->db, ((const Crm__LeadConversionGetRequest *)in)->id,
                          strcmp(ctx->role, "sales") == 0, ctx->user_id, &row, err);
    if (rc != CRM_OK)
        return rc;
    ask_deal(self, ctx->db, ctx->correlation_id, &row); /* crm-deals was down during the conversion */
    *out = &row.conv->base;
    row.conv = NULL;
    row_clear(&row);
    return CRM_OK;
}

static const char *const conv_sorts[] = {"id", "created_at", "lead_id", NULL};

static int conversion_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                           ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__LeadConversionListRequest *req = (const Crm__LeadConversionListRequest *)in;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, conv_sorts, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[4][24], name[64], sql[1024];
    bool restrict_user = strcmp(ctx->role, "sales") == 0;
    const char *p[] = {crm_param_i64(b[0], restrict_user, ctx->user_id), ids,
                       crm_param_i64(b[1], req->has_lead_id, req->lead_id),
                       crm_param_i64(b[2], true, page.limit), crm_param_i64(b[3], true, page.offset)};
    const char *dir = desc ? "DESC" : "ASC";
    snprintf(name, sizeof name, "conversions_list_%s_%s", conv_sorts[sort], dir);
    snprintf(
        sql, sizeof sql,
        "SELECT " CONV_COLS " FROM lead_conversions WHERE ($1::bigint IS NULL OR creator_id = $1 OR "
        "owner_id = $1) AND ($2::bigint[] IS NULL OR id = ANY ($2)) AND ($3::bigint IS NULL OR lead_id = $3) "
        "ORDER BY %s %s, id %s LIMIT $4 OFFSET $5",
        conv_sorts[sort], dir, dir);
    PGresult *res = crm_db_exec(ctx->db, name, sql, 5, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__LeadConversionList *l =
        (Crm__LeadConversionList *)crm_pb_new(&crm__lead_conversion_list__descriptor);
    int rows = PQntuples(res);
    int n = rows > page.per_page ? page.per_page : rows;
    l->has_has_more = 1;
    l->has_more = rows > page.per_page;
    l->items = calloc((size_t)n + 1, sizeof *l->items);
    for (int r = 0; r < n; r++) {
        conv_row_t row;
        conv_from_row(res, r, &row);
        l->items[l->n_items++] = row.conv;
        row.conv = NULL;
        row_clear(&row);
    }
    PQclear(res);
    *out = &l->base;
    return CRM_OK;
}

void leads_conversions_register(leads_t *self)
{
    crm_rpc_server_t *rpc = self->daemon->rpc;
    crm_rpc_server_handle(rpc, "lead_conversions.create", &crm__lead_conversion__descriptor,
                          conversion_create, self);
    crm_rpc_server_handle(rpc, "lead_conversions.get", &crm__lead_conversion_get_request__descriptor,
                          conversion_get, self);
    crm_rpc_server_handle(rpc, "lead_conversions.list", &crm__lead_conversion_list_request__descriptor,
                          conversion_list, self);
}

/* crm-deals request handlers: pipelines, stages, deals, associated contacts, stage history,
 * loss/unqualified reasons and deal sources. The gateway enforces the least role of each route;
 * the store enforces visibility (a sales caller sees only its own deals). */
#include "deals.h"

#include <stdio.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"

static deals_caller_t caller_of(deals_t *self, const crm_rpc_ctx_t *ctx)
{
    deals_caller_t c = {.user_id = ctx->user_id,
                        .sales = strcmp(ctx->role, "sales") == 0,
                        .admin = strcmp(ctx->role, "admin") == 0,
                        .corr = ctx->correlation_id,
                        .outbox = self->daemon->outbox};
    return c;
}

/* A handler whose store call fills `T *r` from the request `REQ *q` (and deals_caller_t c). */
#define HANDLER(fn, REQ, T, call)                                                                            \
    static int fn(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,   \
                  crm_err_t *err)                                                                            \
    {                                                                                                        \
        deals_t *self = arg;                                                                                 \
        const REQ *q = (const REQ *)in;                                                                      \
        deals_caller_t c = caller_of(self, ctx);                                                             \
        (void)c;                                                                                             \
        (void)q;                                                                                             \
        T *r = NULL;                                                                                         \
        int rc = call;                                                                                       \
        *out = r ? &r->base : NULL;                                                                          \
        return rc;                                                                                           \
    }

HANDLER(pipeline_list, Crm__PipelineListRequest, Crm__PipelineList,
        deals_store_pipeline_list(ctx->db, q, &r, err))
HANDLER(pipeline_get, Crm__PipelineGetRequest, Crm__Pipeline,
        deals_store_pipeline_get(ctx->db, q->id, &r, err))
HANDLER(pipeline_create, Crm__Pipeline, Crm__Pipeline, deals_store_pipeline_create(ctx->db, q, &r, err))
HANDLER(pipeline_update, Crm__Pipeline, Crm__Pipeline, deals_store_pipeline_update(ctx->db, q, &r, err))
HANDLER(pipeline_delete, Crm__PipelineGetRequest, Crm__Pipeline,
        deals_store_pipeline_delete(ctx->db, q->id, err))
HANDLER(stage_list, Crm__StageListRequest, Crm__StageList, deals_store_stage_list(ctx->db, q, &r, err))
HANDLER(stage_get, Crm__StageGetRequest, Crm__Stage, deals_store_stage_get(ctx->db, q->id, &r, err))
HANDLER(stage_create, Crm__Stage, Crm__Stage, deals_store_stage_create(ctx->db, q, &r, err))
HANDLER(stage_update, Crm__Stage, Crm__Stage, deals_store_stage_update(ctx->db, q, &r, err))
HANDLER(stage_delete, Crm__StageGetRequest, Crm__Stage, deals_store_stage_delete(ctx->db, q->id, err))
HANDLER(deal_list, Crm__DealListRequest, Crm__DealList, deals_store_deal_list(ctx->db, &c, q, &r, err))
static int deal_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    deals_t *self = arg;
    const Crm__DealGetRequest *q = (const Crm__DealGetRequest *)in;
    deals_caller_t c = caller_of(self, ctx);
    bool contacts = false;
    Crm__Deal *r = NULL;
    if (deals_check_includes(q->includes, &contacts, err) ||
        deals_store_deal_get(ctx->db, &c, q->id, &r, err))
        return err->code;
    if (contacts && deals_store_include_contacts(ctx->db, &r, 1, err)) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return err->code;
    }
    *out = &r->base;
    return CRM_OK;
}
/* The contacts a deal write names must exist in crm-leads and be visible to the caller (one
 * contacts.list by ids, as the caller): each missing one is a field error on pointer. */
int deals_check_contacts(deals_t *self, const crm_rpc_ctx_t *ctx, const int64_t *ids, const char *const *ptrs,
                         size_t n, crm_err_t *err)
{
    if (n == 0)
        return CRM_OK;
    if (n > 100)
        return crm_err_set(err, CRM_EINVALID, ptrs[0], "incorrect_value", "at most 100 contacts per deal");
    if (!self->leads)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for crm-leads (contacts.list)");
    char csv[100 * 21 + 1];
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += (size_t)snprintf(csv + w, sizeof csv - w, "%s%lld", i ? "," : "", (long long)ids[i]);
    Crm__ContactListRequest lr = CRM__CONTACT_LIST_REQUEST__INIT;
    lr.ids = csv;
    lr.has_per_page = 1;
    lr.per_page = 100;
    crm_rpc_caller_t caller = {
        .user_id = ctx->user_id, .role = ctx->role, .correlation_id = ctx->correlation_id};
    crm_err_t e;
    crm_err_clear(&e);
    ProtobufCMessage *got = NULL;
    int rc = crm_rpc_call(self->leads, "contacts.list", &caller, &lr.base, &crm__contact_list__descriptor,
                          5000, &got, &e);
    if (rc) {
        *err = e;
        return rc;
    }
    const Crm__ContactList *cl = (const Crm__ContactList *)got;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < cl->n_items && !found; k++)
            found = cl->items[k]->id == ids[i];
        if (!found)
            crm_err_add(err, CRM_EINVALID, ptrs[i], "incorrect_value", "contact %lld does not exist",
                        (long long)ids[i]);
    }
    protobuf_c_message_free_unpacked(got, NULL);
    return err->code;
}

/* What a deal write needs from crm-leads: its contacts exist, and its custom_fields fit the deal
 * custom field definitions (custom_fields.deal.check; the values come back normalized and replace
 * the request's). Field errors add up with the store's own checks; other failures stop here. */
static int check_with_leads(deals_t *self, const crm_rpc_ctx_t *ctx, Crm__Deal *in, crm_err_t *err)
{
    size_t n = 0;
    int64_t ids[101];
    const char *ptrs[101];
    if (in->has_contact_id && in->contact_id > 0) {
        ids[n] = in->contact_id;
        ptrs[n++] = "/contact_id";
    }
    for (size_t i = 0; i < in->n_contact_ids && n < 101; i++) {
        ids[n] = in->contact_ids[i];
        ptrs[n++] = "/contact_ids";
    }
    int rc = deals_check_contacts(self, ctx, ids, ptrs, n, err);
    if (rc && rc != CRM_EINVALID)
        return rc;
    if (!in->custom_fields_json || in->custom_fields_json[0] != '{')
        return err->code; /* absent; a non-object is the store's 422 */
    if (!self->leads)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for crm-leads (custom fields)");
    Crm__CustomFieldValues cv = CRM__CUSTOM_FIELD_VALUES__INIT;
    cv.custom_fields_json = in->custom_fields_json;
    crm_rpc_caller_t caller = {
        .user_id = ctx->user_id, .role = ctx->role, .correlation_id = ctx->correlation_id};
    crm_err_t e;
    crm_err_clear(&e);
    ProtobufCMessage *got = NULL;
    rc = crm_rpc_call(self->leads, "custom_fields.deal.check", &caller, &cv.base,
                      &crm__custom_field_values__descriptor, 5000, &got, &e);
    if (rc == CRM_EINVALID) {
        crm_err_add(err, CRM_EINVALID, e.field, e.reason, "%s", e.message);
        for (int i = 0; i < e.nmore; i++)
            crm_err_add(err, CRM_EINVALID, e.more[i].field, e.more[i].reason, "%s", e.more[i].message);
        return err->code;
    }
    if (rc) {
        *err = e;
        return rc;
    }
    Crm__CustomFieldValues *norm = (Crm__CustomFieldValues *)got;
    if (norm->custom_fields_json) {
        free(in->custom_fields_json);
        in->custom_fields_json = norm->custom_fields_json;
        norm->custom_fields_json = NULL;
    }
    protobuf_c_message_free_unpacked(got, NULL);
    return err->code;
}

int deals_write_checks(deals_t *self, const crm_rpc_ctx_t *ctx, Crm__Deal *in, crm_err_t *err)
{
    return check_with_leads(self, ctx, in, err);
}

HANDLER(deal_create, Crm__Deal, Crm__Deal,
        deals_write_checks(self, ctx, (Crm__Deal *)q, err) && err->code != CRM_EINVALID
            ? err->code
            : deals_store_deal_create(ctx->db, &c, q, &r, err))
HANDLER(deal_update, Crm__Deal, Crm__Deal,
        deals_write_checks(self, ctx, (Crm__Deal *)q, err) && err->code != CRM_EINVALID
            ? err->code
            : deals_store_deal_update(ctx->db, &c, q, &r, err))
HANDLER(deal_delete, Crm__DealGetRequest, Crm__Deal, deals_store_deal_delete(ctx->db, &c, q->id, err))
HANDLER(board, Crm__BoardRequest, Crm__Board, deals_store_board(ctx->db, &c, q, &r, err))
HANDLER(deal_clone, Crm__DealCloneRequest, Crm__DealCloneReply, deals_store_clone(ctx->db, &c, q, &r, err))
HANDLER(contacts_list, Crm__AssociatedContactListRequest, Crm__AssociatedContactList,
        deals_store_contacts_list(ctx->db, &c, q, &r, err))
/* POST /v2/deals/{deal_id}/associated_contacts: 404 for a deal the caller cannot see, then 422
 * for a contact it cannot see in crm-leads. */
static int contact_add(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                       ProtobufCMessage **out, crm_err_t *err)
{
    deals_t *self = arg;
    const Crm__AssociatedContact *q = (const Crm__AssociatedContact *)in;
    deals_caller_t c = caller_of(self, ctx);
    Crm__Deal *d = NULL;
    if (deals_store_deal_get(ctx->db, &c, q->deal_id, &d, err))
        return err->code;
    protobuf_c_message_free_unpacked(&d->base, NULL);
    if (q->has_contact_id && q->contact_id > 0 &&
        deals_check_contacts(self, ctx, &q->contact_id, (const char *const[]){"/contact_id"}, 1, err))
        return err->code;
    Crm__AssociatedContact *r = NULL;
    int rc = deals_store_contact_add(ctx->db, &c, q, &r, err);
    *out = r ? &r->base : NULL;
    return rc;
}
HANDLER(contact_remove, Crm__AssociatedContact, Crm__AssociatedContact,
        deals_store_contact_remove(ctx->db, &c, q, err))
HANDLER(stage_changes, Crm__StageChangeListRequest, Crm__StageChangeList,
        deals_store_stage_changes(ctx->db, &c, q, &r, err))

HANDLER(product_list, Crm__ProductListRequest, Crm__ProductList,
        deals_store_product_list(ctx->db, &c, q, &r, err))
HANDLER(product_get, Crm__ProductGetRequest, Crm__Product,
        deals_store_product_get(ctx->db, &c, q->id, &r, err))
HANDLER(product_create, Crm__Product, Crm__Product, deals_store_product_create(ctx->db, &c, q, &r, err))
HANDLER(product_update, Crm__Product, Crm__Product, deals_store_product_update(ctx->db, &c, q, &r, err))
HANDLER(product_delete, Crm__ProductGetRequest, Crm__Product,
        deals_store_product_delete(ctx->db, &c, q->id, err))
HANDLER(order_list, Crm__OrderListRequest, Crm__OrderList, deals_store_order_list(ctx->db, &c, q, &r, err))
HANDLER(order_get, Crm__OrderGetRequest, Crm__Order, deals_store_order_get(ctx->db, &c, q->id, &r, err))
HANDLER(order_create, Crm__Order, Crm__Order, deals_store_order_create(ctx->db, &c, q, &r, err))
HANDLER(order_update, Crm__Order, Crm__Order, deals_store_order_update(ctx->db, &c, q, &r, err))
HANDLER(order_delete, Crm__OrderGetRequest, Crm__Order, deals_store_order_delete(ctx->db, &c, q->id, err))
HANDLER(line_item_list, Crm__LineItemListRequest, Crm__LineItemList,
        deals_store_line_item_list(ctx->db, &c, q, &r, err))
HANDLER(line_item_get, Crm__LineItemGetRequest, Crm__LineItem,
        deals_store_line_item_get(ctx->db, &c, q, &r, err))
HANDLER(line_item_create, Crm__LineItem, Crm__LineItem, deals_store_line_item_create(ctx->db, &c, q, &r, err))
HANDLER(line_item_delete, Crm__LineItemGetRequest, Crm__LineItem,
        deals_store_line_item_delete(ctx->db, &c, q, err))

/* reports.funnel: who the figures cover. A sales caller gets its own only (asking for another owner
 * or a team is 403); team_id asks crm-assign (teams.get) for the team's members. */
static int funnel(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                  crm_err_t *err)
{
    deals_t *self = arg;
    const Crm__FunnelRequest *q = (const Crm__FunnelRequest *)in;
    deals_caller_t c = caller_of(self, ctx);
    if (!q->has_pipeline_id)
        return crm_err_set(err, CRM_EBADREQUEST, "pipeline_id", "invalid_param", "pipeline_id is required");
    if ((q->from && !deals_check_day(q->from)) || (q->to && !deals_check_day(q->to)))
        return crm_err_set(err, CRM_EBADREQUEST, q->from && !deals_check_day(q->from) ? "from" : "to",
                           "invalid_param", "from and to must be days YYYY-MM-DD");
    if (q->has_owner_id && q->has_team_id)
        return crm_err_set(err, CRM_EBADREQUEST, "team_id", "invalid_param",
                           "give owner_id or team_id, not both");
    if (c.sales && ((q->has_owner_id && q->owner_id != c.user_id) || q->has_team_id))
        return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "a sales user sees only its own funnel");
    int64_t one = c.sales ? c.user_id : q->owner_id;
    const int64_t *owners = c.sales || q->has_owner_id ? &one : NULL;
    size_t n = owners ? 1 : 0;
    Crm__Team *team = NULL;
    if (q->has_team_id) {
        if (!self->assign)
            return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for crm-assign (teams.get)");
        Crm__TeamGetRequest tr = CRM__TEAM_GET_REQUEST__INIT;
        tr.has_id = 1;
        tr.id = q->team_id;
        crm_rpc_caller_t caller = {
            .user_id = ctx->user_id, .role = ctx->role, .correlation_id = ctx->correlation_id};
        ProtobufCMessage *tm = NULL;
        int rc = crm_rpc_call(self->assign, "teams.get", &caller, &tr.base, &crm__team__descriptor, 5000, &tm,
                              err);
        if (rc == CRM_ENOTFOUND)
            return crm_err_set(err, CRM_EINVALID, "/team_id", "incorrect_value", "team %lld does not exist",
                               (long long)q->team_id);
        if (rc)
            return rc;
        team = (Crm__Team *)tm;
        owners = team->user_ids;
        n = team->n_user_ids;
        if (n == 0) /* an empty team: nobody's figures, not everyone's */
            owners = &(int64_t){-1}, n = 1;
    }
    Crm__Funnel *r = NULL;
    int rc = deals_store_funnel(ctx->db, q, owners, n, &r, err);
    if (team)
        protobuf_c_message_free_unpacked(&team->base, NULL);
    *out = r ? &r->base : NULL;
    return rc;
}

/* deals.create_from_conversion (crm.LeadConverted → crm.ConversionDealReply): called by crm-leads
 * while converting; the lead.converted event does the same, whichever comes first wins. */
static int from_conversion(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in,
                           ProtobufCMessage **out, crm_err_t *err)
{
    deals_t *self = arg;
    const Crm__LeadConverted *lc = (const Crm__LeadConverted *)in;
    deals_caller_t c = caller_of(self, ctx);
    int64_t id = 0;
    bool created = false;
    if (crm_db_begin(ctx->db, err))
        return err->code;
    if (deals_store_from_conversion(ctx->db, &c, lc, &id, &created, err) || crm_db_commit(ctx->db, err)) {
        crm_db_rollback(ctx->db);
        return err->code;
    }
    if (created)
        crm_outbox_kick(c.outbox);
    crm_log_info(ctx->correlation_id, "deal.from_conversion",
                 "conversion_id=%lld deal_id=%lld created=%d via=rpc", (long long)lc->conversion_id,
                 (long long)id, created);
    Crm__ConversionDealReply *r =
        (Crm__ConversionDealReply *)crm_pb_new(&crm__conversion_deal_reply__descriptor);
    r->has_deal_id = r->has_created = 1;
    r->deal_id = id;
    r->created = created;
    *out = &r->base;
    return CRM_OK;
}

/* Loss reasons, deal unqualified reasons and deal sources: one set of handlers, the kind as arg. */
#define REASON_HANDLER(fn, REQ, T, call)                                                                     \
    static int fn(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,   \
                  crm_err_t *err)                                                                            \
    {                                                                                                        \
        const deals_reason_kind_t *k = arg;                                                                  \
        const REQ *q = (const REQ *)in;                                                                      \
        deals_caller_t c = caller_of(k->owner, ctx);                                                         \
        (void)c;                                                                                             \
        T *r = NULL;                                                                                         \
        int rc = call;                                                                                       \
        *out = r ? &r->base : NULL;                                                                          \
        return rc;                                                                                           \
    }

REASON_HANDLER(reason_list, Crm__DealReasonListRequest, Crm__DealReasonList,
               deals_store_reason_list(ctx->db, k, q, &r, err))
REASON_HANDLER(reason_get, Crm__DealReasonGetRequest, Crm__DealReason,
               deals_store_reason_get(ctx->db, k, q->id, &r, err))
REASON_HANDLER(reason_create, Crm__DealReason, Crm__DealReason,
               deals_store_reason_create(ctx->db, k, &c, q, &r, err))
REASON_HANDLER(reason_update, Crm__DealReason, Crm__DealReason,
               deals_store_reason_update(ctx->db, k, q, &r, err))
REASON_HANDLER(reason_delete, Crm__DealReasonGetRequest, Crm__DealReason,
               deals_store_reason_delete(ctx->db, k, q->id, err))

void deals_rpc_register(deals_t *self)
{
    crm_rpc_server_t *s = self->daemon->rpc;
    deals_import_register(self);
#define H(method, desc, fn) crm_rpc_server_handle(s, method, &desc##__descriptor, fn, self)
    H("pipelines.list", crm__pipeline_list_request, pipeline_list);
    H("pipelines.get", crm__pipeline_get_request, pipeline_get);
    H("pipelines.create", crm__pipeline, pipeline_create);
    H("pipelines.update", crm__pipeline, pipeline_update);
    H("pipelines.delete", crm__pipeline_get_request, pipeline_delete);
    H("stages.list", crm__stage_list_request, stage_list);
    H("stages.get", crm__stage_get_request, stage_get);
    H("stages.create", crm__stage, stage_create);
    H("stages.update", crm__stage, stage_update);
    H("stages.delete", crm__stage_get_request, stage_delete);
    H("deals.list", crm__deal_list_request, deal_list);
    H("deals.get", crm__deal_get_request, deal_get);
    H("deals.create", crm__deal, deal_create);
    H("deals.update", crm__deal, deal_update);
    H("deals.delete", crm__deal_get_request, deal_delete);
    H("deals.contacts.list", crm__associated_contact_list_request, contacts_list);
    H("deals.contacts.add", crm__associated_contact, contact_add);
    H("deals.contacts.remove", crm__associated_contact, contact_remove);
    H("deals.stage_changes", crm__stage_change_list_request, stage_changes);
    H("pipelines.board", crm__board_request, board);
    H("deals.clone", crm__deal_clone_request, deal_clone);
    H("reports.funnel", crm__funnel_request, funnel);
    H("deals.create_from_conversion", crm__lead_converted, from_conversion);
    H("products.list", crm__product_list_request, product_list);
    H("products.get", crm__product_get_request, product_get);
    H("products.create", crm__product, product_create);
    H("products.update", crm__product, product_update);
    H("products.delete", crm__product_get_request, product_delete);
    H("orders.list", crm__order_list_request, order_list);
    H("orders.get", crm__order_get_request, order_get);
    H("orders.create", crm__order, order_create);
    H("orders.update", crm__order, order_update);
    H("orders.delete", crm__order_get_request, order_delete);
    H("line_items.list", crm__line_item_list_request, line_item_list);
    H("line_items.get", crm__line_item_get_request, line_item_get);
    H("line_items.create", crm__line_item, line_item_create);
    H("line_items.delete", crm__line_item_get_request, line_item_delete);
#undef H
    static const char *const prefixes[3] = {"loss_reasons", "unqualified_reasons", "sources"};
    static const char *const tables[3][2] = {{"loss_reasons", "loss reason"},
                                             {"deal_unqualified_reasons", "deal unqualified reason"},
                                             {"deal_sources", "deal source"}};
    for (int i = 0; i < 3; i++) {
        self->reasons[i] = (deals_reason_kind_t){.table = tables[i][0], .label = tables[i][1], .owner = self};
        char m[64];
#define R(op, desc, fn)                                                                                      \
    snprintf(m, sizeof m, "%s." op, prefixes[i]);                                                            \
    crm_rpc_server_handle(s, m, &desc##__descriptor, fn, &self->reasons[i])
        R("list", crm__deal_reason_list_request, reason_list);
        R("get", crm__deal_reason_get_request, reason_get);
        R("create", crm__deal_reason, reason_create);
        R("update", crm__deal_reason, reason_update);
        R("delete", crm__deal_reason_get_request, reason_delete);
#undef R
    }
}

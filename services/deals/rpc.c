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
HANDLER(deal_get, Crm__DealGetRequest, Crm__Deal, deals_store_deal_get(ctx->db, &c, q->id, &r, err))
HANDLER(deal_create, Crm__Deal, Crm__Deal, deals_store_deal_create(ctx->db, &c, q, &r, err))
HANDLER(deal_update, Crm__Deal, Crm__Deal, deals_store_deal_update(ctx->db, &c, q, &r, err))
HANDLER(deal_delete, Crm__DealGetRequest, Crm__Deal, deals_store_deal_delete(ctx->db, &c, q->id, err))
HANDLER(board, Crm__BoardRequest, Crm__Board, deals_store_board(ctx->db, &c, q, &r, err))
HANDLER(contacts_list, Crm__AssociatedContactListRequest, Crm__AssociatedContactList,
        deals_store_contacts_list(ctx->db, &c, q, &r, err))
HANDLER(contact_add, Crm__AssociatedContact, Crm__AssociatedContact,
        deals_store_contact_add(ctx->db, &c, q, &r, err))
HANDLER(contact_remove, Crm__AssociatedContact, Crm__AssociatedContact,
        deals_store_contact_remove(ctx->db, &c, q, err))
HANDLER(stage_changes, Crm__StageChangeListRequest, Crm__StageChangeList,
        deals_store_stage_changes(ctx->db, &c, q, &r, err))

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
    H("reports.funnel", crm__funnel_request, funnel);
    H("deals.create_from_conversion", crm__lead_converted, from_conversion);
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

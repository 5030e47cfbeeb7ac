/* crm-deals request handlers: pipelines.list, stages.list (read by every role). */
#include "deals.h"

static int pipeline_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                         crm_err_t *err)
{
    (void)arg;
    Crm__PipelineList *l = NULL;
    int rc = deals_store_pipeline_list(ctx->db, (const Crm__PipelineListRequest *)in, &l, err);
    *out = l ? &l->base : NULL;
    return rc;
}

static int stage_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                      crm_err_t *err)
{
    (void)arg;
    Crm__StageList *l = NULL;
    int rc = deals_store_stage_list(ctx->db, (const Crm__StageListRequest *)in, &l, err);
    *out = l ? &l->base : NULL;
    return rc;
}

void deals_rpc_register(deals_t *self)
{
    crm_rpc_server_handle(self->daemon->rpc, "pipelines.list", &crm__pipeline_list_request__descriptor, pipeline_list,
                          self);
    crm_rpc_server_handle(self->daemon->rpc, "stages.list", &crm__stage_list_request__descriptor, stage_list, self);
}

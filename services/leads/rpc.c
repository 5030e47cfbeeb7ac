/* crm-leads request handlers: leads.list, leads.get. Visibility (DESIGN §7): a sales caller
 * sees only the leads it owns; admins, managers and the system see all. */
#include "leads.h"

#include <string.h>

static bool owner_restricted(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "sales") == 0;
}

static int lead_list(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                     crm_err_t *err)
{
    (void)arg;
    Crm__LeadList *list = NULL;
    int rc = leads_store_list(ctx->db, (const Crm__LeadListRequest *)in, owner_restricted(ctx), ctx->user_id, &list,
                              err);
    *out = list ? &list->base : NULL;
    return rc;
}

static int lead_get(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,
                    crm_err_t *err)
{
    (void)arg;
    const Crm__LeadGetRequest *req = (const Crm__LeadGetRequest *)in;
    Crm__Lead *lead = NULL;
    int rc = leads_store_get(ctx->db, req->id, owner_restricted(ctx), ctx->user_id, &lead, err);
    *out = lead ? &lead->base : NULL;
    return rc;
}

void leads_rpc_register(leads_t *self)
{
    crm_rpc_server_t *rpc = self->daemon->rpc;
    crm_rpc_server_handle(rpc, "leads.list", &crm__lead_list_request__descriptor, lead_list, self);
    crm_rpc_server_handle(rpc, "leads.get", &crm__lead_get_request__descriptor, lead_get, self);
}

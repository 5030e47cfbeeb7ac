/* crm-assign request handlers: users and distribution pools. Writes need role admin (or the
 * system, for the gateway's bootstrap); every caller may read. */
#include "assign.h"

#include <string.h>

static bool is_admin(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "admin") == 0 || strcmp(ctx->role, "system") == 0;
}

static int forbidden(crm_err_t *err)
{
    return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "only admins may change users and pools");
}

#define HANDLER(fn) static int fn(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, \
                                  ProtobufCMessage **out, crm_err_t *err)
#define REPLY(var) (*out = (var) ? &(var)->base : NULL)

HANDLER(user_create)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__User *u = NULL;
    int rc = assign_store_user_create(ctx->db, (const Crm__User *)in, &u, err);
    REPLY(u);
    return rc;
}

HANDLER(user_bootstrap)
{
    (void)arg;
    if (strcmp(ctx->role, "system") != 0)
        return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "users.bootstrap is for the gateway only");
    const Crm__User *req = (const Crm__User *)in;
    if (!req->email || !req->name)
        return crm_err_set(err, CRM_EINVALID, "/email", "missing", "name and email are required");
    Crm__User *u = NULL;
    int rc = assign_store_user_bootstrap(ctx->db, req->name, req->email, &u, err);
    REPLY(u);
    return rc;
}

HANDLER(user_get)
{
    (void)arg;
    Crm__User *u = NULL;
    int rc = assign_store_user_get(ctx->db, ((const Crm__UserGetRequest *)in)->id, &u, err);
    REPLY(u);
    return rc;
}

HANDLER(user_list)
{
    (void)arg;
    Crm__UserList *l = NULL;
    int rc = assign_store_user_list(ctx->db, (const Crm__UserListRequest *)in, &l, err);
    REPLY(l);
    return rc;
}

HANDLER(pool_create)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__DistributionPool *p = NULL;
    int rc = assign_store_pool_create(ctx->db, (const Crm__DistributionPool *)in, &p, err);
    REPLY(p);
    return rc;
}

HANDLER(pool_get)
{
    (void)arg;
    Crm__DistributionPool *p = NULL;
    int rc = assign_store_pool_get(ctx->db, ((const Crm__PoolGetRequest *)in)->id, &p, err);
    REPLY(p);
    return rc;
}

HANDLER(pool_list)
{
    (void)arg;
    Crm__PoolList *l = NULL;
    int rc = assign_store_pool_list(ctx->db, (const Crm__PoolListRequest *)in, &l, err);
    REPLY(l);
    return rc;
}

void assign_rpc_register(assign_t *self)
{
    crm_rpc_server_t *rpc = self->daemon->rpc;
    crm_rpc_server_handle(rpc, "users.create", &crm__user__descriptor, user_create, self);
    crm_rpc_server_handle(rpc, "users.bootstrap", &crm__user__descriptor, user_bootstrap, self);
    crm_rpc_server_handle(rpc, "users.get", &crm__user_get_request__descriptor, user_get, self);
    crm_rpc_server_handle(rpc, "users.list", &crm__user_list_request__descriptor, user_list, self);
    crm_rpc_server_handle(rpc, "pools.create", &crm__distribution_pool__descriptor, pool_create, self);
    crm_rpc_server_handle(rpc, "pools.get", &crm__pool_get_request__descriptor, pool_get, self);
    crm_rpc_server_handle(rpc, "pools.list", &crm__pool_list_request__descriptor, pool_list, self);
}

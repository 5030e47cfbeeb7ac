/* crm-assign request handlers: users and distribution pools. Writes need role admin (or the
 * system, for the gateway's bootstrap); every caller may read. */
#include "assign.h"

#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/util.h"

static bool is_admin(const crm_rpc_ctx_t *ctx)
{
    return strcmp(ctx->role, "admin") == 0 || strcmp(ctx->role, "system") == 0;
}

static int forbidden(crm_err_t *err)
{
    return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "only admins may change users and pools");
}

#define HANDLER(fn)                                                                                          \
    static int fn(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in, ProtobufCMessage **out,   \
                  crm_err_t *err)
#define REPLY(var) (*out = (var) ? &(var)->base : NULL)

/* Runs a user write (store call with result *u) in a transaction with its event: user.created or
 * user.updated carrying the user after the change (crm.User), for the Sync API. */
#define USER_WRITE(type, call)                                                                               \
    do {                                                                                                     \
        assign_t *self_ = arg;                                                                               \
        if (crm_db_begin(ctx->db, err))                                                                      \
            return err->code;                                                                                \
        int rc_ = (call);                                                                                    \
        if (rc_ == CRM_OK)                                                                                   \
            rc_ =                                                                                            \
                crm_outbox_append(self_->daemon->outbox, ctx->db, type, ctx->correlation_id, &u->base, err); \
        if (rc_ == CRM_OK)                                                                                   \
            rc_ = crm_db_commit(ctx->db, err);                                                               \
        if (rc_ != CRM_OK) {                                                                                 \
            crm_db_rollback(ctx->db);                                                                        \
            if (u)                                                                                           \
                protobuf_c_message_free_unpacked(&u->base, NULL);                                            \
            return rc_;                                                                                      \
        }                                                                                                    \
        crm_outbox_kick(self_->daemon->outbox);                                                              \
        REPLY(u);                                                                                            \
        return CRM_OK;                                                                                       \
    } while (0)

HANDLER(user_create)
{
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__User *u = NULL;
    USER_WRITE("user.created", assign_store_user_create(ctx->db, (const Crm__User *)in, &u, err));
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
    /* user.updated: the same user again at every start changes nothing downstream */
    USER_WRITE("user.updated", assign_store_user_bootstrap(ctx->db, req->name, req->email, &u, err));
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

HANDLER(user_update)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    const Crm__User *req = (const Crm__User *)in;
    if (!req->has_id)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no user id");
    Crm__User *u = NULL;
    USER_WRITE("user.updated", assign_store_user_update(ctx->db, ctx->user_id, req, &u, err));
}

/* DELETE /v2/users/{id}: users are never removed (records keep their owner): status inactive. */
HANDLER(user_deactivate)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__User req = CRM__USER__INIT;
    req.has_id = 1;
    req.id = ((const Crm__UserGetRequest *)in)->id;
    req.status = "inactive";
    Crm__User *u = NULL;
    USER_WRITE("user.updated", assign_store_user_update(ctx->db, ctx->user_id, &req, &u, err));
}

HANDLER(account_get)
{
    (void)arg;
    (void)ctx;
    (void)in;
    Crm__Account *a = NULL;
    int rc = assign_store_account_get(ctx->db, &a, err);
    REPLY(a);
    return rc;
}

HANDLER(team_create)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__Team *t = NULL;
    int rc = assign_store_team_create(ctx->db, (const Crm__Team *)in, &t, err);
    REPLY(t);
    return rc;
}

HANDLER(team_update)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__Team *t = NULL;
    int rc = assign_store_team_update(ctx->db, (const Crm__Team *)in, &t, err);
    REPLY(t);
    return rc;
}

HANDLER(team_delete)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    *out = NULL;
    return assign_store_team_delete(ctx->db, ((const Crm__TeamGetRequest *)in)->id, err);
}

HANDLER(team_get)
{
    (void)arg;
    Crm__Team *t = NULL;
    int rc = assign_store_team_get(ctx->db, ((const Crm__TeamGetRequest *)in)->id, &t, err);
    REPLY(t);
    return rc;
}

HANDLER(team_list)
{
    (void)arg;
    Crm__TeamList *l = NULL;
    int rc = assign_store_team_list(ctx->db, (const Crm__TeamListRequest *)in, &l, err);
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

HANDLER(pool_update)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__DistributionPool *p = NULL;
    int rc = assign_store_pool_update(ctx->db, (const Crm__DistributionPool *)in, &p, err);
    REPLY(p);
    return rc;
}

HANDLER(pool_delete)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    *out = NULL;
    return assign_store_pool_delete(ctx->db, ((const Crm__PoolDeleteRequest *)in)->id, err);
}

HANDLER(member_add)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__PoolMember *m = NULL;
    int rc = assign_store_member_add(ctx->db, (const Crm__PoolMember *)in, &m, err);
    REPLY(m);
    return rc;
}

HANDLER(member_update)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    Crm__PoolMember *m = NULL;
    int rc = assign_store_member_update(ctx->db, (const Crm__PoolMember *)in, &m, err);
    REPLY(m);
    return rc;
}

HANDLER(member_remove)
{
    (void)arg;
    if (!is_admin(ctx))
        return forbidden(err);
    *out = NULL;
    return assign_store_member_remove(ctx->db, (const Crm__PoolMemberRequest *)in, err);
}

HANDLER(member_list)
{
    (void)arg;
    Crm__PoolMemberList *l = NULL;
    int rc = assign_store_member_list(ctx->db, (const Crm__PoolMemberRequest *)in, &l, err);
    REPLY(l);
    return rc;
}

HANDLER(assignment_list)
{
    (void)arg;
    Crm__AssignmentList *l = NULL;
    bool sales = strcmp(ctx->role, "sales") == 0;
    int rc = assign_store_assignment_list(ctx->db, ctx->user_id, sales,
                                          (const Crm__AssignmentListRequest *)in, &l, err);
    REPLY(l);
    return rc;
}

/* Shares are about people's workload: managers and admins (SPEC H1: reports are not for sales). */
HANDLER(pool_stats)
{
    (void)arg;
    if (strcmp(ctx->role, "sales") == 0)
        return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "pool stats are for managers and admins");
    Crm__PoolStats *s = NULL;
    int rc = assign_store_pool_stats(ctx->db, (const Crm__PoolStatsRequest *)in, &s, err);
    REPLY(s);
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

static int ids_positive(const int64_t *ids, size_t n, const char *field, crm_err_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] <= 0)
            return crm_err_set(err, CRM_EINVALID, field, "incorrect_value",
                               "record id %lld at index %zu is not a positive id", (long long)ids[i], i);
    return CRM_OK;
}

/* assign.pick_bulk (importers): owners for many records at once, no owner.assigned (see the
 * contract in proto/assign.proto). The system or an admin only. */
HANDLER(pick_bulk)
{
    (void)arg;
    if (!is_admin(ctx))
        return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden",
                           "assign.pick_bulk is for importers (admin)");
    const Crm__PickBulkRequest *req = (const Crm__PickBulkRequest *)in;
    const char *type = req->resource_type;
    if (!type || (strcmp(type, "lead") && strcmp(type, "contact") && strcmp(type, "deal")))
        return crm_err_set(err, CRM_EINVALID, "/resource_type", type ? "incorrect_value" : "missing",
                           "resource_type must be lead, contact or deal");
    if (req->n_record_ids > 2000000)
        return crm_err_set(err, CRM_EINVALID, "/record_ids", "too_long",
                           "at most 2,000,000 records per call");
    if (ids_positive(req->record_ids, req->n_record_ids, "/record_ids", err) != CRM_OK ||
        ids_positive(req->release_ids, req->n_release_ids, "/release_ids", err) != CRM_OK)
        return err->code;
    Crm__PickBulkReply *rep = (Crm__PickBulkReply *)crm_pb_new(&crm__pick_bulk_reply__descriptor);
    size_t n = req->n_record_ids;
    rep->owner_ids = calloc(n + 1, sizeof *rep->owner_ids);
    rep->assignment_ids = calloc(n + 1, sizeof *rep->assignment_ids);
    rep->n_owner_ids = rep->n_assignment_ids = n;
    rep->has_pool_id = 1;
    assign_bulk_t b = {.type = type,
                       .ids = req->record_ids,
                       .n = n,
                       .pool_id = req->has_pool_id ? req->pool_id : 0,
                       .owner_id = req->has_owner_id ? req->owner_id : 0,
                       .import_id = req->import_id,
                       .changed_by = req->has_changed_by ? req->changed_by : ctx->user_id,
                       .release = req->release_ids,
                       .nrelease = req->n_release_ids};
    int64_t t0 = crm_mono_us();
    bool work = n > 0 || b.nrelease > 0;
    int rc = work ? crm_db_begin(ctx->db, err) : CRM_OK;
    if (work && rc == CRM_OK)
        rc = assign_store_pick_bulk(ctx->db, &b, rep->owner_ids, rep->assignment_ids, &rep->pool_id, err);
    if (work && rc == CRM_OK)
        rc = crm_db_commit(ctx->db, err);
    if (rc != CRM_OK) {
        crm_db_rollback(ctx->db);
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        return rc;
    }
    rep->has_released = 1;
    rep->released = b.released;
    crm_log_info(ctx->correlation_id, "assign.pick_bulk",
                 "resource_type=%s records=%zu released=%lld pool_id=%lld owner_id=%lld import_id=%s ms=%lld "
                 "known_ms=%lld ids_ms=%lld picks_ms=%lld copy_ms=%lld ownership_ms=%lld",
                 type, n, (long long)b.released, (long long)rep->pool_id, (long long)b.owner_id,
                 b.import_id ? b.import_id : "", (long long)((crm_mono_us() - t0) / 1000),
                 (long long)(b.phase_us[0] / 1000), (long long)(b.phase_us[1] / 1000),
                 (long long)(b.phase_us[2] / 1000), (long long)(b.phase_us[3] / 1000),
                 (long long)(b.phase_us[4] / 1000));
    REPLY(rep);
    return CRM_OK;
}

void assign_rpc_register(assign_t *self)
{
    crm_rpc_server_t *rpc = self->daemon->rpc;
    crm_rpc_server_handle(rpc, "users.create", &crm__user__descriptor, user_create, self);
    crm_rpc_server_handle(rpc, "users.bootstrap", &crm__user__descriptor, user_bootstrap, self);
    crm_rpc_server_handle(rpc, "users.get", &crm__user_get_request__descriptor, user_get, self);
    crm_rpc_server_handle(rpc, "users.list", &crm__user_list_request__descriptor, user_list, self);
    crm_rpc_server_handle(rpc, "users.update", &crm__user__descriptor, user_update, self);
    crm_rpc_server_handle(rpc, "users.deactivate", &crm__user_get_request__descriptor, user_deactivate, self);
    crm_rpc_server_handle(rpc, "accounts.get", &crm__account_get_request__descriptor, account_get, self);
    crm_rpc_server_handle(rpc, "teams.create", &crm__team__descriptor, team_create, self);
    crm_rpc_server_handle(rpc, "teams.update", &crm__team__descriptor, team_update, self);
    crm_rpc_server_handle(rpc, "teams.delete", &crm__team_get_request__descriptor, team_delete, self);
    crm_rpc_server_handle(rpc, "teams.get", &crm__team_get_request__descriptor, team_get, self);
    crm_rpc_server_handle(rpc, "teams.list", &crm__team_list_request__descriptor, team_list, self);
    crm_rpc_server_handle(rpc, "pools.create", &crm__distribution_pool__descriptor, pool_create, self);
    crm_rpc_server_handle(rpc, "pools.get", &crm__pool_get_request__descriptor, pool_get, self);
    crm_rpc_server_handle(rpc, "pools.update", &crm__distribution_pool__descriptor, pool_update, self);
    crm_rpc_server_handle(rpc, "pools.delete", &crm__pool_delete_request__descriptor, pool_delete, self);
    crm_rpc_server_handle(rpc, "pools.stats", &crm__pool_stats_request__descriptor, pool_stats, self);
    crm_rpc_server_handle(rpc, "pools.members.add", &crm__pool_member__descriptor, member_add, self);
    crm_rpc_server_handle(rpc, "pools.members.update", &crm__pool_member__descriptor, member_update, self);
    crm_rpc_server_handle(rpc, "pools.members.remove", &crm__pool_member_request__descriptor, member_remove,
                          self);
    crm_rpc_server_handle(rpc, "pools.members.list", &crm__pool_member_request__descriptor, member_list,
                          self);
    crm_rpc_server_handle(rpc, "assignments.list", &crm__assignment_list_request__descriptor, assignment_list,
                          self);
    crm_rpc_server_handle(rpc, "pools.list", &crm__pool_list_request__descriptor, pool_list, self);
    crm_rpc_server_handle(rpc, "assign.pick_bulk", &crm__pick_bulk_request__descriptor, pick_bulk, self);
}

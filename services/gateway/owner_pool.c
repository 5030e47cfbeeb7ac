/* owner_id "pool:{id}" on leads, contacts and deals (SPEC B2, issue 5): in a create or update
 * body, "owner_id": "pool:N" becomes "assign_pool_id": N (the record keeps its owner until
 * crm-assign picks one from pool N through the owner protocol, on the pool's shared cursor).
 * The pool must exist and hand out the route's record type: pools are never mixed, so a lead
 * pool given for a deal is a 422 naming the field, before anything is written. Routes whose
 * request message has no assign_pool_id field are left alone. */
#include "owner_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.pb-c.h"
#include "crm/pbjson.h"

/* "pool:N" with N a positive decimal integer; false otherwise. */
static bool parse_pool_ref(const char *s, int64_t *pool)
{
    if (strncmp(s, "pool:", 5) != 0 || s[5] < '1' || s[5] > '9' || strlen(s + 5) > 18)
        return false;
    for (const char *p = s + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    *pool = strtoll(s + 5, NULL, 10);
    return true;
}

int gw_owner_pool(gw_t *gw, const gw_route_t *r, gw_request_t *req, json_t *data, crm_err_t *err)
{
    if (!crm_pbjson_field(r->req_desc, "assign_pool_id"))
        return CRM_OK;
    json_t *owner = json_object_get(data, "owner_id");
    json_t *given = json_object_get(data, "assign_pool_id");
    const char *field = "/assign_pool_id";
    int64_t pool = 0;
    if (json_is_string(owner) && strncmp(json_string_value(owner), "pool:", 5) == 0) {
        if (!parse_pool_ref(json_string_value(owner), &pool))
            return crm_err_set(err, CRM_EINVALID, "/owner_id", "incorrect_value",
                               "owner_id must be a user id or \"pool:{id}\" with a positive pool id");
        if (given && !json_is_null(given))
            return crm_err_set(err, CRM_EINVALID, "/owner_id", "incorrect_value",
                               "give either owner_id \"pool:{id}\" or assign_pool_id, not both");
        json_object_del(data, "owner_id");
        json_object_set_new(data, "assign_pool_id", json_integer(pool));
        field = "/owner_id";
    } else if (json_is_integer(given)) {
        pool = json_integer_value(given);
    }
    if (pool <= 0)
        return CRM_OK; /* nothing to check here; the service validates the rest */

    Crm__PoolGetRequest get = CRM__POOL_GET_REQUEST__INIT;
    get.has_id = 1;
    get.id = pool;
    crm_rpc_caller_t caller = {.user_id = req->user_id, .role = req->role, .correlation_id = req->corr};
    ProtobufCMessage *out = NULL;
    crm_rpc_client_t *assign = gw_client(gw, "assign");
    int rc = assign
                 ? crm_rpc_call(assign, "pools.get", &caller, &get.base, &crm__distribution_pool__descriptor,
                                gw_rpc_timeout_ms(gw, "assign"), &out, err)
                 : crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for assign");
    if (rc == CRM_ENOTFOUND) {
        crm_err_clear(err);
        return crm_err_set(err, CRM_EINVALID, field, "incorrect_value", "no distribution pool %lld",
                           (long long)pool);
    }
    if (rc != CRM_OK)
        return rc;
    const Crm__DistributionPool *p = (const Crm__DistributionPool *)out;
    char type[16];
    snprintf(type, sizeof type, "%s", p->resource_type ? p->resource_type : "");
    protobuf_c_message_free_unpacked(out, NULL);
    if (strcmp(type, r->meta_type) != 0)
        return crm_err_set(err, CRM_EINVALID, field, "incorrect_value",
                           "distribution pool %lld hands out %ss, not %ss: pools are never mixed",
                           (long long)pool, type, r->meta_type);
    return CRM_OK;
}

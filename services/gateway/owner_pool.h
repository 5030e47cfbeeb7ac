/* owner_id "pool:{id}" on the create and update bodies of leads, contacts and deals. */
#ifndef GW_OWNER_POOL_H
#define GW_OWNER_POOL_H

#include <jansson.h>
#include "crm/err.h"
#include "gateway.h"
#include "routes.h"

/* When r's request message has an assign_pool_id field: rewrites data's "owner_id": "pool:N"
 * into "assign_pool_id": N, and checks (RPC pools.get on assign) that pool N exists and serves
 * r->meta_type. 0 when fine; a 422 naming /owner_id (or /assign_pool_id) otherwise. */
int gw_owner_pool(gw_t *gw, const gw_route_t *r, gw_request_t *req, json_t *data, crm_err_t *err);

#endif

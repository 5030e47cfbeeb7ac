/* /v2 routes of users, teams, distribution pools and assignments (crm-assign): method, pattern, service, RPC
 * method, request and reply messages, Sell meta type, kind, least role, self id, custom handler. */
#include "routes.h"
#include "assign.pb-c.h"
#include "auth.h"

const gw_route_t gw_routes_assign[] = {
    {"GET", "/v2/users/self", "assign", "users.get", GW_D(crm__user_get_request), GW_D(crm__user), "user",
     GW_ONE, "sales", true, NULL},
    {"GET", "/v2/users", "assign", "users.list", GW_D(crm__user_list_request), GW_D(crm__user_list), "user",
     GW_LIST, "sales", false, NULL},
    {"POST", "/v2/users", "assign", "users.create", GW_D(crm__user), GW_D(crm__user), "user", GW_CREATE,
     "admin", false, NULL},
    {"GET", "/v2/users/{id}", "assign", "users.get", GW_D(crm__user_get_request), GW_D(crm__user), "user",
     GW_ONE, "sales", false, NULL},
    /* Writes to a user go through auth.c: the user's API tokens follow its role and status. */
    {"PUT", "/v2/users/{id}", "assign", "users.update", GW_D(crm__user), GW_D(crm__user), "user", GW_CUSTOM,
     "admin", false, gw_auth_user_write},
    {"DELETE", "/v2/users/{id}", "assign", "users.deactivate", GW_D(crm__user_get_request), GW_D(crm__user),
     "user", GW_CUSTOM, "admin", false, gw_auth_user_write},
    {"GET", "/v2/accounts/self", "assign", "accounts.get", GW_D(crm__account_get_request), GW_D(crm__account),
     "account", GW_ONE, "sales", false, NULL},
    {"GET", "/v2/teams", "assign", "teams.list", GW_D(crm__team_list_request), GW_D(crm__team_list), "team",
     GW_LIST, "sales", false, NULL},
    {"POST", "/v2/teams", "assign", "teams.create", GW_D(crm__team), GW_D(crm__team), "team", GW_CREATE,
     "admin", false, NULL},
    {"GET", "/v2/teams/{id}", "assign", "teams.get", GW_D(crm__team_get_request), GW_D(crm__team), "team",
     GW_ONE, "sales", false, NULL},
    {"PUT", "/v2/teams/{id}", "assign", "teams.update", GW_D(crm__team), GW_D(crm__team), "team", GW_UPDATE,
     "admin", false, NULL},
    {"DELETE", "/v2/teams/{id}", "assign", "teams.delete", GW_D(crm__team_get_request), GW_D(crm__team),
     "team", GW_DELETE, "admin", false, NULL},
    {"GET", "/v2/distribution_pools", "assign", "pools.list", GW_D(crm__pool_list_request),
     GW_D(crm__pool_list), "distribution_pool", GW_LIST, "sales", false, NULL},
    {"POST", "/v2/distribution_pools", "assign", "pools.create", GW_D(crm__distribution_pool),
     GW_D(crm__distribution_pool), "distribution_pool", GW_CREATE, "admin", false, NULL},
    {"GET", "/v2/distribution_pools/{id}", "assign", "pools.get", GW_D(crm__pool_get_request),
     GW_D(crm__distribution_pool), "distribution_pool", GW_ONE, "sales", false, NULL},
    /* PUT: name, default, fallback_owner_id, and user_ids (members not listed leave, kept ones keep
     * their place and rules, new ones join at the end); resource_type never changes. */
    {"PUT", "/v2/distribution_pools/{id}", "assign", "pools.update", GW_D(crm__distribution_pool),
     GW_D(crm__distribution_pool), "distribution_pool", GW_UPDATE, "admin", false, NULL},
    {"DELETE", "/v2/distribution_pools/{id}", "assign", "pools.delete", GW_D(crm__pool_delete_request),
     GW_D(crm__distribution_pool), "distribution_pool", GW_DELETE, "admin", false, NULL},
    {"GET", "/v2/distribution_pools/{id}/stats", "assign", "pools.stats", GW_D(crm__pool_stats_request),
     GW_D(crm__pool_stats), "distribution_pool_stats", GW_ONE, "manager", false, NULL},
    /* One member and its rules (weight, max_open, away_until). */
    {"GET", "/v2/distribution_pools/{pool_id}/members", "assign", "pools.members.list",
     GW_D(crm__pool_member_request), GW_D(crm__pool_member_list), "distribution_pool_member", GW_LIST,
     "sales", false, NULL},
    {"POST", "/v2/distribution_pools/{pool_id}/members", "assign", "pools.members.add",
     GW_D(crm__pool_member), GW_D(crm__pool_member), "distribution_pool_member", GW_CREATE, "admin", false,
     NULL},
    {"PUT", "/v2/distribution_pools/{pool_id}/members/{user_id}", "assign", "pools.members.update",
     GW_D(crm__pool_member), GW_D(crm__pool_member), "distribution_pool_member", GW_UPDATE, "admin", false,
     NULL},
    {"DELETE", "/v2/distribution_pools/{pool_id}/members/{user_id}", "assign", "pools.members.remove",
     GW_D(crm__pool_member_request), GW_D(crm__pool_member), "distribution_pool_member", GW_DELETE, "admin",
     false, NULL},
    {"GET", "/v2/assignments", "assign", "assignments.list", GW_D(crm__assignment_list_request),
     GW_D(crm__assignment_list), "assignment", GW_LIST, "sales", false, NULL},
};
GW_TABLE_END(assign);

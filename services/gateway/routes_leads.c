/* /v2 routes of leads, contacts and what hangs off them (crm-leads): method, pattern, service, RPC method,
 * request and reply messages, Sell meta type, kind, least role, self id, custom handler. */
#include "routes.h"
#include "leads.pb-c.h"

const gw_route_t gw_routes_leads[] = {
    {"GET", "/v2/leads", "leads", "leads.list", GW_D(crm__lead_list_request), GW_D(crm__lead_list), "lead",
     GW_LIST, "sales", false, NULL},
    {"GET", "/v2/leads/{id}", "leads", "leads.get", GW_D(crm__lead_get_request), GW_D(crm__lead), "lead",
     GW_ONE, "sales", false, NULL},
};
GW_TABLE_END(leads);

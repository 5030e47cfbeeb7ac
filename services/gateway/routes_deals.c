/* /v2 routes of pipelines, stages and deals (crm-deals): method, pattern, service, RPC method, request and
 * reply messages, Sell meta type, kind, least role, self id, custom handler. */
#include "routes.h"
#include "deals.pb-c.h"

const gw_route_t gw_routes_deals[] = {
    {"GET", "/v2/pipelines", "deals", "pipelines.list", GW_D(crm__pipeline_list_request),
     GW_D(crm__pipeline_list), "pipeline", GW_LIST, "sales", false, NULL},
    {"GET", "/v2/stages", "deals", "stages.list", GW_D(crm__stage_list_request), GW_D(crm__stage_list),
     "stage", GW_LIST, "sales", false, NULL},
};
GW_TABLE_END(deals);

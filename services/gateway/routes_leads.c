/* /v2 routes of leads, contacts and what hangs off them (crm-leads): method, pattern, service, RPC method,
 * request and reply messages, Sell meta type, kind, least role, self id, custom handler. */
#include "routes.h"
#include "leads.pb-c.h"
#include "activities.pb-c.h"

const gw_route_t gw_routes_leads[] = {
    {"GET", "/v2/leads", "leads", "leads.list", GW_D(crm__lead_list_request), GW_D(crm__lead_list), "lead",
     GW_LIST, "sales", false, NULL},
    {"GET", "/v2/leads/{id}", "leads", "leads.get", GW_D(crm__lead_get_request), GW_D(crm__lead), "lead",
     GW_ONE, "sales", false, NULL},
    /* ---- helper leads2 (issue 3 part 2): lead sources, unqualified reasons, notes, tasks, tags, custom
     * fields, smart lists. Keep this block at the end of the table. ---- */
    {"GET", "/v2/lead_sources", "leads", "lead_sources.list", GW_D(crm__lead_source_list_request),
     GW_D(crm__lead_source_list), "source", GW_LIST, "sales", false, NULL},
    {"GET", "/v2/lead_sources/{id}", "leads", "lead_sources.get", GW_D(crm__activity_id_request),
     GW_D(crm__lead_source), "source", GW_ONE, "sales", false, NULL},
    {"POST", "/v2/lead_sources", "leads", "lead_sources.create", GW_D(crm__lead_source),
     GW_D(crm__lead_source), "source", GW_CREATE, "admin", false, NULL},
    {"PUT", "/v2/lead_sources/{id}", "leads", "lead_sources.update", GW_D(crm__lead_source),
     GW_D(crm__lead_source), "source", GW_UPDATE, "admin", false, NULL},
    {"DELETE", "/v2/lead_sources/{id}", "leads", "lead_sources.delete", GW_D(crm__activity_id_request),
     GW_D(crm__lead_source), "source", GW_DELETE, "admin", false, NULL},
    {"GET", "/v2/lead_unqualified_reasons", "leads", "lead_unqualified_reasons.list",
     GW_D(crm__unqualified_reason_list_request), GW_D(crm__unqualified_reason_list), "unqualified_reason",
     GW_LIST, "sales", false, NULL},
    {"GET", "/v2/lead_unqualified_reasons/{id}", "leads", "lead_unqualified_reasons.get",
     GW_D(crm__activity_id_request), GW_D(crm__unqualified_reason), "unqualified_reason", GW_ONE, "sales",
     false, NULL},
    {"POST", "/v2/lead_unqualified_reasons", "leads", "lead_unqualified_reasons.create",
     GW_D(crm__unqualified_reason), GW_D(crm__unqualified_reason), "unqualified_reason", GW_CREATE, "admin",
     false, NULL},
    {"PUT", "/v2/lead_unqualified_reasons/{id}", "leads", "lead_unqualified_reasons.update",
     GW_D(crm__unqualified_reason), GW_D(crm__unqualified_reason), "unqualified_reason", GW_UPDATE, "admin",
     false, NULL},
    {"DELETE", "/v2/lead_unqualified_reasons/{id}", "leads", "lead_unqualified_reasons.delete",
     GW_D(crm__activity_id_request), GW_D(crm__unqualified_reason), "unqualified_reason", GW_DELETE, "admin",
     false, NULL},
    {"GET", "/v2/tags", "leads", "tags.list", GW_D(crm__tag_list_request), GW_D(crm__tag_list), "tag",
     GW_LIST, "sales", false, NULL},
    {"GET", "/v2/tags/{id}", "leads", "tags.get", GW_D(crm__activity_id_request), GW_D(crm__tag), "tag",
     GW_ONE, "sales", false, NULL},
    {"POST", "/v2/tags", "leads", "tags.create", GW_D(crm__tag), GW_D(crm__tag), "tag", GW_CREATE, "sales",
     false, NULL},
    {"PUT", "/v2/tags/{id}", "leads", "tags.update", GW_D(crm__tag), GW_D(crm__tag), "tag", GW_UPDATE,
     "admin", false, NULL},
    {"DELETE", "/v2/tags/{id}", "leads", "tags.delete", GW_D(crm__activity_id_request), GW_D(crm__tag), "tag",
     GW_DELETE, "admin", false, NULL},
    /* ---- end of helper leads2 block ---- */
};
GW_TABLE_END(leads);

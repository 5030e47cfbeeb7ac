/* /v2 routes of pipelines, stages and deals (crm-deals): method, pattern, service, RPC method, request and
 * reply messages, Sell meta type, kind, least role, self id, custom handler. */
#include "routes.h"
#include "deals.pb-c.h"

#define DEALS(method, pattern, rpc, req, reply, type, kind, role)                                            \
    {                                                                                                        \
        method, pattern, "deals", rpc, GW_D(req), GW_D(reply), type, kind, role, false, NULL                 \
    }
/* The CRUD routes of one reason-like resource (loss reasons, unqualified reasons, sources). */
#define REASONS(path, rpc, type)                                                                             \
    DEALS("GET", path, rpc ".list", crm__deal_reason_list_request, crm__deal_reason_list, type, GW_LIST,     \
          "sales"),                                                                                          \
        DEALS("POST", path, rpc ".create", crm__deal_reason, crm__deal_reason, type, GW_CREATE, "admin"),    \
        DEALS("GET", path "/{id}", rpc ".get", crm__deal_reason_get_request, crm__deal_reason, type, GW_ONE, \
              "sales"),                                                                                      \
        DEALS("PUT", path "/{id}", rpc ".update", crm__deal_reason, crm__deal_reason, type, GW_UPDATE,       \
              "admin"),                                                                                      \
        DEALS("DELETE", path "/{id}", rpc ".delete", crm__deal_reason_get_request, crm__deal_reason, type,   \
              GW_DELETE, "admin")

const gw_route_t gw_routes_deals[] = {
    DEALS("GET", "/v2/pipelines", "pipelines.list", crm__pipeline_list_request, crm__pipeline_list,
          "pipeline", GW_LIST, "sales"),
    DEALS("POST", "/v2/pipelines", "pipelines.create", crm__pipeline, crm__pipeline, "pipeline", GW_CREATE,
          "admin"),
    DEALS("GET", "/v2/pipelines/{id}", "pipelines.get", crm__pipeline_get_request, crm__pipeline, "pipeline",
          GW_ONE, "sales"),
    DEALS("PUT", "/v2/pipelines/{id}", "pipelines.update", crm__pipeline, crm__pipeline, "pipeline",
          GW_UPDATE, "admin"),
    DEALS("DELETE", "/v2/pipelines/{id}", "pipelines.delete", crm__pipeline_get_request, crm__pipeline,
          "pipeline", GW_DELETE, "admin"),
    DEALS("GET", "/v2/pipelines/{id}/board", "pipelines.board", crm__board_request, crm__board, "board",
          GW_ONE, "sales"),
    DEALS("GET", "/v2/stages", "stages.list", crm__stage_list_request, crm__stage_list, "stage", GW_LIST,
          "sales"),
    DEALS("POST", "/v2/stages", "stages.create", crm__stage, crm__stage, "stage", GW_CREATE, "admin"),
    DEALS("GET", "/v2/stages/{id}", "stages.get", crm__stage_get_request, crm__stage, "stage", GW_ONE,
          "sales"),
    DEALS("PUT", "/v2/stages/{id}", "stages.update", crm__stage, crm__stage, "stage", GW_UPDATE, "admin"),
    DEALS("DELETE", "/v2/stages/{id}", "stages.delete", crm__stage_get_request, crm__stage, "stage",
          GW_DELETE, "admin"),
    DEALS("GET", "/v2/deals", "deals.list", crm__deal_list_request, crm__deal_list, "deal", GW_LIST, "sales"),
    DEALS("POST", "/v2/deals", "deals.create", crm__deal, crm__deal, "deal", GW_CREATE, "sales"),
    /* POST /v2/deals/upsert: gw_upsert (upsert.c) drives deals.list / create / update */
    {"POST", "/v2/deals/upsert", "deals", NULL, NULL, NULL, "deal", GW_CUSTOM, "sales", false, gw_upsert},
    DEALS("GET", "/v2/deals/{id}", "deals.get", crm__deal_get_request, crm__deal, "deal", GW_ONE, "sales"),
    DEALS("PUT", "/v2/deals/{id}", "deals.update", crm__deal, crm__deal, "deal", GW_UPDATE, "sales"),
    DEALS("DELETE", "/v2/deals/{id}", "deals.delete", crm__deal_get_request, crm__deal, "deal", GW_DELETE,
          "sales"),
    DEALS("POST", "/v2/deals/{id}/clone", "deals.clone", crm__deal_clone_request, crm__deal_clone_reply,
          "deal_clone", GW_CREATE, "sales"),
    DEALS("GET", "/v2/deals/{deal_id}/associated_contacts", "deals.contacts.list",
          crm__associated_contact_list_request, crm__associated_contact_list, "associated_contact", GW_LIST,
          "sales"),
    DEALS("POST", "/v2/deals/{deal_id}/associated_contacts", "deals.contacts.add", crm__associated_contact,
          crm__associated_contact, "associated_contact", GW_CREATE, "sales"),
    DEALS("DELETE", "/v2/deals/{deal_id}/associated_contacts/{contact_id}", "deals.contacts.remove",
          crm__associated_contact, crm__associated_contact, "associated_contact", GW_DELETE, "sales"),
    DEALS("GET", "/v2/deals/{deal_id}/stage_changes", "deals.stage_changes", crm__stage_change_list_request,
          crm__stage_change_list, "stage_change", GW_LIST, "sales"),
    DEALS("GET", "/v2/reports/funnel", "reports.funnel", crm__funnel_request, crm__funnel, "funnel", GW_ONE,
          "sales"),
    /* catalog (issue 9): product writes admin-only; orders and line items by the deal's visibility */
    DEALS("GET", "/v2/products", "products.list", crm__product_list_request, crm__product_list, "product",
          GW_LIST, "sales"),
    DEALS("POST", "/v2/products", "products.create", crm__product, crm__product, "product", GW_CREATE,
          "admin"),
    DEALS("GET", "/v2/products/{id}", "products.get", crm__product_get_request, crm__product, "product",
          GW_ONE, "sales"),
    DEALS("PUT", "/v2/products/{id}", "products.update", crm__product, crm__product, "product", GW_UPDATE,
          "admin"),
    DEALS("DELETE", "/v2/products/{id}", "products.delete", crm__product_get_request, crm__product, "product",
          GW_DELETE, "admin"),
    DEALS("GET", "/v2/orders", "orders.list", crm__order_list_request, crm__order_list, "order", GW_LIST,
          "sales"),
    DEALS("POST", "/v2/orders", "orders.create", crm__order, crm__order, "order", GW_CREATE, "sales"),
    DEALS("GET", "/v2/orders/{id}", "orders.get", crm__order_get_request, crm__order, "order", GW_ONE,
          "sales"),
    DEALS("PUT", "/v2/orders/{id}", "orders.update", crm__order, crm__order, "order", GW_UPDATE, "sales"),
    DEALS("DELETE", "/v2/orders/{id}", "orders.delete", crm__order_get_request, crm__order, "order",
          GW_DELETE, "sales"),
    DEALS("GET", "/v2/orders/{order_id}/line_items", "line_items.list", crm__line_item_list_request,
          crm__line_item_list, "line_item", GW_LIST, "sales"),
    DEALS("POST", "/v2/orders/{order_id}/line_items", "line_items.create", crm__line_item, crm__line_item,
          "line_item", GW_CREATE, "sales"),
    DEALS("GET", "/v2/orders/{order_id}/line_items/{id}", "line_items.get", crm__line_item_get_request,
          crm__line_item, "line_item", GW_ONE, "sales"),
    DEALS("DELETE", "/v2/orders/{order_id}/line_items/{id}", "line_items.delete", crm__line_item_get_request,
          crm__line_item, "line_item", GW_DELETE, "sales"),
    REASONS("/v2/loss_reasons", "loss_reasons", "loss_reason"),
    REASONS("/v2/deal_unqualified_reasons", "unqualified_reasons", "deal_unqualified_reason"),
    REASONS("/v2/deal_sources", "sources", "source"),
    REASONS("/v2/sources", "sources", "source"),
};
GW_TABLE_END(deals);

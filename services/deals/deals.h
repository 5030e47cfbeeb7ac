/* crm-deals: the service context and its store API. */
#ifndef DEALS_H
#define DEALS_H

#include <stdbool.h>
#include "crm/daemon.h"
#include "activities.pb-c.h"
#include "assign.pb-c.h"
#include "deals.pb-c.h"
#include "leads.pb-c.h"

/* Loss reasons, deal unqualified reasons and deal sources share one store and handler set. */
typedef struct {
    const char *table; /* loss_reasons | deal_unqualified_reasons | deal_sources */
    const char *label; /* "loss reason" */
    void *owner;       /* the deals_t, for the handlers */
} deals_reason_kind_t;

typedef struct {
    crm_daemon_t *daemon;
    crm_rpc_client_t *assign; /* teams.get for team funnels (may be NULL) */
    crm_rpc_client_t *leads;  /* contacts.list and custom_fields.deal.check for deal writes (may be NULL) */
    deals_reason_kind_t reasons[3];
} deals_t;

void deals_rpc_register(deals_t *self);
/* rpc.c: the checks of a deal write that ask crm-leads (contacts exist for the caller, custom_fields
 * fit the deal definitions and get normalized in place). Field errors accumulate in err (then
 * the store's checks add theirs); any other failure is returned as is. */
int deals_write_checks(deals_t *self, const crm_rpc_ctx_t *ctx, Crm__Deal *in, crm_err_t *err);
/* 422 on ptrs[i] for each ids[i] that is no contact the caller can see (contacts.list). */
int deals_check_contacts(deals_t *self, const crm_rpc_ctx_t *ctx, const int64_t *ids, const char *const *ptrs,
                         size_t n, crm_err_t *err);
int deals_consume_register(deals_t *self, crm_err_t *err);

/* Who asks, and where events go: every write takes one. */
typedef struct {
    int64_t user_id; /* 0 = the system */
    bool sales;      /* sees and changes only deals it owns */
    bool admin;      /* sees product costs */
    const char *corr;
    crm_outbox_t *outbox;
} deals_caller_t;

/* store.c: pipelines and stages */
int deals_store_pipeline_list(crm_db_t *db, const Crm__PipelineListRequest *req, Crm__PipelineList **out,
                              crm_err_t *err);
int deals_store_pipeline_get(crm_db_t *db, int64_t id, Crm__Pipeline **out, crm_err_t *err);
int deals_store_pipeline_create(crm_db_t *db, const Crm__Pipeline *in, Crm__Pipeline **out, crm_err_t *err);
int deals_store_pipeline_update(crm_db_t *db, const Crm__Pipeline *in, Crm__Pipeline **out, crm_err_t *err);
int deals_store_pipeline_delete(crm_db_t *db, int64_t id, crm_err_t *err);
int deals_store_stage_list(crm_db_t *db, const Crm__StageListRequest *req, Crm__StageList **out,
                           crm_err_t *err);
int deals_store_stage_get(crm_db_t *db, int64_t id, Crm__Stage **out, crm_err_t *err);
int deals_store_stage_create(crm_db_t *db, const Crm__Stage *in, Crm__Stage **out, crm_err_t *err);
int deals_store_stage_update(crm_db_t *db, const Crm__Stage *in, Crm__Stage **out, crm_err_t *err);
int deals_store_stage_delete(crm_db_t *db, int64_t id, crm_err_t *err);

/* store.c: deals */
int deals_store_deal_list(crm_db_t *db, const deals_caller_t *c, const Crm__DealListRequest *req,
                          Crm__DealList **out, crm_err_t *err);
int deals_store_deal_get(crm_db_t *db, const deals_caller_t *c, int64_t id, Crm__Deal **out, crm_err_t *err);
int deals_store_deal_create(crm_db_t *db, const deals_caller_t *c, const Crm__Deal *in, Crm__Deal **out,
                            crm_err_t *err);
int deals_store_deal_update(crm_db_t *db, const deals_caller_t *c, const Crm__Deal *in, Crm__Deal **out,
                            crm_err_t *err);
int deals_store_deal_delete(crm_db_t *db, const deals_caller_t *c, int64_t id, crm_err_t *err);
int deals_store_contacts_list(crm_db_t *db, const deals_caller_t *c,
                              const Crm__AssociatedContactListRequest *req, Crm__AssociatedContactList **out,
                              crm_err_t *err);
int deals_store_contact_add(crm_db_t *db, const deals_caller_t *c, const Crm__AssociatedContact *in,
                            Crm__AssociatedContact **out, crm_err_t *err);
int deals_store_contact_remove(crm_db_t *db, const deals_caller_t *c, const Crm__AssociatedContact *in,
                               crm_err_t *err);
/* includes= of a deal read: NULL or "associated_contacts" (*contacts = true); else 400. */
int deals_check_includes(const char *includes, bool *contacts, crm_err_t *err);
/* Fills associated_contacts of each deal (includes=associated_contacts). */
int deals_store_include_contacts(crm_db_t *db, Crm__Deal **deals, size_t n, crm_err_t *err);
int deals_store_stage_changes(crm_db_t *db, const deals_caller_t *c, const Crm__StageChangeListRequest *req,
                              Crm__StageChangeList **out, crm_err_t *err);

int deals_store_board(crm_db_t *db, const deals_caller_t *c, const Crm__BoardRequest *req, Crm__Board **out,
                      crm_err_t *err);
int deals_store_clone(crm_db_t *db, const deals_caller_t *c, const Crm__DealCloneRequest *req,
                      Crm__DealCloneReply **out, crm_err_t *err);
/* The funnel of req->pipeline_id over owners (NULL: everyone); from/to already checked. */
int deals_store_funnel(crm_db_t *db, const Crm__FunnelRequest *req, const int64_t *owners, size_t nowners,
                       Crm__Funnel **out, crm_err_t *err);
/* True for a valid day "YYYY-MM-DD". */
int deals_check_day(const char *s);
/* Creates the deal of a lead conversion in the open transaction tx, at most one per conversion_id
 * (*created = false and *deal_id = the existing one when the RPC or the event made it already). */
int deals_store_from_conversion(crm_db_t *tx, const deals_caller_t *c, const Crm__LeadConverted *lc,
                                int64_t *deal_id, bool *created, crm_err_t *err);
/* Applies owner.assigned in tx (emits deal.updated with assignment_id); *found = false for an
 * unknown deal. */
int deals_store_set_owner(crm_db_t *tx, const deals_caller_t *c, int64_t deal_id, int64_t owner_id,
                          int64_t assignment_id, bool *found, crm_err_t *err);

/* store.c: loss reasons, deal unqualified reasons, deal sources (kind: table of the kind). */
int deals_store_reason_list(crm_db_t *db, const deals_reason_kind_t *k, const Crm__DealReasonListRequest *req,
                            Crm__DealReasonList **out, crm_err_t *err);
int deals_store_reason_get(crm_db_t *db, const deals_reason_kind_t *k, int64_t id, Crm__DealReason **out,
                           crm_err_t *err);
int deals_store_reason_create(crm_db_t *db, const deals_reason_kind_t *k, const deals_caller_t *c,
                              const Crm__DealReason *in, Crm__DealReason **out, crm_err_t *err);
int deals_store_reason_update(crm_db_t *db, const deals_reason_kind_t *k, const Crm__DealReason *in,
                              Crm__DealReason **out, crm_err_t *err);
int deals_store_reason_delete(crm_db_t *db, const deals_reason_kind_t *k, int64_t id, crm_err_t *err);

/* store_deals.c: shared checks. */
bool deals_blank(const char *s);
/* A non-negative decimal with at most 16 integer digits and 2 decimals: "1200", "1200.5". */
bool deals_decimal_ok(const char *s);
/* An ISO 4217 code: three capital letters. */
bool deals_currency_ok(const char *s);
/* Deal.value_json (a decimal string or a JSON number, at most 2 decimals) → decimal text. */
bool deals_value_parse(const char *json, char out[48]);
/* A calendar date YYYY-MM-DD. */
bool deals_date_ok(const char *s);
/* A date, or an ISO 8601 date-time ("2017-06-04T18:28:53Z"). */
bool deals_datetime_ok(const char *s);
/* The SELECT list of a deal (table alias d) and its row → crm.Deal. */
extern const char deals_deal_cols[];
Crm__Deal *deals_deal_from_row(const PGresult *res, int r);

/* import.c: deals.import_batch and deals.import_status (bulk CSV import, proto/import.proto). */
void deals_import_register(deals_t *self);

/* store_catalog.c: products (writes admin-only by route), orders and line items (by the deal's
 * visibility). */
int deals_store_product_list(crm_db_t *db, const deals_caller_t *c, const Crm__ProductListRequest *req,
                             Crm__ProductList **out, crm_err_t *err);
int deals_store_product_get(crm_db_t *db, const deals_caller_t *c, int64_t id, Crm__Product **out,
                            crm_err_t *err);
int deals_store_product_create(crm_db_t *db, const deals_caller_t *c, const Crm__Product *in,
                               Crm__Product **out, crm_err_t *err);
int deals_store_product_update(crm_db_t *db, const deals_caller_t *c, const Crm__Product *in,
                               Crm__Product **out, crm_err_t *err);
int deals_store_product_delete(crm_db_t *db, const deals_caller_t *c, int64_t id, crm_err_t *err);
int deals_store_order_list(crm_db_t *db, const deals_caller_t *c, const Crm__OrderListRequest *req,
                           Crm__OrderList **out, crm_err_t *err);
int deals_store_order_get(crm_db_t *db, const deals_caller_t *c, int64_t id, Crm__Order **out,
                          crm_err_t *err);
int deals_store_order_create(crm_db_t *db, const deals_caller_t *c, const Crm__Order *in, Crm__Order **out,
                             crm_err_t *err);
int deals_store_order_update(crm_db_t *db, const deals_caller_t *c, const Crm__Order *in, Crm__Order **out,
                             crm_err_t *err);
int deals_store_order_delete(crm_db_t *db, const deals_caller_t *c, int64_t id, crm_err_t *err);
/* The events of a deal's order and its line items going with the deal (deal delete, same tx). */
int deals_store_order_deal_going(crm_db_t *tx, const deals_caller_t *c, int64_t deal_id, crm_err_t *err);
int deals_store_line_item_list(crm_db_t *db, const deals_caller_t *c, const Crm__LineItemListRequest *req,
                               Crm__LineItemList **out, crm_err_t *err);
int deals_store_line_item_get(crm_db_t *db, const deals_caller_t *c, const Crm__LineItemGetRequest *req,
                              Crm__LineItem **out, crm_err_t *err);
int deals_store_line_item_create(crm_db_t *db, const deals_caller_t *c, const Crm__LineItem *in,
                                 Crm__LineItem **out, crm_err_t *err);
int deals_store_line_item_delete(crm_db_t *db, const deals_caller_t *c, const Crm__LineItemGetRequest *req,
                                 crm_err_t *err);

#endif

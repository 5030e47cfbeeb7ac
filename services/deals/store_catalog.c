/* crm-deals store: the catalog (issue 9, SELL_API §6.14–§6.16) — products with prices per
 * currency, one order per deal, line items copying the product's name, sku and price in the deal's
 * currency. Orders and line items follow their deal's visibility: a sales caller reaches only the
 * orders of the deals it owns (404 otherwise). Product writes are admin-only (the route table). */
#include "deals.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define DEC2(col) "(" col ")::numeric(18, 2)::text"

/* A list reply's page: rows beyond per_page only say has_more. */
#define LIST_FILL(T, desc, from_row)                                                                         \
    T *list = (T *)crm_pb_new(&desc);                                                                        \
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;                              \
    list->has_has_more = 1;                                                                                  \
    list->has_more = rows > page.per_page;                                                                   \
    list->items = calloc((size_t)n + 1, sizeof *list->items);                                                \
    for (int r = 0; r < n; r++)                                                                              \
        list->items[list->n_items++] = from_row;                                                             \
    PQclear(res)

static bool has_key(char *const *mask, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(mask[i], key) == 0)
            return true;
    return false;
}

/* The common arguments of a list: page window, sort (first field the default, ascending) and
 * ids= (a bigint[] literal in *ids, NULL when not given; the caller frees it). */
typedef struct {
    crm_page_t page;
    int si;
    bool desc;
    char *ids;
} list_args_t;

static int list_args(bool has_page, int32_t page, bool has_per_page, int32_t per_page, const char *sort_by,
                     const char *const *sorts, const char *ids, list_args_t *a, crm_err_t *err)
{
    a->ids = NULL;
    if (crm_page_window(has_page, page, has_per_page, per_page, &a->page, err) ||
        crm_sort_parse(sort_by, sorts, 0, false, &a->si, &a->desc, err))
        return err->code;
    if (ids && !(a->ids = crm_param_ids(ids, "ids", err)))
        return err->code;
    return CRM_OK;
}

/* ---- products ------------------------------------------------------------------------------- */

#define PRODUCT_COLS                                                                                         \
    "id, name, description, sku, active, max_discount, max_markup, " DEC2(                                   \
        "cost") ", cost_currency, "                                                                          \
                "prices::text, creator_id, " TS("created_at") ", " TS("updated_at")

static Crm__Product *product_from_row(const PGresult *res, int r, bool admin)
{
    Crm__Product *m = (Crm__Product *)crm_pb_new(&crm__product__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    m->name = crm_row_str(res, r, 1);
    m->description = crm_row_str(res, r, 2);
    m->sku = crm_row_str(res, r, 3);
    crm_row_bool(res, r, 4, &m->has_active, &m->active);
    crm_row_i32(res, r, 5, &m->has_max_discount, &m->max_discount);
    crm_row_i32(res, r, 6, &m->has_max_markup, &m->max_markup);
    if (admin) { /* cost: admins only (SELL_API §6.14) */
        m->cost = crm_row_str(res, r, 7);
        m->cost_currency = crm_row_str(res, r, 8);
    }
    json_t *prices = json_loads(PQgetvalue(res, r, 9), 0, NULL);
    m->prices = calloc(json_array_size(prices) + 1, sizeof *m->prices);
    size_t i;
    json_t *x;
    json_array_foreach(prices, i, x)
    {
        Crm__ProductPrice *p = (Crm__ProductPrice *)crm_pb_new(&crm__product_price__descriptor);
        p->amount = crm_pb_strdup(json_string_value(json_object_get(x, "amount")));
        p->currency = crm_pb_strdup(json_string_value(json_object_get(x, "currency")));
        m->prices[m->n_prices++] = p;
    }
    json_decref(prices);
    crm_row_i64(res, r, 10, &m->has_creator_id, &m->creator_id);
    m->created_at = crm_row_str(res, r, 11);
    m->updated_at = crm_row_str(res, r, 12);
    return m;
}

/* Checks a product write; *prices gets the JSON array to store (NULL when prices were not sent). */
static int check_product(const Crm__Product *in, bool create, char **prices, crm_err_t *err)
{
    *prices = NULL;
    bool name_null = !in->name && has_key(in->update_mask, in->n_update_mask, "name");
    if ((create && deals_blank(in->name)) || (in->name && deals_blank(in->name)) || name_null)
        crm_err_add(err, CRM_EINVALID, "/name", create && !in->name ? "missing" : "blank",
                    "name is required");
    if (in->has_max_discount && (in->max_discount < 0 || in->max_discount > 100))
        crm_err_add(err, CRM_EINVALID, "/max_discount", "incorrect_value",
                    "max_discount must be a percentage between 0 and 100");
    if (in->has_max_markup && in->max_markup < 0)
        crm_err_add(err, CRM_EINVALID, "/max_markup", "incorrect_value", "max_markup must be 0 or more");
    if (in->cost && !deals_decimal_ok(in->cost))
        crm_err_add(err, CRM_EINVALID, "/cost", "incorrect_value",
                    "cost must be a decimal string such as \"10.50\"");
    if (in->cost_currency && !deals_currency_ok(in->cost_currency))
        crm_err_add(err, CRM_EINVALID, "/cost_currency", "incorrect_value",
                    "cost_currency must be an ISO 4217 code such as USD");
    if (!in->n_prices && !has_key(in->update_mask, in->n_update_mask, "prices") && !create)
        return err->code;
    json_t *arr = json_array();
    for (size_t i = 0; i < in->n_prices; i++) {
        const Crm__ProductPrice *p = in->prices[i];
        char ptr[48];
        snprintf(ptr, sizeof ptr, "/prices/%zu", i);
        if (!p->amount || !deals_decimal_ok(p->amount))
            crm_err_add(err, CRM_EINVALID, ptr, "incorrect_value",
                        "amount must be a decimal string such as \"1599.99\"");
        else if (!p->currency || !deals_currency_ok(p->currency))
            crm_err_add(err, CRM_EINVALID, ptr, "incorrect_value",
                        "currency must be an ISO 4217 code such as USD");
        else
            for (size_t k = 0; k < i; k++)
                if (in->prices[k]->currency && strcmp(in->prices[k]->currency, p->currency) == 0) {
                    crm_err_add(err, CRM_EINVALID, ptr, "already_exists", "one price per currency: %s twice",
                                p->currency);
                    break;
                }
        json_array_append_new(arr, json_pack("{s:s?,s:s?}", "amount", p->amount, "currency", p->currency));
    }
    if (err->code == CRM_OK)
        *prices = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return err->code;
}

int deals_store_product_list(crm_db_t *db, const deals_caller_t *c, const Crm__ProductListRequest *req,
                             Crm__ProductList **out, crm_err_t *err)
{
    *out = NULL;
    static const char *const sorts[] = {"id", "name", "sku", "created_at", "updated_at", NULL};
    list_args_t a;
    if (list_args(req->has_page, req->page, req->has_per_page, req->per_page, req->sort_by, sorts, req->ids,
                  &a, err))
        return err->code;
    crm_page_t page = a.page;
    int si = a.si;
    bool desc = a.desc;
    char *ids = a.ids;
    char name[64], sql[1024], b[2][24];
    snprintf(name, sizeof name, "products_list_%d%c", si, desc ? 'd' : 'a');
    snprintf(sql, sizeof sql,
             "SELECT " PRODUCT_COLS " FROM products WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) "
             "AND ($2::text IS NULL OR name = $2) AND ($3::text IS NULL OR sku = $3) "
             "AND ($4::boolean IS NULL OR active = $4) ORDER BY %s %s NULLS LAST, id %s LIMIT $5 OFFSET $6",
             sorts[si], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    const char *p[] = {ids,
                       req->name,
                       req->sku,
                       crm_param_bool(req->has_active, req->active),
                       crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    PGresult *res = crm_db_exec(db, name, sql, 6, p, err);
    free(ids);
    if (!res)
        return err->code;
    LIST_FILL(Crm__ProductList, crm__product_list__descriptor, product_from_row(res, r, c->admin));
    *out = list;
    return CRM_OK;
}

/* ---- events: every write emits its event in the same transaction (outbox) ------------------ */

/* Commits (or rolls back on rc) the transaction a write began; kicks the relay after a commit. */
static int end_write(crm_db_t *db, const deals_caller_t *c, int rc, crm_err_t *err)
{
    if (rc == CRM_OK)
        rc = crm_db_commit(db, err);
    if (rc) {
        crm_db_rollback(db);
        return rc;
    }
    crm_outbox_kick(c->outbox);
    return CRM_OK;
}

/* The owner of a deal (0: none or no such deal), who may see its order and line items. */
static int deal_owner(crm_db_t *tx, int64_t deal_id, int64_t *owner, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, deal_id)};
    PGresult *res =
        crm_db_exec(tx, "catalog_deal_owner", "SELECT owner_id FROM deals WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    *owner = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    return CRM_OK;
}

static int emit_product(crm_db_t *tx, const deals_caller_t *c, const char *type, Crm__Product *product,
                        crm_err_t *err)
{
    Crm__ProductEvent ev = CRM__PRODUCT_EVENT__INIT;
    ev.product = product;
    ev.has_changed_by = 1;
    ev.changed_by = c->user_id;
    return crm_outbox_append(c->outbox, tx, type, c->corr, &ev.base, err);
}

static int emit_order(crm_db_t *tx, const deals_caller_t *c, const char *type, Crm__Order *order,
                      crm_err_t *err)
{
    Crm__OrderEvent ev = CRM__ORDER_EVENT__INIT;
    ev.order = order;
    ev.has_changed_by = 1;
    ev.changed_by = c->user_id;
    if (deal_owner(tx, order->deal_id, &ev.deal_owner_id, err))
        return err->code;
    ev.has_deal_owner_id = ev.deal_owner_id > 0;
    return crm_outbox_append(c->outbox, tx, type, c->corr, &ev.base, err);
}

static int emit_line_item(crm_db_t *tx, const deals_caller_t *c, const char *type, Crm__LineItem *li,
                          int64_t owner, crm_err_t *err)
{
    Crm__LineItemEvent ev = CRM__LINE_ITEM_EVENT__INIT;
    ev.line_item = li;
    ev.has_changed_by = 1;
    ev.changed_by = c->user_id;
    ev.has_deal_owner_id = owner > 0;
    ev.deal_owner_id = owner;
    return crm_outbox_append(c->outbox, tx, type, c->corr, &ev.base, err);
}

int deals_store_product_get(crm_db_t *db, const deals_caller_t *c, int64_t id, Crm__Product **out,
                            crm_err_t *err)
{
    *out = NULL;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "products_get", "SELECT " PRODUCT_COLS " FROM products WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = product_from_row(res, 0, c->admin);
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "product %lld not found", (long long)id);
}

int deals_store_product_create(crm_db_t *db, const deals_caller_t *c, const Crm__Product *in,
                               Crm__Product **out, crm_err_t *err)
{
    *out = NULL;
    char *prices = NULL;
    if (check_product(in, true, &prices, err))
        return err->code;
    char b[4][24];
    const char *p[] = {in->name,
                       in->description,
                       in->sku,
                       crm_param_bool(in->has_active, in->active),
                       crm_param_i64(b[0], in->has_max_discount, in->max_discount),
                       crm_param_i64(b[1], in->has_max_markup, in->max_markup),
                       in->cost,
                       in->cost_currency,
                       prices,
                       crm_param_i64(b[2], c->user_id > 0, c->user_id)};
    if (crm_db_begin(db, err)) {
        free(prices);
        return err->code;
    }
    PGresult *res = crm_db_exec(
        db, "products_create",
        "INSERT INTO products (name, description, sku, active, max_discount, max_markup, cost, "
        "cost_currency, "
        "prices, creator_id) VALUES ($1, $2, $3, coalesce($4::boolean, true), coalesce($5::integer, 0), "
        "coalesce($6::integer, 0), $7::numeric, $8, coalesce($9::jsonb, '[]'), $10) RETURNING " PRODUCT_COLS,
        10, p, err);
    free(prices);
    if (!res)
        return end_write(db, c, err->code, err);
    *out = product_from_row(res, 0, true);
    PQclear(res);
    int rc = end_write(db, c, emit_product(db, c, "product.created", *out, err), err);
    if (rc) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
    }
    return rc;
}

int deals_store_product_update(crm_db_t *db, const deals_caller_t *c, const Crm__Product *in,
                               Crm__Product **out, crm_err_t *err)
{
    *out = NULL;
    char *prices = NULL;
    if (check_product(in, false, &prices, err))
        return err->code;
    char b[3][24];
    char *mask = crm_param_text_array(in->update_mask, in->n_update_mask);
    const char *p[] = {crm_param_i64(b[0], true, in->id),
                       in->name,
                       in->description,
                       in->sku,
                       crm_param_bool(in->has_active, in->active),
                       crm_param_i64(b[1], in->has_max_discount, in->max_discount),
                       crm_param_i64(b[2], in->has_max_markup, in->max_markup),
                       in->cost,
                       in->cost_currency,
                       prices,
                       mask};
    if (crm_db_begin(db, err)) {
        free(mask);
        free(prices);
        return err->code;
    }
/* Sent (even as null) → that value or null (dflt for NOT NULL columns); not sent → kept. */
#define SETN(col, n, type, dflt)                                                                             \
    col " = CASE WHEN $" n type " IS NOT NULL THEN $" n type " WHEN '" col "' = ANY ($11) THEN " dflt        \
        " ELSE " col " END, "
    PGresult *res = crm_db_exec(
        db, "products_update",
        "UPDATE products SET name = coalesce($2, name), " SETN("description", "3", "::text", "NULL")
            SETN("sku", "4", "::text", "NULL") SETN("active", "5", "::boolean", "true")
                SETN("max_discount", "6", "::integer", "0") SETN("max_markup", "7", "::integer",
                                                                 "0") SETN("cost", "8", "::numeric", "NULL")
                    SETN("cost_currency", "9", "::text",
                         "NULL") "prices = coalesce($10::jsonb, prices), updated_at = now() WHERE id = $1 "
                                 "RETURNING " PRODUCT_COLS,
        11, p, err);
#undef SETN
    free(mask);
    free(prices);
    if (!res)
        return end_write(db, c, err->code, err);
    if (PQntuples(res) == 1)
        *out = product_from_row(res, 0, c->admin);
    PQclear(res);
    int rc = *out ? emit_product(db, c, "product.updated", *out, err)
                  : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "product %lld not found",
                                (long long)in->id);
    rc = end_write(db, c, rc, err);
    if (rc && *out) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
    }
    return rc;
}

int deals_store_product_delete(crm_db_t *db, const deals_caller_t *c, int64_t id, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    if (crm_db_begin(db, err))
        return err->code;
    PGresult *res = crm_db_exec(db, "products_delete",
                                "DELETE FROM products WHERE id = $1 RETURNING " PRODUCT_COLS, 1, p, err);
    if (!res)
        return end_write(db, c, err->code, err);
    Crm__Product *gone = PQntuples(res) == 1 ? product_from_row(res, 0, true) : NULL;
    PQclear(res);
    int rc =
        gone ? emit_product(db, c, "product.deleted", gone, err)
             : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "product %lld not found", (long long)id);
    if (gone)
        protobuf_c_message_free_unpacked(&gone->base, NULL);
    return end_write(db, c, rc, err);
}

/* ---- orders ----------------------------------------------------------------------------------- */

#define ORDER_COLS "o.id, o.deal_id, o.discount, o.creator_id, " TS("o.created_at") ", " TS("o.updated_at")
/* The orders a caller reaches: those of the deals it may see ($V: the sales caller's id or NULL). */
#define ORDER_VISIBLE(v)                                                                                     \
    "EXISTS (SELECT 1 FROM deals d WHERE d.id = o.deal_id AND (" v "::bigint IS NULL OR d.owner_id = " v ")" \
    ")"

static Crm__Order *order_from_row(const PGresult *res, int r)
{
    Crm__Order *m = (Crm__Order *)crm_pb_new(&crm__order__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    crm_row_i64(res, r, 1, &m->has_deal_id, &m->deal_id);
    crm_row_i32(res, r, 2, &m->has_discount, &m->discount);
    crm_row_i64(res, r, 3, &m->has_creator_id, &m->creator_id);
    m->created_at = crm_row_str(res, r, 4);
    m->updated_at = crm_row_str(res, r, 5);
    return m;
}

int deals_store_order_list(crm_db_t *db, const deals_caller_t *c, const Crm__OrderListRequest *req,
                           Crm__OrderList **out, crm_err_t *err)
{
    *out = NULL;
    static const char *const sorts[] = {"id", "deal_id", "created_at", "updated_at", NULL};
    list_args_t a;
    if (list_args(req->has_page, req->page, req->has_per_page, req->per_page, req->sort_by, sorts, req->ids,
                  &a, err))
        return err->code;
    crm_page_t page = a.page;
    int si = a.si;
    bool desc = a.desc;
    char *ids = a.ids;
    char name[64], sql[1024], b[4][24];
    snprintf(name, sizeof name, "orders_list_%d%c", si, desc ? 'd' : 'a');
    snprintf(
        sql, sizeof sql,
        "SELECT " ORDER_COLS " FROM orders o WHERE ($1::bigint[] IS NULL OR o.id = ANY ($1)) "
        "AND ($2::bigint IS NULL OR o.deal_id = $2) AND " ORDER_VISIBLE("$3") " ORDER BY o.%s %s, o.id %s "
                                                                              "LIMIT $4 OFFSET $5",
        sorts[si], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    const char *p[] = {ids, crm_param_i64(b[0], req->has_deal_id, req->deal_id),
                       crm_param_i64(b[1], c->sales, c->user_id), crm_param_i64(b[2], true, page.limit),
                       crm_param_i64(b[3], true, page.offset)};
    PGresult *res = crm_db_exec(db, name, sql, 5, p, err);
    free(ids);
    if (!res)
        return err->code;
    LIST_FILL(Crm__OrderList, crm__order_list__descriptor, order_from_row(res, r));
    *out = list;
    return CRM_OK;
}

int deals_store_order_get(crm_db_t *db, const deals_caller_t *c, int64_t id, Crm__Order **out, crm_err_t *err)
{
    *out = NULL;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, id), crm_param_i64(b[1], c->sales, c->user_id)};
    PGresult *res = crm_db_exec(
        db, "orders_get", "SELECT " ORDER_COLS " FROM orders o WHERE o.id = $1 AND " ORDER_VISIBLE("$2"), 2,
        p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = order_from_row(res, 0);
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "order %lld not found", (long long)id);
}

int deals_store_order_create(crm_db_t *db, const deals_caller_t *c, const Crm__Order *in, Crm__Order **out,
                             crm_err_t *err)
{
    *out = NULL;
    if (!in->has_deal_id)
        crm_err_add(err, CRM_EINVALID, "/deal_id", "missing", "deal_id is required");
    if (in->has_discount && (in->discount < 0 || in->discount > 100))
        crm_err_add(err, CRM_EINVALID, "/discount", "incorrect_value", "discount must be between 0 and 100");
    if (err->code)
        return err->code;
    Crm__Deal *deal = NULL;
    if (deals_store_deal_get(db, c, in->deal_id, &deal, err))
        return err->code == CRM_ENOTFOUND ? crm_err_set(err, CRM_EINVALID, "/deal_id", "incorrect_value",
                                                        "deal %lld does not exist", (long long)in->deal_id)
                                          : err->code;
    protobuf_c_message_free_unpacked(&deal->base, NULL);
    char b[3][24];
    const char *p[] = {crm_param_i64(b[0], true, in->deal_id),
                       crm_param_i64(b[1], in->has_discount, in->discount),
                       crm_param_i64(b[2], c->user_id > 0, c->user_id)};
    if (crm_db_begin(db, err))
        return err->code;
    PGresult *res = crm_db_exec(db, "orders_create",
                                "INSERT INTO orders AS o (deal_id, discount, creator_id) VALUES ($1, "
                                "coalesce($2::integer, 0), $3) RETURNING " ORDER_COLS,
                                3, p, err);
    if (!res)
        return end_write(db, c,
                         err->code == CRM_ECONFLICT
                             ? crm_err_set(err, CRM_ECONFLICT, "/deal_id", "already_exists",
                                           "deal %lld already has an order (one order per deal)",
                                           (long long)in->deal_id)
                             : err->code,
                         err);
    *out = order_from_row(res, 0);
    PQclear(res);
    int rc = end_write(db, c, emit_order(db, c, "order.created", *out, err), err);
    if (rc) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
    }
    return rc;
}

int deals_store_order_update(crm_db_t *db, const deals_caller_t *c, const Crm__Order *in, Crm__Order **out,
                             crm_err_t *err)
{
    *out = NULL;
    Crm__Order *old = NULL;
    if (deals_store_order_get(db, c, in->id, &old, err))
        return err->code;
    if (in->has_deal_id && in->deal_id != old->deal_id)
        crm_err_add(err, CRM_EINVALID, "/deal_id", "incorrect_value", "an order stays with its deal");
    if (in->has_discount && (in->discount < 0 || in->discount > 100))
        crm_err_add(err, CRM_EINVALID, "/discount", "incorrect_value", "discount must be between 0 and 100");
    protobuf_c_message_free_unpacked(&old->base, NULL);
    if (err->code)
        return err->code;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, in->id), crm_param_i64(b[1], in->has_discount, in->discount),
                       crm_param_bool(true, has_key(in->update_mask, in->n_update_mask, "discount"))};
    if (crm_db_begin(db, err))
        return err->code;
    PGresult *res =
        crm_db_exec(db, "orders_update",
                    "UPDATE orders AS o SET discount = CASE WHEN $2::integer IS NOT NULL THEN $2 WHEN "
                    "$3::boolean THEN 0 ELSE discount END, updated_at = now() WHERE id = $1 "
                    "RETURNING " ORDER_COLS,
                    3, p, err);
    if (!res)
        return end_write(db, c, err->code, err);
    *out = PQntuples(res) == 1 ? order_from_row(res, 0) : NULL;
    PQclear(res);
    int rc =
        *out ? emit_order(db, c, "order.updated", *out, err)
             : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "order %lld not found", (long long)in->id);
    rc = end_write(db, c, rc, err);
    if (rc && *out) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
    }
    return rc;
}

static int order_going(crm_db_t *tx, const deals_caller_t *c, int64_t order_id, int64_t deal_id,
                       crm_err_t *err);

int deals_store_order_delete(crm_db_t *db, const deals_caller_t *c, int64_t id, crm_err_t *err)
{
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, id), crm_param_i64(b[1], c->sales, c->user_id)};
    if (crm_db_begin(db, err))
        return err->code;
    PGresult *res =
        crm_db_exec(db, "orders_reach_for_delete",
                    "SELECT o.id FROM orders o WHERE o.id = $1 AND " ORDER_VISIBLE("$2"), 2, p, err);
    if (!res)
        return end_write(db, c, err->code, err);
    int n = PQntuples(res);
    PQclear(res);
    int rc = n ? order_going(db, c, id, 0, err)
               : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "order %lld not found", (long long)id);
    if (rc == CRM_OK)
        rc = crm_db_run(db, "orders_delete", "DELETE FROM orders WHERE id = $1", 1, p, err);
    return end_write(db, c, rc, err);
}

/* ---- line items ----------------------------------------------------------------------------- */

#define LI_COLS                                                                                              \
    "id, order_id, currency, " DEC2("value") ", " DEC2(                                                      \
        "variation") ", quantity, name, sku, "                                                               \
                     "description, " DEC2("price") ", creator_id, " TS("creat"                               \
                                                                       "ed_"                                 \
                                                                       "at") ", " TS("updated_at")

static Crm__LineItem *li_from_row(const PGresult *res, int r)
{
    Crm__LineItem *m = (Crm__LineItem *)crm_pb_new(&crm__line_item__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    crm_row_i64(res, r, 1, &m->has_order_id, &m->order_id);
    m->currency = crm_row_str(res, r, 2);
    m->value = crm_row_str(res, r, 3);
    m->variation = crm_row_str(res, r, 4);
    crm_row_i32(res, r, 5, &m->has_quantity, &m->quantity);
    m->name = crm_row_str(res, r, 6);
    m->sku = crm_row_str(res, r, 7);
    m->description = crm_row_str(res, r, 8);
    m->price = crm_row_str(res, r, 9);
    crm_row_i64(res, r, 10, &m->has_creator_id, &m->creator_id);
    m->created_at = crm_row_str(res, r, 11);
    m->updated_at = crm_row_str(res, r, 12);
    return m;
}

/* The events of an order going (its line items' line_item.deleted, then order.deleted), before
 * it is deleted in the same transaction: order_id > 0 names the order, else deal_id its deal's. */
static int order_going(crm_db_t *tx, const deals_caller_t *c, int64_t order_id, int64_t deal_id,
                       crm_err_t *err)
{
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], order_id > 0, order_id),
                       crm_param_i64(b[1], order_id <= 0, deal_id)};
    PGresult *res = crm_db_exec(
        tx, "orders_going",
        "SELECT " ORDER_COLS " FROM orders o WHERE o.id = $1 OR o.deal_id = $2 FOR UPDATE", 2, p, err);
    if (!res)
        return err->code;
    Crm__Order *order = PQntuples(res) == 1 ? order_from_row(res, 0) : NULL;
    PQclear(res);
    if (!order)
        return CRM_OK;
    int64_t owner = 0;
    const char *lp[] = {crm_param_i64(b[0], true, order->id)};
    int rc = deal_owner(tx, order->deal_id, &owner, err);
    res = rc ? NULL
             : crm_db_exec(tx, "line_items_going",
                           "SELECT " LI_COLS " FROM line_items WHERE order_id = $1 ORDER BY id", 1, lp, err);
    if (rc == CRM_OK && !res)
        rc = err->code;
    for (int r = 0; res && rc == CRM_OK && r < PQntuples(res); r++) {
        Crm__LineItem *li = li_from_row(res, r);
        rc = emit_line_item(tx, c, "line_item.deleted", li, owner, err);
        protobuf_c_message_free_unpacked(&li->base, NULL);
    }
    if (res)
        PQclear(res);
    if (rc == CRM_OK)
        rc = emit_order(tx, c, "order.deleted", order, err);
    protobuf_c_message_free_unpacked(&order->base, NULL);
    return rc;
}

int deals_store_order_deal_going(crm_db_t *tx, const deals_caller_t *c, int64_t deal_id, crm_err_t *err)
{
    return order_going(tx, c, 0, deal_id, err);
}

/* 404 unless the caller reaches the order; *currency (when asked) gets its deal's currency. */
static int order_reached(crm_db_t *db, const deals_caller_t *c, int64_t order_id, char currency[8],
                         crm_err_t *err)
{
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, order_id), crm_param_i64(b[1], c->sales, c->user_id)};
    PGresult *res =
        crm_db_exec(db, "orders_reached",
                    "SELECT d.currency FROM orders o JOIN deals d ON d.id = o.deal_id WHERE o.id = $1 "
                    "AND ($2::bigint IS NULL OR d.owner_id = $2)",
                    2, p, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    if (n && currency)
        snprintf(currency, 8, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return n ? CRM_OK
             : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "order %lld not found",
                           (long long)order_id);
}

int deals_store_line_item_list(crm_db_t *db, const deals_caller_t *c, const Crm__LineItemListRequest *req,
                               Crm__LineItemList **out, crm_err_t *err)
{
    *out = NULL;
    static const char *const sorts[] = {"id", "value", "quantity", "created_at", NULL};
    list_args_t a;
    if (req->value && !deals_decimal_ok(req->value))
        return crm_err_set(err, CRM_EBADREQUEST, "value", "invalid_param", "value must be a decimal");
    if (order_reached(db, c, req->order_id, NULL, err))
        return err->code;
    if (list_args(req->has_page, req->page, req->has_per_page, req->per_page, req->sort_by, sorts, req->ids,
                  &a, err))
        return err->code;
    crm_page_t page = a.page;
    int si = a.si;
    bool desc = a.desc;
    char *ids = a.ids;
    char name[64], sql[1024], b[4][24];
    snprintf(name, sizeof name, "line_items_list_%d%c", si, desc ? 'd' : 'a');
    snprintf(sql, sizeof sql,
             "SELECT " LI_COLS
             " FROM line_items WHERE order_id = $1 AND ($2::bigint[] IS NULL OR id = ANY ($2)) "
             "AND ($3::integer IS NULL OR quantity = $3) AND ($4::numeric IS NULL OR value = $4) "
             "ORDER BY %s %s, id %s LIMIT $5 OFFSET $6",
             sorts[si], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    const char *p[] = {crm_param_i64(b[0], true, req->order_id),
                       ids,
                       crm_param_i64(b[1], req->has_quantity, req->quantity),
                       req->value,
                       crm_param_i64(b[2], true, page.limit),
                       crm_param_i64(b[3], true, page.offset)};
    PGresult *res = crm_db_exec(db, name, sql, 6, p, err);
    free(ids);
    if (!res)
        return err->code;
    LIST_FILL(Crm__LineItemList, crm__line_item_list__descriptor, li_from_row(res, r));
    *out = list;
    return CRM_OK;
}

int deals_store_line_item_get(crm_db_t *db, const deals_caller_t *c, const Crm__LineItemGetRequest *req,
                              Crm__LineItem **out, crm_err_t *err)
{
    *out = NULL;
    if (order_reached(db, c, req->order_id, NULL, err))
        return err->code;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, req->order_id), crm_param_i64(b[1], true, req->id)};
    PGresult *res =
        crm_db_exec(db, "line_items_get",
                    "SELECT " LI_COLS " FROM line_items WHERE order_id = $1 AND id = $2", 2, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = li_from_row(res, 0);
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "line item %lld not found",
                              (long long)req->id);
}

/* The owner of the deal of an order (0: none), who may see the order's line items. */
static int order_owner(crm_db_t *tx, int64_t order_id, int64_t *owner, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, order_id)};
    PGresult *res = crm_db_exec(
        tx, "catalog_order_owner",
        "SELECT d.owner_id FROM orders o JOIN deals d ON d.id = o.deal_id WHERE o.id = $1", 1, p, err);
    if (!res)
        return err->code;
    *owner = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    return CRM_OK;
}

int deals_store_line_item_delete(crm_db_t *db, const deals_caller_t *c, const Crm__LineItemGetRequest *req,
                                 crm_err_t *err)
{
    if (crm_db_begin(db, err))
        return err->code;
    if (order_reached(db, c, req->order_id, NULL, err))
        return end_write(db, c, err->code, err);
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, req->order_id), crm_param_i64(b[1], true, req->id)};
    PGresult *res =
        crm_db_exec(db, "line_items_delete",
                    "DELETE FROM line_items WHERE order_id = $1 AND id = $2 RETURNING " LI_COLS, 2, p, err);
    if (!res)
        return end_write(db, c, err->code, err);
    Crm__LineItem *gone = PQntuples(res) == 1 ? li_from_row(res, 0) : NULL;
    PQclear(res);
    int64_t owner = 0;
    int rc = !gone ? crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "line item %lld not found",
                                 (long long)req->id)
             : order_owner(db, req->order_id, &owner, err)
                 ? err->code
                 : emit_line_item(db, c, "line_item.deleted", gone, owner, err);
    if (gone)
        protobuf_c_message_free_unpacked(&gone->base, NULL);
    return end_write(db, c, rc, err);
}

/* A signed decimal percentage: "-10", "+5.5", "0". */
static bool variation_ok(const char *s)
{
    return deals_decimal_ok(s[0] == '-' || s[0] == '+' ? s + 1 : s);
}

int deals_store_line_item_create(crm_db_t *db, const deals_caller_t *c, const Crm__LineItem *in,
                                 Crm__LineItem **out, crm_err_t *err)
{
    *out = NULL;
    char currency[8] = "";
    if (order_reached(db, c, in->order_id, currency, err))
        return err->code;
    if (!in->has_product_id)
        crm_err_add(err, CRM_EINVALID, "/product_id", "missing", "product_id is required");
    if (!in->currency)
        crm_err_add(err, CRM_EINVALID, "/currency", "missing", "currency is required");
    else if (strcmp(in->currency, currency) != 0)
        crm_err_add(err, CRM_EINVALID, "/currency", "incorrect_value",
                    "currency must be the deal's currency, %s", currency);
    if (in->value && !deals_decimal_ok(in->value))
        crm_err_add(err, CRM_EINVALID, "/value", "incorrect_value",
                    "value must be a decimal string such as \"99.90\"");
    if (in->variation && !variation_ok(in->variation))
        crm_err_add(err, CRM_EINVALID, "/variation", "incorrect_value",
                    "variation must be a decimal percentage such as \"-10\" or \"5.5\"");
    if (in->has_quantity && in->quantity < 1)
        crm_err_add(err, CRM_EINVALID, "/quantity", "incorrect_value", "quantity must be 1 or more");
    if (err->code)
        return err->code;
    /* The product's copy, its price in the deal's currency, and variation / value from it. */
    char b[4][24];
    const char *p[] = {crm_param_i64(b[0], true, in->product_id), currency, in->variation, in->value};
    PGresult *res = crm_db_exec(
        db, "line_items_price",
        "WITH pr AS (SELECT p.active, p.max_discount, p.max_markup, (SELECT (x ->> 'amount')::numeric FROM "
        "jsonb_array_elements(p.prices) x WHERE x ->> 'currency' = $2 LIMIT 1) AS price FROM products p "
        "WHERE "
        "p.id = $1), v AS (SELECT pr.*, coalesce($3::numeric, CASE WHEN $4::numeric IS NULL OR pr.price = 0 "
        "THEN 0 ELSE round(($4::numeric / pr.price - 1) * 100, 2) END) AS variation FROM pr) "
        "SELECT active, price IS NOT NULL, variation::text, round(price * (1 + variation / 100), 2)::text, "
        "variation >= -max_discount AND variation <= max_markup, $4::numeric IS NULL OR price IS NULL OR "
        "abs(round(price * (1 + variation / 100), 2) - $4::numeric) <= 0.01, max_discount, max_markup FROM v",
        4, p, err);
    if (!res)
        return err->code;
    const char *why = PQntuples(res) == 0       ? "no such product"
                      : !crm_db_bool(res, 0, 0) ? "the product is inactive"
                      : !crm_db_bool(res, 0, 1) ? "the product has no price in"
                                                : NULL;
    if (why) {
        crm_err_set(err, CRM_EINVALID, "/product_id", "incorrect_value", "%s%s%s", why,
                    strcmp(why, "the product has no price in") == 0 ? " " : "",
                    strcmp(why, "the product has no price in") == 0 ? currency : "");
        PQclear(res);
        return err->code;
    }
    const char *field = in->variation ? "/variation" : "/value";
    if (!crm_db_bool(res, 0, 5))
        crm_err_set(err, CRM_EINVALID, "/value", "incorrect_value",
                    "value does not match the price with variation %s%%", PQgetvalue(res, 0, 2));
    else if (!crm_db_bool(res, 0, 4))
        crm_err_set(err, CRM_EINVALID, field, "incorrect_value",
                    "variation %s%% is outside the product's limits (discount up to %s%%, markup up to %s%%)",
                    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 7));
    char variation[48], value[48];
    snprintf(variation, sizeof variation, "%s", PQgetvalue(res, 0, 2));
    snprintf(value, sizeof value, "%s", PQgetvalue(res, 0, 3));
    PQclear(res);
    if (err->code)
        return err->code;
    const char *ip[] = {crm_param_i64(b[1], true, in->order_id),
                        crm_param_i64(b[2], true, in->product_id),
                        currency,
                        variation,
                        value,
                        crm_param_i64(b[3], in->has_quantity, in->quantity),
                        crm_param_i64(b[0], c->user_id > 0, c->user_id)};
    if (crm_db_begin(db, err))
        return err->code;
    res = crm_db_exec(
        db, "line_items_create",
        "INSERT INTO line_items (order_id, product_id, name, sku, description, currency, price, "
        "variation, value, quantity, creator_id) SELECT $1, p.id, p.name, p.sku, p.description, $3, "
        "(SELECT (x ->> 'amount')::numeric FROM jsonb_array_elements(p.prices) x WHERE x ->> "
        "'currency' = $3 LIMIT 1), $4::numeric, $5::numeric, coalesce($6::integer, 1), $7 "
        "FROM products p WHERE p.id = $2 RETURNING " LI_COLS,
        7, ip, err);
    if (!res)
        return end_write(db, c, err->code, err);
    if (PQntuples(res) == 1)
        *out = li_from_row(res, 0);
    PQclear(res);
    int64_t owner = 0;
    int rc = !*out ? crm_err_set(err, CRM_EINVALID, "/product_id", "incorrect_value",
                                 "the product was just deleted")
             : order_owner(db, in->order_id, &owner, err)
                 ? err->code
                 : emit_line_item(db, c, "line_item.created", *out, owner, err);
    rc = end_write(db, c, rc, err);
    if (rc && *out) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
    }
    return rc;
}

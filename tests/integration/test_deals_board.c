/* The kanban board (E5) through HTTP on a real stack: columns in stage order after "Unsorted",
 * counts, summed and weighted values, cards newest first, per-column paging, a sales rep's own
 * cards only, and a system-created deal leaving "Unsorted" once a rep changes it. */
#include <zmq.h>

#include "crm/pbjson.h"
#include "crm/rpc.h"
#include "deals.pb-c.h"
#include "deals_util.h"

static harness_t *h;
static void *zctx;

static void stop_stack(void)
{
    harness_destroy(&h);
    if (zctx)
        zmq_ctx_term(zctx);
    zctx = NULL;
}

TestSuite(deals_board, .fini = stop_stack, .timeout = 600);

/* deals.create as the system (user 0), as a service creating a deal on its own would. */
static long long system_deal(const char *name, const char *value)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", harness_rpc_port(h, "deals"));
    const char *eps[] = {ep};
    crm_err_t err;
    crm_err_clear(&err);
    crm_rpc_client_t *c = crm_rpc_client_new(zctx, eps, 1, &err);
    cr_assert_not_null(c);
    Crm__Deal in = CRM__DEAL__INIT;
    in.name = (char *)name;
    in.value_json = (char *)value; /* JSON text: a number */
    ProtobufCMessage *out = NULL;
    crm_rpc_caller_t caller = {.user_id = 0, .role = "system", .correlation_id = "test"};
    int rc = crm_rpc_call(c, "deals.create", &caller, &in.base, &crm__deal__descriptor, harness_ms(10000),
                          &out, &err);
    crm_rpc_client_destroy(&c);
    cr_assert_eq(rc, CRM_OK, "%s", err.message);
    long long id = ((Crm__Deal *)out)->id;
    cr_expect(((Crm__Deal *)out)->unsorted, "system deal is unsorted");
    protobuf_c_message_free_unpacked(out, NULL);
    return id;
}

static json_t *board(const char *query, const char *token, long want)
{
    char path[256];
    long long p1 = harness_sql_long(h, "SELECT min(id) FROM deals.pipelines");
    snprintf(path, sizeof path, "/v2/pipelines/%lld/board%s", p1, query);
    harness_resp_t *r = dl_expect(h, "GET", path, token, NULL, want);
    json_t *cols = json_incref(json_object_get(dl_data(r), "columns"));
    harness_resp_destroy(&r);
    return cols;
}

static json_t *col(json_t *cols, size_t i)
{
    return json_array_get(cols, i);
}
static long long col_int(json_t *cols, size_t i, const char *k)
{
    return json_integer_value(json_object_get(col(cols, i), k));
}
static const char *col_str(json_t *cols, size_t i, const char *k)
{
    return json_string_value(json_object_get(col(cols, i), k)) ?: "";
}
static json_t *cards(json_t *cols, size_t i)
{
    return json_object_get(col(cols, i), "deals");
}

Test(deals_board, columns_cards_unsorted)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    zctx = zmq_ctx_new();
    const char *admin = harness_admin_token(h);
    long long u1, u2;
    char *s1 = dl_user_token(h, "b1@example.com", "sales", &u1);
    char *s2 = dl_user_token(h, "b2@example.com", "sales", &u2);
    long long st[7];
    json_t *sl = dl_list(h, "/v2/stages?pipeline_id=1", admin);
    for (size_t i = 0; i < 7; i++)
        st[i] = dl_item_int(sl, i, "id");
    json_decref(sl);

    /* Incoming: 3 deals (two of s1), Quote: 1 (likelihood 50), Won: 1; plus one system deal. */
    long long a = dl_create(h, "/v2/deals", s1, "{\"name\":\"A\",\"value\":\"100\"}");
    long long b = dl_create(h, "/v2/deals", s1, "{\"name\":\"B\",\"value\":\"200.50\"}");
    long long c =
        dl_create(h, "/v2/deals", s2, "{\"name\":\"C\",\"value\":\"300\",\"customized_win_likelihood\":50}");
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"Q\",\"value\":\"1000\",\"stage_id\":%lld}", st[2]);
    long long q = dl_create(h, "/v2/deals", s2, body);
    snprintf(body, sizeof body, "{\"name\":\"W\",\"value\":\"50\",\"stage_id\":%lld}", st[4]);
    dl_create(h, "/v2/deals", s1, body);
    long long sys = system_deal("From a ticket", "70");

    json_t *cols = board("", admin, 200);
    cr_assert_eq(json_array_size(cols), 8, "Unsorted + 7 stages");
    cr_expect_str_eq(col_str(cols, 0, "name"), "Unsorted");
    cr_expect(json_is_true(json_object_get(col(cols, 0), "unsorted")));
    cr_expect_eq(col_int(cols, 0, "count"), 1);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(cards(cols, 0), 0), "id")), sys);
    static const char *names[] = {"Incoming", "Qualified", "Quote", "Closure", "Won", "Unqualified", "Lost"};
    for (size_t i = 0; i < 7; i++) {
        cr_expect_str_eq(col_str(cols, i + 1, "name"), names[i]);
        cr_expect_eq(col_int(cols, i + 1, "stage_id"), st[i]);
    }
    cr_expect_eq(col_int(cols, 1, "count"), 3);
    cr_expect_str_eq(col_str(cols, 1, "total_value"), "600.50");
    /* 100×10% + 200.50×10% + 300×50% (its own likelihood) */
    cr_expect_str_eq(col_str(cols, 1, "weighted_value"), "180.05");
    cr_expect_eq(col_int(cols, 3, "count"), 1);
    cr_expect_str_eq(col_str(cols, 3, "weighted_value"), "500.00");
    cr_expect_eq(col_int(cols, 5, "count"), 1);
    cr_expect_eq(col_int(cols, 2, "count"), 0);
    /* Cards newest first. */
    json_t *inc = cards(cols, 1);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(inc, 0), "id")), c);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(inc, 2), "id")), a);
    json_decref(cols);

    /* Per-column paging: per_page=1, page 2 shows the second card of Incoming only. */
    cols = board("?per_page=1&page=2", admin, 200);
    cr_expect_eq(json_array_size(cards(cols, 1)), 1);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(cards(cols, 1), 0), "id")), b);
    cr_expect(json_is_true(json_object_get(col(cols, 1), "has_more")));
    cr_expect_eq(json_array_size(cards(cols, 3)), 0);
    cr_expect_eq(col_int(cols, 1, "count"), 3, "count is the column's, not the page's");
    json_decref(cols);
    json_decref(board("?per_page=101", admin, 400));
    json_decref(board("?bogus=1", admin, 400));
    harness_resp_destroy(
        &(harness_resp_t *){dl_expect(h, "GET", "/v2/pipelines/999/board", admin, NULL, 404)});

    /* A sales rep: its own cards and figures only. */
    cols = board("", s1, 200);
    cr_expect_eq(col_int(cols, 1, "count"), 2);
    cr_expect_str_eq(col_str(cols, 1, "total_value"), "300.50");
    cr_expect_eq(col_int(cols, 3, "count"), 0);
    cr_expect_eq(col_int(cols, 0, "count"), 0, "the unowned system deal is not s1's");
    json_decref(cols);

    /* A rep takes the system deal: it leaves Unsorted for its stage column. */
    char path[64];
    snprintf(path, sizeof path, "/v2/deals/%lld", sys);
    snprintf(body, sizeof body, "{\"data\":{\"owner_id\":%lld}}", u2);
    harness_resp_t *r = dl_expect(h, "PUT", path, admin, body, 200);
    cr_expect(json_is_false(json_object_get(dl_data(r), "unsorted")));
    harness_resp_destroy(&r);
    cols = board("", admin, 200);
    cr_expect_eq(col_int(cols, 0, "count"), 0);
    cr_expect_eq(col_int(cols, 1, "count"), 4);
    cr_expect_str_eq(col_str(cols, 1, "currency"), "USD");
    cr_expect_str_eq(col_str(cols, 1, "total_value"), "670.50");
    json_decref(cols);

    /* Currencies are never summed together: a EUR deal in Incoming → per-currency totals only. */
    dl_create(h, "/v2/deals", s1, "{\"name\":\"E\",\"value\":\"1000\",\"currency\":\"EUR\"}");
    cols = board("", admin, 200);
    cr_expect_eq(col_int(cols, 1, "count"), 5);
    cr_expect(json_is_null(json_object_get(col(cols, 1), "total_value")), "mixed: no single total");
    cr_expect(json_is_null(json_object_get(col(cols, 1), "weighted_value")));
    cr_expect(json_is_null(json_object_get(col(cols, 1), "currency")));
    json_t *tot = json_object_get(col(cols, 1), "totals");
    cr_assert_eq(json_array_size(tot), 2, "one total per currency");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(tot, 0), "currency")) ?: "", "EUR");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(tot, 0), "total_value")) ?: "",
                     "1000.00");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(tot, 0), "weighted_value")) ?: "",
                     "100.00");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(tot, 1), "count")), 4);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(tot, 1), "total_value")) ?: "",
                     "670.50");
    cr_expect_str_eq(col_str(cols, 3, "total_value"), "1000.00", "single-currency columns keep their sums");
    json_decref(cols);
    (void)q;
    free(s1);
    free(s2);
}

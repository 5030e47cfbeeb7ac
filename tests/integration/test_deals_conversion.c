/* Deals from lead conversions (D2) on a real stack: the RPC deals.create_from_conversion and the
 * lead.converted event both create the deal keyed by conversion_id, so that together, alone, across
 * a crm-deals crash and under a full replay there is exactly one deal per conversion, with both
 * contacts, in the first active stage of the chosen pipeline. Also owner.assigned → owner_id.
 * The events are written into the producers' outboxes (leads.outbox, assign.outbox) as the
 * producers themselves would, and their relays publish them. */
#include <zmq.h>

#include "assign.pb-c.h"
#include "crm/rpc.h"
#include "deals.pb-c.h"
#include "deals_util.h"
#include "leads.pb-c.h"

static harness_t *h;
static void *zctx;

static void stop_stack(void)
{
    harness_destroy(&h);
    if (zctx)
        zmq_ctx_term(zctx);
    zctx = NULL;
}

TestSuite(deals_conversion, .fini = stop_stack, .timeout = 600);

static Crm__LeadConverted conversion(long long conversion_id, long long pipeline_id)
{
    Crm__LeadConverted lc = CRM__LEAD_CONVERTED__INIT;
    lc.has_conversion_id = lc.has_lead_id = lc.has_individual_id = lc.has_organization_id = 1;
    lc.has_owner_id = lc.has_creator_id = lc.has_create_deal = lc.has_pipeline_id = 1;
    lc.conversion_id = conversion_id;
    lc.lead_id = conversion_id + 10;
    lc.individual_id = conversion_id + 100;
    lc.organization_id = conversion_id + 200;
    lc.owner_id = 7;
    lc.creator_id = 8;
    lc.create_deal = 1;
    lc.deal_name = "Converted deal";
    lc.deal_value = "2500.00";
    lc.deal_currency = "EUR";
    lc.pipeline_id = pipeline_id;
    return lc;
}

/* Writes an event into <producer>.outbox; returns the row id. */
static long long put_event(const char *producer, const char *type, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n);
    protobuf_c_message_pack(msg, buf);
    char *sql = malloc(2 * n + 512), *w = sql;
    w += sprintf(w,
                 "WITH i AS (INSERT INTO %s.outbox (event_id, type, correlation_id, payload) VALUES "
                 "(gen_random_uuid(), '%s', 'test', decode('",
                 producer, type);
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "%02x", buf[i]);
    sprintf(w, "', 'hex')) RETURNING id) SELECT id FROM i");
    long long id = harness_sql_long(h, sql);
    free(sql);
    free(buf);
    cr_assert_gt(id, 0, "event written");
    return id;
}

typedef struct {
    const char *producer;
    long long row;
} applied_arg_t;

/* The event of outbox row `row` has been published and crm-deals' offset for its producer is past it. */
static bool applied(harness_t *self, void *arg)
{
    applied_arg_t *a = arg;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT ((SELECT last_seq FROM deals.inbox_offsets WHERE producer = '%s') >= "
             "(SELECT seq FROM %s.outbox WHERE id = %lld))::int",
             a->producer, a->producer, a->row);
    return harness_sql_long(self, sql) == 1;
}

static void wait_applied(const char *producer, long long row)
{
    applied_arg_t a = {producer, row};
    cr_assert(harness_wait_until(h, harness_ms(30000), applied, &a, "crm-deals applied the event"));
}

static long long deals_of(long long conversion_id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deals.deals WHERE conversion_id = %lld", conversion_id);
    return harness_sql_long(h, sql);
}

static long long deal_field(long long conversion_id, const char *expr)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM deals.deals d WHERE conversion_id = %lld", expr, conversion_id);
    return harness_sql_long(h, sql);
}

static int call_rpc(const Crm__LeadConverted *lc, Crm__ConversionDealReply **reply)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", harness_rpc_port(h, "deals"));
    const char *eps[] = {ep};
    crm_err_t err;
    crm_err_clear(&err);
    crm_rpc_client_t *c = crm_rpc_client_new(zctx, eps, 1, &err);
    cr_assert_not_null(c, "%s", err.message);
    ProtobufCMessage *out = NULL;
    crm_rpc_caller_t caller = {.user_id = 8, .role = "system", .correlation_id = "test"};
    int rc = crm_rpc_call(c, "deals.create_from_conversion", &caller, &lc->base,
                          &crm__conversion_deal_reply__descriptor, harness_ms(10000), &out, &err);
    crm_rpc_client_destroy(&c);
    *reply = (Crm__ConversionDealReply *)out;
    if (rc)
        fprintf(stderr, "rpc: %s\n", err.message);
    return rc;
}

Test(deals_conversion, exactly_one_deal_per_conversion)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    zctx = zmq_ctx_new();
    const char *admin = harness_admin_token(h);
    long long p1 = harness_sql_long(h, "SELECT min(id) FROM deals.pipelines");
    long long first1 = harness_sql_long(h, "SELECT id FROM deals.stages WHERE position = 1 AND pipeline_id = "
                                           "(SELECT min(id) FROM deals.pipelines)");
    long long p2 = dl_create(h, "/v2/pipelines", admin, "{\"name\":\"Renewals\"}");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM deals.stages WHERE position = 1 AND pipeline_id = %lld", p2);
    long long first2 = harness_sql_long(h, sql);

    /* 1. RPC, then the event, then the RPC again: one deal. */
    Crm__LeadConverted lc = conversion(1001, 0);
    Crm__ConversionDealReply *rep = NULL;
    cr_assert_eq(call_rpc(&lc, &rep), CRM_OK);
    cr_expect(rep->created);
    long long deal1 = rep->deal_id;
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    wait_applied("leads", put_event("leads", "lead.converted", &lc.base));
    cr_expect_eq(deals_of(1001), 1);
    cr_assert_eq(call_rpc(&lc, &rep), CRM_OK);
    cr_expect(!rep->created, "second RPC reuses the deal");
    cr_expect_eq(rep->deal_id, deal1);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    cr_expect_eq(deal_field(1001, "stage_id"), first1);
    cr_expect_eq(deal_field(1001, "pipeline_id"), p1);
    cr_expect_eq(deal_field(1001, "owner_id"), 7);
    cr_expect_eq(deal_field(1001, "organization_id"), 1201);
    cr_expect_eq(deal_field(1001, "(SELECT count(*) FROM deals.deal_contacts c WHERE c.deal_id = d.id AND "
                                  "c.contact_id IN (1101, 1201))"),
                 2, "both contacts associated");
    cr_expect_eq(deal_field(1001, "(value = 2500)::int"), 1);

    /* 2. The event alone (the RPC never called), into the second pipeline. */
    lc = conversion(1002, p2);
    wait_applied("leads", put_event("leads", "lead.converted", &lc.base));
    cr_expect_eq(deals_of(1002), 1);
    cr_expect_eq(deal_field(1002, "stage_id"), first2);
    cr_expect_eq(deal_field(1002, "(SELECT count(*) FROM deals.deal_contacts c WHERE c.deal_id = d.id)"), 2);
    /* create_deal false: no deal. */
    lc = conversion(1003, 0);
    lc.create_deal = 0;
    wait_applied("leads", put_event("leads", "lead.converted", &lc.base));
    cr_expect_eq(deals_of(1003), 0);
    /* A bad value over RPC: 422 naming the field. */
    lc = conversion(1005, 0);
    lc.deal_value = "lots";
    cr_expect_eq(call_rpc(&lc, &rep), CRM_EINVALID);

    /* 3. crm-deals killed; the conversion happens through the event; restart: one deal. */
    cr_assert_eq(harness_kill(h, "deals"), 0);
    lc = conversion(1004, 0);
    long long row = put_event("leads", "lead.converted", &lc.base);
    cr_assert_eq(harness_restart(h, "deals"), 0);
    wait_applied("leads", row);
    cr_expect_eq(deals_of(1004), 1);

    /* 4. A full replay of everything leads ever published: still one deal each. */
    long long created_before =
        harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.created'");
    cr_assert_eq(harness_term(h, "deals", harness_ms(10000)), 0);
    harness_sql_long(h, "WITH u AS (UPDATE deals.inbox_offsets SET last_seq = 0 WHERE producer = 'leads' "
                        "RETURNING 1) SELECT count(*) FROM u");
    cr_assert_eq(harness_restart(h, "deals"), 0);
    wait_applied("leads", row);
    for (long long c = 1001; c <= 1004; c++)
        cr_expect_eq(deals_of(c), c == 1003 ? 0 : 1, "conversion %lld after replay", c);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.created'"),
                 created_before, "no deal.created on replay");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals"), 3);

    /* 5. owner.assigned for a deal sets its owner and emits deal.updated with assignment_id. */
    Crm__OwnerAssigned oa = CRM__OWNER_ASSIGNED__INIT;
    oa.resource_type = "deal";
    oa.has_resource_id = oa.has_owner_id = oa.has_assignment_id = 1;
    oa.resource_id = deal1;
    oa.owner_id = 77;
    oa.assignment_id = 5;
    wait_applied("assign", put_event("assign", "owner.assigned", &oa.base));
    cr_expect_eq(deal_field(1001, "owner_id"), 77);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.outbox WHERE type = 'deal.updated'"), 1);
    char path[64];
    snprintf(path, sizeof path, "/v2/deals/%lld", deal1);
    harness_resp_t *r = dl_expect(h, "GET", path, admin, NULL, 200);
    cr_expect_eq(dl_int(r, "owner_id"), 77);
    cr_expect_eq(dl_int(r, "conversion_id"), 1001);
    harness_resp_destroy(&r);
}

/* Conversion's deal (conversion_id = the conversion's id) appeared in crm-deals. */
static bool conversion_deal(harness_t *self, void *arg)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deals.deals WHERE conversion_id = %lld",
             *(long long *)arg);
    return harness_sql_long(self, sql) >= 1;
}

static long long convert(const char *admin, const char *last, const char *org, long long *deal_id)
{
    char body[512];
    snprintf(body, sizeof body, "{\"data\":{\"last_name\":\"%s\",\"organization_name\":\"%s\"}}", last, org);
    harness_resp_t *r = dl_expect(h, "POST", "/v2/leads", admin, body, 200);
    long long lead = dl_int(r, "id");
    harness_resp_destroy(&r);
    snprintf(body, sizeof body,
             "{\"data\":{\"lead_id\":%lld,\"create_deal\":true,\"deal\":{\"name\":\"%s "
             "deal\",\"value\":\"750.25\"}}}",
             lead, org);
    r = dl_expect(h, "POST", "/v2/lead_conversions", admin, body, 200);
    long long conv = dl_int(r, "id");
    *deal_id = dl_int(r, "deal_id");
    harness_resp_destroy(&r);
    return conv;
}

/* Through the real crm-leads: POST /v2/lead_conversions with a deal, with crm-deals up (RPC, then
 * the event) and down (the event only, after the restart): one deal each, both contacts on it. */
Test(deals_conversion, through_lead_conversions)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long deal = 0;
    long long conv = convert(admin, "Smith", "Acme Co", &deal);
    cr_expect_gt(deal, 0, "the RPC answered with the deal");
    cr_assert(harness_wait_until(h, harness_ms(30000), conversion_deal, &conv, "the conversion's deal"));
    wait_applied("leads",
                 harness_sql_long(h, "SELECT max(id) FROM leads.outbox WHERE type = 'lead.converted'"));
    cr_expect_eq(deals_of(conv), 1);
    cr_expect_eq(deal_field(conv, "id"), deal);
    cr_expect_eq(deal_field(conv, "(SELECT count(*) FROM deals.deal_contacts c WHERE c.deal_id = d.id)"), 2,
                 "person and company");
    cr_expect_eq(deal_field(conv, "(value = 750.25)::int"), 1);

    cr_assert_eq(harness_kill(h, "deals"), 0);
    long long conv2 = convert(admin, "Jones", "Bolt Ltd", &deal);
    cr_expect_eq(deal, -1, "no deal id while crm-deals is down");
    cr_assert_eq(harness_restart(h, "deals"), 0);
    cr_assert(harness_wait_until(h, harness_ms(30000), conversion_deal, &conv2, "the deferred deal"));
    wait_applied("leads",
                 harness_sql_long(h, "SELECT max(id) FROM leads.outbox WHERE type = 'lead.converted'"));
    cr_expect_eq(deals_of(conv2), 1);
    cr_expect_eq(deal_field(conv2, "(SELECT count(*) FROM deals.deal_contacts c WHERE c.deal_id = d.id)"), 2);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM deals.deals"), 2);
}

/* deals.import_batch / deals.import_status on a real stack, through the RPC as crmctl calls them:
 * rows checked and rejected with their reasons (missing name, unknown pipeline or stage, bad value,
 * currency or date, unknown contact, refused by crmctl), contacts resolved in crm-leads by e-mail or
 * name, owners from the default deal pool in one assign.pick_bulk (round robin continuing across
 * batches, no owner.assigned), the stage history and funnel, resume by watermark, import.finished
 * exactly once → one digest per owner in crm-notify, a dry run storing nothing, an owner for all,
 * and the refusals. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <zmq.h>

#include "crm/rpc.h"
#include "harness.h"
#include "import.pb-c.h"

static harness_t *h;
static void *zctx;

static void stop_stack(void)
{
    harness_destroy(&h);
    if (zctx)
        zmq_ctx_term(zctx);
    zctx = NULL;
}

TestSuite(deals_import, .fini = stop_stack, .timeout = 900);

static long long sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql(const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return harness_sql_long(h, q);
}

/* A CSV row as crmctl maps it. */
typedef struct {
    long long line;
    const char *name, *value, *currency, *pipeline, *stage, *email, *contact, *reject, *date, *added;
    bool hot;
} row_t;

typedef struct {
    int rc;
    char message[600];
    Crm__ImportBatchReply *reply;
} call_t;

static call_t rpc(const char *method, const char *role, const ProtobufCMessage *in,
                  const ProtobufCMessageDescriptor *out_desc)
{
    if (!zctx)
        zctx = zmq_ctx_new();
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", harness_rpc_port(h, "deals"));
    const char *eps[] = {ep};
    crm_err_t err;
    crm_err_clear(&err);
    crm_rpc_client_t *c = crm_rpc_client_new(zctx, eps, 1, &err);
    cr_assert_not_null(c);
    crm_rpc_caller_t caller = {.user_id = 1, .role = role, .correlation_id = "test-deals-import"};
    ProtobufCMessage *out = NULL;
    call_t r = {0};
    r.rc = crm_rpc_call(c, method, &caller, in, out_desc, harness_ms(60000), &out, &err);
    snprintf(r.message, sizeof r.message, "%s", err.message);
    r.reply = (Crm__ImportBatchReply *)out;
    crm_rpc_client_destroy(&c);
    return r;
}

typedef struct {
    const char *import_id, *role, *type;
    long long owner, pool;
    bool final, dry;
} batch_opts_t;

static call_t batch(const batch_opts_t *o, const row_t *rows, size_t n)
{
    Crm__ImportBatch b = CRM__IMPORT_BATCH__INIT;
    b.import_id = (char *)o->import_id;
    b.resource_type = (char *)(o->type ? o->type : "deal");
    b.file_name = "deals.csv";
    b.has_owner_id = b.has_pool_id = b.has_final = b.has_dry_run = b.has_last_line = 1;
    b.owner_id = o->owner;
    b.pool_id = o->pool;
    b.final = o->final;
    b.dry_run = o->dry;
    Crm__ImportRow *rs = calloc(n + 1, sizeof *rs), **rp = calloc(n + 1, sizeof *rp);
    Crm__Deal *ds = calloc(n + 1, sizeof *ds);
    for (size_t i = 0; i < n; i++) {
        crm__import_row__init(&rs[i]);
        crm__deal__init(&ds[i]);
        rs[i].has_line = 1;
        rs[i].line = rows[i].line;
        ds[i].name = (char *)rows[i].name;
        ds[i].value_json = (char *)rows[i].value;
        ds[i].currency = (char *)rows[i].currency;
        ds[i].estimated_close_date = (char *)rows[i].date;
        ds[i].added_on = (char *)rows[i].added;
        ds[i].has_hot = rows[i].hot;
        ds[i].hot = rows[i].hot;
        rs[i].deal = &ds[i];
        rs[i].pipeline_name = (char *)rows[i].pipeline;
        rs[i].stage_name = (char *)rows[i].stage;
        rs[i].contact_email = (char *)rows[i].email;
        rs[i].contact_name = (char *)rows[i].contact;
        rs[i].reject_reason = (char *)rows[i].reject;
        rp[i] = &rs[i];
        b.last_line = rows[i].line;
    }
    b.rows = rp;
    b.n_rows = n;
    call_t r =
        rpc("deals.import_batch", o->role ? o->role : "admin", &b.base, &crm__import_batch_reply__descriptor);
    free(rs);
    free(rp);
    free(ds);
    return r;
}

static void done(call_t *c)
{
    if (c->reply)
        protobuf_c_message_free_unpacked(&c->reply->base, NULL);
    c->reply = NULL;
}

static const char *reason_of(const Crm__ImportBatchReply *r, long long line)
{
    for (size_t i = 0; i < r->n_rejects; i++)
        if (r->rejects[i]->line == line)
            return r->rejects[i]->reason ? r->rejects[i]->reason : "";
    return NULL;
}

static long long deal_of_line(const char *import_id, long long line, const char *col)
{
    return sql("SELECT %s FROM deals.deals WHERE import_id = '%s' AND import_line = %lld", col, import_id,
               line);
}

Test(deals_import, rows_owners_resume_digest)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    long long u[3];
    for (int i = 0; i < 3; i++) {
        char name[32], email[64];
        snprintf(name, sizeof name, "dimp user %d", i + 1);
        snprintf(email, sizeof email, "dimp-%d@example.com", i + 1);
        u[i] = harness_create(h, "users",
                              json_pack("{s:s,s:s,s:s}", "name", name, "email", email, "role", "sales"));
        cr_assert_gt(u[i], 0);
    }
    long long pool = harness_create(h, "distribution_pools",
                                    json_pack("{s:s,s:s,s:[I,I,I],s:b}", "name", "Deals", "resource_type",
                                              "deal", "user_ids", u[0], u[1], u[2], "default", 1));
    cr_assert_gt(pool, 0);
    long long ann = harness_create(
        h, "contacts",
        json_pack("{s:s,s:s,s:s}", "first_name", "Ann", "last_name", "Lee", "email", "ann@example.com"));
    long long acme =
        harness_create(h, "contacts", json_pack("{s:b,s:s}", "is_organization", 1, "name", "Acme Corp"));
    cr_assert_gt(ann, 0);
    cr_assert_gt(acme, 0);

    const row_t rows[] = {
        {.line = 2, .name = "Deal A", .value = "1200.50", .currency = "EUR", .email = "ANN@example.com "},
        {.line = 3,
         .name = "Deal B",
         .value = "500",
         .pipeline = "sales pipeline",
         .stage = "won",
         .contact = "acme corp"},
        {.line = 4, .name = "  ", .value = "1"},
        {.line = 5, .name = "Deal D", .pipeline = "Nope"},
        {.line = 6, .name = "Deal E", .stage = "Nope"},
        {.line = 7, .name = "Deal F", .value = "12,00"},
        {.line = 8, .name = "Deal G", .currency = "euro"},
        {.line = 9, .name = "Deal H", .email = "nobody@example.com"},
        {.line = 10,
         .name = "Deal C",
         .added = "2020-05-01",
         .stage = "Quote",
         .hot = true,
         .date = "2027-01-31",
         .contact = "Ann Lee"},
        {.line = 11, .reject = "ragged row: 3 fields, the header has 5"},
        {.line = 12, .name = "Deal I", .date = "2027-02-30"},
    };
    const char *imp = "deal-test-1";
    call_t c = batch(&(batch_opts_t){.import_id = imp}, rows, sizeof rows / sizeof rows[0]);
    cr_assert_eq(c.rc, CRM_OK, "batch 1: %s", c.message);
    cr_expect_eq(c.reply->created, 3);
    for (long long l = 2; l <= 10; l += 8)
        cr_expect_null(reason_of(c.reply, l), "line %lld rejected: %s", l, reason_of(c.reply, l));
    cr_expect_eq(c.reply->rejected, 8);
    cr_expect_eq(c.reply->skipped, 0);
    const struct {
        long long line;
        const char *want;
    } reasons[] = {{4, "missing name"},
                   {5, "unknown pipeline \"Nope\""},
                   {6, "unknown stage \"Nope\" in pipeline \"Sales Pipeline\""},
                   {7, "bad value"},
                   {8, "bad currency"},
                   {9, "unknown contact \"nobody@example.com\""},
                   {11, "ragged row"},
                   {12, "bad estimated_close_date"}};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        const char *got = reason_of(c.reply, reasons[i].line);
        cr_expect(got && strstr(got, reasons[i].want), "line %lld: reason %s, want %s", reasons[i].line,
                  got ? got : "(none)", reasons[i].want);
    }
    cr_expect(c.reply->status && c.reply->status->last_line == 12, "watermark 12");
    done(&c);

    /* Stored: owners by the pool in file order, contacts by e-mail/name, stages, value, currency. */
    cr_expect_eq(deal_of_line(imp, 2, "owner_id"), u[0]);
    cr_expect_eq(deal_of_line(imp, 3, "owner_id"), u[1]);
    cr_expect_eq(deal_of_line(imp, 10, "owner_id"), u[2]);
    cr_expect_eq(deal_of_line(imp, 2, "contact_id"), ann, "contact by e-mail (case, blanks)");
    cr_expect_eq(deal_of_line(imp, 3, "contact_id"), acme, "contact by organization name");
    cr_expect_eq(deal_of_line(imp, 10, "contact_id"), ann, "contact by person name");
    cr_expect_eq(deal_of_line(imp, 2, "(value * 100)::bigint"), 120050);
    cr_expect_eq(deal_of_line(imp, 2, "(currency = 'EUR')::int"), 1);
    cr_expect_eq(deal_of_line(imp, 3, "(stage_id = (SELECT id FROM deals.stages WHERE name = 'Won'))::int"),
                 1);
    cr_expect_eq(
        deal_of_line(imp, 2, "(stage_id = (SELECT id FROM deals.stages WHERE name = 'Incoming'))::int"), 1,
        "no stage: the first active one");
    cr_expect_eq(deal_of_line(imp, 10, "(hot AND estimated_close_date = '2027-01-31')::int"), 1);
    cr_expect_eq(deal_of_line(imp, 10, "(added_on = '2020-05-01T00:00:00Z')::int"), 1, "added_on kept");
    cr_expect_eq(
        deal_of_line(imp, 2, "((SELECT name FROM deals.deal_sources WHERE id = source_id) = 'import')::int"),
        1, "source import");
    cr_expect_eq(
        sql("SELECT count(*) FROM deals.deal_contacts c JOIN deals.deals d ON d.id = c.deal_id WHERE "
            "d.import_id = '%s'",
            imp),
        3);
    cr_expect_eq(
        sql("SELECT count(*) FROM deals.stage_changes c JOIN deals.deals d ON d.id = c.deal_id WHERE "
            "d.import_id = '%s' AND c.from_stage_id IS NULL AND c.owner_id = d.owner_id",
            imp),
        3, "first stays");
    cr_expect_eq(
        sql("SELECT (won_value * 100)::bigint FROM deals.funnel_daily WHERE stage_id = (SELECT id FROM "
            "deals.stages WHERE name = 'Won') AND owner_id = %lld",
            u[1]),
        50000, "won value in the funnel");
    cr_expect_eq(sql("SELECT count(*) FROM deals.outbox WHERE type = 'deal.created'"), 3);
    cr_expect_eq(sql("SELECT count(*) FROM assign.assignments WHERE resource_type = 'deal' AND kind = "
                     "'round_robin' AND cause_event_id LIKE '%s:deal:%%'",
                     imp),
                 3, "3 assignments from one pick_bulk");

    /* The same batch again (a retried request): everything skipped. */
    c = batch(&(batch_opts_t){.import_id = imp}, rows, sizeof rows / sizeof rows[0]);
    cr_assert_eq(c.rc, CRM_OK, "retry: %s", c.message);
    cr_expect_eq(c.reply->skipped, 11);
    cr_expect_eq(c.reply->created, 0);
    done(&c);

    /* The final batch: the cursor continues (member 1, 2), import.finished once. */
    const row_t last[] = {{.line = 13, .name = "Deal J"}, {.line = 14, .name = "Deal K", .value = "7"}};
    c = batch(&(batch_opts_t){.import_id = imp, .final = true}, last, 2);
    cr_assert_eq(c.rc, CRM_OK, "final: %s", c.message);
    cr_expect_eq(c.reply->created, 2);
    cr_expect(c.reply->status && c.reply->status->finished_at, "finished");
    cr_expect_eq(c.reply->status->created, 5);
    cr_expect_eq(c.reply->status->rejected, 8);
    done(&c);
    cr_expect_eq(deal_of_line(imp, 13, "owner_id"), u[0]);
    cr_expect_eq(deal_of_line(imp, 14, "owner_id"), u[1]);
    c = batch(&(batch_opts_t){.import_id = imp, .final = true}, last, 2);
    cr_assert_eq(c.rc, CRM_OK, "final again: %s", c.message);
    cr_expect_eq(c.reply->skipped, 2);
    done(&c);
    cr_expect_eq(sql("SELECT count(*) FROM deals.outbox WHERE type = 'import.finished'"), 1,
                 "import.finished once");

    /* crm-notify: one digest per owner (2, 2 and 1 deals); crm-assign emitted no owner.assigned. */
    char q[512];
    snprintf(q, sizeof q, "SELECT count(*) FROM notify.notifications WHERE event_id = 'import:%s'", imp);
    bool three = false;
    for (int i = 0; i < 150 && !three; i++) {
        three = harness_sql_long(h, q) == 3;
        if (!three)
            usleep(200000);
    }
    cr_expect(three, "3 digests");
    cr_expect_eq(sql("SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND message = 'Import "
                     "deals.csv: 2 new deals assigned to you'",
                     u[0]),
                 1);
    cr_expect_eq(sql("SELECT count(*) FROM notify.notifications WHERE user_id = %lld AND message = 'Import "
                     "deals.csv: 1 new deal assigned to you'",
                     u[2]),
                 1);
    cr_expect_eq(sql("SELECT count(*) FROM assign.outbox WHERE type = 'owner.assigned'"), 0,
                 "no owner.assigned for imported deals");
    cr_expect_eq(sql("SELECT count(*) FROM assign.ownership WHERE resource_type = 'deal'"), 5);

    /* deals.import_status */
    Crm__ImportStatusRequest sr = CRM__IMPORT_STATUS_REQUEST__INIT;
    sr.import_id = (char *)imp;
    call_t s = rpc("deals.import_status", "admin", &sr.base, &crm__import_status__descriptor);
    cr_assert_eq(s.rc, CRM_OK, "%s", s.message);
    Crm__ImportStatus *st = (Crm__ImportStatus *)s.reply;
    cr_expect(st->found && st->created == 5 && st->rejected == 8 && st->last_line == 14 && st->finished_at,
              "status");
    done(&s);

    /* A dry run stores nothing; an owner for all; refusals. */
    long long before = sql("SELECT count(*) FROM deals.deals");
    const row_t two[] = {
        {.line = 2, .name = "Dry 1"}, {.line = 3, .name = ""}, {.line = 4, .name = "D", .added = "May"}};
    c = batch(&(batch_opts_t){.import_id = "deal-dry", .dry = true, .final = true}, two, 3);
    cr_assert_eq(c.rc, CRM_OK, "dry: %s", c.message);
    cr_expect_eq(c.reply->created, 1);
    cr_expect_eq(c.reply->rejected, 2);
    cr_expect(reason_of(c.reply, 4) && strstr(reason_of(c.reply, 4), "bad added_on"), "added_on May");
    done(&c);
    cr_expect_eq(sql("SELECT count(*) FROM deals.deals"), before, "dry run stored nothing");
    cr_expect_eq(sql("SELECT count(*) FROM deals.imports WHERE id = 'deal-dry'"), 0);
    c = batch(&(batch_opts_t){.import_id = "deal-owner", .owner = u[2], .final = true}, two, 1);
    cr_assert_eq(c.rc, CRM_OK, "owner: %s", c.message);
    done(&c);
    cr_expect_eq(deal_of_line("deal-owner", 2, "owner_id"), u[2]);
    cr_expect_eq(sql("SELECT count(*) FROM assign.assignments WHERE kind = 'manual' AND owner_id = %lld AND "
                     "cause_event_id LIKE 'deal-owner:%%'",
                     u[2]),
                 1);
    /* A batch whose transaction fails after crm-assign picked its owners (a trigger refuses one
     * row): sent again, it gets the same deal ids and owners, and the pool cursor moved once. */
    cr_assert_eq(
        harness_sql_long(h, "CREATE FUNCTION deals.fail_me() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                            "IF NEW.name = 'FAIL ME' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                            "RETURN NEW; END $$; CREATE TRIGGER fail_me BEFORE INSERT ON deals.deals FOR "
                            "EACH ROW EXECUTE FUNCTION deals.fail_me(); SELECT count(*) FROM pg_trigger "
                            "WHERE tgname = 'fail_me'"),
        1, "the trigger is there");
    const row_t failing[] = {{.line = 2, .name = "Retry 1"}, {.line = 3, .name = "FAIL ME"}};
    c = batch(&(batch_opts_t){.import_id = "deal-retry"}, failing, 2);
    cr_expect_neq(c.rc, CRM_OK, "the failing batch fails");
    done(&c);
    cr_expect_eq(sql("SELECT count(*) FROM deals.deals WHERE import_id = 'deal-retry'"), 0);
    cr_expect_eq(sql("SELECT count(*) FROM assign.assignments WHERE cause_event_id LIKE 'deal-retry:%%'"), 2,
                 "crm-assign picked before the failure");
    cr_assert_eq(harness_sql_long(h, "DROP TRIGGER fail_me ON deals.deals; SELECT 1"), 1);
    c = batch(&(batch_opts_t){.import_id = "deal-retry", .final = true}, failing, 2);
    cr_assert_eq(c.rc, CRM_OK, "retry: %s", c.message);
    cr_expect_eq(c.reply->created, 2);
    done(&c);
    cr_expect_eq(sql("SELECT count(*) FROM assign.assignments WHERE cause_event_id LIKE 'deal-retry:%%'"), 2,
                 "no new picks on the retry");
    cr_expect_eq(
        sql("SELECT count(*) FROM deals.deals d JOIN assign.assignments a ON a.resource_type = 'deal' "
            "AND a.resource_id = d.id AND a.owner_id = d.owner_id WHERE d.import_id = 'deal-retry'"),
        2, "the deals got the owners picked before the failure");
    cr_expect_eq(deal_of_line("deal-retry", 2, "owner_id"), u[2], "cursor: member 3 after 1,2,3,1,2");
    cr_expect_eq(deal_of_line("deal-retry", 3, "owner_id"), u[0]);
    cr_expect_eq(sql("SELECT count(*) FROM deals.import_pending"), 0, "reservations cleared");

    c = batch(&(batch_opts_t){.import_id = "deal-x", .role = "sales"}, two, 1);
    cr_expect_eq(c.rc, CRM_EFORBIDDEN, "sales: %d", c.rc);
    done(&c);
    c = batch(&(batch_opts_t){.import_id = "deal-x", .type = "lead"}, two, 1);
    cr_expect_eq(c.rc, CRM_EINVALID, "type lead: %d", c.rc);
    done(&c);
    c = batch(&(batch_opts_t){.import_id = "deal-x", .owner = u[0], .pool = pool}, two, 1);
    cr_expect_eq(c.rc, CRM_EINVALID, "owner and pool: %d", c.rc);
    done(&c);
    c = batch(&(batch_opts_t){.import_id = "bad id!"}, two, 1);
    cr_expect_eq(c.rc, CRM_EINVALID, "bad import id: %d", c.rc);
    done(&c);
}

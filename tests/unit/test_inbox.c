/* Unit tests of inbox.c: a producer (outbox + events.replay over RPC) and consumers (inbox) over
 * a real XSUB/XPUB forwarder and a real Postgres. Handlers write rows, so exactly-once and order
 * are checked by counting: 1000 events, catch-up at start, a bus that loses messages, two
 * consumer instances, dead letters and transient retries. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "crm/db.h"
#include "crm/inbox.h"
#include "crm/log.h"
#include "crm/metrics.h"
#include "crm/outbox.h"
#include "crm/rpc.h"
#include "crm/util.h"
#include "envelope.pb-c.h"
#include "pgtest.h"

/* ---- the bus: an XSUB/XPUB forwarder in a thread, stoppable to lose messages ---- */

typedef struct {
    void *xsub, *xpub;
    void *ctl;   /* the test's end of the steering pair */
    void *inner; /* the proxy thread's end */
    pthread_t thread;
    bool up;
} proxy_t;

static void *zctx;
static proxy_t proxy;
static char xsub_ep[64], xpub_ep[64], rpc_ep[64];
static int proxy_seq;

static void *proxy_run(void *arg) {
    proxy_t *p = arg;
    zmq_proxy_steerable(p->xsub, p->xpub, NULL, p->inner);
    zmq_close(p->inner);
    return NULL;
}

static void *bind_retry(int type, const char *ep) {
    void *s = zmq_socket(zctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    for (int i = 0; i < 100; i++) { /* the previous proxy's port is released asynchronously */
        if (zmq_bind(s, ep) == 0) return s;
        crm_sleep_ms(50);
    }
    cr_assert_fail("cannot bind %s: %s", ep, zmq_strerror(zmq_errno()));
    return NULL;
}

static void proxy_up(void) {
    proxy.xsub = bind_retry(ZMQ_XSUB, xsub_ep);
    proxy.xpub = bind_retry(ZMQ_XPUB, xpub_ep);
    char ctl_ep[64];
    snprintf(ctl_ep, sizeof ctl_ep, "inproc://proxy-ctl-%d", ++proxy_seq);
    proxy.ctl = zmq_socket(zctx, ZMQ_PAIR);
    zmq_bind(proxy.ctl, ctl_ep);
    proxy.inner = zmq_socket(zctx, ZMQ_PAIR);
    zmq_connect(proxy.inner, ctl_ep);
    pthread_create(&proxy.thread, NULL, proxy_run, &proxy);
    proxy.up = true;
}

static void proxy_down(void) {
    if (!proxy.up) return;
    zmq_send(proxy.ctl, "TERMINATE", 9, 0);
    pthread_join(proxy.thread, NULL);
    zmq_close(proxy.xsub);
    zmq_close(proxy.xpub);
    zmq_close(proxy.ctl);
    proxy.up = false;
}

/* ---- fixtures ---- */

static pgtest_t *pg;
static crm_db_pool_t *prod_pool;
static crm_rpc_server_t *rpc;
static crm_outbox_t *outbox;
static crm_db_t *prod_db; /* the test's writer */
static crm_db_t *cons_db; /* the test's reader of the consumer schema */

static const crm_migration_t cons_migrations[] = {
    {"001_applied.sql", "CREATE TABLE applied (id bigserial PRIMARY KEY, seq bigint NOT NULL, mark bigint NOT NULL,"
                        " instance int NOT NULL)"},
};

static crm_db_params_t params(const char *schema) {
    return (crm_db_params_t){.conninfo = pgtest_url(pg), .schema = schema, .retry_seconds = 5};
}

static crm_db_t *connect_to(const char *schema) {
    crm_db_params_t p = params(schema);
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "%s", err.message);
    return db;
}

static void setup(void) {
    if (getenv("DEBUG_INBOX")) crm_log_init("test", CRM_LOG_DEBUG);
    pg = pgtest_start();
    cr_assert_not_null(pg);
    zctx = zmq_ctx_new();
    snprintf(xsub_ep, sizeof xsub_ep, "tcp://127.0.0.1:%d", pgtest_free_port());
    snprintf(xpub_ep, sizeof xpub_ep, "tcp://127.0.0.1:%d", pgtest_free_port());
    snprintf(rpc_ep, sizeof rpc_ep, "tcp://127.0.0.1:%d", pgtest_free_port());
    proxy_up();
    crm_err_t err = {0};
    prod_db = connect_to("prod");
    cons_db = connect_to("cons");
    cr_assert_eq(crm_db_migrate(prod_db, "prod", NULL, 0, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(crm_db_migrate(cons_db, "cons", cons_migrations, 1, &err), CRM_OK, "%s", err.message);
    crm_db_params_t pp = params("prod");
    outbox = crm_outbox_new("prod", zctx, xsub_ep, &pp, NULL, &err);
    cr_assert_not_null(outbox, "%s", err.message);
    cr_assert_eq(crm_outbox_start(outbox, &err), CRM_OK, "%s", err.message);
    prod_pool = crm_db_pool_new(&pp, 2, &err);
    cr_assert_not_null(prod_pool, "%s", err.message);
    rpc = crm_rpc_server_new(zctx, rpc_ep, 2, prod_pool, NULL, &err);
    cr_assert_not_null(rpc, "%s", err.message);
    crm_outbox_serve_replay(outbox, rpc);
    cr_assert_eq(crm_rpc_server_start(rpc, &err), CRM_OK, "%s", err.message);
}

static void teardown(void) {
    crm_rpc_server_stop(rpc);
    crm_rpc_server_destroy(&rpc);
    crm_outbox_destroy(&outbox);
    crm_db_pool_destroy(&prod_pool);
    crm_db_destroy(&prod_db);
    crm_db_destroy(&cons_db);
    proxy_down();
    pgtest_destroy(&pg);
}

TestSuite(inbox, .init = setup, .fini = teardown, .timeout = 240);

/* ---- the consumer's handler: one row per applied event ---- */

static atomic_int transient_left;   /* fail mark 5 this many times with UNAVAILABLE */
static atomic_bool poison_on;      /* when set, mark 13 fails permanently */
static atomic_bool poison_sql;     /* when set, mark 13 first writes its row, then a statement fails */
static const uint64_t POISON = 13;

static int on_item(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                   crm_err_t *err) {
    int instance = (int)(intptr_t)arg;
    const Crm__Heartbeat *item = (const Crm__Heartbeat *)payload;
    if (atomic_load(&poison_on) && item->latest_seq == POISON) return crm_err_set(err, CRM_EINVALID, "/mark", "invalid", "poisoned");
    if (atomic_load(&poison_sql) && item->latest_seq == POISON) {
        /* a write of its own, then an error that aborts the transaction (a NOT NULL violation) */
        const char *p[3] = {"0", "13", "0"};
        if (crm_db_run(tx, "test_apply", "INSERT INTO applied (seq, mark, instance) VALUES ($1, $2, $3)", 3,
                       p, err))
            return err->code;
        return crm_db_run(tx, "test_fail", "INSERT INTO applied (seq, mark, instance) VALUES (NULL, 13, 0)",
                          0, NULL, err);
    }
    if (item->latest_seq == 5 && atomic_load(&transient_left) > 0) {
        atomic_fetch_sub(&transient_left, 1);
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "try again later");
    }
    char seq[32], mark[32], inst[16];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)env->seq);
    snprintf(mark, sizeof mark, "%llu", (unsigned long long)item->latest_seq);
    snprintf(inst, sizeof inst, "%d", instance);
    const char *p[3] = {seq, mark, inst};
    return crm_db_run(tx, "test_apply", "INSERT INTO applied (seq, mark, instance) VALUES ($1, $2, $3)", 3, p, err);
}

/* A consumer of item.made with handler fn and, when given, buffered writes and reading ahead. */
static crm_inbox_t *consumer_of(int instance, crm_metrics_t *m, crm_event_fn fn, crm_inbox_flush_fn flush,
                                crm_inbox_discard_fn discard, crm_inbox_prepare_fn prepare) {
    crm_err_t err = {0};
    crm_db_params_t cp = params("cons");
    crm_inbox_t *ib = crm_inbox_new(zctx, xpub_ep, &cp, NULL, m, &err);
    cr_assert_not_null(ib, "%s", err.message);
    const char *eps[1] = {rpc_ep};
    cr_assert_eq(crm_inbox_add_producer(ib, "prod", eps, 1, &err), CRM_OK, "%s", err.message);
    crm_inbox_on(ib, "prod", "item.made", &crm__heartbeat__descriptor, fn, (void *)(intptr_t)instance);
    if (flush) crm_inbox_on_flush(ib, flush, discard, NULL);
    if (prepare) crm_inbox_on_prepare(ib, prepare, NULL);
    cr_assert_eq(crm_inbox_start(ib, &err), CRM_OK, "%s", err.message);
    return ib;
}

static crm_inbox_t *consumer(int instance, crm_metrics_t *m) { return consumer_of(instance, m, on_item, NULL, NULL, NULL); }

/* Appends marks [from, to) as item.made, `per_tx` per transaction; every `other_every` items
 * also an event of a type the consumer does not take (0 = never). */
static void produce(uint64_t from, uint64_t to, int per_tx, int other_every) {
    crm_err_t err = {0};
    uint64_t mark = from;
    while (mark < to) {
        cr_assert_eq(crm_db_begin(prod_db, &err), CRM_OK, "%s", err.message);
        for (int i = 0; i < per_tx && mark < to; i++, mark++) {
            Crm__Heartbeat item = CRM__HEARTBEAT__INIT;
            item.has_latest_seq = 1;
            item.latest_seq = mark;
            cr_assert_eq(crm_outbox_append(outbox, prod_db, "item.made", NULL, &item.base, &err), CRM_OK, "%s",
                         err.message);
            if (other_every && mark % (uint64_t)other_every == 0)
                cr_assert_eq(crm_outbox_append(outbox, prod_db, "other.thing", NULL, &item.base, &err), CRM_OK);
        }
        cr_assert_eq(crm_db_commit(prod_db, &err), CRM_OK, "%s", err.message);
        crm_outbox_kick(outbox);
    }
}

static long long q_i64(crm_db_t *db, const char *sql) {
    crm_err_t err = {0};
    PGresult *res = crm_db_exec(db, sql, sql, 0, NULL, &err);
    cr_assert_not_null(res, "%s: %s", sql, err.message);
    long long v = crm_db_i64(res, 0, 0);
    PQclear(res);
    return v;
}

static long long applied_count(void) { return q_i64(cons_db, "SELECT count(*) FROM applied"); }

static long long latest_seq(void) { return q_i64(prod_db, "SELECT last_seq FROM outbox_state"); }

/* Waits until the consumer's stored offset reaches the producer's latest seq and `rows` rows
 * are applied. */
static bool wait_caught_up(long long rows, int timeout_ms) {
    int64_t until = crm_mono_us() + (int64_t)timeout_ms * 1000;
    while (crm_mono_us() < until) {
        long long latest = latest_seq();
        if (latest > 0 && applied_count() >= rows &&
            q_i64(cons_db, "SELECT coalesce(max(last_seq), 0) FROM inbox_offsets WHERE producer = 'prod'") >= latest)
            return true;
        crm_sleep_ms(50);
    }
    return false;
}

/* Each event once (one row per seq and per mark), applied in seq order. */
static void assert_exactly_once_in_order(long long n) {
    cr_assert_eq(applied_count(), n, "applied %lld rows, want %lld", applied_count(), n);
    cr_assert_eq(q_i64(cons_db, "SELECT count(DISTINCT seq) FROM applied"), n, "an event was applied twice");
    cr_assert_eq(q_i64(cons_db, "SELECT count(DISTINCT mark) FROM applied"), n, "an event was applied twice");
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY id) AS prev"
                                " FROM applied) s WHERE seq <= prev"),
                 0, "applied out of seq order");
}

Test(inbox, thousand_events_applied_once_in_order_across_filtered_gaps) {
    crm_metrics_t *m = crm_metrics_new();
    crm_inbox_t *ib = consumer(1, m);
    crm_sleep_ms(300);
    /* 1000 item.made plus 100 other.thing the consumer does not subscribe to: seq gaps that
     * replay with a type filter resolves */
    produce(0, 1000, 10, 10);
    cr_assert(wait_caught_up(1000, 60000), "not caught up: applied %lld, latest %lld", applied_count(),
              latest_seq());
    assert_exactly_once_in_order(1000);
    cr_assert_eq(latest_seq(), 1100);
    cr_assert_eq(crm_inbox_offset(ib, "prod"), 1100);
    cr_assert_eq(crm_metrics_get(m, "crm_events_in_total", "type=\"item.made\",outcome=\"applied\""), 1000.0);
    crm_inbox_destroy(&ib);
    cr_assert_null(ib);
    crm_metrics_destroy(&m);
}

Test(inbox, events_published_while_down_are_replayed_at_start) {
    produce(0, 200, 7, 0);
    crm_sleep_ms(300); /* sequenced and published to nobody */
    crm_inbox_t *ib = consumer(1, NULL);
    cr_assert(wait_caught_up(200, 30000), "applied %lld of 200", applied_count());
    crm_inbox_destroy(&ib);
    produce(200, 300, 5, 0);
    crm_sleep_ms(300);
    ib = consumer(1, NULL); /* a restart resumes from the stored offset */
    cr_assert(wait_caught_up(300, 30000), "applied %lld of 300", applied_count());
    assert_exactly_once_in_order(300);
    crm_inbox_destroy(&ib);
}

Test(inbox, lost_bus_messages_recovered_through_heartbeat) {
    crm_inbox_t *ib = consumer(1, NULL);
    produce(0, 50, 5, 0);
    cr_assert(wait_caught_up(50, 30000), "applied %lld of 50", applied_count());
    proxy_down();
    produce(50, 100, 5, 0); /* published into the void */
    crm_sleep_ms(500);
    cr_assert_eq(applied_count(), 50);
    proxy_up();
    /* no further event: only the heartbeat tells the consumer it is behind */
    cr_assert(wait_caught_up(100, 30000), "applied %lld of 100", applied_count());
    assert_exactly_once_in_order(100);
    crm_inbox_destroy(&ib);
}

Test(inbox, two_instances_apply_each_event_once) {
    crm_inbox_t *a = consumer(1, NULL);
    crm_inbox_t *b = consumer(2, NULL);
    crm_sleep_ms(300);
    produce(0, 1000, 3, 0);
    cr_assert(wait_caught_up(1000, 60000), "applied %lld of 1000", applied_count());
    crm_sleep_ms(300);
    assert_exactly_once_in_order(1000);
    crm_inbox_destroy(&a);
    crm_inbox_destroy(&b);
}

Test(inbox, permanent_error_dead_letters_one_event_transient_retries) {
    atomic_store(&transient_left, 3);
    atomic_store(&poison_on, true);
    crm_inbox_t *ib = consumer(1, NULL);
    crm_sleep_ms(300);
    produce(0, 30, 1, 0);
    cr_assert(wait_caught_up(29, 30000), "applied %lld of 29", applied_count());
    assert_exactly_once_in_order(29);
    cr_assert_eq(atomic_load(&transient_left), 0, "the transient failure was not retried");
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM applied WHERE mark = 5"), 1);
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM applied WHERE mark = 13"), 0);
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM dead_letters"), 1);
    cr_assert_eq(q_i64(cons_db, "SELECT seq FROM dead_letters WHERE producer = 'prod' AND type = 'item.made'"), 14);
    cr_assert_eq(crm_inbox_offset(ib, "prod"), 30);
    crm_inbox_destroy(&ib);
}

/* The poison scenario of the test below, with the consumer start() makes: 40 events in one start-up replay
 * batch, then 60 live in transactions of 20, mark 13 failing each time. */
static void poison_dead_letters_only_itself(crm_inbox_t *(*start)(crm_metrics_t *m))
{
    crm_metrics_t *m = crm_metrics_new();
    produce(0, 40, 40, 0); /* published to nobody: one replay batch at start */
    crm_sleep_ms(300);
    crm_inbox_t *ib = start(m);
    cr_assert(wait_caught_up(39, 30000), "applied %lld of 39", applied_count());
    crm_sleep_ms(200);
    assert_exactly_once_in_order(39);
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM applied WHERE mark = 13"), 0,
                 "the poison's write was kept");
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM dead_letters"), 1);
    cr_assert_eq(
        q_i64(cons_db, "SELECT seq FROM dead_letters WHERE producer = 'prod' AND type = 'item.made'"), 14);
    cr_assert_eq(crm_metrics_get(m, "crm_events_in_total", "type=\"item.made\",outcome=\"applied\""), 39.0);
    cr_assert_eq(crm_metrics_get(m, "crm_events_in_total", "type=\"item.made\",outcome=\"dead\""), 1.0);
    /* live: 60 more in transactions of 20, the poison mark again in the middle of one */
    crm_err_t err = {0};
    cr_assert_eq(crm_db_run(cons_db, "test_clear", "DELETE FROM applied", 0, NULL, &err), CRM_OK, "%s",
                 err.message);
    produce(0, 60, 20, 0);
    cr_assert(wait_caught_up(59, 30000), "applied %lld of 59", applied_count());
    crm_sleep_ms(200);
    assert_exactly_once_in_order(59);
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM applied WHERE mark = 13"), 0,
                 "the poison's write was kept");
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM dead_letters"), 2);
    cr_assert_eq(crm_metrics_get(m, "crm_events_in_total", "type=\"item.made\",outcome=\"applied\""), 98.0);
    cr_assert_eq(crm_inbox_offset(ib, "prod"), 100);
    crm_inbox_destroy(&ib);
    crm_metrics_destroy(&m);
}

static crm_inbox_t *consumer_one(crm_metrics_t *m) { return consumer(1, m); }

/* A batch is applied without a savepoint per event; an event failing in the middle of it (here
 * after a write of its own, and with the transaction aborted by a failed statement) makes the
 * batch be redone with savepoints: only that event is dead-lettered, its write is gone, and every
 * other event of the batch is applied exactly once. Once with all events in one start-up replay
 * batch, once with them arriving live. */
Test(inbox, poison_in_the_middle_of_a_batch_dead_letters_only_itself)
{
    atomic_store(&poison_sql, true);
    poison_dead_letters_only_itself(consumer_one);
    atomic_store(&poison_sql, false);
}

/* The producer pruned events the consumer had not applied yet (its outbox retention ran out
 * while the consumer was down): the replay answers "pruned" with the oldest retained seq, the
 * consumer counts it and goes on from there, and every retained event is applied exactly once. */
Test(inbox, consumer_down_past_retention_goes_on_from_the_oldest_retained)
{
    crm_inbox_t *ib = consumer(1, NULL);
    produce(0, 50, 5, 0);
    cr_assert(wait_caught_up(50, 30000), "applied %lld of 50", applied_count());
    crm_inbox_destroy(&ib);
    produce(50, 150, 4, 3); /* other types interleaved: seqs are not marks */
    crm_sleep_ms(300);
    /* what the relay's retention does (tested in test_outbox): a seq prefix is gone */
    long long cut = q_i64(prod_db, "SELECT seq FROM outbox WHERE type = 'item.made'"
                                   " AND get_byte(payload, 1) = 100 ORDER BY seq LIMIT 1");
    cr_assert_gt(cut, 50);
    char del[128];
    snprintf(del, sizeof del, "DELETE FROM outbox WHERE seq < %lld", cut);
    crm_err_t err = {0};
    cr_assert_eq(crm_db_exec_simple(prod_db, del, &err), CRM_OK, "%s", err.message);

    crm_metrics_t *m = crm_metrics_new();
    ib = consumer(1, m);
    cr_assert(wait_caught_up(100, 30000), "applied %lld of 100", applied_count());
    crm_sleep_ms(300);
    cr_assert_eq(applied_count(), 100, "the 50 before the crash and marks 100..149, nothing else");
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM applied WHERE mark BETWEEN 50 AND 99"), 0);
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM applied WHERE mark BETWEEN 100 AND 149"), 50);
    cr_assert_eq(q_i64(cons_db, "SELECT min(seq) FROM applied WHERE mark >= 100"), cut);
    assert_exactly_once_in_order(100);
    /* offset 50 (marks 0..49 were seqs 1..50): seqs 51 .. cut-1 are gone */
    cr_assert_eq(crm_metrics_get(m, "crm_inbox_replay_pruned_total", "producer=\"prod\""), 1.0);
    cr_assert_eq(crm_metrics_get(m, "crm_inbox_replay_pruned_seqs_total", "producer=\"prod\""),
                 (double)(cut - 51));
    crm_inbox_destroy(&ib);
    crm_metrics_destroy(&m);
}

/* ---- buffered writes (crm_inbox_on_flush): the handler buffers its row, flush writes them ---- */

#define BUF_MAX 4096
static uint64_t buf_seq[BUF_MAX], buf_mark[BUF_MAX];
static size_t buf_n;
static atomic_int flushes_written; /* flush calls that wrote rows (statements) */
static atomic_int flushed_rows;    /* rows written by flush calls, kept or not */
static atomic_int discards;        /* discard calls that dropped rows */
static atomic_int flush_transient_left; /* a flush holding mark 5 fails this many times, after writing */
static atomic_bool flush_poison;        /* a flush holding mark 13 fails permanently, after writing */

static int on_item_buffered(void *arg, crm_db_t *tx, const Crm__Envelope *env, const ProtobufCMessage *payload,
                            crm_err_t *err) {
    (void)arg;
    (void)tx;
    const Crm__Heartbeat *item = (const Crm__Heartbeat *)payload;
    /* a handler failing after earlier events of its batch buffered rows: they must not survive */
    if (item->latest_seq == 5 && atomic_load(&transient_left) > 0) {
        atomic_fetch_sub(&transient_left, 1);
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "try again later");
    }
    cr_assert_lt(buf_n, BUF_MAX);
    buf_seq[buf_n] = env->seq;
    buf_mark[buf_n] = item->latest_seq;
    buf_n++;
    return CRM_OK;
}

static char *i64_array(const uint64_t *v, size_t n) {
    char *s = malloc(n * 22 + 3), *w = s;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) w += sprintf(w, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
    strcpy(w, "}");
    return s;
}

static int flush_items(void *arg, crm_db_t *tx, crm_err_t *err) {
    (void)arg;
    if (buf_n == 0) return CRM_OK;
    bool has5 = false, has13 = false;
    for (size_t i = 0; i < buf_n; i++) {
        has5 |= buf_mark[i] == 5;
        has13 |= buf_mark[i] == POISON;
    }
    char *seqs = i64_array(buf_seq, buf_n), *marks = i64_array(buf_mark, buf_n);
    const char *p[2] = {seqs, marks};
    int rc = crm_db_run(tx, "test_flush",
                        "INSERT INTO applied (seq, mark, instance) SELECT s, m, 1 FROM unnest($1::bigint[], "
                        "$2::bigint[]) WITH ORDINALITY AS u (s, m, o) ORDER BY o",
                        2, p, err);
    free(seqs);
    free(marks);
    atomic_fetch_add(&flushes_written, 1);
    atomic_fetch_add(&flushed_rows, (int)buf_n);
    buf_n = 0; /* emptied, whatever follows */
    if (rc != CRM_OK) return rc;
    if (has5 && atomic_load(&flush_transient_left) > 0) {
        atomic_fetch_sub(&flush_transient_left, 1);
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "flush: try again later");
    }
    if (has13 && atomic_load(&flush_poison)) /* aborts the transaction (a NOT NULL violation) */
        return crm_db_run(tx, "test_fail", "INSERT INTO applied (seq, mark, instance) VALUES (NULL, 13, 0)", 0,
                          NULL, err);
    return CRM_OK;
}

static void discard_items(void *arg) {
    (void)arg;
    if (buf_n) atomic_fetch_add(&discards, 1);
    buf_n = 0;
}

static crm_inbox_t *buffered_consumer(crm_metrics_t *m) {
    buf_n = 0;
    return consumer_of(1, m, on_item_buffered, flush_items, discard_items, NULL);
}

/* Rows buffered by the handlers are written by one statement per batch, committed with the
 * offset: exactly once and in seq order, far fewer statements than events. */
Test(inbox, buffered_rows_written_once_per_batch_with_the_offset) {
    produce(0, 400, 100, 10); /* published to nobody: start-up replay batches */
    crm_sleep_ms(300);
    crm_inbox_t *ib = buffered_consumer(NULL);
    cr_assert(wait_caught_up(400, 30000), "applied %lld of 400", applied_count());
    produce(400, 600, 50, 0); /* live, in batches too */
    cr_assert(wait_caught_up(600, 30000), "applied %lld of 600", applied_count());
    crm_sleep_ms(200);
    assert_exactly_once_in_order(600);
    cr_assert_eq(atomic_load(&flushed_rows), 600, "every row flushed once: %d", atomic_load(&flushed_rows));
    cr_assert_eq(atomic_load(&discards), 0);
    cr_assert_lt(atomic_load(&flushes_written), 60, "%d statements for 600 events: not batched",
                 atomic_load(&flushes_written));
    cr_assert_eq(crm_inbox_offset(ib, "prod"), 640);
    crm_inbox_destroy(&ib);
}

/* A transient failure — of a handler after earlier events of the batch buffered rows, and of the
 * flush after its statement wrote them — rolls the batch back with its buffer: after the retry
 * each row is there once. */
Test(inbox, buffered_rows_of_a_rolled_back_batch_are_dropped_and_reapplied_once) {
    atomic_store(&transient_left, 2);
    atomic_store(&flush_transient_left, 2);
    produce(0, 30, 30, 0); /* one transaction: marks 0..4 are buffered before mark 5 fails */
    crm_sleep_ms(300);
    crm_inbox_t *ib = buffered_consumer(NULL);
    cr_assert(wait_caught_up(30, 30000), "applied %lld of 30", applied_count());
    crm_sleep_ms(200);
    assert_exactly_once_in_order(30);
    cr_assert_eq(atomic_load(&transient_left), 0, "the handler's transient failure was not retried");
    cr_assert_eq(atomic_load(&flush_transient_left), 0, "the flush's transient failure was not retried");
    cr_assert_geq(atomic_load(&discards), 2, "the buffer of a failed handler's batch was not discarded");
    cr_assert_eq(atomic_load(&flushed_rows), 90, "30 rows twice rolled back, then once: %d",
                 atomic_load(&flushed_rows));
    cr_assert_eq(crm_inbox_offset(ib, "prod"), 30);
    crm_inbox_destroy(&ib);
}

/* The flush of a batch fails permanently because of one event's row: the batch is redone event by
 * event with each event's rows flushed in its savepoint, so that event alone is dead-lettered and
 * every other row is written once. Once in a start-up replay batch, once live. */
Test(inbox, buffered_row_failing_dead_letters_only_its_event) {
    atomic_store(&flush_poison, true);
    poison_dead_letters_only_itself(buffered_consumer);
    atomic_store(&flush_poison, false);
}

/* ---- reading ahead (crm_inbox_on_prepare) ---- */

static atomic_int prepared;          /* events handed to prepare */
static atomic_int prepare_fail_left; /* prepare fails permanently (with the transaction aborted) */

static int prepare_items(void *arg, crm_db_t *tx, const Crm__Envelope *const *events, size_t n, crm_err_t *err) {
    (void)arg;
    for (size_t i = 0; i < n; i++) cr_assert_str_eq(events[i]->type, "item.made", "only events with a handler");
    atomic_fetch_add(&prepared, (int)n);
    if (atomic_load(&prepare_fail_left) > 0) {
        atomic_fetch_sub(&prepare_fail_left, 1);
        return crm_db_run(tx, "test_fail", "INSERT INTO applied (seq, mark, instance) VALUES (NULL, 13, 0)", 0, NULL,
                          err);
    }
    return CRM_OK;
}

/* prepare sees the events of each batch before they are applied (replayed and live); when it fails
 * (here: with the transaction aborted) the batch is redone event by event without it, and every
 * event is still applied exactly once, none dead-lettered. */
Test(inbox, prepare_reads_ahead_and_its_failure_redoes_the_batch) {
    atomic_store(&prepare_fail_left, 1);
    produce(0, 40, 40, 5); /* other types interleaved: not handed to prepare */
    crm_sleep_ms(300);
    buf_n = 0;
    crm_inbox_t *ib = consumer_of(1, NULL, on_item_buffered, flush_items, discard_items, prepare_items);
    cr_assert(wait_caught_up(40, 30000), "applied %lld of 40", applied_count());
    cr_assert_eq(atomic_load(&prepare_fail_left), 0, "prepare was not called");
    int before = atomic_load(&prepared);
    cr_assert_geq(before, 40);
    produce(40, 100, 20, 0);
    cr_assert(wait_caught_up(100, 30000), "applied %lld of 100", applied_count());
    crm_sleep_ms(200);
    assert_exactly_once_in_order(100);
    cr_assert_geq(atomic_load(&prepared) - before, 60, "live events not read ahead: %d", atomic_load(&prepared) - before);
    cr_assert_eq(q_i64(cons_db, "SELECT count(*) FROM dead_letters"), 0);
    crm_inbox_destroy(&ib);
}

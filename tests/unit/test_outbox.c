/* Unit tests of outbox.c with a real Postgres (pgtest) and real ZeroMQ: concurrent appends get
 * a gap-free seq, rolled-back appends none, two relays never share a seq, the relay publishes
 * in seq order with heartbeats, stop flushes, and events.replay honours range, types, limit. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "crm/db.h"
#include "crm/log.h"
#include "crm/metrics.h"
#include "crm/outbox.h"
#include "crm/rpc.h"
#include "crm/util.h"
#include "envelope.pb-c.h"
#include "pgtest.h"
#include "rpc.pb-c.h"

static pgtest_t *pg;
static void *zctx;
static char pub_ep[64];

static void setup(void) {
    if (getenv("DEBUG_OUTBOX")) crm_log_init("test", CRM_LOG_DEBUG);
    pg = pgtest_start();
    cr_assert_not_null(pg, "pgtest_start");
    zctx = zmq_ctx_new();
    /* nothing needs to listen: a PUB connects in the background */
    snprintf(pub_ep, sizeof pub_ep, "tcp://127.0.0.1:%d", pgtest_free_port());
    crm_db_t *db = NULL;
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "prod"};
    crm_err_t err = {0};
    db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "%s", err.message);
    cr_assert_eq(crm_db_migrate(db, "prod", NULL, 0, &err), CRM_OK, "%s", err.message);
    crm_db_destroy(&db);
}

static void teardown(void) {
    /* the context is left to process exit: a failed test may leave sockets open */
    pgtest_destroy(&pg);
}

TestSuite(outbox, .init = setup, .fini = teardown, .timeout = 180);

static crm_db_params_t params(void) {
    return (crm_db_params_t){.conninfo = pgtest_url(pg), .schema = "prod", .retry_seconds = 5};
}

static crm_db_t *connect_prod(void) {
    crm_db_params_t p = params();
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "%s", err.message);
    return db;
}

static long long q_i64(crm_db_t *db, const char *sql) {
    crm_err_t err = {0};
    PGresult *res = crm_db_exec(db, sql, sql, 0, NULL, &err); /* the SQL is its own statement name */
    cr_assert_not_null(res, "%s: %s", sql, err.message);
    long long v = crm_db_i64(res, 0, 0);
    PQclear(res);
    return v;
}

/* A payload message: a Heartbeat is a handy small protobuf. */
static int append_one(crm_outbox_t *ob, crm_db_t *tx, const char *type, uint64_t mark, crm_err_t *err) {
    Crm__Heartbeat hb = CRM__HEARTBEAT__INIT;
    hb.producer = "payload";
    hb.has_latest_seq = 1;
    hb.latest_seq = mark;
    return crm_outbox_append(ob, tx, type, "corr-1", &hb.base, err);
}

static bool wait_last_seq(crm_db_t *db, long long want, int timeout_ms) {
    int64_t until = crm_mono_us() + (int64_t)timeout_ms * 1000;
    while (crm_mono_us() < until) {
        if (q_i64(db, "SELECT last_seq FROM outbox_state") >= want) return true;
        crm_sleep_ms(20);
    }
    return false;
}

typedef struct {
    crm_outbox_t *ob;
    int n;
    int rc;
    char msg[512];
} writer_t;

static void *writer_run(void *arg) {
    writer_t *w = arg;
    crm_db_params_t p = params();
    crm_err_t err = {0};
    crm_db_t *db = crm_db_connect(&p, &err);
    if (!db) {
        w->rc = err.code;
        snprintf(w->msg, sizeof w->msg, "%s", err.message);
        return NULL;
    }
    for (int i = 0; i < w->n && w->rc == CRM_OK; i++) {
        if ((w->rc = crm_db_begin(db, &err)) != CRM_OK) break;
        if ((w->rc = append_one(w->ob, db, "thing.made", (uint64_t)i, &err)) != CRM_OK) break;
        w->rc = crm_db_commit(db, &err);
        crm_outbox_kick(w->ob);
    }
    if (w->rc != CRM_OK) snprintf(w->msg, sizeof w->msg, "%s", err.message);
    crm_db_destroy(&db);
    return NULL;
}

static void run_writers(crm_outbox_t *ob, int nthreads, int each) {
    pthread_t th[8];
    writer_t w[8];
    memset(w, 0, sizeof w);
    for (int i = 0; i < nthreads; i++) {
        w[i].ob = ob;
        w[i].n = each;
        pthread_create(&th[i], NULL, writer_run, &w[i]);
    }
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < nthreads; i++) cr_assert_eq(w[i].rc, CRM_OK, "writer %d: %s", i, w[i].msg);
}

static void assert_gap_free(crm_db_t *db, long long n) {
    cr_assert_eq(q_i64(db, "SELECT count(*) FROM outbox"), n);
    cr_assert_eq(q_i64(db, "SELECT count(seq) FROM outbox"), n, "every row has a seq");
    cr_assert_eq(q_i64(db, "SELECT count(DISTINCT seq) FROM outbox"), n, "no duplicate seq");
    cr_assert_eq(q_i64(db, "SELECT min(seq) FROM outbox"), 1);
    cr_assert_eq(q_i64(db, "SELECT max(seq) FROM outbox"), n, "no gap");
    cr_assert_eq(q_i64(db, "SELECT last_seq FROM outbox_state"), n);
}

Test(outbox, concurrent_appends_get_gap_free_seq_and_rollback_gets_none) {
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_metrics_t *m = crm_metrics_new();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, m, &err);
    cr_assert_not_null(ob, "%s", err.message);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);

    crm_db_t *db = connect_prod();
    /* an append whose transaction rolls back never becomes an event */
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    cr_assert_eq(append_one(ob, db, "thing.undone", 0, &err), CRM_OK, "%s", err.message);
    crm_db_rollback(db);

    run_writers(ob, 4, 250);
    cr_assert(wait_last_seq(db, 1000, 20000), "relay did not sequence 1000 rows");
    crm_sleep_ms(200);
    assert_gap_free(db, 1000);
    cr_assert_eq(q_i64(db, "SELECT count(*) FROM outbox WHERE type = 'thing.undone'"), 0);
    cr_assert_eq(crm_outbox_backlog(ob), 0);
    /* every event went out (publishing without a listener still counts as sent) */
    crm_sleep_ms(1200);
    cr_assert_eq(crm_metrics_get(m, "crm_events_out_total", "type=\"thing.made\""), 1000.0);
    crm_outbox_destroy(&ob);
    cr_assert_null(ob);
    crm_metrics_destroy(&m);
    crm_db_destroy(&db);
}

Test(outbox, two_relays_never_share_a_seq) {
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_outbox_t *a = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    crm_outbox_t *b = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    cr_assert_eq(crm_outbox_start(a, &err), CRM_OK, "%s", err.message);
    cr_assert_eq(crm_outbox_start(b, &err), CRM_OK, "%s", err.message);
    pthread_t th[2];
    writer_t w[2];
    memset(w, 0, sizeof w);
    w[0] = (writer_t){.ob = a, .n = 300};
    w[1] = (writer_t){.ob = b, .n = 300};
    pthread_create(&th[0], NULL, writer_run, &w[0]);
    pthread_create(&th[1], NULL, writer_run, &w[1]);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    cr_assert_eq(w[0].rc, CRM_OK, "%s", w[0].msg);
    cr_assert_eq(w[1].rc, CRM_OK, "%s", w[1].msg);
    crm_db_t *db = connect_prod();
    cr_assert(wait_last_seq(db, 600, 20000));
    crm_sleep_ms(200);
    assert_gap_free(db, 600);
    crm_outbox_destroy(&a);
    crm_outbox_destroy(&b);
    crm_db_destroy(&db);
}

Test(outbox, stop_sequences_what_is_committed) {
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);
    crm_db_t *db = connect_prod();
    cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
    for (int i = 0; i < 2500; i++) cr_assert_eq(append_one(ob, db, "bulk", (uint64_t)i, &err), CRM_OK);
    cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
    crm_outbox_stop(ob); /* no kick: stop alone must flush */
    assert_gap_free(db, 2500);
    crm_outbox_destroy(&ob);
    crm_db_destroy(&db);
}

/* A row whose transaction commits after rows with higher ids were sequenced: the relay's steps
 * look above the last id sequenced, so this one is found by the once-a-second scan from the
 * start — late by at most about a second, never lost, and it takes the next seq (no gap). */
Test(outbox, a_row_committed_after_higher_ids_is_still_sequenced) {
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);
    crm_db_t *slow = connect_prod(), *fast = connect_prod();
    cr_assert_eq(crm_db_begin(slow, &err), CRM_OK);
    cr_assert_eq(append_one(ob, slow, "late", 1, &err), CRM_OK, "%s", err.message); /* the lower id */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(crm_db_begin(fast, &err), CRM_OK);
        cr_assert_eq(append_one(ob, fast, "early", (uint64_t)i, &err), CRM_OK, "%s", err.message);
        cr_assert_eq(crm_db_commit(fast, &err), CRM_OK);
        crm_outbox_kick(ob);
    }
    cr_assert(wait_last_seq(fast, 3, 5000), "the three committed rows are sequenced");
    crm_sleep_ms(1200); /* past a from-the-start scan: the lower id is not visible yet */
    cr_assert_eq(q_i64(fast, "SELECT last_seq FROM outbox_state"), 3);
    cr_assert_eq(crm_db_commit(slow, &err), CRM_OK);
    crm_outbox_kick(ob); /* a normal step does not look below the last id; the next full scan does */
    cr_assert(wait_last_seq(fast, 4, 5000), "the late row is sequenced within a few seconds");
    cr_assert_eq(q_i64(fast, "SELECT seq FROM outbox WHERE type = 'late'"), 4, "and takes the next seq");
    assert_gap_free(fast, 4);
    crm_outbox_destroy(&ob);
    crm_db_destroy(&slow);
    crm_db_destroy(&fast);
}

/* The relay polls only about once a second when idle: the commit of a transaction that appended
 * wakes it (no crm_outbox_kick by the caller), so each row is sequenced well before the next poll.
 * Five rows at different points of the idle second, each sequenced within 400 ms: without the
 * wake each would wait up to a second (all five that quick by chance: about 1%). Rolled-back appends wake nothing and are never sequenced. */
Test(outbox, the_commit_of_an_append_wakes_the_idle_relay) {
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);
    crm_db_t *db = connect_prod();
    crm_sleep_ms(300);
    for (int i = 0; i < 5; i++) {
        crm_sleep_ms(150 + 170 * i);
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(append_one(ob, db, "undone", (uint64_t)i, &err), CRM_OK, "%s", err.message);
        crm_db_rollback(db);
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(append_one(ob, db, "woke", (uint64_t)i, &err), CRM_OK, "%s", err.message);
        int64_t t0 = crm_mono_us();
        cr_assert_eq(crm_db_commit(db, &err), CRM_OK, "%s", err.message);
        cr_assert(wait_last_seq(db, i + 1, 5000), "row %d sequenced", i);
        int64_t ms = (crm_mono_us() - t0) / 1000;
        cr_assert_lt(ms, 400, "row %d sequenced %lld ms after its commit (the idle poll is 1 s)", i, (long long)ms);
    }
    assert_gap_free(db, 5);
    crm_outbox_destroy(&ob);
    crm_db_destroy(&db);
}

static bool recv_bus(void *sub, char *topic, size_t tsize, uint8_t *body, size_t *blen, int timeout_ms) {
    zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) return false;
    int n = zmq_recv(sub, topic, tsize - 1, 0);
    if (n < 0) return false;
    topic[n < (int)tsize - 1 ? n : (int)tsize - 1] = 0;
    int more = 0;
    size_t ms = sizeof more;
    zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ms);
    if (!more) return false;
    n = zmq_recv(sub, body, 65536, 0);
    if (n < 0) return false;
    *blen = (size_t)n;
    return true;
}

Test(outbox, relay_publishes_in_seq_order_with_heartbeat) {
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    cr_assert_eq(zmq_bind(sub, pub_ep), 0);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);
    /* PUB/SUB joins late (slow joiner): wait for a first heartbeat, proof the path is up */
    static uint8_t body[65536];
    bool joined = false;
    for (int64_t until = crm_mono_us() + 5000000; !joined && crm_mono_us() < until;) {
        char topic[128];
        size_t len = 0;
        joined = recv_bus(sub, topic, sizeof topic, body, &len, 200) && strcmp(topic, "heartbeat") == 0;
    }
    cr_assert(joined, "no heartbeat within 5 s");
    crm_db_t *db = connect_prod();
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(append_one(ob, db, i % 2 ? "odd.one" : "even.one", (uint64_t)i, &err), CRM_OK);
        cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
        crm_outbox_kick(ob);
    }
    uint64_t next = 1, hb_latest = 0;
    int64_t until = crm_mono_us() + 10000000;
    while ((next <= 100 || hb_latest < 100) && crm_mono_us() < until) {
        char topic[128];
        size_t len = 0;
        if (!recv_bus(sub, topic, sizeof topic, body, &len, 200)) continue;
        if (strcmp(topic, "heartbeat") == 0) {
            Crm__Heartbeat *hb = crm__heartbeat__unpack(NULL, len, body);
            cr_assert_not_null(hb);
            cr_assert_str_eq(hb->producer, "prod");
            if (hb->latest_seq > hb_latest) hb_latest = hb->latest_seq;
            crm__heartbeat__free_unpacked(hb, NULL);
            continue;
        }
        Crm__Envelope *env = crm__envelope__unpack(NULL, len, body);
        cr_assert_not_null(env);
        cr_assert_eq(env->seq, next, "published out of order: got %llu want %llu", (unsigned long long)env->seq,
                     (unsigned long long)next);
        cr_assert_str_eq(topic, env->type);
        cr_assert_str_eq(env->producer, "prod");
        cr_assert_str_eq(env->type, (next - 1) % 2 ? "odd.one" : "even.one");
        cr_assert_str_eq(env->correlation_id, "corr-1");
        cr_assert_eq(strlen(env->event_id), 36);
        Crm__Heartbeat *pl = crm__heartbeat__unpack(NULL, env->payload.len, env->payload.data);
        cr_assert_not_null(pl);
        cr_assert_eq(pl->latest_seq, next - 1, "payload travels intact");
        crm__heartbeat__free_unpacked(pl, NULL);
        crm__envelope__free_unpacked(env, NULL);
        next++;
    }
    cr_assert_eq(next, 101, "received up to seq %llu", (unsigned long long)next - 1);
    cr_assert_eq(hb_latest, 100);
    crm_outbox_destroy(&ob);
    crm_db_destroy(&db);
    zmq_close(sub);
}

/* ---- events.replay ---- */

/* events.replay of ob served on a fresh port, and a client of it. */
typedef struct {
    crm_db_pool_t *pool;
    crm_rpc_server_t *srv;
    crm_rpc_client_t *cl;
} replay_server_t;

static replay_server_t replay_server_start(crm_outbox_t *ob)
{
    crm_err_t err = {0};
    crm_db_params_t p = params();
    replay_server_t rs = {0};
    rs.pool = crm_db_pool_new(&p, 2, &err);
    cr_assert_not_null(rs.pool, "%s", err.message);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", pgtest_free_port());
    rs.srv = crm_rpc_server_new(zctx, ep, 2, rs.pool, NULL, &err);
    cr_assert_not_null(rs.srv, "%s", err.message);
    crm_outbox_serve_replay(ob, rs.srv);
    cr_assert_eq(crm_rpc_server_start(rs.srv, &err), CRM_OK, "%s", err.message);
    const char *eps[1] = {ep};
    rs.cl = crm_rpc_client_new(zctx, eps, 1, &err);
    cr_assert_not_null(rs.cl, "%s", err.message);
    return rs;
}

static void replay_server_stop(replay_server_t *rs)
{
    crm_rpc_client_destroy(&rs->cl);
    crm_rpc_server_stop(rs->srv);
    crm_rpc_server_destroy(&rs->srv);
    crm_db_pool_destroy(&rs->pool);
}

static Crm__ReplayReply *replay(crm_rpc_client_t *cl, uint64_t from, uint64_t to, const char *type, uint32_t limit) {
    Crm__ReplayRequest req = CRM__REPLAY_REQUEST__INIT;
    req.has_from_seq = 1;
    req.from_seq = from;
    req.has_to_seq = 1;
    req.to_seq = to;
    char *types[1] = {(char *)type};
    if (type) {
        req.n_types = 1;
        req.types = types;
    }
    if (limit) {
        req.has_limit = 1;
        req.limit = limit;
    }
    ProtobufCMessage *out = NULL;
    crm_err_t err = {0};
    int rc = crm_rpc_call(cl, "events.replay", NULL, &req.base, &crm__replay_reply__descriptor, 5000, &out, &err);
    cr_assert_eq(rc, CRM_OK, "replay: %s", err.message);
    cr_assert_not_null(out);
    return (Crm__ReplayReply *)out;
}

static void assert_seqs(const Crm__ReplayReply *r, uint64_t through, const uint64_t *seqs, size_t n) {
    cr_assert_eq(r->n_events, n, "got %zu events, want %zu", r->n_events, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(r->events[i]->seq, seqs[i]);
    cr_assert_eq(r->through_seq, through, "through %llu want %llu", (unsigned long long)r->through_seq,
                 (unsigned long long)through);
    cr_assert_eq(r->latest_seq, 10);
}

Test(outbox, replay_range_types_limit_and_through) {
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);
    crm_db_t *db = connect_prod();
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(append_one(ob, db, i % 2 ? "type.b" : "type.a", (uint64_t)i + 1, &err), CRM_OK);
        cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
    }
    /* one more, never committed: invisible to replay */
    crm_db_t *open_tx = connect_prod();
    cr_assert_eq(crm_db_begin(open_tx, &err), CRM_OK);
    cr_assert_eq(append_one(ob, open_tx, "type.a", 99, &err), CRM_OK);
    crm_outbox_kick(ob);
    cr_assert(wait_last_seq(db, 10, 10000));

    replay_server_t rs = replay_server_start(ob);
    crm_rpc_client_t *cl = rs.cl;

    Crm__ReplayReply *r = replay(cl, 1, 0, NULL, 0);
    uint64_t all[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_seqs(r, 10, all, 10);
    for (size_t i = 0; i < r->n_events; i++) {
        const Crm__Envelope *e = r->events[i];
        cr_assert_str_eq(e->producer, "prod");
        cr_assert_str_eq(e->type, i % 2 ? "type.b" : "type.a");
        cr_assert_gt(e->occurred_at, 0);
        Crm__Heartbeat *pl = crm__heartbeat__unpack(NULL, e->payload.len, e->payload.data);
        cr_assert_not_null(pl);
        cr_assert_eq(pl->latest_seq, e->seq);
        crm__heartbeat__free_unpacked(pl, NULL);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);

    r = replay(cl, 1, 0, "type.a", 0);
    uint64_t odd[5] = {1, 3, 5, 7, 9};
    assert_seqs(r, 10, odd, 5);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    r = replay(cl, 3, 6, "type.a", 0);
    uint64_t mid[2] = {3, 5};
    assert_seqs(r, 6, mid, 2);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    r = replay(cl, 2, 0, "type.b", 4); /* scans 2..5 only */
    uint64_t lim[2] = {2, 4};
    assert_seqs(r, 5, lim, 2);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    r = replay(cl, 1, 0, "type.none", 0);
    assert_seqs(r, 10, NULL, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    r = replay(cl, 11, 0, NULL, 0); /* nothing after the latest */
    cr_assert_eq(r->n_events, 0);
    cr_assert_eq(r->latest_seq, 10);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    crm_db_rollback(open_tx);
    replay_server_stop(&rs);
    crm_outbox_destroy(&ob);
    crm_db_destroy(&open_tx);
    crm_db_destroy(&db);
}

static bool wait_value(crm_db_t *db, const char *sql, long long want, int timeout_ms)
{
    int64_t until = crm_mono_us() + (int64_t)timeout_ms * 1000;
    while (crm_mono_us() < until) {
        if (q_i64(db, sql) == want)
            return true;
        crm_sleep_ms(20);
    }
    return false;
}

/* Retention: published rows past it go, in seq order; rows not published yet (no seq: here the
 * relay cannot take its lock, as when another instance holds it) stay however old, and so does
 * the newest row. A replay below the oldest retained seq gets the "pruned" error naming it. */
Test(outbox, retention_prunes_published_rows_only_and_replay_names_the_oldest)
{
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_metrics_t *m = crm_metrics_new();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, m, &err);
    crm_outbox_set_retention(ob, 2, 50);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);
    crm_db_t *db = connect_prod();
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(append_one(ob, db, "thing.made", (uint64_t)i + 1, &err), CRM_OK);
        cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
    }
    crm_outbox_kick(ob);
    cr_assert(wait_last_seq(db, 10, 10000));
    cr_assert_eq(q_i64(db, "SELECT count(*) FROM outbox"), 10, "nothing is pruned before the retention");

    /* hold the relay's lock: rows appended now stay unsequenced (unpublished) */
    crm_db_t *lock = connect_prod();
    cr_assert_eq(crm_db_exec_simple(lock, "SELECT pg_advisory_lock(hashtext('crm.outbox.prod'))", &err),
                 CRM_OK, "%s", err.message);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(append_one(ob, db, "thing.made", 100 + (uint64_t)i, &err), CRM_OK);
        cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
    }
    cr_assert_eq(crm_db_exec_simple(
                     db, "UPDATE outbox SET occurred_at = now() - interval '1 hour' WHERE seq IS NULL", &err),
                 CRM_OK, "%s", err.message);
    /* the ten published rows pass the 2 s retention: all but the newest go */
    cr_assert(wait_value(db, "SELECT count(*) FROM outbox WHERE seq IS NOT NULL", 1, 10000), "left %lld",
              q_i64(db, "SELECT count(*) FROM outbox WHERE seq IS NOT NULL"));
    cr_assert_eq(q_i64(db, "SELECT min(seq) FROM outbox"), 10, "the newest row stays");
    crm_sleep_ms(300); /* a few more passes */
    cr_assert_eq(q_i64(db, "SELECT count(*) FROM outbox WHERE seq IS NULL"), 2,
                 "unpublished rows are never pruned");
    cr_assert_eq(q_i64(db, "SELECT count(*) FROM outbox"), 3);
    cr_assert_eq(crm_metrics_get(m, "crm_outbox_pruned_total", "producer=\"prod\""), 9.0);
    cr_assert_eq(crm_metrics_get(m, "crm_outbox_oldest_seq", "producer=\"prod\""), 10.0);

    /* events.replay below the oldest retained seq */
    replay_server_t rs = replay_server_start(ob);
    crm_rpc_client_t *cl = rs.cl;
    Crm__ReplayRequest req = CRM__REPLAY_REQUEST__INIT;
    req.has_from_seq = 1;
    req.from_seq = 3;
    ProtobufCMessage *out = NULL;
    crm_err_t rerr = {0};
    int rc =
        crm_rpc_call(cl, "events.replay", NULL, &req.base, &crm__replay_reply__descriptor, 5000, &out, &rerr);
    cr_assert_eq(rc, CRM_ECONFLICT, "replay from a pruned seq: %d %s", rc, rerr.message);
    cr_assert_null(out);
    cr_assert_str_eq(rerr.field, "/from_seq");
    cr_assert(strstr(rerr.message, "oldest retained seq is 10"), "%s", rerr.message);
    uint64_t oldest = 0;
    cr_assert(crm_outbox_replay_pruned(&rerr, &oldest));
    cr_assert_eq(oldest, 10);
    Crm__ReplayReply *r = replay(cl, 10, 0, NULL, 0); /* from the oldest: fine */
    cr_assert_eq(r->n_events, 1);
    cr_assert_eq(r->events[0]->seq, 10);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = replay(cl, 11, 0, NULL, 0); /* past the latest: nothing, no error */
    cr_assert_eq(r->n_events, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* the lock released: the old unpublished rows are published, then pruned but the newest */
    cr_assert_eq(crm_db_exec_simple(lock, "SELECT pg_advisory_unlock(hashtext('crm.outbox.prod'))", &err),
                 CRM_OK);
    crm_outbox_kick(ob);
    cr_assert(wait_last_seq(db, 12, 10000));
    cr_assert(wait_value(db, "SELECT count(*) FROM outbox", 1, 10000), "left %lld",
              q_i64(db, "SELECT count(*) FROM outbox"));
    cr_assert_eq(q_i64(db, "SELECT min(seq) FROM outbox"), 12);

    replay_server_stop(&rs);
    crm_outbox_destroy(&ob);
    crm_db_destroy(&lock);
    crm_db_destroy(&db);
    crm_metrics_destroy(&m);
}

Test(outbox, retention_zero_keeps_every_row)
{
    crm_err_t err = {0};
    crm_db_params_t p = params();
    crm_outbox_t *ob = crm_outbox_new("prod", zctx, pub_ep, &p, NULL, &err);
    crm_outbox_set_retention(ob, 0, 20);
    cr_assert_eq(crm_outbox_start(ob, &err), CRM_OK, "%s", err.message);
    crm_db_t *db = connect_prod();
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(crm_db_begin(db, &err), CRM_OK);
        cr_assert_eq(append_one(ob, db, "thing.made", (uint64_t)i, &err), CRM_OK);
        cr_assert_eq(crm_db_commit(db, &err), CRM_OK);
    }
    crm_outbox_kick(ob);
    cr_assert(wait_last_seq(db, 5, 10000));
    cr_assert_eq(crm_db_exec_simple(db, "UPDATE outbox SET occurred_at = now() - interval '1 year'", &err),
                 CRM_OK);
    crm_sleep_ms(500);
    cr_assert_eq(q_i64(db, "SELECT count(*) FROM outbox"), 5);
    crm_outbox_destroy(&ob);
    crm_db_destroy(&db);
}

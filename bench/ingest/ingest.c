/* bench-ingest: N form posts at concurrency C against a running stack; prints accepted/s, the
 * accept latency p50/p99, and the end-to-end rate until every lead is assigned and notified
 * (read from the database with the owner login). Run by hand through bench/ingest/run.sh.
 * Signed mode (SOURCE and SECRET given): posts go to /webhooks/forms/SOURCE, each with a fresh
 * Stripe-Signature (t=<now>,v1=hex HMAC-SHA256(secret, t "." body)) that the gateway verifies.
 * Ceiling mode (DATABASE_URL "-"): any 2xx counts as accepted and nothing is waited for — used
 * against nginx answering 204 on the same machine, the ceiling of the HTTP path.
 * BENCH_RATE=R in the environment paces the posts at R per second in all (post i starts at
 * t0 + i/R), for latency at a given load rather than at saturation. */
#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/util.h"

typedef struct {
    const char *url;
    long total;
    atomic_long next;
    atomic_long accepted;
    atomic_long failed;
    double *latency_ms; /* one slot per post */
    char run_id[16];
    const char *secret; /* signed mode: the source's secret, else NULL */
    bool ceiling;       /* any 2xx is accepted (nginx), no database */
    double rate;        /* posts per second in all, 0 = as fast as possible */
    int64_t t0_us;
} bench_t;

/* "Stripe-Signature: t=<now>,v1=<hex>" for body. */
static void sign(const char *secret, const char *body, char *out, size_t outlen)
{
    char t[24];
    snprintf(t, sizeof t, "%lld.", (long long)time(NULL));
    size_t tl = strlen(t), bl = strlen(body);
    unsigned char *data = malloc(tl + bl);
    memcpy(data, t, tl);
    memcpy(data + tl, body, bl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), data, tl + bl, mac, &n);
    free(data);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    crm_hex_encode(mac, n, hex);
    t[tl - 1] = '\0';
    snprintf(out, outlen, "Stripe-Signature: t=%s,v1=%s", t, hex);
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static void *poster(void *arg)
{
    bench_t *b = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(c, CURLOPT_URL, b->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    char body[256];
    for (long i; (i = atomic_fetch_add(&b->next, 1)) < b->total;) {
        snprintf(body, sizeof body,
                 "first_name=Bench&last_name=Lead%ld&email=bench-%s-%ld%%40example.com&company=Acme", i,
                 b->run_id, i);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        struct curl_slist *hs = NULL;
        if (b->rate > 0) {
            int64_t due = b->t0_us + (int64_t)((double)i * 1e6 / b->rate), now = crm_mono_us();
            if (due > now)
                crm_sleep_ms((int)((due - now + 999) / 1000));
        }
        int64_t t0 = crm_mono_us();
        if (b->secret) { /* the signature is part of the sender's work: inside the timing */
            char sig[256];
            sign(b->secret, body, sig, sizeof sig);
            hs = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded"),
                                   sig);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
        }
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        b->latency_ms[i] = (double)(crm_mono_us() - t0) / 1000.0;
        if (hs) {
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
            curl_slist_free_all(hs);
        }
        if (rc == CURLE_OK && (status == 202 || (b->ceiling && status >= 200 && status < 300)))
            atomic_fetch_add(&b->accepted, 1);
        else
            atomic_fetch_add(&b->failed, 1);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The polls read only rows made after the start (id > floor, a primary key range): a scan of
 * the whole leads table every 100 ms cost the cluster a core and, holding old snapshots, kept
 * Postgres from pruning the pool row crm-assign updates per pick — the bench slowed what it
 * measured. */
static long count(PGconn *pg, const char *sql, const char *run_like, const char *floor)
{
    const char *p[] = {run_like, floor};
    PGresult *r = PQexecParams(pg, sql, 2, NULL, p, NULL, NULL, 0);
    long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    if (n < 0)
        fprintf(stderr, "bench-ingest: %s", PQerrorMessage(pg));
    PQclear(r);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(
            stderr,
            "usage: bench-ingest BASE_URL DATABASE_URL|- N CONCURRENCY [SOURCE SECRET]\n"
            "  DATABASE_URL '-': ceiling mode (any 2xx accepted, nothing waited for); BENCH_RATE=R paces\n"
            "  the posts at R/s\n"
            "  e.g. bench-ingest http://127.0.0.1:8080 postgresql://postgres@127.0.0.1:5433/crm 10000 16\n");
        return 2;
    }
    char url[512];
    bench_t b = {.url = url, .total = atol(argv[3])};
    if (argc >= 7) {
        snprintf(url, sizeof url, "%s/webhooks/forms/%s", argv[1], argv[5]);
        b.secret = argv[6];
    } else {
        snprintf(url, sizeof url, "%s/webhooks/forms/website", argv[1]);
    }
    int conc = atoi(argv[4]);
    if (b.total <= 0 || conc <= 0 || conc > 1024)
        return 2;
    unsigned char rnd[4];
    crm_random_bytes(rnd, sizeof rnd);
    crm_hex_encode(rnd, sizeof rnd, b.run_id);
    b.latency_ms = calloc((size_t)b.total, sizeof *b.latency_ms);
    b.ceiling = strcmp(argv[2], "-") == 0;
    b.rate = getenv("BENCH_RATE") ? atof(getenv("BENCH_RATE")) : 0;
    PGconn *pg = b.ceiling ? NULL : PQconnectdb(argv[2]);
    if (pg && PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bench-ingest: %s", PQerrorMessage(pg));
        return 1;
    }
    char lead_floor[32] = "0", notif_floor[32] = "0";
    if (pg) {
        PGresult *r = PQexec(pg, "SELECT (SELECT coalesce(max(id), 0) FROM leads.leads), "
                                 "(SELECT coalesce(max(id), 0) FROM notify.notifications)");
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            snprintf(lead_floor, sizeof lead_floor, "%s", PQgetvalue(r, 0, 0));
            snprintf(notif_floor, sizeof notif_floor, "%s", PQgetvalue(r, 0, 1));
        }
        PQclear(r);
    }
    curl_global_init(CURL_GLOBAL_ALL);
    pthread_t *th = calloc((size_t)conc, sizeof *th);
    int64_t t0 = crm_mono_us();
    b.t0_us = t0;
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, poster, &b);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    double accept_s = (double)(crm_mono_us() - t0) / 1e6;

    if (b.ceiling) {
        qsort(b.latency_ms, (size_t)b.total, sizeof *b.latency_ms, cmp_double);
        printf("posts=%ld concurrency=%d ceiling accepted=%ld failed=%ld\n", b.total, conc, (long)b.accepted,
               (long)b.failed);
        printf("accept: %.0f posts/s over %.2f s, latency p50=%.2f ms p99=%.2f ms\n",
               (double)b.accepted / accept_s, accept_s, b.latency_ms[b.total / 2],
               b.latency_ms[(long)((double)b.total * 0.99)]);
        curl_global_cleanup();
        free(th);
        free(b.latency_ms);
        return b.failed == 0 ? 0 : 1;
    }
    char like[64];
    snprintf(like, sizeof like, "bench-%s-%%", b.run_id);
    long assigned = 0, notified = 0;
    int64_t deadline = crm_mono_us() + 600 * 1000000LL;
    while (crm_mono_us() < deadline) {
        assigned = count(pg,
                         "SELECT count(*) FROM leads.leads WHERE id > $2::bigint AND email LIKE $1 "
                         "AND owner_id IS NOT NULL",
                         like, lead_floor);
        notified =
            count(pg,
                  "SELECT count(*) FROM notify.notifications n JOIN leads.leads l ON l.id = n.resource_id "
                  "WHERE n.id > $2::bigint AND n.kind = 'assigned' AND l.email LIKE $1",
                  like, notif_floor);
        if (assigned >= b.accepted && notified >= b.accepted)
            break;
        crm_sleep_ms(250);
    }
    double e2e_s = (double)(crm_mono_us() - t0) / 1e6;
    qsort(b.latency_ms, (size_t)b.total, sizeof *b.latency_ms, cmp_double);
    printf("posts=%ld concurrency=%d signed=%s accepted=%ld failed=%ld\n", b.total, conc,
           b.secret ? "stripe-hmac-sha256" : "no", (long)b.accepted, (long)b.failed);
    printf("accept: %.0f posts/s over %.2f s, latency p50=%.2f ms p99=%.2f ms\n",
           (double)b.accepted / accept_s, accept_s, b.latency_ms[b.total / 2],
           b.latency_ms[(long)((double)b.total * 0.99)]);
    printf("end-to-end: %ld assigned, %ld notified in %.2f s = %.0f leads/s\n", assigned, notified, e2e_s,
           (double)(assigned < notified ? assigned : notified) / e2e_s);
    PQfinish(pg);
    curl_global_cleanup();
    free(th);
    free(b.latency_ms);
    return assigned >= b.accepted && notified >= b.accepted ? 0 : 1;
}

/* crm-notify outbound webhook sender (SPEC G3): a thread that POSTs pending webhook_deliveries.
 *
 * Order: per subscription only the oldest pending delivery (by event order) is ever sent; a later
 * one waits while an earlier one is pending (retrying). A failed (parked) one no longer blocks.
 * One delivery per transaction: the subscription row is locked (FOR UPDATE SKIP LOCKED, so several
 * instances never send for the same subscription at once), the delivery is re-checked, POSTed, and
 * marked delivered (2xx) or rescheduled with exponential backoff and jitter, or parked as failed once
 * notify.webhooks.give_up_seconds passed since it was queued (or retried / replayed).
 *
 * At least once: if the process dies after the receiver answered and before the commit, the same
 * delivery (same X-Crm-Delivery-Id) is POSTed again; receivers drop duplicates by that id.
 *
 * Signature: X-Crm-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, plus a second
 * v1=... made with the secondary secret while one is set (rotation: receivers accept either). */
#include "notify.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm/log.h"
#include "crm/row.h"
#include "crm/util.h"

struct notify_webhooks_t {
    crm_daemon_t *daemon;
    long timeout_ms, poll_ms, retry_base_ms, retry_max_ms, give_up_seconds;
    long retention_seconds, prune_interval_ms; /* retention 0: keep every event forever */
    pthread_t thread;
    bool started;
    volatile int stopping;
};

void notify_webhook_sign(const char *secret, const char *secondary, long long t, const char *body, char *out,
                         size_t len)
{
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", t);
    size_t blen = strlen(body), tlen = strlen(ts);
    unsigned char *msg = malloc(tlen + 1 + blen);
    memcpy(msg, ts, tlen);
    msg[tlen] = '.';
    memcpy(msg + tlen + 1, body, blen);
    int n = snprintf(out, len, "t=%s", ts);
    const char *keys[2] = {secret, secondary};
    for (int k = 0; k < 2; k++) {
        if (!keys[k] || !*keys[k])
            continue;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        HMAC(EVP_sha256(), keys[k], (int)strlen(keys[k]), msg, tlen + 1 + blen, mac, &maclen);
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        crm_hex_encode(mac, maclen, hex);
        n += snprintf(out + n, len > (size_t)n ? len - (size_t)n : 0, ",v1=%s", hex);
    }
    free(msg);
}

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

/* POSTs body; returns the HTTP status (0 when none) and an error text for non-2xx. */
static long post(notify_webhooks_t *self, const char *url, const char *body, const char *delivery_id,
                 const char *event_id, const char *secret, const char *secondary, char *error, size_t elen)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(error, elen, "curl_easy_init failed");
        return 0;
    }
    char sig[400], h1[480], h2[64], h3[96], errbuf[CURL_ERROR_SIZE] = "";
    notify_webhook_sign(secret, secondary, (long long)time(NULL), body, sig, sizeof sig);
    snprintf(h1, sizeof h1, "X-Crm-Signature: %s", sig);
    snprintf(h2, sizeof h2, "X-Crm-Delivery-Id: %s", delivery_id);
    snprintf(h3, sizeof h3, "X-Crm-Event-Id: %s", event_id);
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    hs = curl_slist_append(hs, h1);
    hs = curl_slist_append(hs, h2);
    hs = curl_slist_append(hs, h3);
    hs = curl_slist_append(hs, "User-Agent: crm-notify");
    hs = curl_slist_append(hs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK)
        snprintf(error, elen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    else if (code < 200 || code > 299)
        snprintf(error, elen, "HTTP %ld", code);
    else
        error[0] = '\0';
    return code;
}

static long backoff_ms(const notify_webhooks_t *self, int attempts)
{
    long ms = self->retry_base_ms;
    for (int i = 0; i < attempts && ms < self->retry_max_ms; i++)
        ms *= 2;
    if (ms > self->retry_max_ms)
        ms = self->retry_max_ms;
    unsigned r = 0;
    crm_random_bytes(&r, sizeof r);
    return ms * 3 / 4 + (long)(r % (unsigned)(ms / 2 + 1));
}

/* Sends the next due delivery of one subscription. 1 when one was handled, 0 when none was due,
 * negative on a database failure. */
static int send_one(notify_webhooks_t *self, crm_db_t *db)
{
    crm_err_t err;
    crm_err_clear(&err);
    if (crm_db_begin(db, &err))
        return -1;
    char give_up[24];
    const char *p0[] = {crm_param_i64(give_up, true, self->give_up_seconds)};
    PGresult *res = crm_db_exec(
        db, "webhook_next",
        "WITH heads AS (SELECT DISTINCT ON (subscription_id) id, subscription_id, next_attempt_at "
        "FROM webhook_deliveries WHERE status = 'pending' ORDER BY subscription_id, event_seq, id) "
        "SELECT h.id, s.url, s.secret, s.secondary_secret, e.body, d.attempts, "
        "d.window_start < now() - make_interval(secs => $1::int), e.event_id "
        "FROM heads h JOIN webhook_subscriptions s ON s.id = h.subscription_id "
        "JOIN webhook_deliveries d ON d.id = h.id JOIN webhook_events e ON e.seq = d.event_seq "
        "WHERE s.active AND h.next_attempt_at <= now() ORDER BY h.next_attempt_at, h.id LIMIT 1 "
        "FOR UPDATE OF s SKIP LOCKED",
        1, p0, &err);
    if (!res || PQntuples(res) == 0) {
        if (res)
            PQclear(res);
        crm_db_rollback(db);
        return res ? 0 : -1;
    }
    const char *id = crm_db_str(res, 0, 0);
    /* Another instance may have sent it between our snapshot and the lock: look again. */
    const char *pid[] = {id};
    PGresult *chk =
        crm_db_exec(db, "webhook_recheck",
                    "SELECT 1 FROM webhook_deliveries d WHERE d.id = $1 AND d.status = 'pending' "
                    "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE o.subscription_id = "
                    "d.subscription_id AND o.status = 'pending' AND o.event_seq < d.event_seq)",
                    1, pid, &err);
    bool still = chk && PQntuples(chk) == 1;
    if (chk)
        PQclear(chk);
    if (!still) {
        PQclear(res);
        crm_db_rollback(db);
        return chk ? 1 : -1;
    }
    int attempts = (int)crm_db_i64(res, 0, 5);
    bool too_old = crm_db_bool(res, 0, 6);
    char error[512];
    long code = post(self, crm_db_str(res, 0, 1), crm_db_str(res, 0, 4), id, crm_db_str(res, 0, 7),
                     crm_db_str(res, 0, 2), crm_db_str(res, 0, 3), error, sizeof error);
    bool ok = code >= 200 && code <= 299;
    char cbuf[24], dbuf[24];
    const char *p[] = {id, crm_param_i64(cbuf, code > 0, code), ok ? NULL : error,
                       crm_param_i64(dbuf, true, backoff_ms(self, attempts)),
                       ok ? "delivered" : (too_old ? "failed" : "pending")};
    int drc =
        crm_db_run(db, "webhook_attempt",
                   "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2::int, "
                   "last_error = $3, status = $5, "
                   "delivered_at = CASE WHEN $5 = 'delivered' THEN now() END, "
                   "next_attempt_at = CASE WHEN $5 = 'pending' THEN now() + $4::bigint * interval '1 ms' "
                   "ELSE next_attempt_at END WHERE id = $1",
                   5, p, &err);
    if (ok)
        crm_log_info(NULL, "webhook.delivered", "delivery_id=%s status=%ld attempts=%d", id, code,
                     attempts + 1);
    else
        crm_log_warn(NULL, too_old ? "webhook.failed" : "webhook.retry",
                     "delivery_id=%s attempts=%d error=\"%s\"", id, attempts + 1, error);
    PQclear(res);
    if (drc != CRM_OK || crm_db_commit(db, &err) != CRM_OK) {
        crm_log_warn(NULL, "webhook.db_failed", "error=\"%s\"", err.message);
        crm_db_rollback(db);
        return -1;
    }
    return 1;
}

/* Retention: events older than retention_seconds with no delivery still pending go, with their
 * delivered or failed deliveries (a replay of a range reaches back this far only). In slices,
 * so that a big backlog never holds locks long. */
static void prune(notify_webhooks_t *self, crm_db_t *db)
{
    char secs[24];
    snprintf(secs, sizeof secs, "%ld", self->retention_seconds);
    const char *p[] = {secs};
    long long total = 0;
    for (int slice = 0; slice < 100 && !self->stopping; slice++) {
        crm_err_t err;
        crm_err_clear(&err);
        PGresult *res = NULL;
        if (crm_db_begin(db, &err) != CRM_OK)
            return;
        if (crm_db_run(
                db, "notify_prune_deliveries",
                "DELETE FROM webhook_deliveries WHERE event_seq IN (SELECT e.seq FROM webhook_events e "
                "WHERE e.occurred_at < now() - make_interval(secs => $1::bigint) AND NOT EXISTS "
                "(SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = e.seq AND d.status = 'pending') "
                "ORDER BY e.seq LIMIT 5000)",
                1, p, &err) != CRM_OK ||
            !(res = crm_db_exec(
                  db, "notify_prune_events",
                  "DELETE FROM webhook_events WHERE seq IN (SELECT e.seq FROM webhook_events e "
                  "WHERE e.occurred_at < now() - make_interval(secs => $1::bigint) AND NOT EXISTS "
                  "(SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = e.seq) "
                  "ORDER BY e.seq LIMIT 5000)",
                  1, p, &err)) ||
            crm_db_commit(db, &err) != CRM_OK) {
            PQclear(res);
            crm_db_rollback(db);
            crm_log_warn(NULL, "webhooks.prune_failed", "code=%s reason=%s", crm_code_name(err.code),
                         err.message);
            return;
        }
        long long n = atoll(PQcmdTuples(res));
        PQclear(res);
        total += n;
        if (n < 5000)
            break;
    }
    if (total > 0)
        crm_log_info(NULL, "webhooks.pruned", "events=%lld retention_seconds=%ld", total,
                     self->retention_seconds);
}

static void *sender_main(void *arg)
{
    notify_webhooks_t *self = arg;
    crm_db_t *db = NULL;
    int64_t next_prune_us = 0;
    while (!self->stopping) {
        crm_err_t err;
        if (!db || !crm_db_ok(db)) {
            crm_db_destroy(&db);
            db = crm_db_connect(&self->daemon->db_params, &err);
            if (!db) {
                crm_sleep_ms(1000);
                continue;
            }
        }
        if (self->retention_seconds > 0 && crm_now_us() >= next_prune_us) {
            prune(self, db);
            next_prune_us = crm_now_us() + (int64_t)self->prune_interval_ms * 1000;
        }
        int rc = send_one(self, db);
        if (rc == 1)
            continue;
        if (rc < 0)
            crm_db_check(db, &err);
        for (long slept = 0; slept < self->poll_ms && !self->stopping; slept += 50)
            crm_sleep_ms(50);
    }
    crm_db_destroy(&db);
    return NULL;
}

notify_webhooks_t *notify_webhooks_new(crm_daemon_t *d)
{
    const crm_config_t *cfg = d->config;
    notify_webhooks_t *self = calloc(1, sizeof *self);
    self->daemon = d;
    self->timeout_ms = crm_config_int(cfg, "notify.webhooks.timeout_ms", 10000);
    self->poll_ms = crm_config_int(cfg, "notify.webhooks.poll_ms", 500);
    self->retry_base_ms = crm_config_int(cfg, "notify.webhooks.retry_base_ms", 10000);
    self->retry_max_ms = crm_config_int(cfg, "notify.webhooks.retry_max_ms", 3600000);
    self->give_up_seconds = crm_config_int(cfg, "notify.webhooks.give_up_seconds", 86400);
    self->retention_seconds = crm_config_int(cfg, "notify.webhooks.retention_seconds", 30L * 86400);
    self->prune_interval_ms = crm_config_int(cfg, "notify.webhooks.prune_interval_ms", 60000);
    if (self->prune_interval_ms < 100)
        self->prune_interval_ms = 100;
    if (self->retry_base_ms < 1)
        self->retry_base_ms = 1;
    if (self->poll_ms < 10)
        self->poll_ms = 10;
    return self;
}

int notify_webhooks_start(notify_webhooks_t *self, crm_err_t *err)
{
    if (pthread_create(&self->thread, NULL, sender_main, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot start the webhook sender thread");
    self->started = true;
    return CRM_OK;
}

void notify_webhooks_destroy(notify_webhooks_t **self_p)
{
    notify_webhooks_t *self = *self_p;
    if (!self)
        return;
    self->stopping = 1;
    if (self->started)
        pthread_join(self->thread, NULL);
    free(self);
    *self_p = NULL;
}

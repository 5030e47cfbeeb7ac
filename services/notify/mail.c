/* crm-notify e-mail sender (SPEC G2): a thread that sends the pending rows of mail_outbox over SMTP
 * with libcurl and marks each sent in the database right after the server accepted it.
 *
 * One mail per transaction: the row is locked (FOR UPDATE SKIP LOCKED, so several instances share
 * the queue), sent, and marked sent or rescheduled in the same transaction. A failure (server down,
 * refused, recipient unknown to crm-assign for now) reschedules it with exponential backoff and
 * jitter; after mail.give_up_hours the row is parked as failed. Delivery is at least once: if the
 * process dies between the server's acceptance and the commit, the mail is sent again on restart.
 * Every mail carries Message-ID <mail-<row id>-<event id>@crm-notify>, the same on each attempt, so
 * a receiving system can drop such a duplicate.
 *
 * Addresses come from crm-assign (users.get), cached for mail.address_cache_seconds. */
#include "notify.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/row.h"
#include "crm/util.h"

#define CACHE_SLOTS 256

typedef struct {
    int64_t user_id;
    char email[256];
    int64_t until_us;
} addr_entry_t;

struct notify_mail_t {
    crm_daemon_t *daemon;
    char url[512];
    const char *from, *user, *password;
    bool starttls;
    long timeout_ms, poll_ms, retry_base_ms, retry_max_ms, give_up_hours, cache_seconds;
    crm_rpc_client_t *assign;
    pthread_t thread;
    bool started;
    volatile int stopping;
    addr_entry_t cache[CACHE_SLOTS];
};

/* The user's e-mail address: from the cache, or users.get on crm-assign. */
static int address_of(notify_mail_t *self, int64_t user_id, char *out, size_t len, crm_err_t *err)
{
    addr_entry_t *e = &self->cache[(uint64_t)user_id % CACHE_SLOTS];
    if (e->user_id == user_id && e->until_us > crm_mono_us()) {
        snprintf(out, len, "%s", e->email);
        return CRM_OK;
    }
    Crm__UserGetRequest req = CRM__USER_GET_REQUEST__INIT;
    req.has_id = 1;
    req.id = user_id;
    ProtobufCMessage *reply = NULL;
    crm_rpc_caller_t caller = {.role = "system"};
    int rc = crm_rpc_call(self->assign, "users.get", &caller, &req.base, &crm__user__descriptor, 5000, &reply,
                          err);
    if (rc != CRM_OK)
        return rc;
    const Crm__User *u = (const Crm__User *)reply;
    if (!u->email || !*u->email) {
        protobuf_c_message_free_unpacked(reply, NULL);
        return crm_err_set(err, CRM_EINVALID, "email", "missing", "user %lld has no e-mail address",
                           (long long)user_id);
    }
    snprintf(out, len, "%s", u->email);
    e->user_id = user_id;
    snprintf(e->email, sizeof e->email, "%s", u->email);
    e->until_us = crm_mono_us() + self->cache_seconds * 1000000LL;
    protobuf_c_message_free_unpacked(reply, NULL);
    return CRM_OK;
}

typedef struct {
    const char *data;
    size_t len, pos;
} payload_t;

static size_t read_payload(char *buf, size_t size, size_t nmemb, void *arg)
{
    payload_t *p = arg;
    size_t n = size * nmemb, left = p->len - p->pos;
    if (n > left)
        n = left;
    memcpy(buf, p->data + p->pos, n);
    p->pos += n;
    return n;
}

/* Appends s to *buf with every line ending as CRLF and, for header values, no line break at all. */
static void append_text(char **buf, size_t *len, size_t *cap, const char *s, bool header)
{
    for (; s && *s; s++) {
        if (*len + 3 >= *cap) {
            *cap = *cap * 2 + 256;
            *buf = realloc(*buf, *cap);
        }
        if (*s == '\r')
            continue;
        if (*s == '\n') {
            if (header) {
                (*buf)[(*len)++] = ' ';
                continue;
            }
            (*buf)[(*len)++] = '\r';
        }
        (*buf)[(*len)++] = *s;
    }
    (*buf)[*len] = '\0';
}

/* The RFC 5322 message: headers then the body. malloc'd. */
static char *build_message(const notify_mail_t *self, const char *to, const char *subject, const char *body,
                           const char *message_id, size_t *len)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    size_t cap = 1024, n = 0;
    char *buf = malloc(cap);
    buf[0] = '\0';
    const char *parts[][2] = {{"Date: ", date},
                              {"From: ", self->from},
                              {"To: ", to},
                              {"Subject: ", subject},
                              {"Message-ID: ", message_id},
                              {"MIME-Version: ", "1.0"},
                              {"Content-Type: ", "text/plain; charset=utf-8"}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        append_text(&buf, &n, &cap, parts[i][0], true);
        append_text(&buf, &n, &cap, parts[i][1], true);
        append_text(&buf, &n, &cap, "\n", false);
    }
    append_text(&buf, &n, &cap, "\n", false);
    append_text(&buf, &n, &cap, body, false);
    append_text(&buf, &n, &cap, "\n", false);
    *len = n;
    return buf;
}

/* Sends one mail; CRM_OK once the server accepted it. */
static int smtp_send(notify_mail_t *self, const char *to, const char *subject, const char *body,
                     const char *message_id, crm_err_t *err)
{
    CURL *c = curl_easy_init();
    if (!c)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "curl_easy_init failed");
    size_t len = 0;
    char *msg = build_message(self, to, subject, body, message_id, &len);
    payload_t p = {msg, len, 0};
    char from_addr[320], to_addr[320], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(from_addr, sizeof from_addr, "<%s>", self->from);
    snprintf(to_addr, sizeof to_addr, "<%s>", to);
    struct curl_slist *rcpt = curl_slist_append(NULL, to_addr);
    curl_easy_setopt(c, CURLOPT_URL, self->url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from_addr);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_payload);
    curl_easy_setopt(c, CURLOPT_READDATA, &p);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (self->starttls)
        curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (self->user && *self->user) {
        curl_easy_setopt(c, CURLOPT_USERNAME, self->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, self->password ? self->password : "");
    }
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    free(msg);
    if (cc != CURLE_OK)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "smtp: %s (last reply %ld)",
                           errbuf[0] ? errbuf : curl_easy_strerror(cc), code);
    return CRM_OK;
}

/* Backoff before attempt n+1: base * 2^n capped at max, with ±25 % jitter. */
static long backoff_ms(const notify_mail_t *self, int attempts)
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

/* Sends the oldest due mail, if any. Returns 1 when one was handled, 0 when none was due, or a
 * negative value on a database failure. */
static int send_one(notify_mail_t *self, crm_db_t *db)
{
    crm_err_t err;
    crm_err_clear(&err);
    if (crm_db_begin(db, &err))
        return -1;
    char hours[24];
    const char *p0[] = {crm_param_i64(hours, true, self->give_up_hours)};
    PGresult *res = crm_db_exec(db, "mail_next",
                                "SELECT id, user_id, subject, body, event_id, attempts, "
                                "created_at < now() - make_interval(hours => $1::int) FROM mail_outbox "
                                "WHERE status = 'pending' AND next_attempt_at <= now() "
                                "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                                1, p0, &err);
    if (!res || PQntuples(res) == 0) {
        if (res)
            PQclear(res);
        crm_db_rollback(db);
        return res ? 0 : -1;
    }
    const char *id = crm_db_str(res, 0, 0), *event_id = crm_db_str(res, 0, 4);
    int64_t user_id = crm_db_i64(res, 0, 1);
    int attempts = (int)crm_db_i64(res, 0, 5);
    bool too_old = crm_db_bool(res, 0, 6);
    char to[256] = "", message_id[160];
    snprintf(message_id, sizeof message_id, "<mail-%s-%s@crm-notify>", id, event_id);
    crm_err_t serr;
    crm_err_clear(&serr);
    int rc = address_of(self, user_id, to, sizeof to, &serr);
    if (rc == CRM_OK)
        rc = smtp_send(self, to, crm_db_str(res, 0, 2), crm_db_str(res, 0, 3), message_id, &serr);
    char delay[24];
    const char *p[] = {id, to[0] ? to : NULL, rc == CRM_OK ? NULL : serr.message,
                       crm_param_i64(delay, true, backoff_ms(self, attempts))};
    int drc;
    if (rc == CRM_OK)
        drc = crm_db_run(db, "mail_sent",
                         "UPDATE mail_outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1, "
                         "recipient = $2, last_error = NULL WHERE id = $1",
                         2, p, &err);
    else
        drc = crm_db_run(db, "mail_retry",
                         "UPDATE mail_outbox SET attempts = attempts + 1, recipient = $2, last_error = $3, "
                         "next_attempt_at = now() + $4 * interval '1 ms' WHERE id = $1",
                         4, p, &err);
    if (drc == CRM_OK && rc != CRM_OK && too_old)
        drc = crm_db_run(db, "mail_give_up", "UPDATE mail_outbox SET status = 'failed' WHERE id = $1", 1, p,
                         &err);
    if (rc == CRM_OK)
        crm_log_info(NULL, "mail.sent", "mail_id=%s user_id=%lld to=%s", id, (long long)user_id, to);
    else
        crm_log_warn(NULL, too_old ? "mail.failed" : "mail.retry",
                     "mail_id=%s user_id=%lld attempts=%d error=\"%s\"", id, (long long)user_id, attempts + 1,
                     serr.message);
    PQclear(res);
    if (drc != CRM_OK || crm_db_commit(db, &err) != CRM_OK) {
        crm_log_warn(NULL, "mail.db_failed", "error=\"%s\"", err.message);
        crm_db_rollback(db);
        return -1;
    }
    return 1;
}

static void *sender_main(void *arg)
{
    notify_mail_t *self = arg;
    crm_db_t *db = NULL;
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

notify_mail_t *notify_mail_new(crm_daemon_t *d, crm_err_t *err)
{
    const crm_config_t *cfg = d->config;
    notify_mail_t *self = calloc(1, sizeof *self);
    self->daemon = d;
    const char *host = crm_config_str(cfg, "notify.smtp.host", "");
    long port = crm_config_int(cfg, "notify.smtp.port", 25);
    snprintf(self->url, sizeof self->url, "smtp://%s:%ld", host, port);
    self->starttls = crm_config_bool(cfg, "notify.smtp.starttls", false);
    self->user = crm_config_str(cfg, "notify.smtp.user", "");
    self->password = crm_config_str(cfg, "notify.smtp.password", "");
    self->from = crm_config_str(cfg, "notify.smtp.from", "crm@localhost");
    self->timeout_ms = crm_config_int(cfg, "notify.smtp.timeout_ms", 10000);
    self->poll_ms = crm_config_int(cfg, "notify.mail.poll_ms", 1000);
    self->retry_base_ms = crm_config_int(cfg, "notify.mail.retry_base_ms", 5000);
    self->retry_max_ms = crm_config_int(cfg, "notify.mail.retry_max_ms", 600000);
    self->give_up_hours = crm_config_int(cfg, "notify.mail.give_up_hours", 24);
    self->cache_seconds = crm_config_int(cfg, "notify.mail.address_cache_seconds", 300);
    if (self->retry_base_ms < 1)
        self->retry_base_ms = 1;
    if (self->poll_ms < 10)
        self->poll_ms = 10;
    if (!*host) {
        crm_log_warn(NULL, "mail.disabled", "reason=\"notify.smtp.host is not set: e-mails stay queued\"");
        return self;
    }
    self->assign = crm_daemon_client(d, "assign", err);
    if (!self->assign) {
        free(self);
        return NULL;
    }
    return self;
}

int notify_mail_start(notify_mail_t *self, crm_err_t *err)
{
    if (!self->assign)
        return CRM_OK; /* disabled */
    if (pthread_create(&self->thread, NULL, sender_main, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot start the mail sender thread");
    self->started = true;
    return CRM_OK;
}

void notify_mail_destroy(notify_mail_t **self_p)
{
    notify_mail_t *self = *self_p;
    if (!self)
        return;
    self->stopping = 1;
    if (self->started)
        pthread_join(self->thread, NULL);
    crm_rpc_client_destroy(&self->assign);
    free(self);
    *self_p = NULL;
}

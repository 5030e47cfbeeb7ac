/* Inbound webhooks, POST /webhooks/{support|chat|forms}/{source}: the answer policy of
 * WEBHOOK_SOURCES.md step by step (source and method, size, content type, signature over the
 * raw bytes, parse, event type, dedupe on the sender's delivery id, map and validate), then the
 * delivery row and its lead.captured event in one transaction. Every outcome — accepted,
 * ignored, duplicate, refused — is counted in metrics and kept in the delivery archive. */
#include "webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crm/log.h"
#include "crm/outbox.h"
#include "commit.h"
#include "crm/util.h"
#include "form.h"
#include "leads.pb-c.h"
#include "mapping.h"
#include "sell.h"
#include "signature.h"
#include "store.h"

#define MAX_DELIVERY_ID 255
#define ARCHIVE_WAIT_MS 500

/* ---- paths ------------------------------------------------------------------------------------- */

static const struct {
    const char *group;
    const char *kind;
    const char *route;
} groups[] = {
    {"forms", "form", "/webhooks/forms/{source}"},
    {"support", "support", "/webhooks/support/{source}"},
    {"chat", "chat", "/webhooks/chat/{source}"},
};
#define NGROUPS (sizeof groups / sizeof groups[0])

bool gw_webhook_path(const char *path)
{
    return path && strncmp(path, GW_WEBHOOK_ROOT, strlen(GW_WEBHOOK_ROOT)) == 0;
}

/* The group index of path and its {source} segment (NULL when the path has another shape). */
static int path_group(const char *path, const char **name)
{
    *name = NULL;
    if (!gw_webhook_path(path))
        return -1;
    const char *g = path + strlen(GW_WEBHOOK_ROOT);
    for (size_t i = 0; i < NGROUPS; i++) {
        size_t n = strlen(groups[i].group);
        if (strncmp(g, groups[i].group, n) == 0 && g[n] == '/') {
            const char *s = g + n + 1;
            if (s[0] && !strchr(s, '/'))
                *name = s;
            return (int)i;
        }
    }
    return -1;
}

const char *gw_webhook_route(const char *path)
{
    const char *name;
    int g = path_group(path, &name);
    return g >= 0 ? groups[g].route : "/webhooks";
}

/* The source of the path when its kind matches the group, else NULL. */
static const gw_source_t *path_source(const gw_t *gw, const char *path)
{
    const char *name;
    int g = path_group(path, &name);
    const gw_source_t *src = g >= 0 && name ? gw_source_find(gw, name) : NULL;
    return src && strcmp(src->kind, groups[g].kind) == 0 ? src : NULL;
}

/* ---- counting and archiving ---------------------------------------------------------------------- */

void gw_webhook_count(gw_t *gw, const char *source, const char *outcome, const char *reason)
{
    char labels[256];
    snprintf(labels, sizeof labels, "source=\"%s\",outcome=\"%s\",reason=\"%s\"", source, outcome, reason);
    crm_metrics_inc(gw->metrics, "crm_gateway_deliveries_total", labels, 1);
}

typedef struct {
    const char *source;
    const char *outcome;
    const char *reason;
    int status;
    const char *external_id;
    const char *sender_id;
    const char *details;
    bool with_body;
} arch_t;

/* Writes an archive row (on db, or a pooled connection when db is NULL). A failure is logged,
 * never turned into another answer: the archive must not make a refusal fail. */
/* Archive metadata (not the body, which is kept as bytes) must be valid text for Postgres:
 * control characters and bytes outside ASCII become '?'. */
static const char *clean(const char *in, char *out, size_t outlen)
{
    if (!in)
        return NULL;
    size_t n = 0;
    for (; in[n] && n + 1 < outlen; n++) {
        unsigned char c = (unsigned char)in[n];
        out[n] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
    return out;
}

static int64_t archive(gw_t *gw, crm_db_t *db, const gw_request_t *req, const arch_t *a)
{
    char source[80], sender[260], details[400], ctype[200];
    crm_err_t err;
    crm_err_clear(&err);
    crm_db_t *own = NULL;
    if (!db) {
        own = db = gw_db_get(gw, ARCHIVE_WAIT_MS, &err);
        if (!db) {
            crm_log_warn(req->corr, "webhook.archive_failed", "source=%s code=%s", a->source,
                         crm_code_name(err.code));
            return 0;
        }
    }
    gw_archive_in_t in = {.source = clean(a->source, source, sizeof source),
                          .outcome = a->outcome,
                          .reason = a->reason,
                          .status = a->status,
                          .external_id = a->external_id,
                          .sender_id = clean(a->sender_id, sender, sizeof sender),
                          .content_type = clean(gw_request_header(req, "Content-Type"), ctype, sizeof ctype),
                          .body = a->with_body ? req->body : NULL,
                          .body_len = a->with_body && req->body ? req->body_len : 0,
                          .correlation_id = req->corr,
                          .details = clean(a->details, details, sizeof details),
                          .received_at_us = crm_now_us()};
    int64_t id = 0;
    bool inserted = false;
    if (gw_store_archive(db, &in, &id, &inserted, &err) != CRM_OK)
        crm_log_warn(req->corr, "webhook.archive_failed", "source=%s code=%s", a->source,
                     crm_code_name(err.code));
    if (own)
        crm_db_pool_put(gw->db, own);
    return id;
}

/* A safe name for the archive of an unknown source: the path segment, at most 64 bytes. */
static void unknown_name(const char *path, char out[65])
{
    const char *name;
    path_group(path, &name);
    if (!name)
        name = path + (gw_webhook_path(path) ? strlen(GW_WEBHOOK_ROOT) : 0);
    snprintf(out, 65, "%s", name);
}

/* Answers a refusal: the Sell error body, the metric, the archive row and a log line. */
static void refuse(gw_t *gw, const char *source, const gw_request_t *req, gw_response_t *resp, int status,
                   const char *code, const char *reason, const char *details, const char *field,
                   const char *sender_id)
{
    gw_respond_error(resp, status, code, details, status == 422 ? "lead" : NULL, field, req->corr);
    gw_webhook_count(gw, source, "refused", reason);
    arch_t a = {.source = source,
                .outcome = "refused",
                .reason = reason,
                .status = status,
                .sender_id = sender_id,
                .details = details,
                .with_body = true};
    if (status != 503) /* storage is down: do not try again to write the archive */
        archive(gw, NULL, req, &a);
    crm_log_info(req->corr, "webhook.refused", "source=%s status=%d reason=%s", source, status, reason);
}

void gw_webhook_too_large(gw_t *gw, const gw_request_t *req)
{
    const gw_source_t *src = path_source(gw, req->path);
    char name[65];
    unknown_name(req->path, name);
    gw_webhook_count(gw, src ? src->name : "unknown", "refused", "too_large");
    arch_t a = {.source = src ? src->name : name,
                .outcome = "refused",
                .reason = "too_large",
                .status = 413,
                .details = "the request body is too large"};
    archive(gw, NULL, req, &a);
}

bool gw_webhook_precheck(gw_t *gw, const gw_request_t *req, gw_response_t *resp)
{
    const gw_source_t *src = path_source(gw, req->path);
    if (!src) {
        gw_respond_error(resp, 404, "not_found",
                         "no webhook source by that name is configured for this path (/webhooks/forms/, "
                         "/webhooks/support/ or /webhooks/chat/ must match the source's kind)",
                         NULL, NULL, req->corr);
        gw_webhook_count(gw, "unknown", "refused", "unknown_source");
        char name[65];
        unknown_name(req->path, name);
        archive(gw, NULL, req,
                &(arch_t){.source = name,
                          .outcome = "refused",
                          .reason = "unknown_source",
                          .status = 404,
                          .details = "unknown source"});
        return true;
    }
    if (strcmp(req->method, "POST") != 0) {
        gw_respond_error(resp, 405, "method_not_allowed", "webhooks accept POST only", NULL, NULL, req->corr);
        resp->allow = "POST";
        gw_webhook_count(gw, src->name, "refused", "method");
        archive(gw, NULL, req,
                &(arch_t){.source = src->name,
                          .outcome = "refused",
                          .reason = "method",
                          .status = 405,
                          .details = "webhooks accept POST only"});
        return true;
    }
    return false;
}

/* ---- delivery ids ---------------------------------------------------------------------------------- */

static const char *delivery_header_name(const gw_source_t *src)
{
    if (src->delivery_header[0])
        return src->delivery_header;
    if (strcmp(src->type, "zendesk") == 0)
        return "X-Zendesk-Webhook-Invocation-Id";
    if (strcmp(src->type, "html") == 0 || strcmp(src->type, "json") == 0)
        return "X-Delivery-Id";
    return NULL; /* the others carry it in the body */
}

/* 1..255 printable ASCII characters: what a delivery id header may hold. */
static bool delivery_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_DELIVERY_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* ---- one capture ----------------------------------------------------------------------------------- */

typedef struct {
    int status;
    int64_t delivery_id;
    const char *outcome;
    char reason[48];
    crm_err_t err; /* 422 / 503 */
} result_t;

static void append_tags(Crm__LeadCaptured *lc, const gw_source_t *src)
{
    for (size_t i = 0; i < src->ntags; i++) {
        bool have = false;
        for (size_t j = 0; j < lc->n_tags; j++)
            if (strcmp(lc->tags[j], src->tags[i]) == 0)
                have = true;
        if (have)
            continue;
        char **t = realloc(lc->tags, (lc->n_tags + 1) * sizeof *t);
        if (!t)
            return;
        lc->tags = t;
        lc->tags[lc->n_tags] = strdup(src->tags[i]);
        if (lc->tags[lc->n_tags])
            lc->n_tags++;
    }
}

/* Steps 7–9 for one capture on db. */
static void process(gw_t *gw, const gw_source_t *src, const gw_request_t *req, crm_db_t *db, gw_capture_t *c,
                    result_t *r, gw_commit_job_t *job)
{
    memset(r, 0, sizeof *r);
    crm_err_clear(&r->err);
    crm_err_t err;
    crm_err_clear(&err);
    const char *key = c->delivery_key;
    /* 7. dedupe: a delivery id seen before → 200 with the first delivery's id. */
    if (key) {
        int64_t first = 0;
        int rc = gw_store_delivery_find(db, src->name, key, &first, &err);
        if (rc == CRM_OK) {
            r->status = 200;
            r->delivery_id = first;
            r->outcome = "duplicate";
            snprintf(r->reason, sizeof r->reason, "seen");
            gw_webhook_count(gw, src->name, "duplicate", "seen");
            archive(gw, db, req,
                    &(arch_t){.source = src->name,
                              .outcome = "duplicate",
                              .reason = "seen",
                              .status = 200,
                              .sender_id = key,
                              .details = "repeated delivery id",
                              .with_body = true});
            return;
        }
        if (rc != CRM_ENOTFOUND)
            goto unavailable;
    }
    if (c->outcome == GW_CAP_IGNORED) {
        bool inserted = false;
        gw_archive_in_t in = {.source = src->name,
                              .outcome = "ignored",
                              .reason = c->reason,
                              .status = 200,
                              .external_id = key,
                              .sender_id = key,
                              .content_type = gw_request_header(req, "Content-Type"),
                              .body = req->body,
                              .body_len = req->body ? req->body_len : 0,
                              .correlation_id = req->corr,
                              .details = "not an event this source turns into leads",
                              .received_at_us = crm_now_us()};
        if (gw_store_archive(db, &in, &r->delivery_id, &inserted, &err) != CRM_OK)
            goto unavailable;
        if (!inserted && key)
            (void)gw_store_delivery_find(db, src->name, key, &r->delivery_id, &err);
        r->status = 200;
        r->outcome = "ignored";
        snprintf(r->reason, sizeof r->reason, "%s", c->reason);
        gw_webhook_count(gw, src->name, "ignored", c->reason);
        crm_log_info(req->corr, "webhook.ignored", "source=%s reason=%s", src->name, c->reason);
        return;
    }
    if (c->outcome == GW_CAP_INVALID) {
        r->status = 422;
        r->outcome = "refused";
        snprintf(r->reason, sizeof r->reason, "%s", c->reason);
        r->err = c->err;
        gw_webhook_count(gw, src->name, "refused", c->reason);
        archive(gw, db, req,
                &(arch_t){.source = src->name,
                          .outcome = "refused",
                          .reason = c->reason,
                          .status = 422,
                          .sender_id = key,
                          .details = c->err.message,
                          .with_body = true});
        return;
    }
    /* 9. the delivery and its lead.captured event commit together, or not at all: handed to the
     * group committer (commit.h) by the handler once every event of the POST is through here. */
    Crm__LeadCaptured *lc = &c->lc;
    lc->source = (char *)src->name;
    lc->source_kind = (char *)src->kind;
    lc->has_received_at = true;
    lc->received_at = crm_now_us();
    *job = (gw_commit_job_t){.in = {.source = src->name,
                                    .outcome = "accepted",
                                    .reason = "ok",
                                    .status = 202,
                                    .external_id = key,
                                    .sender_id = key,
                                    .content_type = gw_request_header(req, "Content-Type"),
                                    .body = req->body,
                                    .body_len = req->body ? req->body_len : 0,
                                    .correlation_id = req->corr,
                                    .details = "",
                                    .received_at_us = lc->received_at},
                             .lc = lc,
                             .corr = req->corr};
    r->status = 0; /* pending: finish() sets the answer */
    return;
unavailable:
    crm_log_warn(req->corr, "webhook.store_failed", "source=%s code=%s", src->name, crm_code_name(err.code));
    r->status = 503;
    r->outcome = "refused";
    snprintf(r->reason, sizeof r->reason, "storage");
    gw_webhook_count(gw, src->name, "refused", "storage");
}

/* The answer of a delivery handed to the committer. */
static void finish(gw_t *gw, const gw_source_t *src, gw_capture_t *c, const gw_commit_job_t *job, result_t *r)
{
    c->lc.source = NULL; /* borrowed from the source; gw_captures_free must not free them */
    c->lc.source_kind = NULL;
    r->delivery_id = job->id;
    if (job->rc != CRM_OK) {
        r->status = 503;
        r->outcome = "refused";
        snprintf(r->reason, sizeof r->reason, "storage");
        gw_webhook_count(gw, src->name, "refused", "storage");
    } else if (!job->inserted) {
        /* Lost the race against a concurrent delivery with the same id: the unique index
         * decided; answer with the winner's id, nothing stored. */
        r->status = 200;
        r->outcome = "duplicate";
        snprintf(r->reason, sizeof r->reason, "seen");
        gw_webhook_count(gw, src->name, "duplicate", "seen");
    } else {
        r->status = 202;
        r->outcome = "accepted";
        snprintf(r->reason, sizeof r->reason, "ok");
        gw_webhook_count(gw, src->name, "accepted", "ok");
    }
}

/* A delivery whose accepted events are with the committer (gw_webhook_start). */
struct gw_webhook_pending {
    const gw_source_t *src;
    const char *corr; /* the request's, outlives this */
    gw_captures_t caps;
    result_t *res;
    gw_commit_job_t *jobs;
    size_t *slot; /* jobs[k] is the event caps.items[slot[k]] */
    size_t npending;
    gw_commit_group_t group;
};

/* ---- the handler ------------------------------------------------------------------------------------ */

static void answer(const char *corr, gw_response_t *resp, gw_captures_t *caps, result_t *res)
{
    if (caps->n == 1) {
        result_t *r = &res[0];
        if (r->status == 422) {
            const char *code = NULL;
            gw_sell_status(&r->err, &code);
            gw_respond_error(resp, 422, code, r->err.message[0] ? r->err.message : "invalid field", "lead",
                             r->err.field[0] ? r->err.field : NULL, corr);
        } else if (r->status == 503) {
            gw_respond_error(resp, 503, "temporarily_unavailable",
                             "the delivery could not be stored, retry later", NULL, NULL, corr);
        } else {
            json_t *data = json_pack("{s:I}", "delivery_id", (json_int_t)r->delivery_id);
            if (r->status == 200)
                json_object_set_new(
                    data, r->outcome && strcmp(r->outcome, "ignored") == 0 ? "ignored" : "duplicate",
                    json_string(r->reason));
            gw_respond_json(resp, r->status, json_pack("{s:o}", "data", data));
        }
        return;
    }
    /* Several events in one POST: 503 when any could not be stored (the sender retries the
     * whole POST; the stored ones are then duplicates), 202 when any was accepted, else 200. */
    int status = 200;
    int64_t first = 0;
    json_t *events = json_array();
    for (size_t i = 0; i < caps->n; i++) {
        if (res[i].status == 503)
            status = 503;
        else if (res[i].status == 202 && status != 503)
            status = 202;
        if (!first && res[i].delivery_id)
            first = res[i].delivery_id;
        json_t *e = json_pack(
            "{s:o,s:s,s:s,s:i}", "id",
            caps->items[i].delivery_key ? json_string(caps->items[i].delivery_key) : json_null(), "outcome",
            res[i].outcome ? res[i].outcome : "refused", "reason", res[i].reason, "status", res[i].status);
        if (res[i].delivery_id)
            json_object_set_new(e, "delivery_id", json_integer(res[i].delivery_id));
        if (res[i].status == 422)
            json_object_set_new(e, "error", json_string(res[i].err.message));
        json_array_append_new(events, e);
    }
    if (status == 503) {
        json_decref(events);
        gw_respond_error(resp, 503, "temporarily_unavailable", "an event could not be stored, retry later",
                         NULL, NULL, corr);
        return;
    }
    json_t *data = json_pack("{s:o}", "events", events);
    if (first)
        json_object_set_new(data, "delivery_id", json_integer(first));
    gw_respond_json(resp, status, json_pack("{s:o}", "data", data));
}

gw_webhook_pending_t *gw_webhook_start(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    const gw_source_t *src = path_source(gw, req->path);
    if (!src) { /* gw_webhook_precheck answers this; kept for callers that skip it */
        gw_respond_error(resp, 404, "not_found", "no webhook source by that name is configured", NULL, NULL,
                         req->corr);
        return NULL;
    }
    bool html = strcmp(src->type, "html") == 0;
    const char *hname = delivery_header_name(src);
    const char *hdr_id = hname ? gw_request_header(req, hname) : NULL;
    /* 2. size: the HTTP layer answers 413 before handing us a body over the limit. */
    if (req->body_len > gw->max_body) {
        refuse(gw, src->name, req, resp, 413, "request_too_large", "too_large",
               "the request body is too large", NULL, hdr_id);
        return NULL;
    }
    /* 3. content type */
    const char *ctype = gw_request_header(req, "Content-Type");
    gw_form_type_t type = gw_form_content_type(ctype);
    if (type != GW_FORM_JSON && !(html && type == GW_FORM_URLENCODED)) {
        char details[240];
        snprintf(details, sizeof details, "unsupported content type %.100s: send %s",
                 ctype ? ctype : "(none)",
                 html ? "application/x-www-form-urlencoded or application/json" : "application/json");
        refuse(gw, src->name, req, resp, 415, "unsupported_media_type", "content_type", details, NULL,
               hdr_id);
        return NULL;
    }
    /* 4. authentication: a source declared signed never falls back to unsigned. */
    if (src->problem[0]) {
        refuse(gw, src->name, req, resp, 401, "unauthorized", "signature", src->problem, NULL, hdr_id);
        return NULL;
    }
    gw_sig_scheme_t scheme = gw_sig_scheme(src->signature);
    gw_sig_keys_t keys = {.secrets = {src->secrets[0], src->secrets[1]},
                          .nsecrets = src->nsecrets,
                          .tolerance_s = src->tolerance_s,
                          .now_s = crm_now_us() / 1000000};
    gw_sig_why_t why;
    json_t *root = NULL;
    json_error_t jerr;
    const char *body = req->body ? req->body : "";
    if (scheme != GW_SIG_LIVECHAT) {
        if (!gw_sig_verify(scheme, &keys, req->header, req->header_arg, body, req->body_len, NULL, &why)) {
            char reason[40];
            snprintf(reason, sizeof reason, "signature_%s", why.reason);
            refuse(gw, src->name, req, resp, 401, "unauthorized", reason, why.message, NULL, hdr_id);
            return NULL;
        }
    }
    /* 5. parse: valid UTF-8, a JSON object (depth ≤ 2048, duplicate keys refused) or a form. */
    gw_captures_t caps = {0};
    crm_err_t perr;
    crm_err_clear(&perr);
    if (html) {
        gw_capture_t *c = calloc(1, sizeof *c);
        if (!c) {
            refuse(gw, src->name, req, resp, 503, "temporarily_unavailable", "memory", "out of memory", NULL,
                   hdr_id);
            return NULL;
        }
        Crm__LeadCaptured init = CRM__LEAD_CAPTURED__INIT;
        c->lc = init;
        crm_err_clear(&c->err);
        caps.items = c;
        caps.n = 1;
        int prc = gw_form_parse(type, body, req->body_len, &c->lc, &perr);
        if (prc != CRM_OK && prc != CRM_EINVALID) {
            refuse(gw, src->name, req, resp, 400, "invalid_payload", "parse",
                   perr.message[0] ? perr.message : "the body could not be parsed", NULL, hdr_id);
            gw_captures_free(&caps);
            return NULL;
        }
        if (prc == CRM_EINVALID) {
            c->outcome = GW_CAP_INVALID;
            c->err = perr;
            snprintf(c->reason, sizeof c->reason, "invalid_%s", perr.reason[0] ? perr.reason : "field");
        } else {
            append_tags(&c->lc, src);
            if (c->lc.phone)
                c->lc.phone_e164 = gw_phone_e164(c->lc.phone);
        }
        if (hdr_id)
            c->delivery_key = strdup(hdr_id);
    } else {
        root = json_loadb(body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (scheme == GW_SIG_LIVECHAT) {
            /* LiveChat carries its secret in the body: parse first, then authenticate; an
             * unparseable body cannot be authenticated, so a bad one is 401 whatever it is. */
            const char *secret = root ? json_string_value(json_object_get(root, "secret_key")) : NULL;
            if (root && !gw_sig_verify(scheme, &keys, req->header, req->header_arg, body, req->body_len,
                                       secret, &why)) {
                char reason[40];
                snprintf(reason, sizeof reason, "signature_%s", why.reason);
                refuse(gw, src->name, req, resp, 401, "unauthorized", reason, why.message, NULL, NULL);
                json_decref(root);
                return NULL;
            }
        }
        if (!root || !json_is_object(root)) {
            char details[300];
            if (!root)
                snprintf(details, sizeof details, "body is not valid JSON: %s (line %d)", jerr.text,
                         jerr.line);
            else
                snprintf(details, sizeof details, "body must be a JSON object");
            refuse(gw, src->name, req, resp, 400, "invalid_payload", "parse", details, NULL, hdr_id);
            json_decref(root);
            return NULL;
        }
        if (hdr_id && !delivery_id_ok(hdr_id)) {
            refuse(gw, src->name, req, resp, 400, "invalid_header", "delivery_id",
                   "the delivery id header must hold 1 to 255 printable ASCII characters", NULL, NULL);
            json_decref(root);
            return NULL;
        }
        /* 6 and 8: event type, mapping and validation, per event. */
        if (gw_extract(src, root, hdr_id, &caps, &perr) != CRM_OK) {
            refuse(gw, src->name, req, resp, perr.code == CRM_EINTERNAL ? 503 : 400,
                   perr.code == CRM_EINTERNAL ? "temporarily_unavailable" : "invalid_payload", "parse",
                   perr.message[0] ? perr.message : "the body is not this sender's shape", perr.field,
                   hdr_id);
            json_decref(root);
            return NULL;
        }
        json_decref(root);
    }
    if (html && hdr_id && !delivery_id_ok(hdr_id)) {
        refuse(gw, src->name, req, resp, 400, "invalid_header", "delivery_id",
               "X-Delivery-Id must hold 1 to 255 printable ASCII characters", NULL, NULL);
        gw_captures_free(&caps);
        return NULL;
    }
    /* A connection only when a step needs the database before the commit: the dedupe of a
     * sender's delivery id, or the archive row of an ignored event. */
    bool need_db = false;
    for (size_t i = 0; i < caps.n; i++)
        need_db = need_db || caps.items[i].delivery_key || caps.items[i].outcome == GW_CAP_IGNORED;
    crm_err_t err;
    crm_err_clear(&err);
    crm_db_t *db = need_db ? gw_db_get(gw, gw->db_wait_ms, &err) : NULL;
    if (need_db && !db) {
        refuse(gw, src->name, req, resp, 503, "temporarily_unavailable", "storage",
               "storage unavailable, retry later", NULL, hdr_id);
        gw_captures_free(&caps);
        return NULL;
    }
    gw_webhook_pending_t *p = calloc(1, sizeof *p);
    result_t *res = calloc(caps.n, sizeof *res);
    gw_commit_job_t *jobs = calloc(caps.n, sizeof *jobs);
    size_t *slot = calloc(caps.n, sizeof *slot);
    if (!p || !res || !jobs || !slot) {
        free(p);
        free(res);
        free(jobs);
        free(slot);
        if (db)
            crm_db_pool_put(gw->db, db);
        gw_captures_free(&caps);
        gw_respond_error(resp, 503, "temporarily_unavailable", "out of memory", NULL, NULL, req->corr);
        return NULL;
    }
    *p = (gw_webhook_pending_t){
        .src = src, .corr = req->corr, .caps = caps, .res = res, .jobs = jobs, .slot = slot};
    for (size_t i = 0; i < caps.n; i++) {
        process(gw, src, req, db, &p->caps.items[i], &res[i], &jobs[p->npending]);
        if (res[i].status == 0)
            slot[p->npending++] = i;
    }
    if (db)
        crm_db_pool_put(gw->db, db); /* before the commit: the committer needs one of its own */
    if (p->npending == 0) {
        gw_webhook_finish(gw, p, resp);
        return NULL;
    }
    return p;
}

void gw_webhook_submit(gw_t *gw, gw_webhook_pending_t *p, void (*done)(void *arg), void *arg)
{
    gw_commit_async(gw, gw->committer, p->jobs, p->npending, &p->group, done, arg);
}

void gw_webhook_finish(gw_t *gw, gw_webhook_pending_t *p, gw_response_t *resp)
{
    for (size_t k = 0; k < p->npending; k++)
        finish(gw, p->src, &p->caps.items[p->slot[k]], &p->jobs[k], &p->res[p->slot[k]]);
    answer(p->corr, resp, &p->caps, p->res);
    /* the outcome goes into the request's one log line (http.request), not a line of its own */
    if (p->caps.n == 1)
        snprintf(resp->note, sizeof resp->note, "outcome=%.16s delivery_id=%lld",
                 p->res[0].outcome ? p->res[0].outcome : "refused", (long long)p->res[0].delivery_id);
    else
        snprintf(resp->note, sizeof resp->note, "events=%zu", p->caps.n);
    free(p->res);
    free(p->jobs);
    free(p->slot);
    gw_captures_free(&p->caps);
    free(p);
}

void gw_webhook_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    gw_webhook_pending_t *p = gw_webhook_start(gw, req, resp);
    if (!p)
        return;
    gw_commit(gw, gw->committer, p->jobs, p->npending);
    gw_webhook_finish(gw, p, resp);
}

/* ---- admin routes --------------------------------------------------------------------------------- */

void gw_webhook_sources_list(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    (void)route;
    if (req->nparams > 0) {
        gw_respond_error(resp, 400, "invalid_param", "this list takes no query parameters", NULL, NULL,
                         req->corr);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < gw->nsources; i++) {
        const gw_source_t *s = &gw->sources[i];
        const char *group = strcmp(s->kind, "form") == 0 ? "forms" : s->kind;
        char path[128];
        snprintf(path, sizeof path, "/webhooks/%s/%s", group, s->name);
        json_t *o = json_object();
        json_object_set_new(o, "name", gw_json_text(s->name));
        json_object_set_new(o, "kind", gw_json_text(s->kind));
        json_object_set_new(o, "type", gw_json_text(s->type));
        json_object_set_new(o, "signature", gw_json_text(s->signature[0] ? s->signature : "(unset)"));
        json_object_set_new(o, "secrets_configured", json_integer((json_int_t)s->nsecrets));
        json_object_set_new(o, "tolerance_seconds", json_integer(s->tolerance_s));
        json_object_set_new(o, "path", gw_json_text(path));
        const char *hname = delivery_header_name(s);
        json_object_set_new(o, "delivery_id_header", hname ? gw_json_text(hname) : json_null());
        json_object_set_new(o, "usable", json_boolean(!s->problem[0]));
        if (s->problem[0])
            json_object_set_new(o, "problem", gw_json_text(s->problem));
        json_t *tags = json_array();
        for (size_t t = 0; t < s->ntags; t++)
            json_array_append_new(tags, gw_json_text(s->tags[t]));
        json_object_set_new(o, "tags", tags);
        json_t *map = json_array();
        for (size_t m = 0; m < s->nmapping; m++) {
            const gw_map_entry_t *e = &s->mapping[m];
            json_t *me = json_pack("{s:o}", "field", gw_json_text(e->field));
            const char *kinds[] = {"pointer", "ref", "label", "key", "value"};
            const char *vals[] = {e->pointer, e->ref, e->label, e->key, e->value};
            for (size_t k = 0; k < 5; k++)
                if (vals[k][0])
                    json_object_set_new(me, kinds[k], gw_json_text(vals[k]));
            json_array_append_new(map, me);
        }
        json_object_set_new(o, "mapping", map);
        json_array_append_new(items, o);
    }
    gw_links_t links;
    gw_links_build(req->base, req->path, NULL, 0, 1, GW_MAX_SOURCES, false, &links);
    gw_respond_json(resp, 200, gw_sell_collection(items, "webhook_source", &links));
    gw_links_clear(&links);
}

void gw_webhook_deliveries_list(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    (void)route;
    crm_err_t err;
    crm_err_clear(&err);
    long page, per_page;
    if (gw_paging(req->params, req->nparams, &page, &per_page, &err) != CRM_OK) {
        gw_respond_err(resp, &err, "webhook_delivery", req->corr);
        return;
    }
    const char *source = NULL, *outcome = NULL;
    for (size_t i = 0; i < req->nparams; i++) {
        const char *k = req->params[i].key;
        if (strcmp(k, "source") == 0) {
            source = req->params[i].value;
        } else if (strcmp(k, "outcome") == 0) {
            outcome = req->params[i].value;
            if (strcmp(outcome, "accepted") != 0 && strcmp(outcome, "ignored") != 0 &&
                strcmp(outcome, "duplicate") != 0 && strcmp(outcome, "refused") != 0) {
                gw_respond_error(resp, 400, "invalid_param",
                                 "outcome must be one of accepted, ignored, duplicate, refused", NULL,
                                 "outcome", req->corr);
                return;
            }
        } else if (strcmp(k, "page") != 0 && strcmp(k, "per_page") != 0) {
            char details[160];
            snprintf(details, sizeof details, "unknown query parameter: %.100s", k);
            gw_respond_error(resp, 400, "invalid_param", details, NULL, k, req->corr);
            return;
        }
    }
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_err(resp, &err, "webhook_delivery", req->corr);
        return;
    }
    json_t *items = NULL;
    bool has_more = false;
    int rc = gw_store_archive_list(db, source, outcome, page, per_page, &items, &has_more, &err);
    crm_db_pool_put(gw->db, db);
    if (rc != CRM_OK) {
        gw_respond_err(resp, &err, "webhook_delivery", req->corr);
        return;
    }
    gw_links_t links;
    gw_links_build(req->base, req->path, req->params, req->nparams, page, per_page, has_more, &links);
    gw_respond_json(resp, 200, gw_sell_collection(items, "webhook_delivery", &links));
    gw_links_clear(&links);
}

void gw_webhook_delivery_get(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    (void)route;
    crm_err_t err;
    crm_err_clear(&err);
    int64_t id = 0;
    const char *ids = gw_path_get(&req->pathp, "id");
    if (!ids || !crm_parse_i64(ids, &id)) {
        gw_respond_error(resp, 404, "not_found", "no such webhook delivery", NULL, NULL, req->corr);
        return;
    }
    if (req->nparams > 0) {
        gw_respond_error(resp, 400, "invalid_param", "this resource takes no query parameters", NULL, NULL,
                         req->corr);
        return;
    }
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_err(resp, &err, "webhook_delivery", req->corr);
        return;
    }
    json_t *item = NULL;
    int rc = gw_store_archive_get(db, id, &item, &err);
    crm_db_pool_put(gw->db, db);
    if (rc != CRM_OK) {
        gw_respond_err(resp, &err, "webhook_delivery", req->corr);
        return;
    }
    /* LiveChat puts its secret in the body: never show it back. */
    const gw_source_t *src = gw_source_find(gw, json_string_value(json_object_get(item, "source")));
    const char *body = json_string_value(json_object_get(item, "body"));
    if (src && strcmp(src->type, "livechat") == 0 && body) {
        json_t *b = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(b) && json_object_get(b, "secret_key")) {
            json_object_set_new(b, "secret_key", json_string("[redacted]"));
            char *text = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_object_set_new(item, "body", json_string(text ? text : ""));
            free(text);
        } else {
            json_object_set_new(item, "body", json_string("[redacted: LiveChat body]"));
        }
        json_decref(b);
    }
    gw_respond_json(resp, 200, gw_sell_single(item, "webhook_delivery"));
}

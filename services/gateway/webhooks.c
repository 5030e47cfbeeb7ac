/* Inbound form webhooks, POST /webhooks/forms/{source}: the answer policy of
 * WEBHOOK_SOURCES.md step by step (source and method, size, content type, signature, parse,
 * dedupe on X-Delivery-Id, map and validate), then the delivery row and its lead.captured
 * event in one transaction. */
#include "webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crm/log.h"
#include "crm/outbox.h"
#include "crm/util.h"
#include "form.h"
#include "leads.pb-c.h"
#include "sell.h"
#include "store.h"

#define MAX_DELIVERY_ID 255

void gw_webhook_count(gw_t *gw, const char *source, const char *outcome, const char *reason)
{
    char labels[256];
    snprintf(labels, sizeof labels, "source=\"%s\",outcome=\"%s\",reason=\"%s\"", source, outcome, reason);
    crm_metrics_inc(gw->metrics, "crm_gateway_deliveries_total", labels, 1);
}

/* The {source} segment of the path, or NULL when the path has none or more segments. */
static const char *source_segment(const char *path)
{
    const char *s = path + strlen(GW_WEBHOOK_PREFIX);
    if (!s[0] || strchr(s, '/'))
        return NULL;
    return s;
}

bool gw_webhook_precheck(gw_t *gw, const gw_request_t *req, gw_response_t *resp)
{
    const char *name = source_segment(req->path);
    const gw_source_t *src = name ? gw_source_find(gw, name) : NULL;
    if (!src || strcmp(src->kind, "form") != 0) {
        gw_respond_error(resp, 404, "not_found", "no form webhook source by that name is configured", NULL,
                         NULL, req->corr);
        gw_webhook_count(gw, "unknown", "refused", "unknown_source");
        return true;
    }
    if (strcmp(req->method, "POST") != 0) {
        gw_respond_error(resp, 405, "method_not_allowed", "webhooks accept POST only", NULL, NULL, req->corr);
        resp->allow = "POST";
        gw_webhook_count(gw, src->name, "refused", "method");
        return true;
    }
    return false;
}

static void refuse(gw_t *gw, const gw_source_t *src, gw_request_t *req, gw_response_t *resp, int status,
                   const char *code, const char *reason, const char *details, const char *field)
{
    gw_respond_error(resp, status, code, details, status == 422 ? "lead" : NULL, field, req->corr);
    gw_webhook_count(gw, src->name, "refused", reason);
    crm_log_info(req->corr, "webhook.refused", "source=%s status=%d reason=%s", src->name, status, reason);
}

static void answer_delivery(gw_response_t *resp, int status, int64_t id)
{
    gw_respond_json(resp, status, json_pack("{s:{s:I}}", "data", "delivery_id", (json_int_t)id));
}

/* Policy step 7: a delivery id seen before → 200 with the first delivery's id. Returns 1 when
 * answered, 0 when new, -1 on a storage failure (answered 503). */
static int dedupe(gw_t *gw, const gw_source_t *src, gw_request_t *req, crm_db_t *db, const char *delivery_id,
                  gw_response_t *resp)
{
    if (!delivery_id)
        return 0;
    crm_err_t err;
    crm_err_clear(&err);
    int64_t first = 0;
    int rc = gw_store_delivery_find(db, src->name, delivery_id, &first, &err);
    if (rc == CRM_ENOTFOUND)
        return 0;
    if (rc != CRM_OK) {
        refuse(gw, src, req, resp, 503, "temporarily_unavailable", "storage",
               "storage unavailable, retry later", NULL);
        return -1;
    }
    answer_delivery(resp, 200, first);
    gw_webhook_count(gw, src->name, "duplicate", "seen");
    return 1;
}

/* Policy step 9: the delivery and its lead.captured event commit together, or not at all. */
static void store_and_announce(gw_t *gw, const gw_source_t *src, gw_request_t *req, crm_db_t *db,
                               const char *delivery_id, Crm__LeadCaptured *lc, gw_response_t *resp)
{
    crm_err_t err;
    crm_err_clear(&err);
    int64_t received_at = crm_now_us();
    int64_t id = 0;
    bool inserted = false;
    const char *ctype = gw_request_header(req, "Content-Type");
    if (crm_db_begin(db, &err) != CRM_OK)
        goto unavailable;
    if (gw_store_delivery_insert(db, src->name, delivery_id, ctype, req->body ? req->body : "", req->body_len,
                                 req->corr, received_at, &id, &inserted, &err) != CRM_OK)
        goto unavailable;
    if (!inserted) {
        /* Lost the race against a concurrent delivery with the same id (the unique index
         * decided): answer with the winner's id, store nothing. */
        crm_db_rollback(db);
        if (gw_store_delivery_find(db, src->name, delivery_id, &id, &err) != CRM_OK)
            goto unavailable;
        answer_delivery(resp, 200, id);
        gw_webhook_count(gw, src->name, "duplicate", "seen");
        return;
    }
    lc->has_delivery_id = true;
    lc->delivery_id = id;
    lc->source = (char *)src->name;
    lc->source_kind = (char *)src->kind;
    lc->has_received_at = true;
    lc->received_at = received_at;
    if (crm_outbox_append(gw->outbox, db, "lead.captured", req->corr, &lc->base, &err) != CRM_OK)
        goto unavailable;
    if (crm_db_commit(db, &err) != CRM_OK)
        goto unavailable;
    crm_outbox_kick(gw->outbox);
    answer_delivery(resp, 202, id);
    gw_webhook_count(gw, src->name, "accepted", "ok");
    crm_log_info(req->corr, "webhook.accepted", "source=%s delivery_id=%lld", src->name, (long long)id);
    return;
unavailable:
    crm_db_rollback(db);
    crm_log_warn(req->corr, "webhook.store_failed", "source=%s code=%s", src->name, crm_code_name(err.code));
    refuse(gw, src, req, resp, 503, "temporarily_unavailable", "storage",
           "the delivery could not be stored, retry later", NULL);
}

void gw_webhook_handle(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    const gw_source_t *src = gw_source_find(gw, source_segment(req->path));
    if (!src) { /* gw_webhook_precheck answers this; kept for callers that skip it */
        gw_respond_error(resp, 404, "not_found", "no form webhook source by that name is configured", NULL,
                         NULL, req->corr);
        return;
    }
    /* 2. size: the HTTP layer answers 413 before handing us a body over the limit. */
    if (req->body_len > gw->max_body) {
        refuse(gw, src, req, resp, 413, "request_too_large", "too_large", "the request body is too large",
               NULL);
        return;
    }
    /* 3. content type */
    const char *ctype = gw_request_header(req, "Content-Type");
    gw_form_type_t type = gw_form_content_type(ctype);
    if (type != GW_FORM_URLENCODED && type != GW_FORM_JSON) {
        char details[200];
        snprintf(
            details, sizeof details,
            "unsupported content type %.100s: send application/x-www-form-urlencoded or application/json",
            ctype ? ctype : "(none)");
        refuse(gw, src, req, resp, 415, "unsupported_media_type", "content_type", details, NULL);
        return;
    }
    /* 4. authentication: only sources declared unsigned are implemented so far; a source
     * declared signed never falls back to unsigned. */
    if (strcmp(src->signature, "none") != 0) {
        refuse(gw, src, req, resp, 401, "unauthorized", "signature",
               src->signature[0]
                   ? "this source's signature scheme is not supported: deliveries are refused"
                   : "the source does not declare `signature: none`, so unsigned deliveries are refused",
               NULL);
        return;
    }
    /* 5. parse (and 8. map and validate, reported after the dedupe below) */
    Crm__LeadCaptured lc = CRM__LEAD_CAPTURED__INIT;
    crm_err_t perr;
    crm_err_clear(&perr);
    int prc = gw_form_parse(type, req->body ? req->body : "", req->body_len, &lc, &perr);
    if (prc != CRM_OK && prc != CRM_EINVALID) {
        refuse(gw, src, req, resp, 400, "invalid_payload", "parse",
               perr.message[0] ? perr.message : "the body could not be parsed", NULL);
        gw_form_clear(&lc);
        return;
    }
    const char *delivery_id = gw_request_header(req, "X-Delivery-Id");
    if (delivery_id && (!delivery_id[0] || strlen(delivery_id) > MAX_DELIVERY_ID)) {
        refuse(gw, src, req, resp, 400, "invalid_header", "delivery_id",
               "X-Delivery-Id must hold 1 to 255 characters", NULL);
        gw_form_clear(&lc);
        return;
    }
    crm_err_t err;
    crm_err_clear(&err);
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        refuse(gw, src, req, resp, 503, "temporarily_unavailable", "storage",
               "storage unavailable, retry later", NULL);
        gw_form_clear(&lc);
        return;
    }
    /* 7. dedupe, before 8 so that a retried delivery is answered like the first time. */
    if (dedupe(gw, src, req, db, delivery_id, resp) != 0) {
        crm_db_pool_put(gw->db, db);
        gw_form_clear(&lc);
        return;
    }
    /* 8. map and validate: the HTML form source answers 422 naming the field. */
    if (prc == CRM_EINVALID) {
        crm_db_pool_put(gw->db, db);
        char reason[48];
        snprintf(reason, sizeof reason, "invalid_%s", perr.reason[0] ? perr.reason : "field");
        const char *code = NULL;
        gw_sell_status(&perr, &code);
        refuse(gw, src, req, resp, 422, code, reason, perr.message[0] ? perr.message : "invalid field",
               perr.field[0] ? perr.field : NULL);
        gw_form_clear(&lc);
        return;
    }
    /* 9. store and announce */
    store_and_announce(gw, src, req, db, delivery_id, &lc, resp);
    crm_db_pool_put(gw->db, db);
    lc.source = NULL;
    lc.source_kind = NULL;
    gw_form_clear(&lc);
}

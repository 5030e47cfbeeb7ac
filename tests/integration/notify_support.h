/* Helpers shared by the crm-notify integration tests (test_notify_*.c): users with their own
 * tokens, and events injected into a producer's outbox as that producer would write them (the
 * producer's relay then publishes them like any other). */
#ifndef NOTIFY_SUPPORT_H
#define NOTIFY_SUPPORT_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deals.pb-c.h"
#include "harness.h"

/* A sales user named tag with e-mail <tag>@example.com; fills a malloc'd token. */
static inline long long ns_user(harness_t *h, const char *tag, const char *role, char **token)
{
    char email[128];
    snprintf(email, sizeof email, "%s@example.com", tag);
    long long id =
        harness_create(h, "users", json_pack("{s:s,s:s,s:s}", "name", tag, "email", email, "role", role));
    cr_assert_gt(id, 0, "user %s created", tag);
    json_t *body = json_pack("{s:{s:I}}", "data", "user_id", (json_int_t)id);
    harness_resp_t *r = harness_api(h, "POST", "/v2/api_tokens", harness_admin_token(h), body);
    json_decref(body);
    cr_assert(r && r->status >= 200 && r->status < 300, "mint token: %s", r ? r->body : "");
    *token = strdup(json_string_value(json_object_get(json_object_get(r->json, "data"), "token")));
    harness_resp_destroy(&r);
    return id;
}

/* Appends a deal.stage_changed event to deals.outbox; returns its outbox id (> 0). */
static inline long long ns_stage_changed(harness_t *h, long long deal_id, long long owner_id,
                                         const char *name, const char *from, const char *to)
{
    Crm__Deal deal = CRM__DEAL__INIT;
    deal.has_id = deal.has_owner_id = deal.has_pipeline_id = deal.has_stage_id = 1;
    deal.id = deal_id;
    deal.owner_id = owner_id;
    deal.name = (char *)name;
    deal.pipeline_id = 1;
    deal.stage_id = 2;
    Crm__DealStageChanged sc = CRM__DEAL_STAGE_CHANGED__INIT;
    sc.has_deal_id = sc.has_pipeline_id = sc.has_previous_stage_id = sc.has_stage_id = 1;
    sc.deal_id = deal_id;
    sc.pipeline_id = 1;
    sc.previous_stage_id = 1;
    sc.stage_id = 2;
    sc.previous_stage_name = (char *)from;
    sc.stage_name = (char *)to;
    sc.category = (char *)"in_progress";
    sc.deal = &deal;
    size_t n = crm__deal_stage_changed__get_packed_size(&sc);
    unsigned char *buf = malloc(n);
    crm__deal_stage_changed__pack(&sc, buf);
    char *sql = malloc(2 * n + 256), *q = sql;
    q += sprintf(q, "INSERT INTO deals.outbox (event_id, type, payload) VALUES (gen_random_uuid(), "
                    "'deal.stage_changed', '\\x");
    for (size_t i = 0; i < n; i++)
        q += sprintf(q, "%02x", buf[i]);
    sprintf(q, "'::bytea) RETURNING id");
    long long id = harness_sql_long(h, sql);
    free(sql);
    free(buf);
    cr_assert_gt(id, 0, "deal.stage_changed appended to deals.outbox");
    return id;
}

typedef struct {
    const char *sql;
    long long want;
} ns_sql_wait_t;

static inline bool ns_sql_is(harness_t *h, void *arg)
{
    ns_sql_wait_t *w = arg;
    return harness_sql_long(h, w->sql) == w->want;
}

/* Waits until the first column of sql is want. */
static inline bool ns_wait_sql(harness_t *h, int ms, const char *sql, long long want)
{
    ns_sql_wait_t w = {sql, want};
    return harness_wait_until(h, harness_ms(ms), ns_sql_is, &w, sql);
}

/* data.<field> of a single-object reply. */
static inline json_t *ns_data(const harness_resp_t *r, const char *field)
{
    return json_object_get(json_object_get(r->json, "data"), field);
}

/* The first error's field ("/read") of a Sell error body, or "". */
static inline const char *ns_err_field(const harness_resp_t *r)
{
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
    const char *f = json_string_value(json_object_get(e, "field"));
    return f ? f : "";
}

#endif

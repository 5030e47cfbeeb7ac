/* crm-notify store: every SQL statement of the service, as named prepared statements. */
#include "notify.h"

#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static Crm__Notification *notification_from_row(const PGresult *res, int r);

int notify_store_list(crm_db_t *db, int64_t user_id, const Crm__NotificationListRequest *req,
                      Crm__NotificationList **out, crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    char b[3][24];
    const char *p[] = {crm_param_i64(b[0], true, user_id), crm_param_bool(req->has_read, req->read),
                       crm_param_i64(b[1], true, page.limit), crm_param_i64(b[2], true, page.offset)};
    /* Unread first, newest first within each (SPEC G1). */
    PGresult *res = crm_db_exec(db, "notifications_list",
                                "SELECT id, user_id, kind, resource_type, resource_id, message, read, " TS(
                                    "created_at") ", event_id FROM notifications WHERE user_id = $1 AND "
                                                  "($2::boolean IS NULL OR read = $2) "
                                                  "ORDER BY read, id DESC LIMIT $3 OFFSET $4",
                                4, p, err);
    if (!res)
        return err->code;
    Crm__NotificationList *list = (Crm__NotificationList *)crm_pb_new(&crm__notification_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = notification_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

/* --- settings ------------------------------------------------------------------------ */

const notify_kind_t notify_kinds[NOTIFY_KINDS] = {
    {"assigned", true, true},
    {"deal_stage_changed", true, false},
    {"lead_stale", true, false},
    {"task_due", true, true},
};

int notify_kind_index(const char *kind)
{
    for (int i = 0; i < NOTIFY_KINDS; i++)
        if (kind && strcmp(kind, notify_kinds[i].kind) == 0)
            return i;
    return -1;
}

/* The channels field of settings for kind i. */
static Crm__NotificationChannels **settings_slot(Crm__NotificationSettings *s, int i)
{
    switch (i) {
    case 0:
        return &s->assigned;
    case 1:
        return &s->deal_stage_changed;
    case 2:
        return &s->lead_stale;
    default:
        return &s->task_due;
    }
}

const Crm__NotificationChannels *notify_settings_channels(const Crm__NotificationSettings *s, int i)
{
    return *settings_slot((Crm__NotificationSettings *)s, i);
}

int notify_store_tell(crm_db_t *tx, int64_t user_id, const char *kind, const char *resource_type,
                      int64_t resource_id, const char *message, const char *key, bool *stored, bool *queued,
                      crm_err_t *err)
{
    *stored = *queued = false;
    int i = notify_kind_index(kind);
    if (i < 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "unknown notification kind %s", kind);
    char u[24], r[24];
    const char *p[] = {crm_param_i64(u, true, user_id),
                       kind,
                       resource_type,
                       crm_param_i64(r, resource_id > 0, resource_id),
                       message,
                       key,
                       notify_kinds[i].in_app ? "t" : "f",
                       notify_kinds[i].email ? "t" : "f"};
    PGresult *res = crm_db_exec(
        tx, "notify_tell",
        "WITH c AS (SELECT coalesce(s.in_app, $7::boolean) AS in_app, coalesce(s.email, $8::boolean) AS "
        "email "
        "FROM (SELECT 1) one LEFT JOIN notification_settings s ON s.user_id = $1::bigint AND s.kind = "
        "$2::text), "
        "n AS (INSERT INTO notifications (user_id, kind, resource_type, resource_id, message, event_id) "
        "SELECT $1::bigint, $2::text, $3::text, $4::bigint, $5::text, $6::text FROM c WHERE c.in_app "
        "ON CONFLICT (event_id, user_id) DO NOTHING RETURNING 1), "
        "m AS (INSERT INTO mail_outbox (user_id, kind, subject, body, event_id) "
        "SELECT $1::bigint, $2::text, $5::text, $5::text, $6::text FROM c WHERE c.email "
        "ON CONFLICT (event_id, user_id) DO NOTHING RETURNING 1) "
        "SELECT (SELECT count(*) FROM n) > 0, (SELECT count(*) FROM m) > 0",
        8, p, err);
    if (!res)
        return err->code;
    *stored = crm_db_bool(res, 0, 0);
    *queued = crm_db_bool(res, 0, 1);
    PQclear(res);
    return CRM_OK;
}

int notify_store_settings_get(crm_db_t *db, int64_t user_id, Crm__NotificationSettings **out, crm_err_t *err)
{
    *out = NULL;
    char u[24];
    const char *p[] = {crm_param_i64(u, true, user_id)};
    PGresult *res = crm_db_exec(
        db, "settings_get",
        "SELECT kind, in_app, email, " TS("updated_at") " FROM notification_settings "
                                                        "WHERE user_id = $1 ORDER BY updated_at DESC",
        1, p, err);
    if (!res)
        return err->code;
    Crm__NotificationSettings *s =
        (Crm__NotificationSettings *)crm_pb_new(&crm__notification_settings__descriptor);
    s->has_user_id = 1;
    s->user_id = user_id;
    for (int i = 0; i < NOTIFY_KINDS; i++) {
        Crm__NotificationChannels *c =
            (Crm__NotificationChannels *)crm_pb_new(&crm__notification_channels__descriptor);
        c->has_in_app = c->has_email = 1;
        c->in_app = notify_kinds[i].in_app;
        c->email = notify_kinds[i].email;
        *settings_slot(s, i) = c;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        int i = notify_kind_index(crm_db_str(res, r, 0));
        if (i < 0)
            continue;
        Crm__NotificationChannels *c = *settings_slot(s, i);
        c->in_app = crm_db_bool(res, r, 1);
        c->email = crm_db_bool(res, r, 2);
        if (!s->updated_at)
            s->updated_at = crm_row_str(res, r, 3); /* newest first */
    }
    PQclear(res);
    *out = s;
    return CRM_OK;
}

int notify_store_settings_update(crm_db_t *db, int64_t user_id, const Crm__NotificationSettings *in,
                                 Crm__NotificationSettings **out, crm_err_t *err)
{
    *out = NULL;
    if (crm_db_begin(db, err))
        return err->code;
    for (int i = 0; i < NOTIFY_KINDS; i++) {
        const Crm__NotificationChannels *c = notify_settings_channels(in, i);
        if (!c || (!c->has_in_app && !c->has_email))
            continue;
        char u[24];
        const char *p[] = {crm_param_i64(u, true, user_id),          notify_kinds[i].kind,
                           crm_param_bool(c->has_in_app, c->in_app), crm_param_bool(c->has_email, c->email),
                           notify_kinds[i].in_app ? "t" : "f",       notify_kinds[i].email ? "t" : "f"};
        if (crm_db_run(
                db, "settings_upsert",
                "INSERT INTO notification_settings (user_id, kind, in_app, email) "
                "VALUES ($1, $2, COALESCE($3::boolean, $5::boolean), COALESCE($4::boolean, $6::boolean)) "
                "ON CONFLICT (user_id, kind) DO UPDATE SET "
                "in_app = COALESCE($3::boolean, notification_settings.in_app), "
                "email = COALESCE($4::boolean, notification_settings.email), updated_at = now()",
                6, p, err)) {
            crm_db_rollback(db);
            return err->code;
        }
    }
    if (crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    return notify_store_settings_get(db, user_id, out, err);
}

/* --- inbox: read state ------------------------------------------------------------------ */

#define NOTIFICATION_COLS                                                                                    \
    "id, user_id, kind, resource_type, resource_id, message, read, " TS("created_at") ", event_id"

static Crm__Notification *notification_from_row(const PGresult *res, int r)
{
    Crm__Notification *m = (Crm__Notification *)crm_pb_new(&crm__notification__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    crm_row_i64(res, r, 1, &m->has_user_id, &m->user_id);
    m->kind = crm_row_str(res, r, 2);
    m->resource_type = crm_row_str(res, r, 3);
    crm_row_i64(res, r, 4, &m->has_resource_id, &m->resource_id);
    m->message = crm_row_str(res, r, 5);
    crm_row_bool(res, r, 6, &m->has_read, &m->read);
    m->created_at = crm_row_str(res, r, 7);
    m->event_id = crm_row_str(res, r, 8);
    return m;
}

int notify_store_set_read(crm_db_t *db, int64_t id, bool owner_any, int64_t user_id, bool read,
                          Crm__Notification **out, crm_err_t *err)
{
    *out = NULL;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, id), crm_param_i64(b[1], !owner_any, user_id),
                       read ? "t" : "f"};
    PGresult *res =
        crm_db_exec(db, "notifications_set_read",
                    "UPDATE notifications SET read = $3, "
                    "read_at = CASE WHEN $3 THEN COALESCE(read_at, now()) END "
                    "WHERE id = $1 AND ($2::bigint IS NULL OR user_id = $2) RETURNING " NOTIFICATION_COLS,
                    3, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such notification");
    }
    *out = notification_from_row(res, 0);
    PQclear(res);
    return CRM_OK;
}

int notify_store_read_all(crm_db_t *db, int64_t user_id, int64_t *updated, crm_err_t *err)
{
    char u[24];
    const char *p[] = {crm_param_i64(u, true, user_id)};
    PGresult *res = crm_db_exec(db, "notifications_read_all",
                                "UPDATE notifications SET read = true, read_at = now() "
                                "WHERE user_id = $1 AND NOT read",
                                1, p, err);
    if (!res)
        return err->code;
    *updated = atoll(PQcmdTuples(res));
    PQclear(res);
    return CRM_OK;
}

/* --- mail queue ------------------------------------------------------------------------- */

/* --- outbound webhooks ------------------------------------------------------------------- */

int notify_store_webhook_events(crm_db_t *tx, size_t n, char *const *event_ids, char *const *types,
                                char *const *occurred_at, char *const *bodies, int64_t *queued,
                                crm_err_t *err)
{
    *queued = 0;
    if (n == 0)
        return CRM_OK;
    char *arr[4] = {crm_param_text_array(event_ids, n), crm_param_text_array(types, n),
                    crm_param_text_array(occurred_at, n), crm_param_text_array(bodies, n)};
    const char *p[] = {arr[0], arr[1], arr[2], arr[3]};
    /* One statement for the batch: the events in the order they were applied (seq follows it), and
     * one delivery per active subscription that names an event's type (none for an event stored
     * before: a replayed event's deliveries exist already). */
    PGresult *res = crm_db_exec(
        tx, "webhook_events_add",
        "WITH e AS (INSERT INTO webhook_events (event_id, type, occurred_at, body) "
        "SELECT u.event_id, u.type, u.occurred_at, u.body "
        "FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) WITH ORDINALITY "
        "AS u (event_id, type, occurred_at, body, ord) ORDER BY u.ord "
        "ON CONFLICT (event_id) DO NOTHING RETURNING seq, type) "
        "INSERT INTO webhook_deliveries (subscription_id, event_seq) "
        "SELECT s.id, e.seq FROM e JOIN webhook_subscriptions s "
        "ON s.active AND (e.type = ANY (s.event_types) OR '*' = ANY (s.event_types)) ORDER BY e.seq, s.id "
        "ON CONFLICT (subscription_id, event_seq) DO NOTHING",
        4, p, err);
    for (int i = 0; i < 4; i++)
        free(arr[i]);
    if (!res)
        return err->code;
    *queued = atoll(PQcmdTuples(res));
    PQclear(res);
    return CRM_OK;
}

#define SUB_COLS                                                                                             \
    "id, url, to_json(event_types)::text, active, secondary_secret IS NOT NULL, created_by, " TS(            \
        "created_at") ", " TS("updated_at")

static Crm__WebhookSubscription *sub_from_row(const PGresult *res, int r)
{
    Crm__WebhookSubscription *s =
        (Crm__WebhookSubscription *)crm_pb_new(&crm__webhook_subscription__descriptor);
    crm_row_i64(res, r, 0, &s->has_id, &s->id);
    s->url = crm_row_str(res, r, 1);
    crm_row_str_array(res, r, 2, &s->n_event_types, &s->event_types);
    crm_row_bool(res, r, 3, &s->has_active, &s->active);
    crm_row_bool(res, r, 4, &s->has_secondary_secret_set, &s->secondary_secret_set);
    crm_row_i64(res, r, 5, &s->has_created_by, &s->created_by);
    s->created_at = crm_row_str(res, r, 6);
    s->updated_at = crm_row_str(res, r, 7);
    return s;
}

static int one_sub(PGresult *res, Crm__WebhookSubscription **out, crm_err_t *err)
{
    if (!res)
        return err->code;
    int rc = CRM_OK;
    if (PQntuples(res) == 1)
        *out = sub_from_row(res, 0);
    else
        rc = crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such webhook subscription");
    PQclear(res);
    return rc;
}

int notify_store_sub_create(crm_db_t *db, const Crm__WebhookSubscription *in, int64_t created_by,
                            Crm__WebhookSubscription **out, crm_err_t *err)
{
    *out = NULL;
    char *types = crm_param_text_array(in->event_types, in->n_event_types);
    char c[24];
    const char *p[] = {in->url,
                       types,
                       in->secret,
                       in->secondary_secret && *in->secondary_secret ? in->secondary_secret : NULL,
                       crm_param_bool(true, in->has_active ? in->active : true),
                       crm_param_i64(c, created_by > 0, created_by)};
    PGresult *res =
        crm_db_exec(db, "webhook_sub_create",
                    "INSERT INTO webhook_subscriptions (url, event_types, secret, secondary_secret, "
                    "active, created_by) VALUES ($1, $2::text[], $3, $4, $5, $6) RETURNING " SUB_COLS,
                    6, p, err);
    free(types);
    return one_sub(res, out, err);
}

int notify_store_sub_update(crm_db_t *db, const Crm__WebhookSubscription *in, Crm__WebhookSubscription **out,
                            crm_err_t *err)
{
    *out = NULL;
    char *types = in->n_event_types ? crm_param_text_array(in->event_types, in->n_event_types) : NULL;
    char id[24];
    const char *p[] = {crm_param_i64(id, true, in->id),
                       in->url,
                       types,
                       in->secret,
                       in->secondary_secret ? "t" : NULL,
                       in->secondary_secret && *in->secondary_secret ? in->secondary_secret : NULL,
                       crm_param_bool(in->has_active, in->active)};
    PGresult *res =
        crm_db_exec(db, "webhook_sub_update",
                    "UPDATE webhook_subscriptions SET url = COALESCE($2, url), "
                    "event_types = COALESCE($3::text[], event_types), secret = COALESCE($4, secret), "
                    "secondary_secret = CASE WHEN $5::boolean THEN $6 ELSE secondary_secret END, "
                    "active = COALESCE($7::boolean, active), updated_at = now() "
                    "WHERE id = $1 RETURNING " SUB_COLS,
                    7, p, err);
    free(types);
    return one_sub(res, out, err);
}

int notify_store_sub_get(crm_db_t *db, int64_t id, Crm__WebhookSubscription **out, crm_err_t *err)
{
    *out = NULL;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    return one_sub(crm_db_exec(db, "webhook_sub_get",
                               "SELECT " SUB_COLS " FROM webhook_subscriptions WHERE id = $1", 1, p, err),
                   out, err);
}

int notify_store_sub_delete(crm_db_t *db, int64_t id, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "webhook_sub_delete", "DELETE FROM webhook_subscriptions WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    bool gone = atoll(PQcmdTuples(res)) == 1;
    PQclear(res);
    return gone ? CRM_OK : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such webhook subscription");
}

int notify_store_sub_list(crm_db_t *db, const Crm__WebhookSubscriptionListRequest *req,
                          Crm__WebhookSubscriptionList **out, crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    static const char *const fields[] = {"id", "created_at", "updated_at", NULL};
    int sort;
    bool desc;
    if (crm_sort_parse(req->sort_by, fields, 0, false, &sort, &desc, err))
        return err->code;
    char sql[512], b[2][24];
    snprintf(sql, sizeof sql,
             "SELECT " SUB_COLS " FROM webhook_subscriptions ORDER BY %s %s, id LIMIT $1 OFFSET $2",
             fields[sort], desc ? "DESC" : "ASC");
    char name[48];
    snprintf(name, sizeof name, "webhook_sub_list_%d_%d", sort, desc);
    const char *p[] = {crm_param_i64(b[0], true, page.limit), crm_param_i64(b[1], true, page.offset)};
    PGresult *res = crm_db_exec(db, name, sql, 2, p, err);
    if (!res)
        return err->code;
    Crm__WebhookSubscriptionList *list =
        (Crm__WebhookSubscriptionList *)crm_pb_new(&crm__webhook_subscription_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = sub_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

#define DELIVERY_COLS                                                                                        \
    "d.id, d.subscription_id, e.event_id, e.type, d.status, d.attempts, d.last_status, d.last_error, " TS(   \
        "d.next_attempt_at") ", " TS("e.occurred_at") ", " TS("d.created_at") ", " TS("d.delivered_at")

static Crm__WebhookDelivery *delivery_from_row(const PGresult *res, int r)
{
    Crm__WebhookDelivery *d = (Crm__WebhookDelivery *)crm_pb_new(&crm__webhook_delivery__descriptor);
    crm_row_i64(res, r, 0, &d->has_id, &d->id);
    crm_row_i64(res, r, 1, &d->has_subscription_id, &d->subscription_id);
    d->event_id = crm_row_str(res, r, 2);
    d->event_type = crm_row_str(res, r, 3);
    d->status = crm_row_str(res, r, 4);
    crm_row_i32(res, r, 5, &d->has_attempts, &d->attempts);
    crm_row_i32(res, r, 6, &d->has_last_status, &d->last_status);
    d->last_error = crm_row_str(res, r, 7);
    d->next_attempt_at = crm_row_str(res, r, 8);
    d->occurred_at = crm_row_str(res, r, 9);
    d->created_at = crm_row_str(res, r, 10);
    d->delivered_at = crm_row_str(res, r, 11);
    return d;
}

int notify_store_deliveries_list(crm_db_t *db, const Crm__WebhookDeliveryListRequest *req,
                                 Crm__WebhookDeliveryList **out, crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    Crm__WebhookSubscription *sub = NULL;
    if (notify_store_sub_get(db, req->id, &sub, err))
        return err->code;
    protobuf_c_message_free_unpacked(&sub->base, NULL);
    char b[3][24];
    const char *p[] = {crm_param_i64(b[0], true, req->id), req->status, crm_param_i64(b[1], true, page.limit),
                       crm_param_i64(b[2], true, page.offset)};
    /* In event order, as they are sent. */
    PGresult *res =
        crm_db_exec(db, "webhook_deliveries_list",
                    "SELECT " DELIVERY_COLS " FROM webhook_deliveries d JOIN webhook_events e "
                    "ON e.seq = d.event_seq WHERE d.subscription_id = $1 "
                    "AND ($2::text IS NULL OR d.status = $2) ORDER BY d.event_seq, d.id LIMIT $3 OFFSET $4",
                    4, p, err);
    if (!res)
        return err->code;
    Crm__WebhookDeliveryList *list =
        (Crm__WebhookDeliveryList *)crm_pb_new(&crm__webhook_delivery_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = delivery_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

int notify_store_delivery_retry(crm_db_t *db, int64_t sub_id, int64_t delivery_id, Crm__WebhookDelivery **out,
                                crm_err_t *err)
{
    *out = NULL;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, sub_id), crm_param_i64(b[1], true, delivery_id)};
    PGresult *res =
        crm_db_exec(db, "webhook_delivery_retry",
                    "WITH u AS (UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), "
                    "window_start = now() WHERE subscription_id = $1 AND id = $2 RETURNING *) "
                    "SELECT " DELIVERY_COLS " FROM u d JOIN webhook_events e ON e.seq = d.event_seq",
                    2, p, err);
    if (!res)
        return err->code;
    int rc = CRM_OK;
    if (PQntuples(res) == 1)
        *out = delivery_from_row(res, 0);
    else
        rc = crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no such delivery of this subscription");
    PQclear(res);
    return rc;
}

int notify_store_replay(crm_db_t *db, int64_t sub_id, const char *from, const char *to, int64_t *queued,
                        crm_err_t *err)
{
    *queued = 0;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, sub_id), from, to};
    /* Existing deliveries go back to pending (same delivery id); events from before the subscription
     * get a delivery now. */
    PGresult *res = crm_db_exec(
        db, "webhook_replay",
        "INSERT INTO webhook_deliveries (subscription_id, event_seq) "
        "SELECT s.id, e.seq FROM webhook_subscriptions s JOIN webhook_events e "
        "ON e.type = ANY (s.event_types) OR '*' = ANY (s.event_types) "
        "WHERE s.id = $1 AND e.occurred_at >= $2::timestamptz AND e.occurred_at < $3::timestamptz "
        "ON CONFLICT (subscription_id, event_seq) DO UPDATE SET status = 'pending', "
        "next_attempt_at = now(), window_start = now()",
        3, p, err);
    if (!res)
        return err->code;
    *queued = atoll(PQcmdTuples(res));
    PQclear(res);
    return CRM_OK;
}

int notify_store_check_time(crm_db_t *db, const char *text, const char *field, crm_err_t *err)
{
    const char *p[] = {text};
    crm_err_t e2;
    PGresult *res = crm_db_exec(db, "check_time", "SELECT $1::timestamptz", 1, p, &e2);
    if (res) {
        PQclear(res);
        return CRM_OK;
    }
    if (strncmp(crm_db_last_sqlstate(db), "22", 2) == 0)
        return crm_err_add(err, CRM_EINVALID, field, "invalid", "%s is not a time (ISO 8601 expected)",
                           field + 1);
    *err = e2;
    return err->code;
}

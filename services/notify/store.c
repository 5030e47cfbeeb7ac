/* crm-notify store: every SQL statement of the service, as named prepared statements. */
#include "notify.h"

#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

int notify_store_add(crm_db_t *tx, int64_t user_id, const char *kind, const char *resource_type,
                     int64_t resource_id, const char *message, const char *event_id, bool *created,
                     crm_err_t *err)
{
    char u[24], r[24];
    const char *p[] = {crm_param_i64(u, true, user_id),     kind,    resource_type,
                       crm_param_i64(r, true, resource_id), message, event_id};
    PGresult *res =
        crm_db_exec(tx, "notifications_add",
                    "INSERT INTO notifications (user_id, kind, resource_type, resource_id, message, "
                    "event_id) VALUES ($1, $2, $3, $4, $5, $6) "
                    "ON CONFLICT (event_id, user_id) DO NOTHING RETURNING id",
                    6, p, err);
    if (!res)
        return err->code;
    *created = PQntuples(res) == 1;
    PQclear(res);
    return CRM_OK;
}

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

int notify_store_prefs(crm_db_t *db, int64_t user_id, const char *kind, bool *in_app, bool *email,
                       crm_err_t *err)
{
    int i = notify_kind_index(kind);
    if (i < 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "unknown notification kind %s", kind);
    *in_app = notify_kinds[i].in_app;
    *email = notify_kinds[i].email;
    char u[24];
    const char *p[] = {crm_param_i64(u, true, user_id), kind};
    PGresult *res = crm_db_exec(
        db, "settings_prefs",
        "SELECT in_app, email FROM notification_settings WHERE user_id = $1 AND kind = $2", 2, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1) {
        *in_app = crm_db_bool(res, 0, 0);
        *email = crm_db_bool(res, 0, 1);
    }
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

int notify_store_mail_add(crm_db_t *tx, int64_t user_id, const char *kind, const char *subject,
                          const char *body, const char *event_id, bool *created, crm_err_t *err)
{
    char u[24];
    const char *p[] = {crm_param_i64(u, true, user_id), kind, subject, body, event_id};
    PGresult *res =
        crm_db_exec(tx, "mail_add",
                    "INSERT INTO mail_outbox (user_id, kind, subject, body, event_id) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id, user_id) DO NOTHING RETURNING id",
                    5, p, err);
    if (!res)
        return err->code;
    *created = PQntuples(res) == 1;
    PQclear(res);
    return CRM_OK;
}

/* crm-notify store: every SQL statement of the service, as named prepared statements. */
#include "notify.h"

#include <stdlib.h>

#include "crm/pbjson.h"
#include "crm/row.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

int notify_store_add(crm_db_t *tx, int64_t user_id, const char *kind, const char *resource_type, int64_t resource_id,
                     const char *message, const char *event_id, bool *created, crm_err_t *err)
{
    char u[24], r[24];
    const char *p[] = {crm_param_i64(u, true, user_id), kind, resource_type, crm_param_i64(r, true, resource_id),
                       message, event_id};
    PGresult *res = crm_db_exec(tx, "notifications_add",
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
                                "SELECT id, user_id, kind, resource_type, resource_id, message, read, " TS("created_at")
                                ", event_id FROM notifications WHERE user_id = $1 AND ($2::boolean IS NULL OR read = $2) "
                                "ORDER BY read, id DESC LIMIT $3 OFFSET $4",
                                4, p, err);
    if (!res)
        return err->code;
    Crm__NotificationList *list = (Crm__NotificationList *)crm_pb_new(&crm__notification_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++) {
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
        list->items[list->n_items++] = m;
    }
    PQclear(res);
    *out = list;
    return CRM_OK;
}

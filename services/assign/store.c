/* crm-assign store: every SQL statement of the service, as named prepared statements. */
#include "assign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define USER_COLS "id, name, email, role, status, " TS("created_at") ", " TS("updated_at")

static Crm__User *user_from_row(const PGresult *res, int r)
{
    Crm__User *u = (Crm__User *)crm_pb_new(&crm__user__descriptor);
    crm_row_i64(res, r, 0, &u->has_id, &u->id);
    u->name = crm_row_str(res, r, 1);
    u->email = crm_row_str(res, r, 2);
    u->role = crm_row_str(res, r, 3);
    u->status = crm_row_str(res, r, 4);
    u->created_at = crm_row_str(res, r, 5);
    u->updated_at = crm_row_str(res, r, 6);
    return u;
}

static bool plausible_email(const char *e)
{
    const char *at = strchr(e, '@');
    return at && at != e && at[1] && !strchr(at + 1, '@') && strchr(at + 1, '.') && !strpbrk(e, " \t\r\n") &&
           strlen(e) <= 254;
}

static bool blank(const char *s)
{
    return !s || !*s || strspn(s, " \t\r\n") == strlen(s);
}

static int one_user(PGresult *res, Crm__User **out, crm_err_t *err, const char *what)
{
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? user_from_row(res, 0) : NULL;
    PQclear(res);
    if (!*out)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "user %s not found", what);
    return CRM_OK;
}

int assign_store_user_create(crm_db_t *db, const Crm__User *in, Crm__User **out, crm_err_t *err)
{
    *out = NULL;
    if (blank(in->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "missing", "name is required");
    if (blank(in->email))
        return crm_err_set(err, CRM_EINVALID, "/email", "missing", "email is required");
    if (!plausible_email(in->email))
        return crm_err_set(err, CRM_EINVALID, "/email", "incorrect_value", "email is not a valid address");
    const char *role = in->role ? in->role : "sales";
    if (strcmp(role, "admin") && strcmp(role, "manager") && strcmp(role, "sales"))
        return crm_err_set(err, CRM_EINVALID, "/role", "incorrect_value",
                           "role must be admin, manager or sales");
    const char *status = in->status ? in->status : "active";
    if (strcmp(status, "active") && strcmp(status, "inactive"))
        return crm_err_set(err, CRM_EINVALID, "/status", "incorrect_value",
                           "status must be active or inactive");
    const char *p[] = {in->name, in->email, role, status};
    PGresult *res = crm_db_exec(db, "users_create",
                                "INSERT INTO users (name, email, role, status) VALUES ($1, $2, $3, $4) "
                                "RETURNING " USER_COLS,
                                4, p, err);
    if (!res && err->code == CRM_ECONFLICT)
        return crm_err_set(err, CRM_EINVALID, "/email", "already_exists",
                           "a user with this email already exists");
    return one_user(res, out, err, in->email);
}

int assign_store_user_bootstrap(crm_db_t *db, const char *name, const char *email, Crm__User **out,
                                crm_err_t *err)
{
    /* Idempotent by e-mail, so any number of gateway instances may ask at once. */
    const char *p[] = {name, email};
    PGresult *res = crm_db_exec(db, "users_bootstrap",
                                "INSERT INTO users (name, email, role) VALUES ($1, $2, 'admin') "
                                "ON CONFLICT (lower(email)) DO UPDATE SET updated_at = users.updated_at "
                                "RETURNING " USER_COLS,
                                2, p, err);
    return one_user(res, out, err, email);
}

int assign_store_user_update(crm_db_t *db, int64_t caller_id, const Crm__User *in, Crm__User **out,
                             crm_err_t *err)
{
    *out = NULL;
    if (in->name && blank(in->name))
        crm_err_add(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    if (in->email && !plausible_email(in->email))
        crm_err_add(err, CRM_EINVALID, "/email", "incorrect_value", "email is not a valid address");
    if (in->role && strcmp(in->role, "admin") && strcmp(in->role, "manager") && strcmp(in->role, "sales"))
        crm_err_add(err, CRM_EINVALID, "/role", "incorrect_value", "role must be admin, manager or sales");
    if (in->status && strcmp(in->status, "active") && strcmp(in->status, "inactive"))
        crm_err_add(err, CRM_EINVALID, "/status", "incorrect_value", "status must be active or inactive");
    if (err->code == CRM_OK && in->id == caller_id && in->status && strcmp(in->status, "inactive") == 0)
        crm_err_add(err, CRM_EINVALID, "/status", "incorrect_value", "you cannot deactivate yourself");
    if (err->code == CRM_OK && in->id == caller_id && in->role && strcmp(in->role, "admin") != 0)
        crm_err_add(err, CRM_EINVALID, "/role", "incorrect_value",
                    "you cannot take the admin role from yourself");
    if (err->code != CRM_OK)
        return err->code;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, in->id), in->name, in->email, in->role, in->status};
    PGresult *res =
        crm_db_exec(db, "users_update",
                    "UPDATE users SET name = coalesce($2, name), email = coalesce($3, email), "
                    "role = coalesce($4, role), status = coalesce($5, status), updated_at = now() "
                    "WHERE id = $1 RETURNING " USER_COLS,
                    5, p, err);
    if (!res && err->code == CRM_ECONFLICT)
        return crm_err_set(err, CRM_EINVALID, "/email", "already_exists",
                           "a user with this email already exists");
    return one_user(res, out, err, b);
}

int assign_store_user_get(crm_db_t *db, int64_t id, Crm__User **out, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res = crm_db_exec(db, "users_get", "SELECT " USER_COLS " FROM users WHERE id = $1", 1, p, err);
    return one_user(res, out, err, b);
}

static const char *const user_sort[] = {"id", "name", "email", "created_at", "updated_at", NULL};

int assign_store_user_list(crm_db_t *db, const Crm__UserListRequest *req, Crm__UserList **out, crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, user_sort, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[2][24];
    const char *p[] = {req->name,
                       req->email,
                       req->role,
                       req->status,
                       ids,
                       crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    char name[64], sql[1024];
    snprintf(name, sizeof name, "users_list_%s_%s", user_sort[sort], desc ? "desc" : "asc");
    snprintf(sql, sizeof sql,
             "SELECT " USER_COLS " FROM users WHERE ($1::text IS NULL OR name = $1) "
             "AND ($2::text IS NULL OR lower(email) = lower($2)) AND ($3::text IS NULL OR role = $3) "
             "AND ($4::text IS NULL OR status = $4) AND ($5::bigint[] IS NULL OR id = ANY ($5)) "
             "ORDER BY %s %s, id LIMIT $6 OFFSET $7",
             user_sort[sort], desc ? "DESC" : "ASC");
    PGresult *res = crm_db_exec(db, name, sql, 7, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__UserList *list = (Crm__UserList *)crm_pb_new(&crm__user_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = user_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

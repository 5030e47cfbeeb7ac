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
#define POOL_COLS                                                                                            \
    "p.id, p.name, p.resource_type, p.is_default, " TS("p.created_at") ", " TS(                              \
        "p.updated_at") ", "                                                                                 \
                        "(SELECT coalesce(json_agg(m.user_id ORDER BY m.position), '[]')::text FROM "        \
                        "pool_members m "                                                                    \
                        "WHERE m.pool_id = p.id)"

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

static Crm__DistributionPool *pool_from_row(const PGresult *res, int r)
{
    Crm__DistributionPool *p = (Crm__DistributionPool *)crm_pb_new(&crm__distribution_pool__descriptor);
    crm_row_i64(res, r, 0, &p->has_id, &p->id);
    p->name = crm_row_str(res, r, 1);
    p->resource_type = crm_row_str(res, r, 2);
    crm_row_bool(res, r, 3, &p->has_default_, &p->default_);
    p->created_at = crm_row_str(res, r, 4);
    p->updated_at = crm_row_str(res, r, 5);
    /* user_ids arrive as a JSON array of integers, in turn order. */
    const char *s = PQgetvalue(res, r, 6);
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    p->user_ids = calloc(cap, sizeof *p->user_ids);
    while (*s) {
        if (*s >= '0' && *s <= '9') {
            char *end;
            p->user_ids[p->n_user_ids++] = strtoll(s, &end, 10);
            s = end;
        } else {
            s++;
        }
    }
    return p;
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

static int check_members(crm_db_t *db, const Crm__DistributionPool *in, crm_err_t *err)
{
    for (size_t i = 0; i < in->n_user_ids; i++) {
        for (size_t j = 0; j < i; j++)
            if (in->user_ids[j] == in->user_ids[i])
                return crm_err_set(err, CRM_EINVALID, "/user_ids", "incorrect_value",
                                   "user %lld is listed twice", (long long)in->user_ids[i]);
        char b[24];
        const char *p[] = {crm_param_i64(b, true, in->user_ids[i])};
        PGresult *res =
            crm_db_exec(db, "users_is_active", "SELECT status FROM users WHERE id = $1", 1, p, err);
        if (!res)
            return err->code;
        bool active = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "active") == 0;
        PQclear(res);
        if (!active)
            return crm_err_set(err, CRM_EINVALID, "/user_ids", "incorrect_value",
                               "user %lld does not exist or is not active", (long long)in->user_ids[i]);
    }
    return CRM_OK;
}

static int insert_pool(crm_db_t *db, const Crm__DistributionPool *in, char id[24], crm_err_t *err)
{
    bool is_default = in->has_default_ && in->default_;
    if (is_default) {
        /* One default pool per record type: the new one replaces the old as default. */
        const char *p[] = {in->resource_type};
        if (crm_db_run(db, "pools_undefault",
                       "UPDATE pools SET is_default = false, updated_at = now() "
                       "WHERE resource_type = $1 AND is_default",
                       1, p, err))
            return err->code;
    }
    const char *p[] = {in->name, in->resource_type, crm_param_bool(true, is_default)};
    PGresult *res = crm_db_exec(
        db, "pools_insert",
        "INSERT INTO pools (name, resource_type, is_default) VALUES ($1, $2, $3) RETURNING id", 3, p, err);
    if (!res)
        return err->code;
    snprintf(id, 24, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    for (size_t i = 0; i < in->n_user_ids; i++) {
        char uid[24], pos[24];
        const char *mp[] = {id, crm_param_i64(uid, true, in->user_ids[i]),
                            crm_param_i64(pos, true, (int64_t)i + 1)};
        if (crm_db_run(db, "pools_member_add",
                       "INSERT INTO pool_members (pool_id, user_id, position) VALUES ($1, $2, $3)", 3, mp,
                       err))
            return err->code;
    }
    return CRM_OK;
}

int assign_store_pool_create(crm_db_t *db, const Crm__DistributionPool *in, Crm__DistributionPool **out,
                             crm_err_t *err)
{
    *out = NULL;
    if (blank(in->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "missing", "name is required");
    if (!in->resource_type)
        return crm_err_set(err, CRM_EINVALID, "/resource_type", "missing", "resource_type is required");
    if (strcmp(in->resource_type, "lead") && strcmp(in->resource_type, "contact") &&
        strcmp(in->resource_type, "deal"))
        return crm_err_set(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                           "resource_type must be lead, contact or deal");
    if (crm_db_begin(db, err))
        return err->code;
    char id[24];
    if (check_members(db, in, err) || insert_pool(db, in, id, err) || crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    int64_t pid = 0;
    crm_parse_i64(id, &pid);
    return assign_store_pool_get(db, pid, out, err);
}

int assign_store_pool_get(crm_db_t *db, int64_t id, Crm__DistributionPool **out, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "pools_get", "SELECT " POOL_COLS " FROM pools p WHERE p.id = $1", 1, p, err);
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? pool_from_row(res, 0) : NULL;
    PQclear(res);
    if (!*out)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "distribution pool %s not found", b);
    return CRM_OK;
}

int assign_store_pool_list(crm_db_t *db, const Crm__PoolListRequest *req, Crm__PoolList **out, crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[2][24];
    const char *p[] = {req->resource_type, ids, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    PGresult *res =
        crm_db_exec(db, "pools_list",
                    "SELECT " POOL_COLS " FROM pools p WHERE ($1::text IS NULL OR p.resource_type = $1) "
                    "AND ($2::bigint[] IS NULL OR p.id = ANY ($2)) ORDER BY p.id LIMIT $3 OFFSET $4",
                    4, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__PoolList *list = (Crm__PoolList *)crm_pb_new(&crm__pool_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = pool_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

int assign_store_round_robin(crm_db_t *tx, const char *resource_type, int64_t resource_id,
                             const char *cause_event_id, int64_t *owner_id, int64_t *pool_id,
                             int64_t *assignment_id, crm_err_t *err)
{
    *owner_id = *pool_id = *assignment_id = 0;
    const char *tp[] = {resource_type};
    /* The pool row lock serialises turns across every path and instance (SPEC B2). */
    PGresult *res = crm_db_exec(
        tx, "rr_lock_pool",
        "SELECT id, last_position FROM pools WHERE resource_type = $1 AND is_default FOR UPDATE", 1, tp, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return CRM_OK;
    }
    char pid[24], last[24];
    snprintf(pid, sizeof pid, "%s", PQgetvalue(res, 0, 0));
    snprintf(last, sizeof last, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    /* The next active member after the last turn, wrapping round to the first. */
    const char *np[] = {pid, last};
    res = crm_db_exec(
        tx, "rr_next_member",
        "SELECT m.user_id, m.position FROM pool_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.pool_id = $1 AND u.status = 'active' ORDER BY (m.position <= $2), m.position LIMIT 1",
        2, np, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return CRM_OK;
    }
    char uid[24], pos[24];
    snprintf(uid, sizeof uid, "%s", PQgetvalue(res, 0, 0));
    snprintf(pos, sizeof pos, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    const char *up[] = {pid, pos};
    if (crm_db_run(tx, "rr_move_cursor", "UPDATE pools SET last_position = $2 WHERE id = $1", 2, up, err))
        return err->code;
    char rid[24], why[160];
    snprintf(why, sizeof why, "round robin in default %s pool %s: member at position %s", resource_type, pid,
             pos);
    const char *ap[] = {resource_type, crm_param_i64(rid, true, resource_id), uid, pid, cause_event_id, why};
    res =
        crm_db_exec(tx, "rr_record",
                    "INSERT INTO assignments (resource_type, resource_id, owner_id, pool_id, cause_event_id, "
                    "explanation) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    6, ap, err);
    if (!res)
        return err->code;
    crm_parse_i64(PQgetvalue(res, 0, 0), assignment_id);
    PQclear(res);
    crm_parse_i64(uid, owner_id);
    crm_parse_i64(pid, pool_id);
    return CRM_OK;
}

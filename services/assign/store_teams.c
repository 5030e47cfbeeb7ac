/* crm-assign store: teams (members in order, an optional manager) and the account record. */
#include "assign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define TEAM_COLS                                                                                            \
    "t.id, t.name, t.manager_id, " TS("t.created_at") ", " TS(                                               \
        "t.updated_at") ", "                                                                                 \
                        "(SELECT coalesce(string_agg(m.user_id::text, ',' ORDER BY m.position), '') FROM "   \
                        "team_members m "                                                                    \
                        "WHERE m.team_id = t.id)"

/* Parses "1,2,3" into a malloc'd int64 array. */
static void parse_csv_ids(const char *s, int64_t **out, size_t *n)
{
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    *out = calloc(cap, sizeof **out);
    *n = 0;
    while (*s) {
        if (*s >= '0' && *s <= '9') {
            char *end;
            (*out)[(*n)++] = strtoll(s, &end, 10);
            s = end;
        } else {
            s++;
        }
    }
}

static Crm__Team *team_from_row(const PGresult *res, int r)
{
    Crm__Team *t = (Crm__Team *)crm_pb_new(&crm__team__descriptor);
    crm_row_i64(res, r, 0, &t->has_id, &t->id);
    t->name = crm_row_str(res, r, 1);
    crm_row_i64(res, r, 2, &t->has_manager_id, &t->manager_id);
    t->created_at = crm_row_str(res, r, 3);
    t->updated_at = crm_row_str(res, r, 4);
    parse_csv_ids(PQgetvalue(res, r, 5), &t->user_ids, &t->n_user_ids);
    return t;
}

static bool blank(const char *s)
{
    return !s || !*s || strspn(s, " \t\r\n") == strlen(s);
}

static int user_exists(crm_db_t *db, int64_t id, bool *exists, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res = crm_db_exec(db, "teams_user_exists", "SELECT 1 FROM users WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    *exists = PQntuples(res) == 1;
    PQclear(res);
    return CRM_OK;
}

/* Checks name, manager and members; every problem is reported (several field errors). */
static int check_team(crm_db_t *db, const Crm__Team *in, bool create, crm_err_t *err)
{
    if ((create || in->name) && blank(in->name))
        crm_err_add(err, CRM_EINVALID, "/name", create && !in->name ? "missing" : "blank",
                    "name is required");
    if (in->has_manager_id && in->manager_id != 0) {
        bool ok = false;
        if (user_exists(db, in->manager_id, &ok, err) != CRM_OK)
            return err->code;
        if (!ok)
            crm_err_add(err, CRM_EINVALID, "/manager_id", "incorrect_value", "user %lld does not exist",
                        (long long)in->manager_id);
    }
    for (size_t i = 0; i < in->n_user_ids; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || in->user_ids[j] == in->user_ids[i];
        if (dup) {
            crm_err_add(err, CRM_EINVALID, "/user_ids", "incorrect_value", "user %lld is listed twice",
                        (long long)in->user_ids[i]);
            continue;
        }
        bool ok = false;
        if (user_exists(db, in->user_ids[i], &ok, err) != CRM_OK)
            return err->code;
        if (!ok)
            crm_err_add(err, CRM_EINVALID, "/user_ids", "incorrect_value", "user %lld does not exist",
                        (long long)in->user_ids[i]);
    }
    return err->code;
}

static int set_members(crm_db_t *db, const char *id, const Crm__Team *in, crm_err_t *err)
{
    const char *p[] = {id};
    if (crm_db_run(db, "teams_members_clear", "DELETE FROM team_members WHERE team_id = $1", 1, p, err))
        return err->code;
    for (size_t i = 0; i < in->n_user_ids; i++) {
        char uid[24], pos[24];
        const char *mp[] = {id, crm_param_i64(uid, true, in->user_ids[i]),
                            crm_param_i64(pos, true, (int64_t)i + 1)};
        if (crm_db_run(db, "teams_member_add",
                       "INSERT INTO team_members (team_id, user_id, position) VALUES ($1, $2, $3)", 3, mp,
                       err))
            return err->code;
    }
    return CRM_OK;
}

static int name_conflict(crm_err_t *err)
{
    return crm_err_set(err, CRM_EINVALID, "/name", "already_exists", "a team with this name already exists");
}

int assign_store_team_create(crm_db_t *db, const Crm__Team *in, Crm__Team **out, crm_err_t *err)
{
    *out = NULL;
    if (crm_db_begin(db, err))
        return err->code;
    if (check_team(db, in, true, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    char mb[24];
    const char *p[] = {in->name, crm_param_i64(mb, in->has_manager_id && in->manager_id, in->manager_id)};
    PGresult *res = crm_db_exec(
        db, "teams_insert", "INSERT INTO teams (name, manager_id) VALUES ($1, $2) RETURNING id", 2, p, err);
    if (!res) {
        crm_db_rollback(db);
        return err->code == CRM_ECONFLICT ? name_conflict(err) : err->code;
    }
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (set_members(db, id, in, err) || crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    int64_t tid = 0;
    crm_parse_i64(id, &tid);
    return assign_store_team_get(db, tid, out, err);
}

int assign_store_team_update(crm_db_t *db, const Crm__Team *in, Crm__Team **out, crm_err_t *err)
{
    *out = NULL;
    if (crm_db_begin(db, err))
        return err->code;
    if (check_team(db, in, false, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    char ib[24], mb[24];
    /* manager_id 0 clears the manager; absent keeps it. */
    const char *p[] = {crm_param_i64(ib, true, in->id), in->name,
                       crm_param_i64(mb, in->has_manager_id, in->manager_id),
                       crm_param_bool(true, in->has_manager_id)};
    PGresult *res =
        crm_db_exec(db, "teams_update",
                    "UPDATE teams SET name = coalesce($2, name), "
                    "manager_id = CASE WHEN $4::boolean THEN nullif($3::bigint, 0) ELSE manager_id END, "
                    "updated_at = now() WHERE id = $1 RETURNING id",
                    4, p, err);
    if (!res) {
        crm_db_rollback(db);
        return err->code == CRM_ECONFLICT ? name_conflict(err) : err->code;
    }
    bool found = PQntuples(res) == 1;
    PQclear(res);
    if (!found) {
        crm_db_rollback(db);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "team %s not found", ib);
    }
    /* A non-empty user_ids replaces the members (in that order); an absent or empty one keeps
     * them (pbjson cannot tell the two apart; delete the team to drop every member). */
    if (in->n_user_ids > 0 && set_members(db, ib, in, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    if (crm_db_commit(db, err))
        return err->code;
    return assign_store_team_get(db, in->id, out, err);
}

int assign_store_team_delete(crm_db_t *db, int64_t id, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "teams_delete", "DELETE FROM teams WHERE id = $1 RETURNING id", 1, p, err);
    if (!res)
        return err->code;
    bool found = PQntuples(res) == 1;
    PQclear(res);
    return found ? CRM_OK : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "team %s not found", b);
}

int assign_store_team_get(crm_db_t *db, int64_t id, Crm__Team **out, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "teams_get", "SELECT " TEAM_COLS " FROM teams t WHERE t.id = $1", 1, p, err);
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? team_from_row(res, 0) : NULL;
    PQclear(res);
    if (!*out)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "team %s not found", b);
    return CRM_OK;
}

static const char *const team_sort[] = {"id", "name", "created_at", "updated_at", NULL};

int assign_store_team_list(crm_db_t *db, const Crm__TeamListRequest *req, Crm__TeamList **out, crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, team_sort, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[2][24];
    const char *p[] = {req->name, ids, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    char name[64], sql[1024];
    snprintf(name, sizeof name, "teams_list_%s_%s", team_sort[sort], desc ? "desc" : "asc");
    snprintf(sql, sizeof sql,
             "SELECT " TEAM_COLS " FROM teams t WHERE ($1::text IS NULL OR lower(t.name) = lower($1)) "
             "AND ($2::bigint[] IS NULL OR t.id = ANY ($2)) ORDER BY t.%s %s, t.id LIMIT $3 OFFSET $4",
             team_sort[sort], desc ? "DESC" : "ASC");
    PGresult *res = crm_db_exec(db, name, sql, 4, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__TeamList *list = (Crm__TeamList *)crm_pb_new(&crm__team_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = team_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

int assign_store_account_get(crm_db_t *db, Crm__Account **out, crm_err_t *err)
{
    *out = NULL;
    PGresult *res = crm_db_exec(db, "account_get",
                                "SELECT id, name, currency, time_format, timezone, " TS("created_at") ", " TS(
                                    "updated_at") " FROM account WHERE id = 1",
                                0, NULL, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1) {
        Crm__Account *a = (Crm__Account *)crm_pb_new(&crm__account__descriptor);
        crm_row_i64(res, 0, 0, &a->has_id, &a->id);
        a->name = crm_row_str(res, 0, 1);
        a->currency = crm_row_str(res, 0, 2);
        a->time_format = crm_row_str(res, 0, 3);
        a->timezone = crm_row_str(res, 0, 4);
        a->created_at = crm_row_str(res, 0, 5);
        a->updated_at = crm_row_str(res, 0, 6);
        *out = a;
    }
    PQclear(res);
    return *out ? CRM_OK : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "no account");
}

/* crm-deals store: every SQL statement of the service, as named prepared statements. */
#include "deals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

int deals_store_pipeline_list(crm_db_t *db, const Crm__PipelineListRequest *req, Crm__PipelineList **out,
                              crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[2][24];
    const char *p[] = {ids, crm_param_i64(b[0], true, page.limit), crm_param_i64(b[1], true, page.offset)};
    PGresult *res =
        crm_db_exec(db, "pipelines_list",
                    "SELECT id, name, disabled, " TS("created_at") ", " TS(
                        "updated_at") " FROM pipelines WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) "
                                      "ORDER BY id LIMIT $2 OFFSET $3",
                    3, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__PipelineList *list = (Crm__PipelineList *)crm_pb_new(&crm__pipeline_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++) {
        Crm__Pipeline *m = (Crm__Pipeline *)crm_pb_new(&crm__pipeline__descriptor);
        crm_row_i64(res, r, 0, &m->has_id, &m->id);
        m->name = crm_row_str(res, r, 1);
        crm_row_bool(res, r, 2, &m->has_disabled, &m->disabled);
        m->created_at = crm_row_str(res, r, 3);
        m->updated_at = crm_row_str(res, r, 4);
        list->items[list->n_items++] = m;
    }
    PQclear(res);
    *out = list;
    return CRM_OK;
}

int deals_store_stage_list(crm_db_t *db, const Crm__StageListRequest *req, Crm__StageList **out,
                           crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[3][24];
    const char *p[] = {ids, crm_param_i64(b[0], req->has_pipeline_id, req->pipeline_id),
                       crm_param_i64(b[1], true, page.limit), crm_param_i64(b[2], true, page.offset)};
    PGresult *res = crm_db_exec(
        db, "stages_list",
        "SELECT id, name, category, position, likelihood, active, pipeline_id, " TS("created_at") ", " TS(
            "updated_at") " FROM stages "
                          "WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) AND ($2::bigint IS NULL OR "
                          "pipeline_id = $2) "
                          "ORDER BY pipeline_id, position LIMIT $3 OFFSET $4",
        4, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__StageList *list = (Crm__StageList *)crm_pb_new(&crm__stage_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++) {
        Crm__Stage *m = (Crm__Stage *)crm_pb_new(&crm__stage__descriptor);
        crm_row_i64(res, r, 0, &m->has_id, &m->id);
        m->name = crm_row_str(res, r, 1);
        m->category = crm_row_str(res, r, 2);
        crm_row_i32(res, r, 3, &m->has_position, &m->position);
        crm_row_i32(res, r, 4, &m->has_likelihood, &m->likelihood);
        crm_row_bool(res, r, 5, &m->has_active, &m->active);
        crm_row_i64(res, r, 6, &m->has_pipeline_id, &m->pipeline_id);
        m->created_at = crm_row_str(res, r, 7);
        m->updated_at = crm_row_str(res, r, 8);
        list->items[list->n_items++] = m;
    }
    PQclear(res);
    *out = list;
    return CRM_OK;
}

/* ---- pipelines and stages: retrieve and the admin writes (E2, E3) ---------------------------- */

#define PIPELINE_COLS "id, name, disabled, " TS("created_at") ", " TS("updated_at")
#define STAGE_COLS                                                                                           \
    "id, name, category, position, likelihood, active, pipeline_id, " TS("created_at") ", " TS("updated_at")

static Crm__Pipeline *pipeline_from_row(const PGresult *res, int r)
{
    Crm__Pipeline *m = (Crm__Pipeline *)crm_pb_new(&crm__pipeline__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    m->name = crm_row_str(res, r, 1);
    crm_row_bool(res, r, 2, &m->has_disabled, &m->disabled);
    m->created_at = crm_row_str(res, r, 3);
    m->updated_at = crm_row_str(res, r, 4);
    return m;
}

static Crm__Stage *stage_from_row(const PGresult *res, int r)
{
    Crm__Stage *m = (Crm__Stage *)crm_pb_new(&crm__stage__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    m->name = crm_row_str(res, r, 1);
    m->category = crm_row_str(res, r, 2);
    crm_row_i32(res, r, 3, &m->has_position, &m->position);
    crm_row_i32(res, r, 4, &m->has_likelihood, &m->likelihood);
    crm_row_bool(res, r, 5, &m->has_active, &m->active);
    crm_row_i64(res, r, 6, &m->has_pipeline_id, &m->pipeline_id);
    m->created_at = crm_row_str(res, r, 7);
    m->updated_at = crm_row_str(res, r, 8);
    return m;
}

static bool blank(const char *s)
{
    return !s || !*s || strspn(s, " \t\r\n") == strlen(s);
}

/* The count in the first column of the first row, or -1 with err set. */
static long long count_of(crm_db_t *db, const char *name, const char *sql, int n, const char *const *p,
                          crm_err_t *err)
{
    PGresult *res = crm_db_exec(db, name, sql, n, p, err);
    if (!res)
        return -1;
    long long v = PQntuples(res) ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    return v;
}

int deals_store_pipeline_get(crm_db_t *db, int64_t id, Crm__Pipeline **out, crm_err_t *err)
{
    *out = NULL;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "pipelines_get", "SELECT " PIPELINE_COLS " FROM pipelines WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = pipeline_from_row(res, 0);
    PQclear(res);
    return *out
               ? CRM_OK
               : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "pipeline %lld not found", (long long)id);
}

static int name_taken(crm_err_t *err, const char *what)
{
    return crm_err_set(err, CRM_EINVALID, "/name", "already_exists", "a %s with this name already exists",
                       what);
}

int deals_store_pipeline_create(crm_db_t *db, const Crm__Pipeline *in, Crm__Pipeline **out, crm_err_t *err)
{
    *out = NULL;
    if (blank(in->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "missing", "name is required");
    const char *p[] = {in->name, crm_param_bool(in->has_disabled, in->disabled)};
    if (crm_db_begin(db, err))
        return err->code;
    /* A new pipeline gets the default stages (E2), to be renamed, reordered or removed. */
    PGresult *res = crm_db_exec(
        db, "pipelines_create",
        "WITH p AS (INSERT INTO pipelines (name, disabled) VALUES ($1, coalesce($2::boolean, false)) "
        "RETURNING id), "
        "s AS (INSERT INTO stages (pipeline_id, name, category, position, likelihood, active) "
        "SELECT p.id, s.name, s.category, s.position, s.likelihood, s.active FROM p, "
        "(VALUES ('Incoming', 'incoming', 1, 10, true), ('Qualified', 'in_progress', 2, 25, true), "
        "('Quote', 'in_progress', 3, 50, true), ('Closure', 'in_progress', 4, 75, true), "
        "('Won', 'won', 5, 100, false), ('Unqualified', 'unqualified', 6, 0, false), "
        "('Lost', 'lost', 7, 0, false)) AS s (name, category, position, likelihood, active)) "
        "SELECT id FROM p",
        2, p, err);
    if (!res || crm_db_commit(db, err)) {
        if (res)
            PQclear(res);
        crm_db_rollback(db);
        return err->code == CRM_ECONFLICT ? name_taken(err, "pipeline") : err->code;
    }
    int64_t id = crm_db_i64(res, 0, 0);
    PQclear(res);
    return deals_store_pipeline_get(db, id, out, err);
}

int deals_store_pipeline_update(crm_db_t *db, const Crm__Pipeline *in, Crm__Pipeline **out, crm_err_t *err)
{
    *out = NULL;
    if (in->name && blank(in->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    char b[24];
    const char *p[] = {crm_param_i64(b, true, in->id), in->name,
                       crm_param_bool(in->has_disabled, in->disabled)};
    PGresult *res =
        crm_db_exec(db, "pipelines_update",
                    "UPDATE pipelines SET name = coalesce($2, name), disabled = coalesce($3::boolean, "
                    "disabled), updated_at = now() WHERE id = $1 RETURNING id",
                    3, p, err);
    if (!res)
        return err->code == CRM_ECONFLICT ? name_taken(err, "pipeline") : err->code;
    int n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "pipeline %lld not found",
                           (long long)in->id);
    return deals_store_pipeline_get(db, in->id, out, err);
}

int deals_store_pipeline_delete(crm_db_t *db, int64_t id, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    if (crm_db_begin(db, err))
        return err->code;
    long long n = count_of(db, "pipelines_lock_count",
                           "SELECT (SELECT count(*) FROM deals WHERE pipeline_id = p.id) FROM pipelines p "
                           "WHERE p.id = $1 FOR UPDATE",
                           1, p, err);
    long long total =
        n < 0 ? -1
              : count_of(db, "pipelines_exists", "SELECT count(*) FROM pipelines WHERE id = $1", 1, p, err);
    if (n < 0 || total < 0) {
        crm_db_rollback(db);
        return err->code;
    }
    if (total == 0) {
        crm_db_rollback(db);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "pipeline %lld not found", (long long)id);
    }
    if (n > 0) {
        crm_db_rollback(db);
        return crm_err_set(err, CRM_ECONFLICT, "/id", "in_use",
                           "pipeline %lld holds %lld deals; move or delete them first", (long long)id, n);
    }
    if (crm_db_run(db, "pipelines_delete_stages", "DELETE FROM stages WHERE pipeline_id = $1", 1, p, err) ||
        crm_db_run(db, "pipelines_delete", "DELETE FROM pipelines WHERE id = $1", 1, p, err) ||
        crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    return CRM_OK;
}

int deals_store_stage_get(crm_db_t *db, int64_t id, Crm__Stage **out, crm_err_t *err)
{
    *out = NULL;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "stages_get", "SELECT " STAGE_COLS " FROM stages WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = stage_from_row(res, 0);
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "stage %lld not found", (long long)id);
}

static bool closed_category(const char *c)
{
    return strcmp(c, "won") == 0 || strcmp(c, "lost") == 0 || strcmp(c, "unqualified") == 0;
}

static int check_stage_fields(const Crm__Stage *in, bool create, crm_err_t *err)
{
    if (create && !in->has_pipeline_id)
        crm_err_add(err, CRM_EINVALID, "/pipeline_id", "missing", "pipeline_id is required");
    if (create ? blank(in->name) : (in->name && blank(in->name)))
        crm_err_add(err, CRM_EINVALID, "/name", create ? "missing" : "blank", "name is required");
    if (create && !in->category)
        crm_err_add(err, CRM_EINVALID, "/category", "missing",
                    "category is required: incoming, in_progress, won, lost or unqualified");
    if (in->category && strcmp(in->category, "incoming") && strcmp(in->category, "in_progress") &&
        !closed_category(in->category))
        crm_err_add(err, CRM_EINVALID, "/category", "incorrect_value",
                    "category must be incoming, in_progress, won, lost or unqualified");
    if (in->has_likelihood && (in->likelihood < 0 || in->likelihood > 100))
        crm_err_add(err, CRM_EINVALID, "/likelihood", "incorrect_value",
                    "likelihood must be between 0 and 100");
    if (in->has_position && in->position < 1)
        crm_err_add(err, CRM_EINVALID, "/position", "incorrect_value", "position must be 1 or more");
    return err->code;
}

int deals_store_stage_create(crm_db_t *db, const Crm__Stage *in, Crm__Stage **out, crm_err_t *err)
{
    *out = NULL;
    if (check_stage_fields(in, true, err))
        return err->code;
    bool closed = closed_category(in->category);
    int likelihood = in->has_likelihood                      ? in->likelihood
                     : strcmp(in->category, "won") == 0      ? 100
                     : closed                                ? 0
                     : strcmp(in->category, "incoming") == 0 ? 10
                                                             : 50;
    char b[4][24];
    const char *pp[] = {crm_param_i64(b[0], true, in->pipeline_id)};
    if (crm_db_begin(db, err))
        return err->code;
    /* Lock the pipeline row so concurrent stage writes of one pipeline take turns. */
    long long max =
        count_of(db, "stages_create_lock",
                 "SELECT (SELECT coalesce(max(position), 0) FROM stages WHERE pipeline_id = p.id) "
                 "FROM pipelines p WHERE p.id = $1 FOR UPDATE",
                 1, pp, err);
    long long exists = max < 0 ? -1
                               : count_of(db, "pipelines_exists",
                                          "SELECT count(*) FROM pipelines WHERE id = $1", 1, pp, err);
    if (max < 0 || exists < 0) {
        crm_db_rollback(db);
        return err->code;
    }
    if (exists == 0) {
        crm_db_rollback(db);
        return crm_err_set(err, CRM_EINVALID, "/pipeline_id", "incorrect_value",
                           "pipeline %lld does not exist", (long long)in->pipeline_id);
    }
    long long pos = in->has_position && in->position <= max ? in->position : max + 1;
    const char *p[] = {pp[0],
                       in->name,
                       in->category,
                       crm_param_i64(b[1], true, pos),
                       crm_param_i64(b[2], true, likelihood),
                       crm_param_bool(true, in->has_active ? in->active : !closed)};
    PGresult *res = NULL;
    if (crm_db_run(db, "stages_shift_up",
                   "UPDATE stages SET position = position + 1 WHERE pipeline_id = $1 AND position >= $2", 2,
                   (const char *[]){p[0], p[3]}, err) == CRM_OK)
        res = crm_db_exec(db, "stages_create",
                          "INSERT INTO stages (pipeline_id, name, category, position, likelihood, active) "
                          "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                          6, p, err);
    if (!res || crm_db_commit(db, err)) {
        if (res)
            PQclear(res);
        crm_db_rollback(db);
        return err->code == CRM_ECONFLICT ? name_taken(err, "stage in this pipeline") : err->code;
    }
    int64_t id = crm_db_i64(res, 0, 0);
    PQclear(res);
    return deals_store_stage_get(db, id, out, err);
}

int deals_store_stage_update(crm_db_t *db, const Crm__Stage *in, Crm__Stage **out, crm_err_t *err)
{
    *out = NULL;
    if (check_stage_fields(in, false, err))
        return err->code;
    char b[4][24];
    const char *ip[] = {crm_param_i64(b[0], true, in->id)};
    if (crm_db_begin(db, err))
        return err->code;
    PGresult *cur =
        crm_db_exec(db, "stages_update_lock",
                    "SELECT s.pipeline_id, s.position, (SELECT max(position) FROM stages x "
                    "WHERE x.pipeline_id = s.pipeline_id) FROM stages s JOIN pipelines p ON p.id = "
                    "s.pipeline_id WHERE s.id = $1 FOR UPDATE OF p",
                    1, ip, err);
    if (!cur) {
        crm_db_rollback(db);
        return err->code;
    }
    if (PQntuples(cur) != 1) {
        PQclear(cur);
        crm_db_rollback(db);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "stage %lld not found", (long long)in->id);
    }
    int64_t pipeline = crm_db_i64(cur, 0, 0), oldpos = crm_db_i64(cur, 0, 1), max = crm_db_i64(cur, 0, 2);
    PQclear(cur);
    int rc = CRM_OK;
    if (in->has_position && in->position != oldpos) {
        /* Reorder: the stage takes its new place and the ones in between shift by one. */
        int64_t np = in->position > max ? max : in->position;
        const char *p[] = {crm_param_i64(b[1], true, pipeline), crm_param_i64(b[2], true, oldpos),
                           crm_param_i64(b[3], true, np), ip[0]};
        rc = crm_db_run(
            db, "stages_reorder",
            "UPDATE stages SET position = CASE WHEN id = $4 THEN $3::integer "
            "WHEN $3::integer < $2::integer THEN position + 1 ELSE position - 1 END, updated_at = now() "
            "WHERE pipeline_id = $1 AND (id = $4 OR position BETWEEN least($2::integer, $3::integer) "
            "AND greatest($2::integer, $3::integer))",
            4, p, err);
    }
    if (rc == CRM_OK) {
        const char *p[] = {ip[0], in->name, in->category,
                           crm_param_i64(b[1], in->has_likelihood, in->likelihood),
                           crm_param_bool(in->has_active, in->active)};
        rc = crm_db_run(
            db, "stages_update",
            "UPDATE stages SET name = coalesce($2, name), category = coalesce($3, category), "
            "likelihood = coalesce($4::integer, likelihood), active = coalesce($5::boolean, active), "
            "updated_at = now() WHERE id = $1",
            5, p, err);
    }
    if (rc || crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code == CRM_ECONFLICT ? name_taken(err, "stage in this pipeline") : err->code;
    }
    return deals_store_stage_get(db, in->id, out, err);
}

int deals_store_stage_delete(crm_db_t *db, int64_t id, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    if (crm_db_begin(db, err))
        return err->code;
    PGresult *cur =
        crm_db_exec(db, "stages_delete_lock",
                    "SELECT s.pipeline_id, s.position, (SELECT count(*) FROM deals d WHERE d.stage_id = "
                    "s.id) FROM stages s JOIN pipelines p ON p.id = s.pipeline_id WHERE s.id = $1 "
                    "FOR UPDATE OF p",
                    1, p, err);
    if (!cur) {
        crm_db_rollback(db);
        return err->code;
    }
    if (PQntuples(cur) != 1) {
        PQclear(cur);
        crm_db_rollback(db);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "stage %lld not found", (long long)id);
    }
    char pl[24], pos[24];
    snprintf(pl, sizeof pl, "%s", crm_db_str(cur, 0, 0));
    snprintf(pos, sizeof pos, "%s", crm_db_str(cur, 0, 1));
    long long deals = crm_db_i64(cur, 0, 2);
    PQclear(cur);
    if (deals > 0) {
        crm_db_rollback(db);
        return crm_err_set(err, CRM_ECONFLICT, "/id", "in_use",
                           "stage %lld holds %lld deals; move them first", (long long)id, deals);
    }
    const char *sp[] = {pl, pos};
    if (crm_db_run(db, "stages_delete", "DELETE FROM stages WHERE id = $1", 1, p, err) ||
        crm_db_run(db, "stages_shift_down",
                   "UPDATE stages SET position = position - 1 WHERE pipeline_id = $1 AND position > $2", 2,
                   sp, err) ||
        crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    return CRM_OK;
}

/* ---- loss reasons, deal unqualified reasons, deal sources (one shape, three tables) ----------- */

#define REASON_COLS "id, name, creator_id, " TS("created_at") ", " TS("updated_at")

static Crm__DealReason *reason_from_row(const deals_reason_kind_t *k, const PGresult *res, int r)
{
    Crm__DealReason *m = (Crm__DealReason *)crm_pb_new(&crm__deal_reason__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    m->name = crm_row_str(res, r, 1);
    crm_row_i64(res, r, 2, &m->has_creator_id, &m->creator_id);
    m->created_at = crm_row_str(res, r, 3);
    m->updated_at = crm_row_str(res, r, 4);
    if (strcmp(k->table, "deal_sources") == 0)
        m->resource_type = crm_pb_strdup("deal");
    return m;
}

int deals_store_reason_list(crm_db_t *db, const deals_reason_kind_t *k, const Crm__DealReasonListRequest *req,
                            Crm__DealReasonList **out, crm_err_t *err)
{
    *out = NULL;
    static const char *const sorts[] = {"id", "name", "created_at", "updated_at", NULL};
    crm_page_t page;
    int si;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, sorts, 0, false, &si, &desc, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char name[96], sql[512], b[2][24];
    snprintf(name, sizeof name, "%s_list_%d%c", k->table, si, desc ? 'd' : 'a');
    snprintf(sql, sizeof sql,
             "SELECT " REASON_COLS " FROM %s WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) "
             "AND ($2::text IS NULL OR name = $2) ORDER BY %s %s, id LIMIT $3 OFFSET $4",
             k->table, sorts[si], desc ? "DESC" : "ASC");
    const char *p[] = {ids, req->name, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    PGresult *res = crm_db_exec(db, name, sql, 4, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__DealReasonList *list = (Crm__DealReasonList *)crm_pb_new(&crm__deal_reason_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = reason_from_row(k, res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

int deals_store_reason_get(crm_db_t *db, const deals_reason_kind_t *k, int64_t id, Crm__DealReason **out,
                           crm_err_t *err)
{
    *out = NULL;
    char name[96], sql[256], b[24];
    snprintf(name, sizeof name, "%s_get", k->table);
    snprintf(sql, sizeof sql, "SELECT " REASON_COLS " FROM %s WHERE id = $1", k->table);
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res = crm_db_exec(db, name, sql, 1, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = reason_from_row(k, res, 0);
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", k->label,
                              (long long)id);
}

int deals_store_reason_create(crm_db_t *db, const deals_reason_kind_t *k, const deals_caller_t *c,
                              const Crm__DealReason *in, Crm__DealReason **out, crm_err_t *err)
{
    *out = NULL;
    if (blank(in->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "missing", "name is required");
    if (in->resource_type && strcmp(in->resource_type, "deal"))
        return crm_err_set(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                           "resource_type must be deal");
    char name[96], sql[256], b[24];
    snprintf(name, sizeof name, "%s_create", k->table);
    snprintf(sql, sizeof sql, "INSERT INTO %s (name, creator_id) VALUES ($1, $2) RETURNING " REASON_COLS,
             k->table);
    const char *p[] = {in->name, crm_param_i64(b, c->user_id > 0, c->user_id)};
    PGresult *res = crm_db_exec(db, name, sql, 2, p, err);
    if (!res)
        return err->code == CRM_ECONFLICT ? name_taken(err, k->label) : err->code;
    *out = reason_from_row(k, res, 0);
    PQclear(res);
    return CRM_OK;
}

int deals_store_reason_update(crm_db_t *db, const deals_reason_kind_t *k, const Crm__DealReason *in,
                              Crm__DealReason **out, crm_err_t *err)
{
    *out = NULL;
    if (in->name && blank(in->name))
        return crm_err_set(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    char name[96], sql[256], b[24];
    snprintf(name, sizeof name, "%s_update", k->table);
    snprintf(
        sql, sizeof sql,
        "UPDATE %s SET name = coalesce($2, name), updated_at = now() WHERE id = $1 RETURNING " REASON_COLS,
        k->table);
    const char *p[] = {crm_param_i64(b, true, in->id), in->name};
    PGresult *res = crm_db_exec(db, name, sql, 2, p, err);
    if (!res)
        return err->code == CRM_ECONFLICT ? name_taken(err, k->label) : err->code;
    if (PQntuples(res) == 1)
        *out = reason_from_row(k, res, 0);
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", k->label,
                              (long long)in->id);
}

int deals_store_reason_delete(crm_db_t *db, const deals_reason_kind_t *k, int64_t id, crm_err_t *err)
{
    char name[96], sql[256], b[24];
    snprintf(name, sizeof name, "%s_delete", k->table);
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = $1 RETURNING id", k->table);
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res = crm_db_exec(db, name, sql, 1, p, err);
    if (!res) {
        if (strcmp(crm_db_last_sqlstate(db), "23503") == 0)
            return crm_err_set(err, CRM_ECONFLICT, "/id", "in_use", "%s %lld is used by deals", k->label,
                               (long long)id);
        return err->code;
    }
    int n = PQntuples(res);
    PQclear(res);
    return n ? CRM_OK
             : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "%s %lld not found", k->label,
                           (long long)id);
}

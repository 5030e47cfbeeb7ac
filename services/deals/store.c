/* crm-deals store: every SQL statement of the service, as named prepared statements. */
#include "deals.h"

#include <stdlib.h>

#include "crm/pbjson.h"
#include "crm/row.h"

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
    PGresult *res = crm_db_exec(db, "pipelines_list",
                                "SELECT id, name, disabled, " TS("created_at") ", " TS("updated_at")
                                " FROM pipelines WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) "
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

int deals_store_stage_list(crm_db_t *db, const Crm__StageListRequest *req, Crm__StageList **out, crm_err_t *err)
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
    PGresult *res = crm_db_exec(db, "stages_list",
                                "SELECT id, name, category, position, likelihood, active, pipeline_id, "
                                TS("created_at") ", " TS("updated_at") " FROM stages "
                                "WHERE ($1::bigint[] IS NULL OR id = ANY ($1)) AND ($2::bigint IS NULL OR pipeline_id = $2) "
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

/* crm-leads store: every SQL statement of the service, as named prepared statements. */
#include "leads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define LEAD_COLS                                                                                            \
    "id, creator_id, owner_id, first_name, last_name, organization_name, status, source_id, title, "          \
    "description, industry, website, email, phone, mobile, fax, twitter, facebook, linkedin, skype, "        \
    "address_line1, address_city, address_postal_code, address_state, address_country, to_json(tags)::text, " \
    "unqualified_reason_id, " TS("created_at") ", " TS("updated_at")

static Crm__Lead *lead_from_row(const PGresult *res, int r)
{
    Crm__Lead *l = (Crm__Lead *)crm_pb_new(&crm__lead__descriptor);
    crm_row_i64(res, r, 0, &l->has_id, &l->id);
    crm_row_i64(res, r, 1, &l->has_creator_id, &l->creator_id);
    crm_row_i64(res, r, 2, &l->has_owner_id, &l->owner_id);
    l->first_name = crm_row_str(res, r, 3);
    l->last_name = crm_row_str(res, r, 4);
    l->organization_name = crm_row_str(res, r, 5);
    l->status = crm_row_str(res, r, 6);
    crm_row_i64(res, r, 7, &l->has_source_id, &l->source_id);
    char **strs[] = {&l->title,    &l->description, &l->industry, &l->website, &l->email,
                     &l->phone,    &l->mobile,      &l->fax,      &l->twitter, &l->facebook,
                     &l->linkedin, &l->skype};
    for (int i = 0; i < 12; i++)
        *strs[i] = crm_row_str(res, r, 8 + i);
    bool any_address = false;
    for (int c = 20; c <= 24; c++)
        any_address = any_address || !PQgetisnull(res, r, c);
    if (any_address) {
        Crm__Address *a = (Crm__Address *)crm_pb_new(&crm__address__descriptor);
        a->line1 = crm_row_str(res, r, 20);
        a->city = crm_row_str(res, r, 21);
        a->postal_code = crm_row_str(res, r, 22);
        a->state = crm_row_str(res, r, 23);
        a->country = crm_row_str(res, r, 24);
        l->address = a;
    }
    crm_row_str_array(res, r, 25, &l->n_tags, &l->tags);
    crm_row_i64(res, r, 26, &l->has_unqualified_reason_id, &l->unqualified_reason_id);
    l->created_at = crm_row_str(res, r, 27);
    l->updated_at = crm_row_str(res, r, 28);
    return l;
}

static int add_activity(crm_db_t *tx, int64_t lead_id, const char *kind, const char *summary, const char *event_id,
                        crm_err_t *err)
{
    char id[24];
    const char *p[] = {crm_param_i64(id, true, lead_id), kind, summary, event_id};
    return crm_db_run(tx, "leads_activity_add",
                      "INSERT INTO lead_activities (lead_id, kind, summary, event_id) VALUES ($1, $2, $3, $4)", 4, p,
                      err);
}

int leads_store_capture(crm_db_t *tx, const Crm__LeadCaptured *cap, const char *event_id, Crm__Lead **lead,
                        crm_err_t *err)
{
    *lead = NULL;
    const char *src[] = {cap->source ? cap->source : "api"};
    /* Read first, insert only when missing: an upsert that updates the same row on every
     * capture would leave a dead row version per lead and slow every later lookup. */
    PGresult *res = crm_db_exec(tx, "leads_source_ensure",
                                "WITH found AS (SELECT id FROM lead_sources WHERE name = $1), "
                                "made AS (INSERT INTO lead_sources (name) SELECT $1 WHERE NOT EXISTS "
                                "(SELECT 1 FROM found) ON CONFLICT (name) DO NOTHING RETURNING id) "
                                "SELECT id FROM found UNION ALL SELECT id FROM made",
                                1, src, err);
    if (!res)
        return err->code;
    if (PQntuples(res) != 1) { /* a concurrent insert of the same name won: it is there now */
        PQclear(res);
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "lead source '%s' was being created; retry", src[0]);
    }
    char source_id[32];
    snprintf(source_id, sizeof source_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    char *tags = crm_param_text_array(cap->tags, cap->n_tags);
    char delivery[24];
    const char *p[] = {cap->first_name, cap->last_name, cap->organization_name, cap->email,
                       cap->phone,      cap->title,     cap->description,       tags,
                       source_id,       crm_param_i64(delivery, cap->has_delivery_id, cap->delivery_id)};
    /* ON CONFLICT on capture_delivery_id: a capture applied before yields no row, no event. */
    res = crm_db_exec(tx, "leads_capture",
                      "INSERT INTO leads (first_name, last_name, organization_name, email, phone, title, "
                      "description, tags, source_id, status, capture_delivery_id) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'New', $10) "
                      "ON CONFLICT (capture_delivery_id) DO NOTHING RETURNING " LEAD_COLS,
                      10, p, err);
    free(tags);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *lead = lead_from_row(res, 0);
    PQclear(res);
    if (!*lead)
        return CRM_OK;
    char summary[256];
    snprintf(summary, sizeof summary, "Captured from %s (delivery %lld)", cap->source ? cap->source : "api",
             (long long)cap->delivery_id);
    return add_activity(tx, (*lead)->id, "captured", summary, event_id, err);
}

int leads_store_set_owner(crm_db_t *tx, int64_t lead_id, int64_t owner_id, const char *event_id, Crm__Lead **lead,
                          crm_err_t *err)
{
    *lead = NULL;
    char id[24], owner[24];
    const char *p[] = {crm_param_i64(id, true, lead_id), crm_param_i64(owner, true, owner_id)};
    PGresult *res = crm_db_exec(tx, "leads_set_owner",
                                "UPDATE leads SET owner_id = $2, updated_at = now() WHERE id = $1 RETURNING " LEAD_COLS,
                                2, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *lead = lead_from_row(res, 0);
    PQclear(res);
    if (!*lead)
        return CRM_OK;
    char summary[128];
    snprintf(summary, sizeof summary, "Owner set to user %lld", (long long)owner_id);
    return add_activity(tx, lead_id, "owner_changed", summary, event_id, err);
}

int leads_store_get(crm_db_t *db, int64_t id, bool restrict_owner, int64_t visible_owner, Crm__Lead **lead,
                    crm_err_t *err)
{
    *lead = NULL;
    char idb[24], ob[24];
    const char *p[] = {crm_param_i64(idb, true, id), crm_param_i64(ob, restrict_owner, visible_owner)};
    PGresult *res = crm_db_exec(db, "leads_get",
                                "SELECT " LEAD_COLS " FROM leads WHERE id = $1 AND ($2::bigint IS NULL OR owner_id = $2)",
                                2, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *lead = lead_from_row(res, 0);
    PQclear(res);
    if (!*lead)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "lead %lld not found", (long long)id);
    return CRM_OK;
}

/* Sortable columns; the SQL text is built only from this list, never from the request. */
static const char *const sort_fields[] = {"updated_at", "id",        "created_at",        "first_name",
                                          "last_name",  "email",     "organization_name", "status",
                                          NULL};

int leads_store_list(crm_db_t *db, const Crm__LeadListRequest *req, bool restrict_owner, int64_t visible_owner,
                     Crm__LeadList **list, crm_err_t *err)
{
    *list = NULL;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, sort_fields, 0, false, &sort, &desc, err))
        return err->code;
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[6][24];
    const char *p[] = {crm_param_i64(b[0], restrict_owner, visible_owner),
                       req->email,
                       crm_param_i64(b[1], req->has_owner_id, req->owner_id),
                       crm_param_i64(b[2], req->has_creator_id, req->creator_id),
                       crm_param_i64(b[3], req->has_source_id, req->source_id),
                       req->first_name,
                       req->last_name,
                       req->organization_name,
                       req->status,
                       ids,
                       crm_param_i64(b[4], true, page.limit),
                       crm_param_i64(b[5], true, page.offset)};
    char name[64], sql[2048];
    snprintf(name, sizeof name, "leads_list_%s_%s", sort_fields[sort], desc ? "desc" : "asc");
    snprintf(sql, sizeof sql,
             "SELECT " LEAD_COLS " FROM leads WHERE ($1::bigint IS NULL OR owner_id = $1) "
             "AND ($2::text IS NULL OR lower(email) = lower($2)) AND ($3::bigint IS NULL OR owner_id = $3) "
             "AND ($4::bigint IS NULL OR creator_id = $4) AND ($5::bigint IS NULL OR source_id = $5) "
             "AND ($6::text IS NULL OR first_name = $6) AND ($7::text IS NULL OR last_name = $7) "
             "AND ($8::text IS NULL OR organization_name = $8) AND ($9::text IS NULL OR status = $9) "
             "AND ($10::bigint[] IS NULL OR id = ANY ($10)) "
             "ORDER BY %s %s, id %s LIMIT $11 OFFSET $12",
             sort_fields[sort], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    PGresult *res = crm_db_exec(db, name, sql, 12, p, err);
    free(ids);
    if (!res)
        return err->code;
    Crm__LeadList *out = (Crm__LeadList *)crm_pb_new(&crm__lead_list__descriptor);
    int rows = PQntuples(res);
    int n = rows > page.per_page ? page.per_page : rows;
    out->has_has_more = 1;
    out->has_more = rows > page.per_page;
    out->items = calloc((size_t)n + 1, sizeof *out->items);
    for (int r = 0; r < n; r++)
        out->items[out->n_items++] = lead_from_row(res, r);
    PQclear(res);
    *list = out;
    return CRM_OK;
}

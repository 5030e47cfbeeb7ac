/* crm-leads timeline (SPEC C4): what happened to a lead or a contact, with who and when. Rows
 * are written in the transaction of the change they describe; GET .../activities reads the
 * views lead_timeline / contact_timeline (other record kinds join there, see 002_records.sql). */
#include "leads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"

int leads_timeline_add(crm_db_t *tx, bool contact, int64_t id, const char *kind, int64_t actor_id,
                       const char *summary, const char *previous_value, const char *value,
                       const char *event_id, crm_err_t *err)
{
    char idb[24], ab[24];
    const char *p[] = {crm_param_i64(idb, true, id),
                       kind,
                       crm_param_i64(ab, actor_id > 0, actor_id),
                       summary ? summary : "",
                       previous_value,
                       value,
                       event_id};
    if (contact)
        return crm_db_run(
            tx, "contacts_activity_add",
            "INSERT INTO contact_activities (contact_id, kind, actor_id, summary, previous_value, "
            "value, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            7, p, err);
    return crm_db_run(tx, "leads_activity_add2",
                      "INSERT INTO lead_activities (lead_id, kind, actor_id, summary, previous_value, value, "
                      "event_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      7, p, err);
}

int leads_ticket_lead(crm_db_t *tx, const char *source, const char *ticket_id, int64_t *lead_id,
                      crm_err_t *err)
{
    *lead_id = 0;
    const char *p[] = {source, ticket_id};
    PGresult *res = crm_db_exec(tx, "leads_ticket_find",
                                "SELECT a.lead_id FROM lead_activities a JOIN leads l ON l.id = a.lead_id "
                                "WHERE a.ticket_source = $1 AND a.ticket_id = $2",
                                2, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1) {
        protobuf_c_boolean has;
        crm_row_i64(res, 0, 0, &has, lead_id);
    }
    PQclear(res);
    return CRM_OK;
}

/* One row per (source, ticket) on a lead's or a contact's timeline: a later capture of the same
 * ticket updates it. */
static int ticket_link(crm_db_t *tx, bool contact, int64_t id, const Crm__LeadCaptured *cap,
                       const char *event_id, crm_err_t *err)
{
    char idb[24], summary[512];
    snprintf(summary, sizeof summary, "Support %s %s: %s", cap->source_kind ? cap->source_kind : "ticket",
             cap->ticket_id, cap->ticket_subject ? cap->ticket_subject : "");
    const char *p[] = {crm_param_i64(idb, true, id),
                       summary,
                       event_id,
                       cap->source ? cap->source : "",
                       cap->ticket_id,
                       cap->ticket_subject,
                       cap->ticket_status,
                       cap->ticket_url};
#define TICKET_LINK_SQL(table, col)                                                                          \
    "INSERT INTO " table " (" col ", kind, summary, event_id, ticket_source, ticket_id, ticket_subject, "    \
    "ticket_status, ticket_url) VALUES ($1, 'ticket', $2, $3, $4, $5, $6, $7, $8) "                          \
    "ON CONFLICT (ticket_source, ticket_id) WHERE ticket_id IS NOT NULL DO UPDATE SET " col                  \
    " = EXCLUDED." col ", summary = EXCLUDED.summary, event_id = EXCLUDED.event_id, "                        \
    "ticket_subject = COALESCE(EXCLUDED.ticket_subject, " table ".ticket_subject), "                         \
    "ticket_status = COALESCE(EXCLUDED.ticket_status, " table ".ticket_status), "                            \
    "ticket_url = COALESCE(EXCLUDED.ticket_url, " table ".ticket_url)"
    if (contact)
        return crm_db_run(tx, "contacts_ticket_link", TICKET_LINK_SQL("contact_activities", "contact_id"), 8,
                          p, err);
    return crm_db_run(tx, "leads_ticket_link", TICKET_LINK_SQL("lead_activities", "lead_id"), 8, p, err);
#undef TICKET_LINK_SQL
}

int leads_ticket_link(crm_db_t *tx, int64_t lead_id, const Crm__LeadCaptured *cap, const char *event_id,
                      crm_err_t *err)
{
    return ticket_link(tx, false, lead_id, cap, event_id, err);
}

int leads_contact_ticket_link(crm_db_t *tx, int64_t contact_id, const Crm__LeadCaptured *cap,
                              const char *event_id, crm_err_t *err)
{
    return ticket_link(tx, true, contact_id, cap, event_id, err);
}

static const char *const tl_sorts[] = {"created_at", "id", NULL};

int leads_timeline_list(crm_db_t *db, bool contact, const Crm__TimelineRequest *req, Crm__Timeline **out,
                        crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, tl_sorts, 0, false, &sort, &desc, err))
        return err->code;
    char b[3][24], name[64], sql[1024];
    const char *p[] = {crm_param_i64(b[0], true, req->id), crm_param_i64(b[1], true, page.limit),
                       crm_param_i64(b[2], true, page.offset)};
    const char *dir = desc ? "DESC" : "ASC";
    snprintf(name, sizeof name, "%s_timeline_%s", contact ? "contacts" : "leads", dir);
    snprintf(
        sql, sizeof sql,
        "SELECT id, kind, summary, actor_id, to_char(created_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ticket_source, ticket_id, ticket_subject, ticket_status, "
        "ticket_url, previous_value, value, %s FROM %s t WHERE resource_id = $1 "
        "ORDER BY created_at %s, id %s LIMIT $2 OFFSET $3",
        contact ? "NULL::text"
                : "(SELECT a.context::text FROM lead_activities a WHERE a.id = t.id AND t.kind = 'captured')",
        contact ? "contact_timeline" : "lead_timeline", dir, dir);
    PGresult *res = crm_db_exec(db, name, sql, 3, p, err);
    if (!res)
        return err->code;
    Crm__Timeline *tl = (Crm__Timeline *)crm_pb_new(&crm__timeline__descriptor);
    int rows = PQntuples(res);
    int n = rows > page.per_page ? page.per_page : rows;
    tl->has_has_more = 1;
    tl->has_more = rows > page.per_page;
    tl->items = calloc((size_t)n + 1, sizeof *tl->items);
    for (int r = 0; r < n; r++) {
        Crm__TimelineEntry *e = (Crm__TimelineEntry *)crm_pb_new(&crm__timeline_entry__descriptor);
        crm_row_i64(res, r, 0, &e->has_id, &e->id);
        e->resource_type = crm_pb_strdup(contact ? "contact" : "lead");
        e->has_resource_id = 1;
        e->resource_id = req->id;
        e->kind = crm_row_str(res, r, 1);
        e->summary = crm_row_str(res, r, 2);
        crm_row_i64(res, r, 3, &e->has_actor_id, &e->actor_id);
        e->created_at = crm_row_str(res, r, 4);
        e->ticket_source = crm_row_str(res, r, 5);
        e->ticket_id = crm_row_str(res, r, 6);
        e->ticket_subject = crm_row_str(res, r, 7);
        e->ticket_status = crm_row_str(res, r, 8);
        e->ticket_url = crm_row_str(res, r, 9);
        e->previous_value = crm_row_str(res, r, 10);
        e->value = crm_row_str(res, r, 11);
        e->context_json = crm_row_str(res, r, 12);
        tl->items[tl->n_items++] = e;
    }
    PQclear(res);
    *out = tl;
    return CRM_OK;
}

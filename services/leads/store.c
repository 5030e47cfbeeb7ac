/* crm-leads store: every SQL statement of the service, as named prepared statements. */
#include "leads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

/* The open lead with one of these dedup keys, after locking the keys (sorted, so two
 * transactions always lock in the same order). 0 when none. lead_id NULL: only the locks (the
 * caller looks the lead up in its next statement, see capture_write). */
static int dedup_find(crm_db_t *tx, const char *email_norm, const char *phone_norm, int64_t *lead_id,
                      crm_err_t *err)
{
    if (lead_id)
        *lead_id = 0;
    char keys[2][600];
    int nk = 0;
    if (email_norm && *email_norm)
        snprintf(keys[nk++], sizeof keys[0], "lead-email:%.500s", email_norm);
    if (phone_norm && *phone_norm)
        snprintf(keys[nk++], sizeof keys[0], "lead-phone:%.500s", phone_norm);
    if (nk == 0)
        return CRM_OK;
    if (nk == 2 && strcmp(keys[0], keys[1]) > 0) {
        char tmp[600];
        memcpy(tmp, keys[0], sizeof tmp);
        memcpy(keys[0], keys[1], sizeof tmp);
        memcpy(keys[1], tmp, sizeof tmp);
    }
    /* A bulk import holds the gate exclusively for its batch instead of one lock per key (its
     * thousands of keys would fill Postgres' lock table): captures take it shared first. The gate
     * and the keys in one statement, in that order: a CASE evaluates its WHENs one after the other
     * (a lock's void result is never NULL) and stops at the absent second key. */
    const char *kp[] = {keys[0], nk == 2 ? keys[1] : NULL};
    PGresult *res = crm_db_exec(
        tx, "leads_dedup_locks",
        "SELECT CASE WHEN pg_advisory_xact_lock_shared(hashtextextended('lead-dedup-gate', 3)) IS NULL "
        "THEN 0 WHEN pg_advisory_xact_lock(hashtextextended($1::text, 3)) IS NULL THEN 1 "
        "WHEN $2::text IS NULL THEN 2 "
        "WHEN pg_advisory_xact_lock(hashtextextended($2::text, 3)) IS NULL THEN 3 ELSE 4 END",
        2, kp, err);
    if (!res)
        return err->code;
    PQclear(res);
    if (!lead_id)
        return CRM_OK;
    /* A statement of its own after the locks: its snapshot must follow them (a capture of the same
     * key that committed while we waited is seen). */
    const char *p[] = {email_norm && *email_norm ? email_norm : NULL,
                       phone_norm && *phone_norm ? phone_norm : NULL};
    res = crm_db_exec(tx, "leads_dedup_find",
                      "SELECT id FROM leads WHERE converted_at IS NULL AND "
                      "((email_norm = $1) OR (phone_norm = $2)) ORDER BY id LIMIT 1",
                      2, p, err);
    if (!res)
        return err->code;
    protobuf_c_boolean has;
    if (PQntuples(res) == 1)
        crm_row_i64(res, 0, 0, &has, lead_id);
    PQclear(res);
    return CRM_OK;
}

/* The status of a lead a capture makes: the first of leads.statuses (leads_config sets it). */
static const char *capture_status = "New";

void leads_store_set_default_status(const char *status)
{
    capture_status = status;
}

static char *norm_email(const char *email)
{
    if (!email)
        return NULL;
    while (*email == ' ' || *email == '\t' || *email == '\n' || *email == '\r')
        email++;
    size_t n = strlen(email);
    while (n > 0 &&
           (email[n - 1] == ' ' || email[n - 1] == '\t' || email[n - 1] == '\n' || email[n - 1] == '\r'))
        n--;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
    out[n] = '\0';
    return out;
}

/* The contact a capture goes to (see leads.h), or 0: its ticket linked to a contact already, or
 * (ticket not linked to a lead, no open lead with the e-mail or phone — checked by the caller)
 * a contact with the requester's e-mail, people before organizations. */
static int capture_contact(crm_db_t *tx, const Crm__LeadCaptured *cap, const char *email, int64_t *contact_id,
                           crm_err_t *err)
{
    *contact_id = 0;
    const char *p[] = {cap->source ? cap->source : "", cap->ticket_id, email && *email ? email : NULL};
    PGresult *res =
        crm_db_exec(tx, "leads_capture_contact",
                    "SELECT contact_id FROM (SELECT a.contact_id, 0 AS rank FROM contact_activities a "
                    "WHERE a.ticket_source = $1 AND a.ticket_id = $2 "
                    "UNION ALL SELECT c.id, CASE WHEN c.is_organization THEN 2 ELSE 1 END FROM contacts c "
                    "WHERE lower(c.email) = $3) m ORDER BY rank, contact_id LIMIT 1",
                    3, p, err);
    if (!res)
        return err->code;
    protobuf_c_boolean has;
    if (PQntuples(res) == 1)
        crm_row_i64(res, 0, 0, &has, contact_id);
    PQclear(res);
    return CRM_OK;
}

/* The lead a capture makes (lead_id 0) or merges into (lead_id; fill what the lead lacks, add the
 * tags) — or, find set, merges into the open lead with the dedup keys email_norm / phone_norm
 * (locked by the caller's previous statement: this one's snapshot follows the locks) or else makes
 * — its "captured" timeline entry (with the capture's context), the tags' /v2/tags rows, and the
 * lead as stored: one statement. *created: a new lead. */
static int capture_write(crm_db_t *tx, const Crm__LeadCaptured *cap, const char *event_id, int64_t lead_id,
                         bool find, const char *email_norm, const char *source_id, const char *phone,
                         Crm__Lead **lead, bool *created, crm_err_t *err)
{
    char summary[256], idb[24], delivery[24];
    snprintf(summary, sizeof summary, " from %s (delivery %lld)", cap->source ? cap->source : "api",
             (long long)cap->delivery_id);
    char *tags = crm_param_text_array(cap->tags, cap->n_tags);
    bool merge = !find && lead_id > 0;
    /* $1..$13 alike, then the merge's lead id, or the new lead's source, delivery and status (and
     * the keys to look up) */
    const char *p[] = {cap->first_name,
                       cap->last_name,
                       cap->organization_name,
                       cap->email,
                       cap->phone,
                       cap->title,
                       cap->description,
                       tags,
                       phone,
                       summary,
                       cap->source,
                       event_id,
                       cap->context_json && *cap->context_json ? cap->context_json : NULL,
                       merge ? crm_param_i64(idb, true, lead_id) : source_id,
                       crm_param_i64(delivery, cap->has_delivery_id, cap->delivery_id),
                       capture_status,
                       email_norm && *email_norm ? email_norm : NULL,
                       phone && *phone ? phone : NULL};
    int np = merge ? 14 : find ? 18 : 16;
#define MERGE_SET                                                                                            \
    "UPDATE leads SET first_name = COALESCE(NULLIF(first_name, ''), $1), "                                   \
    "last_name = COALESCE(NULLIF(last_name, ''), $2), "                                                      \
    "organization_name = COALESCE(NULLIF(organization_name, ''), $3), "                                      \
    "email = COALESCE(NULLIF(email, ''), $4), phone = COALESCE(NULLIF(phone, ''), $5), "                     \
    "title = COALESCE(NULLIF(title, ''), $6), description = COALESCE(NULLIF(description, ''), $7), "         \
    "tags = ARRAY(SELECT DISTINCT t FROM unnest(tags || $8::text[]) t ORDER BY t), "                         \
    "phone_norm = COALESCE(phone_norm, $9), updated_at = now() "
#define INSERT_NEW(WHERE)                                                                                    \
    "INSERT INTO leads (first_name, last_name, organization_name, email, phone, title, description, tags, "  \
    "phone_norm, source_id, capture_delivery_id, status) "                                                   \
    "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $14::bigint, $15::bigint, $16 " WHERE " RETURNING *"
    const char *head =
        merge ? "WITH m AS (" MERGE_SET
                "WHERE id = $14 RETURNING *), l AS (SELECT m.*, false AS created FROM m), "
        : find ? "WITH f AS (SELECT id FROM leads WHERE converted_at IS NULL AND ((email_norm = $17) OR "
                 "(phone_norm = $18)) ORDER BY id LIMIT 1), "
                 "m AS (" MERGE_SET "FROM f WHERE leads.id = f.id RETURNING leads.*), "
                 "i AS (" INSERT_NEW(
                     "WHERE NOT EXISTS (SELECT 1 FROM f)") "), "
                                                           "l AS (SELECT m.*, false AS created FROM m UNION "
                                                           "ALL SELECT i.*, true FROM i), "
               : "WITH i AS (" INSERT_NEW("") "), l AS (SELECT i.*, true AS created FROM i), ";
#undef MERGE_SET
#undef INSERT_NEW
    /* the timeline entry as leads_timeline_add writes it, the tags as leads_tags_ensure does */
    static const char tail[] =
        "a AS (INSERT INTO lead_activities (lead_id, kind, actor_id, summary, previous_value, value, "
        "event_id, context) SELECT l.id, 'captured', NULL, CASE WHEN l.created THEN 'Captured' ELSE "
        "'Captured again, merged' END || $10, NULL, $11, $12, $13::jsonb FROM l), "
        "t AS (INSERT INTO tags (name, resource_type, creator_id) SELECT DISTINCT t, 'lead', NULL::bigint "
        "FROM unnest($8::text[]) AS t WHERE btrim(t) <> '' ON CONFLICT (resource_type, name) DO NOTHING) "
        "SELECT %s, l.created FROM l";
    char *cols = rec_select_list(&rec_lead, "l.");
    size_t len = (cols ? strlen(cols) : 0) + strlen(head) + sizeof tail + 16;
    char *sql = malloc(len);
    if (!cols || !sql) {
        free(cols);
        free(sql);
        free(tags);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    }
    int w = snprintf(sql, len, "%s", head);
    snprintf(sql + w, len - (size_t)w, tail, cols);
    free(cols);
    PGresult *res = crm_db_exec(tx,
                                merge  ? "leads_capture_merge3"
                                : find ? "leads_capture_find"
                                       : "leads_capture5",
                                sql, np, p, err);
    free(sql);
    free(tags);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1) {
        *lead = (Crm__Lead *)rec_from_row(&rec_lead, res, 0);
        *created = strcmp(PQgetvalue(res, 0, PQnfields(res) - 1), "t") == 0;
    }
    PQclear(res);
    if (!*lead)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "capture: lead %lld not written",
                           (long long)lead_id);
    return CRM_OK;
}

int leads_store_capture_dedup(crm_db_t *tx, const Crm__LeadCaptured *cap, const char *event_id,
                              Crm__Lead **lead, bool *created, int64_t *contact_id, crm_err_t *err)
{
    *lead = NULL;
    *created = false;
    if (contact_id)
        *contact_id = 0;
    /* A replayed event (same envelope id or same delivery) changes nothing. In the same statement,
     * the source's id (read first, inserted only when missing: an upsert that updates the same row
     * on every capture would leave a dead row version per lead and slow every later lookup). */
    char delivery[24];
    const char *rp[] = {event_id, crm_param_i64(delivery, cap->has_delivery_id, cap->delivery_id),
                        cap->source ? cap->source : "api"};
    PGresult *res = crm_db_exec(tx, "leads_capture_seen_source",
                                "WITH seen AS (SELECT 1 FROM lead_activities WHERE kind = 'captured' "
                                "AND event_id = $1 "
                                "UNION ALL SELECT 1 FROM contact_activities WHERE kind = 'captured' "
                                "AND event_id = $1 "
                                "UNION ALL SELECT 1 FROM leads WHERE capture_delivery_id = $2 LIMIT 1), "
                                "found AS (SELECT id FROM lead_sources WHERE name = $3), "
                                "made AS (INSERT INTO lead_sources (name) SELECT $3 WHERE NOT EXISTS "
                                "(SELECT 1 FROM found) AND NOT EXISTS (SELECT 1 FROM seen) "
                                "ON CONFLICT (name) DO NOTHING RETURNING id) "
                                "SELECT EXISTS (SELECT 1 FROM seen), "
                                "(SELECT id FROM found UNION ALL SELECT id FROM made LIMIT 1)",
                                3, rp, err);
    if (!res)
        return err->code;
    bool seen = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    char source_id[32];
    snprintf(source_id, sizeof source_id, "%s", PQgetvalue(res, 0, 1));
    bool no_source = PQgetisnull(res, 0, 1);
    PQclear(res);
    if (seen)
        return CRM_OK;
    if (no_source) /* a concurrent insert of the same name won: it is there now */
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "lead source '%s' was being created; retry",
                           rp[2]);

    int64_t lead_id = 0;
    int rc = CRM_OK;
    if (cap->ticket_id && *cap->ticket_id)
        rc = leads_ticket_lead(tx, cap->source ? cap->source : "", cap->ticket_id, &lead_id, err);
    char *email = norm_email(cap->email);
    char *phone =
        cap->phone_e164 && *cap->phone_e164 ? crm_pb_strdup(cap->phone_e164) : leads_phone_e164(cap->phone);
    /* Without a ticket the lookup goes with the write (capture_write): one statement less. */
    bool ticket = cap->ticket_id && *cap->ticket_id;
    if (rc == CRM_OK && lead_id == 0)
        rc = dedup_find(tx, email, phone, ticket ? &lead_id : NULL, err);
    /* C5: a ticket's requester who is a contact (and no open lead) gets the link, not a lead. */
    if (rc == CRM_OK && lead_id == 0 && contact_id && cap->ticket_id && *cap->ticket_id) {
        rc = capture_contact(tx, cap, email, contact_id, err);
        if (rc == CRM_OK && *contact_id > 0) {
            char summary[256];
            snprintf(summary, sizeof summary, "Captured from %s (delivery %lld): ticket %s",
                     cap->source ? cap->source : "api", (long long)cap->delivery_id, cap->ticket_id);
            rc = leads_timeline_add(tx, true, *contact_id, "captured", 0, summary, NULL, cap->source,
                                    event_id, err);
            if (rc == CRM_OK)
                rc = leads_contact_ticket_link(tx, *contact_id, cap, event_id, err);
            free(email);
            free(phone);
            return rc;
        }
    }
    if (rc != CRM_OK) {
        free(email);
        free(phone);
        return rc;
    }
    rc = capture_write(tx, cap, event_id, lead_id, !ticket, email, source_id, phone, lead, created, err);
    free(email);
    free(phone);
    return rc;
}

int leads_store_set_owner(crm_db_t *tx, int64_t lead_id, int64_t owner_id, const char *event_id,
                          Crm__Lead **lead, crm_err_t *err)
{
    *lead = NULL;
    char id[24], owner[24], summary[128];
    snprintf(summary, sizeof summary, "Owner set to user %lld", (long long)owner_id);
    const char *p[] = {crm_param_i64(id, true, lead_id), crm_param_i64(owner, true, owner_id), summary,
                       event_id};
    /* One statement: lock the row, set the owner, add the timeline entry when the owner changed (an
     * assignment confirming the owner already set is no timeline news), and return the lead. */
    char *cols = rec_select_list(&rec_lead, "u.");
    size_t len = strlen(cols) + 1024;
    char *sql = malloc(len);
    if (!cols || !sql) {
        free(cols);
        free(sql);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    }
    snprintf(sql, len,
             "WITH o AS (SELECT id, owner_id AS old FROM leads WHERE id = $1 FOR UPDATE), "
             "u AS (UPDATE leads l SET owner_id = $2, updated_at = now() FROM o WHERE l.id = o.id "
             "RETURNING l.*, o.old), "
             "a AS (INSERT INTO lead_activities (lead_id, kind, actor_id, summary, previous_value, value, "
             "event_id) "
             "SELECT u.id, 'owner_changed', NULL, $3, u.old::text, $2::bigint::text, $4 FROM u "
             "WHERE u.old IS DISTINCT FROM $2::bigint) "
             "SELECT %s FROM u",
             cols);
    free(cols);
    PGresult *res = crm_db_exec(tx, "leads_set_owner3", sql, 4, p, err);
    free(sql);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *lead = (Crm__Lead *)rec_from_row(&rec_lead, res, 0);
    PQclear(res);
    return CRM_OK;
}

int leads_store_get(crm_db_t *db, int64_t id, bool restrict_owner, int64_t visible_owner, Crm__Lead **lead,
                    crm_err_t *err)
{
    return rec_get(db, &rec_lead, id, restrict_owner, visible_owner, false, (ProtobufCMessage **)lead, err);
}

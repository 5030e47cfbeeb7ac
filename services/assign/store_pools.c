/* crm-assign store: distribution pools (SPEC B2) and their rules, the pick, the ownership view
 * used for caps, the assignment log (explain) and the per-member stats.
 *
 * The pick, for one record, inside the caller's transaction:
 *   1. lock the pool (a transaction advisory lock on its id, POOL_LOCK; every writer of a
 *      pool takes it): every path and every crm-assign instance takes turns from the same
 *      cursor (last_position, turns_used), one at a time. Not the row lock FOR UPDATE: picks
 *      run in the inbox's per-event savepoints, and a row locked and updated by one
 *      subtransaction after another gets a MultiXact whose member list grows with every pick of
 *      the batch, which every later read of the row resolves (0.4-0.5 ms per statement on the
 *      pool row in the ingest bench, a third of crm-assign's database time);
 *   2. the member at last_position keeps the turn while turns_used < weight and it is eligible
 *      (a "weight turn");
 *   3. otherwise the members after it in position order, wrapping round (the last one checked
 *      is the current member itself, starting a new round), are tried in turn; the first
 *      eligible one gets the record with turns_used = 1; the ones passed over are recorded with
 *      their reason: inactive (user deactivated), away (away_until in the future) or full
 *      (max_open reached: open records it owns of the pool's type, from the ownership table);
 *      the member holding the cursor is listed too, as "weight" when it had all the turns of a
 *      weight above 1, or with its reason when it lost its remaining turns;
 *   "open" per record type (ownership.closed): a lead is open until it is Unqualified or
 *   converted (lead.status_changed, lead.converted), a deal until its stage is won, lost or
 *   unqualified (deal.stage_changed, deal.won, deal.lost; back to an open stage reopens it); a
 *   contact has no closed state, so every contact a member owns counts;
 *   4. nobody eligible: the pool's fallback_owner_id (default: the first active admin) gets it,
 *      the cursor stays, and the owner.assigned event says fallback with the admins to tell.
 * The assignment row (unique cause_event_id), the ownership row and the cursor move commit
 * with the inbox offset: exactly one assignment per cause event. */
#include "assign.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/buf.h"
#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define POOL_COLS                                                                                            \
    "p.id, p.name, p.resource_type, p.is_default, " TS("p.created_at") ", " TS(                              \
        "p.updated_at") ", "                                                                                 \
                        "p.fallback_owner_id"
#define MEMBER_COLS                                                                                          \
    "m.pool_id, m.user_id, m.position, m.weight, coalesce(m.max_open, 0), " TS(                              \
        "m.away_until") ", "                                                                                 \
                        "(m.away_until IS NOT NULL AND m.away_until > now()), u.status, "                    \
                        "(SELECT count(*) FROM ownership o WHERE o.resource_type = p.resource_type AND "     \
                        "o.owner_id = m.user_id "                                                            \
                        "AND NOT o.closed)"

static bool blank(const char *s)
{
    return !s || !*s || strspn(s, " \t\r\n") == strlen(s);
}

static bool valid_type(const char *t)
{
    return t && (!strcmp(t, "lead") || !strcmp(t, "contact") || !strcmp(t, "deal"));
}

static Crm__PoolMember *member_from_row(const PGresult *res, int r)
{
    Crm__PoolMember *m = (Crm__PoolMember *)crm_pb_new(&crm__pool_member__descriptor);
    crm_row_i64(res, r, 0, &m->has_pool_id, &m->pool_id);
    crm_row_i64(res, r, 1, &m->has_user_id, &m->user_id);
    crm_row_i32(res, r, 2, &m->has_position, &m->position);
    crm_row_i32(res, r, 3, &m->has_weight, &m->weight);
    crm_row_i32(res, r, 4, &m->has_max_open, &m->max_open);
    m->away_until = crm_row_str(res, r, 5);
    crm_row_bool(res, r, 6, &m->has_away, &m->away);
    m->status = crm_row_str(res, r, 7);
    crm_row_i64(res, r, 8, &m->has_open_count, &m->open_count);
    return m;
}

/* Fills p->members and p->user_ids (turn order). */
static int load_members(crm_db_t *db, Crm__DistributionPool *p, crm_err_t *err)
{
    char b[24];
    const char *pp[] = {crm_param_i64(b, true, p->id)};
    PGresult *res = crm_db_exec(db, "pools_members",
                                "SELECT " MEMBER_COLS " FROM pool_members m JOIN pools p ON p.id = m.pool_id "
                                "JOIN users u ON u.id = m.user_id WHERE m.pool_id = $1 ORDER BY m.position",
                                1, pp, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    p->members = calloc((size_t)n + 1, sizeof *p->members);
    p->user_ids = calloc((size_t)n + 1, sizeof *p->user_ids);
    for (int r = 0; r < n; r++) {
        p->members[p->n_members] = member_from_row(res, r);
        p->user_ids[p->n_user_ids++] = p->members[p->n_members++]->user_id;
    }
    PQclear(res);
    return CRM_OK;
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
    crm_row_i64(res, r, 6, &p->has_fallback_owner_id, &p->fallback_owner_id);
    return p;
}

/* "active", "inactive", or NULL when no such user. */
static int user_status(crm_db_t *db, int64_t id, char status[16], crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res = crm_db_exec(db, "users_status", "SELECT status FROM users WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    snprintf(status, 16, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return CRM_OK;
}

/* Checks one member's rules (weight 1..100, max_open ≥ 0, away_until a time); ptr names it. */
static void check_rules(const Crm__PoolMember *m, const char *ptr, crm_err_t *err)
{
    char f[96];
    if (m->has_weight && (m->weight < 1 || m->weight > 100)) {
        snprintf(f, sizeof f, "%s/weight", ptr);
        crm_err_add(err, CRM_EINVALID, f, "incorrect_value", "weight must be between 1 and 100");
    }
    if (m->has_max_open && m->max_open < 0) {
        snprintf(f, sizeof f, "%s/max_open", ptr);
        crm_err_add(err, CRM_EINVALID, f, "incorrect_value", "max_open must be 0 (no cap) or more");
    }
    if (m->away_until && *m->away_until) {
        const char *s = m->away_until;
        bool ok = strlen(s) >= 10 && strlen(s) < 40 && s[4] == '-' && s[7] == '-';
        for (int i = 0; ok && i < 10; i++)
            ok = (i == 4 || i == 7) || (s[i] >= '0' && s[i] <= '9');
        if (!ok) {
            snprintf(f, sizeof f, "%s/away_until", ptr);
            crm_err_add(err, CRM_EINVALID, f, "incorrect_value", "away_until must be an RFC 3339 time");
        }
    }
}

/* Each user must exist and be active, and appear once. */
static int check_user_list(crm_db_t *db, const int64_t *ids, size_t n, const char *field, crm_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || ids[j] == ids[i];
        if (dup) {
            crm_err_add(err, CRM_EINVALID, field, "incorrect_value", "user %lld is listed twice",
                        (long long)ids[i]);
            continue;
        }
        char st[16];
        if (user_status(db, ids[i], st, err) != CRM_OK)
            return err->code;
        if (strcmp(st, "active") != 0)
            crm_err_add(err, CRM_EINVALID, field, "incorrect_value",
                        "user %lld does not exist or is not active", (long long)ids[i]);
    }
    return err->code;
}

static int check_fallback(crm_db_t *db, const Crm__DistributionPool *in, crm_err_t *err)
{
    if (!in->has_fallback_owner_id || in->fallback_owner_id == 0)
        return err->code;
    char st[16];
    if (user_status(db, in->fallback_owner_id, st, err) != CRM_OK)
        return err->code;
    if (strcmp(st, "active") != 0)
        crm_err_add(err, CRM_EINVALID, "/fallback_owner_id", "incorrect_value",
                    "user %lld does not exist or is not active", (long long)in->fallback_owner_id);
    return err->code;
}

/* Appends user to the pool at the end (max position + 1), with its rules. */
static int add_member(crm_db_t *db, const char *pool_id, const Crm__PoolMember *m, crm_err_t *err)
{
    char uid[24], w[24], mo[24];
    const char *p[] = {pool_id, crm_param_i64(uid, true, m->user_id),
                       crm_param_i64(w, m->has_weight, m->weight),
                       crm_param_i64(mo, m->has_max_open && m->max_open > 0, m->max_open),
                       m->away_until && *m->away_until ? m->away_until : NULL};
    PGresult *res =
        crm_db_exec(db, "pools_member_append",
                    "INSERT INTO pool_members (pool_id, user_id, position, weight, max_open, away_until) "
                    "SELECT $1, $2, coalesce(max(position), 0) + 1, coalesce($3::integer, 1), $4, "
                    "$5::timestamptz FROM pool_members WHERE pool_id = $1 RETURNING position",
                    5, p, err);
    if (!res)
        return err->code;
    PQclear(res);
    return CRM_OK;
}

/* The pool lock (see the top of this file): two-key advisory locks are a space of their own. */
#define POOL_LOCK "pg_advisory_xact_lock(hashtext('crm.assign.pool'), ($1::bigint % 2147483647)::int)"

static int lock_pool(crm_db_t *db, int64_t id, char type[16], crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    if (crm_db_run(db, "pools_advisory_lock", "SELECT " POOL_LOCK, 1, p, err) != CRM_OK)
        return err->code;
    PGresult *res =
        crm_db_exec(db, "pools_lock", "SELECT resource_type FROM pools WHERE id = $1 FOR UPDATE", 1, p, err);
    if (!res)
        return err->code;
    bool found = PQntuples(res) == 1;
    if (found && type)
        snprintf(type, 16, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found ? CRM_OK
                 : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "distribution pool %s not found", b);
}

static int set_default(crm_db_t *db, int64_t id, const char *type, crm_err_t *err)
{
    /* One default pool per record type: this one replaces the old as default. */
    char b[24];
    const char *p[] = {type, crm_param_i64(b, true, id)};
    return crm_db_run(db, "pools_undefault_others",
                      "UPDATE pools SET is_default = false, updated_at = now() "
                      "WHERE resource_type = $1 AND is_default AND id <> $2",
                      2, p, err);
}

int assign_store_pool_create(crm_db_t *db, const Crm__DistributionPool *in, Crm__DistributionPool **out,
                             crm_err_t *err)
{
    *out = NULL;
    if (blank(in->name))
        crm_err_add(err, CRM_EINVALID, "/name", "missing", "name is required");
    if (!in->resource_type)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "missing", "resource_type is required");
    else if (!valid_type(in->resource_type))
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type must be lead, contact or deal");
    if (in->n_members > 0 && in->n_user_ids > 0)
        crm_err_add(err, CRM_EINVALID, "/members", "incorrect_value",
                    "give either user_ids or members, not both");
    int64_t *ids = calloc(in->n_members + in->n_user_ids + 1, sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; i < in->n_user_ids; i++)
        ids[n++] = in->user_ids[i];
    for (size_t i = 0; i < in->n_members; i++) {
        char ptr[48];
        snprintf(ptr, sizeof ptr, "/members/%zu", i);
        check_rules(in->members[i], ptr, err);
        ids[n++] = in->members[i]->user_id;
    }
    if (crm_db_begin(db, err)) {
        free(ids);
        return err->code;
    }
    check_user_list(db, ids, n, in->n_members ? "/members" : "/user_ids", err);
    free(ids);
    if (err->code == CRM_OK)
        check_fallback(db, in, err);
    if (err->code != CRM_OK) {
        crm_db_rollback(db);
        return err->code;
    }
    bool is_default = in->has_default_ && in->default_;
    char fb[24];
    const char *p[] = {
        in->name, in->resource_type, crm_param_bool(true, is_default),
        crm_param_i64(fb, in->has_fallback_owner_id && in->fallback_owner_id, in->fallback_owner_id)};
    if (is_default) {
        const char *tp[] = {in->resource_type};
        if (crm_db_run(db, "pools_undefault",
                       "UPDATE pools SET is_default = false, updated_at = now() "
                       "WHERE resource_type = $1 AND is_default",
                       1, tp, err)) {
            crm_db_rollback(db);
            return err->code;
        }
    }
    PGresult *res = crm_db_exec(db, "pools_insert2",
                                "INSERT INTO pools (name, resource_type, is_default, fallback_owner_id) "
                                "VALUES ($1, $2, $3, $4) RETURNING id",
                                4, p, err);
    if (!res) {
        crm_db_rollback(db);
        return err->code;
    }
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    int rc = CRM_OK;
    for (size_t i = 0; rc == CRM_OK && i < in->n_user_ids; i++) {
        Crm__PoolMember m = CRM__POOL_MEMBER__INIT;
        m.has_user_id = 1;
        m.user_id = in->user_ids[i];
        rc = add_member(db, id, &m, err);
    }
    for (size_t i = 0; rc == CRM_OK && i < in->n_members; i++)
        rc = add_member(db, id, in->members[i], err);
    if (rc != CRM_OK || crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    int64_t pid = 0;
    crm_parse_i64(id, &pid);
    return assign_store_pool_get(db, pid, out, err);
}

int assign_store_pool_update(crm_db_t *db, const Crm__DistributionPool *in, Crm__DistributionPool **out,
                             crm_err_t *err)
{
    *out = NULL;
    if (in->name && blank(in->name))
        crm_err_add(err, CRM_EINVALID, "/name", "blank", "name must not be blank");
    if (in->n_members > 0)
        crm_err_add(err, CRM_EINVALID, "/members", "read_only",
                    "members are changed with /v2/distribution_pools/{id}/members");
    if (crm_db_begin(db, err))
        return err->code;
    char type[16];
    if (lock_pool(db, in->id, type, err) != CRM_OK) {
        crm_db_rollback(db);
        return err->code;
    }
    if (in->resource_type && strcmp(in->resource_type, type) != 0)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "a pool serves one record type (%s): it cannot change to %s", type, in->resource_type);
    check_user_list(db, in->user_ids, in->n_user_ids, "/user_ids", err);
    check_fallback(db, in, err);
    if (err->code != CRM_OK) {
        crm_db_rollback(db);
        return err->code;
    }
    char ib[24], fb[24];
    const char *p[] = {crm_param_i64(ib, true, in->id), in->name,
                       crm_param_bool(in->has_default_, in->default_),
                       crm_param_i64(fb, in->has_fallback_owner_id, in->fallback_owner_id)};
    int rc = crm_db_run(
        db, "pools_update",
        "UPDATE pools SET name = coalesce($2, name), is_default = coalesce($3::boolean, is_default), "
        "fallback_owner_id = CASE WHEN $4::bigint IS NULL THEN fallback_owner_id "
        "ELSE nullif($4::bigint, 0) END, updated_at = now() WHERE id = $1",
        4, p, err);
    if (rc == CRM_OK && in->has_default_ && in->default_)
        rc = set_default(db, in->id, type, err);
    if (rc == CRM_OK && in->n_user_ids > 0) {
        /* PUT user_ids: members not listed leave; kept members keep their place and rules; new
         * ones join at the end in the order given (so the cursor stays meaningful). */
        char *ids = NULL;
        size_t cap = in->n_user_ids * 24 + 4, len = 0;
        ids = malloc(cap);
        len += (size_t)snprintf(ids + len, cap - len, "{");
        for (size_t i = 0; i < in->n_user_ids; i++)
            len += (size_t)snprintf(ids + len, cap - len, "%s%lld", i ? "," : "", (long long)in->user_ids[i]);
        snprintf(ids + len, cap - len, "}");
        const char *dp[] = {ib, ids};
        rc = crm_db_run(db, "pools_members_keep",
                        "DELETE FROM pool_members WHERE pool_id = $1 AND NOT user_id = ANY ($2)", 2, dp, err);
        free(ids);
        for (size_t i = 0; rc == CRM_OK && i < in->n_user_ids; i++) {
            char ub[24];
            const char *ep[] = {ib, crm_param_i64(ub, true, in->user_ids[i])};
            PGresult *res =
                crm_db_exec(db, "pools_member_is",
                            "SELECT 1 FROM pool_members WHERE pool_id = $1 AND user_id = $2", 2, ep, err);
            if (!res) {
                rc = err->code;
                break;
            }
            bool there = PQntuples(res) == 1;
            PQclear(res);
            if (!there) {
                Crm__PoolMember m = CRM__POOL_MEMBER__INIT;
                m.has_user_id = 1;
                m.user_id = in->user_ids[i];
                rc = add_member(db, ib, &m, err);
            }
        }
    }
    if (rc != CRM_OK || crm_db_commit(db, err)) {
        crm_db_rollback(db);
        return err->code;
    }
    return assign_store_pool_get(db, in->id, out, err);
}

int assign_store_pool_delete(crm_db_t *db, int64_t id, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "pools_delete", "DELETE FROM pools WHERE id = $1 RETURNING id", 1, p, err);
    if (!res)
        return err->code;
    bool found = PQntuples(res) == 1;
    PQclear(res);
    return found ? CRM_OK
                 : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "distribution pool %s not found", b);
}

int assign_store_pool_get(crm_db_t *db, int64_t id, Crm__DistributionPool **out, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(db, "pools_get2", "SELECT " POOL_COLS " FROM pools p WHERE p.id = $1", 1, p, err);
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? pool_from_row(res, 0) : NULL;
    PQclear(res);
    if (!*out)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "distribution pool %s not found", b);
    if (load_members(db, *out, err) != CRM_OK) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
        return err->code;
    }
    return CRM_OK;
}

int assign_store_pool_list(crm_db_t *db, const Crm__PoolListRequest *req, Crm__PoolList **out, crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    if (req->resource_type && !valid_type(req->resource_type))
        return crm_err_set(err, CRM_EBADREQUEST, "resource_type", "invalid_param",
                           "resource_type must be lead, contact or deal");
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err)))
        return err->code;
    char b[2][24];
    const char *p[] = {req->resource_type, ids, crm_param_i64(b[0], true, page.limit),
                       crm_param_i64(b[1], true, page.offset)};
    PGresult *res =
        crm_db_exec(db, "pools_list2",
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
    for (size_t i = 0; i < list->n_items; i++)
        if (load_members(db, list->items[i], err) != CRM_OK) {
            protobuf_c_message_free_unpacked(&list->base, NULL);
            return err->code;
        }
    *out = list;
    return CRM_OK;
}

/* ---- members ---------------------------------------------------------------------------- */

static int member_get(crm_db_t *db, int64_t pool_id, int64_t user_id, Crm__PoolMember **out, crm_err_t *err)
{
    char pb[24], ub[24];
    const char *p[] = {crm_param_i64(pb, true, pool_id), crm_param_i64(ub, true, user_id)};
    PGresult *res = crm_db_exec(db, "pools_member_get",
                                "SELECT " MEMBER_COLS " FROM pool_members m JOIN pools p ON p.id = m.pool_id "
                                "JOIN users u ON u.id = m.user_id WHERE m.pool_id = $1 AND m.user_id = $2",
                                2, p, err);
    if (!res)
        return err->code;
    *out = PQntuples(res) == 1 ? member_from_row(res, 0) : NULL;
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "user %s is not a member of pool %s", ub,
                              pb);
}

int assign_store_member_add(crm_db_t *db, const Crm__PoolMember *in, Crm__PoolMember **out, crm_err_t *err)
{
    *out = NULL;
    if (!in->has_user_id || in->user_id <= 0)
        crm_err_add(err, CRM_EINVALID, "/user_id", "missing", "user_id is required");
    check_rules(in, "", err);
    if (err->code != CRM_OK)
        return err->code;
    if (crm_db_begin(db, err))
        return err->code;
    char pb[24];
    crm_param_i64(pb, true, in->pool_id);
    if (lock_pool(db, in->pool_id, NULL, err) || check_user_list(db, &in->user_id, 1, "/user_id", err)) {
        crm_db_rollback(db);
        return err->code;
    }
    if (add_member(db, pb, in, err) != CRM_OK) {
        crm_db_rollback(db);
        if (err->code == CRM_ECONFLICT)
            return crm_err_set(err, CRM_EINVALID, "/user_id", "already_exists",
                               "user %lld is already a member", (long long)in->user_id);
        return err->code;
    }
    if (crm_db_commit(db, err))
        return err->code;
    return member_get(db, in->pool_id, in->user_id, out, err);
}

int assign_store_member_update(crm_db_t *db, const Crm__PoolMember *in, Crm__PoolMember **out, crm_err_t *err)
{
    *out = NULL;
    check_rules(in, "", err);
    if (err->code != CRM_OK)
        return err->code;
    char pb[24], ub[24], w[24], mo[24];
    const char *p[] = {crm_param_i64(pb, true, in->pool_id),
                       crm_param_i64(ub, true, in->user_id),
                       crm_param_i64(w, in->has_weight, in->weight),
                       crm_param_i64(mo, in->has_max_open, in->max_open),
                       in->away_until && *in->away_until ? in->away_until : NULL,
                       crm_param_bool(true, in->away_until && !*in->away_until)};
    PGresult *res =
        crm_db_exec(db, "pools_member_update",
                    "UPDATE pool_members SET weight = coalesce($3::integer, weight), "
                    "max_open = CASE WHEN $4::integer IS NULL THEN max_open ELSE nullif($4::integer, 0) END, "
                    "away_until = CASE WHEN $6::boolean THEN NULL "
                    "ELSE coalesce($5::timestamptz, away_until) END "
                    "WHERE pool_id = $1 AND user_id = $2 RETURNING user_id",
                    6, p, err);
    if (!res)
        return err->code;
    bool found = PQntuples(res) == 1;
    PQclear(res);
    if (!found)
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "user %s is not a member of pool %s", ub,
                           pb);
    return member_get(db, in->pool_id, in->user_id, out, err);
}

int assign_store_member_remove(crm_db_t *db, const Crm__PoolMemberRequest *in, crm_err_t *err)
{
    char pb[24], ub[24];
    const char *p[] = {crm_param_i64(pb, true, in->pool_id), crm_param_i64(ub, true, in->user_id)};
    PGresult *res = crm_db_exec(
        db, "pools_member_remove",
        "DELETE FROM pool_members WHERE pool_id = $1 AND user_id = $2 RETURNING user_id", 2, p, err);
    if (!res)
        return err->code;
    bool found = PQntuples(res) == 1;
    PQclear(res);
    return found ? CRM_OK
                 : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "user %s is not a member of pool %s",
                               ub, pb);
}

int assign_store_member_list(crm_db_t *db, const Crm__PoolMemberRequest *in, Crm__PoolMemberList **out,
                             crm_err_t *err)
{
    *out = NULL;
    Crm__DistributionPool *p = NULL;
    crm_page_t page;
    if (crm_page_window(in->has_page, in->page, in->has_per_page, in->per_page, &page, err) != CRM_OK ||
        assign_store_pool_get(db, in->pool_id, &p, err) != CRM_OK)
        return err->code;
    /* The page's window of the members (in turn order); a page past the end is empty. */
    Crm__PoolMemberList *l = (Crm__PoolMemberList *)crm_pb_new(&crm__pool_member_list__descriptor);
    size_t from = (size_t)page.offset < p->n_members ? (size_t)page.offset : p->n_members;
    size_t to = from + (size_t)page.per_page < p->n_members ? from + (size_t)page.per_page : p->n_members;
    l->items = calloc(to - from + 1, sizeof *l->items);
    for (size_t i = from; i < to; i++) {
        l->items[l->n_items++] = p->members[i];
        p->members[i] = NULL;
    }
    l->has_has_more = 1;
    l->has_more = to < p->n_members;
    for (size_t i = 0; i < p->n_members; i++) /* the members outside the window */
        if (p->members[i])
            protobuf_c_message_free_unpacked(&p->members[i]->base, NULL);
    free(p->members);
    p->members = NULL;
    p->n_members = 0;
    protobuf_c_message_free_unpacked(&p->base, NULL);
    *out = l;
    return CRM_OK;
}

/* ---- the pick --------------------------------------------------------------------------- */

typedef struct {
    int64_t user_id;
    int position, weight, max_open;
    bool away, inactive;
    char away_until[32];
    long long open;
} member_t;

static bool eligible(const member_t *m, json_t *skipped)
{
    const char *reason = NULL;
    char detail[96] = "";
    if (m->inactive) {
        reason = "inactive";
        snprintf(detail, sizeof detail, "user %lld is deactivated", (long long)m->user_id);
    } else if (m->away) {
        reason = "away";
        snprintf(detail, sizeof detail, "away until %s", m->away_until);
    } else if (m->max_open > 0 && m->open >= m->max_open) {
        reason = "full";
        snprintf(detail, sizeof detail, "%lld open of max %d", m->open, m->max_open);
    }
    if (reason && skipped)
        json_array_append_new(skipped, json_pack("{s:I,s:s,s:s}", "user_id", (json_int_t)m->user_id, "reason",
                                                 reason, "detail", detail));
    return reason == NULL;
}

static int admins(crm_db_t *tx, assign_pick_t *out, crm_err_t *err)
{
    PGresult *res = crm_db_exec(
        tx, "users_admins",
        "SELECT id FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id LIMIT 16", 0, NULL, err);
    if (!res)
        return err->code;
    out->n_admins = 0;
    for (int r = 0; r < PQntuples(res) && r < 16; r++)
        out->admin_ids[out->n_admins++] = crm_db_i64(res, r, 0);
    PQclear(res);
    return CRM_OK;
}

int assign_store_ownership_set(crm_db_t *tx, const char *type, int64_t resource_id, int64_t owner_id,
                               crm_err_t *err)
{
    char rb[24], ob[24];
    const char *p[] = {type, crm_param_i64(rb, true, resource_id), crm_param_i64(ob, true, owner_id)};
    return crm_db_run(tx, "ownership_set",
                      "INSERT INTO ownership (resource_type, resource_id, owner_id) VALUES ($1, $2, $3) "
                      "ON CONFLICT (resource_type, resource_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, "
                      "updated_at = now() WHERE ownership.owner_id <> EXCLUDED.owner_id",
                      3, p, err);
}

int assign_store_owner_of(crm_db_t *tx, const char *type, int64_t resource_id, int64_t *owner, crm_err_t *err)
{
    char rb[24];
    const char *p[] = {type, crm_param_i64(rb, true, resource_id)};
    PGresult *res = crm_db_exec(
        tx, "ownership_of", "SELECT owner_id FROM ownership WHERE resource_type = $1 AND resource_id = $2", 2,
        p, err);
    if (!res)
        return err->code;
    *owner = PQntuples(res) == 1 ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    return CRM_OK;
}

int assign_store_ownership_close(crm_db_t *tx, const char *type, int64_t resource_id, int64_t owner_id,
                                 bool closed, crm_err_t *err)
{
    char rb[24], ob[24];
    if (owner_id > 0) {
        /* The owner is known: remember the record even if assign has not seen it yet. */
        const char *p[] = {type, crm_param_i64(rb, true, resource_id), crm_param_i64(ob, true, owner_id),
                           crm_param_bool(true, closed)};
        return crm_db_run(
            tx, "ownership_close_owner",
            "INSERT INTO ownership (resource_type, resource_id, owner_id, closed) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (resource_type, resource_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, "
            "closed = EXCLUDED.closed, updated_at = now()",
            4, p, err);
    }
    const char *p[] = {type, crm_param_i64(rb, true, resource_id), crm_param_bool(true, closed)};
    return crm_db_run(tx, "ownership_close",
                      "UPDATE ownership SET closed = $3, updated_at = now() WHERE resource_type = $1 "
                      "AND resource_id = $2 AND closed <> $3",
                      3, p, err);
}

/* The assignment row for cause (kind, explanation, skipped JSON), the ownership row and, for a pick
 * by turn, the pool's cursor (cursor: pool id, last_position, turns_used; NULL: it stays): one
 * statement. */
static int record(crm_db_t *tx, const char *type, int64_t resource_id, int64_t owner, int64_t previous,
                  int64_t pool, const char *kind, const char *why, const char *skipped, int turn, int weight,
                  int64_t changed_by, const char *cause, const int64_t *cursor, int64_t *assignment_id,
                  crm_err_t *err)
{
    char rb[24], ob[24], pvb[24], plb[24], tb[24], wb[24], cb[24], c0[24], c1[24], c2[24];
    const char *p[] = {type,
                       crm_param_i64(rb, true, resource_id),
                       crm_param_i64(ob, true, owner),
                       crm_param_i64(pvb, previous > 0, previous),
                       crm_param_i64(plb, pool > 0, pool),
                       cause,
                       why,
                       kind,
                       skipped ? skipped : "[]",
                       crm_param_i64(tb, turn > 0, turn),
                       crm_param_i64(wb, weight > 0, weight),
                       crm_param_i64(cb, changed_by > 0, changed_by),
                       cursor ? crm_param_i64(c0, true, cursor[0]) : NULL,
                       cursor ? crm_param_i64(c1, true, cursor[1]) : NULL,
                       cursor ? crm_param_i64(c2, true, cursor[2]) : NULL};
#define RECORD_SQL(CURSOR)                                                                                   \
    "WITH a AS (INSERT INTO assignments (resource_type, resource_id, owner_id, previous_owner_id, "          \
    "pool_id, cause_event_id, explanation, kind, skipped, turn, weight, changed_by) "                        \
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12) RETURNING id), "                      \
    "o AS (INSERT INTO ownership (resource_type, resource_id, owner_id) VALUES ($1, $2, $3) "                \
    "ON CONFLICT (resource_type, resource_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, "                  \
    "updated_at = now() WHERE ownership.owner_id <> EXCLUDED.owner_id) " CURSOR "SELECT id FROM a"
    PGresult *res =
        cursor ? crm_db_exec(tx, "assignments_record_turn",
                             RECORD_SQL(", c AS (UPDATE pools SET last_position = $14, turns_used = $15 "
                                        "WHERE id = $13) "),
                             15, p, err)
               : crm_db_exec(tx, "assignments_record2", RECORD_SQL(""), 12, p, err);
#undef RECORD_SQL
    if (!res)
        return err->code;
    crm_parse_i64(PQgetvalue(res, 0, 0), assignment_id);
    PQclear(res);
    return CRM_OK;
}

int assign_store_seen(crm_db_t *tx, const char *cause, bool *seen, crm_err_t *err)
{
    const char *p[] = {cause};
    PGresult *res =
        crm_db_exec(tx, "assignments_seen", "SELECT 1 FROM assignments WHERE cause_event_id = $1", 1, p, err);
    if (!res)
        return err->code;
    *seen = PQntuples(res) > 0;
    PQclear(res);
    return CRM_OK;
}

int assign_store_manual(crm_db_t *tx, const char *type, int64_t resource_id, int64_t owner, int64_t previous,
                        int64_t changed_by, const char *cause, int64_t *assignment_id, crm_err_t *err)
{
    char why[200];
    if (previous > 0)
        snprintf(why, sizeof why, "owner set by hand by user %lld (was user %lld)", (long long)changed_by,
                 (long long)previous);
    else
        snprintf(why, sizeof why, "owner set by hand by user %lld", (long long)changed_by);
    return record(tx, type, resource_id, owner, previous, 0, "manual", why, "[]", 0, 0, changed_by, cause,
                  NULL, assignment_id, err);
}

/* A pool locked for picking: its cursor and members, as the pick sees them. */
typedef struct {
    int64_t id, fallback;
    int last, used; /* the cursor (last_position, turns_used) */
    member_t *ms;
    int n;
} pool_turns_t;

/* Locks the pool (pool_id, or the default pool of type when 0) with POOL_LOCK and loads its cursor
 * and members. ps->id stays 0 when there is no such pool; *mismatch when it serves another type. */
static int pool_load(crm_db_t *tx, int64_t pool_id, const char *type, pool_turns_t *ps, bool *mismatch,
                     crm_err_t *err)
{
    memset(ps, 0, sizeof *ps);
    *mismatch = false;
    char pb[24];
    const char *lp[] = {pool_id > 0 ? crm_param_i64(pb, true, pool_id) : NULL, type};
    /* Which pool and its lock (one statement: the lock is the LATERAL side of a nested loop over
     * the pool found, volatile so never pulled up), then its cursor as the last holder of the lock
     * committed it (the second statement's snapshot is taken after the lock is held). */
    PGresult *res = crm_db_exec(
        tx, "pick_pool_id_lock",
        "SELECT c.id FROM (SELECT id FROM pools WHERE CASE WHEN $1::bigint IS NULL THEN resource_type = $2 "
        "AND is_default ELSE id = $1 END) c, "
        "LATERAL (SELECT pg_advisory_xact_lock(hashtext('crm.assign.pool'), (c.id % 2147483647)::int)) l",
        2, lp, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return CRM_OK; /* no such pool (or no default) */
    }
    char idb[24];
    snprintf(idb, sizeof idb, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *ip[] = {idb};
    res = crm_db_exec(tx, "pick_lock_pool",
                      "SELECT id, resource_type, last_position, turns_used, fallback_owner_id FROM pools "
                      "WHERE id = $1",
                      1, ip, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return CRM_OK; /* no such pool (or no default) */
    }
    if (strcmp(PQgetvalue(res, 0, 1), type) != 0) {
        PQclear(res);
        *mismatch = true; /* pools are never mixed: the caller decides */
        return CRM_OK;
    }
    int64_t id = crm_db_i64(res, 0, 0);
    ps->last = (int)crm_db_i64(res, 0, 2);
    ps->used = (int)crm_db_i64(res, 0, 3);
    ps->fallback = crm_db_i64(res, 0, 4);
    PQclear(res);

    crm_param_i64(pb, true, id);
    const char *mp[] = {pb};
    res = crm_db_exec(
        tx, "pick_members",
        "SELECT m.user_id, m.position, m.weight, coalesce(m.max_open, 0), "
        "(m.away_until IS NOT NULL AND m.away_until > now()), " TS(
            "m.away_until") ", "
                            "u.status <> 'active', CASE WHEN m.max_open IS NULL THEN 0 ELSE "
                            "(SELECT count(*) FROM ownership o WHERE o.resource_type = p.resource_type "
                            "AND o.owner_id = m.user_id AND NOT o.closed) END "
                            "FROM pool_members m JOIN pools p ON p.id = m.pool_id JOIN users u ON u.id = "
                            "m.user_id "
                            "WHERE m.pool_id = $1 ORDER BY m.position",
        1, mp, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    member_t *ms = calloc((size_t)n + 1, sizeof *ms);
    for (int r = 0; r < n; r++) {
        ms[r].user_id = crm_db_i64(res, r, 0);
        ms[r].position = (int)crm_db_i64(res, r, 1);
        ms[r].weight = (int)crm_db_i64(res, r, 2);
        ms[r].max_open = (int)crm_db_i64(res, r, 3);
        ms[r].away = crm_db_bool(res, r, 4);
        snprintf(ms[r].away_until, sizeof ms[r].away_until, "%s",
                 crm_db_str(res, r, 5) ? crm_db_str(res, r, 5) : "");
        ms[r].inactive = crm_db_bool(res, r, 6);
        ms[r].open = crm_db_i64(res, r, 7);
    }
    PQclear(res);
    ps->id = id;
    ps->ms = ms;
    ps->n = n;
    return CRM_OK;
}

/* One turn of the pool (steps 2 and 3 of the comment at the top): the index of the member who
 * gets the record, or -1 when nobody is eligible; the members passed over go to skipped. On a
 * pick the cursor in ps moves (the caller writes it back), the member's open count grows, and
 * why/kind/turn/weight describe it; otherwise why says the fallback owner (see pick_fallback). */
static int pool_turn(pool_turns_t *ps, json_t *skipped, assign_pick_t *out, char *why, size_t why_len)
{
    member_t *ms = ps->ms;
    int n = ps->n, last = ps->last, used = ps->used;
    int chosen = -1, turn = 1;
    int cur = -1;
    for (int i = 0; i < n; i++)
        if (ms[i].position == last)
            cur = i;
    if (cur >= 0 && used < ms[cur].weight && eligible(&ms[cur], NULL)) {
        chosen = cur;
        turn = used + 1;
    } else {
        /* The member holding the cursor passes it on: either it had all the turns its weight
         * gives (reason "weight", said only when the weight is above 1: a weight of 1 is plain
         * round robin), or it lost its remaining turns (away, full or inactive now). */
        bool cur_out = cur >= 0 && used < ms[cur].weight && !eligible(&ms[cur], skipped);
        /* The first member after last_position, wrapping round; the current member comes last. */
        int start = 0;
        while (start < n && ms[start].position <= last)
            start++;
        for (int k = 0; k < n && chosen < 0; k++) {
            int i = (start + k) % n;
            if (i == cur && cur_out)
                continue; /* already found away, full or inactive just above */
            if (eligible(&ms[i], skipped))
                chosen = i;
        }
        if (chosen >= 0 && chosen != cur && cur >= 0 && used >= ms[cur].weight && ms[cur].weight > 1) {
            char detail[64];
            snprintf(detail, sizeof detail, "had its %d turns of this round (weight %d)", ms[cur].weight,
                     ms[cur].weight);
            json_array_insert_new(skipped, 0,
                                  json_pack("{s:I,s:s,s:s}", "user_id", (json_int_t)ms[cur].user_id, "reason",
                                            "weight", "detail", detail));
        }
    }
    out->pool_id = ps->id;
    if (chosen < 0)
        return -1;
    out->owner_id = ms[chosen].user_id;
    out->fallback = false;
    snprintf(out->kind, sizeof out->kind, "%s", turn > 1 ? "weight_turn" : "round_robin");
    if (turn > 1)
        snprintf(why, why_len, "pool %lld: user %lld keeps the turn (turn %d of %d, weight %d)",
                 (long long)out->pool_id, (long long)out->owner_id, turn, ms[chosen].weight,
                 ms[chosen].weight);
    else
        snprintf(why, why_len, "pool %lld: round robin, next eligible member is user %lld (position %d%s)",
                 (long long)out->pool_id, (long long)out->owner_id, ms[chosen].position,
                 json_array_size(skipped) ? "; the members before were skipped" : "");
    out->turn = turn;
    out->weight = ms[chosen].weight;
    ps->last = ms[chosen].position;
    ps->used = turn;
    ms[chosen].open++;
    return chosen;
}

/* Nobody eligible (step 4): the fallback owner; the cursor stays. out->admin_ids must be loaded. */
static void pick_fallback(const pool_turns_t *ps, assign_pick_t *out, char *why, size_t why_len)
{
    out->owner_id = ps->fallback > 0 ? ps->fallback : (out->n_admins > 0 ? out->admin_ids[0] : 0);
    out->fallback = true;
    out->turn = out->weight = 0;
    snprintf(out->kind, sizeof out->kind, "fallback");
    snprintf(why, why_len,
             "pool %lld: no member eligible (%d member%s, all skipped): fallback owner user %lld (%s)",
             (long long)out->pool_id, ps->n, ps->n == 1 ? "" : "s", (long long)out->owner_id,
             ps->fallback > 0 ? "the pool's fallback_owner_id"
                              : "no fallback_owner_id: the first active admin");
}

static int move_cursor(crm_db_t *tx, const pool_turns_t *ps, crm_err_t *err)
{
    char pb[24], posb[24], ub[24];
    const char *up[] = {crm_param_i64(pb, true, ps->id), crm_param_i64(posb, true, ps->last),
                        crm_param_i64(ub, true, ps->used)};
    return crm_db_run(tx, "pick_move_cursor",
                      "UPDATE pools SET last_position = $2, turns_used = $3 WHERE id = $1", 3, up, err);
}

int assign_store_pick(crm_db_t *tx, int64_t pool_id, const char *type, int64_t resource_id, int64_t previous,
                      const char *cause, assign_pick_t *out, crm_err_t *err)
{
    memset(out, 0, sizeof *out);
    pool_turns_t ps;
    if (pool_load(tx, pool_id, type, &ps, &out->mismatch, err) != CRM_OK)
        return err->code;
    if (ps.id == 0)
        return CRM_OK; /* no such pool, no default, or another type: out->pool_id stays 0 */
    json_t *skipped = json_array();
    char why[400];
    int rc = CRM_OK;
    int64_t cursor[3] = {ps.id, 0, 0};
    bool turn = pool_turn(&ps, skipped, out, why, sizeof why) >= 0;
    if (turn) { /* the cursor moves with the assignment (record) */
        cursor[1] = ps.last;
        cursor[2] = ps.used;
    } else {
        /* Nobody eligible: the fallback owner, the cursor stays, the admins are told. */
        rc = admins(tx, out, err);
        pick_fallback(&ps, out, why, sizeof why);
    }
    free(ps.ms);
    if (rc == CRM_OK && out->owner_id > 0) {
        char *sk = json_dumps(skipped, JSON_COMPACT);
        rc = record(tx, type, resource_id, out->owner_id, previous, out->pool_id, out->kind, why, sk,
                    out->turn, out->weight, 0, cause, turn ? cursor : NULL, &out->assignment_id, err);
        free(sk);
    }
    json_decref(skipped);
    return rc;
}

/* ---- the bulk pick (assign.pick_bulk) ----------------------------------------------------- */

/* record id → slot in the request (open addressing; ids are > 0). */
typedef struct {
    int64_t *keys;
    size_t *vals;
    size_t cap;
} idmap_t;

static size_t *idmap_slot(idmap_t *m, int64_t key, bool *found)
{
    size_t i = ((uint64_t)key * 0x9E3779B97F4A7C15ull >> 17) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    *found = m->keys[i] == key;
    m->keys[i] = key;
    return &m->vals[i];
}

static int member_index(const pool_turns_t *ps, int64_t user_id)
{
    for (int i = 0; i < ps->n; i++)
        if (ps->ms[i].user_id == user_id)
            return i;
    return -1;
}

/* Known assignments (the latest per record) and owners of the request's records: fills owners/aids
 * of those that have an assignment, previous[] and closed[] of every record (first slot of each id). */
static int bulk_known(crm_db_t *tx, const char *type, const char *ids_lit, idmap_t *map, int64_t *owners,
                      int64_t *aids, int64_t *previous, bool *closed, size_t *n_owned, crm_err_t *err)
{
    const char *p[] = {type, ids_lit};
    PGresult *res = crm_db_exec(tx, "pick_bulk_known",
                                "SELECT DISTINCT ON (a.resource_id) a.resource_id, a.id, a.owner_id FROM "
                                "assignments a JOIN unnest($2::bigint[]) AS r(id) ON a.resource_id = r.id "
                                "WHERE a.resource_type = $1 ORDER BY a.resource_id, a.id DESC",
                                2, p, err);
    if (!res)
        return err->code;
    bool found;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t k = *idmap_slot(map, crm_db_i64(res, r, 0), &found);
        aids[k] = crm_db_i64(res, r, 1);
        owners[k] = crm_db_i64(res, r, 2);
    }
    PQclear(res);
    res = crm_db_exec(tx, "pick_bulk_ownership",
                      "SELECT o.resource_id, o.owner_id, o.closed FROM ownership o JOIN unnest($2::bigint[]) "
                      "AS r(id) ON o.resource_id = r.id WHERE o.resource_type = $1",
                      2, p, err);
    if (!res)
        return err->code;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t k = *idmap_slot(map, crm_db_i64(res, r, 0), &found);
        previous[k] = crm_db_i64(res, r, 1);
        closed[k] = crm_db_bool(res, r, 2);
    }
    *n_owned = (size_t)PQntuples(res);
    PQclear(res);
    return CRM_OK;
}

/* Removes the picks this import made for records that will never exist (a retried batch's rows that
 * ended merged or rejected: their reserved ids stay unused), with their ownership rows, so that the
 * log and the open counts hold only real records. Only assignments caused by this import's bulk
 * pick of that id (cause "<import_id>:<type>:<id>") go. The cursor is not rewound: picks made after
 * it may have moved it on. */
static int bulk_release(crm_db_t *tx, assign_bulk_t *in, crm_err_t *err)
{
    if (!in->import_id || !*in->import_id)
        return crm_err_set(err, CRM_EINVALID, "/import_id", "missing", "release_ids need the import_id");
    crm_buf_t ids = {0};
    crm_buf_i64_array(&ids, in->release, in->nrelease);
    const char *p[] = {in->type, ids.s, in->import_id};
    PGresult *res = crm_db_exec(
        tx, "pick_bulk_release",
        "WITH d AS (DELETE FROM assignments a USING unnest($2::bigint[]) AS r(id) WHERE a.resource_type = $1 "
        "AND a.resource_id = r.id AND a.cause_event_id = $3 || ':' || $1 || ':' || r.id RETURNING "
        "a.resource_id), o AS (DELETE FROM ownership o USING d WHERE o.resource_type = $1 AND o.resource_id "
        "= d.resource_id) SELECT count(*) FROM d",
        3, p, err);
    crm_buf_free(&ids);
    if (!res)
        return err->code;
    in->released = crm_db_i64(res, 0, 0);
    PQclear(res);
    return CRM_OK;
}

int assign_store_pick_bulk(crm_db_t *tx, assign_bulk_t *in, int64_t *owners, int64_t *aids,
                           int64_t *pool_used, crm_err_t *err)
{
    size_t n = in->n;
    *pool_used = 0;
    memset(owners, 0, n * sizeof *owners);
    memset(aids, 0, n * sizeof *aids);
    if (in->owner_id > 0) {
        char st[16];
        if (user_status(tx, in->owner_id, st, err) != CRM_OK)
            return err->code;
        if (strcmp(st, "active") != 0)
            return crm_err_set(err, CRM_EINVALID, "/owner_id", "incorrect_value",
                               "user %lld does not exist or is not active", (long long)in->owner_id);
    }
    /* Two bulk calls for the same records run one after the other (the second sees the first's
     * assignments); single picks only take the pool row, which comes after this lock. */
    const char *lk[] = {in->type};
    if (crm_db_run(tx, "pick_bulk_lock", "SELECT pg_advisory_xact_lock(hashtext('assign.pick_bulk:' || $1))",
                   1, lk, err))
        return err->code;
    if (in->nrelease > 0 && bulk_release(tx, in, err) != CRM_OK)
        return err->code;
    if (n == 0)
        return CRM_OK;
    pool_turns_t ps = {0};
    if (in->owner_id <= 0) {
        bool mismatch;
        if (pool_load(tx, in->pool_id, in->type, &ps, &mismatch, err) != CRM_OK)
            return err->code;
        if (mismatch)
            return crm_err_set(err, CRM_EINVALID, "/pool_id", "incorrect_value",
                               "distribution pool %lld serves another record type", (long long)in->pool_id);
        if (ps.id == 0 && in->pool_id > 0)
            return crm_err_set(err, CRM_ENOTFOUND, "/pool_id", "not_found",
                               "distribution pool %lld not found", (long long)in->pool_id);
        if (ps.id == 0)
            return CRM_OK; /* no default pool of the type: nobody, zeros */
        *pool_used = ps.id;
    }

    idmap_t map = {.cap = 16};
    while (map.cap < 2 * n)
        map.cap *= 2;
    map.keys = calloc(map.cap, sizeof *map.keys);
    map.vals = calloc(map.cap, sizeof *map.vals);
    int64_t *previous = calloc(n + 1, sizeof *previous);
    bool *closed = calloc(n + 1, sizeof *closed);
    size_t *first = calloc(n + 1, sizeof *first); /* slot of the first occurrence of each id */
    crm_buf_t ids = {0}, copy = {0}, news = {0}, newo = {0};
    bool found;
    for (size_t i = 0; i < n; i++) {
        size_t *v = idmap_slot(&map, in->ids[i], &found);
        if (!found)
            *v = i;
        first[i] = *v;
    }
    crm_buf_i64_array(&ids, in->ids, n);
    int64_t t = crm_mono_us();
#define PHASE(i) (in->phase_us[i] = crm_mono_us() - t, t = crm_mono_us())
    size_t n_owned = 0;
    int rc = bulk_known(tx, in->type, ids.s, &map, owners, aids, previous, closed, &n_owned, err);
    PHASE(0);

    /* Ids for the new log rows, reserved first so that the COPY can carry them. */
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        want += first[i] == i && aids[i] == 0;
    int64_t *fresh_aids = calloc(want + 1, sizeof *fresh_aids),
            *fresh_rids = calloc(want + 1, sizeof *fresh_rids),
            *fresh_owners = calloc(want + 1, sizeof *fresh_owners);
    if (rc == CRM_OK && want > 0) {
        char nb[24];
        const char *np[] = {crm_param_i64(nb, true, (int64_t)want)};
        PGresult *res = crm_db_exec(
            tx, "pick_bulk_ids",
            "SELECT nextval('assignments_id_seq') FROM generate_series(1, $1::integer) ORDER BY 1", 1, np,
            err);
        if (!res)
            rc = err->code;
        for (size_t j = 0; rc == CRM_OK && j < want; j++)
            fresh_aids[j] = crm_db_i64(res, (int)j, 0);
        PQclear(res);
    }

    PHASE(1);
    /* The picks, in record order, each one as assign_store_pick would make it. */
    size_t fresh = 0;
    assign_pick_t pick;
    memset(&pick, 0, sizeof pick);
    bool admins_loaded = false;
    json_t *skipped = json_array();
    char why[400], cause[200], b[5][24];
    const char *source = in->import_id && *in->import_id ? in->import_id : "pick_bulk";
    for (size_t i = 0; rc == CRM_OK && i < n; i++) {
        size_t k = first[i];
        if (k != i || aids[k] > 0) { /* a repeat, or assigned before: that assignment */
            owners[i] = owners[k];
            aids[i] = aids[k];
            continue;
        }
        json_array_clear(skipped);
        if (in->owner_id > 0) {
            memset(&pick, 0, sizeof pick);
            snprintf(pick.kind, sizeof pick.kind, "manual");
            pick.owner_id = in->owner_id;
            snprintf(why, sizeof why, "owner set by import %s by user %lld", source,
                     (long long)in->changed_by);
        } else if (pool_turn(&ps, skipped, &pick, why, sizeof why) < 0) {
            if (!admins_loaded && (rc = admins(tx, &pick, err)) != CRM_OK)
                break;
            admins_loaded = true;
            pick_fallback(&ps, &pick, why, sizeof why);
        }
        if (in->owner_id <= 0) {
            /* The open counts as the next single pick would read them from ownership. */
            int pm = member_index(&ps, previous[i]), cm = member_index(&ps, pick.owner_id);
            if (!closed[i] && pm >= 0)
                ps.ms[pm].open--; /* the record leaves its previous owner */
            if (closed[i] && !pick.fallback && cm >= 0)
                ps.ms[cm].open--; /* a closed record counts for nobody */
        }
        if (pick.owner_id <= 0)
            continue; /* fallback to nobody: no active admin */
        owners[i] = pick.owner_id;
        aids[i] = fresh_aids[fresh];
        fresh_rids[fresh] = in->ids[i];
        fresh_owners[fresh++] = pick.owner_id;
        snprintf(cause, sizeof cause, "%s:%s:%lld", source, in->type, (long long)in->ids[i]);
        char *sk = json_dumps(skipped, JSON_COMPACT);
        crm_buf_copy_field(&copy, crm_param_i64(b[0], true, aids[i]), false);
        crm_buf_copy_field(&copy, in->type, false);
        crm_buf_copy_field(&copy, crm_param_i64(b[1], true, in->ids[i]), false);
        crm_buf_copy_field(&copy, crm_param_i64(b[2], true, pick.owner_id), false);
        crm_buf_copy_field(&copy, crm_param_i64(b[3], previous[i] > 0, previous[i]), false);
        crm_buf_copy_field(&copy, crm_param_i64(b[4], *pool_used > 0, *pool_used), false);
        crm_buf_copy_field(&copy, cause, false);
        crm_buf_copy_field(&copy, why, false);
        crm_buf_copy_field(&copy, pick.kind, false);
        crm_buf_copy_field(&copy, sk, false);
        crm_buf_copy_field(&copy, crm_param_i64(b[0], pick.turn > 0, pick.turn), false);
        crm_buf_copy_field(&copy, crm_param_i64(b[1], pick.weight > 0, pick.weight), false);
        crm_buf_copy_field(&copy, crm_param_i64(b[2], in->changed_by > 0, in->changed_by), true);
        free(sk);
    }
    json_decref(skipped);

    PHASE(2);
    /* The log rows in one COPY, the owners in one upsert, the cursor once. */
    if (rc == CRM_OK && fresh > 0)
        rc = crm_db_copy_in(tx,
                            "COPY assignments (id, resource_type, resource_id, owner_id, previous_owner_id, "
                            "pool_id, cause_event_id, explanation, kind, skipped, turn, weight, changed_by) "
                            "FROM STDIN",
                            copy.s, copy.len, err);
    PHASE(3);
    if (rc == CRM_OK && fresh > 0 && n_owned == 0) {
        /* None of the records has an owner row yet (new records, the importer's case): COPY. */
        crm_buf_t rows = {0};
        for (size_t j = 0; j < fresh; j++)
            crm_buf_printf(&rows, "%s\t%lld\t%lld\n", in->type, (long long)fresh_rids[j],
                           (long long)fresh_owners[j]);
        rc = crm_db_copy_in(tx, "COPY ownership (resource_type, resource_id, owner_id) FROM STDIN", rows.s,
                            rows.len, err);
        crm_buf_free(&rows);
    } else if (rc == CRM_OK && fresh > 0) {
        crm_buf_i64_array(&news, fresh_rids, fresh);
        crm_buf_i64_array(&newo, fresh_owners, fresh);
        const char *op[] = {in->type, news.s, newo.s};
        rc = crm_db_run(tx, "pick_bulk_ownership_set",
                        "INSERT INTO ownership (resource_type, resource_id, owner_id) SELECT $1, r, o FROM "
                        "unnest($2::bigint[], $3::bigint[]) AS t(r, o) ON CONFLICT (resource_type, "
                        "resource_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, updated_at = now() WHERE "
                        "ownership.owner_id <> EXCLUDED.owner_id",
                        3, op, err);
    }
    if (rc == CRM_OK && fresh > 0 && ps.id > 0)
        rc = move_cursor(tx, &ps, err);
    PHASE(4);
#undef PHASE
    free(fresh_aids);
    free(fresh_rids);
    free(fresh_owners);
    free(ps.ms);
    free(map.keys);
    free(map.vals);
    free(previous);
    free(closed);
    free(first);
    crm_buf_free(&ids);
    crm_buf_free(&copy);
    crm_buf_free(&news);
    crm_buf_free(&newo);
    return rc;
}

/* ---- explain and stats ------------------------------------------------------------------- */

static Crm__Assignment *assignment_from_row(const PGresult *res, int r)
{
    Crm__Assignment *a = (Crm__Assignment *)crm_pb_new(&crm__assignment__descriptor);
    crm_row_i64(res, r, 0, &a->has_id, &a->id);
    a->resource_type = crm_row_str(res, r, 1);
    crm_row_i64(res, r, 2, &a->has_resource_id, &a->resource_id);
    crm_row_i64(res, r, 3, &a->has_owner_id, &a->owner_id);
    crm_row_i64(res, r, 4, &a->has_previous_owner_id, &a->previous_owner_id);
    crm_row_i64(res, r, 5, &a->has_pool_id, &a->pool_id);
    a->kind = crm_row_str(res, r, 6);
    a->explanation = crm_row_str(res, r, 7);
    crm_row_i32(res, r, 9, &a->has_turn, &a->turn);
    crm_row_i32(res, r, 10, &a->has_weight, &a->weight);
    crm_row_i64(res, r, 11, &a->has_changed_by, &a->changed_by);
    a->cause_event_id = crm_row_str(res, r, 12);
    a->created_at = crm_row_str(res, r, 13);
    json_t *sk = json_loads(PQgetvalue(res, r, 8), 0, NULL);
    size_t n = json_array_size(sk);
    a->skipped = calloc(n + 1, sizeof *a->skipped);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(sk, i);
        Crm__SkippedMember *s = (Crm__SkippedMember *)crm_pb_new(&crm__skipped_member__descriptor);
        s->has_user_id = 1;
        s->user_id = json_integer_value(json_object_get(e, "user_id"));
        s->reason = strdup(json_string_value(json_object_get(e, "reason")) ?: "");
        s->detail = strdup(json_string_value(json_object_get(e, "detail")) ?: "");
        a->skipped[a->n_skipped++] = s;
    }
    json_decref(sk);
    return a;
}

static const char *const assignment_sort[] = {"id", "created_at", NULL};

int assign_store_assignment_list(crm_db_t *db, int64_t caller_id, bool sales,
                                 const Crm__AssignmentListRequest *req, Crm__AssignmentList **out,
                                 crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    int sort;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, assignment_sort, 0, false, &sort, &desc, err))
        return err->code;
    if (req->resource_type && !valid_type(req->resource_type))
        return crm_err_set(err, CRM_EBADREQUEST, "resource_type", "invalid_param",
                           "resource_type must be lead, contact or deal");
    if (req->has_resource_id && !req->resource_type)
        return crm_err_set(err, CRM_EBADREQUEST, "resource_type", "invalid_param",
                           "resource_id needs resource_type (lead, contact or deal)");
    char b[6][24];
    const char *p[] = {req->resource_type,
                       crm_param_i64(b[0], req->has_resource_id, req->resource_id),
                       crm_param_i64(b[1], req->has_pool_id, req->pool_id),
                       crm_param_i64(b[2], req->has_owner_id, req->owner_id),
                       crm_param_i64(b[3], sales, caller_id),
                       crm_param_i64(b[4], true, page.limit),
                       crm_param_i64(b[5], true, page.offset)};
    char name[64], sql[1400];
    snprintf(name, sizeof name, "assignments_list_%s_%s", assignment_sort[sort], desc ? "desc" : "asc");
    /* sales: only the log of records they own now (their ownership row). */
    snprintf(
        sql, sizeof sql,
        "SELECT a.id, a.resource_type, a.resource_id, a.owner_id, a.previous_owner_id, a.pool_id, a.kind, "
        "a.explanation, a.skipped::text, a.turn, a.weight, a.changed_by, a.cause_event_id, " TS(
            "a.created_at") " FROM assignments a WHERE ($1::text IS NULL OR a.resource_type = $1) "
                            "AND ($2::bigint IS NULL OR a.resource_id = $2) AND ($3::bigint IS NULL OR "
                            "a.pool_id = $3) "
                            "AND ($4::bigint IS NULL OR a.owner_id = $4) AND ($5::bigint IS NULL OR EXISTS "
                            "(SELECT 1 FROM "
                            "ownership o WHERE o.resource_type = a.resource_type AND o.resource_id = "
                            "a.resource_id "
                            "AND o.owner_id = $5)) ORDER BY a.%s %s, a.id LIMIT $6 OFFSET $7",
        assignment_sort[sort], desc ? "DESC" : "ASC");
    PGresult *res = crm_db_exec(db, name, sql, 7, p, err);
    if (!res)
        return err->code;
    Crm__AssignmentList *list = (Crm__AssignmentList *)crm_pb_new(&crm__assignment_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = assignment_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

static bool time_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 10 || n > 35 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    return strspn(s, "0123456789-:T.Z+ ") == n;
}

int assign_store_pool_stats(crm_db_t *db, const Crm__PoolStatsRequest *req, Crm__PoolStats **out,
                            crm_err_t *err)
{
    *out = NULL;
    if (req->from && !time_ok(req->from))
        return crm_err_set(err, CRM_EBADREQUEST, "from", "invalid_param",
                           "from must be YYYY-MM-DD or RFC 3339");
    if (req->to && !time_ok(req->to))
        return crm_err_set(err, CRM_EBADREQUEST, "to", "invalid_param", "to must be YYYY-MM-DD or RFC 3339");
    Crm__DistributionPool *pool = NULL;
    if (assign_store_pool_get(db, req->id, &pool, err) != CRM_OK)
        return err->code;
    char ib[24];
    const char *p[] = {crm_param_i64(ib, true, req->id), req->from, req->to};
    /* Every current member (0 when it got nothing), then former members and fallback owners. */
    PGresult *res = crm_db_exec(
        db, "pool_stats",
        "WITH w AS (SELECT coalesce($2::timestamptz, '-infinity') AS f, coalesce($3::timestamptz, now()) AS "
        "t), "
        "a AS (SELECT owner_id, kind FROM assignments, w WHERE pool_id = $1 AND kind <> 'manual' "
        "AND created_at >= w.f AND created_at < w.t), "
        "u AS (SELECT user_id, position FROM pool_members WHERE pool_id = $1 "
        "UNION SELECT owner_id, NULL FROM a WHERE owner_id NOT IN (SELECT user_id FROM pool_members WHERE "
        "pool_id = $1)) "
        "SELECT u.user_id, (SELECT count(*) FROM a WHERE a.owner_id = u.user_id), u.position IS NOT NULL, "
        "(SELECT count(*) FROM a), (SELECT count(*) FROM a WHERE kind = 'fallback'), "
        "(SELECT " TS("f") " FROM w), (SELECT " TS("t") " FROM w) "
                                                        "FROM u ORDER BY u.position NULLS LAST, u.user_id",
        3, p, err);
    protobuf_c_message_free_unpacked(&pool->base, NULL);
    if (!res)
        return err->code == CRM_EINTERNAL || err->code == CRM_EINVALID
                   ? crm_err_set(err, CRM_EBADREQUEST, "from", "invalid_param",
                                 "from or to is not a valid time")
                   : err->code;
    Crm__PoolStats *s = (Crm__PoolStats *)crm_pb_new(&crm__pool_stats__descriptor);
    s->has_id = 1;
    s->id = req->id;
    int n = PQntuples(res);
    s->has_total = s->has_fallback_count = 1;
    s->members = calloc((size_t)n + 1, sizeof *s->members);
    for (int r = 0; r < n; r++) {
        if (r == 0) {
            s->total = crm_db_i64(res, 0, 3);
            s->fallback_count = crm_db_i64(res, 0, 4);
            s->from = req->from ? strdup(req->from) : NULL;
            s->to = crm_row_str(res, 0, 6);
        }
        Crm__PoolMemberShare *m = (Crm__PoolMemberShare *)crm_pb_new(&crm__pool_member_share__descriptor);
        m->has_user_id = m->has_count = m->has_share = m->has_member = 1;
        m->user_id = crm_db_i64(res, r, 0);
        m->count = crm_db_i64(res, r, 1);
        m->member = crm_db_bool(res, r, 2);
        m->share = s->total > 0 ? (double)m->count / (double)s->total : 0.0;
        s->members[s->n_members++] = m;
    }
    PQclear(res);
    *out = s;
    return CRM_OK;
}

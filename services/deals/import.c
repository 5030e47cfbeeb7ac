/* crm-deals bulk import (SPEC A3): deals.import_batch and deals.import_status (proto/import.proto),
 * the deals side of `crmctl import deals`, mirroring crm-leads' leads.import_batch.
 *
 * crmctl reads and maps the CSV file and sends it in batches. Before the batch's transaction the
 * contacts the rows name are resolved in one call to crm-leads (contacts.resolve: by e-mail, which
 * wins, else by name). One batch is then one transaction:
 *   1. the import's row is locked (FOR UPDATE): rows with line <= its watermark (the last line
 *      stored) were stored by an earlier call (a resumed run, a retried request) and are skipped;
 *   2. each row is checked and rejected with its reason otherwise: a name; a known pipeline (by
 *      name, "" = the first enabled one) and a stage of it (by name, "" = its first active stage);
 *      a value (decimal, at most 2 decimals) and a currency (ISO 4217); a date; a known contact;
 *   3. the deal ids of the batch's lines (reserved before, in their own transaction, and reused
 *      when the batch is sent again) get their owners from crm-assign in one call
 *      (assign.pick_bulk: the batch's owner, or its pool, or the default deal pool; the same pool
 *      cursor as every other path; idempotent per deal id), so that deal.created carries the
 *      owner and assignment_id and crm-assign does not pick again per row;
 *   4. the rows go into a temporary staging table with COPY, then INSERT ... SELECT into deals
 *      (with import_id and import_line, unique), their primary contact, their first stage stay
 *      and the funnel counts, and deal.created into the outbox (COPY too), with import_id;
 *   5. the watermark and counts move; the final batch finishes the import and, the first time
 *      only, writes import.finished (owners and their counts) in the same transaction.
 * Deal fields taken from a row: name, value_json, currency, hot, estimated_close_date, added_on,
 * customized_win_likelihood, loss reason (by name, created when new), tags, owner_id (crmctl's owner column:
 * that row's owner, a manual assignment) (and the row's source); a stage named "Closed Won" / "Closed Lost"
 * (Salesforce) that no stage of the pipeline is named is its won / lost stage, and Salesforce's default open
 * stages (Prospecting … Negotiation/Review) go to the active stage nearest their default probability. Custom
 * columns that name a deal custom field (crm-leads keeps the definitions: custom_fields.deal.list, once per
 * batch) go to the deal's custom_fields, each value checked against the field's type (crm/customvalue.h: a
 * bad one rejects the row, e.g. "custom field 'Budget': not a number"); the other columns are reported in
 * unknown_columns. */
#include "deals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import.pb-c.h"
#include "crm/buf.h"
#include "crm/customvalue.h"
#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"

#define IMPORT_MAX_ROWS 10000

typedef struct {
    int64_t id;
    char *name;
    bool disabled;
} pipe_t;

typedef struct {
    int64_t id, pipeline_id;
    char *name;
    bool active, won, lost;
    int likelihood;
} stage_t;

typedef struct {
    pipe_t *pipes;
    int npipes;
    stage_t *stages; /* by pipeline, then position */
    int nstages;
} catalog_t;

/* One row of the batch being imported. */
typedef struct {
    const Crm__ImportRow *in;
    char reason[240]; /* "" = stored */
    char value[48];
    int64_t pipeline_id, stage_id, contact_id;
    int64_t deal_id; /* reserved for its line (reserve_ids) */
    bool won;
    char *custom; /* owned: the custom_fields JSON of a good row */
} drow_t;

static const char STATUS_COLS[] =
    "id, resource_type, file_name, last_line, end_offset, created, merged, duplicates, rejected, flagged, "
    "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

static Crm__ImportStatus *status_from_row(const PGresult *res)
{
    Crm__ImportStatus *st = (Crm__ImportStatus *)crm_pb_new(&crm__import_status__descriptor);
    st->has_found = 1;
    st->found = PQntuples(res) == 1;
    if (!st->found)
        return st;
    protobuf_c_boolean has;
    int64_t off = 0;
    st->import_id = crm_row_str(res, 0, 0);
    st->resource_type = crm_row_str(res, 0, 1);
    st->file_name = crm_row_str(res, 0, 2);
    crm_row_i64(res, 0, 3, &st->has_last_line, &st->last_line);
    crm_row_i64(res, 0, 4, &has, &off);
    st->has_end_offset = has;
    st->end_offset = (uint64_t)off;
    crm_row_i64(res, 0, 5, &st->has_created, &st->created);
    crm_row_i64(res, 0, 6, &st->has_merged, &st->merged);
    crm_row_i64(res, 0, 7, &st->has_duplicates, &st->duplicates);
    crm_row_i64(res, 0, 8, &st->has_rejected, &st->rejected);
    crm_row_i64(res, 0, 9, &st->has_flagged, &st->flagged);
    st->started_at = crm_row_str(res, 0, 10);
    st->finished_at = crm_row_str(res, 0, 11);
    return st;
}

/* 1-128 of [A-Za-z0-9:_.-], as crm-leads accepts. */
static bool import_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= 128 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-.") == n;
}

static int may_import(const crm_rpc_ctx_t *ctx, const char *import_id, crm_err_t *err)
{
    if (strcmp(ctx->role, "admin") != 0 && strcmp(ctx->role, "system") != 0)
        return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "imports are for admins");
    if (!import_id_ok(import_id))
        crm_err_add(err, CRM_EINVALID, "/import_id", "invalid", "import_id: 1-128 of [A-Za-z0-9:_.-]");
    return err->code;
}

static int import_status(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__ImportStatusRequest *in = (const Crm__ImportStatusRequest *)in_;
    if (may_import(ctx, in->import_id, err) != CRM_OK)
        return err->code;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM imports WHERE id = $1", STATUS_COLS);
    const char *p[] = {in->import_id};
    PGresult *res = crm_db_exec(ctx->db, "import_status", sql, 1, p, err);
    if (!res)
        return err->code;
    *out = &status_from_row(res)->base;
    PQclear(res);
    return CRM_OK;
}

/* ---- checks ---------------------------------------------------------------------------------- */

static int check_batch(const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, crm_err_t *err)
{
    if (may_import(ctx, b->import_id, err) == CRM_EFORBIDDEN)
        return err->code;
    if (!b->resource_type || strcmp(b->resource_type, "deal") != 0)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value", "resource_type must be deal");
    if (b->n_rows > IMPORT_MAX_ROWS)
        crm_err_add(err, CRM_EINVALID, "/rows", "too_long", "at most %d rows per batch", IMPORT_MAX_ROWS);
    if (b->owner_id < 0 || b->pool_id < 0 || (b->owner_id > 0 && b->pool_id > 0))
        crm_err_add(err, CRM_EINVALID, "/owner_id", "incorrect_value", "an owner or a pool, not both");
    if (b->n_custom_columns > 256)
        crm_err_add(err, CRM_EINVALID, "/custom_columns", "too_long", "at most 256 custom columns");
    for (size_t i = 1; i < b->n_rows; i++)
        if (b->rows[i]->line <= b->rows[i - 1]->line) {
            crm_err_add(err, CRM_EINVALID, "/rows", "incorrect_value",
                        "rows must come in increasing line order");
            break;
        }
    return err->code;
}

static int catalog_load(crm_db_t *tx, catalog_t *cat, crm_err_t *err)
{
    PGresult *res = crm_db_exec(tx, "import_pipelines",
                                "SELECT id, name, disabled FROM pipelines ORDER BY id", 0, NULL, err);
    if (!res)
        return err->code;
    cat->npipes = PQntuples(res);
    cat->pipes = calloc((size_t)cat->npipes + 1, sizeof *cat->pipes);
    for (int r = 0; r < cat->npipes; r++)
        cat->pipes[r] =
            (pipe_t){crm_db_i64(res, r, 0), strdup(PQgetvalue(res, r, 1)), crm_db_bool(res, r, 2)};
    PQclear(res);
    res = crm_db_exec(tx, "import_stages",
                      "SELECT id, pipeline_id, name, active, category = 'won', category = 'lost', likelihood "
                      "FROM stages ORDER BY pipeline_id, position",
                      0, NULL, err);
    if (!res)
        return err->code;
    cat->nstages = PQntuples(res);
    cat->stages = calloc((size_t)cat->nstages + 1, sizeof *cat->stages);
    for (int r = 0; r < cat->nstages; r++)
        cat->stages[r] =
            (stage_t){crm_db_i64(res, r, 0),     crm_db_i64(res, r, 1),  strdup(PQgetvalue(res, r, 2)),
                      crm_db_bool(res, r, 3),    crm_db_bool(res, r, 4), crm_db_bool(res, r, 5),
                      (int)crm_db_i64(res, r, 6)};
    PQclear(res);
    return CRM_OK;
}

static void catalog_free(catalog_t *cat)
{
    for (int i = 0; i < cat->npipes; i++)
        free(cat->pipes[i].name);
    for (int i = 0; i < cat->nstages; i++)
        free(cat->stages[i].name);
    free(cat->pipes);
    free(cat->stages);
}

static bool given(const char *s)
{
    return s && !deals_blank(s);
}

/* Trims blanks for a case-insensitive name comparison. */
static bool same_name(const char *a, const char *b)
{
    while (*b == ' ' || *b == '\t')
        b++;
    size_t n = strlen(b);
    while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    return strlen(a) == n && strncasecmp(a, b, n) == 0;
}

/* Salesforce's default open opportunity stages and their default probability (%). */
static const struct {
    const char *name;
    int probability;
} SF_OPEN_STAGES[] = {{"Prospecting", 10},          {"Qualification", 10},       {"Needs Analysis", 20},
                      {"Value Proposition", 50},    {"Id. Decision Makers", 60}, {"Perception Analysis", 70},
                      {"Proposal/Price Quote", 75}, {"Negotiation/Review", 90}};

/* For a Salesforce default open stage no stage of the pipeline is named: the pipeline's active stage
 * whose likelihood is nearest that stage's probability (the earlier one on a tie), else NULL. */
static const stage_t *salesforce_open_stage(const catalog_t *cat, int64_t pipeline_id, const char *name)
{
    int want = -1;
    for (size_t i = 0; i < sizeof SF_OPEN_STAGES / sizeof *SF_OPEN_STAGES && want < 0; i++)
        if (same_name(SF_OPEN_STAGES[i].name, name))
            want = SF_OPEN_STAGES[i].probability;
    const stage_t *best = NULL;
    for (int i = 0; i < cat->nstages && want >= 0; i++) {
        const stage_t *s = &cat->stages[i];
        if (s->pipeline_id == pipeline_id && s->active && !s->won && !s->lost &&
            (!best || abs(s->likelihood - want) < abs(best->likelihood - want)))
            best = s;
    }
    return best;
}

/* The pipeline and stage of a row (names win over ids; "" = the defaults); false with the reason. */
static bool resolve_stage(const catalog_t *cat, const Crm__ImportRow *in, drow_t *r)
{
    const Crm__Deal *d = in->deal;
    const pipe_t *pipe = NULL;
    for (int i = 0; i < cat->npipes && !pipe; i++) {
        const pipe_t *p = &cat->pipes[i];
        if (given(in->pipeline_name) ? same_name(p->name, in->pipeline_name)
                                     : (d->has_pipeline_id ? p->id == d->pipeline_id : !p->disabled))
            pipe = p;
    }
    if (!pipe || pipe->disabled) {
        if (given(in->pipeline_name))
            snprintf(r->reason, sizeof r->reason, "%s pipeline \"%.100s\"", pipe ? "disabled" : "unknown",
                     in->pipeline_name);
        else
            snprintf(r->reason, sizeof r->reason, "%s",
                     d->has_pipeline_id ? "unknown pipeline id" : "no enabled pipeline");
        return false;
    }
    const stage_t *st = NULL;
    for (int i = 0; i < cat->nstages && !st; i++) {
        const stage_t *s = &cat->stages[i];
        if (s->pipeline_id != pipe->id)
            continue;
        if (given(in->stage_name) ? same_name(s->name, in->stage_name)
                                  : (d->has_stage_id ? s->id == d->stage_id : s->active))
            st = s;
    }
    /* Salesforce's closed stages, when no stage has that name: the pipeline's won / lost stage */
    bool won = given(in->stage_name) && same_name("Closed Won", in->stage_name),
         lost = given(in->stage_name) && same_name("Closed Lost", in->stage_name);
    for (int i = 0; i < cat->nstages && !st && (won || lost); i++) {
        const stage_t *s = &cat->stages[i];
        if (s->pipeline_id == pipe->id && (won ? s->won : s->lost))
            st = s;
    }
    if (!st && given(in->stage_name) && !won && !lost)
        st = salesforce_open_stage(cat, pipe->id, in->stage_name);
    if (!st) {
        if (given(in->stage_name))
            snprintf(r->reason, sizeof r->reason, "unknown stage \"%.100s\" in pipeline \"%.100s\"",
                     in->stage_name, pipe->name);
        else
            snprintf(r->reason, sizeof r->reason, "%s in pipeline \"%.100s\"",
                     d->has_stage_id ? "unknown stage id" : "no active stage", pipe->name);
        return false;
    }
    r->pipeline_id = pipe->id;
    r->stage_id = st->id;
    r->won = st->won;
    return true;
}

/* The checks of one row (contact already resolved in r->contact_id, -1 = named but not found). */
static void check_row(const catalog_t *cat, const crm_cv_defs_t *defs, const Crm__ImportBatch *b, drow_t *r)
{
    const Crm__ImportRow *in = r->in;
    const Crm__Deal *d = in->deal;
    if (in->reject_reason && *in->reject_reason) {
        snprintf(r->reason, sizeof r->reason, "%s", in->reject_reason);
        return;
    }
    if (!d || deals_blank(d->name)) {
        snprintf(r->reason, sizeof r->reason, "missing name");
        return;
    }
    if (!resolve_stage(cat, in, r))
        return;
    if (given(d->value_json) && !deals_value_parse(d->value_json, r->value))
        snprintf(r->reason, sizeof r->reason, "bad value \"%.60s\": a decimal such as 1200 or 1200.50",
                 d->value_json);
    else if (d->currency && *d->currency && !deals_currency_ok(d->currency))
        snprintf(r->reason, sizeof r->reason, "bad currency \"%.20s\": an ISO 4217 code such as USD",
                 d->currency);
    else if (given(d->estimated_close_date) && !deals_date_ok(d->estimated_close_date))
        snprintf(r->reason, sizeof r->reason, "bad estimated_close_date \"%.40s\": YYYY-MM-DD",
                 d->estimated_close_date);
    else if (given(d->added_on) && !deals_datetime_ok(d->added_on))
        snprintf(r->reason, sizeof r->reason, "bad added_on \"%.40s\": a date or an ISO 8601 date-time",
                 d->added_on);
    else if (d->has_customized_win_likelihood &&
             (d->customized_win_likelihood < 0 || d->customized_win_likelihood > 100))
        snprintf(r->reason, sizeof r->reason, "bad customized_win_likelihood %d: 0 to 100",
                 (int)d->customized_win_likelihood);
    else if (r->contact_id < 0)
        snprintf(r->reason, sizeof r->reason, "unknown contact \"%.120s\"",
                 given(in->contact_email) ? in->contact_email : in->contact_name);
    for (size_t t = 0; !r->reason[0] && t < d->n_tags; t++)
        if (deals_blank(d->tags[t]))
            snprintf(r->reason, sizeof r->reason, "blank tag");
    if (r->reason[0])
        return;
    size_t nc = b->n_custom_columns < in->n_custom_values ? b->n_custom_columns : in->n_custom_values;
    json_t *cf = crm_cv_row(defs, b->custom_columns, in->custom_values, nc, r->reason, sizeof r->reason);
    r->custom = cf ? json_dumps(cf, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(cf);
}

/* The deal custom fields the batch's custom columns name (crm-leads: custom_fields.deal.list, every
 * page); the other columns go to rep->unknown_columns. */
static int load_custom_defs(deals_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b,
                            crm_cv_defs_t *defs, Crm__ImportBatchReply *rep, crm_err_t *err)
{
    if (b->n_custom_columns == 0)
        return CRM_OK;
    if (!self->leads)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL,
                           "no RPC client for crm-leads (custom_fields.deal.list)");
    crm_rpc_caller_t caller = {
        .user_id = ctx->user_id, .role = ctx->role, .correlation_id = ctx->correlation_id};
    int rc = CRM_OK;
    bool more = true;
    for (int page = 1; rc == CRM_OK && more; page++) {
        Crm__CustomFieldListRequest q = CRM__CUSTOM_FIELD_LIST_REQUEST__INIT;
        q.has_page = q.has_per_page = 1;
        q.page = page;
        q.per_page = 100;
        q.sort_by = "id";
        ProtobufCMessage *got = NULL;
        rc = crm_rpc_call(self->leads, "custom_fields.deal.list", &caller, &q.base,
                          &crm__custom_field_list__descriptor, 30000, &got, err);
        const Crm__CustomFieldList *l = (const Crm__CustomFieldList *)got;
        more = rc == CRM_OK && l->has_more && l->n_items > 0;
        for (size_t i = 0; rc == CRM_OK && i < l->n_items; i++) {
            const Crm__CustomField *f = l->items[i];
            bool named = false;
            for (size_t c = 0; c < b->n_custom_columns && !named; c++)
                named = f->name && strcmp(f->name, b->custom_columns[c]) == 0;
            if (!named)
                continue;
            char **choices = calloc(f->n_choices + 1, sizeof *choices);
            for (size_t k = 0; k < f->n_choices; k++)
                choices[k] = f->choices[k]->name;
            crm_cv_defs_add(defs, f->name, f->type, choices, f->n_choices);
            free(choices);
        }
        if (got)
            protobuf_c_message_free_unpacked(got, NULL);
    }
    rep->unknown_columns = calloc(b->n_custom_columns + 1, sizeof *rep->unknown_columns);
    for (size_t c = 0; rc == CRM_OK && c < b->n_custom_columns; c++)
        if (!crm_cv_defs_find(defs, b->custom_columns[c]))
            rep->unknown_columns[rep->n_unknown_columns++] = crm_pb_strdup(b->custom_columns[c]);
    return rc;
}

/* The rows' contacts, by e-mail or name, in one contacts.resolve call to crm-leads: contact_id > 0
 * found, -1 named but unknown, 0 none named. */
static int resolve_contacts(deals_t *self, const crm_rpc_ctx_t *ctx, drow_t *rows, size_t n, crm_err_t *err)
{
    Crm__Contact *qs = calloc(n + 1, sizeof *qs);
    Crm__Contact **qp = calloc(n + 1, sizeof *qp);
    size_t *slot = calloc(n + 1, sizeof *slot), nq = 0;
    for (size_t i = 0; i < n; i++) {
        const Crm__ImportRow *in = rows[i].in;
        bool email = given(in->contact_email), name = given(in->contact_name);
        if (!email && !name)
            continue;
        crm__contact__init(&qs[nq]);
        if (email)
            qs[nq].email = in->contact_email;
        else
            qs[nq].name = in->contact_name;
        qp[nq] = &qs[nq];
        slot[nq++] = i;
    }
    int rc = CRM_OK;
    if (nq > 0 && !self->leads)
        rc = crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for crm-leads (contacts.resolve)");
    if (nq > 0 && rc == CRM_OK) {
        Crm__ContactList q = CRM__CONTACT_LIST__INIT;
        q.items = qp;
        q.n_items = nq;
        crm_rpc_caller_t caller = {
            .user_id = ctx->user_id, .role = ctx->role, .correlation_id = ctx->correlation_id};
        ProtobufCMessage *got = NULL;
        rc = crm_rpc_call(self->leads, "contacts.resolve", &caller, &q.base, &crm__contact_list__descriptor,
                          30000, &got, err);
        const Crm__ContactList *cl = (const Crm__ContactList *)got;
        if (rc == CRM_OK && cl->n_items != nq)
            rc = crm_err_set(err, CRM_EINTERNAL, NULL, NULL,
                             "contacts.resolve: %zu answers for %zu questions", cl->n_items, nq);
        for (size_t k = 0; rc == CRM_OK && k < nq; k++)
            rows[slot[k]].contact_id = cl->items[k]->has_id && cl->items[k]->id > 0 ? cl->items[k]->id : -1;
        if (got)
            protobuf_c_message_free_unpacked(got, NULL);
    }
    free(qs);
    free(qp);
    free(slot);
    return rc;
}

/* ---- storing ----------------------------------------------------------------------------------- */

/* Owners for deal ids from crm-assign (one assign.pick_bulk call: owner_id given → manual, else
 * pool_id, else the default deal pool); owners[i] 0 when nobody. */
static int pick_call(deals_t *self, const crm_rpc_ctx_t *ctx, const char *import_id, int64_t *ids, size_t n,
                     int64_t owner_id, int64_t pool_id, int64_t *owners, int64_t *aids, crm_err_t *err)
{
    if (!self->assign)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL,
                           "no RPC client for crm-assign (assign.pick_bulk)");
    Crm__PickBulkRequest q = CRM__PICK_BULK_REQUEST__INIT;
    q.resource_type = "deal";
    q.record_ids = ids;
    q.n_record_ids = n;
    q.has_pool_id = pool_id > 0;
    q.pool_id = pool_id;
    q.has_owner_id = owner_id > 0;
    q.owner_id = owner_id;
    q.import_id = (char *)import_id;
    q.has_changed_by = 1;
    q.changed_by = ctx->user_id;
    crm_rpc_caller_t caller = {
        .user_id = ctx->user_id, .role = ctx->role, .correlation_id = ctx->correlation_id};
    ProtobufCMessage *got = NULL;
    int rc = crm_rpc_call(self->assign, "assign.pick_bulk", &caller, &q.base,
                          &crm__pick_bulk_reply__descriptor, 60000, &got, err);
    const Crm__PickBulkReply *rep = (const Crm__PickBulkReply *)got;
    if (rc == CRM_OK && (rep->n_owner_ids != n || rep->n_assignment_ids != n))
        rc = crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "assign.pick_bulk: %zu owners for %zu deals",
                         rep->n_owner_ids, n);
    for (size_t i = 0; rc == CRM_OK && i < n; i++) {
        owners[i] = rep->owner_ids[i];
        aids[i] = rep->assignment_ids[i];
    }
    if (got)
        protobuf_c_message_free_unpacked(got, NULL);
    return rc;
}

/* Owners for the new deal ids: rows with their own owner (an owner column) get that owner, one
 * call per owner (manual assignments); the others the batch's owner or pool, or the default deal
 * pool, in one call in line order. */
static int pick_owners(deals_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, const int64_t *ids,
                       const int64_t *row_owner, size_t n, int64_t *owners, int64_t *aids, crm_err_t *err)
{
    int64_t *sub = calloc(n + 1, sizeof *sub), *so = calloc(n + 1, sizeof *so),
            *sa = calloc(n + 1, sizeof *sa);
    size_t *at = calloc(n + 1, sizeof *at);
    bool *done = calloc(n + 1, sizeof *done);
    int rc = CRM_OK;
    /* i < n: the rows of row_owner[i] (the first row of that owner); i == n: the rows without */
    for (size_t i = 0; rc == CRM_OK && i <= n; i++) {
        int64_t who = i < n ? row_owner[i] : 0;
        if (i < n && (who <= 0 || done[i]))
            continue;
        size_t m = 0;
        for (size_t k = 0; k < n; k++)
            if (!done[k] && (row_owner[k] > 0 ? row_owner[k] == who : i == n)) {
                at[m] = k;
                sub[m++] = ids[k];
                done[k] = true;
            }
        if (m > 0)
            rc = pick_call(self, ctx, b->import_id, sub, m, i < n ? who : b->owner_id, i < n ? 0 : b->pool_id,
                           so, sa, err);
        for (size_t k = 0; rc == CRM_OK && k < m; k++) {
            owners[at[k]] = so[k];
            aids[at[k]] = sa[k];
        }
    }
    free(sub);
    free(so);
    free(sa);
    free(at);
    free(done);
    return rc;
}

static int ensure_stage(crm_db_t *tx, crm_err_t *err)
{
    PGresult *res = crm_db_exec(tx, "import_stage_exists",
                                "SELECT to_regclass('pg_temp.import_deal_stage') IS NOT NULL", 0, NULL, err);
    if (!res)
        return err->code;
    bool there = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return there ? CRM_OK
                 : crm_db_exec_simple(
                       tx,
                       "CREATE TEMP TABLE import_deal_stage (id bigint NOT NULL, line bigint NOT NULL, "
                       "name text NOT NULL, value numeric, currency text, hot boolean, "
                       "pipeline_id bigint NOT NULL, stage_id bigint NOT NULL, won boolean NOT NULL, "
                       "contact_id bigint, estimated_close_date date, tags text[] NOT NULL, "
                       "source text, owner_id bigint, added_on timestamptz, custom_fields jsonb NOT NULL, "
                       "likelihood integer, loss_reason text) "
                       "ON COMMIT DELETE ROWS",
                       err);
}

/* deal.created for the inserted deals (res: deals_deal_cols, then import_line), with their assignment
 * ids (aids[k] of lines[k], lines ascending). */
static int emit_created(deals_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, PGresult *res,
                        const int64_t *lines, const int64_t *aids, size_t nlines, crm_err_t *err)
{
    int n = PQntuples(res);
    if (n == 0)
        return CRM_OK;
    Crm__Deal **deals = calloc((size_t)n, sizeof *deals);
    Crm__DealEvent *evs = calloc((size_t)n, sizeof *evs);
    const ProtobufCMessage **payloads = calloc((size_t)n, sizeof *payloads);
    const char **types = calloc((size_t)n, sizeof *types);
    for (int r = 0; r < n; r++) {
        deals[r] = deals_deal_from_row(res, r);
        Crm__DealEvent *ev = &evs[r];
        crm__deal_event__init(ev);
        ev->deal = deals[r];
        ev->has_changed_by = 1;
        ev->changed_by = ctx->user_id;
        ev->import_id = b->import_id;
        /* the deal's assignment: by its line (binary search; lines come in increasing order) */
        int64_t line = crm_db_i64(res, r, PQnfields(res) - 1);
        size_t lo = 0, hi = nlines;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (lines[mid] < line)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < nlines && lines[lo] == line && aids[lo] > 0) {
            ev->has_assignment_id = 1;
            ev->assignment_id = aids[lo];
        }
        payloads[r] = &ev->base;
        types[r] = "deal.created";
    }
    int rc = crm_outbox_append_many(self->daemon->outbox, ctx->db, types, ctx->correlation_id, payloads,
                                    (size_t)n, err);
    for (int r = 0; r < n; r++)
        protobuf_c_message_free_unpacked(&deals[r]->base, NULL);
    free(deals);
    free(evs);
    free(payloads);
    free(types);
    return rc;
}

/* Deal ids for the lines of the batch not stored yet, reserved in a transaction of their own and
 * reused when the batch is sent again: assign.pick_bulk is idempotent per deal id, so a batch whose
 * transaction fails after crm-assign picked its owners gets the same owners again on the retry, and
 * the pool cursor moves once. The main transaction deletes the reservations its watermark covers. */
static int reserve_ids(crm_db_t *db, const char *import_id, drow_t *rows, size_t n, crm_err_t *err)
{
    const char *wp[] = {import_id};
    PGresult *res =
        crm_db_exec(db, "import_watermark", "SELECT last_line FROM imports WHERE id = $1", 1, wp, err);
    if (!res)
        return err->code;
    int64_t watermark = PQntuples(res) == 1 ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    int64_t *lines = calloc(n + 1, sizeof *lines);
    size_t nl = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].in->line > watermark)
            lines[nl++] = rows[i].in->line;
    int rc = CRM_OK;
    if (nl > 0) {
        crm_buf_t arr = {0};
        crm_buf_i64_array(&arr, lines, nl);
        const char *p[] = {import_id, arr.s};
        rc = crm_db_begin(db, err);
        if (rc == CRM_OK)
            rc = crm_db_run(db, "import_reserve",
                            "INSERT INTO import_pending (import_id, line, deal_id) SELECT $1, l, "
                            "nextval('deals_id_seq') FROM "
                            "unnest($2::bigint[]) l ORDER BY l ON CONFLICT DO NOTHING",
                            2, p, err);
        res = rc == CRM_OK
                  ? crm_db_exec(db, "import_reserved",
                                "SELECT line, deal_id FROM import_pending WHERE import_id = $1 AND line = "
                                "ANY($2::bigint[]) ORDER BY line",
                                2, p, err)
                  : NULL;
        if (rc == CRM_OK && !res)
            rc = err->code;
        /* rows and result both in line order */
        for (int r = 0, i = 0; rc == CRM_OK && r < PQntuples(res); r++) {
            int64_t line = crm_db_i64(res, r, 0);
            while ((size_t)i < n && rows[i].in->line < line)
                i++;
            if ((size_t)i < n && rows[i].in->line == line)
                rows[i].deal_id = crm_db_i64(res, r, 1);
        }
        PQclear(res);
        if (rc == CRM_OK)
            rc = crm_db_commit(db, err);
        if (rc != CRM_OK)
            crm_db_rollback(db);
        crm_buf_free(&arr);
    }
    free(lines);
    return rc;
}

/* Stores the good rows: ids, owners, staging, deals, contacts, stage stays, funnel, events.
 * *created: the deals inserted. */
static int store_rows(deals_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, drow_t *rows,
                      size_t n, int64_t *created, crm_err_t *err)
{
    crm_db_t *tx = ctx->db;
    size_t good = 0;
    for (size_t i = 0; i < n; i++)
        good += !rows[i].reason[0];
    *created = 0;
    if (good == 0)
        return CRM_OK;
    int64_t *ids = calloc(good, sizeof *ids), *lines = calloc(good, sizeof *lines),
            *owners = calloc(good, sizeof *owners), *aids = calloc(good, sizeof *aids),
            *row_owner = calloc(good, sizeof *row_owner);
    int rc = CRM_OK;
    for (size_t i = 0, k = 0; i < n; i++)
        if (!rows[i].reason[0]) {
            lines[k] = rows[i].in->line;
            const Crm__Deal *d = rows[i].in->deal;
            row_owner[k] = d->has_owner_id && d->owner_id > 0 ? d->owner_id : 0;
            ids[k++] = rows[i].deal_id;
            if (rows[i].deal_id <= 0)
                rc = crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "no deal id reserved for line %lld",
                                 (long long)rows[i].in->line);
        }
    PGresult *res = NULL;
    if (rc == CRM_OK)
        rc = pick_owners(self, ctx, b, ids, row_owner, good, owners, aids, err);

    crm_buf_t copy = {0};
    char v[7][24];
    const char *source = b->source && *b->source ? b->source : "import";
    for (size_t i = 0, k = 0; rc == CRM_OK && i < n; i++) {
        const drow_t *r = &rows[i];
        if (r->reason[0])
            continue;
        const Crm__Deal *d = r->in->deal;
        /* nobody from crm-assign (no pool): the importing user owns it, as a deal they create */
        int64_t owner = owners[k] > 0 ? owners[k] : ctx->user_id;
        char *tags = crm_param_text_array(d->tags, d->n_tags);
        crm_buf_copy_field(&copy, crm_param_i64(v[0], true, ids[k]), false);
        crm_buf_copy_field(&copy, crm_param_i64(v[1], true, r->in->line), false);
        crm_buf_copy_field(&copy, d->name, false);
        crm_buf_copy_field(&copy, r->value[0] ? r->value : NULL, false);
        crm_buf_copy_field(&copy, d->currency && *d->currency ? d->currency : NULL, false);
        crm_buf_copy_field(&copy, d->has_hot ? (d->hot ? "t" : "f") : NULL, false);
        crm_buf_copy_field(&copy, crm_param_i64(v[2], true, r->pipeline_id), false);
        crm_buf_copy_field(&copy, crm_param_i64(v[3], true, r->stage_id), false);
        crm_buf_copy_field(&copy, r->won ? "t" : "f", false);
        crm_buf_copy_field(&copy, crm_param_i64(v[4], r->contact_id > 0, r->contact_id), false);
        crm_buf_copy_field(&copy, given(d->estimated_close_date) ? d->estimated_close_date : NULL, false);
        crm_buf_copy_field(&copy, tags, false);
        crm_buf_copy_field(&copy, r->in->source && *r->in->source ? r->in->source : source, false);
        crm_buf_copy_field(&copy, crm_param_i64(v[5], owner > 0, owner), false);
        crm_buf_copy_field(&copy, given(d->added_on) ? d->added_on : NULL, false);
        crm_buf_copy_field(&copy, r->custom ? r->custom : "{}", false);
        crm_buf_copy_field(
            &copy, crm_param_i64(v[6], d->has_customized_win_likelihood, d->customized_win_likelihood),
            false);
        crm_buf_copy_field(&copy, given(r->in->loss_reason_name) ? r->in->loss_reason_name : NULL, true);
        free(tags);
        k++;
    }
    if (rc == CRM_OK)
        rc = ensure_stage(tx, err);
    if (rc == CRM_OK)
        rc = crm_db_copy_in(
            tx,
            "COPY import_deal_stage (id, line, name, value, currency, hot, pipeline_id, stage_id, "
            "won, contact_id, estimated_close_date, tags, source, owner_id, added_on, custom_fields, "
            "likelihood, loss_reason) FROM STDIN",
            copy.s, copy.len, err);
    crm_buf_free(&copy);
    if (rc == CRM_OK)
        rc = crm_db_run(
            tx, "import_deal_sources",
            "INSERT INTO deal_sources (name) SELECT DISTINCT source FROM import_deal_stage s WHERE "
            "source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deal_sources x WHERE x.name = s.source) "
            "ON CONFLICT (name) DO NOTHING",
            0, NULL, err);
    /* loss reasons by name, case-insensitively; the new ones are created (like sources) */
    if (rc == CRM_OK)
        rc = crm_db_run(
            tx, "import_deal_loss_reasons",
            "INSERT INTO loss_reasons (name) SELECT DISTINCT ON (lower(btrim(loss_reason))) "
            "btrim(loss_reason) FROM import_deal_stage s WHERE btrim(loss_reason) <> '' AND NOT EXISTS "
            "(SELECT 1 FROM loss_reasons r WHERE lower(r.name) = lower(btrim(s.loss_reason))) "
            "ON CONFLICT (name) DO NOTHING",
            0, NULL, err);
    char cb[24], sql[2048];
    const char *ip[] = {b->import_id, crm_param_i64(cb, ctx->user_id > 0, ctx->user_id),
                        crm_param_bool(true, ctx->user_id == 0)};
    snprintf(
        sql, sizeof sql,
        "INSERT INTO deals AS d (id, creator_id, owner_id, name, value, currency, hot, pipeline_id, "
        "stage_id, contact_id, estimated_close_date, source_id, tags, unsorted, last_stage_change_by_id, "
        "import_id, import_line, added_on, custom_fields, customized_win_likelihood, loss_reason_id) SELECT "
        "s.id, "
        "$2::bigint, s.owner_id, s.name, coalesce(s.value, 0), coalesce(s.currency, 'USD'), "
        "coalesce(s.hot, false), s.pipeline_id, s.stage_id, s.contact_id, s.estimated_close_date, src.id, "
        "s.tags, $3::boolean, $2::bigint, $1, s.line, coalesce(s.added_on, now()), s.custom_fields, "
        "s.likelihood, (SELECT min(r.id) FROM loss_reasons r WHERE lower(r.name) = "
        "lower(btrim(s.loss_reason))) "
        "FROM import_deal_stage s LEFT JOIN deal_sources src ON src.name = s.source "
        "ORDER BY s.id ON CONFLICT (import_id, import_line) WHERE import_id IS NOT NULL DO NOTHING "
        "RETURNING %s, d.import_line",
        deals_deal_cols);
    res = rc == CRM_OK ? crm_db_exec(tx, "import_deals_insert", sql, 3, ip, err) : NULL;
    if (rc == CRM_OK && !res)
        rc = err->code;
    if (rc == CRM_OK) {
        *created = PQntuples(res);
        rc = emit_created(self, ctx, b, res, lines, aids, good, err);
    }
    PQclear(res);
    /* What deal_insert and record_stay do for one deal: the primary contact is an associated
     * contact, the first stay opens in its stage, the funnel counts it entered (and won value). */
    if (rc == CRM_OK)
        rc = crm_db_run(tx, "import_deal_contacts",
                        "INSERT INTO deal_contacts (deal_id, contact_id) SELECT s.id, s.contact_id FROM "
                        "import_deal_stage s JOIN deals d ON d.id = s.id WHERE s.contact_id IS NOT NULL "
                        "ON CONFLICT DO NOTHING",
                        0, NULL, err);
    const char *sp[] = {ip[1]};
    if (rc == CRM_OK)
        rc = crm_db_run(
            tx, "import_deal_stays",
            "INSERT INTO stage_changes (deal_id, pipeline_id, from_stage_id, stage_id, changed_by, "
            "owner_id, currency, won_value) SELECT s.id, s.pipeline_id, NULL, s.stage_id, $1::bigint, "
            "coalesce(s.owner_id, 0), CASE WHEN s.won THEN d.currency ELSE '' END, CASE WHEN s.won THEN "
            "d.value ELSE 0 END FROM import_deal_stage s JOIN deals d ON d.id = s.id",
            1, sp, err);
    if (rc == CRM_OK)
        rc = crm_db_run(
            tx, "import_deal_funnel",
            "INSERT INTO funnel_daily AS f (pipeline_id, stage_id, day, owner_id, currency, entered, "
            "won_value) SELECT s.pipeline_id, s.stage_id, (now() AT TIME ZONE 'UTC')::date, "
            "coalesce(s.owner_id, 0), CASE WHEN s.won THEN d.currency ELSE '' END, count(*), "
            "sum(CASE WHEN s.won THEN d.value ELSE 0 END) FROM import_deal_stage s JOIN deals d ON d.id = "
            "s.id GROUP BY 1, 2, 3, 4, 5 ON CONFLICT (pipeline_id, stage_id, day, owner_id, currency) DO "
            "UPDATE SET entered = f.entered + EXCLUDED.entered, won_value = f.won_value + EXCLUDED.won_value",
            0, NULL, err);
    if (rc == CRM_OK)
        rc = crm_db_run(tx, "import_deal_stage_clear", "TRUNCATE import_deal_stage", 0, NULL, err);
    free(ids);
    free(lines);
    free(owners);
    free(aids);
    free(row_owner);
    return rc;
}

/* import.finished: the import's totals and, per owner, the deals it made for them. */
static int emit_finished(deals_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportStatus *st, crm_err_t *err)
{
    const char *p[] = {st->import_id};
    PGresult *res =
        crm_db_exec(ctx->db, "import_owner_counts",
                    "SELECT owner_id, count(*) FROM deals WHERE import_id = $1 AND owner_id IS NOT "
                    "NULL GROUP BY owner_id ORDER BY owner_id",
                    1, p, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    Crm__ImportOwnerCount *oc = calloc((size_t)n + 1, sizeof *oc);
    Crm__ImportOwnerCount **op = calloc((size_t)n + 1, sizeof *op);
    for (int r = 0; r < n; r++) {
        crm__import_owner_count__init(&oc[r]);
        oc[r].has_owner_id = oc[r].has_created = oc[r].has_merged = 1;
        oc[r].owner_id = crm_db_i64(res, r, 0);
        oc[r].created = crm_db_i64(res, r, 1);
        op[r] = &oc[r];
    }
    PQclear(res);
    Crm__ImportFinished f = CRM__IMPORT_FINISHED__INIT;
    f.import_id = st->import_id;
    f.resource_type = "deal";
    f.file_name = st->file_name;
    f.has_created = f.has_merged = f.has_duplicates = f.has_rejected = 1;
    f.created = st->created;
    f.merged = st->merged;
    f.duplicates = st->duplicates;
    f.rejected = st->rejected;
    f.owners = op;
    f.n_owners = (size_t)n;
    f.started_at = st->started_at;
    f.finished_at = st->finished_at;
    int rc = crm_outbox_append(self->daemon->outbox, ctx->db, "import.finished", ctx->correlation_id, &f.base,
                               err);
    crm_log_info(ctx->correlation_id, "import.finished", "import_id=%s created=%lld rejected=%lld owners=%d",
                 st->import_id, (long long)st->created, (long long)st->rejected, n);
    free(oc);
    free(op);
    return rc;
}

typedef struct {
    drow_t *rows;
    size_t n;
    int64_t created, rejected, skipped, flagged;
} batch_t;

static int run_batch(deals_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b,
                     const crm_cv_defs_t *defs, batch_t *bt, Crm__ImportBatchReply *rep, crm_err_t *err)
{
    crm_db_t *tx = ctx->db;
    char owner[24], pool[24];
    const char *ip[] = {b->import_id, b->file_name, crm_param_i64(owner, b->owner_id > 0, b->owner_id),
                        crm_param_i64(pool, b->pool_id > 0, b->pool_id)};
    int rc = crm_db_run(
        tx, "import_open",
        "INSERT INTO imports (id, resource_type, file_name, owner_id, pool_id) VALUES ($1, 'deal', "
        "$2, $3, $4) ON CONFLICT (id) DO NOTHING",
        4, ip, err);
    if (rc != CRM_OK)
        return rc;
    const char *lp[] = {b->import_id};
    PGresult *res = crm_db_exec(
        tx, "import_lock", "SELECT last_line, finished_at IS NOT NULL FROM imports WHERE id = $1 FOR UPDATE",
        1, lp, err);
    if (!res)
        return err->code;
    int64_t watermark = crm_db_i64(res, 0, 0);
    bool was_finished = crm_db_bool(res, 0, 1);
    PQclear(res);

    /* The rows not stored yet; the others were, by an earlier call. */
    drow_t *fresh = bt->rows;
    size_t nfresh = 0;
    for (size_t i = 0; i < bt->n; i++)
        if (bt->rows[i].in->line > watermark)
            fresh[nfresh++] = bt->rows[i];
    bt->skipped = (int64_t)(bt->n - nfresh);
    bt->n = nfresh;
    catalog_t cat = {0};
    rc = catalog_load(tx, &cat, err);
    for (size_t i = 0; rc == CRM_OK && i < bt->n; i++) {
        check_row(&cat, defs, b, &bt->rows[i]);
        bt->rejected += bt->rows[i].reason[0] != 0;
        bt->flagged += bt->rows[i].in->n_flags > 0;
    }
    catalog_free(&cat);
    if (rc == CRM_OK && b->dry_run)
        bt->created = (int64_t)bt->n - bt->rejected; /* what would be stored */
    else if (rc == CRM_OK)
        rc = store_rows(self, ctx, b, bt->rows, bt->n, &bt->created, err);
    if (rc != CRM_OK)
        return rc;

    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "UPDATE imports SET last_line = greatest(last_line, $2::bigint), end_offset = CASE WHEN $2::bigint > "
        "last_line THEN $3::bigint ELSE end_offset END, created = created + $4, rejected = rejected + $5, "
        "flagged = flagged + $6, updated_at = now(), finished_at = CASE WHEN $7 THEN coalesce(finished_at, "
        "now()) END WHERE id = $1 RETURNING %s",
        STATUS_COLS);
    char v[5][24];
    int64_t last = b->last_line;
    for (size_t i = 0; i < b->n_rows; i++)
        last = b->rows[i]->line > last ? b->rows[i]->line : last;
    const char *up[] = {b->import_id,
                        crm_param_i64(v[0], true, last),
                        crm_param_i64(v[1], true, (int64_t)b->end_offset),
                        crm_param_i64(v[2], true, bt->created),
                        crm_param_i64(v[3], true, bt->rejected),
                        crm_param_i64(v[4], true, bt->flagged),
                        b->final ? "true" : "false"};
    res = crm_db_exec(tx, "import_advance", sql, 7, up, err);
    if (!res)
        return err->code;
    rep->status = status_from_row(res);
    PQclear(res);
    const char *dp[] = {b->import_id, v[0]};
    if (!b->dry_run &&
        crm_db_run(tx, "import_unreserve", "DELETE FROM import_pending WHERE import_id = $1 AND line <= $2",
                   2, dp, err))
        return err->code;
    if (b->final && !was_finished && !b->dry_run)
        return emit_finished(self, ctx, rep->status, err);
    return CRM_OK;
}

static int import_batch(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                        ProtobufCMessage **out, crm_err_t *err)
{
    deals_t *self = arg;
    const Crm__ImportBatch *b = (const Crm__ImportBatch *)in_;
    if (check_batch(ctx, b, err) != CRM_OK)
        return err->code;
    Crm__ImportBatchReply *rep = (Crm__ImportBatchReply *)crm_pb_new(&crm__import_batch_reply__descriptor);
    batch_t bt = {.rows = calloc(b->n_rows + 1, sizeof *bt.rows), .n = b->n_rows};
    for (size_t i = 0; i < b->n_rows; i++)
        bt.rows[i].in = b->rows[i];
    crm_cv_defs_t defs = {0};
    int rc = load_custom_defs(self, ctx, b, &defs, rep, err);
    if (rc == CRM_OK)
        rc = resolve_contacts(self, ctx, bt.rows, bt.n, err);
    if (rc == CRM_OK && !b->dry_run)
        rc = reserve_ids(ctx->db, b->import_id, bt.rows, bt.n, err);
    if (rc == CRM_OK)
        rc = crm_db_begin(ctx->db, err);
    if (rc == CRM_OK)
        rc = run_batch(self, ctx, b, &defs, &bt, rep, err);
    if (rc == CRM_OK && !b->dry_run)
        rc = crm_db_commit(ctx->db, err);
    else
        crm_db_rollback(ctx->db);
    if (rc == CRM_OK) {
        rep->has_created = rep->has_merged = rep->has_duplicates = rep->has_rejected = rep->has_skipped = 1;
        rep->created = bt.created;
        rep->rejected = bt.rejected;
        rep->skipped = bt.skipped;
        rep->rejects = calloc((size_t)bt.rejected + 1, sizeof *rep->rejects);
        for (size_t i = 0; i < bt.n; i++) {
            if (!bt.rows[i].reason[0])
                continue;
            Crm__ImportRowResult *rr =
                (Crm__ImportRowResult *)crm_pb_new(&crm__import_row_result__descriptor);
            rr->has_line = 1;
            rr->line = bt.rows[i].in->line;
            rr->outcome = crm_pb_strdup("rejected");
            rr->reason = crm_pb_strdup(bt.rows[i].reason);
            rep->rejects[rep->n_rejects++] = rr;
        }
        if (!b->dry_run)
            crm_outbox_kick(self->daemon->outbox);
        crm_log_info(
            ctx->correlation_id, "import.batch",
            "import_id=%s resource_type=deal rows=%zu created=%lld rejected=%lld skipped=%lld dry_run=%d",
            b->import_id, b->n_rows, (long long)bt.created, (long long)bt.rejected, (long long)bt.skipped,
            b->dry_run ? 1 : 0);
    }
    for (size_t i = 0; i < bt.n; i++)
        free(bt.rows[i].custom);
    free(bt.rows);
    crm_cv_defs_free(&defs);
    if (rc != CRM_OK) {
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        return rc;
    }
    *out = &rep->base;
    return CRM_OK;
}

void deals_import_register(deals_t *self)
{
    crm_rpc_server_handle(self->daemon->rpc, "deals.import_batch", &crm__import_batch__descriptor,
                          import_batch, self);
    crm_rpc_server_handle(self->daemon->rpc, "deals.import_status", &crm__import_status_request__descriptor,
                          import_status, self);
}

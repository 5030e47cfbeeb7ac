/* crm-deals store: deals, their associated contacts and stage history (SPEC E1, E4, H1). Every
 * write runs in one transaction with the events it announces (outbox). A sales caller sees and
 * changes only the deals it owns: the others answer 404, as if they did not exist. */
#include "deals.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* Sell: an integer when there is no fraction ("1000"), two decimals otherwise ("1000.50"). */
#define DEC(col) "CASE WHEN " col " = trunc(" col ") THEN trunc(" col ")::text ELSE " col "::text END"
/* The same as JSON text for Deal.value_json: 1000 (a number) or "1000.50" (a string). */
#define DECJ(col)                                                                                            \
    "CASE WHEN " col " = trunc(" col ") THEN trunc(" col ")::text ELSE to_json(" col "::text)::text END"
// clang-format off
#define DEAL_COLS                                                                                            \
    "d.id, d.creator_id, d.owner_id, d.name, " DECJ("d.value") ", d.currency, d.hot, d.stage_id, "              \
    "d.pipeline_id, d.contact_id, d.organization_id, d.estimated_close_date::text, d.loss_reason_id, "        \
    "d.unqualified_reason_id, d.source_id, to_json(d.tags)::text, " TS("d.last_stage_change_at") ", "         \
    TS("d.created_at") ", " TS("d.updated_at") ", d.last_stage_change_by_id, "                                \
    "d.customized_win_likelihood, " TS("d.added_on") ", " DEC("d.monthly_payment") ", "                       \
    DEC("d.contract_value") ", d.custom_fields::text, d.unsorted, d.conversion_id"
// clang-format on

static Crm__Deal *deal_from_row(const PGresult *res, int r)
{
    Crm__Deal *m = (Crm__Deal *)crm_pb_new(&crm__deal__descriptor);
    crm_row_i64(res, r, 0, &m->has_id, &m->id);
    crm_row_i64(res, r, 1, &m->has_creator_id, &m->creator_id);
    crm_row_i64(res, r, 2, &m->has_owner_id, &m->owner_id);
    m->name = crm_row_str(res, r, 3);
    m->value_json = crm_row_str(res, r, 4);
    m->currency = crm_row_str(res, r, 5);
    crm_row_bool(res, r, 6, &m->has_hot, &m->hot);
    crm_row_i64(res, r, 7, &m->has_stage_id, &m->stage_id);
    crm_row_i64(res, r, 8, &m->has_pipeline_id, &m->pipeline_id);
    crm_row_i64(res, r, 9, &m->has_contact_id, &m->contact_id);
    crm_row_i64(res, r, 10, &m->has_organization_id, &m->organization_id);
    m->estimated_close_date = crm_row_str(res, r, 11);
    crm_row_i64(res, r, 12, &m->has_loss_reason_id, &m->loss_reason_id);
    crm_row_i64(res, r, 13, &m->has_unqualified_reason_id, &m->unqualified_reason_id);
    crm_row_i64(res, r, 14, &m->has_source_id, &m->source_id);
    crm_row_str_array(res, r, 15, &m->n_tags, &m->tags);
    m->last_stage_change_at = crm_row_str(res, r, 16);
    m->created_at = crm_row_str(res, r, 17);
    m->updated_at = crm_row_str(res, r, 18);
    crm_row_i64(res, r, 19, &m->has_last_stage_change_by_id, &m->last_stage_change_by_id);
    crm_row_i32(res, r, 20, &m->has_customized_win_likelihood, &m->customized_win_likelihood);
    m->added_on = crm_row_str(res, r, 21);
    m->monthly_payment = crm_row_str(res, r, 22);
    m->contract_value = crm_row_str(res, r, 23);
    m->custom_fields_json = crm_row_str(res, r, 24);
    crm_row_bool(res, r, 25, &m->has_unsorted, &m->unsorted);
    crm_row_i64(res, r, 26, &m->has_conversion_id, &m->conversion_id);
    return m;
}

static bool blank(const char *s)
{
    return !s || !*s || strspn(s, " \t\r\n") == strlen(s);
}

bool deals_blank(const char *s)
{
    return blank(s);
}

/* A non-negative decimal with at most 16 integer digits and 2 decimals: "1200", "1200.5". */
static bool decimal_ok(const char *s)
{
    size_t i = strspn(s, "0123456789");
    if (i == 0 || i > 16)
        return false;
    if (s[i] == '\0')
        return true;
    if (s[i] != '.')
        return false;
    size_t f = strspn(s + i + 1, "0123456789");
    return f >= 1 && f <= 2 && s[i + 1 + f] == '\0';
}

bool deals_decimal_ok(const char *s)
{
    return decimal_ok(s);
}

bool deals_currency_ok(const char *s)
{
    return strlen(s) == 3 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3;
}

static bool date_ok(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' || s[7] != '-')
        return false;
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
        return false;
    return !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* "YYYY-MM-DD", optionally followed by "THH:MM:SS" and "Z" or "+HH:MM" / "-HH:MM". */
static bool datetime_ok(const char *s)
{
    char date[11];
    if (strlen(s) < 10)
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!date_ok(date))
        return false;
    s += 10;
    if (!*s)
        return true;
    int hh, mm, ss, n = 0;
    if (sscanf(s, "T%2d:%2d:%2d%n", &hh, &mm, &ss, &n) != 3 || n != 9 || hh > 23 || mm > 59 || ss > 60)
        return false;
    s += n;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            ;
    if (strcmp(s, "Z") == 0 || !*s)
        return true;
    return (s[0] == '+' || s[0] == '-') && strlen(s) == 6 && s[3] == ':' &&
           strspn(s + 1, "0123456789") == 2 && strspn(s + 4, "0123456789") == 2;
}

/* Deal.value_json as sent (a decimal string, or a JSON number with at most 2 decimals) → the
 * decimal text for SQL in out; false when it is neither. */
static bool value_parse(const char *json, char out[48])
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    bool ok = false;
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 10000000000000000LL) {
        snprintf(out, 48, "%lld", (long long)json_integer_value(v));
        ok = true;
    } else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e16) {
        double cents = json_real_value(v) * 100.0;
        long long c = (long long)(cents + 0.5);
        double off = cents - (double)c;
        if (off < 1e-6 * (cents > 1 ? cents : 1) && -off < 1e-6 * (cents > 1 ? cents : 1)) {
            snprintf(out, 48, "%lld.%02lld", c / 100, c % 100);
            ok = true;
        }
    } else if (json_is_string(v) && decimal_ok(json_string_value(v))) {
        snprintf(out, 48, "%s", json_string_value(v));
        ok = true;
    }
    json_decref(v);
    return ok;
}

bool deals_value_parse(const char *json, char out[48])
{
    return value_parse(json, out);
}

bool deals_date_ok(const char *s)
{
    return date_ok(s);
}

bool deals_datetime_ok(const char *s)
{
    return datetime_ok(s);
}

const char deals_deal_cols[] = DEAL_COLS;

Crm__Deal *deals_deal_from_row(const PGresult *res, int r)
{
    return deal_from_row(res, r);
}

/* True when a PUT sent key (its value may be null or []). */
static bool sent(const Crm__Deal *in, const char *key)
{
    for (size_t i = 0; i < in->n_update_mask; i++)
        if (strcmp(in->update_mask[i], key) == 0)
            return true;
    return false;
}

/* Checks a create or update; value gets the decimal text of value_json ("" when not sent). */
static int check_deal(const Crm__Deal *in, bool create, char value[48], crm_err_t *err)
{
    value[0] = '\0';
    if (create ? blank(in->name) : ((in->name && blank(in->name)) || (!in->name && sent(in, "name"))))
        crm_err_add(err, CRM_EINVALID, "/name", create ? "missing" : "blank", "name is required");
    if (in->value_json && !value_parse(in->value_json, value))
        crm_err_add(err, CRM_EINVALID, "/value", "incorrect_value",
                    "value must be a decimal string such as \"1200\" or \"1200.50\", or a number with at "
                    "most 2 decimals");
    if (!create && !in->has_owner_id && !in->has_assign_pool_id && sent(in, "owner_id"))
        crm_err_add(err, CRM_EINVALID, "/owner_id", "blank",
                    "a deal keeps an owner: give another owner_id or an assign_pool_id");
    if (in->monthly_payment && !decimal_ok(in->monthly_payment))
        crm_err_add(err, CRM_EINVALID, "/monthly_payment", "incorrect_value",
                    "monthly_payment must be a decimal string such as \"100.00\"");
    if (in->contract_value && !decimal_ok(in->contract_value))
        crm_err_add(err, CRM_EINVALID, "/contract_value", "incorrect_value",
                    "contract_value must be a decimal string such as \"1200.00\"");
    if (in->currency && !deals_currency_ok(in->currency))
        crm_err_add(err, CRM_EINVALID, "/currency", "incorrect_value",
                    "currency must be an ISO 4217 code such as USD");
    if (in->estimated_close_date && !date_ok(in->estimated_close_date))
        crm_err_add(err, CRM_EINVALID, "/estimated_close_date", "incorrect_value",
                    "estimated_close_date must be a date YYYY-MM-DD");
    if (in->added_on && !datetime_ok(in->added_on))
        crm_err_add(err, CRM_EINVALID, "/added_on", "incorrect_value",
                    "added_on must be a date or an ISO 8601 date-time");
    if (in->has_customized_win_likelihood &&
        (in->customized_win_likelihood < 0 || in->customized_win_likelihood > 100))
        crm_err_add(err, CRM_EINVALID, "/customized_win_likelihood", "incorrect_value",
                    "customized_win_likelihood must be between 0 and 100");
    if (in->has_owner_id && in->has_assign_pool_id)
        crm_err_add(err, CRM_EINVALID, "/owner_id", "incorrect_value",
                    "give either owner_id or assign_pool_id, not both");
    if ((in->has_owner_id && in->owner_id <= 0) || (in->has_assign_pool_id && in->assign_pool_id <= 0))
        crm_err_add(err, CRM_EINVALID, in->has_owner_id ? "/owner_id" : "/assign_pool_id", "incorrect_value",
                    "must be a positive id");
    for (size_t i = 0; i < in->n_tags; i++)
        if (blank(in->tags[i])) {
            crm_err_add(err, CRM_EINVALID, "/tags", "blank", "tags must not be blank");
            break;
        }
    if (in->custom_fields_json && in->custom_fields_json[0] != '{')
        crm_err_add(err, CRM_EINVALID, "/custom_fields", "invalid_type",
                    "custom_fields must be an object of name: value");
    if (in->has_contact_id && in->contact_id <= 0)
        crm_err_add(err, CRM_EINVALID, "/contact_id", "incorrect_value", "contact_id must be a positive id");
    for (size_t i = 0; i < in->n_contact_ids; i++)
        if (in->contact_ids[i] <= 0) {
            crm_err_add(err, CRM_EINVALID, "/contact_ids", "incorrect_value", "contact ids must be positive");
            break;
        }
    return err->code;
}

/* Checks that the reasons and source a write names exist. */
static int check_refs(crm_db_t *tx, const Crm__Deal *in, crm_err_t *err)
{
    char b[3][24];
    const char *p[] = {crm_param_i64(b[0], in->has_loss_reason_id, in->loss_reason_id),
                       crm_param_i64(b[1], in->has_unqualified_reason_id, in->unqualified_reason_id),
                       crm_param_i64(b[2], in->has_source_id, in->source_id)};
    PGresult *res =
        crm_db_exec(tx, "deals_check_refs",
                    "SELECT $1::bigint IS NULL OR EXISTS (SELECT 1 FROM loss_reasons WHERE id = $1), "
                    "$2::bigint IS NULL OR EXISTS (SELECT 1 FROM deal_unqualified_reasons WHERE id = $2), "
                    "$3::bigint IS NULL OR EXISTS (SELECT 1 FROM deal_sources WHERE id = $3)",
                    3, p, err);
    if (!res)
        return err->code;
    if (!crm_db_bool(res, 0, 0))
        crm_err_add(err, CRM_EINVALID, "/loss_reason_id", "incorrect_value",
                    "loss reason %lld does not exist", (long long)in->loss_reason_id);
    if (!crm_db_bool(res, 0, 1))
        crm_err_add(err, CRM_EINVALID, "/unqualified_reason_id", "incorrect_value",
                    "unqualified reason %lld does not exist", (long long)in->unqualified_reason_id);
    if (!crm_db_bool(res, 0, 2))
        crm_err_add(err, CRM_EINVALID, "/source_id", "incorrect_value", "deal source %lld does not exist",
                    (long long)in->source_id);
    PQclear(res);
    return err->code;
}

/* A stage as a move needs it. */
typedef struct {
    int64_t id, pipeline_id;
    int position;
    char name[128];
    char category[16];
} stage_info_t;

static int stage_info(crm_db_t *tx, int64_t id, stage_info_t *s, bool *found, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, id)};
    PGresult *res =
        crm_db_exec(tx, "deals_stage_info",
                    "SELECT id, pipeline_id, name, category, position FROM stages WHERE id = $1", 1, p, err);
    if (!res)
        return err->code;
    *found = PQntuples(res) == 1;
    if (*found) {
        s->id = crm_db_i64(res, 0, 0);
        s->pipeline_id = crm_db_i64(res, 0, 1);
        snprintf(s->name, sizeof s->name, "%s", crm_db_str(res, 0, 2));
        snprintf(s->category, sizeof s->category, "%s", crm_db_str(res, 0, 3));
        s->position = (int)crm_db_i64(res, 0, 4);
    }
    PQclear(res);
    return CRM_OK;
}

/* The first active stage (by position) of pipeline_id, or of the default pipeline (the oldest
 * enabled one) when !has_pipeline. */
static int first_stage(crm_db_t *tx, bool has_pipeline, int64_t pipeline_id, stage_info_t *s, bool *found,
                       crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, has_pipeline, pipeline_id)};
    PGresult *res =
        crm_db_exec(tx, "deals_first_stage",
                    "SELECT s.id FROM stages s WHERE s.active AND s.pipeline_id = coalesce($1::bigint, "
                    "(SELECT min(id) FROM pipelines WHERE NOT disabled)) ORDER BY s.position LIMIT 1",
                    1, p, err);
    if (!res)
        return err->code;
    *found = PQntuples(res) == 1;
    int64_t id = *found ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    return *found ? stage_info(tx, id, s, found, err) : CRM_OK;
}

/* The deal as the caller may see it (404 otherwise); FOR UPDATE when lock. */
static int deal_load(crm_db_t *db, const deals_caller_t *c, int64_t id, bool lock, Crm__Deal **out,
                     crm_err_t *err)
{
    *out = NULL;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, id), crm_param_i64(b[1], c->sales, c->user_id)};
    PGresult *res = lock ? crm_db_exec(db, "deals_get_lock",
                                       "SELECT " DEAL_COLS " FROM deals d WHERE d.id = $1 "
                                       "AND ($2::bigint IS NULL OR d.owner_id = $2) FOR UPDATE",
                                       2, p, err)
                         : crm_db_exec(db, "deals_get",
                                       "SELECT " DEAL_COLS " FROM deals d WHERE d.id = $1 "
                                       "AND ($2::bigint IS NULL OR d.owner_id = $2)",
                                       2, p, err);
    if (!res)
        return err->code;
    if (PQntuples(res) == 1)
        *out = deal_from_row(res, 0);
    PQclear(res);
    return *out ? CRM_OK
                : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "deal %lld not found", (long long)id);
}

int deals_store_deal_get(crm_db_t *db, const deals_caller_t *c, int64_t id, Crm__Deal **out, crm_err_t *err)
{
    return deal_load(db, c, id, false, out, err);
}

static int emit_deal(crm_db_t *tx, const deals_caller_t *c, const char *type, Crm__Deal *deal, bool has_prev,
                     int64_t prev_owner, int64_t pool, int64_t assignment, int64_t conversion, crm_err_t *err)
{
    Crm__DealEvent ev = CRM__DEAL_EVENT__INIT;
    ev.deal = deal;
    ev.has_changed_by = 1;
    ev.changed_by = c->user_id;
    ev.has_previous_owner_id = has_prev;
    ev.previous_owner_id = prev_owner;
    ev.has_assign_pool_id = pool > 0;
    ev.assign_pool_id = pool;
    ev.has_assignment_id = assignment > 0;
    ev.assignment_id = assignment;
    ev.has_conversion_id = conversion > 0;
    ev.conversion_id = conversion;
    return crm_outbox_append(c->outbox, tx, type, c->corr, &ev.base, err);
}

static bool lost_category(const char *c)
{
    return strcmp(c, "lost") == 0 || strcmp(c, "unqualified") == 0;
}

/* Closes the deal's open stay (when from) and opens one in `to`, counting both into the funnel
 * summary (migration 003): entered (+ won value) for the new stay on its day and owner; onward or
 * lost and the time spent for the closed one, on the day and owner it was entered with. */
static int record_stay(crm_db_t *tx, const deals_caller_t *c, int64_t deal_id, const stage_info_t *from,
                       const stage_info_t *to, int64_t reason_id, crm_err_t *err)
{
    char b[6][24];
    const char *p[] = {crm_param_i64(b[0], true, deal_id),
                       crm_param_i64(b[1], true, to->pipeline_id),
                       crm_param_i64(b[2], from != NULL, from ? from->id : 0),
                       crm_param_i64(b[3], true, to->id),
                       crm_param_i64(b[4], c->user_id > 0, c->user_id),
                       crm_param_i64(b[5], reason_id > 0, reason_id),
                       crm_param_bool(true, strcmp(to->category, "won") == 0)};
    if (from) {
        bool onward = to->pipeline_id == from->pipeline_id && to->position > from->position &&
                      !lost_category(to->category);
        const char *cp[] = {p[0], p[3], onward ? "1" : "0", lost_category(to->category) ? "1" : "0"};
        if (crm_db_run(
                tx, "deals_stay_close",
                "WITH c AS (UPDATE stage_changes SET left_at = now(), next_stage_id = $2 "
                "WHERE deal_id = $1 AND left_at IS NULL RETURNING pipeline_id, stage_id, owner_id, currency, "
                "changed_at) "
                "INSERT INTO funnel_daily AS f (pipeline_id, stage_id, day, owner_id, currency, onward, "
                "lost, "
                "time_sum, time_n) SELECT pipeline_id, stage_id, (changed_at AT TIME ZONE 'UTC')::date, "
                "owner_id, currency, $3::integer, $4::integer, extract(epoch FROM now() - changed_at), 1 "
                "FROM c "
                "ON CONFLICT (pipeline_id, stage_id, day, owner_id, currency) DO UPDATE SET onward = "
                "f.onward + "
                "EXCLUDED.onward, lost = f.lost + EXCLUDED.lost, time_sum = f.time_sum + EXCLUDED.time_sum, "
                "time_n = f.time_n + 1",
                4, cp, err))
            return err->code;
    }
    /* A won stay remembers the currency and value it counted (migration 007). */
    return crm_db_run(
        tx, "deals_stay_open",
        "WITH o AS (INSERT INTO stage_changes (deal_id, pipeline_id, from_stage_id, stage_id, "
        "changed_by, reason_id, owner_id, currency, won_value) SELECT $1, $2, $3, $4, $5, $6, "
        "coalesce(d.owner_id, 0), CASE WHEN $7::boolean THEN d.currency ELSE '' END, "
        "CASE WHEN $7::boolean THEN d.value ELSE 0 END FROM deals d WHERE d.id = $1 "
        "RETURNING pipeline_id, stage_id, owner_id, currency, won_value, changed_at) "
        "INSERT INTO funnel_daily AS f (pipeline_id, stage_id, day, owner_id, currency, entered, won_value) "
        "SELECT o.pipeline_id, o.stage_id, (o.changed_at AT TIME ZONE 'UTC')::date, o.owner_id, o.currency, "
        "1, o.won_value FROM o "
        "ON CONFLICT (pipeline_id, stage_id, day, owner_id, currency) DO UPDATE SET entered = f.entered + 1, "
        "won_value = f.won_value + EXCLUDED.won_value",
        7, p, err);
}

/* After an owner change: the deal's open stay, and its entered count (and the won value it
 * counted) in the funnel summary, move to the new owner, so a rep's funnel shows the deals it was
 * given. A no-op when the owner did not change. Closed stays keep the owner they had. */
static int reattribute_open_stay(crm_db_t *tx, int64_t deal_id, crm_err_t *err)
{
    char b[24];
    const char *p[] = {crm_param_i64(b, true, deal_id)};
    return crm_db_run(
        tx, "deals_stay_owner",
        "WITH n AS (SELECT coalesce(d.owner_id, 0) AS owner FROM deals d WHERE d.id = $1), "
        "m AS (UPDATE stage_changes c SET owner_id = n.owner FROM n, (SELECT id, owner_id FROM stage_changes "
        "WHERE deal_id = $1 AND left_at IS NULL FOR UPDATE) o WHERE c.id = o.id AND o.owner_id <> n.owner "
        "RETURNING c.pipeline_id, c.stage_id, (c.changed_at AT TIME ZONE 'UTC')::date AS day, o.owner_id AS "
        "old, c.currency, c.won_value), "
        "dec AS (UPDATE funnel_daily f SET entered = f.entered - 1, won_value = f.won_value - m.won_value "
        "FROM m WHERE f.pipeline_id = m.pipeline_id AND f.stage_id = m.stage_id AND f.day = m.day AND "
        "f.owner_id = m.old AND f.currency = m.currency RETURNING 1) "
        "INSERT INTO funnel_daily AS f (pipeline_id, stage_id, day, owner_id, currency, entered, won_value) "
        "SELECT m.pipeline_id, m.stage_id, m.day, n.owner, m.currency, 1, m.won_value FROM m, n "
        "ON CONFLICT (pipeline_id, stage_id, day, owner_id, currency) DO UPDATE SET entered = f.entered + 1, "
        "won_value = f.won_value + EXCLUDED.won_value",
        1, p, err);
}

/* The insert behind POST /v2/deals and conversions: in the open transaction tx, stage resolved.
 * conversion_id > 0 makes it idempotent: *created = false when that conversion's deal exists. */
static int deal_insert(crm_db_t *tx, const deals_caller_t *c, const Crm__Deal *in, const char *value,
                       const stage_info_t *st, int64_t owner, bool has_owner, int64_t conversion_id,
                       bool unsorted, int64_t *id, bool *created, crm_err_t *err)
{
    char b[12][24];
    const char *cf = in->custom_fields_json;
    char *tags = crm_param_text_array(in->tags, in->n_tags);
    const char *p[] = {
        crm_param_i64(b[0], c->user_id > 0, c->user_id),
        crm_param_i64(b[1], has_owner, owner),
        in->name,
        value && *value ? value : NULL,
        in->currency,
        crm_param_bool(in->has_hot, in->hot),
        crm_param_i64(b[2], true, st->pipeline_id),
        crm_param_i64(b[3], true, st->id),
        crm_param_i64(b[4], in->has_contact_id, in->contact_id),
        in->estimated_close_date,
        crm_param_i64(b[5], in->has_loss_reason_id, in->loss_reason_id),
        crm_param_i64(b[6], in->has_unqualified_reason_id, in->unqualified_reason_id),
        crm_param_i64(b[7], in->has_source_id, in->source_id),
        tags,
        cf,
        crm_param_i64(b[8], in->has_customized_win_likelihood, in->customized_win_likelihood),
        in->monthly_payment,
        in->contract_value,
        crm_param_bool(true, unsorted),
        crm_param_i64(b[9], conversion_id > 0, conversion_id),
        in->added_on,
    };
    PGresult *res = crm_db_exec(
        tx, "deals_insert",
        "INSERT INTO deals (creator_id, owner_id, name, value, currency, hot, pipeline_id, stage_id, "
        "contact_id, "
        "estimated_close_date, loss_reason_id, unqualified_reason_id, source_id, tags, custom_fields, "
        "customized_win_likelihood, monthly_payment, contract_value, unsorted, conversion_id, added_on, "
        "last_stage_change_by_id) VALUES ($1, $2, $3, coalesce($4::numeric, 0), coalesce($5, 'USD'), "
        "coalesce($6::boolean, false), $7, $8, $9, $10::date, $11, $12, $13, $14::text[], "
        "coalesce($15::jsonb, '{}'), $16, $17::numeric, $18::numeric, $19, $20, coalesce($21::timestamptz, "
        "now()), $1) "
        "ON CONFLICT (conversion_id) DO NOTHING RETURNING id",
        21, p, err);
    free(tags);
    if (!res)
        return err->code;
    *created = PQntuples(res) == 1;
    *id = *created ? crm_db_i64(res, 0, 0) : 0;
    PQclear(res);
    if (!*created)
        return CRM_OK;
    /* The primary contact and the further ones are all associated contacts. */
    size_t n = in->n_contact_ids + (in->has_contact_id ? 1 : 0);
    if (n) {
        char *arr = malloc(n * 24 + 3), *w = arr;
        w += sprintf(w, "{");
        if (in->has_contact_id)
            w += sprintf(w, "%lld", (long long)in->contact_id);
        for (size_t i = 0; i < in->n_contact_ids; i++)
            w += sprintf(w, "%s%lld", w[-1] == '{' ? "" : ",", (long long)in->contact_ids[i]);
        sprintf(w, "}");
        const char *cp[] = {crm_param_i64(b[10], true, *id), arr};
        int rc = crm_db_run(
            tx, "deals_contacts_insert",
            "INSERT INTO deal_contacts (deal_id, contact_id) SELECT $1, x FROM unnest($2::bigint[]) x "
            "ON CONFLICT DO NOTHING",
            2, cp, err);
        free(arr);
        if (rc)
            return rc;
    }
    return record_stay(tx, c, *id, NULL, st, 0, err);
}

int deals_store_deal_create(crm_db_t *db, const deals_caller_t *c, const Crm__Deal *in, Crm__Deal **out,
                            crm_err_t *err)
{
    *out = NULL;
    char value[48];
    if (check_deal(in, true, value, err))
        return err->code;
    if (crm_db_begin(db, err))
        return err->code;
    stage_info_t st;
    bool found = false;
    int rc = CRM_OK;
    if (in->has_stage_id) {
        rc = stage_info(db, in->stage_id, &st, &found, err);
        if (rc == CRM_OK && !found)
            rc = crm_err_set(err, CRM_EINVALID, "/stage_id", "incorrect_value", "stage %lld does not exist",
                             (long long)in->stage_id);
        else if (rc == CRM_OK && in->has_pipeline_id && st.pipeline_id != in->pipeline_id)
            rc = crm_err_set(err, CRM_EINVALID, "/stage_id", "incorrect_value",
                             "stage %lld is not in pipeline %lld", (long long)in->stage_id,
                             (long long)in->pipeline_id);
    } else {
        rc = first_stage(db, in->has_pipeline_id, in->pipeline_id, &st, &found, err);
        if (rc == CRM_OK && !found)
            rc = in->has_pipeline_id ? crm_err_set(err, CRM_EINVALID, "/pipeline_id", "incorrect_value",
                                                   "pipeline %lld does not exist or has no active stage",
                                                   (long long)in->pipeline_id)
                                     : crm_err_set(err, CRM_EINVALID, "/stage_id", "missing",
                                                   "there is no enabled pipeline with an active stage");
    }
    if (rc == CRM_OK)
        rc = check_refs(db, in, err);
    /* Owner: the one named; none while crm-assign picks from the pool; else the creator. */
    bool has_owner = in->has_owner_id || (!in->has_assign_pool_id && c->user_id > 0);
    int64_t owner = in->has_owner_id ? in->owner_id : c->user_id;
    int64_t id = 0;
    bool created = false;
    Crm__Deal *deal = NULL;
    if (rc == CRM_OK)
        rc = deal_insert(db, c, in, value, &st, owner, has_owner, 0, c->user_id == 0, &id, &created, err);
    if (rc == CRM_OK)
        rc = deal_load(db, &(deals_caller_t){0}, id, false, &deal, err);
    if (rc == CRM_OK)
        rc = emit_deal(db, c, "deal.created", deal, false, 0, in->has_assign_pool_id ? in->assign_pool_id : 0,
                       0, 0, err);
    if (rc == CRM_OK)
        rc = crm_db_commit(db, err);
    if (rc) {
        crm_db_rollback(db);
        if (deal)
            protobuf_c_message_free_unpacked(&deal->base, NULL);
        return rc;
    }
    crm_outbox_kick(c->outbox);
    *out = deal;
    return CRM_OK;
}

static int emit_move(crm_db_t *tx, const deals_caller_t *c, Crm__Deal *deal, const stage_info_t *from,
                     const stage_info_t *to, int64_t reason, crm_err_t *err)
{
    Crm__DealStageChanged ev = CRM__DEAL_STAGE_CHANGED__INIT;
    ev.has_deal_id = ev.has_pipeline_id = ev.has_previous_stage_id = ev.has_stage_id = ev.has_changed_by = 1;
    ev.deal_id = deal->id;
    ev.pipeline_id = to->pipeline_id;
    ev.previous_stage_id = from->id;
    ev.stage_id = to->id;
    ev.previous_stage_name = (char *)from->name;
    ev.stage_name = (char *)to->name;
    ev.previous_category = (char *)from->category;
    ev.category = (char *)to->category;
    ev.changed_by = c->user_id;
    ev.has_reason_id = reason > 0;
    ev.reason_id = reason;
    ev.deal = deal;
    ev.changed_at = deal->last_stage_change_at;
    if (crm_outbox_append(c->outbox, tx, "deal.stage_changed", c->corr, &ev.base, err))
        return err->code;
    if (strcmp(to->category, "won") == 0)
        return emit_deal(tx, c, "deal.won", deal, false, 0, 0, 0, 0, err);
    if (strcmp(to->category, "lost") == 0)
        return emit_deal(tx, c, "deal.lost", deal, false, 0, 0, 0, 0, err);
    return CRM_OK;
}

/* A bigint[] literal of ids (malloc'd). */
static char *id_array(const int64_t *ids, size_t n)
{
    char *arr = malloc(n * 24 + 3), *w = arr;
    w += sprintf(w, "{");
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "%s%lld", i ? "," : "", (long long)ids[i]);
    sprintf(w, "}");
    return arr;
}

/* PUT contact_ids: the deal's associated contacts become its primary contact and ids. */
static int replace_contacts(crm_db_t *tx, int64_t deal_id, const int64_t *ids, size_t n, crm_err_t *err)
{
    char b[24];
    char *arr = id_array(ids, n);
    const char *p[] = {crm_param_i64(b, true, deal_id), arr};
    int rc =
        crm_db_run(tx, "deals_contacts_replace",
                   "WITH k AS (SELECT x FROM unnest($2::bigint[]) x UNION SELECT contact_id FROM deals "
                   "WHERE id = $1 AND contact_id IS NOT NULL), "
                   "del AS (DELETE FROM deal_contacts WHERE deal_id = $1 AND contact_id NOT IN (SELECT x "
                   "FROM k)) INSERT INTO deal_contacts (deal_id, contact_id) SELECT $1, x FROM k "
                   "ON CONFLICT DO NOTHING",
                   2, p, err);
    free(arr);
    return rc;
}

int deals_store_deal_update(crm_db_t *db, const deals_caller_t *c, const Crm__Deal *in, Crm__Deal **out,
                            crm_err_t *err)
{
    *out = NULL;
    char value[48];
    if (check_deal(in, false, value, err))
        return err->code;
    if (crm_db_begin(db, err))
        return err->code;
    Crm__Deal *old = NULL, *deal = NULL;
    stage_info_t from = {0}, to = {0};
    bool found = false, moved = false;
    int rc = deal_load(db, c, in->id, true, &old, err);
    if (rc == CRM_OK)
        rc = stage_info(db, old->stage_id, &from, &found, err);
    if (rc == CRM_OK && in->has_stage_id && in->stage_id != old->stage_id) {
        rc = stage_info(db, in->stage_id, &to, &found, err);
        if (rc == CRM_OK && !found)
            rc = crm_err_set(err, CRM_EINVALID, "/stage_id", "incorrect_value", "stage %lld does not exist",
                             (long long)in->stage_id);
        else if (rc == CRM_OK && to.pipeline_id != old->pipeline_id &&
                 !(in->has_pipeline_change && in->pipeline_change))
            rc = crm_err_set(err, CRM_EINVALID, "/stage_id", "incorrect_value",
                             "stage %lld belongs to pipeline %lld, not to the deal's pipeline %lld; send "
                             "\"pipeline_change\": true to move the deal to that pipeline",
                             (long long)in->stage_id, (long long)to.pipeline_id, (long long)old->pipeline_id);
        moved = rc == CRM_OK;
    }
    if (rc == CRM_OK && in->has_pipeline_id && in->pipeline_id != old->pipeline_id &&
        !(moved && to.pipeline_id == in->pipeline_id))
        rc = crm_err_set(
            err, CRM_EINVALID, "/pipeline_id", "incorrect_value",
            "to change the pipeline send a stage_id of that pipeline with \"pipeline_change\": true");
    if (rc == CRM_OK)
        rc = check_refs(db, in, err);
    if (rc == CRM_OK) {
        char b[14][24];
        const char *cf = in->custom_fields_json;
        char *tags = in->n_tags ? crm_param_text_array(in->tags, in->n_tags) : NULL;
        char *mask = crm_param_text_array(in->update_mask, in->n_update_mask);
        const char *p[] = {
            crm_param_i64(b[0], true, in->id),
            in->name,
            value[0] ? value : NULL,
            in->currency,
            crm_param_bool(in->has_hot, in->hot),
            crm_param_i64(b[1], moved, to.id),
            crm_param_i64(b[2], moved, to.pipeline_id),
            crm_param_i64(b[3], in->has_contact_id, in->contact_id),
            in->estimated_close_date,
            crm_param_i64(b[4], in->has_loss_reason_id, in->loss_reason_id),
            crm_param_i64(b[5], in->has_unqualified_reason_id, in->unqualified_reason_id),
            crm_param_i64(b[6], in->has_source_id, in->source_id),
            tags,
            cf,
            crm_param_i64(b[7], in->has_customized_win_likelihood, in->customized_win_likelihood),
            in->monthly_payment,
            in->contract_value,
            crm_param_i64(b[8], in->has_owner_id, in->owner_id),
            crm_param_bool(true, in->has_assign_pool_id),
            crm_param_i64(b[9], c->user_id > 0, c->user_id),
            in->added_on,
            mask,
        };
/* A nullable column: set when a value came, cleared when the key came as null, else kept. */
#define SETN(col, n, type)                                                                                   \
    col " = CASE WHEN $" n type " IS NOT NULL OR '" col "' = ANY ($22) THEN $" n type " ELSE " col " END, "
/* A column with a default: the value, the default for a null, else kept. */
#define SETD(col, n, type, dflt)                                                                             \
    col " = CASE WHEN $" n type " IS NOT NULL THEN $" n type " WHEN '" col "' = ANY ($22) THEN " dflt        \
        " ELSE " col " END, "
        rc = crm_db_run(
            db, "deals_update",
            "UPDATE deals SET name = coalesce($2, name), " SETD("value", "3", "::numeric", "0")
                SETD("currency", "4", "::text", "'USD'") SETD(
                    "hot", "5", "::boolean",
                    "false") "stage_id = coalesce($6, stage_id), pipeline_id = coalesce($7, "
                             "pipeline_id), " SETN("contact_id", "8", "::bigint") SETN("estimated_close_date",
                                                                                       "9", "::date")
                                 SETN("loss_reason_id", "10", "::bigint") SETN("unqualified_reason_id", "11",
                                                                               "::bigint")
                                     SETN("source_id", "12", "::bigint") SETD(
                                         "tags", "13", "::text[]",
                                         "'{}'") "custom_fields = CASE WHEN $14::jsonb IS NULL AND "
                                                 "'custom_fields' = ANY ($22) THEN '{}' "
                                                 "ELSE jsonb_strip_nulls(custom_fields || "
                                                 "coalesce($14::jsonb, '{}')) END, " SETN(
                                                     "customized_win_likelihood", "15", "::integer")
                                                     SETN("monthly_payment", "16", "::numeric") SETN(
                                                         "contract_value", "17",
                                                         "::numeric") "owner_id = CASE WHEN $19::boolean "
                                                                      "THEN NULL ELSE coalesce($18, "
                                                                      "owner_id) END, "
                                                                      "unsorted = unsorted AND $20::bigint "
                                                                      "IS NULL, added_on = "
                                                                      "coalesce($21::timestamptz, added_on), "
                                                                      "last_stage_change_at = CASE WHEN "
                                                                      "$6::bigint IS NULL THEN "
                                                                      "last_stage_change_at ELSE now() END, "
                                                                      "last_stage_change_by_id = CASE WHEN "
                                                                      "$6::bigint IS NULL THEN "
                                                                      "last_stage_change_by_id ELSE $20 "
                                                                      "END, "
                                                                      "updated_at = now() WHERE id = $1",
            22, p, err);
#undef SETN
#undef SETD
        free(tags);
        free(mask);
        if (rc == CRM_OK && in->has_contact_id)
            rc = crm_db_run(
                db, "deals_contacts_insert1",
                "INSERT INTO deal_contacts (deal_id, contact_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2,
                (const char *[]){p[0], p[7]}, err);
        if (rc == CRM_OK && (in->n_contact_ids || sent(in, "contact_ids")))
            rc = replace_contacts(db, in->id, in->contact_ids, in->n_contact_ids, err);
    }
    int64_t reason = 0;
    if (moved)
        reason = strcmp(to.category, "lost") == 0 ? (in->has_loss_reason_id ? in->loss_reason_id : 0)
                 : strcmp(to.category, "unqualified") == 0
                     ? (in->has_unqualified_reason_id ? in->unqualified_reason_id : 0)
                     : 0;
    if (rc == CRM_OK && moved)
        rc = record_stay(db, c, in->id, &from, &to, reason, err);
    if (rc == CRM_OK && (in->has_owner_id || in->has_assign_pool_id))
        rc = reattribute_open_stay(db, in->id, err);
    if (rc == CRM_OK)
        rc = deal_load(db, &(deals_caller_t){0}, in->id, false, &deal, err);
    if (rc == CRM_OK)
        rc = emit_deal(db, c, "deal.updated", deal, true, old->has_owner_id ? old->owner_id : 0,
                       in->has_assign_pool_id ? in->assign_pool_id : 0, 0, 0, err);
    if (rc == CRM_OK && moved)
        rc = emit_move(db, c, deal, &from, &to, reason, err);
    if (rc == CRM_OK)
        rc = crm_db_commit(db, err);
    if (old)
        protobuf_c_message_free_unpacked(&old->base, NULL);
    if (rc) {
        crm_db_rollback(db);
        if (deal)
            protobuf_c_message_free_unpacked(&deal->base, NULL);
        return rc;
    }
    crm_outbox_kick(c->outbox);
    *out = deal;
    return CRM_OK;
}

/* DELETE: the deal, its associated contacts, its stage history and its order (with line items)
 * go; deal.deleted carries the deal as it was, order.deleted / line_item.deleted the catalog rows
 * (same transaction). */
int deals_store_deal_delete(crm_db_t *db, const deals_caller_t *c, int64_t id, crm_err_t *err)
{
    if (crm_db_begin(db, err))
        return err->code;
    Crm__Deal *deal = NULL;
    int rc = deal_load(db, c, id, true, &deal, err);
    if (rc == CRM_OK) /* its order and line items go with it (ON DELETE CASCADE): say so */
        rc = deals_store_order_deal_going(db, c, id, err);
    if (rc == CRM_OK) {
        char b[24];
        const char *p[] = {crm_param_i64(b, true, id)};
        rc = crm_db_run(db, "deals_delete", "DELETE FROM deals WHERE id = $1", 1, p, err);
    }
    if (rc == CRM_OK)
        rc = emit_deal(db, c, "deal.deleted", deal, false, 0, 0, 0, 0, err);
    if (rc == CRM_OK)
        rc = crm_db_commit(db, err);
    if (deal)
        protobuf_c_message_free_unpacked(&deal->base, NULL);
    if (rc) {
        crm_db_rollback(db);
        return rc;
    }
    crm_outbox_kick(c->outbox);
    return CRM_OK;
}

int deals_check_includes(const char *includes, bool *contacts, crm_err_t *err)
{
    *contacts = false;
    if (!includes)
        return CRM_OK;
    const char *s = includes;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == strlen("associated_contacts") && strncmp(s, "associated_contacts", n) == 0)
            *contacts = true;
        else
            return crm_err_set(err, CRM_EBADREQUEST, "includes", "invalid_param",
                               "includes supports only associated_contacts, given: %.100s", includes);
        s += n + (s[n] == ',');
    }
    return CRM_OK;
}

int deals_store_deal_list(crm_db_t *db, const deals_caller_t *c, const Crm__DealListRequest *req,
                          Crm__DealList **out, crm_err_t *err)
{
    *out = NULL;
    bool with_contacts = false;
    if (deals_check_includes(req->includes, &with_contacts, err))
        return err->code;
    static const char *const sorts[] = {"id",
                                        "name",
                                        "value",
                                        "created_at",
                                        "updated_at",
                                        "last_stage_change_at",
                                        "estimated_close_date",
                                        "owner_id",
                                        "stage_id",
                                        NULL};
    crm_page_t page;
    int si;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, sorts, 0, false, &si, &desc, err))
        return err->code;
    if (req->estimated_close_date && !date_ok(req->estimated_close_date))
        return crm_err_set(err, CRM_EBADREQUEST, "estimated_close_date", "invalid_param",
                           "estimated_close_date must be a date YYYY-MM-DD");
    char *cf_name = NULL;
    const char *cf_value = NULL;
    if (req->custom_field) {
        const char *colon = strchr(req->custom_field, ':');
        if (!colon || colon == req->custom_field)
            return crm_err_set(err, CRM_EBADREQUEST, "custom_field", "invalid_param",
                               "custom_field must be <name>:<value>, e.g. Deal type:Upsell");
        cf_name = strndup(req->custom_field, (size_t)(colon - req->custom_field));
        cf_value = colon + 1;
    }
    /* custom_fields[name]=value (each "name=value"): all must match, compared as text. */
    char *cf_all = NULL;
    if (req->n_custom_fields) {
        json_t *o = json_object();
        for (size_t i = 0; i < req->n_custom_fields; i++) {
            const char *eq = strchr(req->custom_fields[i], '=');
            if (!eq || eq == req->custom_fields[i]) {
                json_decref(o);
                free(cf_name);
                return crm_err_set(err, CRM_EBADREQUEST, "custom_fields", "invalid_param",
                                   "custom_fields filters are custom_fields[<name>]=<value>");
            }
            char *k = strndup(req->custom_fields[i], (size_t)(eq - req->custom_fields[i]));
            json_object_set_new(o, k, json_string(eq + 1));
            free(k);
        }
        cf_all = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    }
    char *ids = NULL;
    if (req->ids && !(ids = crm_param_ids(req->ids, "ids", err))) {
        free(cf_name);
        free(cf_all);
        return err->code;
    }
    char name[64], sql[4096], b[12][24];
    snprintf(name, sizeof name, "deals_list_%d%c", si, desc ? 'd' : 'a');
    snprintf(
        sql, sizeof sql,
        "SELECT " DEAL_COLS " FROM deals d WHERE ($1::bigint[] IS NULL OR d.id = ANY ($1)) "
        "AND ($2::bigint IS NULL OR d.contact_id = $2) AND ($3::bigint IS NULL OR d.creator_id = $3) "
        "AND ($4::bigint IS NULL OR d.owner_id = $4) AND ($5::bigint IS NULL OR d.organization_id = $5) "
        "AND ($6::boolean IS NULL OR d.hot = $6) AND ($7::bigint IS NULL OR d.source_id = $7) "
        "AND ($8::bigint IS NULL OR d.stage_id = $8) AND ($9::date IS NULL OR d.estimated_close_date = $9) "
        "AND ($10::text IS NULL OR d.name = $10) AND ($11::bigint IS NULL OR d.pipeline_id = $11) "
        "AND ($12::text IS NULL OR d.currency = $12) AND ($13::text IS NULL OR d.custom_fields ->> $13 = "
        "$14) "
        "AND ($15::text IS NULL OR $15 = ANY (d.tags)) AND ($16::bigint IS NULL OR d.owner_id = $16) "
        "AND ($19::jsonb IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_each_text($19::jsonb) f "
        "WHERE d.custom_fields ->> f.key IS DISTINCT FROM f.value)) "
        "ORDER BY d.%s %s NULLS LAST, d.id %s LIMIT $17 OFFSET $18",
        sorts[si], desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    const char *p[] = {ids,
                       crm_param_i64(b[0], req->has_contact_id, req->contact_id),
                       crm_param_i64(b[1], req->has_creator_id, req->creator_id),
                       crm_param_i64(b[2], req->has_owner_id, req->owner_id),
                       crm_param_i64(b[3], req->has_organization_id, req->organization_id),
                       crm_param_bool(req->has_hot, req->hot),
                       crm_param_i64(b[4], req->has_source_id, req->source_id),
                       crm_param_i64(b[5], req->has_stage_id, req->stage_id),
                       req->estimated_close_date,
                       req->name,
                       crm_param_i64(b[6], req->has_pipeline_id, req->pipeline_id),
                       req->currency,
                       cf_name,
                       cf_value,
                       req->tag,
                       crm_param_i64(b[7], c->sales, c->user_id),
                       crm_param_i64(b[8], true, page.limit),
                       crm_param_i64(b[9], true, page.offset),
                       cf_all};
    PGresult *res = crm_db_exec(db, name, sql, 19, p, err);
    free(ids);
    free(cf_name);
    free(cf_all);
    if (!res)
        return err->code;
    Crm__DealList *list = (Crm__DealList *)crm_pb_new(&crm__deal_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = deal_from_row(res, r);
    PQclear(res);
    if (with_contacts && deals_store_include_contacts(db, list->items, list->n_items, err)) {
        protobuf_c_message_free_unpacked(&list->base, NULL);
        return err->code;
    }
    *out = list;
    return CRM_OK;
}

/* ---- associated contacts ---------------------------------------------------------------------- */

#define AC_COLS "deal_id, contact_id, role, " TS("created_at") ", " TS("updated_at")

static Crm__AssociatedContact *ac_from_row(const PGresult *res, int r)
{
    Crm__AssociatedContact *m = (Crm__AssociatedContact *)crm_pb_new(&crm__associated_contact__descriptor);
    crm_row_i64(res, r, 0, &m->has_deal_id, &m->deal_id);
    crm_row_i64(res, r, 1, &m->has_contact_id, &m->contact_id);
    m->role = crm_row_str(res, r, 2);
    m->created_at = crm_row_str(res, r, 3);
    m->updated_at = crm_row_str(res, r, 4);
    return m;
}

int deals_store_include_contacts(crm_db_t *db, Crm__Deal **deals, size_t n, crm_err_t *err)
{
    if (n == 0)
        return CRM_OK;
    int64_t *ids = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = deals[i]->id;
    char *arr = id_array(ids, n);
    free(ids);
    const char *p[] = {arr};
    PGresult *res = crm_db_exec(db, "deal_contacts_of",
                                "SELECT " AC_COLS " FROM deal_contacts WHERE deal_id = ANY ($1::bigint[]) "
                                "ORDER BY deal_id, contact_id",
                                1, p, err);
    free(arr);
    if (!res)
        return err->code;
    int rows = PQntuples(res);
    for (size_t i = 0; i < n; i++) {
        Crm__AssociatedContactItems *it =
            (Crm__AssociatedContactItems *)crm_pb_new(&crm__associated_contact_items__descriptor);
        it->items = calloc((size_t)rows + 1, sizeof *it->items);
        for (int r = 0; r < rows; r++)
            if (crm_db_i64(res, r, 0) == deals[i]->id)
                it->items[it->n_items++] = ac_from_row(res, r);
        deals[i]->associated_contacts = it;
    }
    PQclear(res);
    return CRM_OK;
}

/* 404 unless the caller may see the deal. */
static int deal_visible(crm_db_t *db, const deals_caller_t *c, int64_t id, crm_err_t *err)
{
    Crm__Deal *d = NULL;
    int rc = deal_load(db, c, id, false, &d, err);
    if (d)
        protobuf_c_message_free_unpacked(&d->base, NULL);
    return rc;
}

int deals_store_contacts_list(crm_db_t *db, const deals_caller_t *c,
                              const Crm__AssociatedContactListRequest *req, Crm__AssociatedContactList **out,
                              crm_err_t *err)
{
    *out = NULL;
    static const char *const sorts[] = {"contact_id", "created_at", NULL};
    crm_page_t page;
    int si;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, sorts, 0, false, &si, &desc, err) ||
        deal_visible(db, c, req->deal_id, err))
        return err->code;
    char name[64], sql[512], b[3][24];
    snprintf(name, sizeof name, "deal_contacts_list_%d%c", si, desc ? 'd' : 'a');
    snprintf(sql, sizeof sql,
             "SELECT " AC_COLS
             " FROM deal_contacts WHERE deal_id = $1 ORDER BY %s %s, contact_id LIMIT $2 OFFSET $3",
             sorts[si], desc ? "DESC" : "ASC");
    const char *p[] = {crm_param_i64(b[0], true, req->deal_id), crm_param_i64(b[1], true, page.limit),
                       crm_param_i64(b[2], true, page.offset)};
    PGresult *res = crm_db_exec(db, name, sql, 3, p, err);
    if (!res)
        return err->code;
    Crm__AssociatedContactList *list =
        (Crm__AssociatedContactList *)crm_pb_new(&crm__associated_contact_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++)
        list->items[list->n_items++] = ac_from_row(res, r);
    PQclear(res);
    *out = list;
    return CRM_OK;
}

int deals_store_contact_add(crm_db_t *db, const deals_caller_t *c, const Crm__AssociatedContact *in,
                            Crm__AssociatedContact **out, crm_err_t *err)
{
    *out = NULL;
    if (!in->has_contact_id)
        return crm_err_set(err, CRM_EINVALID, "/contact_id", "missing", "contact_id is required");
    if (in->contact_id <= 0)
        return crm_err_set(err, CRM_EINVALID, "/contact_id", "incorrect_value",
                           "contact_id must be a positive id");
    if (in->role && strcmp(in->role, "involved"))
        return crm_err_set(err, CRM_EINVALID, "/role", "incorrect_value", "role must be involved");
    if (deal_visible(db, c, in->deal_id, err))
        return err->code;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, in->deal_id), crm_param_i64(b[1], true, in->contact_id)};
    PGresult *res = crm_db_exec(db, "deal_contacts_add",
                                "INSERT INTO deal_contacts (deal_id, contact_id) VALUES ($1, $2) ON CONFLICT "
                                "(deal_id, contact_id) DO UPDATE SET updated_at = now() RETURNING " AC_COLS,
                                2, p, err);
    if (!res)
        return err->code;
    *out = ac_from_row(res, 0);
    PQclear(res);
    return CRM_OK;
}

int deals_store_contact_remove(crm_db_t *db, const deals_caller_t *c, const Crm__AssociatedContact *in,
                               crm_err_t *err)
{
    if (deal_visible(db, c, in->deal_id, err))
        return err->code;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, in->deal_id), crm_param_i64(b[1], true, in->contact_id)};
    PGresult *res = crm_db_exec(
        db, "deal_contacts_remove",
        "DELETE FROM deal_contacts WHERE deal_id = $1 AND contact_id = $2 RETURNING deal_id", 2, p, err);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    PQclear(res);
    return n ? CRM_OK
             : crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found",
                           "contact %lld is not associated with deal %lld", (long long)in->contact_id,
                           (long long)in->deal_id);
}

/* ---- stage history (E4) ------------------------------------------------------------------------ */

int deals_store_stage_changes(crm_db_t *db, const deals_caller_t *c, const Crm__StageChangeListRequest *req,
                              Crm__StageChangeList **out, crm_err_t *err)
{
    *out = NULL;
    static const char *const sorts[] = {"id", "changed_at", NULL};
    crm_page_t page;
    int si;
    bool desc;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err) ||
        crm_sort_parse(req->sort_by, sorts, 0, false, &si, &desc, err) ||
        deal_visible(db, c, req->deal_id, err))
        return err->code;
    char b[3][24];
    const char *p[] = {crm_param_i64(b[0], true, req->deal_id), crm_param_i64(b[1], true, page.limit),
                       crm_param_i64(b[2], true, page.offset)};
    PGresult *res =
        desc ? crm_db_exec(db, "stage_changes_list_d",
                           "SELECT id, deal_id, pipeline_id, from_stage_id, stage_id, changed_by, " TS(
                               "changed_at") ", reason_id FROM stage_changes WHERE deal_id = $1 ORDER BY id "
                                             "DESC LIMIT $2 OFFSET $3",
                           3, p, err)
             : crm_db_exec(db, "stage_changes_list_a",
                           "SELECT id, deal_id, pipeline_id, from_stage_id, stage_id, changed_by, " TS(
                               "changed_at") ", reason_id FROM stage_changes WHERE deal_id = $1 ORDER BY id "
                                             "LIMIT $2 OFFSET $3",
                           3, p, err);
    if (!res)
        return err->code;
    Crm__StageChangeList *list = (Crm__StageChangeList *)crm_pb_new(&crm__stage_change_list__descriptor);
    int rows = PQntuples(res), n = rows > page.per_page ? page.per_page : rows;
    list->has_has_more = 1;
    list->has_more = rows > page.per_page;
    list->items = calloc((size_t)n + 1, sizeof *list->items);
    for (int r = 0; r < n; r++) {
        Crm__StageChange *m = (Crm__StageChange *)crm_pb_new(&crm__stage_change__descriptor);
        crm_row_i64(res, r, 0, &m->has_id, &m->id);
        crm_row_i64(res, r, 1, &m->has_deal_id, &m->deal_id);
        crm_row_i64(res, r, 2, &m->has_pipeline_id, &m->pipeline_id);
        crm_row_i64(res, r, 3, &m->has_from_stage_id, &m->from_stage_id);
        crm_row_i64(res, r, 4, &m->has_to_stage_id, &m->to_stage_id);
        crm_row_i64(res, r, 5, &m->has_changed_by, &m->changed_by);
        m->changed_at = crm_row_str(res, r, 6);
        crm_row_i64(res, r, 7, &m->has_reason_id, &m->reason_id);
        list->items[list->n_items++] = m;
    }
    PQclear(res);
    *out = list;
    return CRM_OK;
}

/* ---- lead conversion (D2) and owner assignment ---------------------------------------------- */

int deals_store_from_conversion(crm_db_t *tx, const deals_caller_t *c, const Crm__LeadConverted *lc,
                                int64_t *deal_id, bool *created, crm_err_t *err)
{
    *deal_id = 0;
    *created = false;
    if (!lc->has_conversion_id || lc->conversion_id <= 0)
        return crm_err_set(err, CRM_EINVALID, "/conversion_id", "missing", "conversion_id is required");
    if (lc->deal_value && !decimal_ok(lc->deal_value))
        return crm_err_set(err, CRM_EINVALID, "/deal_value", "incorrect_value",
                           "deal_value must be a decimal string such as \"1200.50\"");
    if (lc->deal_currency && !deals_currency_ok(lc->deal_currency))
        return crm_err_set(err, CRM_EINVALID, "/deal_currency", "incorrect_value",
                           "deal_currency must be an ISO 4217 code such as USD");
    stage_info_t st;
    bool found = false;
    bool named = lc->has_pipeline_id && lc->pipeline_id > 0;
    if (first_stage(tx, named, lc->pipeline_id, &st, &found, err))
        return err->code;
    if (!found)
        return crm_err_set(err, CRM_EINVALID, "/pipeline_id", "incorrect_value",
                           "pipeline %lld does not exist or has no active stage", (long long)lc->pipeline_id);
    /* The deal's name: the one asked for, else the lead's organization or person. */
    char name[512];
    const Crm__Lead *l = lc->lead;
    if (!blank(lc->deal_name))
        snprintf(name, sizeof name, "%s", lc->deal_name);
    else if (l && !blank(l->organization_name))
        snprintf(name, sizeof name, "%s", l->organization_name);
    else if (l && !blank(l->last_name))
        snprintf(name, sizeof name, "%s%s%s", l->first_name ? l->first_name : "", l->first_name ? " " : "",
                 l->last_name);
    else
        snprintf(name, sizeof name, "Deal from lead %lld", (long long)lc->lead_id);
    Crm__Deal in = CRM__DEAL__INIT;
    in.name = name;
    in.currency = lc->deal_currency;
    in.has_contact_id = lc->has_individual_id && lc->individual_id > 0;
    in.contact_id = lc->individual_id;
    int64_t org[1] = {lc->organization_id};
    if (lc->has_organization_id && lc->organization_id > 0) {
        in.n_contact_ids = 1;
        in.contact_ids = org;
    }
    deals_caller_t who = *c;
    who.user_id = lc->has_creator_id ? lc->creator_id : 0;
    bool has_owner = lc->has_owner_id && lc->owner_id > 0;
    int64_t id = 0;
    if (deal_insert(tx, &who, &in, lc->deal_value, &st, lc->owner_id, has_owner, lc->conversion_id,
                    who.user_id == 0, &id, created, err))
        return err->code;
    if (!*created) {
        /* The other path (RPC or event) made it already: answer with that deal. */
        char b[24];
        const char *p[] = {crm_param_i64(b, true, lc->conversion_id)};
        PGresult *res = crm_db_exec(tx, "deals_by_conversion",
                                    "SELECT id FROM deals WHERE conversion_id = $1", 1, p, err);
        if (!res)
            return err->code;
        *deal_id = PQntuples(res) ? crm_db_i64(res, 0, 0) : 0;
        PQclear(res);
        return CRM_OK;
    }
    *deal_id = id;
    if (lc->has_organization_id && lc->organization_id > 0) {
        char b[2][24];
        const char *p[] = {crm_param_i64(b[0], true, id), crm_param_i64(b[1], true, lc->organization_id)};
        if (crm_db_run(tx, "deals_set_org", "UPDATE deals SET organization_id = $2 WHERE id = $1", 2, p, err))
            return err->code;
    }
    Crm__Deal *deal = NULL;
    int rc = deal_load(tx, &(deals_caller_t){0}, id, false, &deal, err);
    if (rc == CRM_OK)
        rc = emit_deal(tx, &who, "deal.created", deal, false, 0, 0, 0, lc->conversion_id, err);
    if (deal)
        protobuf_c_message_free_unpacked(&deal->base, NULL);
    return rc;
}

int deals_store_set_owner(crm_db_t *tx, const deals_caller_t *c, int64_t deal_id, int64_t owner_id,
                          int64_t assignment_id, bool *found, crm_err_t *err)
{
    *found = false;
    char b[2][24];
    const char *p[] = {crm_param_i64(b[0], true, deal_id), crm_param_i64(b[1], true, owner_id)};
    /* The old owner comes from a self-join on the locked row: the UPDATE alone would return the new one. */
    PGresult *res =
        crm_db_exec(tx, "deals_set_owner",
                    "UPDATE deals d SET owner_id = $2, updated_at = now() FROM (SELECT id, owner_id FROM "
                    "deals WHERE id = $1 FOR UPDATE) o WHERE d.id = o.id RETURNING o.owner_id",
                    2, p, err);
    if (!res)
        return err->code;
    *found = PQntuples(res) == 1;
    protobuf_c_boolean has_prev = 0;
    int64_t prev = 0;
    if (*found)
        crm_row_i64(res, 0, 0, &has_prev, &prev);
    PQclear(res);
    if (!*found)
        return CRM_OK;
    if (reattribute_open_stay(tx, deal_id, err))
        return err->code;
    Crm__Deal *deal = NULL;
    int rc = deal_load(tx, &(deals_caller_t){0}, deal_id, false, &deal, err);
    if (rc == CRM_OK)
        rc = emit_deal(tx, c, "deal.updated", deal, true, prev, 0, assignment_id, 0, err);
    if (deal)
        protobuf_c_message_free_unpacked(&deal->base, NULL);
    return rc;
}

/* ---- kanban board (E5) -------------------------------------------------------------------------- */

int deals_store_board(crm_db_t *db, const deals_caller_t *c, const Crm__BoardRequest *req, Crm__Board **out,
                      crm_err_t *err)
{
    *out = NULL;
    crm_page_t page;
    if (crm_page_window(req->has_page, req->page, req->has_per_page, req->per_page, &page, err))
        return err->code;
    /* A sales caller sees its own cards only, whatever owner_id it asks for. */
    bool has_owner = c->sales || req->has_owner_id;
    int64_t owner = c->sales ? c->user_id : req->owner_id;
    char b[4][24];
    const char *p[] = {crm_param_i64(b[0], true, req->id), crm_param_i64(b[1], has_owner, owner)};
    if (crm_db_begin(db, err)) /* one snapshot for the figures and the cards */
        return err->code;
    PGresult *cols = crm_db_exec(
        db, "board_columns",
        "WITH d AS (SELECT d.stage_id, d.unsorted, d.value, d.value * coalesce(d.customized_win_likelihood, "
        "s.likelihood) / 100.0 AS weighted FROM deals d JOIN stages s ON s.id = d.stage_id "
        "WHERE d.pipeline_id = $1 AND ($2::bigint IS NULL OR d.owner_id = $2)) "
        "SELECT 0, 'Unsorted', NULL, 0, NULL, count(*), coalesce(sum(value), 0)::numeric(18, 2)::text, "
        "coalesce(sum(weighted), 0)::numeric(18, 2)::text FROM d WHERE unsorted "
        "UNION ALL (SELECT s.id, s.name, s.category, s.position, s.likelihood, count(d.stage_id), "
        "coalesce(sum(d.value), 0)::numeric(18, 2)::text, coalesce(sum(d.weighted), 0)::numeric(18, 2)::text "
        "FROM stages s LEFT JOIN d ON d.stage_id = s.id AND NOT d.unsorted WHERE s.pipeline_id = $1 "
        "GROUP BY s.id ORDER BY s.position)",
        2, p, err);
    if (!cols) {
        crm_db_rollback(db);
        return err->code;
    }
    if (PQntuples(cols) < 2) {
        PQclear(cols);
        crm_db_rollback(db);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "pipeline %lld not found",
                           (long long)req->id);
    }
    const char *cp[] = {p[0], p[1], crm_param_i64(b[2], true, page.offset),
                        crm_param_i64(b[3], true, page.limit)};
    PGresult *cards = crm_db_exec(
        db, "board_cards",
        "SELECT * FROM (SELECT " DEAL_COLS ", CASE WHEN d.unsorted THEN 0 ELSE d.stage_id END AS col, "
        "row_number() OVER (PARTITION BY CASE WHEN d.unsorted THEN 0 ELSE d.stage_id END "
        "ORDER BY d.added_on DESC, d.id DESC) AS rn FROM deals d WHERE d.pipeline_id = $1 "
        "AND ($2::bigint IS NULL OR d.owner_id = $2)) x WHERE rn > $3 AND rn <= $3 + $4 ORDER BY col, rn",
        4, cp, err);
    PGresult *totals =
        cards ? crm_db_exec(
                    db, "board_totals",
                    "SELECT CASE WHEN d.unsorted THEN 0 ELSE d.stage_id END AS col, d.currency, count(*), "
                    "sum(d.value)::numeric(18, 2)::text, sum(d.value * coalesce(d.customized_win_likelihood, "
                    "s.likelihood) / 100.0)::numeric(18, 2)::text FROM deals d JOIN stages s ON s.id = "
                    "d.stage_id WHERE d.pipeline_id = $1 AND ($2::bigint IS NULL OR d.owner_id = $2) "
                    "GROUP BY 1, 2 ORDER BY 1, 2",
                    2, p, err)
              : NULL;
    crm_db_rollback(db); /* read only */
    if (!cards || !totals) {
        PQclear(cols);
        if (cards)
            PQclear(cards);
        return err->code;
    }
    Crm__Board *board = (Crm__Board *)crm_pb_new(&crm__board__descriptor);
    board->has_pipeline_id = 1;
    board->pipeline_id = req->id;
    int ncols = PQntuples(cols), ncards = PQntuples(cards);
    int colkey = PQfnumber(cards, "col"), rnkey = PQfnumber(cards, "rn");
    board->columns = calloc((size_t)ncols, sizeof *board->columns);
    for (int i = 0; i < ncols; i++) {
        Crm__BoardColumn *col = (Crm__BoardColumn *)crm_pb_new(&crm__board_column__descriptor);
        crm_row_i64(cols, i, 0, &col->has_stage_id, &col->stage_id);
        col->name = crm_row_str(cols, i, 1);
        col->category = crm_row_str(cols, i, 2);
        crm_row_i32(cols, i, 3, &col->has_position, &col->position);
        crm_row_i32(cols, i, 4, &col->has_likelihood, &col->likelihood);
        crm_row_i64(cols, i, 5, &col->has_count, &col->count);
        col->total_value = crm_row_str(cols, i, 6);
        col->weighted_value = crm_row_str(cols, i, 7);
        col->has_unsorted = col->has_has_more = 1;
        col->unsorted = i == 0;
        col->has_more = col->count > (int64_t)page.offset + page.per_page;
        int nt = PQntuples(totals);
        col->totals = calloc((size_t)nt + 1, sizeof *col->totals);
        for (int t = 0; t < nt; t++) {
            if (crm_db_i64(totals, t, 0) != col->stage_id)
                continue;
            Crm__BoardTotal *bt = (Crm__BoardTotal *)crm_pb_new(&crm__board_total__descriptor);
            bt->currency = crm_row_str(totals, t, 1);
            crm_row_i64(totals, t, 2, &bt->has_count, &bt->count);
            bt->total_value = crm_row_str(totals, t, 3);
            bt->weighted_value = crm_row_str(totals, t, 4);
            col->totals[col->n_totals++] = bt;
        }
        if (col->n_totals == 1) {
            col->currency = crm_pb_strdup(col->totals[0]->currency);
        } else if (col->n_totals > 1) { /* never a sum across currencies */
            free(col->total_value);
            free(col->weighted_value);
            col->total_value = col->weighted_value = NULL;
        }
        col->deals = calloc((size_t)page.per_page + 1, sizeof *col->deals);
        for (int r = 0; r < ncards; r++)
            if (crm_db_i64(cards, r, colkey) == col->stage_id &&
                crm_db_i64(cards, r, rnkey) <= page.offset + page.per_page)
                col->deals[col->n_deals++] = deal_from_row(cards, r);
        board->columns[board->n_columns++] = col;
    }
    PQclear(cols);
    PQclear(cards);
    PQclear(totals);
    *out = board;
    return CRM_OK;
}

/* ---- funnel report (E6) ------------------------------------------------------------------------ */

static double pct(int64_t part, int64_t whole)
{
    return whole > 0 ? (double)(int64_t)((double)part * 1000.0 / (double)whole + 0.5) / 10.0 : 0.0;
}

/* Sets won_value, currency and won_values from {"EUR": "10.00", ...} (funnel_report's jsonb): the
 * value and currency only when there is exactly one currency ("0.00" when none). */
static void set_won_values(const char *json, char **won_value, char **currency, size_t *n_out,
                           Crm__FunnelWonValue ***out)
{
    json_t *o = json_loads(json ? json : "{}", 0, NULL);
    size_t n = json_is_object(o) ? json_object_size(o) : 0;
    *out = n ? calloc(n, sizeof **out) : NULL;
    *n_out = 0;
    const char *cur;
    json_t *v;
    json_object_foreach(o, cur, v)
    {
        if (!*out || *n_out >= n || !json_is_string(v))
            continue;
        Crm__FunnelWonValue *w = (Crm__FunnelWonValue *)crm_pb_new(&crm__funnel_won_value__descriptor);
        w->currency = crm_pb_strdup(cur);
        w->won_value = crm_pb_strdup(json_string_value(v));
        (*out)[(*n_out)++] = w;
    }
    if (*n_out == 1) {
        *won_value = crm_pb_strdup((*out)[0]->won_value);
        *currency = crm_pb_strdup((*out)[0]->currency);
    } else if (*n_out == 0) {
        *won_value = crm_pb_strdup("0.00");
    }
    json_decref(o);
}

int deals_store_funnel(crm_db_t *db, const Crm__FunnelRequest *req, const int64_t *owners, size_t nowners,
                       Crm__Funnel **out, crm_err_t *err)
{
    *out = NULL;
    char *arr = owners ? id_array(owners, nowners) : NULL;
    char b[24];
    const char *p[] = {crm_param_i64(b, true, req->pipeline_id), req->from, req->to, arr};
    PGresult *res =
        crm_db_exec(db, "funnel_report",
                    "SELECT stage_id, name, category, pos, entered, onward, lost, avg_seconds, "
                    "won_values, won_total FROM funnel_report($1, $2::date, $3::date, $4::bigint[])",
                    4, p, err);
    free(arr);
    if (!res)
        return err->code;
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return crm_err_set(err, CRM_ENOTFOUND, NULL, "not_found", "pipeline %lld not found",
                           (long long)req->pipeline_id);
    }
    Crm__Funnel *f = (Crm__Funnel *)crm_pb_new(&crm__funnel__descriptor);
    f->has_pipeline_id = 1;
    f->pipeline_id = req->pipeline_id;
    f->from = crm_pb_strdup(req->from);
    f->to = crm_pb_strdup(req->to);
    f->stages = calloc((size_t)n, sizeof *f->stages);
    for (int r = 0; r < n; r++) {
        Crm__FunnelStage *s = (Crm__FunnelStage *)crm_pb_new(&crm__funnel_stage__descriptor);
        crm_row_i64(res, r, 0, &s->has_stage_id, &s->stage_id);
        s->name = crm_row_str(res, r, 1);
        s->category = crm_row_str(res, r, 2);
        crm_row_i32(res, r, 3, &s->has_position, &s->position);
        crm_row_i64(res, r, 4, &s->has_entered, &s->entered);
        crm_row_i64(res, r, 5, &s->has_converted, &s->converted);
        crm_row_i64(res, r, 6, &s->has_lost, &s->lost);
        s->has_converted_pct = s->has_lost_pct = 1;
        s->converted_pct = pct(s->converted, s->entered);
        s->lost_pct = pct(s->lost, s->entered);
        if (!PQgetisnull(res, r, 7)) {
            s->has_avg_seconds_in_stage = 1;
            s->avg_seconds_in_stage = strtod(PQgetvalue(res, r, 7), NULL);
        }
        set_won_values(PQgetvalue(res, r, 8), &s->won_value, &s->currency, &s->n_won_values, &s->won_values);
        f->stages[f->n_stages++] = s;
    }
    set_won_values(PQgetvalue(res, 0, 9), &f->won_value, &f->currency, &f->n_won_values, &f->won_values);
    PQclear(res);
    *out = f;
    return CRM_OK;
}

int deals_check_day(const char *s)
{
    return date_ok(s);
}

/* ---- clone (E7) ---------------------------------------------------------------------------------- */

int deals_store_clone(crm_db_t *db, const deals_caller_t *c, const Crm__DealCloneRequest *req,
                      Crm__DealCloneReply **out, crm_err_t *err)
{
    *out = NULL;
    const char *spread = req->spread ? req->spread : "split";
    if (!req->has_count)
        crm_err_add(err, CRM_EINVALID, "/count", "missing", "count is required");
    else if (req->count < 1 || req->count > 120)
        crm_err_add(err, CRM_EINVALID, "/count", "incorrect_value", "count must be between 1 and 120");
    if (strcmp(spread, "split") && strcmp(spread, "copy") && strcmp(spread, "monthly_payment"))
        crm_err_add(err, CRM_EINVALID, "/spread", "incorrect_value",
                    "spread must be split, copy or monthly_payment");
    if (err->code)
        return err->code;
    if (crm_db_begin(db, err))
        return err->code;
    Crm__Deal *orig = NULL;
    stage_info_t st;
    bool found = false;
    int rc = deal_load(db, c, req->id, true, &orig, err);
    if (rc == CRM_OK && strcmp(spread, "monthly_payment") == 0 && !orig->monthly_payment)
        rc = crm_err_set(err, CRM_EINVALID, "/spread", "incorrect_value", "deal %lld has no monthly_payment",
                         (long long)req->id);
    if (rc == CRM_OK)
        rc = first_stage(db, true, orig->pipeline_id, &st, &found, err);
    if (rc == CRM_OK && !found)
        rc = crm_err_set(err, CRM_EINVALID, "/id", "incorrect_value",
                         "the deal's pipeline has no active stage");
    PGresult *res = NULL;
    if (rc == CRM_OK) {
        char b[5][24];
        const char *p[] = {crm_param_i64(b[0], true, req->id), crm_param_i64(b[1], true, req->count), spread,
                           crm_param_i64(b[2], true, st.id), crm_param_i64(b[3], c->user_id > 0, c->user_id)};
        res = crm_db_exec(
            db, "deals_clone",
            "INSERT INTO deals (creator_id, owner_id, name, value, currency, hot, pipeline_id, stage_id, "
            "contact_id, "
            "organization_id, estimated_close_date, source_id, tags, custom_fields, "
            "customized_win_likelihood, "
            "monthly_payment, contract_value, unsorted, last_stage_change_by_id) "
            "SELECT $5, d.owner_id, d.name || ' (' || i || '/' || $2::integer || ')', "
            "CASE $3 WHEN 'copy' THEN d.value WHEN 'monthly_payment' THEN d.monthly_payment "
            "ELSE CASE WHEN i < $2::integer THEN trunc(d.value * 100 / $2::integer) / 100 "
            "ELSE d.value - ($2::integer - 1) * (trunc(d.value * 100 / $2::integer) / 100) END END, "
            "d.currency, d.hot, d.pipeline_id, $4, d.contact_id, d.organization_id, "
            "(d.estimated_close_date + i * interval '1 month')::date, d.source_id, d.tags, d.custom_fields, "
            "d.customized_win_likelihood, d.monthly_payment, d.contract_value, $5::bigint IS NULL, $5 "
            "FROM deals d, generate_series(1, $2::integer) i WHERE d.id = $1 ORDER BY i RETURNING id",
            5, p, err);
        rc = res ? CRM_OK : err->code;
    }
    Crm__DealCloneReply *reply = (Crm__DealCloneReply *)crm_pb_new(&crm__deal_clone_reply__descriptor);
    int n = res ? PQntuples(res) : 0;
    reply->deals = calloc((size_t)n + 1, sizeof *reply->deals);
    for (int r = 0; rc == CRM_OK && r < n; r++) {
        int64_t id = crm_db_i64(res, r, 0);
        char b[2][24];
        const char *p[] = {crm_param_i64(b[0], true, id), crm_param_i64(b[1], true, req->id)};
        rc = crm_db_run(db, "deals_clone_contacts",
                        "INSERT INTO deal_contacts (deal_id, contact_id, role) SELECT $1, contact_id, role "
                        "FROM deal_contacts WHERE deal_id = $2",
                        2, p, err);
        if (rc == CRM_OK)
            rc = record_stay(db, c, id, NULL, &st, 0, err);
        Crm__Deal *deal = NULL;
        if (rc == CRM_OK)
            rc = deal_load(db, &(deals_caller_t){0}, id, false, &deal, err);
        if (rc == CRM_OK)
            rc = emit_deal(db, c, "deal.created", deal, false, 0, 0, 0, 0, err);
        if (deal)
            reply->deals[reply->n_deals++] = deal;
    }
    if (res)
        PQclear(res);
    if (orig)
        protobuf_c_message_free_unpacked(&orig->base, NULL);
    if (rc == CRM_OK)
        rc = crm_db_commit(db, err);
    if (rc) {
        crm_db_rollback(db);
        protobuf_c_message_free_unpacked(&reply->base, NULL);
        return rc;
    }
    crm_outbox_kick(c->outbox);
    *out = reply;
    return CRM_OK;
}

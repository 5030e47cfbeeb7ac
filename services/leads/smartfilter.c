/* The smart list filter compiler: see smartfilter.h for the filter language. The SQL text is
 * built only from the constant attribute table and operator list below; every value travels as
 * a parameter. */
#include "smartfilter.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"
#include "extras.h"

typedef enum { K_INT, K_TEXT, K_BOOL, K_TS, K_DAYS, K_TAGS, K_CUSTOM, K_CONVERTED } kind_t;

/* The attributes of each record type: sql the expression on table leads (lead) or contacts
 * (contact), NULL when the type has no such attribute. */
#define BOTH(name, kind)                                                                                     \
    {                                                                                                        \
#name, {#name, #name }, kind                                                                         \
    }
#define LEAD(name, kind)                                                                                     \
    {                                                                                                        \
#name, {#name, NULL }, kind                                                                          \
    }
#define CONTACT(name, kind)                                                                                  \
    {                                                                                                        \
#name, {NULL, #name }, kind                                                                          \
    }
#define DAYS_SINCE(name)                                                                                     \
    {                                                                                                        \
        name,                                                                                                \
            {"coalesce(" LEADS_LAST_ACTIVITY_SQL ", created_at)",                                            \
             "coalesce(" LEADS_CONTACT_LAST_ACTIVITY_SQL ", created_at)"},                                   \
            K_DAYS                                                                                           \
    }
static const struct {
    const char *name;
    const char *sql[2]; /* lead, contact */
    kind_t kind;
} attrs[] = {
    BOTH(id, K_INT),
    BOTH(owner_id, K_INT),
    BOTH(creator_id, K_INT),
    LEAD(source_id, K_INT),
    LEAD(unqualified_reason_id, K_INT),
    CONTACT(contact_id, K_INT),
    CONTACT(parent_organization_id, K_INT),
    CONTACT(is_organization, K_BOOL),
    LEAD(status, K_TEXT),
    CONTACT(name, K_TEXT),
    CONTACT(customer_status, K_TEXT),
    CONTACT(prospect_status, K_TEXT),
    BOTH(first_name, K_TEXT),
    BOTH(last_name, K_TEXT),
    LEAD(organization_name, K_TEXT),
    BOTH(title, K_TEXT),
    BOTH(description, K_TEXT),
    BOTH(industry, K_TEXT),
    BOTH(website, K_TEXT),
    BOTH(email, K_TEXT),
    BOTH(phone, K_TEXT),
    BOTH(mobile, K_TEXT),
    BOTH(fax, K_TEXT),
    BOTH(twitter, K_TEXT),
    BOTH(facebook, K_TEXT),
    BOTH(linkedin, K_TEXT),
    BOTH(skype, K_TEXT),
    BOTH(address_line1, K_TEXT),
    BOTH(address_city, K_TEXT),
    BOTH(address_postal_code, K_TEXT),
    BOTH(address_state, K_TEXT),
    BOTH(address_country, K_TEXT),
    BOTH(created_at, K_TS),
    BOTH(updated_at, K_TS),
    {"last_activity_at", {LEADS_LAST_ACTIVITY_SQL, LEADS_CONTACT_LAST_ACTIVITY_SQL}, K_TS},
    DAYS_SINCE("days_since_last_activity"),
    DAYS_SINCE("days_since_last_communication"),
    BOTH(tags, K_TAGS),
    BOTH(custom_fields, K_CUSTOM),
    {"converted", {"converted_at", NULL}, K_CONVERTED},
};

#define MAX_LIST 100 /* elements of one "in"/array */
#define MAX_SQL 16384

typedef struct {
    leads_filter_t *f;
    char *buf;
    size_t len, cap;
    crm_err_t *err;
    char ptr[128]; /* JSON pointer of the condition being compiled */
} cc_t;

static int fail(cc_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cc_t *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return crm_err_set(c->err, CRM_EINVALID, c->ptr, "incorrect_value", "%s", msg);
}

static int emit(cc_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int emit(cc_t *c, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp || c->len + (size_t)n + 1 > MAX_SQL)
        return fail(c, "the filter is too large");
    if (c->len + (size_t)n + 1 > c->cap) {
        c->cap = (c->len + (size_t)n + 1) * 2;
        char *nb = realloc(c->buf, c->cap);
        if (!nb)
            abort();
        c->buf = nb;
    }
    memcpy(c->buf + c->len, tmp, (size_t)n + 1);
    c->len += (size_t)n;
    return CRM_OK;
}

/* Adds a parameter (text owned by the filter from now on); its number in *num. */
static int param(cc_t *c, char *text, int *num)
{
    if (c->f->nparams >= LEADS_FILTER_MAX_PARAMS) {
        free(text);
        return fail(c, "the filter has too many values (at most %d)", LEADS_FILTER_MAX_PARAMS);
    }
    c->f->params[c->f->nparams] = text;
    *num = c->f->first + c->f->nparams++;
    return CRM_OK;
}

static char *dup_text(const char *s)
{
    char *d = crm_pb_strdup(s);
    if (!d)
        abort(); /* out of memory */
    return d;
}

/* Push/pop a path segment of the JSON pointer (escaped, truncated safely). */
static size_t push(cc_t *c, const char *seg)
{
    size_t saved = strlen(c->ptr), n = saved;
    if (n + 2 < sizeof c->ptr)
        c->ptr[n++] = '/';
    for (const char *s = seg; *s && n + 3 < sizeof c->ptr; s++) {
        if (*s == '~' || *s == '/') {
            c->ptr[n++] = '~';
            c->ptr[n++] = *s == '~' ? '0' : '1';
        } else {
            c->ptr[n++] = *s;
        }
    }
    c->ptr[n] = '\0';
    return saved;
}

static void pop(cc_t *c, size_t saved)
{
    c->ptr[saved] = '\0';
}

static bool int_value(const json_t *v, long long *out)
{
    if (!json_is_integer(v))
        return false;
    *out = (long long)json_integer_value(v);
    return true;
}

static bool text_value(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

static char *i64_text(long long v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", v);
    return dup_text(b);
}

/* A Postgres array literal of the elements of arr (integers or strings), or NULL with an error. */
static int array_param(cc_t *c, const json_t *arr, bool ints, int *num)
{
    size_t n = json_array_size(arr);
    if (n == 0 || n > MAX_LIST)
        return fail(c, "a list needs 1 to %d values", MAX_LIST);
    if (ints) {
        size_t cap = n * 22 + 3, len = 0;
        char *lit = malloc(cap);
        if (!lit)
            abort();
        lit[len++] = '{';
        for (size_t i = 0; i < n; i++) {
            long long v;
            if (!int_value(json_array_get(arr, i), &v)) {
                free(lit);
                return fail(c, "expected a list of integers");
            }
            len += (size_t)snprintf(lit + len, cap - len, "%s%lld", i ? "," : "", v);
        }
        lit[len++] = '}';
        lit[len] = '\0';
        return param(c, lit, num);
    }
    char **items = calloc(n, sizeof *items);
    if (!items)
        abort();
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        if (!text_value(e)) {
            free(items);
            return fail(c, "expected a list of strings");
        }
        items[i] = (char *)json_string_value(e);
    }
    char *lit = crm_param_text_array(items, n);
    free(items);
    return param(c, lit, num);
}

static const char *cmp_sql(const char *op)
{
    static const struct {
        const char *op, *sql;
    } ops[] = {{"eq", "="}, {"ne", "<>"},  {"gt", ">"},    {"gte", ">="},
               {"lt", "<"}, {"lte", "<="}, {"from", ">="}, {"to", "<="}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i].op) == 0)
            return ops[i].sql;
    return NULL;
}

static int is_null_cond(cc_t *c, const char *expr, const json_t *v)
{
    if (!json_is_boolean(v))
        return fail(c, "is_null takes true or false");
    return emit(c, " AND %s IS %sNULL", expr, json_is_true(v) ? "" : "NOT ");
}

/* int and text attributes */
static int scalar_attr(cc_t *c, const char *col, bool ints, const json_t *v)
{
    int num = 0;
    const char *cast = ints ? "bigint" : "text";
    if (json_is_array(v)) {
        if (array_param(c, v, ints, &num))
            return c->err->code;
        return emit(c, " AND %s = ANY ($%d::%s[])", col, num, cast);
    }
    if (!json_is_object(v)) {
        long long iv;
        if (ints ? !int_value(v, &iv) : !text_value(v))
            return fail(c, ints ? "expected an integer, a list or an operator object"
                                : "expected a string, a list or an operator object");
        if (param(c, ints ? i64_text(iv) : dup_text(json_string_value(v)), &num))
            return c->err->code;
        return emit(c, " AND %s = $%d::%s", col, num, cast);
    }
    if (json_object_size(v) == 0)
        return fail(c, "an operator object needs at least one operator");
    const char *op;
    const json_t *x;
    json_object_foreach((json_t *)v, op, x)
    {
        size_t saved = push(c, op);
        int rc = CRM_OK;
        const char *cmp = cmp_sql(op);
        long long iv;
        if (strcmp(op, "is_null") == 0) {
            rc = is_null_cond(c, col, x);
        } else if (strcmp(op, "in") == 0) {
            rc = json_is_array(x) ? array_param(c, x, ints, &num) : fail(c, "in takes a list");
            if (!rc)
                rc = emit(c, " AND %s = ANY ($%d::%s[])", col, num, cast);
        } else if (!ints && (strcmp(op, "contains") == 0 || strcmp(op, "starts_with") == 0)) {
            if (!text_value(x) || json_string_length(x) == 0)
                rc = fail(c, "%s takes a non-empty string", op);
            else if (!(rc = param(c, dup_text(json_string_value(x)), &num)))
                rc = op[0] == 'c' ? emit(c, " AND strpos(lower(%s), lower($%d::text)) > 0", col, num)
                                  : emit(c, " AND strpos(lower(%s), lower($%d::text)) = 1", col, num);
        } else if (cmp && strcmp(op, "from") != 0 && strcmp(op, "to") != 0) {
            if (ints ? !int_value(x, &iv) : !text_value(x))
                rc = fail(c, ints ? "expected an integer" : "expected a string");
            else if (!(rc = param(c, ints ? i64_text(iv) : dup_text(json_string_value(x)), &num)))
                rc = emit(c, " AND %s %s $%d::%s", col, cmp, num, cast);
        } else {
            rc = fail(c, "unknown operator '%.40s'", op);
        }
        if (rc)
            return rc;
        pop(c, saved);
    }
    return CRM_OK;
}

static int ts_attr(cc_t *c, const char *expr, const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(c, "expected an object such as {\"from\": \"2026-01-01T00:00:00Z\", \"to\": ...}");
    const char *op;
    const json_t *x;
    json_object_foreach((json_t *)v, op, x)
    {
        size_t saved = push(c, op);
        int rc = CRM_OK, num = 0;
        const char *cmp = cmp_sql(op);
        long long days;
        if (strcmp(op, "is_null") == 0) {
            rc = is_null_cond(c, expr, x);
        } else if (strcmp(op, "within_days") == 0) {
            if (!int_value(x, &days) || days < 0 || days > 36500)
                rc = fail(c, "within_days takes a number of days (0..36500)");
            else if (!(rc = param(c, i64_text(days), &num)))
                rc = emit(c, " AND %s >= now() - make_interval(days => $%d::int)", expr, num);
        } else if (cmp && strcmp(op, "eq") != 0 && strcmp(op, "ne") != 0) {
            if (!text_value(x) || !leads_iso_datetime_ok(json_string_value(x)))
                rc = fail(c, "expected an ISO 8601 date or date-time");
            else if (!(rc = param(c, dup_text(json_string_value(x)), &num)))
                rc = emit(c, " AND %s %s $%d::timestamptz", expr, cmp, num);
        } else {
            rc = fail(c, "unknown operator '%.40s'", op);
        }
        if (rc)
            return rc;
        pop(c, saved);
    }
    return CRM_OK;
}

/* days since: gte n ⇔ the moment is at least n days ago. */
static int days_attr(cc_t *c, const char *expr, const json_t *v)
{
    long long n;
    int num = 0;
    if (int_value(v, &n)) {
        if (n < 0 || n > 36500)
            return fail(c, "expected a number of days (0..36500)");
        if (param(c, i64_text(n), &num))
            return c->err->code;
        return emit(c,
                    " AND %s <= now() - make_interval(days => $%d::int) AND %s > now() - make_interval(days "
                    "=> $%d::int + 1)",
                    expr, num, expr, num);
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(c, "expected a number of days or an object such as {\"gte\": 7}");
    const char *op;
    const json_t *x;
    json_object_foreach((json_t *)v, op, x)
    {
        size_t saved = push(c, op);
        int rc = CRM_OK;
        /* days ≥ n ⇔ t ≤ now − n; days > n ⇔ t < now − n; days ≤ n ⇔ t ≥ now − n; days < n ⇔ t > now − n */
        const char *cmp = strcmp(op, "gte") == 0   ? "<="
                          : strcmp(op, "gt") == 0  ? "<"
                          : strcmp(op, "lte") == 0 ? ">="
                          : strcmp(op, "lt") == 0  ? ">"
                                                   : NULL;
        if (!cmp)
            rc = fail(c, "unknown operator '%.40s' (gte, gt, lte, lt)", op);
        else if (!int_value(x, &n) || n < 0 || n > 36500)
            rc = fail(c, "expected a number of days (0..36500)");
        else if (!(rc = param(c, i64_text(n), &num)))
            rc = emit(c, " AND %s %s now() - make_interval(days => $%d::int)", expr, cmp, num);
        if (rc)
            return rc;
        pop(c, saved);
    }
    return CRM_OK;
}

static int tags_attr(cc_t *c, const json_t *v)
{
    int num = 0;
    if (text_value(v)) {
        if (param(c, crm_param_text_array((char *const[]){(char *)json_string_value(v)}, 1), &num))
            return c->err->code;
        return emit(c, " AND tags @> $%d::text[]", num);
    }
    if (json_is_array(v)) {
        if (array_param(c, v, false, &num))
            return c->err->code;
        return emit(c, " AND tags @> $%d::text[]", num);
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(c, "expected a tag, a list of tags or {\"all\"|\"any\"|\"none\": [...]}");
    const char *op;
    const json_t *x;
    json_object_foreach((json_t *)v, op, x)
    {
        size_t saved = push(c, op);
        int rc;
        const char *tmpl = strcmp(op, "all") == 0    ? " AND tags @> $%d::text[]"
                           : strcmp(op, "any") == 0  ? " AND tags && $%d::text[]"
                           : strcmp(op, "none") == 0 ? " AND NOT (tags && $%d::text[])"
                                                     : NULL;
        if (!tmpl)
            rc = fail(c, "unknown operator '%.40s' (all, any, none)", op);
        else if (!json_is_array(x))
            rc = fail(c, "%s takes a list of tags", op);
        else if (!(rc = array_param(c, x, false, &num)))
            rc = emit(c, tmpl, num);
        if (rc)
            return rc;
        pop(c, saved);
    }
    return CRM_OK;
}

/* {"name": value} as jsonb text, for a containment test that a GIN index serves. */
static char *contain_json(const char *name, const json_t *value)
{
    json_t *o = json_object();
    json_object_set(o, name, (json_t *)value);
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(o);
    return s;
}

static bool cf_scalar(const json_t *v)
{
    return text_value(v) || json_is_number(v) || json_is_boolean(v);
}

static int custom_one(cc_t *c, const char *name, const json_t *v)
{
    int num = 0, knum = 0;
    if (cf_scalar(v)) {
        if (param(c, contain_json(name, v), &num))
            return c->err->code;
        return emit(c, " AND custom_fields @> $%d::jsonb", num);
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n == 0 || n > MAX_LIST)
            return fail(c, "a list needs 1 to %d values", MAX_LIST);
        if (emit(c, " AND ("))
            return c->err->code;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            if (!cf_scalar(e))
                return fail(c, "expected a list of strings, numbers or booleans");
            if (param(c, contain_json(name, e), &num) ||
                emit(c, "%scustom_fields @> $%d::jsonb", i ? " OR " : "", num))
                return c->err->code;
        }
        return emit(c, ")");
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(c, "expected a value, a list of values or an operator object");
    const char *op;
    const json_t *x;
    json_object_foreach((json_t *)v, op, x)
    {
        size_t saved = push(c, op);
        int rc = CRM_OK;
        const char *cmp = cmp_sql(op);
        if (strcmp(op, "eq") == 0 || strcmp(op, "in") == 0) {
            rc = custom_one(c, name, x);
        } else if (strcmp(op, "contains") == 0) {
            /* a multi-select holding the choice */
            if (!text_value(x)) {
                rc = fail(c, "contains takes a string");
            } else {
                json_t *arr = json_pack("[O]", x);
                if (!(rc = param(c, contain_json(name, arr), &num)))
                    rc = emit(c, " AND custom_fields @> $%d::jsonb", num);
                json_decref(arr);
            }
        } else if (strcmp(op, "is_null") == 0) {
            if (!json_is_boolean(x))
                rc = fail(c, "is_null takes true or false");
            else if (!(rc = param(c, dup_text(name), &knum)))
                rc = emit(c, " AND %s(custom_fields ? $%d::text AND custom_fields -> $%d::text <> 'null')",
                          json_is_true(x) ? "NOT " : "", knum, knum);
        } else if (cmp && strcmp(op, "ne") != 0) {
            if (json_is_number(x) && strcmp(op, "eq") != 0) {
                char nb[64];
                double d = json_number_value(x);
                if (!isfinite(d))
                    rc = fail(c, "expected a finite number");
                else if (json_is_integer(x))
                    snprintf(nb, sizeof nb, "%lld", (long long)json_integer_value(x));
                else
                    snprintf(nb, sizeof nb, "%.17g", d);
                /* Only values that look like numbers are compared; others never match. */
                if (!rc && !(rc = param(c, dup_text(name), &knum)) && !(rc = param(c, dup_text(nb), &num)))
                    rc =
                        emit(c,
                             " AND (CASE WHEN custom_fields ->> $%d::text ~ '^[-+]?[0-9]+(\\.[0-9]+)?$' THEN "
                             "(custom_fields ->> $%d::text)::numeric END) %s $%d::numeric",
                             knum, knum, cmp, num);
            } else if (text_value(x)) {
                if (!(rc = param(c, dup_text(name), &knum)) &&
                    !(rc = param(c, dup_text(json_string_value(x)), &num)))
                    rc = emit(c, " AND custom_fields ->> $%d::text %s $%d::text", knum, cmp, num);
            } else {
                rc = fail(c, "expected a number or a string");
            }
        } else if (strcmp(op, "ne") == 0) {
            if (!cf_scalar(x))
                rc = fail(c, "expected a string, number or boolean");
            else if (!(rc = param(c, contain_json(name, x), &num)))
                rc = emit(c, " AND NOT custom_fields @> $%d::jsonb", num);
        } else {
            rc = fail(c, "unknown operator '%.40s'", op);
        }
        if (rc)
            return rc;
        pop(c, saved);
    }
    return CRM_OK;
}

static int custom_attr(cc_t *c, const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(c, "expected an object of custom field name → condition");
    const char *name;
    const json_t *x;
    json_object_foreach((json_t *)v, name, x)
    {
        size_t saved = push(c, name);
        if (strlen(name) == 0 || strlen(name) > 200)
            return fail(c, "a custom field name has 1 to 200 characters");
        if (custom_one(c, name, x))
            return c->err->code;
        pop(c, saved);
    }
    return CRM_OK;
}

void leads_filter_clear(leads_filter_t *f)
{
    free(f->sql);
    for (int i = 0; i < f->nparams; i++)
        free(f->params[i]);
    int first = f->first;
    memset(f, 0, sizeof *f);
    f->first = first;
}

int leads_filter_compile(const json_t *filter, int first_param, leads_filter_t *out, crm_err_t *err)
{
    return leads_filter_compile_for("lead", filter, first_param, out, err);
}

int leads_filter_compile_for(const char *resource_type, const json_t *filter, int first_param,
                             leads_filter_t *out, crm_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->first = first_param;
    int t = resource_type && strcmp(resource_type, "contact") == 0 ? 1 : 0;
    cc_t c = {.f = out, .err = err};
    snprintf(c.ptr, sizeof c.ptr, "/filter");
    int rc = emit(&c, "TRUE");
    if (rc == CRM_OK && filter && !json_is_null(filter)) {
        if (!json_is_object(filter))
            rc = fail(&c, "filter must be an object of conditions");
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)filter, key, v)
        {
            if (rc)
                break;
            size_t saved = push(&c, key);
            size_t i = 0, n = sizeof attrs / sizeof attrs[0];
            while (i < n && (strcmp(attrs[i].name, key) != 0 || !attrs[i].sql[t]))
                i++;
            if (i == n) {
                rc = crm_err_set(err, CRM_EINVALID, c.ptr, "unknown", "cannot filter %ss on '%.60s'",
                                 t ? "contact" : "lead", key);
                break;
            }
            const char *sql = attrs[i].sql[t];
            switch (attrs[i].kind) {
            case K_INT:
                rc = scalar_attr(&c, sql, true, v);
                break;
            case K_TEXT:
                rc = scalar_attr(&c, sql, false, v);
                break;
            case K_BOOL:
                rc = json_is_boolean(v) ? emit(&c, " AND %s IS %s", sql, json_is_true(v) ? "TRUE" : "FALSE")
                                        : fail(&c, "%s takes true or false", key);
                break;
            case K_TS:
                rc = ts_attr(&c, sql, v);
                break;
            case K_DAYS:
                rc = days_attr(&c, sql, v);
                break;
            case K_TAGS:
                rc = tags_attr(&c, v);
                break;
            case K_CUSTOM:
                rc = custom_attr(&c, v);
                break;
            case K_CONVERTED:
                rc = json_is_boolean(v)
                         ? emit(&c, " AND converted_at IS %sNULL", json_is_true(v) ? "NOT " : "")
                         : fail(&c, "converted takes true or false");
                break;
            }
            pop(&c, saved);
        }
    }
    if (rc != CRM_OK) {
        free(c.buf);
        leads_filter_clear(out);
        return rc;
    }
    out->sql = c.buf;
    return CRM_OK;
}

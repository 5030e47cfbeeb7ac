/* crm-leads bulk import (SPEC A3): leads.import_batch and leads.import_status (proto/import.proto).
 *
 * crmctl reads and maps the CSV file and sends it in batches of a few thousand rows. One batch is
 * one transaction:
 *   1. the import's row is locked (FOR UPDATE): its watermark (last line stored) makes rows of a
 *      resumed run or a retried request that were stored before skipped, never stored twice;
 *   2. each row is checked (a name, a known status and the fields it requires, an e-mail with an @,
 *      custom fields that exist) and rejected with its reason otherwise;
 *   3. dedup (A4): rows of the batch sharing a normalized e-mail or E.164 phone merge into the
 *      first one; the dedup keys are locked like a capture locks them (the same advisory keys,
 *      in byte order), then each remaining row whose key an open lead has merges into that lead
 *      (empty fields filled, tags added), the others become new leads;
 *   4. the rows go into a temporary staging table with COPY, then INSERT ... SELECT into leads
 *      (with import_id and import_line, unique) and UPDATE ... FROM for the merges, a timeline
 *      entry for each, and lead.created / lead.updated into the outbox (COPY too);
 *   5. the watermark and the counts move.
 * Owners: owner_id is set on the new leads (assign records the manual change); pool_id goes in
 * lead.created's assign_pool_id, so crm-assign picks from the pool with the same cursor as every
 * other path; neither: the default lead pool, as for any lead created without an owner. */
#include "leads.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import.pb-c.h"
#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"

#define AT(msg, off) ((char *)(msg) + (off))
#define IMPORT_MAX_ROWS 10000
#define IMPORT_MAX_COLS 32

/* The text columns of a lead an import may set (every writable string and address field). */
typedef struct {
    const char *col;
    bool addr;
    size_t off;
} icol_t;

static icol_t icols[IMPORT_MAX_COLS];
static size_t nicols;
static char *insert_sql, *merge_sql, *stage_ddl, *copy_sql;

/* One row being imported (pointers borrowed from the request, or owned when noted). */
typedef struct {
    const Crm__ImportRow *in;
    const char *v[IMPORT_MAX_COLS];
    const char **tags;
    size_t ntags, captags;
    json_t *custom;
    char *email_norm, *phone_norm; /* owned */
    const char *source;
    int rep;           /* index of the row it merges into (itself when it is a representative) */
    int64_t target;    /* existing lead it merges into (representatives) */
    const char *state; /* NULL: stored; else "rejected" */
    char reason[200];
    bool dup_in_file;
} irow_t;

/* ---- setup ------------------------------------------------------------------------------------- */

static void sb(char **s, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sb(char **s, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*s ? *s + *len : NULL, *s ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (*s && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return;
        }
        *cap = (*cap + (size_t)n + 256) * 2;
        *s = realloc(*s, *cap);
        if (!*s)
            abort();
    }
}

/* Builds the column list and the SQL once (the lead's fields are fixed at build time). */
static void import_setup(void)
{
    if (nicols)
        return;
    for (size_t i = 0; i < rec_lead.n && nicols < IMPORT_MAX_COLS; i++) {
        const rec_field_t *f = &rec_lead.fields[i];
        if (f->writable && (f->type == F_STR || f->type == F_ADDR))
            icols[nicols++] = (icol_t){f->col, f->type == F_ADDR, f->off};
    }
    char *s = NULL;
    size_t len = 0, cap = 0;
    char *ret = rec_select_list(&rec_lead, "");
    char *lret = rec_select_list(&rec_lead, "l.");

    sb(&s, &len, &cap,
       "CREATE TEMP TABLE import_stage (line bigint NOT NULL, target_id bigint, source text, phone_norm "
       "text, "
       "tags text[] NOT NULL, custom_fields jsonb NOT NULL");
    for (size_t i = 0; i < nicols; i++)
        sb(&s, &len, &cap, ", %s text", icols[i].col);
    sb(&s, &len, &cap, ") ON COMMIT DELETE ROWS");
    stage_ddl = s;

    s = NULL, len = cap = 0;
    sb(&s, &len, &cap, "COPY import_stage (line, target_id, source, phone_norm, tags, custom_fields");
    for (size_t i = 0; i < nicols; i++)
        sb(&s, &len, &cap, ", %s", icols[i].col);
    sb(&s, &len, &cap, ") FROM STDIN");
    copy_sql = s;

    s = NULL, len = cap = 0;
    sb(&s, &len, &cap,
       "INSERT INTO leads (owner_id, creator_id, source_id, tags, custom_fields, phone_norm, import_id, "
       "import_line");
    for (size_t i = 0; i < nicols; i++)
        sb(&s, &len, &cap, ", %s", icols[i].col);
    sb(&s, &len, &cap,
       ") SELECT $2::bigint, $3::bigint, src.id, ARRAY(SELECT DISTINCT t FROM unnest(s.tags) t ORDER BY t), "
       "s.custom_fields, s.phone_norm, $1, s.line");
    for (size_t i = 0; i < nicols; i++)
        sb(&s, &len, &cap, ", s.%s", icols[i].col);
    sb(&s, &len, &cap,
       " FROM import_stage s LEFT JOIN lead_sources src ON src.name = s.source WHERE s.target_id IS NULL "
       "ORDER BY s.line RETURNING %s",
       ret);
    insert_sql = s;

    s = NULL, len = cap = 0;
    sb(&s, &len, &cap,
       "UPDATE leads l SET updated_at = now(), tags = ARRAY(SELECT DISTINCT t FROM unnest(l.tags || s.tags) "
       "t "
       "ORDER BY t), custom_fields = s.custom_fields || l.custom_fields, phone_norm = coalesce(l.phone_norm, "
       "s.phone_norm)");
    for (size_t i = 0; i < nicols; i++)
        if (strcmp(icols[i].col, "status") != 0) /* a merge never changes the lead's status */
            sb(&s, &len, &cap, ", %s = coalesce(nullif(l.%s, ''), s.%s)", icols[i].col, icols[i].col,
               icols[i].col);
    sb(&s, &len, &cap, " FROM import_stage s WHERE s.target_id = l.id RETURNING %s", lret);
    merge_sql = s;
    free(ret);
    free(lret);
}

/* ---- rows ---------------------------------------------------------------------------------------- */

static bool blank(const char *s)
{
    if (!s)
        return true;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0';
}

static const char *col_value(const Crm__Lead *l, const icol_t *c)
{
    if (!l)
        return NULL;
    if (c->addr)
        return l->address ? *(char **)AT(l->address, c->off) : NULL;
    return *(char **)AT(l, c->off);
}

static int col_index(const char *name)
{
    for (size_t i = 0; i < nicols; i++)
        if (strcmp(icols[i].col, name) == 0)
            return (int)i;
    return -1;
}

static char *lower_trim(const char *s)
{
    if (blank(s))
        return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[n] = '\0';
    return out;
}

static void add_tag(irow_t *r, const char *t)
{
    if (blank(t))
        return;
    for (size_t i = 0; i < r->ntags; i++)
        if (strcmp(r->tags[i], t) == 0)
            return;
    if (r->ntags == r->captags) {
        r->captags = r->captags ? 2 * r->captags : 4;
        r->tags = realloc(r->tags, r->captags * sizeof *r->tags);
    }
    r->tags[r->ntags++] = t;
}

static void reject(irow_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reject(irow_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->state = "rejected";
}

/* The configured status of that name (case-insensitively), NULL when none. */
static const leads_status_t *status_of(const leads_t *self, const char *name)
{
    const leads_status_t *st = leads_status_find(self, name);
    for (size_t i = 0; !st && i < self->nstatuses; i++)
        if (strcasecmp(self->statuses[i].name, name) == 0)
            st = &self->statuses[i];
    return st;
}

/* Checks and normalizes one row; rejects it with the first reason found. */
static void check_row(leads_t *self, const Crm__ImportBatch *b, const bool *known_custom, irow_t *r)
{
    const Crm__ImportRow *in = r->in;
    if (in->reject_reason && *in->reject_reason) {
        reject(r, "%.190s", in->reject_reason);
        return;
    }
    const Crm__Lead *l = in->lead;
    for (size_t i = 0; i < nicols; i++)
        r->v[i] = blank(col_value(l, &icols[i])) ? NULL : col_value(l, &icols[i]);
    int st_i = col_index("status");
    const leads_status_t *st = &self->statuses[0];
    if (st_i >= 0 && r->v[st_i]) {
        st = status_of(self, r->v[st_i]);
        if (!st) {
            reject(r, "status '%.100s' is not a lead status", r->v[st_i]);
            return;
        }
        if (strcmp(st->name, "Converted") == 0) {
            reject(r, "status Converted comes from a lead conversion only");
            return;
        }
    }
    if (st_i >= 0)
        r->v[st_i] = st->name;
    int ln = col_index("last_name"), org = col_index("organization_name");
    if (!r->v[ln] && !r->v[org]) {
        reject(r, "a lead needs last_name or organization_name");
        return;
    }
    int em = col_index("email");
    r->email_norm = lower_trim(r->v[em]);
    if (r->email_norm && (!strchr(r->email_norm, '@') || strpbrk(r->email_norm, " \t,;<>"))) {
        reject(r, "email '%.100s' is not an e-mail address", r->v[em]);
        return;
    }
    for (size_t k = 0; k < st->nrequired; k++) {
        int c = col_index(st->required[k]);
        bool missing = c >= 0 ? !r->v[c] : strcmp(st->required[k], "tags") == 0 ? l && l->n_tags == 0 : false;
        if (missing) {
            reject(r, "%s is required for status %s", st->required[k], st->name);
            return;
        }
    }
    for (size_t t = 0; l && t < l->n_tags; t++)
        add_tag(r, l->tags[t]);
    r->custom = json_object();
    for (size_t c = 0; c < b->n_custom_columns && c < in->n_custom_values; c++)
        if (known_custom[c] && !blank(in->custom_values[c]))
            json_object_set_new(r->custom, b->custom_columns[c], json_string(in->custom_values[c]));
    r->phone_norm = leads_phone_e164(r->v[col_index("phone")]);
    r->source = !blank(in->source) ? in->source : !blank(b->source) ? b->source : "import";
}

/* Fills r's gaps from d (a later row of the same person). */
static void merge_rows(irow_t *r, irow_t *d)
{
    for (size_t i = 0; i < nicols; i++)
        if (!r->v[i])
            r->v[i] = d->v[i];
    for (size_t t = 0; t < d->ntags; t++)
        add_tag(r, d->tags[t]);
    json_object_update_missing(r->custom, d->custom);
    if (!r->email_norm && d->email_norm) {
        r->email_norm = d->email_norm;
        d->email_norm = NULL;
    }
    if (!r->phone_norm && d->phone_norm) {
        r->phone_norm = d->phone_norm;
        d->phone_norm = NULL;
    }
}

/* ---- a small string → index map (open addressing) ------------------------------------------------ */

typedef struct {
    char **keys;
    int *vals;
    size_t cap;
} smap_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int *smap_slot(smap_t *m, const char *key, bool insert)
{
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return &m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    if (!insert)
        return NULL;
    m->keys[i] = strdup(key);
    m->vals[i] = -1;
    return &m->vals[i];
}

/* ---- COPY text --------------------------------------------------------------------------------- */

static void copy_text(char **s, size_t *len, size_t *cap, const char *v, bool last)
{
    if (!v) {
        sb(s, len, cap, "\\N%s", last ? "\n" : "\t");
        return;
    }
    for (const char *p = v; *p; p++) {
        const char *e = *p == '\\'   ? "\\\\"
                        : *p == '\t' ? "\\t"
                        : *p == '\n' ? "\\n"
                        : *p == '\r' ? "\\r"
                                     : NULL;
        if (*len + 4 >= *cap) {
            *cap = (*cap + 256) * 2;
            *s = realloc(*s, *cap);
            if (!*s)
                abort();
        }
        if (e) {
            memcpy(*s + *len, e, 2);
            *len += 2;
        } else {
            (*s)[(*len)++] = *p;
        }
    }
    sb(s, len, cap, "%s", last ? "\n" : "\t");
}

/* ---- the import's row -------------------------------------------------------------------------- */

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
    st->import_id = crm_row_str(res, 0, 0);
    st->resource_type = crm_row_str(res, 0, 1);
    st->file_name = crm_row_str(res, 0, 2);
    crm_row_i64(res, 0, 3, &st->has_last_line, &st->last_line);
    int64_t off = 0;
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

static bool import_id_ok(const char *id)
{
    if (!id || !*id || strlen(id) > 128)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(":_-.", *p)))
            return false;
    return true;
}

static int may_import(const crm_rpc_ctx_t *ctx, crm_err_t *err)
{
    if (strcmp(ctx->role, "admin") == 0 || strcmp(ctx->role, "system") == 0)
        return CRM_OK;
    return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden", "imports are for admins");
}

static int import_status(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                         ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    const Crm__ImportStatusRequest *in = (const Crm__ImportStatusRequest *)in_;
    if (may_import(ctx, err) != CRM_OK)
        return err->code;
    if (!import_id_ok(in->import_id))
        return crm_err_set(err, CRM_EINVALID, "/import_id", "invalid", "import_id: 1-128 of [A-Za-z0-9:_.-]");
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

/* ---- the batch --------------------------------------------------------------------------------- */

typedef struct {
    irow_t *rows;
    size_t n;
    int64_t created, merged, duplicates, rejected, skipped, flagged;
} batch_t;

/* Locks the dedup keys of the representatives (as dedup_find does for a capture) and finds the open
 * leads that already have them: r->target. */
static int find_existing(crm_db_t *tx, const char *import_id, batch_t *bt, crm_err_t *err)
{
    size_t nk = 0;
    char **keys = calloc(2 * bt->n + 1, sizeof *keys);
    char **emails = calloc(bt->n + 1, sizeof *emails), **phones = calloc(bt->n + 1, sizeof *phones);
    size_t ne = 0, np = 0;
    for (size_t i = 0; i < bt->n; i++) {
        irow_t *r = &bt->rows[i];
        if (r->state || r->rep != (int)i)
            continue;
        char k[600];
        if (r->email_norm) {
            snprintf(k, sizeof k, "lead-email:%.500s", r->email_norm);
            keys[nk++] = strdup(k);
            emails[ne++] = r->email_norm;
        }
        if (r->phone_norm) {
            snprintf(k, sizeof k, "lead-phone:%.500s", r->phone_norm);
            keys[nk++] = strdup(k);
            phones[np++] = r->phone_norm;
        }
    }
    int rc = CRM_OK;
    if (nk > 0) {
        char *karr = crm_param_text_array(keys, nk);
        const char *p[] = {karr};
        rc = crm_db_run(
            tx, "import_lock_keys",
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 3)) FROM (SELECT DISTINCT k COLLATE \"C\" AS k "
            "FROM unnest($1::text[]) k ORDER BY 1 OFFSET 0) s",
            1, p, err);
        free(karr);
    }
    if (rc == CRM_OK && nk > 0) {
        char *ea = crm_param_text_array(emails, ne), *pa = crm_param_text_array(phones, np);
        const char *p[] = {ea, pa};
        PGresult *res =
            crm_db_exec(tx, "import_existing",
                        "SELECT id, email_norm, phone_norm, import_id FROM leads WHERE converted_at "
                        "IS NULL AND (email_norm = ANY($1::text[]) OR phone_norm = ANY($2::text[])) "
                        "ORDER BY id",
                        2, p, err);
        free(ea);
        free(pa);
        if (!res) {
            rc = err->code;
        } else {
            /* key → first lead id (rows in id order: the oldest wins, as in dedup_find) */
            for (size_t i = 0; i < bt->n; i++) {
                irow_t *r = &bt->rows[i];
                if (r->state || r->rep != (int)i)
                    continue;
                for (int k = 0; k < PQntuples(res) && !r->target; k++) {
                    const char *e = PQgetisnull(res, k, 1) ? NULL : PQgetvalue(res, k, 1);
                    const char *ph = PQgetisnull(res, k, 2) ? NULL : PQgetvalue(res, k, 2);
                    if ((r->email_norm && e && strcmp(e, r->email_norm) == 0) ||
                        (r->phone_norm && ph && strcmp(ph, r->phone_norm) == 0)) {
                        r->target = atoll(PQgetvalue(res, k, 0));
                        r->dup_in_file =
                            !PQgetisnull(res, k, 3) && strcmp(PQgetvalue(res, k, 3), import_id) == 0;
                    }
                }
            }
            PQclear(res);
        }
    }
    for (size_t i = 0; i < nk; i++)
        free(keys[i]);
    free(keys);
    free(emails);
    free(phones);
    return rc;
}

/* In-batch dedup: a row sharing a key with an earlier one merges into it. */
static void dedup_batch(batch_t *bt)
{
    smap_t m = {0};
    m.cap = 16;
    while (m.cap < 4 * bt->n + 4)
        m.cap *= 2;
    m.keys = calloc(m.cap, sizeof *m.keys);
    m.vals = calloc(m.cap, sizeof *m.vals);
    char k[600];
    for (size_t i = 0; i < bt->n; i++) {
        irow_t *r = &bt->rows[i];
        r->rep = (int)i;
        if (r->state)
            continue;
        int *se = NULL, *sp = NULL;
        if (r->email_norm) {
            snprintf(k, sizeof k, "e:%s", r->email_norm);
            se = smap_slot(&m, k, true);
        }
        if (r->phone_norm) {
            snprintf(k, sizeof k, "p:%s", r->phone_norm);
            sp = smap_slot(&m, k, true);
        }
        int rep = se && *se >= 0 ? *se : sp && *sp >= 0 ? *sp : -1;
        if (rep >= 0) {
            r->rep = rep;
            r->dup_in_file = true;
            merge_rows(&bt->rows[rep], r);
        } else {
            rep = (int)i;
        }
        if (se && *se < 0)
            *se = rep;
        if (sp && *sp < 0)
            *sp = rep;
    }
    for (size_t i = 0; i < m.cap; i++)
        free(m.keys[i]);
    free(m.keys);
    free(m.vals);
}

/* Two representatives that found the same existing lead: the later merges into the earlier. */
static void dedup_targets(batch_t *bt)
{
    for (size_t i = 0; i < bt->n; i++) {
        irow_t *r = &bt->rows[i];
        if (r->state || r->rep != (int)i || !r->target)
            continue;
        for (size_t j = 0; j < i; j++) {
            irow_t *q = &bt->rows[j];
            if (!q->state && q->rep == (int)j && q->target == r->target) {
                merge_rows(q, r);
                r->rep = (int)j;
                r->dup_in_file = true;
                break;
            }
        }
    }
}

static char *stage_rows(const batch_t *bt, size_t *len)
{
    char *s = NULL;
    size_t cap = 0;
    *len = 0;
    sb(&s, len, &cap, "%s", "");
    for (size_t i = 0; i < bt->n; i++) {
        const irow_t *r = &bt->rows[i];
        if (r->state || r->rep != (int)i)
            continue;
        char tgt[24];
        sb(&s, len, &cap, "%lld\t", (long long)r->in->line);
        copy_text(&s, len, &cap,
                  r->target ? (snprintf(tgt, sizeof tgt, "%lld", (long long)r->target), tgt) : NULL, false);
        copy_text(&s, len, &cap, r->source, false);
        copy_text(&s, len, &cap, r->phone_norm, false);
        char *tags = crm_param_text_array((char *const *)r->tags, r->ntags);
        copy_text(&s, len, &cap, tags, false);
        free(tags);
        char *custom = json_dumps(r->custom, JSON_COMPACT | JSON_SORT_KEYS);
        copy_text(&s, len, &cap, custom ? custom : "{}", false);
        free(custom);
        for (size_t c = 0; c < nicols; c++)
            copy_text(&s, len, &cap, r->v[c], c + 1 == nicols);
    }
    return s;
}

static int ensure_stage(crm_db_t *tx, crm_err_t *err)
{
    PGresult *res = crm_db_exec(tx, "import_stage_exists",
                                "SELECT to_regclass('pg_temp.import_stage') IS NOT NULL", 0, NULL, err);
    if (!res)
        return err->code;
    bool there = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return there ? CRM_OK : crm_db_exec_simple(tx, stage_ddl, err);
}

/* Events for the rows of res (leads, rec_lead's SELECT list), COPY'd into the outbox. */
static int emit_rows(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, PGresult *res,
                     bool created, crm_err_t *err)
{
    int n = PQntuples(res);
    if (n == 0)
        return CRM_OK;
    Crm__Lead **leads = calloc((size_t)n, sizeof *leads);
    Crm__LeadEvent *evs = calloc((size_t)n, sizeof *evs);
    const ProtobufCMessage **payloads = calloc((size_t)n, sizeof *payloads);
    const char **types = calloc((size_t)n, sizeof *types);
    for (int r = 0; r < n; r++) {
        leads[r] = (Crm__Lead *)rec_from_row(&rec_lead, res, r);
        Crm__LeadEvent *ev = &evs[r];
        crm__lead_event__init(ev);
        ev->lead = leads[r];
        ev->source_name = created ? (char *)(b->source && *b->source ? b->source : "import") : NULL;
        ev->has_changed_by = 1;
        ev->changed_by = ctx->user_id;
        int64_t owner = leads[r]->has_owner_id ? leads[r]->owner_id : 0;
        if (!created && owner > 0) { /* a merge keeps the owner: no owner change for crm-assign */
            ev->has_previous_owner_id = 1;
            ev->previous_owner_id = owner;
        }
        if (created && b->pool_id > 0 && owner == 0) {
            ev->has_assign_pool_id = 1;
            ev->assign_pool_id = b->pool_id;
        }
        payloads[r] = &ev->base;
        types[r] = created ? "lead.created" : "lead.updated";
    }
    int rc = crm_outbox_append_many(self->daemon->outbox, ctx->db, types, ctx->correlation_id, payloads,
                                    (size_t)n, err);
    for (int r = 0; r < n; r++)
        protobuf_c_message_free_unpacked(&leads[r]->base, NULL);
    free(leads);
    free(evs);
    free(payloads);
    free(types);
    return rc;
}

/* Writes the staged rows: new leads, merges, their timeline entries and events. */
static int store_rows(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, crm_err_t *err)
{
    crm_db_t *tx = ctx->db;
    int rc =
        crm_db_run(tx, "import_sources",
                   "INSERT INTO lead_sources (name) SELECT DISTINCT source FROM import_stage s WHERE source "
                   "IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lead_sources l WHERE l.name = s.source) "
                   "ON CONFLICT (name) DO NOTHING",
                   0, NULL, err);
    if (rc != CRM_OK)
        return rc;
    char owner[24], creator[24];
    const char *p[] = {b->import_id, crm_param_i64(owner, b->owner_id > 0, b->owner_id),
                       crm_param_i64(creator, ctx->user_id > 0, ctx->user_id)};
    PGresult *res = crm_db_exec(tx, "import_insert", insert_sql, 3, p, err);
    if (!res)
        return err->code;
    rc = emit_rows(self, ctx, b, res, true, err);
    PQclear(res);
    if (rc != CRM_OK)
        return rc;
    res = crm_db_exec(tx, "import_merge", merge_sql, 0, NULL, err);
    if (!res)
        return err->code;
    rc = emit_rows(self, ctx, b, res, false, err);
    PQclear(res);
    if (rc != CRM_OK)
        return rc;
    const char *tp[] = {b->import_id, b->file_name && *b->file_name ? b->file_name : "a CSV file"};
    return crm_db_run(
        tx, "import_timeline",
        "INSERT INTO lead_activities (lead_id, kind, summary, value) SELECT coalesce(s.target_id, "
        "l.id), 'imported', CASE WHEN s.target_id IS NULL THEN 'Imported from ' ELSE 'Imported again, "
        "merged, from ' END || $2 || ', line ' || s.line, $1 FROM import_stage s LEFT JOIN leads l "
        "ON s.target_id IS NULL AND l.import_id = $1 AND l.import_line = s.line",
        2, tp, err);
}

static int check_batch(const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, crm_err_t *err)
{
    if (may_import(ctx, err) != CRM_OK)
        return err->code;
    if (!import_id_ok(b->import_id))
        crm_err_add(err, CRM_EINVALID, "/import_id", "invalid", "import_id: 1-128 of [A-Za-z0-9:_.-]");
    if (!b->resource_type || strcmp(b->resource_type, "lead") != 0)
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type: only lead imports are supported");
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

/* Which custom columns are custom fields of leads; the others are listed in the reply. */
static int custom_known(crm_db_t *tx, const Crm__ImportBatch *b, bool *known, Crm__ImportBatchReply *rep,
                        crm_err_t *err)
{
    if (b->n_custom_columns == 0)
        return CRM_OK;
    char *names = crm_param_text_array(b->custom_columns, b->n_custom_columns);
    const char *p[] = {names};
    PGresult *res = crm_db_exec(
        tx, "import_custom_fields",
        "SELECT name FROM custom_fields WHERE resource_type = 'lead' AND name = ANY($1::text[])", 1, p, err);
    free(names);
    if (!res)
        return err->code;
    rep->unknown_columns = calloc(b->n_custom_columns, sizeof *rep->unknown_columns);
    for (size_t c = 0; c < b->n_custom_columns; c++) {
        for (int r = 0; r < PQntuples(res) && !known[c]; r++)
            known[c] = strcmp(PQgetvalue(res, r, 0), b->custom_columns[c]) == 0;
        if (!known[c])
            rep->unknown_columns[rep->n_unknown_columns++] = crm_pb_strdup(b->custom_columns[c]);
    }
    PQclear(res);
    return CRM_OK;
}

static int run_batch(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, batch_t *bt,
                     Crm__ImportBatchReply *rep, crm_err_t *err)
{
    crm_db_t *tx = ctx->db;
    char owner[24], pool[24];
    const char *ip[] = {b->import_id, b->resource_type, b->file_name,
                        crm_param_i64(owner, b->owner_id > 0, b->owner_id),
                        crm_param_i64(pool, b->pool_id > 0, b->pool_id)};
    int rc = crm_db_run(
        tx, "import_open",
        "INSERT INTO imports (id, resource_type, file_name, owner_id, pool_id) VALUES ($1, $2, $3, "
        "$4, $5) ON CONFLICT (id) DO NOTHING",
        5, ip, err);
    if (rc != CRM_OK)
        return rc;
    const char *lp[] = {b->import_id};
    PGresult *res =
        crm_db_exec(tx, "import_lock", "SELECT last_line FROM imports WHERE id = $1 FOR UPDATE", 1, lp, err);
    if (!res)
        return err->code;
    int64_t watermark = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);

    bool *known = calloc(b->n_custom_columns + 1, sizeof *known);
    rc = custom_known(tx, b, known, rep, err);
    bt->rows = calloc(b->n_rows + 1, sizeof *bt->rows);
    for (size_t i = 0; rc == CRM_OK && i < b->n_rows; i++) {
        if (b->rows[i]->line <= watermark) {
            bt->skipped++;
            continue;
        }
        irow_t *r = &bt->rows[bt->n++];
        r->in = b->rows[i];
        check_row(self, b, known, r);
        bt->flagged += r->in->n_flags > 0;
    }
    free(known);
    if (rc != CRM_OK)
        return rc;
    dedup_batch(bt);
    rc = find_existing(tx, b->import_id, bt, err);
    if (rc != CRM_OK)
        return rc;
    dedup_targets(bt);
    size_t stored = 0;
    for (size_t i = 0; i < bt->n; i++) {
        irow_t *r = &bt->rows[i];
        if (r->state) {
            bt->rejected++;
            continue;
        }
        stored += r->rep == (int)i;
        irow_t *top = &bt->rows[r->rep];
        if (r->rep != (int)i || top->target)
            *(r->dup_in_file || (top->target && top->dup_in_file) ? &bt->duplicates : &bt->merged) += 1;
        else
            bt->created++;
    }
    if (stored > 0) {
        size_t len = 0;
        char *data = stage_rows(bt, &len);
        rc = ensure_stage(tx, err);
        if (rc == CRM_OK)
            rc = crm_db_copy_in(tx, copy_sql, data, len, err);
        free(data);
        if (rc == CRM_OK)
            rc = store_rows(self, ctx, b, err);
        if (rc == CRM_OK)
            rc = crm_db_run(tx, "import_stage_clear", "TRUNCATE import_stage", 0, NULL, err);
    }
    if (rc != CRM_OK)
        return rc;

    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "UPDATE imports SET last_line = greatest(last_line, $2::bigint), end_offset = CASE WHEN $2::bigint > "
        "last_line THEN $3::bigint ELSE end_offset END, created = created + $4, merged = merged + $5, "
        "duplicates = duplicates + $6, rejected = rejected + $7, flagged = flagged + $8, updated_at = now(), "
        "finished_at = CASE WHEN $9 THEN coalesce(finished_at, now()) END WHERE id = $1 RETURNING %s",
        STATUS_COLS);
    char v[8][24];
    int64_t last = b->last_line;
    for (size_t i = 0; i < b->n_rows; i++)
        last = b->rows[i]->line > last ? b->rows[i]->line : last;
    const char *up[] = {b->import_id,
                        crm_param_i64(v[0], true, last),
                        crm_param_i64(v[1], true, (int64_t)b->end_offset),
                        crm_param_i64(v[2], true, bt->created),
                        crm_param_i64(v[3], true, bt->merged),
                        crm_param_i64(v[4], true, bt->duplicates),
                        crm_param_i64(v[5], true, bt->rejected),
                        crm_param_i64(v[6], true, bt->flagged),
                        b->final ? "true" : "false"};
    res = crm_db_exec(tx, "import_advance", sql, 9, up, err);
    if (!res)
        return err->code;
    rep->status = status_from_row(res);
    PQclear(res);
    return CRM_OK;
}

static int import_batch(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                        ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__ImportBatch *b = (const Crm__ImportBatch *)in_;
    if (check_batch(ctx, b, err) != CRM_OK)
        return err->code;
    Crm__ImportBatchReply *rep = (Crm__ImportBatchReply *)crm_pb_new(&crm__import_batch_reply__descriptor);
    batch_t bt = {0};
    int rc = crm_db_begin(ctx->db, err);
    if (rc == CRM_OK)
        rc = run_batch(self, ctx, b, &bt, rep, err);
    if (rc == CRM_OK && !b->dry_run)
        rc = crm_db_commit(ctx->db, err);
    else
        crm_db_rollback(ctx->db);
    if (rc == CRM_OK) {
        rep->has_created = rep->has_merged = rep->has_duplicates = rep->has_rejected = rep->has_skipped = 1;
        rep->created = bt.created;
        rep->merged = bt.merged;
        rep->duplicates = bt.duplicates;
        rep->rejected = bt.rejected;
        rep->skipped = bt.skipped;
        rep->rejects = calloc((size_t)bt.rejected + 1, sizeof *rep->rejects);
        for (size_t i = 0; i < bt.n; i++) {
            if (!bt.rows[i].state)
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
            "import_id=%s rows=%zu created=%lld merged=%lld duplicates=%lld rejected=%lld skipped=%lld "
            "dry_run=%d",
            b->import_id, b->n_rows, (long long)bt.created, (long long)bt.merged, (long long)bt.duplicates,
            (long long)bt.rejected, (long long)bt.skipped, b->dry_run ? 1 : 0);
    }
    for (size_t i = 0; i < bt.n; i++) {
        free(bt.rows[i].tags);
        free(bt.rows[i].email_norm);
        free(bt.rows[i].phone_norm);
        json_decref(bt.rows[i].custom);
    }
    free(bt.rows);
    if (rc != CRM_OK) {
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        return rc;
    }
    *out = &rep->base;
    return CRM_OK;
}

void leads_import_register(leads_t *self)
{
    import_setup();
    crm_rpc_server_handle(self->daemon->rpc, "leads.import_batch", &crm__import_batch__descriptor,
                          import_batch, self);
    crm_rpc_server_handle(self->daemon->rpc, "leads.import_status", &crm__import_status_request__descriptor,
                          import_status, self);
}

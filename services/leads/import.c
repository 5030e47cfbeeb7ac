/* crm-leads bulk import (SPEC A3): leads.import_batch and leads.import_status (proto/import.proto),
 * for leads (resource_type "lead") and contacts ("contact").
 *
 * crmctl reads and maps the CSV file and sends it in batches of a few thousand rows. Before a
 * batch's transaction, ids for its new rows are reserved (import_reservations, committed on its
 * own: a retried or resumed batch gets the same ids again). One batch is then one transaction:
 *   1. the import's row is locked (FOR UPDATE): its watermark (last line stored) makes rows of a
 *      resumed run or a retried request that were stored before skipped, never stored twice;
 *   2. each row is checked (leads: a name, a known status and the fields it requires; contacts: a
 *      last name for a person, a name for an organization; an e-mail with an @; custom fields that
 *      exist) and rejected with its reason otherwise;
 *   3. dedup (A4): rows of the batch sharing a normalized e-mail (leads: or E.164 phone) merge into
 *      the first one; the dedup gate is taken exclusively (captures take it shared before their
 *      key locks, so none runs during the batch), then each remaining row whose key an existing
 *      record has merges into it (empty fields filled, tags added), the others become new records;
 *   4. owners of the new records in bulk: crm-assign's assign.pick_bulk (the pool given, the user
 *      given, or the type's default pool) with the reserved ids — the same pool cursor as every
 *      other path, idempotent per id; unreachable → the batch fails and crmctl retries. The call
 *      runs on a thread of its own while step 5 stages the rows and writes the merges. Ids are
 *      keyed by (import, line), so a retried batch gets the same owners back; a row whose id an
 *      earlier, failed attempt reserved and that now merges (a record with its key was created
 *      meanwhile) or is rejected sends its id in release_ids: crm-assign removes the pick that
 *      attempt made for it, and no assignment is left for a record that never exists;
 *   5. the rows go into a temporary staging table with COPY, then UPDATE ... FROM for the merges
 *      (with a timeline entry each), then, owners known, INSERT ... SELECT of the new records
 *      (owner_id set, import_id and import_line unique: their "Imported from" timeline entry is
 *      derived from these by the timeline view), and *.created / *.updated into the outbox (COPY
 *      too) carrying owner_id, the assignment_id of the pick (crm-assign ignores them: no
 *      owner.assigned per row) and import_id;
 *   6. the watermark, the counts and the per-owner counts move; the final batch emits
 *      import.finished (once: guarded by the import's finished_at) for crm-notify's digest. */
#include "leads.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import.pb-c.h"
#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/row.h"
#include "crm/util.h"

#define AT(msg, off) ((char *)(msg) + (off))
#define IMPORT_MAX_ROWS 10000
#define IMPORT_MAX_COLS 32

/* The text columns of a record an import may set (every writable string and address field). */
typedef struct {
    const char *col;
    bool addr;
    size_t off;
} icol_t;

/* What differs between a lead import and a contact import. */
typedef struct {
    const char *rtype;     /* "lead" | "contact" */
    const char *table;     /* "leads" | "contacts" */
    const char *sequence;  /* of the table's id */
    const char *lock_pfx;  /* advisory dedup keys, as a capture takes them */
    const rec_type_t *rec; /* the record's columns */
    const char *created_type, *updated_type;
    icol_t cols[IMPORT_MAX_COLS];
    size_t ncols;
    char *stage_ddl, *stage_exists, *copy_sql, *insert_sql, *merge_sql, *existing_sql, *timeline_sql;
    char *stage_clear;
} ikind_t;

static ikind_t klead = {.rtype = "lead",
                        .table = "leads",
                        .sequence = "leads_id_seq",
                        .lock_pfx = "lead",
                        .rec = &rec_lead,
                        .created_type = "lead.created",
                        .updated_type = "lead.updated"};
static ikind_t kcontact = {.rtype = "contact",
                           .table = "contacts",
                           .sequence = "contacts_id_seq",
                           .lock_pfx = "contact",
                           .rec = &rec_contact,
                           .created_type = "contact.created",
                           .updated_type = "contact.updated"};

/* One row being imported (pointers borrowed from the request, or owned when noted). */
typedef struct {
    const Crm__ImportRow *in;
    const char *v[IMPORT_MAX_COLS];
    const char **tags;
    size_t ntags, captags;
    json_t *custom;
    char *email_norm, *phone_norm; /* owned */
    char *person_name;             /* owned: a contact person's "First Last" */
    const char *org_name;          /* a contact person's organization (linked by name) */
    bool is_org;                   /* contacts: an organization */
    const char *source;
    int rep;           /* index of the row it merges into (itself when it is a representative) */
    int64_t target;    /* existing record it merges into (representatives) */
    int64_t id;        /* reserved id of a new record */
    bool reused;       /* the id was reserved by an earlier attempt (which may have picked an owner for it) */
    int64_t org_id;    /* contacts: id reserved for the company this row names (first row naming it) */
    bool org_reused;   /* ...by an earlier attempt */
    bool org_used;     /* an organization made by this batch took org_id */
    bool auto_org;     /* an organization made for persons' unknown company (not a row of the file) */
    int owner_row;     /* auto_org: the first person naming it (the organization gets its owner) */
    int64_t own_owner; /* the row's owner column (crmctl resolved an active user): a manual owner */
    int64_t owner;     /* owner of a new record (assign.pick_bulk) */
    int64_t assignment;
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

static char *sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sqlf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        abort();
    va_end(ap);
    return out;
}

/* Builds the column list and the SQL of a kind once (the fields are fixed at build time). */
static void kind_setup(ikind_t *k)
{
    if (k->ncols)
        return;
    const rec_type_t *t = k->rec;
    bool lead = k == &klead;
    for (size_t i = 0; i < t->n && k->ncols < IMPORT_MAX_COLS; i++) {
        const rec_field_t *f = &t->fields[i];
        if (f->writable && (f->type == F_STR || f->type == F_ADDR))
            k->cols[k->ncols++] = (icol_t){f->col, f->type == F_ADDR, f->off};
    }
    char *s = NULL;
    size_t len = 0, cap = 0;
    char *ret = rec_select_list(t, "");
    char *lret = rec_select_list(t, "l.");

    sb(&s, &len, &cap,
       "CREATE TEMP TABLE import_stage_%s (line bigint NOT NULL, id bigint, target_id bigint, "
       "source text, phone_norm text, is_org boolean NOT NULL, org_name text, tags text[] NOT NULL, "
       "custom_fields jsonb NOT NULL",
       k->rtype);
    for (size_t i = 0; i < k->ncols; i++)
        sb(&s, &len, &cap, ", %s text", k->cols[i].col);
    sb(&s, &len, &cap, ") ON COMMIT DELETE ROWS");
    k->stage_ddl = s;
    k->stage_exists = sqlf("SELECT to_regclass('pg_temp.import_stage_%s') IS NOT NULL", k->rtype);
    k->stage_clear = sqlf("TRUNCATE import_stage_%s", k->rtype);

    s = NULL, len = cap = 0;
    sb(&s, &len, &cap,
       "COPY import_stage_%s (line, id, target_id, source, phone_norm, is_org, org_name, tags, "
       "custom_fields",
       k->rtype);
    for (size_t i = 0; i < k->ncols; i++)
        sb(&s, &len, &cap, ", %s", k->cols[i].col);
    sb(&s, &len, &cap, ") FROM STDIN");
    k->copy_sql = s;

    /* $1 import_id, $2 creator, $3 and $4 the owners (lines, owner ids: assign.pick_bulk's answer,
     * which arrives while the rows are being staged); contacts: $5 organizations first, then persons
     * (linked by name to an organization that exists, made by an earlier batch or by the first
     * statement) */
    s = NULL, len = cap = 0;
    sb(&s, &len, &cap,
       "INSERT INTO %s (id, owner_id, creator_id, tags, custom_fields, import_id, import_line%s", k->table,
       lead ? ", source_id, phone_norm" : ", is_organization, contact_id");
    for (size_t i = 0; i < k->ncols; i++)
        sb(&s, &len, &cap, ", %s", k->cols[i].col);
    sb(&s, &len, &cap,
       ") SELECT coalesce(s.id, nextval('%s')), nullif(o.owner, 0), $2::bigint, ARRAY(SELECT DISTINCT t FROM "
       "unnest(s.tags) t ORDER BY t), s.custom_fields, $1, s.line",
       k->sequence);
    if (lead)
        sb(&s, &len, &cap, ", src.id, s.phone_norm");
    else
        sb(&s, &len, &cap,
           ", s.is_org, (SELECT o.id FROM contacts o WHERE s.org_name IS NOT NULL AND o.is_organization AND "
           "lower(o.name) = lower(btrim(s.org_name)) ORDER BY o.id LIMIT 1)");
    for (size_t i = 0; i < k->ncols; i++)
        sb(&s, &len, &cap, ", s.%s", k->cols[i].col);
    if (lead)
        sb(&s, &len, &cap,
           " FROM import_stage_lead s LEFT JOIN unnest($3::bigint[], $4::bigint[]) o(line, owner) ON "
           "o.line = s.line LEFT JOIN lead_sources src ON src.name = s.source WHERE s.target_id IS NULL "
           "ORDER BY s.line "
           "RETURNING %s",
           ret);
    else
        sb(&s, &len, &cap,
           " FROM import_stage_contact s LEFT JOIN unnest($3::bigint[], $4::bigint[]) o(line, owner) ON "
           "o.line = s.line WHERE s.target_id IS NULL AND s.is_org = $5::boolean ORDER BY s.line RETURNING "
           "%s",
           ret);
    k->insert_sql = s;

    s = NULL, len = cap = 0;
    sb(&s, &len, &cap,
       "UPDATE %s l SET updated_at = now(), tags = ARRAY(SELECT DISTINCT t FROM unnest(l.tags || s.tags) t "
       "ORDER BY t), custom_fields = s.custom_fields || l.custom_fields",
       k->table);
    if (lead)
        sb(&s, &len, &cap, ", phone_norm = coalesce(l.phone_norm, s.phone_norm)");
    else /* a person without an organization gets the one its row names, when it exists */
        sb(&s, &len, &cap,
           ", contact_id = CASE WHEN l.is_organization OR l.contact_id IS NOT NULL THEN l.contact_id ELSE "
           "(SELECT o.id FROM contacts o WHERE s.org_name IS NOT NULL AND o.is_organization AND "
           "lower(o.name) = "
           "lower(btrim(s.org_name)) ORDER BY o.id LIMIT 1) END");
    for (size_t i = 0; i < k->ncols; i++)
        if (strcmp(k->cols[i].col, "status") != 0) /* a merge never changes the lead's status */
            sb(&s, &len, &cap, ", %s = coalesce(nullif(l.%s, ''), s.%s)", k->cols[i].col, k->cols[i].col,
               k->cols[i].col);
    sb(&s, &len, &cap, " FROM import_stage_%s s WHERE s.target_id = l.id RETURNING %s, l.import_id", k->rtype,
       lret);
    k->merge_sql = s;

    /* the records that have one of the keys: rows in id order, the oldest wins (as dedup_find) */
    k->existing_sql =
        lead ? sqlf("SELECT id, email_norm, phone_norm, import_id FROM leads WHERE converted_at IS NULL AND "
                    "(email_norm = ANY($1::text[]) OR phone_norm = ANY($2::text[])) ORDER BY id")
             : sqlf("SELECT id, lower(email), NULL, import_id FROM contacts WHERE lower(email) = "
                    "ANY($1::text[]) ORDER BY id");
    /* merges only: a created record's "Imported from" entry is derived by the timeline view from the
     * record's import_id and import_line (migration 015), no row per record */
    k->timeline_sql =
        sqlf("INSERT INTO %s_activities (%s_id, kind, summary, value) SELECT s.target_id, "
             "'imported', 'Imported again, merged, from ' || $2 || ', line ' || s.line, $1 FROM "
             "import_stage_%s s WHERE s.target_id IS NOT NULL",
             k->rtype, k->rtype, k->rtype);
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

static const char *col_value(const ikind_t *k, const ProtobufCMessage *m, const icol_t *c)
{
    if (!m)
        return NULL;
    if (c->addr) {
        const Crm__Address *a = *(Crm__Address **)AT(m, k->rec->address_off);
        return a ? *(char **)AT(a, c->off) : NULL;
    }
    return *(char **)AT(m, c->off);
}

static int col_index(const ikind_t *k, const char *name)
{
    for (size_t i = 0; i < k->ncols; i++)
        if (strcmp(k->cols[i].col, name) == 0)
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

/* Lead rows: a name, a known status (case-insensitively, not Converted) and what it requires. */
static bool check_lead(leads_t *self, const ikind_t *k, irow_t *r)
{
    const Crm__Lead *l = r->in->lead;
    int st_i = col_index(k, "status");
    const leads_status_t *st = &self->statuses[0];
    if (r->v[st_i]) {
        st = status_of(self, r->v[st_i]);
        if (!st) {
            reject(r, "status '%.100s' is not a lead status", r->v[st_i]);
            return false;
        }
        if (strcmp(st->name, "Converted") == 0) {
            reject(r, "status Converted comes from a lead conversion only");
            return false;
        }
    }
    r->v[st_i] = st->name;
    if (!r->v[col_index(k, "last_name")] && !r->v[col_index(k, "organization_name")]) {
        reject(r, "a lead needs last_name or organization_name");
        return false;
    }
    for (size_t i = 0; i < st->nrequired; i++) {
        int c = col_index(k, st->required[i]);
        bool missing = c >= 0 ? !r->v[c] : strcmp(st->required[i], "tags") == 0 ? l && l->n_tags == 0 : false;
        if (missing) {
            reject(r, "%s is required for status %s", st->required[i], st->name);
            return false;
        }
    }
    r->phone_norm = leads_phone_e164(r->v[col_index(k, "phone")]);
    return true;
}

/* Contacts: the company a person row names (its "name" column), NULL for other rows. */
static const char *org_key(const ikind_t *k, const Crm__ImportRow *row)
{
    const Crm__Contact *c = row->contact;
    if (k != &kcontact || !c || (c->has_is_organization && c->is_organization) || blank(c->name) ||
        (blank(c->first_name) && blank(c->last_name)))
        return NULL;
    return c->name;
}

/* Contact rows: an organization needs a name; a person a last name, its "name" column is
 * "First Last" and the name crmctl sent is the organization it belongs to (linked by name). */
static bool check_contact(const ikind_t *k, irow_t *r)
{
    const Crm__Contact *c = r->in->contact;
    int name = col_index(k, "name"), first = col_index(k, "first_name"), last = col_index(k, "last_name");
    r->is_org = c && c->has_is_organization ? c->is_organization : !r->v[first] && !r->v[last] && r->v[name];
    if (r->is_org) {
        if (!r->v[name]) {
            reject(r, "an organization needs a name");
            return false;
        }
        return true;
    }
    if (!r->v[last]) {
        reject(r, "a person needs last_name (or give only an organization name)");
        return false;
    }
    r->org_name = r->v[name];
    size_t n = strlen(r->v[last]) + (r->v[first] ? strlen(r->v[first]) + 1 : 0) + 1;
    r->person_name = malloc(n);
    snprintf(r->person_name, n, "%s%s%s", r->v[first] ? r->v[first] : "", r->v[first] ? " " : "", r->v[last]);
    r->v[name] = r->person_name;
    return true;
}

/* Checks and normalizes one row; rejects it with the first reason found. */
static void check_row(leads_t *self, const ikind_t *k, const Crm__ImportBatch *b, const crm_cv_defs_t *defs,
                      irow_t *r)
{
    const Crm__ImportRow *in = r->in;
    if (in->reject_reason && *in->reject_reason) {
        reject(r, "%.190s", in->reject_reason);
        return;
    }
    const ProtobufCMessage *m =
        k == &klead ? (const ProtobufCMessage *)in->lead : (const ProtobufCMessage *)in->contact;
    for (size_t i = 0; i < k->ncols; i++)
        r->v[i] = blank(col_value(k, m, &k->cols[i])) ? NULL : col_value(k, m, &k->cols[i]);
    if (!(k == &klead ? check_lead(self, k, r) : check_contact(k, r)))
        return;
    if (k == &klead ? in->lead && in->lead->has_owner_id : in->contact && in->contact->has_owner_id)
        r->own_owner = k == &klead ? in->lead->owner_id : in->contact->owner_id;
    int em = col_index(k, "email");
    r->email_norm = lower_trim(r->v[em]);
    if (r->email_norm && (!strchr(r->email_norm, '@') || strpbrk(r->email_norm, " \t,;<>"))) {
        reject(r, "email '%.100s' is not an e-mail address", r->v[em]);
        return;
    }
    char **tags = k == &klead ? (in->lead ? in->lead->tags : NULL) : (in->contact ? in->contact->tags : NULL);
    size_t ntags = k == &klead ? (in->lead ? in->lead->n_tags : 0) : (in->contact ? in->contact->n_tags : 0);
    for (size_t t = 0; t < ntags; t++)
        add_tag(r, tags[t]);
    size_t nc = b->n_custom_columns < in->n_custom_values ? b->n_custom_columns : in->n_custom_values;
    if (!(r->custom =
              crm_cv_row(defs, b->custom_columns, in->custom_values, nc, r->reason, sizeof r->reason))) {
        r->state = "rejected";
        return;
    }
    if (k == &klead)
        r->source = !blank(in->source) ? in->source : !blank(b->source) ? b->source : "import";
}

/* Fills r's gaps from d (a later row of the same person). */
static void merge_rows(const ikind_t *k, irow_t *r, irow_t *d)
{
    for (size_t i = 0; i < k->ncols; i++)
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

static void smap_free(smap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
}

static void smap_init(smap_t *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 2)
        m->cap *= 2;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
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
    int64_t owner, created, merged;
} owner_count_t;

typedef struct {
    const ikind_t *k;
    irow_t *rows;
    size_t n;
    int64_t created, merged, duplicates, rejected, skipped, flagged;
    /* where the batch's time went (µs): reserve ids, lock + check + dedup, pick owners (on a thread,
     * overlapping the next two), COPY into
     * the staging table, INSERT + events, merges + events, timeline, the rest (counts, commit) */
    int64_t t_reserve, t_check, t_pick, t_copy, t_insert, t_merge, t_timeline, t_total, t_emit;
    int64_t t_pick_wait;   /* how long the batch waited for the pick (it overlaps copy and merges) */
    owner_count_t *owners; /* per owner, this batch */
    size_t nowners;
    Crm__ImportRow *synth; /* the lines (-L) of the organizations made for persons' companies */
} batch_t;

static void count_owner(batch_t *bt, int64_t owner, bool created)
{
    if (owner <= 0)
        return;
    size_t i = 0;
    while (i < bt->nowners && bt->owners[i].owner != owner)
        i++;
    if (i == bt->nowners) {
        bt->owners = realloc(bt->owners, (bt->nowners + 1) * sizeof *bt->owners);
        bt->owners[bt->nowners++] = (owner_count_t){owner, 0, 0};
    }
    *(created ? &bt->owners[i].created : &bt->owners[i].merged) += 1;
}

/* A bigint[] literal. */
static char *i64_array(const int64_t *v, size_t n)
{
    char *s = NULL;
    size_t len = 0, cap = 0;
    sb(&s, &len, &cap, "{");
    for (size_t i = 0; i < n; i++)
        sb(&s, &len, &cap, "%s%lld", i ? "," : "", (long long)v[i]);
    sb(&s, &len, &cap, "}");
    return s;
}

/* Takes the dedup gate exclusively (a capture takes it shared before locking its keys, see
 * store.c dedup_find: one lock for the whole batch instead of one per key — thousands of
 * advisory locks per batch filled Postgres' lock table, "out of shared memory", for every other
 * transaction too) and finds the records that already have the keys: r->target. */
static int find_existing(crm_db_t *tx, const char *import_id, batch_t *bt, crm_err_t *err)
{
    const ikind_t *k = bt->k;
    char **emails = calloc(bt->n + 1, sizeof *emails), **phones = calloc(bt->n + 1, sizeof *phones);
    size_t ne = 0, np = 0;
    for (size_t i = 0; i < bt->n; i++) {
        irow_t *r = &bt->rows[i];
        if (r->state || r->rep != (int)i)
            continue;
        if (r->email_norm)
            emails[ne++] = r->email_norm;
        if (r->phone_norm)
            phones[np++] = r->phone_norm;
    }
    size_t nk = ne + np;
    int rc = CRM_OK;
    if (nk > 0) {
        char gate[64];
        snprintf(gate, sizeof gate, "%s-dedup-gate", k->lock_pfx);
        const char *p[] = {gate};
        rc = crm_db_run(tx, "import_dedup_gate", "SELECT pg_advisory_xact_lock(hashtextextended($1, 3))", 1,
                        p, err);
    }
    if (rc == CRM_OK && nk > 0) {
        char *ea = crm_param_text_array(emails, ne), *pa = crm_param_text_array(phones, np);
        const char *p[] = {ea, pa};
        char name[64];
        snprintf(name, sizeof name, "import_existing_%s", k->rtype);
        PGresult *res = crm_db_exec(tx, name, k->existing_sql, k == &klead ? 2 : 1, p, err);
        free(ea);
        free(pa);
        if (!res) {
            rc = err->code;
        } else {
            /* key → the first record (rows in id order: the oldest wins, as in dedup_find) */
            smap_t m = {0};
            smap_init(&m, 2 * (size_t)PQntuples(res) + 1);
            char key[600];
            for (int j = 0; j < PQntuples(res); j++)
                for (int c = 1; c <= 2; c++) {
                    if (PQgetisnull(res, j, c))
                        continue;
                    snprintf(key, sizeof key, "%c:%s", c == 1 ? 'e' : 'p', PQgetvalue(res, j, c));
                    int *slot = smap_slot(&m, key, true);
                    if (*slot < 0)
                        *slot = j;
                }
            for (size_t i = 0; i < bt->n; i++) {
                irow_t *r = &bt->rows[i];
                if (r->state || r->rep != (int)i)
                    continue;
                int *se = NULL, *sp = NULL;
                if (r->email_norm) {
                    snprintf(key, sizeof key, "e:%s", r->email_norm);
                    se = smap_slot(&m, key, false);
                }
                if (r->phone_norm) {
                    snprintf(key, sizeof key, "p:%s", r->phone_norm);
                    sp = smap_slot(&m, key, false);
                }
                int j = se && sp ? (*se < *sp ? *se : *sp) : se ? *se : sp ? *sp : -1;
                if (j < 0)
                    continue;
                r->target = atoll(PQgetvalue(res, j, 0));
                r->dup_in_file = !PQgetisnull(res, j, 3) && strcmp(PQgetvalue(res, j, 3), import_id) == 0;
            }
            smap_free(&m);
            PQclear(res);
        }
    }
    free(emails);
    free(phones);
    return rc;
}

/* In-batch dedup: a row sharing a key with an earlier one merges into it. */
static void dedup_batch(batch_t *bt)
{
    smap_t m = {0};
    smap_init(&m, 2 * bt->n + 1);
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
            merge_rows(bt->k, &bt->rows[rep], r);
        } else {
            rep = (int)i;
        }
        if (se && *se < 0)
            *se = rep;
        if (sp && *sp < 0)
            *sp = rep;
    }
    smap_free(&m);
}

/* Two representatives that found the same existing record: the later merges into the earlier. */
static void dedup_targets(batch_t *bt)
{
    for (size_t i = 0; i < bt->n; i++) {
        irow_t *r = &bt->rows[i];
        if (r->state || r->rep != (int)i || !r->target)
            continue;
        for (size_t j = 0; j < i; j++) {
            irow_t *q = &bt->rows[j];
            if (!q->state && q->rep == (int)j && q->target == r->target) {
                merge_rows(bt->k, q, r);
                r->rep = (int)j;
                r->dup_in_file = true;
                break;
            }
        }
    }
}

/* Contacts: an organization contact for each company that new persons of the batch name and that
 * no organization has (case-insensitively: an existing one, or an organization row of the batch),
 * one per name however many rows name it: the first person's spelling (trimmed), owner (picked
 * after the persons') and line (import_line -L, its id reserved under -L). The persons then link
 * to it by name (store_new inserts organizations first). Under the contact dedup gate, so that two
 * imports do not both make it. Appends the organizations to bt->rows, counted as created. */
static int plan_orgs(crm_db_t *tx, const Crm__ImportBatch *b, batch_t *bt, crm_err_t *err)
{
    const ikind_t *k = bt->k;
    if (k != &kcontact)
        return CRM_OK;
    size_t n0 = bt->n, nn = 0;
    int name = col_index(k, "name");
    smap_t m = {0}, holders = {0};
    smap_init(&m, n0);
    smap_init(&holders, n0);
    char **names = calloc(n0 + 1, sizeof *names); /* the companies to check, as first spelled */
    int *first = calloc(n0 + 1, sizeof *first);
    for (size_t i = 0; i < n0; i++) {
        irow_t *r = &bt->rows[i];
        char *key = r->org_id > 0 && org_key(k, r->in) ? lower_trim(org_key(k, r->in)) : NULL;
        int *h = key ? smap_slot(&holders, key, true) : NULL;
        if (h && *h < 0)
            *h = (int)i;
        free(key);
        if (r->state || r->rep != (int)i || r->target)
            continue;
        key = lower_trim(r->is_org ? r->v[name] : r->org_name);
        int *slot = key ? smap_slot(&m, key, true) : NULL;
        if (slot && r->is_org) {
            *slot = -2; /* an organization row of the file makes it */
        } else if (slot && *slot == -1) {
            *slot = (int)nn;
            first[nn] = (int)i;
            names[nn++] = (char *)r->org_name;
        }
        free(key);
    }
    int rc = CRM_OK;
    bool *exists = calloc(nn + 1, sizeof *exists);
    if (nn > 0) {
        const char *gp[] = {"contact-dedup-gate"};
        rc = crm_db_run(tx, "import_dedup_gate", "SELECT pg_advisory_xact_lock(hashtextextended($1, 3))", 1,
                        gp, err);
        char *na = crm_param_text_array(names, nn);
        const char *p[] = {na};
        PGresult *res =
            rc != CRM_OK ? NULL
                         : crm_db_exec(tx, "import_orgs_existing",
                                       "SELECT u.o - 1 FROM unnest($1::text[]) WITH ORDINALITY u(n, o) WHERE "
                                       "EXISTS (SELECT 1 FROM contacts c WHERE c.is_organization AND "
                                       "lower(c.name) = lower(btrim(u.n)))",
                                       1, p, err);
        free(na);
        if (!res && rc == CRM_OK)
            rc = err->code;
        for (int j = 0; res && j < PQntuples(res); j++)
            exists[atoll(PQgetvalue(res, j, 0))] = true;
        PQclear(res);
    }
    for (size_t j = 0; rc == CRM_OK && j < nn; j++) {
        irow_t *person = &bt->rows[first[j]];
        char *key = lower_trim(names[j]);
        int *slot = smap_slot(&m, key, false), *h = smap_slot(&holders, key, false);
        free(key);
        if (exists[j] || !slot || *slot < 0)
            continue;
        irow_t *holder = h ? &bt->rows[*h] : NULL;
        if (!holder && !b->dry_run) {
            rc = crm_err_set(err, CRM_EINTERNAL, NULL, "internal",
                             "no id reserved for the organization of line %lld", (long long)person->in->line);
            break;
        }
        if (!bt->synth)
            bt->synth = calloc(nn, sizeof *bt->synth);
        Crm__ImportRow *line = &bt->synth[bt->n - n0];
        crm__import_row__init(line);
        line->has_line = 1;
        line->line = -(holder ? holder->in->line : person->in->line);
        irow_t *o = &bt->rows[bt->n];
        memset(o, 0, sizeof *o);
        o->in = line;
        o->rep = (int)bt->n++;
        o->is_org = o->auto_org = true;
        o->owner_row = first[j];
        o->custom = json_object();
        o->person_name = lower_trim(names[j]); /* owned; replaced by the trimmed spelling */
        const char *v = names[j];
        while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
            v++;
        memcpy(o->person_name, v, strlen(o->person_name));
        o->v[name] = o->person_name;
        if (holder) {
            o->id = holder->org_id;
            holder->org_used = true;
        }
        bt->created++;
    }
    free(exists);
    free(names);
    free(first);
    smap_free(&m);
    smap_free(&holders);
    return rc;
}

static char *stage_rows(const batch_t *bt, size_t *len)
{
    const ikind_t *k = bt->k;
    char *s = NULL;
    size_t cap = 0;
    *len = 0;
    sb(&s, len, &cap, "%s", "");
    for (size_t i = 0; i < bt->n; i++) {
        const irow_t *r = &bt->rows[i];
        if (r->state || r->rep != (int)i)
            continue;
        sb(&s, len, &cap, "%lld\t", (long long)r->in->line);
        if (r->id > 0 && !r->target)
            sb(&s, len, &cap, "%lld\t", (long long)r->id);
        else
            sb(&s, len, &cap, "\\N\t");
        if (r->target)
            sb(&s, len, &cap, "%lld\t", (long long)r->target);
        else
            sb(&s, len, &cap, "\\N\t");
        copy_text(&s, len, &cap, r->source, false);
        copy_text(&s, len, &cap, r->phone_norm, false);
        sb(&s, len, &cap, "%s\t", r->is_org ? "t" : "f");
        copy_text(&s, len, &cap, r->org_name, false);
        char *tags = crm_param_text_array((char *const *)r->tags, r->ntags);
        copy_text(&s, len, &cap, tags, false);
        free(tags);
        char *custom = json_dumps(r->custom, JSON_COMPACT | JSON_SORT_KEYS);
        copy_text(&s, len, &cap, custom ? custom : "{}", false);
        free(custom);
        for (size_t c = 0; c < k->ncols; c++)
            copy_text(&s, len, &cap, r->v[c], c + 1 == k->ncols);
    }
    return s;
}

static int ensure_stage(crm_db_t *tx, const ikind_t *k, crm_err_t *err)
{
    char name[64];
    snprintf(name, sizeof name, "import_stage_exists_%s", k->rtype);
    PGresult *res = crm_db_exec(tx, name, k->stage_exists, 0, NULL, err);
    if (!res)
        return err->code;
    bool there = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return there ? CRM_OK : crm_db_exec_simple(tx, k->stage_ddl, err);
}

/* The representative row that made the record id (a new record), or NULL. */
static const irow_t *row_of_id(const batch_t *bt, int64_t id)
{
    for (size_t i = 0; i < bt->n; i++)
        if (bt->rows[i].id == id && !bt->rows[i].state && !bt->rows[i].target)
            return &bt->rows[i];
    return NULL;
}

/* Events for the rows of res (the kind's SELECT list; merges: then the record's import_id), COPY'd
 * into the outbox; counts the owners of new and merged records. */
static int emit_rows(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, batch_t *bt,
                     PGresult *res, bool created, crm_err_t *err)
{
    const ikind_t *k = bt->k;
    int n = PQntuples(res);
    if (n == 0)
        return CRM_OK;
    int64_t t0 = crm_mono_us();
    bool lead = k == &klead;
    ProtobufCMessage **recs = calloc((size_t)n, sizeof *recs);
    Crm__LeadEvent *levs = lead ? calloc((size_t)n, sizeof *levs) : NULL;
    Crm__ContactEvent *cevs = lead ? NULL : calloc((size_t)n, sizeof *cevs);
    const ProtobufCMessage **payloads = calloc((size_t)n, sizeof *payloads);
    const char **types = calloc((size_t)n, sizeof *types);
    /* new records: their picks by id (reserved ids come in line order: mostly ascending) */
    const irow_t *hint = bt->rows;
    for (int r = 0; r < n; r++) {
        recs[r] = rec_from_row(k->rec, res, r);
        int64_t id = lead ? ((Crm__Lead *)recs[r])->id : ((Crm__Contact *)recs[r])->id;
        int64_t owner =
            lead ? (((Crm__Lead *)recs[r])->has_owner_id ? ((Crm__Lead *)recs[r])->owner_id : 0)
                 : (((Crm__Contact *)recs[r])->has_owner_id ? ((Crm__Contact *)recs[r])->owner_id : 0);
        int64_t assignment = 0;
        if (created) {
            const irow_t *row = hint < bt->rows + bt->n && hint->id == id ? hint : row_of_id(bt, id);
            if (row) {
                assignment = row->assignment;
                hint = row + 1;
            }
            count_owner(bt, owner, true);
        } else {
            const int ic = (int)k->rec->n; /* the record's import_id after its columns */
            bool same = !PQgetisnull(res, r, ic) && strcmp(PQgetvalue(res, r, ic), b->import_id) == 0;
            if (!same)
                count_owner(bt, owner, false);
        }
        if (lead) {
            Crm__LeadEvent *ev = &levs[r];
            crm__lead_event__init(ev);
            ev->lead = (Crm__Lead *)recs[r];
            ev->source_name = created ? (char *)(b->source && *b->source ? b->source : "import") : NULL;
            ev->has_changed_by = 1;
            ev->changed_by = ctx->user_id;
            ev->import_id = b->import_id;
            if (!created && owner > 0) { /* a merge keeps the owner: no owner change for crm-assign */
                ev->has_previous_owner_id = 1;
                ev->previous_owner_id = owner;
            }
            ev->has_assignment_id = assignment > 0;
            ev->assignment_id = assignment;
            payloads[r] = &ev->base;
        } else {
            Crm__ContactEvent *ev = &cevs[r];
            crm__contact_event__init(ev);
            ev->contact = (Crm__Contact *)recs[r];
            ev->has_changed_by = 1;
            ev->changed_by = ctx->user_id;
            ev->import_id = b->import_id;
            if (!created && owner > 0) {
                ev->has_previous_owner_id = 1;
                ev->previous_owner_id = owner;
            }
            ev->has_assignment_id = assignment > 0;
            ev->assignment_id = assignment;
            payloads[r] = &ev->base;
        }
        types[r] = created ? k->created_type : k->updated_type;
    }
    int rc = b->dry_run ? CRM_OK
                        : crm_outbox_append_many(self->daemon->outbox, ctx->db, types, ctx->correlation_id,
                                                 payloads, (size_t)n, err);
    for (int r = 0; r < n; r++)
        protobuf_c_message_free_unpacked(recs[r], NULL);
    free(recs);
    free(levs);
    free(cevs);
    free(payloads);
    free(types);
    bt->t_emit += crm_mono_us() - t0;
    return rc;
}

/* The /v2/tags of the tags the stored rows carry (as an API create does: leads_tags_ensure). */
static int ensure_tags(const crm_rpc_ctx_t *ctx, const batch_t *bt, crm_err_t *err)
{
    smap_t m = {0};
    size_t total = 0;
    for (size_t i = 0; i < bt->n; i++)
        total += bt->rows[i].ntags;
    smap_init(&m, total);
    char **names = calloc(total + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < bt->n; i++) {
        const irow_t *r = &bt->rows[i];
        if (r->state || r->rep != (int)i)
            continue;
        for (size_t t = 0; t < r->ntags; t++) {
            int *slot = smap_slot(&m, r->tags[t], true);
            if (*slot < 0)
                *slot = (int)n, names[n++] = (char *)r->tags[t];
        }
    }
    int rc = leads_tags_ensure(ctx->db, bt->k->rtype, names, n, ctx->user_id, err);
    smap_free(&m);
    free(names);
    return rc;
}

/* Writes what does not need the owners while assign.pick_bulk runs: lead sources, merges into
 * existing records (their events and timeline entries), the /v2/tags. */
static int store_merges(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, batch_t *bt,
                        crm_err_t *err)
{
    const ikind_t *k = bt->k;
    crm_db_t *tx = ctx->db;
    int rc = CRM_OK;
    if (k == &klead)
        rc = crm_db_run(
            tx, "import_sources",
            "INSERT INTO lead_sources (name) SELECT DISTINCT source FROM import_stage_lead s WHERE "
            "source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lead_sources l WHERE l.name = "
            "s.source) ON CONFLICT (name) DO NOTHING",
            0, NULL, err);
    if (rc != CRM_OK)
        return rc;
    int64_t t0 = crm_mono_us();
    char name[64];
    snprintf(name, sizeof name, "import_merge_%s", k->rtype);
    PGresult *res = crm_db_exec(tx, name, k->merge_sql, 0, NULL, err);
    if (!res)
        return err->code;
    rc = emit_rows(self, ctx, b, bt, res, false, err);
    PQclear(res);
    if (rc != CRM_OK)
        return rc;
    int64_t t1 = crm_mono_us();
    bt->t_merge = t1 - t0;
    if (bt->merged + bt->duplicates > 0) {
        const char *tp[] = {b->import_id, b->file_name && *b->file_name ? b->file_name : "a CSV file"};
        snprintf(name, sizeof name, "import_timeline_%s", k->rtype);
        rc = crm_db_run(tx, name, k->timeline_sql, 2, tp, err);
    }
    bt->t_timeline = crm_mono_us() - t1;
    return rc == CRM_OK ? ensure_tags(ctx, bt, err) : rc;
}

/* Writes the new records (owners known now) and their events. */
static int store_new(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, batch_t *bt,
                     crm_err_t *err)
{
    const ikind_t *k = bt->k;
    crm_db_t *tx = ctx->db;
    int rc = CRM_OK;
    int64_t *lines = calloc(bt->n + 1, sizeof *lines), *owners = calloc(bt->n + 1, sizeof *owners);
    size_t n = 0;
    for (size_t i = 0; i < bt->n; i++) {
        const irow_t *r = &bt->rows[i];
        if (!r->state && r->rep == (int)i && !r->target) {
            lines[n] = r->in->line;
            owners[n++] = r->owner;
        }
    }
    char *la = i64_array(lines, n), *oa = i64_array(owners, n);
    free(lines);
    free(owners);
    char creator[24], name[64];
    const char *p[] = {b->import_id, crm_param_i64(creator, ctx->user_id > 0, ctx->user_id), la, oa, "true"};
    snprintf(name, sizeof name, "import_insert_%s", k->rtype);
    int64_t t0 = crm_mono_us();
    /* contacts: organizations first, so that persons of the same batch find them */
    for (int pass = 0; pass < (k == &klead ? 1 : 2) && rc == CRM_OK; pass++) {
        p[4] = pass == 0 ? "true" : "false";
        PGresult *res = crm_db_exec(tx, name, k->insert_sql, k == &klead ? 4 : 5, p, err);
        if (!res) {
            rc = err->code;
            break;
        }
        rc = emit_rows(self, ctx, b, bt, res, true, err);
        PQclear(res);
    }
    free(la);
    free(oa);
    bt->t_insert = crm_mono_us() - t0;
    return rc;
}

static int check_batch(const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, crm_err_t *err)
{
    if (may_import(ctx, err) != CRM_OK)
        return err->code;
    if (!import_id_ok(b->import_id))
        crm_err_add(err, CRM_EINVALID, "/import_id", "invalid", "import_id: 1-128 of [A-Za-z0-9:_.-]");
    if (!b->resource_type ||
        (strcmp(b->resource_type, "lead") != 0 && strcmp(b->resource_type, "contact") != 0))
        crm_err_add(err, CRM_EINVALID, "/resource_type", "incorrect_value",
                    "resource_type: lead or contact (deals: deals.import_batch)");
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

/* The slot of a reserved line in ids[]: line L → the row of line L; -L → n_rows + that row (the
 * organization a person row of line L may need); -1 when the batch has no such row. */
static long line_slot(const Crm__ImportBatch *b, int64_t line)
{
    int64_t want = line < 0 ? -line : line;
    size_t lo = 0, hi = b->n_rows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->rows[mid]->line < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == b->n_rows || b->rows[lo]->line != want)
        return -1;
    return (long)(line < 0 ? b->n_rows + lo : lo);
}

/* Ids for the rows of the batch not stored yet (line above the watermark, not refused by crmctl),
 * aligned with b->rows (0: none); contacts: ids[n_rows + i] for the organization row i's company
 * may need (reserved under line -L on the first row naming each company). A reservation an earlier
 * attempt made for a line is reused (reused[] set: that attempt may have picked an owner for it);
 * the others are drawn from the table's sequence and reserved in a statement of their own
 * (committed before the batch's transaction, and so before crm-assign records owners for them). */
static int reserve_ids(crm_db_t *db, const ikind_t *k, const Crm__ImportBatch *b, int64_t *ids, bool *reused,
                       crm_err_t *err)
{
    if (b->n_rows == 0)
        return CRM_OK;
    const char *wp[] = {b->import_id};
    PGresult *res =
        crm_db_exec(db, "import_watermark", "SELECT last_line FROM imports WHERE id = $1", 1, wp, err);
    if (!res)
        return err->code;
    int64_t watermark = PQntuples(res) == 1 ? atoll(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    char lo[24], hi[24];
    int64_t last = b->rows[b->n_rows - 1]->line;
    const char *rp[] = {b->import_id, crm_param_i64(lo, true, k == &kcontact ? -last : b->rows[0]->line),
                        crm_param_i64(hi, true, last)};
    res =
        crm_db_exec(db, "import_reserved",
                    "SELECT u.l, u.i FROM import_reservations r, unnest(r.lines, r.ids) AS u(l, i) WHERE "
                    "r.import_id = $1 AND r.last_line >= $2::bigint AND r.first_line <= $3::bigint ORDER BY "
                    "r.seq DESC",
                    3, rp, err);
    if (!res)
        return err->code;
    /* reservations newest first: the oldest reservation of a line wins */
    for (int j = 0; j < PQntuples(res); j++) {
        long slot = line_slot(b, atoll(PQgetvalue(res, j, 0)));
        if (slot >= 0) {
            ids[slot] = atoll(PQgetvalue(res, j, 1));
            reused[slot] = true;
        }
    }
    PQclear(res);
    int64_t *need = calloc(2 * b->n_rows, sizeof *need);
    size_t nneed = 0;
    smap_t m = {0};
    smap_init(&m, b->n_rows);
    for (size_t i = 0; i < b->n_rows; i++) {
        const Crm__ImportRow *row = b->rows[i];
        if (row->line <= watermark || (row->reject_reason && *row->reject_reason))
            continue;
        if (!ids[i])
            need[nneed++] = row->line;
        char *key = org_key(k, row) ? lower_trim(org_key(k, row)) : NULL;
        int *first = key ? smap_slot(&m, key, true) : NULL;
        if (first && *first < 0) {
            *first = (int)i;
            if (!ids[b->n_rows + i])
                need[nneed++] = -row->line;
        }
        free(key);
    }
    smap_free(&m);
    int rc = CRM_OK;
    if (nneed > 0) {
        char *lines = i64_array(need, nneed);
        const char *np[] = {b->import_id, lines, k->sequence};
        res = crm_db_exec(
            db, "import_reserve_lines",
            "WITH v AS (SELECT l, nextval($3::text::regclass) AS i FROM unnest($2::bigint[]) WITH "
            "ORDINALITY u(l, o) ORDER BY o) INSERT INTO import_reservations (import_id, first_line, "
            "last_line, lines, ids) SELECT $1, min(l), max(l), array_agg(l ORDER BY l), "
            "array_agg(i ORDER BY l) FROM v RETURNING array_to_string(lines, ','), array_to_string(ids, ',')",
            3, np, err);
        free(lines);
        if (!res) {
            rc = err->code;
        } else {
            const char *pl = PQgetvalue(res, 0, 0), *pi = PQgetvalue(res, 0, 1);
            for (size_t j = 0; j < nneed; j++) {
                long slot = line_slot(b, strtoll(pl, (char **)&pl, 10));
                int64_t id = strtoll(pi, (char **)&pi, 10);
                pl += *pl == ',';
                pi += *pi == ',';
                if (slot >= 0)
                    ids[slot] = id;
            }
            PQclear(res);
        }
    }
    free(need);
    return rc;
}

/* One assign.pick_bulk call: owners for rows[0..n) (their reserved ids, in line order) from the
 * batch's pool, or all to owner_id (> 0: manual); rel: ids whose earlier picks go. */
static int pick_call(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, const char *rtype,
                     irow_t **rows, size_t n, int64_t owner_id, int64_t *rel, size_t nrel, crm_err_t *err)
{
    if (n == 0 && nrel == 0)
        return CRM_OK;
    if (b->dry_run) {
        for (size_t i = 0; i < n; i++)
            rows[i]->owner = owner_id;
        return CRM_OK;
    }
    int64_t *ids = calloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = rows[i]->id;
    Crm__PickBulkRequest req = CRM__PICK_BULK_REQUEST__INIT;
    req.resource_type = (char *)rtype;
    req.record_ids = ids;
    req.n_record_ids = n;
    req.has_pool_id = req.has_owner_id = req.has_changed_by = 1;
    req.pool_id = owner_id > 0 ? 0 : b->pool_id;
    req.owner_id = owner_id;
    req.changed_by = ctx->user_id;
    req.import_id = b->import_id;
    req.release_ids = rel;
    req.n_release_ids = nrel;
    crm_rpc_caller_t caller = {.user_id = ctx->user_id, .role = NULL, .correlation_id = ctx->correlation_id};
    Crm__PickBulkReply *rep = NULL;
    crm_err_t perr;
    crm_err_clear(&perr);
    int rc = self->assign ? crm_rpc_call(self->assign, "assign.pick_bulk", &caller, &req.base,
                                         &crm__pick_bulk_reply__descriptor, self->assign_timeout_ms,
                                         (ProtobufCMessage **)&rep, &perr)
                          : CRM_EUNAVAILABLE;
    if (rc == CRM_OK && (rep->n_owner_ids != n || rep->n_assignment_ids != n)) {
        rc = crm_err_set(err, CRM_EINTERNAL, NULL, "internal", "assign.pick_bulk answered %zu owners for %zu",
                         rep->n_owner_ids, n);
    } else if (rc != CRM_OK) {
        /* the client retries an unavailable crm-assign; anything else is reported as it is */
        crm_err_set(err, rc == CRM_EUNAVAILABLE ? CRM_EUNAVAILABLE : rc, NULL, "owners",
                    "owners for the batch: assign.pick_bulk: %s", perr.message);
    } else {
        for (size_t i = 0; i < n; i++) {
            rows[i]->owner = rep->owner_ids[i];
            rows[i]->assignment = rep->assignment_ids[i];
        }
        if (rep->released > 0)
            crm_log_info(ctx->correlation_id, "import.released",
                         "import_id=%s released=%lld (picks of rows that ended merged or rejected)",
                         b->import_id, (long long)rep->released);
    }
    if (rep)
        protobuf_c_message_free_unpacked(&rep->base, NULL);
    free(ids);
    return rc == CRM_OK ? CRM_OK : err->code;
}

/* Owners of the new records: assign.pick_bulk with their ids, in line order (the pool or the user
 * of the batch); then, one call per owner (manual), the rows with their own owner column and the
 * organizations made for persons' companies (the owner their first person got). Unreachable or
 * refused → the batch fails (crmctl retries; the same ids get the same owners). Ids an earlier
 * attempt reserved that no record takes now are released with the first call. */
static int pick_owners(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, batch_t *bt,
                       crm_err_t *err)
{
    size_t n = 0, nrel = 0, nown = 0;
    int64_t *rel = calloc(2 * bt->n + 1, sizeof *rel), *want = calloc(bt->n + 1, sizeof *want);
    irow_t **rows = calloc(bt->n + 1, sizeof *rows), **own = calloc(bt->n + 1, sizeof *own);
    for (size_t i = 0; i < bt->n; i++) {
        irow_t *r = &bt->rows[i];
        bool fresh = !r->state && r->rep == (int)i && !r->target;
        if (fresh && (r->auto_org || r->own_owner > 0))
            own[nown++] = r;
        else if (fresh)
            rows[n++] = r;
        else if (r->reused && r->id > 0)
            rel[nrel++] = r->id; /* an earlier attempt may have picked for it: never a record now */
        if (r->org_reused && r->org_id > 0 && !r->org_used)
            rel[nrel++] = r->org_id;
    }
    int rc = pick_call(self, ctx, b, bt->k->rtype, rows, n, b->owner_id, rel, nrel, err);
    for (size_t i = 0; i < nown; i++)
        want[i] = own[i]->auto_org ? bt->rows[own[i]->owner_row].owner : own[i]->own_owner;
    /* one call per owner, the rows in line order */
    for (size_t i = 0; rc == CRM_OK && i < nown; i++) {
        if (want[i] <= 0)
            continue;
        int64_t owner = want[i];
        size_t m = 0;
        for (size_t j = i; j < nown; j++)
            if (want[j] == owner) {
                rows[m++] = own[j];
                want[j] = 0;
            }
        rc = pick_call(self, ctx, b, bt->k->rtype, rows, m, owner, NULL, 0, err);
    }
    free(rel);
    free(want);
    free(rows);
    free(own);
    return rc;
}

typedef struct {
    leads_t *self;
    const crm_rpc_ctx_t *ctx;
    const Crm__ImportBatch *b;
    batch_t *bt; /* the thread writes only its rows' owner and assignment */
    int rc;
    crm_err_t err;
    int64_t us;
} pick_job_t;

static void *pick_thread(void *arg)
{
    pick_job_t *job = arg;
    int64_t t0 = crm_mono_us();
    job->rc = pick_owners(job->self, job->ctx, job->b, job->bt, &job->err);
    job->us = crm_mono_us() - t0;
    return NULL;
}

/* import.finished (exactly once: the caller holds the import's row and saw finished_at unset). */
static int emit_finished(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportStatus *st, crm_err_t *err)
{
    const char *p[] = {st->import_id};
    PGresult *res =
        crm_db_exec(ctx->db, "import_owner_counts",
                    "SELECT owner_id, created, merged FROM import_owner_counts WHERE import_id = $1 "
                    "ORDER BY owner_id",
                    1, p, err);
    if (!res)
        return err->code;
    Crm__ImportFinished f = CRM__IMPORT_FINISHED__INIT;
    f.import_id = st->import_id;
    f.resource_type = st->resource_type;
    f.file_name = st->file_name;
    f.has_created = f.has_merged = f.has_duplicates = f.has_rejected = 1;
    f.created = st->created;
    f.merged = st->merged;
    f.duplicates = st->duplicates;
    f.rejected = st->rejected;
    f.started_at = st->started_at;
    f.finished_at = st->finished_at;
    size_t n = (size_t)PQntuples(res);
    Crm__ImportOwnerCount *oc = calloc(n + 1, sizeof *oc);
    Crm__ImportOwnerCount **ocp = calloc(n + 1, sizeof *ocp);
    for (size_t i = 0; i < n; i++) {
        crm__import_owner_count__init(&oc[i]);
        oc[i].has_owner_id = oc[i].has_created = oc[i].has_merged = 1;
        oc[i].owner_id = atoll(PQgetvalue(res, (int)i, 0));
        oc[i].created = atoll(PQgetvalue(res, (int)i, 1));
        oc[i].merged = atoll(PQgetvalue(res, (int)i, 2));
        ocp[i] = &oc[i];
    }
    f.owners = ocp;
    f.n_owners = n;
    int rc = crm_outbox_append(self->daemon->outbox, ctx->db, "import.finished", ctx->correlation_id, &f.base,
                               err);
    free(oc);
    free(ocp);
    PQclear(res);
    if (rc == CRM_OK)
        crm_log_info(ctx->correlation_id, "import.finished",
                     "import_id=%s created=%lld merged=%lld owners=%zu", st->import_id,
                     (long long)st->created, (long long)st->merged, n);
    return rc;
}

static int save_owner_counts(crm_db_t *tx, const char *import_id, const batch_t *bt, crm_err_t *err)
{
    if (bt->nowners == 0)
        return CRM_OK;
    int64_t *o = calloc(bt->nowners, sizeof *o), *c = calloc(bt->nowners, sizeof *c),
            *m = calloc(bt->nowners, sizeof *m);
    for (size_t i = 0; i < bt->nowners; i++) {
        o[i] = bt->owners[i].owner;
        c[i] = bt->owners[i].created;
        m[i] = bt->owners[i].merged;
    }
    char *oa = i64_array(o, bt->nowners), *ca = i64_array(c, bt->nowners), *ma = i64_array(m, bt->nowners);
    const char *p[] = {import_id, oa, ca, ma};
    int rc = crm_db_run(
        tx, "import_owner_counts_add",
        "INSERT INTO import_owner_counts (import_id, owner_id, created, merged) SELECT $1, o, c, m "
        "FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) u(o, c, m) ON CONFLICT (import_id, "
        "owner_id) DO UPDATE SET created = import_owner_counts.created + excluded.created, merged = "
        "import_owner_counts.merged + excluded.merged",
        4, p, err);
    free(oa);
    free(ca);
    free(ma);
    free(o);
    free(c);
    free(m);
    return rc;
}

static int run_batch(leads_t *self, const crm_rpc_ctx_t *ctx, const Crm__ImportBatch *b, const int64_t *ids,
                     const bool *reused, batch_t *bt, Crm__ImportBatchReply *rep, crm_err_t *err)
{
    const ikind_t *k = bt->k;
    crm_db_t *tx = ctx->db;
    int64_t t0 = crm_mono_us();
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
        crm_db_exec(tx, "import_lock",
                    "SELECT last_line, finished_at IS NULL, resource_type FROM imports WHERE id = $1 "
                    "FOR UPDATE",
                    1, lp, err);
    if (!res)
        return err->code;
    int64_t watermark = atoll(PQgetvalue(res, 0, 0));
    bool open = PQgetvalue(res, 0, 1)[0] == 't';
    bool same_type = strcmp(PQgetvalue(res, 0, 2), b->resource_type) == 0;
    PQclear(res);
    if (!same_type)
        return crm_err_set(err, CRM_ECONFLICT, "/import_id", "conflict",
                           "import %s is an import of another resource type", b->import_id);

    crm_cv_defs_t defs = {0};
    rc = leads_import_custom_defs(tx, k->rtype, b->custom_columns, b->n_custom_columns, &defs,
                                  &rep->unknown_columns, &rep->n_unknown_columns, err);
    bt->rows = calloc(2 * b->n_rows + 1, sizeof *bt->rows); /* the file's rows, then organizations made */
    for (size_t i = 0; rc == CRM_OK && i < b->n_rows; i++) {
        if (b->rows[i]->line <= watermark) {
            bt->skipped++;
            continue;
        }
        irow_t *r = &bt->rows[bt->n++];
        r->in = b->rows[i];
        r->id = ids[i];
        r->reused = reused[i];
        r->org_id = ids[b->n_rows + i];
        r->org_reused = reused[b->n_rows + i];
        check_row(self, k, b, &defs, r);
        bt->flagged += r->in->n_flags > 0;
    }
    crm_cv_defs_free(&defs);
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
        if (r->rep == (int)i && !r->target && r->id <= 0 && !b->dry_run)
            return crm_err_set(err, CRM_EINTERNAL, NULL, "internal", "line %lld has no reserved id",
                               (long long)r->in->line);
    }
    int64_t created_rows = bt->created;
    rc = plan_orgs(tx, b, bt, err);
    if (rc != CRM_OK)
        return rc;
    stored += (size_t)bt->created - created_rows;
    int64_t t1 = crm_mono_us();
    bt->t_check = t1 - t0;
    if (stored > 0) {
        /* assign.pick_bulk runs on a thread of its own while this one stages the rows and writes
         * the merges; the new records are inserted once the owners are known */
        pick_job_t job = {.self = self, .ctx = ctx, .b = b, .bt = bt};
        crm_err_clear(&job.err);
        pthread_t th;
        bool threaded = !b->dry_run && pthread_create(&th, NULL, pick_thread, &job) == 0;
        if (!threaded)
            pick_thread(&job);
        size_t len = 0;
        char *data = stage_rows(bt, &len);
        rc = ensure_stage(tx, k, err);
        if (rc == CRM_OK)
            rc = crm_db_copy_in(tx, k->copy_sql, data, len, err);
        free(data);
        bt->t_copy = crm_mono_us() - t1;
        if (rc == CRM_OK)
            rc = store_merges(self, ctx, b, bt, err);
        int64_t t2 = crm_mono_us();
        if (threaded)
            pthread_join(th, NULL);
        bt->t_pick = job.us;
        bt->t_pick_wait = crm_mono_us() - t2;
        if (rc == CRM_OK && job.rc != CRM_OK) {
            *err = job.err;
            rc = job.rc;
        }
        if (rc == CRM_OK)
            rc = store_new(self, ctx, b, bt, err);
        char name[64];
        snprintf(name, sizeof name, "import_stage_clear_%s", k->rtype);
        if (rc == CRM_OK)
            rc = crm_db_run(tx, name, k->stage_clear, 0, NULL, err);
    } else if (!b->dry_run) {
        rc = pick_owners(self, ctx, b, bt, err); /* nothing new: only the picks to release, if any */
    }
    if (rc == CRM_OK)
        rc = save_owner_counts(tx, b->import_id, bt, err);
    if (rc != CRM_OK)
        return rc;

    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "UPDATE imports SET last_line = greatest(last_line, $2::bigint), end_offset = CASE WHEN $2::bigint > "
        "last_line THEN $3::bigint ELSE end_offset END, created = created + $4, merged = merged + $5, "
        "duplicates = duplicates + $6, rejected = rejected + $7, flagged = flagged + $8, updated_at = now(), "
        "finished_at = CASE WHEN $9 THEN coalesce(finished_at, now()) ELSE finished_at END WHERE id = $1 "
        "RETURNING %s",
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
    const char *dp[] = {b->import_id, v[0]};
    rc = crm_db_run(tx, "import_reservations_done",
                    "DELETE FROM import_reservations WHERE import_id = $1 AND last_line <= $2::bigint", 2, dp,
                    err);
    if (rc == CRM_OK && b->final && open)
        rc = emit_finished(self, ctx, rep->status, err);
    return rc;
}

static int import_batch(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                        ProtobufCMessage **out, crm_err_t *err)
{
    leads_t *self = arg;
    const Crm__ImportBatch *b = (const Crm__ImportBatch *)in_;
    if (check_batch(ctx, b, err) != CRM_OK)
        return err->code;
    Crm__ImportBatchReply *rep = (Crm__ImportBatchReply *)crm_pb_new(&crm__import_batch_reply__descriptor);
    batch_t bt = {.k = strcmp(b->resource_type, "contact") == 0 ? &kcontact : &klead};
    int64_t *ids = calloc(2 * b->n_rows + 1, sizeof *ids);
    bool *reused = calloc(2 * b->n_rows + 1, sizeof *reused);
    int64_t t0 = crm_mono_us();
    int rc = b->dry_run ? CRM_OK : reserve_ids(ctx->db, bt.k, b, ids, reused, err);
    bt.t_reserve = crm_mono_us() - t0;
    if (rc == CRM_OK)
        rc = crm_db_begin(ctx->db, err);
    if (rc == CRM_OK) {
        rc = run_batch(self, ctx, b, ids, reused, &bt, rep, err);
        if (rc == CRM_OK && !b->dry_run)
            rc = crm_db_commit(ctx->db, err);
        else
            crm_db_rollback(ctx->db);
    }
    bt.t_total = crm_mono_us() - t0;
    free(ids);
    free(reused);
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
            "dry_run=%d ms=%lld reserve_ms=%lld check_ms=%lld copy_ms=%lld merge_ms=%lld pick_wait_ms=%lld "
            "insert_ms=%lld timeline_ms=%lld emit_ms=%lld pick_ms=%lld",
            b->import_id, b->n_rows, (long long)bt.created, (long long)bt.merged, (long long)bt.duplicates,
            (long long)bt.rejected, (long long)bt.skipped, b->dry_run ? 1 : 0, (long long)bt.t_total / 1000,
            (long long)bt.t_reserve / 1000, (long long)bt.t_check / 1000, (long long)bt.t_copy / 1000,
            (long long)bt.t_merge / 1000, (long long)bt.t_pick_wait / 1000, (long long)bt.t_insert / 1000,
            (long long)bt.t_timeline / 1000, (long long)bt.t_emit / 1000, (long long)bt.t_pick / 1000);
    }
    for (size_t i = 0; i < bt.n; i++) {
        free(bt.rows[i].tags);
        free(bt.rows[i].email_norm);
        free(bt.rows[i].phone_norm);
        free(bt.rows[i].person_name);
        json_decref(bt.rows[i].custom);
    }
    free(bt.rows);
    free(bt.owners);
    free(bt.synth);
    if (rc != CRM_OK) {
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        return rc;
    }
    *out = &rep->base;
    return CRM_OK;
}

void leads_import_register(leads_t *self)
{
    kind_setup(&klead);
    kind_setup(&kcontact);
    self->assign_timeout_ms = (int)crm_config_int(self->daemon->config, "leads.assign_timeout_ms", 60000);
    crm_rpc_server_handle(self->daemon->rpc, "leads.import_batch", &crm__import_batch__descriptor,
                          import_batch, self);
    crm_rpc_server_handle(self->daemon->rpc, "leads.import_status", &crm__import_status_request__descriptor,
                          import_status, self);
}

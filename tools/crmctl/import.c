/* crmctl import: bulk CSV import (SPEC A3) of leads, contacts and deals. Streams the file through
 * the CSV reader (crm/csv.h), maps the header to the resource's fields (Sell's import columns, a
 * Salesforce lead/contact/opportunity export's, and --map overrides; other columns go to custom
 * fields of that name when the service has them), and sends batches to leads.import_batch
 * (crm-leads: leads and contacts) or deals.import_batch (crm-deals), which store each batch in one
 * transaction with COPY and move the import's watermark. The import id comes from the file's
 * SHA-256 and the resource type, so running the same command again resumes after the last stored
 * batch. */
#include "crmctl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "crm/csv.h"
#include "crm/pbjson.h"
#include "crm/rpc.h"
#include "crm/util.h"
#include "import.pb-c.h"

#define IMPORT_DEFAULT_BATCH 2000
#define IMPORT_RPC_TIMEOUT_MS 300000

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void import_help(FILE *out)
{
    fputs("Usage: crmctl [--config FILE] import leads|contacts|deals FILE.csv [--owner EMAIL|pool:NAME]\n"
          "                     [--map COL=FIELD ...] [--source NAME] [--dry-run] [--batch N]\n\n"
          "Imports a CSV file (UTF-8 with or without BOM, ',' or ';' separated, RFC 4180 quoting) in\n"
          "batches of N rows (default 2000) stored with COPY: leads and contacts through crm-leads\n"
          "(leads.rpc_endpoints), deals through crm-deals (deals.rpc_endpoints).\n\n"
          "  --owner EMAIL      every new record is owned by that active user\n"
          "  --owner pool:NAME  owners are picked from that distribution pool (of the same resource\n"
          "                     type) in bulk by crm-assign, with the same round-robin cursor as every\n"
          "                     other path (neither: the default pool of the type, if there is one)\n"
          "  --map COL=FIELD    column COL (header text) goes to FIELD (see below), '-' to skip it,\n"
          "                     else to the custom field FIELD\n"
          "  --source NAME      lead/deal source of rows without a source column (default \"import\")\n"
          "  --dry-run          check and count everything, store nothing\n"
          "  --batch N          rows per batch, 1 to 10000 (default 2000)\n\n"
          "Fields:\n"
          "  leads     first_name, last_name, organization_name, email, phone, mobile, title, description,\n"
          "            industry, website, fax, twitter, facebook, linkedin, skype, status, tags, source,\n"
          "            address_line1, address_city, address_state, address_postal_code, address_country,\n"
          "            owner (Owner, Lead Owner, Owner Email, ...: an active user's e-mail or name, that\n"
          "            row's owner instead of --owner; unknown or inactive: the row is rejected)\n"
          "  contacts  first_name, last_name, organization_name (a person's organization, or the name of\n"
          "            an organization when no person name is given), is_organization, email, phone,\n"
          "            mobile, title, description, industry, website, fax, twitter, facebook, linkedin,\n"
          "            skype, customer_status, prospect_status, tags, address_* and owner (Contact Owner,\n"
          "            ...) as for leads; a person's organization that no organization contact has is\n"
          "            made (once per name, owned by the owner of its first person) and linked\n"
          "  deals     name, value, currency, stage, pipeline, contact_name, contact_email, hot,\n"
          "            estimated_close_date, added_on, tags, source, customized_win_likelihood (0-100),\n"
          "            owner (an active user's e-mail or name: that row's owner, instead of --owner),\n"
          "            loss_reason (by name; a new one is created)\n\n"
          "Headers of Sell's import (first_name, organization_name, deal name, ...) and of Salesforce\n"
          "lead, contact and opportunity exports (FirstName, Account Name, MailingCity, LeadSource,\n"
          "Opportunity Name, Amount, StageName, CloseDate, Probability (%), ...) are known; a deal stage\n"
          "\"Closed Won\" / \"Closed Lost\" that no stage is named is the pipeline's won / lost stage, and\n"
          "Salesforce's default open stages (Prospecting, Qualification, Needs Analysis, ..., Negotiation/\n"
          "Review) go to the pipeline's active stage whose likelihood is nearest their default probability.\n"
          "Other columns go to the custom field of that name when one exists (its values checked against\n"
          "the field's type: a bad one rejects the row), else are reported.\n"
          "Leads whose e-mail or E.164 phone an open lead (or an earlier row) has, and contacts whose\n"
          "e-mail a contact (or an earlier row) has, are merged into it. Owners of the new records are\n"
          "picked in bulk per batch (no notification per row); when the import finishes every owner\n"
          "gets one digest notification. Rejected rows go to FILE.rejected.csv (line, reason, the row).\n"
          "A progress bar is drawn on a terminal, else one JSON line per second goes to stderr. Ctrl-C\n"
          "stops after the current batch; the same command again resumes where it stopped, without\n"
          "duplicating rows.\n",
          out);
}

/* ---- header mapping ------------------------------------------------------------------------------ */

static const char *const lead_fields[] = {"first_name",
                                          "last_name",
                                          "organization_name",
                                          "title",
                                          "description",
                                          "industry",
                                          "website",
                                          "email",
                                          "phone",
                                          "mobile",
                                          "fax",
                                          "twitter",
                                          "facebook",
                                          "linkedin",
                                          "skype",
                                          "status",
                                          "address_line1",
                                          "address_city",
                                          "address_state",
                                          "address_postal_code",
                                          "address_country",
                                          "tags",
                                          "source",
                                          "owner",
                                          NULL};

static const char *const contact_fields[] = {"first_name",
                                             "last_name",
                                             "organization_name",
                                             "is_organization",
                                             "title",
                                             "description",
                                             "industry",
                                             "website",
                                             "email",
                                             "phone",
                                             "mobile",
                                             "fax",
                                             "twitter",
                                             "facebook",
                                             "linkedin",
                                             "skype",
                                             "customer_status",
                                             "prospect_status",
                                             "address_line1",
                                             "address_city",
                                             "address_state",
                                             "address_postal_code",
                                             "address_country",
                                             "tags",
                                             "owner",
                                             NULL};

static const char *const deal_fields[] = {"name",
                                          "value",
                                          "currency",
                                          "stage",
                                          "pipeline",
                                          "contact_name",
                                          "contact_email",
                                          "hot",
                                          "estimated_close_date",
                                          "added_on",
                                          "tags",
                                          "source",
                                          "customized_win_likelihood",
                                          "owner",
                                          "loss_reason",
                                          NULL};

typedef struct {
    const char *alias, *field;
} alias_t;

/* Aliases, compared with the header lower-cased and stripped of everything but letters and digits. */
static const alias_t aliases[] = {
    {"firstname", "first_name"},
    {"first", "first_name"},
    {"givenname", "first_name"},
    {"lastname", "last_name"},
    {"last", "last_name"},
    {"surname", "last_name"},
    {"familyname", "last_name"},
    {"organizationname", "organization_name"},
    {"organization", "organization_name"},
    {"organisation", "organization_name"},
    {"company", "organization_name"},
    {"companyname", "organization_name"},
    {"accountname", "organization_name"},
    {"account", "organization_name"},
    {"jobtitle", "title"},
    {"notes", "description"},
    {"url", "website"},
    {"emailaddress", "email"},
    {"email1", "email"},
    {"primaryemail", "email"},
    {"phonenumber", "phone"},
    {"workphone", "phone"},
    {"businessphone", "phone"},
    {"telephone", "phone"},
    {"mobilephone", "mobile"},
    {"cellphone", "mobile"},
    {"cell", "mobile"},
    {"address", "address_line1"},
    {"street", "address_line1"},
    {"streetaddress", "address_line1"},
    {"addressline1", "address_line1"},
    {"line1", "address_line1"},
    {"mailingstreet", "address_line1"},
    {"billingstreet", "address_line1"},
    {"city", "address_city"},
    {"mailingcity", "address_city"},
    {"billingcity", "address_city"},
    {"state", "address_state"},
    {"province", "address_state"},
    {"stateprovince", "address_state"},
    {"region", "address_state"},
    {"mailingstate", "address_state"},
    {"billingstate", "address_state"},
    {"zip", "address_postal_code"},
    {"zipcode", "address_postal_code"},
    {"postalcode", "address_postal_code"},
    {"postcode", "address_postal_code"},
    {"mailingpostalcode", "address_postal_code"},
    {"billingpostalcode", "address_postal_code"},
    {"country", "address_country"},
    {"mailingcountry", "address_country"},
    {"billingcountry", "address_country"},
    {"tag", "tags"},
    {"leadsource", "source"},
    {"leadstatus", "status"},
    /* contacts (Sell's contact import, a Salesforce contact export) */
    {"isorganization", "is_organization"},
    {"organisationflag", "is_organization"},
    {"customerstatus", "customer_status"},
    {"prospectstatus", "prospect_status"},
    /* a row's owner (leads, contacts, deals): an active user's e-mail or name */
    {"opportunityowner", "owner"},
    {"dealowner", "owner"},
    {"owneremail", "owner"},
    {"ownername", "owner"},
    {"assignedto", "owner"},
    {"leadowner", "owner"},
    {"contactowner", "owner"},
    {"recordowner", "owner"},
};

/* Deals (Sell's deal import, a Salesforce opportunity export): checked before the others. */
static const alias_t deal_aliases[] = {
    {"dealname", "name"},
    {"opportunityname", "name"},
    {"opportunity", "name"},
    {"title", "name"},
    {"dealvalue", "value"},
    {"amount", "value"},
    {"dealamount", "value"},
    {"dealcurrency", "currency"},
    {"opportunitycurrency", "currency"},
    {"currencyisocode", "currency"},
    {"stagename", "stage"},
    {"dealstage", "stage"},
    {"pipelinename", "pipeline"},
    {"dealpipeline", "pipeline"},
    {"contact", "contact_name"},
    {"primarycontact", "contact_name"},
    {"primarycontactname", "contact_name"},
    {"organizationname", "contact_name"},
    {"organization", "contact_name"},
    {"company", "contact_name"},
    {"companyname", "contact_name"},
    {"accountname", "contact_name"},
    {"account", "contact_name"},
    {"email", "contact_email"},
    {"contactemail", "contact_email"},
    {"primarycontactemail", "contact_email"},
    {"emailaddress", "contact_email"},
    {"closedate", "estimated_close_date"},
    {"expectedclosedate", "estimated_close_date"},
    {"estimatedclose", "estimated_close_date"},
    {"leadsource", "source"},
    {"dealsource", "source"},
    {"createddate", "added_on"},
    {"tag", "tags"},
    {"probability", "customized_win_likelihood"},
    {"likelihood", "customized_win_likelihood"},
    {"winlikelihood", "customized_win_likelihood"},
    {"lossreason", "loss_reason"},
    {"reasonlost", "loss_reason"},
    {"lostreason", "loss_reason"},
};

typedef struct {
    const char *arg;     /* leads | contacts | deals */
    const char *rtype;   /* lead | contact | deal */
    const char *service; /* the storing service */
    const char *const *fields;
    const alias_t *aliases;
    size_t naliases;
} resource_t;

static const resource_t resources[] = {
    {"leads", "lead", "leads", lead_fields, aliases, sizeof aliases / sizeof aliases[0]},
    {"contacts", "contact", "leads", contact_fields, aliases, sizeof aliases / sizeof aliases[0]},
    {"deals", "deal", "deals", deal_fields, deal_aliases, sizeof deal_aliases / sizeof deal_aliases[0]},
};

static void squash(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; *in && n + 1 < len; in++) {
        char c = *in;
        if (c >= 'A' && c <= 'Z')
            out[n++] = (char)(c + 32);
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[n++] = c;
    }
    out[n] = '\0';
}

static const char *known_field(const resource_t *res, const char *name)
{
    for (size_t i = 0; res->fields[i]; i++)
        if (strcmp(res->fields[i], name) == 0)
            return res->fields[i];
    return NULL;
}

/* The built-in field of a header, or NULL. */
static const char *field_of_header(const resource_t *res, const char *header)
{
    char sq[128];
    squash(header, sq, sizeof sq);
    for (size_t i = 0; i < res->naliases; i++) /* resource-specific first (deals: "email" → contact) */
        if (res->aliases != aliases && strcmp(sq, res->aliases[i].alias) == 0)
            return known_field(res, res->aliases[i].field);
    for (size_t i = 0; res->fields[i]; i++) {
        char f[64];
        squash(res->fields[i], f, sizeof f);
        if (strcmp(sq, f) == 0)
            return res->fields[i];
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(sq, aliases[i].alias) == 0)
            return known_field(res, aliases[i].field);
    return NULL;
}

typedef struct {
    char *header;
    const char *field; /* built-in field, or NULL */
    int custom;        /* index in custom_columns, or -1 */
} column_t;

typedef struct {
    const resource_t *res;
    const char *path;
    const char *owner, *source;
    const char **maps;
    size_t nmaps;
    bool dry_run;
    int batch;
    /* the file */
    column_t *cols;
    size_t ncols;
    char **custom;
    size_t ncustom;
    char **header;
    /* counts of this run */
    int64_t read, created, merged, duplicates, rejected, skipped, flagged;
    long flagged_lines[10];
    size_t nflagged_lines;
    char **unknown;
    size_t nunknown;
    /* a file with an owner column: the users (id, lower-case e-mail and name, active or not) */
    int64_t *user_ids;
    char **user_emails, **user_names;
    bool *user_active;
    size_t nusers;
    FILE *rejects;
    char rejects_path[4096];
    char sep;
} imp_t;

static int map_header(imp_t *im, const crm_csv_record_t *rec)
{
    im->ncols = rec->nfields;
    im->cols = calloc(rec->nfields, sizeof *im->cols);
    im->custom = calloc(rec->nfields, sizeof *im->custom);
    im->header = calloc(rec->nfields, sizeof *im->header);
    for (size_t i = 0; i < rec->nfields; i++) {
        column_t *c = &im->cols[i];
        c->header = crm_strdup(rec->fields[i]);
        im->header[i] = c->header;
        c->custom = -1;
        const char *target = NULL;
        for (size_t m = 0; m < im->nmaps; m++) {
            const char *eq = strchr(im->maps[m], '=');
            if ((size_t)(eq - im->maps[m]) == strlen(c->header) &&
                strncasecmp(im->maps[m], c->header, (size_t)(eq - im->maps[m])) == 0)
                target = eq + 1;
        }
        if (target && (strcmp(target, "-") == 0 || *target == '\0'))
            continue; /* skipped on purpose */
        c->field = target ? known_field(im->res, target) : field_of_header(im->res, c->header);
        if (!c->field && (target || *c->header)) {
            c->custom = (int)im->ncustom;
            im->custom[im->ncustom++] = crm_strdup(target ? target : c->header);
        }
    }
    return CRMCTL_OK;
}

/* ---- rows ------------------------------------------------------------------------------------------ */

/* Appends one CSV-quoted field to a malloc'd line. */
static void csv_put(char **line, size_t *len, const char *v, bool first)
{
    size_t n = strlen(v);
    *line = realloc(*line, *len + 2 * n + 4);
    char *p = *line + *len;
    if (!first)
        *p++ = ',';
    *p++ = '"';
    for (const char *s = v; *s; s++) {
        if (*s == '"')
            *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    *p = '\0';
    *len = (size_t)(p - *line);
}

static char *raw_line(const crm_csv_record_t *rec)
{
    char *line = NULL;
    size_t len = 0;
    for (size_t i = 0; i < rec->nfields; i++)
        csv_put(&line, &len, rec->error ? "" : rec->fields[i], i == 0);
    if (!line)
        line = crm_strdup("");
    return line;
}

static void write_reject(imp_t *im, long line, const char *reason, const char *raw)
{
    if (!im->rejects)
        return;
    char num[24];
    snprintf(num, sizeof num, "%ld", line);
    char *out = NULL;
    size_t len = 0;
    csv_put(&out, &len, num, true);
    csv_put(&out, &len, reason, false);
    fprintf(im->rejects, "%s%s%s\n", out, raw && *raw ? "," : "", raw ? raw : "");
    free(out);
}

/* yes/no text: 1 true, 0 false, -1 neither. */
static int yes_no(const char *v)
{
    static const char *const yes[] = {"true", "yes", "y", "1", "t", "x"}, *const no[] = {"false", "no", "n",
                                                                                         "0", "f"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    return -1;
}

/* A string field of msg set once (two columns of one field: the first wins). */
static void set_once(ProtobufCMessage *msg, const char *field, const char *v)
{
    crm_err_t err;
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, field);
    if (fd && fd->type == PROTOBUF_C_TYPE_STRING && !*(char **)((char *)msg + fd->offset))
        crm_pbjson_set_field_text(msg, field, v, &err);
}

static void set_str(char **slot, const char *v)
{
    if (!*slot)
        *slot = crm_pb_strdup(v);
}

/* A deal's value as a JSON string ("1200.50": Sell's decimal text; crm-deals says what is wrong
 * with anything else, e.g. "1,200" or "$5"). */
static char *value_json(const char *v)
{
    json_t *j = json_string(v);
    char *out = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

/* A row's owner from its owner column (an active user's e-mail or name, any case) into the record's
 * owner_id (the first owner column wins): NULL, or what is wrong. */
static const char *row_owner(imp_t *im, protobuf_c_boolean *has_owner_id, int64_t *owner_id, const char *v)
{
    char *want = crm_strdup(v);
    char *w = want;
    while (*w == ' ')
        w++;
    for (char *p = w; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (size_t n = strlen(w); n > 0 && w[n - 1] == ' ';)
        w[--n] = '\0';
    if (!*w) { /* blank: the default owner */
        free(want);
        return NULL;
    }
    int64_t found = 0;
    int matches = 0;
    bool inactive = false;
    for (size_t i = 0; i < im->nusers; i++)
        if (strcmp(im->user_emails[i], w) == 0 || strcmp(im->user_names[i], w) == 0) {
            inactive |= !im->user_active[i];
            if (im->user_active[i]) {
                matches += found != im->user_ids[i];
                found = im->user_ids[i];
            }
        }
    free(want);
    if (matches != 1)
        return matches    ? "ambiguous (several users have that name):"
               : inactive ? "no active user (the user is not active) for"
                          : "no active user for";
    if (!*has_owner_id) {
        *has_owner_id = 1;
        *owner_id = found;
    }
    return NULL;
}

static void set_field(imp_t *im, Crm__ImportRow *row, const column_t *c, const char *v)
{
    crm_err_t err;
    const char *field = c->field;
    bool deal = strcmp(im->res->rtype, "deal") == 0;
    ProtobufCMessage *msg = row->lead      ? &row->lead->base
                            : row->contact ? &row->contact->base
                                           : &row->deal->base;
    char reason[256];
    if (strcmp(field, "source") == 0) {
        set_str(&row->source, v);
    } else if (strcmp(field, "tags") == 0) {
        char *copy = crm_strdup(v), *save = NULL;
        for (char *t = strtok_r(copy, ",;", &save); t; t = strtok_r(NULL, ",;", &save)) {
            while (*t == ' ')
                t++;
            size_t n = strlen(t);
            while (n && t[n - 1] == ' ')
                t[--n] = '\0';
            if (*t)
                crm_pbjson_set_field_text(msg, "tags", t, &err);
        }
        free(copy);
    } else if (strncmp(field, "address_", 8) == 0) {
        Crm__Address **a = row->lead ? &row->lead->address : &row->contact->address;
        if (!*a)
            *a = (Crm__Address *)crm_pb_new(&crm__address__descriptor);
        set_once(&(*a)->base, field + 8, v);
    } else if (strcmp(field, "is_organization") == 0 || strcmp(field, "hot") == 0) {
        int yn = yes_no(v);
        if (yn < 0 && !row->reject_reason) {
            snprintf(reason, sizeof reason, "%.20s: '%.100s' is not yes or no (column %.40s)", field, v,
                     c->header);
            row->reject_reason = crm_pb_strdup(reason);
        } else if (row->contact) {
            row->contact->has_is_organization = 1;
            row->contact->is_organization = yn == 1;
        } else if (row->deal) {
            row->deal->has_hot = 1;
            row->deal->hot = yn == 1;
        }
    } else if (row->contact && strcmp(field, "organization_name") == 0) {
        set_once(msg, "name", v);
    } else if (deal && strcmp(field, "value") == 0) {
        if (!row->deal->value_json)
            row->deal->value_json = value_json(v);
    } else if (deal && strcmp(field, "customized_win_likelihood") == 0) {
        /* 0 to 100, "40%" too (Salesforce's Probability (%)) */
        char *end = NULL;
        long pct = strtol(v, &end, 10);
        while (end && (*end == ' ' || *end == '%'))
            end++;
        if ((!end || *end || end == v || pct < 0 || pct > 100) && !row->reject_reason) {
            snprintf(reason, sizeof reason, "win likelihood '%.40s' is not 0 to 100 (column %.40s)", v,
                     c->header);
            row->reject_reason = crm_pb_strdup(reason);
        } else if (!row->deal->has_customized_win_likelihood) {
            row->deal->has_customized_win_likelihood = 1;
            row->deal->customized_win_likelihood = (int32_t)pct;
        }
    } else if (strcmp(field, "owner") == 0) {
        const char *why = row->lead ? row_owner(im, &row->lead->has_owner_id, &row->lead->owner_id, v)
                          : row->contact
                              ? row_owner(im, &row->contact->has_owner_id, &row->contact->owner_id, v)
                              : row_owner(im, &row->deal->has_owner_id, &row->deal->owner_id, v);
        if (why && !row->reject_reason) {
            snprintf(reason, sizeof reason, "%s owner '%.100s' (column %.40s)", why, v, c->header);
            row->reject_reason = crm_pb_strdup(reason);
        }
    } else if (deal && strcmp(field, "loss_reason") == 0) {
        set_str(&row->loss_reason_name, v);
    } else if (deal && strcmp(field, "stage") == 0) {
        set_str(&row->stage_name, v);
    } else if (deal && strcmp(field, "pipeline") == 0) {
        set_str(&row->pipeline_name, v);
    } else if (deal && strcmp(field, "contact_name") == 0) {
        set_str(&row->contact_name, v);
    } else if (deal && strcmp(field, "contact_email") == 0) {
        set_str(&row->contact_email, v);
    } else {
        set_once(msg, field, v);
    }
}

/* Maps one record into a batch row (or a row carrying the reason it is refused). */
static Crm__ImportRow *map_row(imp_t *im, const crm_csv_record_t *rec)
{
    Crm__ImportRow *row = (Crm__ImportRow *)crm_pb_new(&crm__import_row__descriptor);
    row->has_line = 1;
    row->line = rec->line;
    char reason[200];
    if (rec->error) {
        snprintf(reason, sizeof reason, "%s (column %zu)", rec->error, rec->error_field + 1);
        row->reject_reason = crm_pb_strdup(reason);
        return row;
    }
    if (rec->nfields != im->ncols) {
        snprintf(reason, sizeof reason, "%zu fields, the header has %zu", rec->nfields, im->ncols);
        row->reject_reason = crm_pb_strdup(reason);
        return row;
    }
    if (strcmp(im->res->rtype, "lead") == 0)
        row->lead = (Crm__Lead *)crm_pb_new(&crm__lead__descriptor);
    else if (strcmp(im->res->rtype, "contact") == 0)
        row->contact = (Crm__Contact *)crm_pb_new(&crm__contact__descriptor);
    else
        row->deal = (Crm__Deal *)crm_pb_new(&crm__deal__descriptor);
    row->custom_values = calloc(im->ncustom + 1, sizeof *row->custom_values);
    row->n_custom_values = im->ncustom;
    row->flags = calloc(im->ncols + 1, sizeof *row->flags);
    for (size_t i = 0; i < im->ncols; i++) {
        const column_t *c = &im->cols[i];
        const char *v = rec->fields[i];
        if (crm_csv_formula_like(v)) {
            char flag[160];
            snprintf(flag, sizeof flag, "formula:%.140s", c->header);
            row->flags[row->n_flags++] = crm_pb_strdup(flag);
        }
        if (c->custom >= 0)
            row->custom_values[c->custom] = crm_pb_strdup(v);
        else if (c->field && *v)
            set_field(im, row, c, v);
    }
    for (size_t k = 0; k < im->ncustom; k++)
        if (!row->custom_values[k])
            row->custom_values[k] = crm_pb_strdup("");
    if (row->n_flags > 0) {
        im->flagged++;
        if (im->nflagged_lines < 10)
            im->flagged_lines[im->nflagged_lines++] = rec->line;
    }
    return row;
}

/* ---- the file's identity ------------------------------------------------------------------------- */

static int file_id(const char *path, const char *resource, char out[64], int64_t *size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    static unsigned char buf[1 << 16];
    ssize_t n;
    *size = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)n);
        *size += n;
    }
    unsigned char dig[32];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, dig, &dlen);
    EVP_MD_CTX_free(md);
    close(fd);
    if (n < 0)
        return -1;
    char hex[65];
    crm_hex_encode(dig, 16, hex);
    snprintf(out, 64, "%.20s-%.32s", resource, hex);
    return 0;
}

/* ---- owner ----------------------------------------------------------------------------------------- */

/* Resolves --owner to a user id or a lead pool id, in the database (like crmctl user/token). */
static int resolve_owner(crmctl_t *ctx, const char *rtype, const char *owner, int64_t *user_id,
                         int64_t *pool_id)
{
    *user_id = *pool_id = 0;
    if (!owner)
        return CRMCTL_OK;
    const char *url = crm_config_str(ctx->config, "database.url", "postgresql://postgres@127.0.0.1:5432/crm");
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "crmctl: import: cannot connect with database.url: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return CRMCTL_FAIL;
    }
    bool pool = strncmp(owner, "pool:", 5) == 0;
    const char *p[] = {pool ? owner + 5 : owner, rtype};
    PGresult *res = PQexecParams(conn,
                                 pool ? "SELECT id, resource_type FROM assign.pools WHERE name = $1 ORDER BY "
                                        "(resource_type = $2) DESC, id LIMIT 1"
                                      : "SELECT id, status FROM assign.users WHERE lower(email) = lower($1)",
                                 pool ? 2 : 1, NULL, p, NULL, NULL, 0);
    int rc = CRMCTL_FAIL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "crmctl: import: --owner: %s", PQresultErrorMessage(res));
    else if (PQntuples(res) == 0)
        fprintf(stderr, "crmctl: import: --owner: no %s named %s\n", pool ? "pool" : "user with e-mail",
                p[0]);
    else if (pool && strcmp(PQgetvalue(res, 0, 1), rtype) != 0)
        fprintf(stderr, "crmctl: import: --owner: pool %s is a %s pool, not a %s pool\n", p[0],
                PQgetvalue(res, 0, 1), rtype);
    else if (!pool && strcmp(PQgetvalue(res, 0, 1), "active") != 0)
        fprintf(stderr, "crmctl: import: --owner: user %s is %s\n", p[0], PQgetvalue(res, 0, 1));
    else {
        *(pool ? pool_id : user_id) = atoll(PQgetvalue(res, 0, 0));
        rc = CRMCTL_OK;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* The active users, for a deals file with an owner column (read from the database like --owner). */
static int load_users(crmctl_t *ctx, imp_t *im)
{
    const char *url = crm_config_str(ctx->config, "database.url", "postgresql://postgres@127.0.0.1:5432/crm");
    PGconn *conn = PQconnectdb(url);
    PGresult *res =
        PQstatus(conn) == CONNECTION_OK
            ? PQexec(conn, "SELECT id, lower(email), lower(name), status = 'active' FROM assign.users "
                           "ORDER BY id")
            : NULL;
    int rc = CRMCTL_FAIL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "crmctl: import: the owner column needs the users: %s",
                res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    } else {
        im->nusers = (size_t)PQntuples(res);
        im->user_ids = calloc(im->nusers + 1, sizeof *im->user_ids);
        im->user_emails = calloc(im->nusers + 1, sizeof *im->user_emails);
        im->user_names = calloc(im->nusers + 1, sizeof *im->user_names);
        im->user_active = calloc(im->nusers + 1, sizeof *im->user_active);
        for (size_t i = 0; i < im->nusers; i++) {
            im->user_active[i] = PQgetvalue(res, (int)i, 3)[0] == 't';
            im->user_ids[i] = atoll(PQgetvalue(res, (int)i, 0));
            im->user_emails[i] = crm_strdup(PQgetvalue(res, (int)i, 1));
            im->user_names[i] = crm_strdup(PQgetvalue(res, (int)i, 2));
        }
        rc = CRMCTL_OK;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* ---- progress ----------------------------------------------------------------------------------- */

typedef struct {
    bool tty;
    int64_t start_us, last_us;
    int64_t size, start_offset, start_read;
} progress_t;

static void progress(imp_t *im, progress_t *pg, uint64_t offset, bool final)
{
    int64_t now = crm_mono_us();
    if (!final && now - pg->last_us < 1000000)
        return;
    pg->last_us = now;
    double secs = (double)(now - pg->start_us) / 1e6;
    double rate = secs > 0 ? (double)(im->read - pg->start_read) / secs : 0;
    double frac = pg->size > 0 ? (double)offset / (double)pg->size : 1;
    double bps = secs > 0 ? (double)((int64_t)offset - pg->start_offset) / secs : 0;
    double eta = bps > 0 ? (double)(pg->size - (int64_t)offset) / bps : 0;
    if (pg->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %3.0f%% %lld rows, %.0f rows/s, %lld rejected, ETA %d:%02d   ", bar,
                frac * 100, (long long)im->read, rate, (long long)im->rejected, (int)eta / 60, (int)eta % 60);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr,
                "{\"progress\":%.4f,\"rows\":%lld,\"rows_per_s\":%.0f,\"created\":%lld,\"merged\":%lld,"
                "\"duplicates\":%lld,\"rejected\":%lld,\"eta_s\":%.0f,\"last\":%s}\n",
                frac, (long long)im->read, rate, (long long)im->created, (long long)im->merged,
                (long long)im->duplicates, (long long)im->rejected, eta, final ? "true" : "false");
    }
    fflush(stderr);
}

/* ---- the run ------------------------------------------------------------------------------------- */

typedef struct {
    crm_rpc_client_t *rpc;
    char batch_method[64]; /* <service>.import_batch */
    Crm__ImportBatch *b;
    char **raw; /* the rows as CSV text, for the rejected file */
} sender_t;

static int send_batch(imp_t *im, sender_t *s)
{
    Crm__ImportBatchReply *rep = NULL;
    crm_err_t err = {0};
    crm_rpc_caller_t caller = {.role = "system"};
    int rc = CRM_EUNAVAILABLE;
    for (int attempt = 0; attempt < 6 && rc == CRM_EUNAVAILABLE; attempt++) {
        if (attempt > 0) {
            fprintf(stderr, "crmctl: import: %s; retrying\n", err.message);
            crm_sleep_ms(1000L * attempt);
        }
        rc = crm_rpc_call(s->rpc, s->batch_method, &caller, &s->b->base, &crm__import_batch_reply__descriptor,
                          IMPORT_RPC_TIMEOUT_MS, (ProtobufCMessage **)&rep, &err);
    }
    if (rc != CRM_OK) {
        fprintf(stderr, "\ncrmctl: import: %s failed: %s%s%s\n", s->batch_method, err.message,
                *err.field ? " at " : "", err.field);
        return CRMCTL_FAIL;
    }
    im->created += rep->created;
    im->merged += rep->merged;
    im->duplicates += rep->duplicates;
    im->rejected += rep->rejected;
    im->skipped += rep->skipped;
    for (size_t i = 0; i < rep->n_rejects; i++) {
        const char *raw = NULL;
        for (size_t k = 0; k < s->b->n_rows; k++)
            if (s->b->rows[k]->line == rep->rejects[i]->line)
                raw = s->raw[k];
        write_reject(im, (long)rep->rejects[i]->line, rep->rejects[i]->reason, raw);
    }
    for (size_t i = 0; i < rep->n_unknown_columns && !im->unknown; i++) {
        im->unknown = calloc(rep->n_unknown_columns, sizeof *im->unknown);
        for (size_t k = 0; k < rep->n_unknown_columns; k++)
            im->unknown[im->nunknown++] = crm_strdup(rep->unknown_columns[k]);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CRMCTL_OK;
}

static void batch_reset(sender_t *s)
{
    for (size_t i = 0; i < s->b->n_rows; i++) {
        protobuf_c_message_free_unpacked(&s->b->rows[i]->base, NULL);
        free(s->raw[i]);
    }
    s->b->n_rows = 0;
}

static Crm__ImportStatus *get_status(crm_rpc_client_t *rpc, const char *service, const char *id)
{
    Crm__ImportStatusRequest req = CRM__IMPORT_STATUS_REQUEST__INIT;
    req.import_id = (char *)id;
    Crm__ImportStatus *st = NULL;
    crm_err_t err = {0};
    crm_rpc_caller_t caller = {.role = "system"};
    char method[64];
    snprintf(method, sizeof method, "%s.import_status", service);
    if (crm_rpc_call(rpc, method, &caller, &req.base, &crm__import_status__descriptor, 10000,
                     (ProtobufCMessage **)&st, &err) != CRM_OK) {
        fprintf(stderr, "crmctl: import: %s failed: %s\n", method, err.message);
        return NULL;
    }
    return st;
}

static void summary(imp_t *im, const char *id, const Crm__ImportStatus *st, bool finished)
{
    printf("%simport %s of %s: %s\n", im->dry_run ? "dry run: " : "", id, im->path,
           interrupted && !finished ? "interrupted (run the same command again to resume)"
           : finished               ? "finished"
                                    : "stopped");
    printf("  this run: %lld rows read, %lld created, %lld merged into existing %s, %lld duplicates "
           "within the file, %lld rejected, %lld already imported\n",
           (long long)im->read, (long long)im->created, (long long)im->merged, im->res->arg,
           (long long)im->duplicates, (long long)im->rejected, (long long)im->skipped);
    if (st && st->found && !im->dry_run)
        printf("  whole import: %lld created, %lld merged, %lld duplicates, %lld rejected, up to line %lld\n",
               (long long)st->created, (long long)st->merged, (long long)st->duplicates,
               (long long)st->rejected, (long long)st->last_line);
    if (im->rejected > 0 || (st && st->rejected > 0))
        printf("  rejected rows: %s\n", im->rejects_path);
    if (im->flagged > 0) {
        printf("  %lld rows with formula-like cells (kept as text), lines", (long long)im->flagged);
        for (size_t i = 0; i < im->nflagged_lines; i++)
            printf("%s %ld", i ? "," : "", im->flagged_lines[i]);
        printf("%s\n", im->flagged > (int64_t)im->nflagged_lines ? ", ..." : "");
    }
    if (im->nunknown > 0) {
        printf("  columns not imported (no such field or custom field):");
        for (size_t i = 0; i < im->nunknown; i++)
            printf("%s %s", i ? "," : "", im->unknown[i]);
        printf("\n");
    }
}

static Crm__ImportBatch *new_batch(const imp_t *im, const char *id, int64_t owner_id, int64_t pool_id,
                                   int64_t size)
{
    Crm__ImportBatch *b = (Crm__ImportBatch *)crm_pb_new(&crm__import_batch__descriptor);
    b->import_id = crm_pb_strdup(id);
    b->resource_type = crm_pb_strdup(im->res->rtype);
    b->file_name = crm_pb_strdup(im->path);
    b->has_owner_id = b->has_pool_id = b->has_dry_run = b->has_last_line = b->has_end_offset = 1;
    b->owner_id = owner_id;
    b->pool_id = pool_id;
    b->dry_run = im->dry_run;
    b->has_total_bytes = 1;
    b->total_bytes = size;
    b->source = crm_pb_strdup(im->source ? im->source : "import");
    b->custom_columns = calloc(im->ncustom + 1, sizeof *b->custom_columns);
    for (size_t i = 0; i < im->ncustom; i++)
        b->custom_columns[b->n_custom_columns++] = crm_pb_strdup(im->custom[i]);
    b->rows = calloc((size_t)im->batch, sizeof *b->rows);
    return b;
}

/* The sender thread: stores one batch at a time (send_batch, then empties it) while the main
 * thread reads and maps the next. The main thread touches the counters send_batch moves only
 * while the sender is idle (after pipe_wait). */
typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    imp_t *im;
    sender_t *job; /* the batch being sent, NULL when idle */
    bool quit;
    int rc; /* of the last batch sent */
} pipe_t;

static void *pipe_main(void *arg)
{
    pipe_t *p = arg;
    sigset_t block; /* Ctrl-C is the main thread's: it stops reading, this batch completes */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->job && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->job)
            break;
        sender_t *s = p->job;
        pthread_mutex_unlock(&p->mu);
        int rc = send_batch(p->im, s);
        batch_reset(s);
        pthread_mutex_lock(&p->mu);
        p->rc = rc;
        p->job = NULL;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Waits until the sender is idle; the result of the last batch it sent. */
static int pipe_wait(pipe_t *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->job)
        pthread_cond_wait(&p->cv, &p->mu);
    int rc = p->rc;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void pipe_send(pipe_t *p, sender_t *s)
{
    pthread_mutex_lock(&p->mu);
    p->job = s;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int import_file(crmctl_t *ctx, imp_t *im)
{
    char id[64];
    int64_t size = 0;
    if (file_id(im->path, im->res->rtype, id, &size) < 0) {
        fprintf(stderr, "crmctl: import: cannot read %s: %s\n", im->path, strerror(errno));
        return CRMCTL_FAIL;
    }
    int64_t owner_id = 0, pool_id = 0;
    if (resolve_owner(ctx, im->res->rtype, im->owner, &owner_id, &pool_id) != CRMCTL_OK)
        return CRMCTL_FAIL;
    const char *eps[16];
    char key[64], bind_key[64];
    snprintf(key, sizeof key, "%s.rpc_endpoints", im->res->service);
    snprintf(bind_key, sizeof bind_key, "%s.rpc_bind", im->res->service);
    size_t neps = crm_config_len(ctx->config, key);
    for (size_t i = 0; i < neps && i < 16; i++)
        eps[i] = crm_config_list_str(ctx->config, key, i);
    if (neps == 0) {
        eps[0] = crm_config_str(ctx->config, bind_key,
                                strcmp(im->res->service, "deals") == 0 ? "tcp://127.0.0.1:7112"
                                                                       : "tcp://127.0.0.1:7111");
        neps = 1;
    }
    void *zctx = zmq_ctx_new();
    crm_err_t err = {0};
    sender_t s = {0}, s2 = {0};
    snprintf(s.batch_method, sizeof s.batch_method, "%s.import_batch", im->res->service);
    s.rpc = crm_rpc_client_new(zctx, eps, neps > 16 ? 16 : neps, &err);
    int rc = s.rpc ? CRMCTL_OK : CRMCTL_FAIL;
    Crm__ImportStatus *st = rc == CRMCTL_OK ? get_status(s.rpc, im->res->service, id) : NULL;
    rc = st ? CRMCTL_OK : CRMCTL_FAIL;
    int fd = rc == CRMCTL_OK ? open(im->path, O_RDONLY) : -1;
    if (rc == CRMCTL_OK && st->found && st->finished_at && !im->dry_run) {
        printf("import %s of %s: already finished at %s\n", id, im->path, st->finished_at);
        summary(im, id, st, true);
        goto done;
    }
    bool resume = rc == CRMCTL_OK && st->found && st->last_line > 0 && !im->dry_run;
    if (rc == CRMCTL_OK && fd < 0)
        rc = CRMCTL_FAIL;
    snprintf(im->rejects_path, sizeof im->rejects_path, "%s.rejected.csv", im->path);
    crm_csv_t *csv = rc == CRMCTL_OK ? crm_csv_new_fd(fd, 0, 0) : NULL;
    crm_csv_record_t rec;
    int got = csv ? crm_csv_next(csv, &rec) : -1;
    if (got <= 0) {
        if (rc == CRMCTL_OK)
            fprintf(stderr, "crmctl: import: %s has no header line\n", im->path);
        rc = CRMCTL_FAIL;
    } else if (rec.error) {
        fprintf(stderr, "crmctl: import: %s: bad header line: %s\n", im->path, rec.error);
        rc = CRMCTL_FAIL;
    }
    if (rc == CRMCTL_OK) {
        map_header(im, &rec);
        for (size_t i = 0; i < im->ncols && rc == CRMCTL_OK; i++)
            if (im->cols[i].field && strcmp(im->cols[i].field, "owner") == 0 && !im->user_ids)
                rc = load_users(ctx, im);
    }
    if (rc == CRMCTL_OK) {
        im->sep = crm_csv_separator(csv);
        im->rejects = fopen(im->rejects_path, resume ? "a" : "w");
        if (im->rejects && !resume) {
            char *h = raw_line(&rec);
            fprintf(im->rejects, "\"line\",\"reason\",%s\n", h);
            free(h);
        }
        if (resume) {
            /* Skip what is stored: seek to the byte after the last stored batch. */
            crm_csv_free(&csv);
            if (lseek(fd, (off_t)st->end_offset, SEEK_SET) < 0) {
                rc = CRMCTL_FAIL;
            } else {
                csv = crm_csv_new_fd(fd, 0, im->sep);
                crm_csv_resume(csv, st->last_line + 1, st->end_offset);
                fprintf(stderr, "crmctl: import %s: resuming after line %lld\n", id,
                        (long long)st->last_line);
            }
        }
    }
    /* Two batches: crmctl maps the next while the sender thread has the previous in flight. */
    s2.rpc = s.rpc;
    memcpy(s2.batch_method, s.batch_method, sizeof s2.batch_method);
    s.b = new_batch(im, id, owner_id, pool_id, size);
    s.raw = calloc((size_t)im->batch, sizeof *s.raw);
    s2.b = new_batch(im, id, owner_id, pool_id, size);
    s2.raw = calloc((size_t)im->batch, sizeof *s2.raw);
    pipe_t pp = {.im = im, .rc = CRMCTL_OK};
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    bool started = rc == CRMCTL_OK && pthread_create(&pp.th, NULL, pipe_main, &pp) == 0;
    if (!started)
        rc = CRMCTL_FAIL;
    sender_t *cur = &s;

    progress_t pg = {.tty = isatty(2), .start_us = crm_mono_us(), .size = size};
    pg.start_offset = resume ? (int64_t)st->end_offset : 0;
    bool finished = false;
    uint64_t offset = (uint64_t)pg.start_offset;
    while (rc == CRMCTL_OK && !interrupted) {
        got = crm_csv_next(csv, &rec);
        if (got < 0) {
            fprintf(stderr, "crmctl: import: reading %s: %s\n", im->path, strerror(errno));
            rc = CRMCTL_FAIL;
            break;
        }
        if (got == 1) {
            im->read++;
            Crm__ImportRow *row = map_row(im, &rec);
            cur->raw[cur->b->n_rows] = raw_line(&rec);
            cur->b->rows[cur->b->n_rows++] = row;
            cur->b->last_line = rec.end_line;
            cur->b->end_offset = rec.end_offset;
            offset = rec.end_offset;
        }
        if (cur->b->n_rows == (size_t)im->batch || got == 0) {
            cur->b->has_final = 1;
            cur->b->final = got == 0;
            rc = pipe_wait(&pp); /* the previous batch is stored (batches go one at a time, in order) */
            if (rc != CRMCTL_OK)
                break;
            progress(im, &pg, offset, false);
            pipe_send(&pp, cur);
            cur = cur == &s ? &s2 : &s;
            if (got == 0) {
                rc = pipe_wait(&pp);
                finished = rc == CRMCTL_OK;
                break;
            }
        }
    }
    /* Ctrl-C: the batch in flight completes; the rows read since are not sent (the rerun reads
     * them again). */
    if (started) {
        int last = pipe_wait(&pp);
        rc = rc == CRMCTL_OK ? last : rc;
        pthread_mutex_lock(&pp.mu);
        pp.quit = true;
        pthread_cond_broadcast(&pp.cv);
        pthread_mutex_unlock(&pp.mu);
        pthread_join(pp.th, NULL);
    }
    pthread_mutex_destroy(&pp.mu);
    pthread_cond_destroy(&pp.cv);
    progress(im, &pg, offset, true);
    crm_csv_free(&csv);
    if (st) {
        protobuf_c_message_free_unpacked(&st->base, NULL);
        st = s.rpc && !im->dry_run ? get_status(s.rpc, im->res->service, id) : NULL;
    }
    if (rc == CRMCTL_OK || interrupted)
        summary(im, id, st, finished);
    if (interrupted && rc == CRMCTL_OK)
        rc = CRMCTL_FAIL;
done:
    if (fd >= 0)
        close(fd);
    if (im->rejects)
        fclose(im->rejects);
    sender_t *both[] = {&s, &s2};
    for (int i = 0; i < 2; i++) {
        if (both[i]->b) {
            batch_reset(both[i]);
            protobuf_c_message_free_unpacked(&both[i]->b->base, NULL);
        }
        free(both[i]->raw);
    }
    if (st)
        protobuf_c_message_free_unpacked(&st->base, NULL);
    if (s.rpc)
        crm_rpc_client_destroy(&s.rpc);
    zmq_ctx_term(zctx);
    return rc;
}

static int import_run(crmctl_t *ctx, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        import_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CRMCTL_USAGE : CRMCTL_OK;
    }
    imp_t im = {.batch = IMPORT_DEFAULT_BATCH};
    for (size_t i = 0; i < sizeof resources / sizeof resources[0]; i++)
        if (strcmp(argv[1], resources[i].arg) == 0)
            im.res = &resources[i];
    if (!im.res)
        return crmctl_usage_error("import leads|contacts|deals FILE.csv (got '%s')", argv[1]);
    im.maps = calloc((size_t)argc, sizeof *im.maps);
    int rc = CRMCTL_OK;
    for (int i = 2; i < argc && rc == CRMCTL_OK; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--dry-run") == 0) {
            im.dry_run = true;
        } else if (strcmp(a, "--owner") == 0 && has_value) {
            im.owner = argv[++i];
        } else if (strcmp(a, "--source") == 0 && has_value) {
            im.source = argv[++i];
        } else if (strcmp(a, "--batch") == 0 && has_value) {
            int64_t n = 0;
            if (!crm_parse_i64(argv[++i], &n) || n < 1 || n > 10000)
                rc = crmctl_usage_error("--batch takes 1 to 10000");
            im.batch = (int)n;
        } else if (strcmp(a, "--map") == 0 && has_value) {
            const char *m = argv[++i];
            const char *eq = strchr(m, '=');
            if (!eq || eq == m)
                rc = crmctl_usage_error("--map takes COL=FIELD, got '%s'", m);
            im.maps[im.nmaps++] = m;
        } else if (a[0] != '-' && !im.path) {
            im.path = a;
        } else {
            rc = crmctl_usage_error("unexpected or incomplete argument '%s'", a);
        }
    }
    if (rc == CRMCTL_OK && !im.path)
        rc = crmctl_usage_error("import %s needs FILE.csv", im.res->arg);
    if (rc == CRMCTL_OK) {
        struct sigaction sa = {.sa_handler = on_sigint};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = import_file(ctx, &im);
    }
    for (size_t i = 0; i < im.ncols; i++)
        free(im.cols[i].header);
    for (size_t i = 0; i < im.ncustom; i++)
        free(im.custom[i]);
    for (size_t i = 0; i < im.nunknown; i++)
        free(im.unknown[i]);
    for (size_t i = 0; i < im.nusers; i++) {
        free(im.user_emails[i]);
        free(im.user_names[i]);
    }
    free(im.user_ids);
    free(im.user_emails);
    free(im.user_names);
    free(im.user_active);
    free(im.cols);
    free(im.custom);
    free(im.header);
    free(im.unknown);
    free(im.maps);
    return rc;
}

const crmctl_command_t crmctl_import_command = {
    .name = "import",
    .summary = "import leads|contacts|deals FILE.csv: bulk CSV import with progress, resumable",
    .run = import_run,
    .help = import_help,
};

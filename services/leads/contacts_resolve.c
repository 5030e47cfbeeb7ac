/* crm-leads RPC contacts.resolve (read-only, for importers: crm-deals' deals.import_batch): finds
 * many contacts at once by e-mail or by name, in one query per kind.
 *
 * Request: crm.ContactList whose items each carry an email (wins) or a name ("First Last" of a
 * person, or an organization's name); matching is case-insensitive (lower()), blanks trimmed. Reply:
 * crm.ContactList with one item per request item, in order: the contact found (id, owner_id,
 * name, first_name, last_name, email, is_organization; the oldest one when several match), or an
 * empty Contact (no id) when none does. Admins and the system only (they see every contact). */
#include "leads.h"

#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"

#define RESOLVE_MAX 20000

static Crm__Contact *found_contact(const PGresult *res, int r)
{
    Crm__Contact *c = (Crm__Contact *)crm_pb_new(&crm__contact__descriptor);
    crm_row_i64(res, r, 1, &c->has_id, &c->id);
    crm_row_i64(res, r, 2, &c->has_owner_id, &c->owner_id);
    c->name = crm_row_str(res, r, 3);
    c->first_name = crm_row_str(res, r, 4);
    c->last_name = crm_row_str(res, r, 5);
    c->email = crm_row_str(res, r, 6);
    crm_row_bool(res, r, 7, &c->has_is_organization, &c->is_organization);
    return c;
}

/* Runs one lookup over keys and fills each reply slot whose key_of[i] is a row's key (column 0);
 * a linear pass per row: a call carries one import batch (a few thousand items). */
static int lookup(crm_db_t *db, const char *stmt, const char *sql, char **keys, size_t nkeys, char **key_of,
                  size_t n, Crm__ContactList *rep, crm_err_t *err)
{
    if (nkeys == 0)
        return CRM_OK;
    char *arr = crm_param_text_array(keys, nkeys);
    const char *p[] = {arr};
    PGresult *res = crm_db_exec(db, stmt, sql, 1, p, err);
    free(arr);
    if (!res)
        return err->code;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *k = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n; i++)
            if (key_of[i] && !rep->items[i]->has_id && strcmp(key_of[i], k) == 0) {
                protobuf_c_message_free_unpacked(&rep->items[i]->base, NULL);
                rep->items[i] = found_contact(res, r);
            }
    }
    PQclear(res);
    return CRM_OK;
}

#define FOUND_COLS "c.id, c.owner_id, c.name, c.first_name, c.last_name, c.email, c.is_organization"

static int contacts_resolve(void *arg, const crm_rpc_ctx_t *ctx, const ProtobufCMessage *in_,
                            ProtobufCMessage **out, crm_err_t *err)
{
    (void)arg;
    if (strcmp(ctx->role, "admin") != 0 && strcmp(ctx->role, "system") != 0)
        return crm_err_set(err, CRM_EFORBIDDEN, NULL, "forbidden",
                           "contacts.resolve is for importers (admin)");
    const Crm__ContactList *in = (const Crm__ContactList *)in_;
    size_t n = in->n_items;
    if (n > RESOLVE_MAX)
        return crm_err_set(err, CRM_EINVALID, "/items", "too_long", "at most %d contacts per call",
                           RESOLVE_MAX);
    Crm__ContactList *rep = (Crm__ContactList *)crm_pb_new(&crm__contact_list__descriptor);
    rep->items = calloc(n + 1, sizeof *rep->items);
    rep->n_items = n;
    char **email_of = calloc(n + 1, sizeof *email_of),
         **name_of = calloc(n + 1, sizeof *name_of); /* borrowed */
    char **emails = calloc(n + 1, sizeof *emails), **names = calloc(n + 1, sizeof *names);
    size_t ne = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        rep->items[i] = (Crm__Contact *)crm_pb_new(&crm__contact__descriptor);
        const Crm__Contact *q = in->items[i];
        if (q->email && *q->email) {
            email_of[i] = q->email;
            emails[ne++] = email_of[i];
        } else if (q->name && *q->name) {
            name_of[i] = q->name;
            names[nn++] = name_of[i];
        }
    }
    int rc = lookup(ctx->db, "contacts_resolve_email",
                    "SELECT DISTINCT ON (q.k) q.k, " FOUND_COLS
                    " FROM unnest($1::text[]) q(k) JOIN contacts c ON lower(c.email) = lower(btrim(q.k)) "
                    "ORDER BY q.k, c.id",
                    emails, ne, email_of, n, rep, err);
    if (rc == CRM_OK)
        rc = lookup(
            ctx->db, "contacts_resolve_name",
            "SELECT DISTINCT ON (q.k) q.k, " FOUND_COLS
            " FROM unnest($1::text[]) q(k) JOIN contacts c ON lower(btrim(CASE WHEN c.is_organization THEN "
            "coalesce(c.name, '') ELSE concat_ws(' ', nullif(btrim(c.first_name), ''), "
            "nullif(btrim(c.last_name), "
            "'')) END)) = lower(btrim(q.k)) ORDER BY q.k, c.id",
            names, nn, name_of, n, rep, err);
    free(email_of);
    free(name_of);
    free(emails);
    free(names);
    if (rc != CRM_OK) {
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        return rc;
    }
    *out = &rep->base;
    return CRM_OK;
}

void leads_contacts_resolve_register(leads_t *self)
{
    crm_rpc_server_handle(self->daemon->rpc, "contacts.resolve", &crm__contact_list__descriptor,
                          contacts_resolve, self);
}

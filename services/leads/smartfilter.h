/* The smart list filter compiler (SPEC C3): a JSON object of conditions over lead attributes,
 * custom fields, owner, status, tags, created/updated ranges, last activity and days since the
 * last activity becomes one SQL boolean expression over table `leads` whose values are all
 * statement parameters ($n), never pasted into the text. Pure: no database access, so it is
 * unit-tested and fuzzed on its own.
 *
 * Filter shape (every key optional, all conditions ANDed):
 *   "<int attribute>":  5 | [5, 6] | {"eq"|"ne"|"gt"|"gte"|"lt"|"lte": 5, "in": [..], "is_null": bool}
 *       id, owner_id, creator_id, source_id, unqualified_reason_id
 *   "<text attribute>": "x" | ["x", "y"] | {"eq"|"ne": "x", "in": [..], "contains": "x",
 *                        "starts_with": "x", "is_null": bool}   (contains/starts_with ignore case)
 *       status, first_name, last_name, organization_name, title, description, industry, website,
 *       email, phone, mobile, fax, twitter, facebook, linkedin, skype, address_line1, address_city,
 *       address_postal_code, address_state, address_country
 *   "created_at" | "updated_at" | "last_activity_at":
 *       {"from"|"gte"|"gt"|"to"|"lte"|"lt": "<ISO 8601>", "within_days": n, "is_null": bool}
 *   "days_since_last_activity" (alias "days_since_last_communication"): n | {"gte"|"gt"|"lte"|"lt": n}
 *       days since the latest timeline row of the lead (its creation when it has none)
 *   "tags": "vip" | ["vip", "hot"] (all of them) | {"all": [..], "any": [..], "none": [..]}
 *   "custom_fields": {"<name>": "v" | 12 | true | ["a", "b"] (any of) |
 *                     {"eq": v, "in": [..], "contains": "choice", "gt"|"gte"|"lt"|"lte": n or "text",
 *                      "from"|"to": "text", "is_null": bool}}
 *   "converted": true | false (converted leads; a smart list without this key leaves them out)
 * Anything else is a CRM_EINVALID error naming "/filter/<key>[/<op>]". */
#ifndef LEADS_SMARTFILTER_H
#define LEADS_SMARTFILTER_H

#include <jansson.h>
#include "crm/err.h"

#define LEADS_FILTER_MAX_PARAMS 64

typedef struct {
    char *sql;                             /* "TRUE" when the filter is empty; malloc'd */
    char *params[LEADS_FILTER_MAX_PARAMS]; /* malloc'd texts, NULL = SQL NULL */
    int nparams;
    int first; /* number of the first parameter ($first) */
} leads_filter_t;

/* Compiles filter (an object, or NULL/null for "everything") into out; parameters are numbered
 * from first_param. Returns CRM_OK or CRM_EINVALID (out is then empty). */
int leads_filter_compile(const json_t *filter, int first_param, leads_filter_t *out, crm_err_t *err);
/* The same for resource_type "lead" (as above, over table leads) or "contact" (over table
 * contacts: the attributes of a contact — is_organization true/false, contact_id,
 * parent_organization_id, name, customer_status, prospect_status besides the shared ones; no
 * status, organization_name, source_id, unqualified_reason_id nor converted). */
int leads_filter_compile_for(const char *resource_type, const json_t *filter, int first_param,
                             leads_filter_t *out, crm_err_t *err);
void leads_filter_clear(leads_filter_t *f);

/* The last-activity expression the filter uses (for ORDER BY). */
#define LEADS_LAST_ACTIVITY_SQL                                                                              \
    "(SELECT max(la.created_at) FROM lead_activities la WHERE la.lead_id = leads.id)"
#define LEADS_CONTACT_LAST_ACTIVITY_SQL                                                                      \
    "(SELECT max(ca.created_at) FROM contact_activities ca WHERE ca.contact_id = contacts.id)"

#endif

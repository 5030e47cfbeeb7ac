/* The gateway's inbound form body parser: urlencoded or JSON form posts → the contact fields
 * of a crm.LeadCaptured, with the mapping and validation of WEBHOOK_SOURCES.md ("Plain HTML
 * forms" and answer-policy steps 5 and 8). Pure functions: no I/O, no shared state. */
#ifndef GW_FORM_H
#define GW_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include "crm/err.h"
#include "leads.pb-c.h"

typedef enum {
    GW_FORM_UNSUPPORTED = 0, /* → 415 */
    GW_FORM_URLENCODED,      /* application/x-www-form-urlencoded */
    GW_FORM_JSON,            /* application/json (and application/<x>+json) */
    GW_FORM_MULTIPART,       /* multipart/form-data: recognised but not parsed; the gateway
                              * answers 415 before calling gw_form_parse (never 400/500) */
} gw_form_type_t;

/* The body type from a Content-Type header value. The media type is case-insensitive and may
 * carry parameters ("application/json; charset=UTF-8"); a charset other than UTF-8 or US-ASCII,
 * a NULL or an unknown type give GW_FORM_UNSUPPORTED. */
gw_form_type_t gw_form_content_type(const char *content_type);

/* Parses a form body of the given type into out's contact fields: first_name, last_name,
 * organization_name, email, phone, title, description, tags. out must be initialised
 * (CRM__LEAD_CAPTURED__INIT) with those fields unset; the other fields are not touched. Every
 * string and the tags array are malloc'd, so crm__lead_captured__free_unpacked (or
 * gw_form_clear for a message on the stack) frees them.
 *
 * Field names, case-insensitive: first_name/firstname/fname, last_name/lastname/lname,
 * name/full_name (split at the last space; fills only the parts not given), email/e-mail/
 * work_email, phone/phone_number/tel, company/organization_name/organization, title/job_title,
 * message/description/comments, interests (repeated, or a JSON array) → tags. Other keys are
 * ignored. A single-valued field takes its first non-empty value. Values are trimmed of
 * surrounding whitespace and otherwise kept verbatim; an empty value is absent.
 *
 * Returns CRM_OK, or (out's contact fields then left unset):
 * - CRM_EBADREQUEST (→ 400) for a malformed body: invalid UTF-8, a bad percent escape, a NUL
 *   byte, JSON that does not parse, duplicate JSON keys, a JSON value that is not an object,
 *   nesting deeper than 2048; also for GW_FORM_MULTIPART / GW_FORM_UNSUPPORTED (callers
 *   answer 415 before calling).
 * - CRM_EINVALID (→ 422) naming the field: "/last_name" (reason "missing") when there is none
 *   of last name, organization, e-mail, phone; "/email" (reason "incorrect_value") for an
 *   implausible address; "/<key>" (reason "invalid_type") for a JSON object, array or boolean
 *   where text is expected.
 * With neither last name nor organization, last_name is taken from the e-mail's local part,
 * else from the phone. */
int gw_form_parse(gw_form_type_t type, const char *body, size_t len, Crm__LeadCaptured *out, crm_err_t *err);

/* Frees and unsets the contact fields gw_form_parse fills (for a message not on the heap). */
void gw_form_clear(Crm__LeadCaptured *lc);

/* True for a plausible e-mail address: one '@', non-empty local part and domain, the domain
 * holds a dot (not first or last, no empty label), no whitespace or control characters, at
 * most 254 bytes. */
bool gw_form_email_ok(const char *email);

#endif

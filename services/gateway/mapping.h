/* Inbound payloads → crm.LeadCaptured (WEBHOOK_SOURCES.md, "Sources, one by one" and answer
 * policy steps 6–8): JSON pointers, the configured field mapping of a source, the extractors
 * of each sender type (Zendesk, Intercom, Sunshine Conversations, LiveChat, Typeform, Webflow,
 * generic JSON) and the contact rules. Pure functions: no I/O, no shared state. */
#ifndef GW_MAPPING_H
#define GW_MAPPING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "crm/err.h"
#include "gateway.h"
#include "leads.pb-c.h"

typedef enum {
    GW_CAP_LEAD = 0, /* lc holds a valid contact: store and announce */
    GW_CAP_IGNORED,  /* an event this source does not turn into leads: 200, archived */
    GW_CAP_INVALID,  /* wrong types or a bad e-mail: 422 naming err.field */
} gw_cap_outcome_t;

/* One event of a delivery (most senders send one per POST; Sunshine Conversations several). */
typedef struct {
    gw_cap_outcome_t outcome;
    char *delivery_key; /* the sender's id of this event (malloc'd), NULL when it has none */
    char reason[48];    /* why ignored or invalid, for metrics and the archive */
    crm_err_t err;      /* GW_CAP_INVALID: field and message */
    Crm__LeadCaptured lc;
} gw_capture_t;

typedef struct {
    gw_capture_t *items;
    size_t n;
} gw_captures_t;

/* True for a lead field a mapping entry may fill: first_name, last_name, name (split into
 * first and last), organization_name, email, phone, title, description, tags, ticket_id,
 * ticket_subject, ticket_status, ticket_url (and the aliases of HTML forms, e.g. company). */
bool gw_mapping_field_ok(const char *field);

/* RFC 6901 JSON pointer ("" is the root; "~1" is '/', "~0" is '~'; array indices are decimal
 * without leading zeros). Borrowed reference, or NULL. */
json_t *gw_json_pointer(json_t *root, const char *ptr);

/* The captures of one parsed body for src (src->type selects the extractor; the mapping entries
 * come first, the type's defaults fill what they left). header_delivery_id is the delivery id
 * header's value (or NULL). Returns CRM_OK with out filled (n ≥ 1), or CRM_EBADREQUEST when
 * the body's structure is not the sender's (400). Free out with gw_captures_free. */
int gw_extract(const gw_source_t *src, json_t *root, const char *header_delivery_id, gw_captures_t *out,
               crm_err_t *err);
void gw_captures_free(gw_captures_t *c);

/* Step 8 on one capture's contact: splits a full name, checks the e-mail, requires one of last
 * name, organization, e-mail, phone (last name from the e-mail's local part or the phone when
 * neither last name nor organization), sets phone_e164 when the phone is international
 * ("+49 30 1234-56" or "0049…" → "+493012345 6"). CRM_OK; CRM_ENOTFOUND when there is no usable
 * contact; CRM_EINVALID naming "/email" for a bad address. */
int gw_capture_finish(Crm__LeadCaptured *lc, crm_err_t *err);

/* "+4930123456" from a phone written with +/00, spaces, dots, dashes and parentheses and 8 to
 * 15 digits; NULL otherwise (malloc'd). */
char *gw_phone_e164(const char *phone);

/* Frees every string field of lc that the extractors set (contact, ticket, tags, phone_e164). */
void gw_capture_clear(Crm__LeadCaptured *lc);

#endif

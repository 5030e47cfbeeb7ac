/* pbjson: the one descriptor-driven converter between JSON (jansson) and protobuf-c messages
 * (DESIGN §5). Field names in .proto are the API's JSON names, except that one trailing
 * underscore is dropped (proto `default_` ↔ JSON "default", for names that are C keywords).
 *
 * Message → JSON: every field appears; an unset optional field is null; repeated fields are
 * arrays; int64 are JSON integers; enums are their names; bytes are base64.
 * JSON → message: unknown keys, wrong types and out-of-range numbers are refused with
 * CRM_EINVALID naming the field as a JSON pointer; null leaves a field unset.
 *
 * Two naming conventions:
 * - a string field "<name>_json" holds any JSON value as compact text (sorted keys) and appears
 *   in JSON as "<name>" with that value (Sell's custom_fields object: `custom_fields_json`);
 * - a field "update_mask" (repeated string) is never rendered nor read from JSON or a query:
 *   the gateway fills it on PUT with the top-level keys of the body (null ones included), so a
 *   service can tell "absent" from "set to null / []" in a partial update. */
#ifndef CRM_PBJSON_H
#define CRM_PBJSON_H

#include <stdbool.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include "crm/err.h"

/* A new JSON object (caller json_decref()s it). */
json_t *crm_pbjson_from_message(const ProtobufCMessage *msg);

/* A new message of type desc, allocated entirely with malloc (free with
 * protobuf_c_message_free_unpacked(m, NULL)), or NULL with err set. pointer_prefix is put in
 * front of field names in errors ("" → "/last_name"). obj must be a JSON object. */
ProtobufCMessage *crm_pbjson_to_message(const ProtobufCMessageDescriptor *desc, const json_t *obj,
                                        const char *pointer_prefix, crm_err_t *err);

/* Sets one scalar field of msg (malloc'd as above) from text, as a query-string or path
 * parameter: "page"="2" → int32. Unknown name, a message-typed field or unparsable text →
 * CRM_EBADREQUEST with reason "invalid_param". A repeated scalar field appends one value. */
int crm_pbjson_set_field_text(ProtobufCMessage *msg, const char *json_name, const char *text, crm_err_t *err);

/* The descriptor of a field by its JSON name, or NULL. */
const ProtobufCFieldDescriptor *crm_pbjson_field(const ProtobufCMessageDescriptor *desc, const char *json_name);

/* Allocates an empty message of type desc with malloc (initialised), for building replies. */
ProtobufCMessage *crm_pb_new(const ProtobufCMessageDescriptor *desc);
/* malloc'd copy for string fields of such messages (NULL stays NULL). */
char *crm_pb_strdup(const char *s);

#endif

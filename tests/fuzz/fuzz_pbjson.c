/* libFuzzer target for lib/crm/pbjson: arbitrary bytes → jansson (duplicates refused) →
 * crm.Lead and crm.DistributionPool → JSON again, plus string members as text parameters;
 * everything freed (ASan/UBSan/LSan watch). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "crm/pbjson.h"
#include "assign.pb-c.h"
#include "leads.pb-c.h"

static void round_trip(const ProtobufCMessageDescriptor *desc, const json_t *obj)
{
    crm_err_t err;
    ProtobufCMessage *m = crm_pbjson_to_message(desc, obj, "/data", &err);
    if (!m) {
        /* a refusal must name a field and a reason, never crash */
        if (err.code == CRM_OK)
            abort();
        return;
    }
    json_t *back = crm_pbjson_from_message(m);
    if (!back)
        abort();
    /* what we produced must convert again */
    ProtobufCMessage *again = crm_pbjson_to_message(desc, back, "", &err);
    if (!again)
        abort();
    char *text = json_dumps(back, JSON_COMPACT);
    free(text);
    /* packing exercises the sizes and pointers the converter set */
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) {
        protobuf_c_message_pack(m, buf);
        free(buf);
    }
    protobuf_c_message_free_unpacked(again, NULL);
    json_decref(back);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* Every string member of the input as a query parameter of a list request and of a lead. */
static void text_params(const json_t *root)
{
    ProtobufCMessage *q = crm_pb_new(&crm__lead_list_request__descriptor);
    ProtobufCMessage *l = crm_pb_new(&crm__lead__descriptor);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v)
    {
        if (!json_is_string(v))
            continue;
        crm_err_t err;
        if (crm_pbjson_set_field_text(q, key, json_string_value(v), &err) != CRM_OK && err.code != CRM_EBADREQUEST)
            abort();
        if (crm_pbjson_set_field_text(l, key, json_string_value(v), &err) != CRM_OK && err.code != CRM_EBADREQUEST)
            abort();
    }
    json_t *j = crm_pbjson_from_message(l);
    json_decref(j);
    protobuf_c_message_free_unpacked(q, NULL);
    protobuf_c_message_free_unpacked(l, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return 0;
    round_trip(&crm__lead__descriptor, root);
    round_trip(&crm__distribution_pool__descriptor, root);
    if (json_is_object(root))
        text_params(root);
    json_decref(root);
    return 0;
}

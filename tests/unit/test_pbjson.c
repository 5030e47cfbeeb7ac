/* Tests of lib/crm/pbjson: JSON <-> protobuf-c round trips on the real generated messages,
 * nulls, every error with its JSON pointer, text parameters and hostile input. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "assign.pb-c.h"
#include "envelope.pb-c.h"
#include "leads.pb-c.h"
#include "rpc.pb-c.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(j, "test JSON does not parse: %s", jerr.text);
    return j;
}

/* Converts text into a message of desc; returns NULL and fills err on refusal. */
static ProtobufCMessage *convert(const ProtobufCMessageDescriptor *desc, const char *text, crm_err_t *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(j, "test JSON does not parse: %s", jerr.text);
    crm_err_clear(err);
    ProtobufCMessage *m = crm_pbjson_to_message(desc, j, "", err);
    json_decref(j);
    return m;
}

static void expect_error(const ProtobufCMessageDescriptor *desc, const char *text, int code,
                         const char *field, const char *reason)
{
    crm_err_t err;
    ProtobufCMessage *m = convert(desc, text, &err);
    cr_expect_null(m, "accepted %s", text);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    cr_expect_eq(err.code, code, "code %d for %s", err.code, text);
    cr_expect_str_eq(err.field, field, "field for %s", text);
    cr_expect_str_eq(err.reason, reason, "reason for %s", text);
    cr_expect_neq(err.message[0], '\0', "no message for %s", text);
}

Test(pbjson, lead_round_trip)
{
    crm_err_t err;
    const char *text = "{\"id\": 42, \"first_name\": \"Ada\", \"last_name\": \"Lovelace\","
                       " \"owner_id\": 9007199254740993,"
                       " \"address\": {\"city\": \"London\", \"postal_code\": \"NW1\"},"
                       " \"tags\": [\"vip\", \"é✓\", \"\"], \"description\": \"line1\\r\\nline2\"}";
    Crm__Lead *lead = (Crm__Lead *)convert(&crm__lead__descriptor, text, &err);
    cr_assert_not_null(lead, "%s %s", err.field, err.message);
    cr_expect(lead->has_id);
    cr_expect_eq(lead->id, 42);
    cr_expect_eq(lead->owner_id, 9007199254740993LL);
    cr_expect_not(lead->has_creator_id);
    cr_expect_str_eq(lead->first_name, "Ada");
    cr_expect_null(lead->email);
    cr_assert_not_null(lead->address);
    cr_expect_str_eq(lead->address->city, "London");
    cr_expect_null(lead->address->line1);
    cr_assert_eq(lead->n_tags, 3);
    cr_expect_str_eq(lead->tags[1], "é✓");
    cr_expect_str_eq(lead->tags[2], "");
    cr_expect_str_eq(lead->description, "line1\r\nline2");

    json_t *back = crm_pbjson_from_message(&lead->base);
    cr_assert_not_null(back);
    /* every field present, unset ones null; update_mask never rendered */
    cr_expect_eq(json_object_size(back), crm__lead__descriptor.n_fields - 1);
    cr_expect_null(json_object_get(back, "update_mask"));
    cr_expect(json_is_null(json_object_get(back, "email")));
    cr_expect(json_is_null(json_object_get(back, "creator_id")));
    cr_expect_eq(json_integer_value(json_object_get(back, "owner_id")), 9007199254740993LL);
    json_t *addr = json_object_get(back, "address");
    cr_expect_str_eq(json_string_value(json_object_get(addr, "city")), "London");
    cr_expect(json_is_null(json_object_get(addr, "country")));
    cr_expect_eq(json_array_size(json_object_get(back, "tags")), 3);

    /* and back again gives an equal packed message */
    Crm__Lead *again = (Crm__Lead *)crm_pbjson_to_message(&crm__lead__descriptor, back, "", &err);
    cr_assert_not_null(again, "%s %s", err.field, err.message);
    size_t n1 = crm__lead__get_packed_size(lead), n2 = crm__lead__get_packed_size(again);
    cr_assert_eq(n1, n2);
    uint8_t *b1 = malloc(n1), *b2 = malloc(n2);
    crm__lead__pack(lead, b1);
    crm__lead__pack(again, b2);
    cr_expect_eq(memcmp(b1, b2, n1), 0);
    free(b1);
    free(b2);
    json_decref(back);
    crm__lead__free_unpacked(again, NULL);
    crm__lead__free_unpacked(lead, NULL);
}

Test(pbjson, empty_lead_is_all_nulls)
{
    Crm__Lead lead = CRM__LEAD__INIT;
    json_t *j = crm_pbjson_from_message(&lead.base);
    cr_assert_not_null(j);
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "tags") == 0)
            cr_expect(json_is_array(v) && json_array_size(v) == 0);
        else
            cr_expect(json_is_null(v), "%s not null", key);
    }
    json_decref(j);
}

Test(pbjson, nulls_leave_fields_unset)
{
    crm_err_t err;
    Crm__Lead *lead = (Crm__Lead *)convert(
        &crm__lead__descriptor, "{\"id\": null, \"email\": null, \"address\": null, \"tags\": null}", &err);
    cr_assert_not_null(lead);
    cr_expect_not(lead->has_id);
    cr_expect_null(lead->email);
    cr_expect_null(lead->address);
    cr_expect_eq(lead->n_tags, 0);
    crm__lead__free_unpacked(lead, NULL);
}

Test(pbjson, pool_default_underscore_and_int64_list)
{
    crm_err_t err;
    Crm__DistributionPool *p = (Crm__DistributionPool *)convert(
        &crm__distribution_pool__descriptor,
        "{\"name\": \"Leads\", \"default\": true, \"user_ids\": [1, \"2\", 9223372036854775807, -5]}", &err);
    cr_assert_not_null(p, "%s %s", err.field, err.message);
    cr_expect(p->has_default_);
    cr_expect(p->default_);
    cr_assert_eq(p->n_user_ids, 4);
    cr_expect_eq(p->user_ids[1], 2);
    cr_expect_eq(p->user_ids[2], INT64_MAX);
    cr_expect_eq(p->user_ids[3], -5);
    json_t *j = crm_pbjson_from_message(&p->base);
    cr_expect(json_is_true(json_object_get(j, "default")));
    cr_expect_null(json_object_get(j, "default_"));
    cr_expect_eq(json_integer_value(json_array_get(json_object_get(j, "user_ids"), 2)), INT64_MAX);
    json_decref(j);
    crm__distribution_pool__free_unpacked(p, NULL);

    cr_expect_not_null(crm_pbjson_field(&crm__distribution_pool__descriptor, "default"));
    cr_expect_null(crm_pbjson_field(&crm__distribution_pool__descriptor, "default_"));
    expect_error(&crm__distribution_pool__descriptor, "{\"default_\": true}", CRM_EINVALID, "/default_",
                 "unknown");
    expect_error(&crm__distribution_pool__descriptor, "{\"default\": 1}", CRM_EINVALID, "/default",
                 "invalid_type");
    expect_error(&crm__distribution_pool__descriptor, "{\"default\": \"true\"}", CRM_EINVALID, "/default",
                 "invalid_type");
}

Test(pbjson, reply_enum_and_repeated_messages)
{
    crm_err_t err;
    Crm__Reply *r = (Crm__Reply *)convert(&crm__reply__descriptor,
                                          "{\"request_id\": \"r1\", \"status\": \"INVALID\","
                                          " \"errors\": [{\"field\": \"/email\", \"code\": \"blank\"},"
                                          " {\"field\": \"/phone\"}]}",
                                          &err);
    cr_assert_not_null(r, "%s %s", err.field, err.message);
    cr_expect(r->has_status);
    cr_expect_eq(r->status, CRM__STATUS__INVALID);
    cr_assert_eq(r->n_errors, 2);
    cr_expect_str_eq(r->errors[0]->code, "blank");
    cr_expect_str_eq(r->errors[1]->field, "/phone");
    cr_expect_null(r->errors[1]->code);
    json_t *j = crm_pbjson_from_message(&r->base);
    cr_expect_str_eq(json_string_value(json_object_get(j, "status")), "INVALID");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field")),
        "/email");
    json_decref(j);
    crm__reply__free_unpacked(r, NULL);

    expect_error(&crm__reply__descriptor, "{\"status\": \"NOPE\"}", CRM_EINVALID, "/status",
                 "incorrect_value");
    expect_error(&crm__reply__descriptor, "{\"status\": 1}", CRM_EINVALID, "/status", "invalid_type");
    expect_error(&crm__reply__descriptor, "{\"errors\": [{\"field\": \"a\"}, {\"bogus\": 1}]}", CRM_EINVALID,
                 "/errors/1/bogus", "unknown");
    expect_error(&crm__reply__descriptor, "{\"errors\": [{}, \"x\"]}", CRM_EINVALID, "/errors/1",
                 "invalid_type");
    expect_error(&crm__reply__descriptor, "{\"errors\": {\"field\": \"a\"}}", CRM_EINVALID, "/errors",
                 "invalid_type");
    expect_error(&crm__reply__descriptor, "{\"errors\": [null]}", CRM_EINVALID, "/errors/0", "invalid_type");
}

Test(pbjson, envelope_bytes_base64_and_uint)
{
    Crm__Envelope env = CRM__ENVELOPE__INIT;
    uint8_t raw[] = {0x00, 0xff, 0x10, 'h', 'i'};
    env.has_payload = 1;
    env.payload.data = raw;
    env.payload.len = sizeof raw;
    env.has_seq = 1;
    env.seq = UINT64_MAX;
    env.has_schema_version = 1;
    env.schema_version = UINT32_MAX;
    json_t *j = crm_pbjson_from_message(&env.base);
    cr_assert_not_null(j);
    cr_expect_str_eq(json_string_value(json_object_get(j, "payload")), "AP8QaGk=");
    /* beyond int64: decimal text, accepted back */
    cr_expect_str_eq(json_string_value(json_object_get(j, "seq")), "18446744073709551615");
    cr_expect_eq(json_integer_value(json_object_get(j, "schema_version")), UINT32_MAX);
    crm_err_t err;
    Crm__Envelope *back = (Crm__Envelope *)crm_pbjson_to_message(&crm__envelope__descriptor, j, "", &err);
    cr_assert_not_null(back, "%s %s", err.field, err.message);
    cr_expect_eq(back->seq, UINT64_MAX);
    cr_expect_eq(back->schema_version, UINT32_MAX);
    cr_assert_eq(back->payload.len, sizeof raw);
    cr_expect_eq(memcmp(back->payload.data, raw, sizeof raw), 0);
    crm__envelope__free_unpacked(back, NULL);
    json_decref(j);

    Crm__Envelope *e = (Crm__Envelope *)convert(&crm__envelope__descriptor, "{\"payload\": \"\"}", &err);
    cr_assert_not_null(e);
    cr_expect(e->has_payload);
    cr_expect_eq(e->payload.len, 0);
    crm__envelope__free_unpacked(e, NULL);

    expect_error(&crm__envelope__descriptor, "{\"payload\": \"not base64!\"}", CRM_EINVALID, "/payload",
                 "incorrect_value");
    expect_error(&crm__envelope__descriptor, "{\"payload\": 12}", CRM_EINVALID, "/payload", "invalid_type");
    expect_error(&crm__envelope__descriptor, "{\"schema_version\": 4294967296}", CRM_EINVALID,
                 "/schema_version", "incorrect_value");
    expect_error(&crm__envelope__descriptor, "{\"schema_version\": -1}", CRM_EINVALID, "/schema_version",
                 "incorrect_value");
    expect_error(&crm__envelope__descriptor, "{\"seq\": -1}", CRM_EINVALID, "/seq", "incorrect_value");
    expect_error(&crm__envelope__descriptor, "{\"seq\": \"18446744073709551616\"}", CRM_EINVALID, "/seq",
                 "incorrect_value");
}

Test(pbjson, integer_rules)
{
    /* int32 bounds (LeadListRequest.page) */
    crm_err_t err;
    Crm__LeadListRequest *q = (Crm__LeadListRequest *)convert(
        &crm__lead_list_request__descriptor, "{\"page\": 2147483647, \"per_page\": -2147483648}", &err);
    cr_assert_not_null(q);
    cr_expect_eq(q->page, INT32_MAX);
    cr_expect_eq(q->per_page, INT32_MIN);
    crm__lead_list_request__free_unpacked(q, NULL);
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": 2147483648}", CRM_EINVALID, "/page",
                 "incorrect_value");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": -2147483649}", CRM_EINVALID, "/page",
                 "incorrect_value");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": \"99999999999\"}", CRM_EINVALID, "/page",
                 "incorrect_value");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": 1.0}", CRM_EINVALID, "/page",
                 "invalid_type");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": 1e3}", CRM_EINVALID, "/page",
                 "invalid_type");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": true}", CRM_EINVALID, "/page",
                 "invalid_type");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": \"1.5\"}", CRM_EINVALID, "/page",
                 "invalid_type");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": \" 1\"}", CRM_EINVALID, "/page",
                 "invalid_type");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": \"\"}", CRM_EINVALID, "/page",
                 "invalid_type");
    expect_error(&crm__lead_list_request__descriptor, "{\"page\": [1]}", CRM_EINVALID, "/page",
                 "invalid_type");
    /* ids as strings */
    Crm__Lead *l =
        (Crm__Lead *)convert(&crm__lead__descriptor, "{\"id\": \"-17\", \"owner_id\": \"0\"}", &err);
    cr_assert_not_null(l);
    cr_expect_eq(l->id, -17);
    cr_expect(l->has_owner_id);
    crm__lead__free_unpacked(l, NULL);
    expect_error(&crm__lead__descriptor, "{\"id\": \"9223372036854775808\"}", CRM_EINVALID, "/id",
                 "incorrect_value");
    expect_error(&crm__lead__descriptor, "{\"id\": \"12abc\"}", CRM_EINVALID, "/id", "invalid_type");
}

Test(pbjson, wrong_types_everywhere)
{
    expect_error(&crm__lead__descriptor, "{\"first_name\": 5}", CRM_EINVALID, "/first_name", "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"first_name\": {}}", CRM_EINVALID, "/first_name", "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"first_name\": [\"a\"]}", CRM_EINVALID, "/first_name",
                 "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"first_name\": false}", CRM_EINVALID, "/first_name",
                 "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"address\": \"London\"}", CRM_EINVALID, "/address",
                 "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"address\": [] }", CRM_EINVALID, "/address", "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"address\": {\"city\": 12}}", CRM_EINVALID, "/address/city",
                 "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"address\": {\"town\": \"x\"}}", CRM_EINVALID, "/address/town",
                 "unknown");
    expect_error(&crm__lead__descriptor, "{\"tags\": \"vip\"}", CRM_EINVALID, "/tags", "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"tags\": [\"a\", \"b\", 3]}", CRM_EINVALID, "/tags/2",
                 "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"nope\": 1}", CRM_EINVALID, "/nope", "unknown");
    expect_error(&crm__lead__descriptor, "{\"a/b~c\": 1}", CRM_EINVALID, "/a~1b~0c", "unknown");
    /* a NUL inside a key must not alias a real field; a NUL inside a value is refused */
    {
        json_t *o = json_object();
        json_object_setn_new(o, "email\0x", 7, json_string("a@b.co"));
        crm_err_t e;
        cr_expect_null(crm_pbjson_to_message(&crm__lead__descriptor, o, "", &e));
        cr_expect_eq(e.code, CRM_EINVALID);
        cr_expect_str_eq(e.reason, "unknown");
        json_decref(o);
    }
    expect_error(&crm__lead__descriptor, "{\"email\": \"a\\u0000b\"}", CRM_EINVALID, "/email",
                 "incorrect_value");

    /* a non-object at the top, with and without a prefix */
    crm_err_t err;
    json_t *arr = parse("[1]");
    cr_expect_null(crm_pbjson_to_message(&crm__lead__descriptor, arr, "/data", &err));
    cr_expect_eq(err.code, CRM_EINVALID);
    cr_expect_str_eq(err.field, "/data");
    cr_expect_str_eq(err.reason, "invalid_type");
    json_decref(arr);
    json_t *o = parse("{\"address\": {\"city\": []}}");
    cr_expect_null(crm_pbjson_to_message(&crm__lead__descriptor, o, "/data", &err));
    cr_expect_str_eq(err.field, "/data/address/city");
    json_decref(o);
}

Test(pbjson, hostile_deep_nesting_and_huge_values)
{
    /* 2,000 nested objects where a message (address) is expected: refused at the first level
     * that is not a field, without recursion trouble. */
    size_t depth = 2000; /* under jansson's own limit of 2048, so the converter sees it */
    size_t cap = depth * 10 + 64;
    char *text = malloc(cap);
    size_t o = (size_t)sprintf(text, "{\"address\": ");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(text + o, "{\"city\":");
    o += (size_t)sprintf(text + o, "1");
    for (size_t i = 0; i < depth; i++)
        text[o++] = '}';
    text[o++] = '}';
    text[o] = '\0';
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    free(text);
    cr_assert_not_null(j, "%s", jerr.text);
    {
        crm_err_t err;
        cr_expect_null(crm_pbjson_to_message(&crm__lead__descriptor, j, "", &err));
        cr_expect_str_eq(err.field, "/address/city");
        cr_expect_str_eq(err.reason, "invalid_type");
        json_decref(j);
    }
    /* nested 'errors' inside Reply several levels: FieldError has no message fields, so 2 levels max */
    expect_error(&crm__reply__descriptor, "{\"errors\": [{\"field\": {\"field\": {}}}]}", CRM_EINVALID,
                 "/errors/0/field", "invalid_type");
    /* a huge number jansson holds as a real */
    expect_error(&crm__lead__descriptor, "{\"id\": 1e300}", CRM_EINVALID, "/id", "invalid_type");
    expect_error(&crm__lead__descriptor, "{\"id\": 123456789012345678901234567890.0}", CRM_EINVALID, "/id",
                 "invalid_type");
    /* a very long unknown key: the pointer is truncated, never overflowed */
    size_t klen = 5000;
    char *big = malloc(klen + 32);
    big[0] = '{';
    big[1] = '"';
    memset(big + 2, 'k', klen);
    strcpy(big + 2 + klen, "\": 1}");
    crm_err_t err;
    ProtobufCMessage *m = convert(&crm__lead__descriptor, big, &err);
    cr_expect_null(m);
    cr_expect_eq(err.code, CRM_EINVALID);
    cr_expect_str_eq(err.reason, "unknown");
    cr_expect_eq(strncmp(err.field, "/kkkk", 5), 0);
    cr_expect_lt(strlen(err.field), sizeof err.field);
    free(big);
    /* a 1 MiB string value is fine */
    size_t vlen = 1 << 20;
    char *val = malloc(vlen + 64);
    o = (size_t)sprintf(val, "{\"description\": \"");
    memset(val + o, 'x', vlen);
    strcpy(val + o + vlen, "\"}");
    Crm__Lead *l = (Crm__Lead *)convert(&crm__lead__descriptor, val, &err);
    cr_assert_not_null(l);
    cr_expect_eq(strlen(l->description), vlen);
    crm__lead__free_unpacked(l, NULL);
    free(val);
}

Test(pbjson, invalid_utf8_in_message_becomes_replacement_char)
{
    Crm__Lead lead = CRM__LEAD__INIT;
    char bad[] = "a\xff\xc3(b";
    lead.first_name = bad;
    json_t *j = crm_pbjson_from_message(&lead.base);
    cr_assert_not_null(j);
    cr_expect_str_eq(json_string_value(json_object_get(j, "first_name")), "a\xEF\xBF\xBD\xEF\xBF\xBD(b");
    json_decref(j);
}

Test(pbjson, set_field_text)
{
    crm_err_t err;
    Crm__LeadListRequest *q = (Crm__LeadListRequest *)crm_pb_new(&crm__lead_list_request__descriptor);
    cr_assert_not_null(q);
    cr_expect_eq(crm_pbjson_set_field_text(&q->base, "page", "2", &err), CRM_OK);
    cr_expect(q->has_page);
    cr_expect_eq(q->page, 2);
    cr_expect_eq(crm_pbjson_set_field_text(&q->base, "email", "a b+c@x.io", &err), CRM_OK);
    cr_expect_str_eq(q->email, "a b+c@x.io");
    cr_expect_eq(crm_pbjson_set_field_text(&q->base, "email", "second@x.io", &err), CRM_OK); /* replaced */
    cr_expect_str_eq(q->email, "second@x.io");
    cr_expect_eq(crm_pbjson_set_field_text(&q->base, "owner_id", "-3", &err), CRM_OK);
    cr_expect_eq(q->owner_id, -3);

    const char *bad[][2] = {{"page", "2x"},
                            {"page", ""},
                            {"page", " 2"},
                            {"page", "+2"},
                            {"page", "2147483648"},
                            {"page", "1.0"},
                            {"owner_id", "99999999999999999999"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        crm_err_clear(&err);
        cr_expect_eq(crm_pbjson_set_field_text(&q->base, bad[i][0], bad[i][1], &err), CRM_EBADREQUEST,
                     "%s=%s", bad[i][0], bad[i][1]);
        cr_expect_str_eq(err.reason, "invalid_param");
        cr_expect_str_eq(err.field, bad[i][0]);
        cr_expect_neq(err.message[0], '\0');
    }
    cr_expect_eq(q->page, 2, "a refused value leaves the old one");
    cr_expect_eq(crm_pbjson_set_field_text(&q->base, "nope", "1", &err), CRM_EBADREQUEST);
    cr_expect_str_eq(err.field, "nope");
    cr_expect_str_eq(err.reason, "invalid_param");
    protobuf_c_message_free_unpacked(&q->base, NULL);

    /* bools and repeated scalars */
    Crm__DistributionPool *p = (Crm__DistributionPool *)crm_pb_new(&crm__distribution_pool__descriptor);
    cr_expect_eq(crm_pbjson_set_field_text(&p->base, "default", "true", &err), CRM_OK);
    cr_expect(p->has_default_ && p->default_);
    cr_expect_eq(crm_pbjson_set_field_text(&p->base, "default", "0", &err), CRM_OK);
    cr_expect_not(p->default_);
    cr_expect_eq(crm_pbjson_set_field_text(&p->base, "default", "yes", &err), CRM_EBADREQUEST);
    cr_expect_eq(crm_pbjson_set_field_text(&p->base, "user_ids", "7", &err), CRM_OK);
    cr_expect_eq(crm_pbjson_set_field_text(&p->base, "user_ids", "8", &err), CRM_OK);
    cr_expect_eq(crm_pbjson_set_field_text(&p->base, "user_ids", "x", &err), CRM_EBADREQUEST);
    cr_assert_eq(p->n_user_ids, 2);
    cr_expect_eq(p->user_ids[0], 7);
    cr_expect_eq(p->user_ids[1], 8);
    protobuf_c_message_free_unpacked(&p->base, NULL);

    /* repeated strings, enums, and a message field is not a parameter */
    Crm__Reply *r = (Crm__Reply *)crm_pb_new(&crm__reply__descriptor);
    cr_expect_eq(crm_pbjson_set_field_text(&r->base, "status", "NOT_FOUND", &err), CRM_OK);
    cr_expect_eq(r->status, CRM__STATUS__NOT_FOUND);
    cr_expect_eq(crm_pbjson_set_field_text(&r->base, "status", "LOST", &err), CRM_EBADREQUEST);
    cr_expect_eq(crm_pbjson_set_field_text(&r->base, "errors", "x", &err), CRM_EBADREQUEST);
    cr_expect_str_eq(err.field, "errors");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    Crm__Lead *l = (Crm__Lead *)crm_pb_new(&crm__lead__descriptor);
    cr_expect_eq(crm_pbjson_set_field_text(&l->base, "tags", "a", &err), CRM_OK);
    cr_expect_eq(crm_pbjson_set_field_text(&l->base, "tags", "b", &err), CRM_OK);
    cr_assert_eq(l->n_tags, 2);
    cr_expect_str_eq(l->tags[1], "b");
    cr_expect_eq(crm_pbjson_set_field_text(&l->base, "address", "x", &err), CRM_EBADREQUEST);
    protobuf_c_message_free_unpacked(&l->base, NULL);
}

Test(pbjson, helpers)
{
    char *s = crm_pb_strdup("abc");
    cr_expect_str_eq(s, "abc");
    free(s);
    cr_expect_null(crm_pb_strdup(NULL));
    cr_expect_null(crm_pbjson_field(&crm__lead__descriptor, "nope"));
    const ProtobufCFieldDescriptor *f = crm_pbjson_field(&crm__lead__descriptor, "last_name");
    cr_assert_not_null(f);
    cr_expect_str_eq(f->name, "last_name");
}

/* "<name>_json" string fields carry any JSON value under "<name>"; "update_mask" is never read
 * nor rendered. */
Test(pbjson, raw_json_fields_and_update_mask)
{
    json_error_t je;
    json_t *in = json_loads("{\"last_name\":\"L\",\"custom_fields\":{\"b\":[1,\"x\"],\"a\":true}}", 0, &je);
    crm_err_t err;
    crm_err_clear(&err);
    Crm__Lead *lead = (Crm__Lead *)crm_pbjson_to_message(&crm__lead__descriptor, in, "", &err);
    cr_assert_not_null(lead, "%s", err.message);
    cr_expect_str_eq(lead->custom_fields_json, "{\"a\":true,\"b\":[1,\"x\"]}");
    json_t *back = crm_pbjson_from_message(&lead->base);
    cr_expect(json_equal(json_object_get(back, "custom_fields"), json_object_get(in, "custom_fields")));
    cr_expect_null(json_object_get(back, "custom_fields_json"));
    json_decref(back);
    protobuf_c_message_free_unpacked(&lead->base, NULL);
    json_decref(in);

    in = json_loads("{\"update_mask\":[\"x\"]}", 0, &je);
    crm_err_clear(&err);
    cr_expect_null(crm_pbjson_to_message(&crm__lead__descriptor, in, "", &err));
    cr_expect_str_eq(err.field, "/update_mask");
    json_decref(in);
    cr_expect_null(crm_pbjson_field(&crm__lead__descriptor, "update_mask"));
    cr_expect_not_null(crm_pbjson_field(&crm__lead__descriptor, "custom_fields"));
}

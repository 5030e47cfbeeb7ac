/* pbjson: the one descriptor-driven converter between JSON (jansson) and protobuf-c messages
 * (DESIGN §5). It walks ProtobufCMessageDescriptor fields, so no resource needs its own code.
 * Everything it builds is malloc'd, so protobuf_c_message_free_unpacked(m, NULL) frees it. */
#include "crm/pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No message nests deeper than this, whatever the schema or the input says. */
#define PBJSON_MAX_DEPTH 32
/* Room for a JSON pointer; crm_err_t.field keeps the first 127 bytes. */
#define PBJSON_PATH_CAP 128

/* ---- small helpers ----------------------------------------------------------------------- */

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

/* Length of a field's JSON name: the proto name minus one trailing underscore, or minus the
 * suffix "_json" (a string field holding raw JSON, see pbjson.h). */
static size_t json_name_len(const char *proto_name)
{
    size_t n = strlen(proto_name);
    if (n > 5 && memcmp(proto_name + n - 5, "_json", 5) == 0)
        return n - 5;
    if (n > 1 && proto_name[n - 1] == '_')
        n--;
    return n;
}

/* A string field named "<name>_json" carries a JSON value as compact text. */
static bool is_raw_json(const ProtobufCFieldDescriptor *f)
{
    size_t n = strlen(f->name);
    return f->type == PROTOBUF_C_TYPE_STRING && n > 5 && memcmp(f->name + n - 5, "_json", 5) == 0;
}

/* The field a gateway fills with the keys of a PUT body (never rendered, never read). */
static bool is_update_mask(const ProtobufCFieldDescriptor *f)
{
    return strcmp(f->name, "update_mask") == 0;
}

static size_t elem_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* Strict UTF-8 check: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Returns the length of the valid sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* A JSON string from C text that protobuf-c never validated: invalid bytes become U+FFFD. */
static json_t *json_string_lossy(const char *s)
{
    size_t len = strlen(s);
    if (utf8_valid(s, len))
        return json_stringn(s, len);
    char *buf = malloc(len * 3 + 1);
    if (!buf)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0) {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, p + i, n);
            o += n;
            i += n;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *base64_json(const uint8_t *data, size_t len)
{
    if (len > (SIZE_MAX - 4) / 4 * 3)
        return NULL;
    size_t olen = (len + 2) / 3 * 4;
    char *out = malloc(olen + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64, padding optional. false on any other character. */
static bool base64_decode(const char *s, size_t len, ProtobufCBinaryData *out)
{
    while (len > 0 && s[len - 1] == '=' && len % 4 != 1)
        len--;
    if (len % 4 == 1)
        return false;
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return false;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(buf);
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)((acc >> bits) & 0xFF);
        }
    }
    if (o == 0) {
        free(buf);
        buf = NULL;
    }
    out->data = buf;
    out->len = o;
    return true;
}

/* Strict whole decimal integers: optional '-', then digits only. */
static bool parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (!*p)
        return false;
    uint64_t acc = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    if (neg) {
        if (acc > (uint64_t)INT64_MAX + 1)
            return false;
        *out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    } else {
        if (acc > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)acc;
    }
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t acc = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    *out = acc;
    return true;
}

static bool all_digits(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool is_integer_type(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return true;
    default:
        return false;
    }
}

static bool is_unsigned_type(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_UINT32 || t == PROTOBUF_C_TYPE_FIXED32 || t == PROTOBUF_C_TYPE_UINT64 ||
           t == PROTOBUF_C_TYPE_FIXED64;
}

/* Stores an integer into an integer-typed slot after a range check. Returns false when the
 * value does not fit the type. neg_big: the value is a negative number (only for unsigned). */
static bool store_integer(ProtobufCType t, void *slot, bool is_unsigned, int64_t s, uint64_t u)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (is_unsigned ? u > INT32_MAX : (s < INT32_MIN || s > INT32_MAX))
            return false;
        *(int32_t *)slot = is_unsigned ? (int32_t)u : (int32_t)s;
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (is_unsigned ? u > UINT32_MAX : (s < 0 || s > (int64_t)UINT32_MAX))
            return false;
        *(uint32_t *)slot = is_unsigned ? (uint32_t)u : (uint32_t)s;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (is_unsigned && u > INT64_MAX)
            return false;
        *(int64_t *)slot = is_unsigned ? (int64_t)u : s;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!is_unsigned && s < 0)
            return false;
        *(uint64_t *)slot = is_unsigned ? u : (uint64_t)s;
        return true;
    default:
        return false;
    }
}

/* Parses decimal text into an integer slot: 1 ok, 0 not an integer, -1 out of range. */
static int integer_from_text(ProtobufCType t, const char *text, void *slot)
{
    if (!all_digits(text))
        return 0;
    int64_t s = 0;
    uint64_t u = 0;
    bool ok;
    if (is_unsigned_type(t) && text[0] != '-') {
        if (!parse_u64(text, &u))
            return -1;
        ok = store_integer(t, slot, true, 0, u);
    } else {
        if (!parse_i64(text, &s))
            return -1;
        ok = store_integer(t, slot, false, s, 0);
    }
    return ok ? 1 : -1;
}

/* ---- presence ------------------------------------------------------------------------------ */

static bool field_is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *member = CMEMBER(msg, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)CMEMBER(msg, f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(const void *const *)member != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)CMEMBER(msg, f->quantifier_offset) != 0;
    return true; /* required, or proto3 (label NONE) scalars */
}

static void mark_set(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)MEMBER(msg, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 1;
}

/* ---- message → JSON ------------------------------------------------------------------------ */

static json_t *message_to_json(const ProtobufCMessage *msg, int depth);

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *slot, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)slot;
        if (v <= INT64_MAX)
            return json_integer((json_int_t)v);
        /* Beyond a JSON integer jansson can hold: decimal text, which the reverse accepts. */
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, v);
        return json_string(buf);
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)slot;
        return isfinite(v) ? json_real(v) : json_null();
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = *(const double *)slot;
        return isfinite(v) ? json_real(v) : json_null();
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)slot;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)slot;
        if (s && is_raw_json(f)) {
            json_t *raw = json_loads(s, JSON_DECODE_ANY, NULL);
            return raw ? raw : json_null();
        }
        return s ? json_string_lossy(s) : json_null();
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = slot;
        return base64_json(b->data, b->data ? b->len : 0);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)slot;
        if (!sub || depth >= PBJSON_MAX_DEPTH)
            return json_null();
        return message_to_json(sub, depth + 1);
    }
    }
    return json_null();
}

static json_t *field_to_json(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, int depth)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        json_t *arr = json_array();
        if (!arr)
            return NULL;
        size_t n = *(const size_t *)CMEMBER(msg, f->quantifier_offset);
        const char *base = *(const char *const *)CMEMBER(msg, f->offset);
        size_t sz = elem_size(f->type);
        for (size_t i = 0; base && i < n; i++) {
            json_t *v = value_to_json(f, base + i * sz, depth);
            if (!v || json_array_append_new(arr, v) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    }
    if (!field_is_set(msg, f))
        return json_null();
    return value_to_json(f, CMEMBER(msg, f->offset), depth);
}

static json_t *message_to_json(const ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (is_update_mask(f))
            continue;
        json_t *v = field_to_json(msg, f, depth);
        if (!v || json_object_setn_new(obj, f->name, json_name_len(f->name), v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *crm_pbjson_from_message(const ProtobufCMessage *msg)
{
    if (!msg || !msg->descriptor)
        return NULL;
    return message_to_json(msg, 1);
}

/* ---- JSON → message ------------------------------------------------------------------------ */

/* The JSON pointer being walked; push/pop keep it in step with the recursion. */
typedef struct {
    char buf[PBJSON_PATH_CAP];
    size_t len;
} path_t;

static void path_putc(path_t *p, char c)
{
    size_t at = p->len;
    if (at >= sizeof p->buf - 1)
        return;
    p->buf[at] = c;
    p->buf[at + 1] = '\0';
    p->len = at + 1;
}

/* Appends "/key" with JSON pointer escapes (~ → ~0, / → ~1); returns the length to restore.
 * Truncation never splits a UTF-8 sequence. */
static size_t path_push(path_t *p, const char *key, size_t keylen)
{
    size_t saved = p->len;
    path_putc(p, '/');
    for (size_t i = 0; i < keylen;) {
        unsigned char c = (unsigned char)key[i];
        if (c == '~' || c == '/') {
            if (p->len + 3 > sizeof p->buf)
                break;
            path_putc(p, '~');
            path_putc(p, c == '~' ? '0' : '1');
            i++;
            continue;
        }
        size_t n = utf8_seq_len((const unsigned char *)key + i, keylen - i);
        if (n == 0)
            n = 1;
        if (p->len + n + 1 > sizeof p->buf)
            break;
        for (size_t k = 0; k < n; k++)
            path_putc(p, key[i + k]);
        i += n;
    }
    return saved;
}

static size_t path_push_index(path_t *p, size_t idx)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%zu", idx);
    return path_push(p, b, (size_t)n);
}

static void path_pop(path_t *p, size_t saved)
{
    p->len = saved;
    p->buf[saved] = '\0';
}

static int fill_message(ProtobufCMessage *m, const json_t *obj, path_t *path, int depth, crm_err_t *err);

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

static int invalid_type(crm_err_t *err, const path_t *path, const char *expected, const json_t *v)
{
    return crm_err_set(err, CRM_EINVALID, path->buf, "invalid_type", "expected %s, got %s", expected,
                       json_type_name(v));
}

/* Converts one JSON value into one element slot of field f (a single value or one element of a
 * repeated field). The slot is zeroed beforehand; anything allocated is stored in the slot at
 * once, so the enclosing message's free_unpacked frees it even if a later step fails. */
static int value_from_json(const ProtobufCFieldDescriptor *f, void *slot, const json_t *v, path_t *path,
                           int depth, crm_err_t *err)
{
    if (is_integer_type(f->type)) {
        int64_t s = 0;
        if (json_is_integer(v)) {
            s = json_integer_value(v);
        } else if (json_is_string(v)) {
            /* Sell clients sometimes send ids as strings: accept whole decimal text. */
            const char *t = json_string_value(v);
            if (json_string_length(v) != strlen(t) || !all_digits(t))
                return invalid_type(err, path, "an integer", v);
            int r = integer_from_text(f->type, t, slot);
            if (r < 0)
                return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "integer out of range");
            return CRM_OK;
        } else {
            return invalid_type(err, path, "an integer", v);
        }
        if (!store_integer(f->type, slot, false, s, 0))
            return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "integer out of range");
        return CRM_OK;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        if (!json_is_number(v))
            return invalid_type(err, path, "a number", v);
        double d = json_number_value(v);
        if (f->type == PROTOBUF_C_TYPE_FLOAT) {
            if (!isfinite(d) || fabs(d) > FLT_MAX)
                return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "number out of range");
            *(float *)slot = (float)d;
        } else {
            *(double *)slot = d;
        }
        return CRM_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return invalid_type(err, path, "true or false", v);
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return CRM_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        if (!json_is_string(v))
            return invalid_type(err, path, "a string", v);
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
        if (!ev || json_string_length(v) != strlen(json_string_value(v)))
            return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "not a known %s value",
                               ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name);
        *(int *)slot = ev->value;
        return CRM_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (is_raw_json(f)) {
            char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            if (!text)
                return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value",
                                   "unrepresentable JSON value");
            *(char **)slot = text;
            return CRM_OK;
        }
        if (!json_is_string(v))
            return invalid_type(err, path, "a string", v);
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        /* Protobuf strings are C strings here: an embedded NUL would silently cut the value. */
        if (strlen(s) != len)
            return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "text must not contain NUL");
        if (!utf8_valid(s, len))
            return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "text must be valid UTF-8");
        char *copy = malloc(len + 1);
        if (!copy)
            return crm_err_set(err, CRM_EINTERNAL, path->buf, NULL, "out of memory");
        memcpy(copy, s, len + 1);
        *(char **)slot = copy;
        return CRM_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            return invalid_type(err, path, "a base64 string", v);
        ProtobufCBinaryData b = {0, NULL};
        if (!base64_decode(json_string_value(v), json_string_length(v), &b))
            return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "expected base64");
        *(ProtobufCBinaryData *)slot = b;
        return CRM_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (!json_is_object(v))
            return invalid_type(err, path, "an object", v);
        /* Bounds the recursion whatever the schema: a recursive message type cannot be used
         * to exhaust the stack. */
        if (depth >= PBJSON_MAX_DEPTH)
            return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value", "nested too deeply");
        ProtobufCMessage *sub = crm_pb_new(f->descriptor);
        if (!sub)
            return crm_err_set(err, CRM_EINTERNAL, path->buf, NULL, "out of memory");
        *(ProtobufCMessage **)slot = sub;
        return fill_message(sub, v, path, depth + 1, err);
    }
    default:
        return crm_err_set(err, CRM_EINTERNAL, path->buf, NULL, "unsupported field type");
    }
}

static int repeated_from_json(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const json_t *v,
                              path_t *path, int depth, crm_err_t *err)
{
    if (!json_is_array(v))
        return invalid_type(err, path, "an array", v);
    size_t n = json_array_size(v);
    if (n == 0)
        return CRM_OK;
    size_t sz = elem_size(f->type);
    char *arr = calloc(n, sz);
    if (!arr)
        return crm_err_set(err, CRM_EINTERNAL, path->buf, NULL, "out of memory");
    /* The array and its count are stored before any element is converted: calloc'd slots are
     * NULL/zero, which free_unpacked accepts, so a failure half-way leaks nothing. */
    *(void **)MEMBER(m, f->offset) = arr;
    *(size_t *)MEMBER(m, f->quantifier_offset) = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        size_t saved = path_push_index(path, i);
        int rc;
        if (json_is_null(e))
            rc = crm_err_set(err, CRM_EINVALID, path->buf, "invalid_type", "null is not allowed in a list");
        else
            rc = value_from_json(f, arr + i * sz, e, path, depth, err);
        if (rc != CRM_OK)
            return rc;
        path_pop(path, saved);
    }
    return CRM_OK;
}

static int field_from_json(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const json_t *v,
                           path_t *path, int depth, crm_err_t *err)
{
    if (json_is_null(v))
        return CRM_OK; /* null leaves the field unset */
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return repeated_from_json(m, f, v, path, depth, err);
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
        uint32_t c = *(uint32_t *)MEMBER(m, f->quantifier_offset);
        if (c != 0 && c != f->id)
            return crm_err_set(err, CRM_EINVALID, path->buf, "incorrect_value",
                               "only one of these fields may be given");
    }
    int rc = value_from_json(f, MEMBER(m, f->offset), v, path, depth, err);
    /* Even on failure a message/string pointer may already be stored: mark it set (oneof case)
     * so free_unpacked releases it. */
    mark_set(m, f);
    return rc;
}

static int fill_message(ProtobufCMessage *m, const json_t *obj, path_t *path, int depth, crm_err_t *err)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    void *it;
    for (it = json_object_iter((json_t *)obj); it; it = json_object_iter_next((json_t *)obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t keylen = json_object_iter_key_len(it);
        const json_t *v = json_object_iter_value(it);
        size_t saved = path_push(path, key, keylen);
        /* A key with an embedded NUL must not alias a real field name. */
        const ProtobufCFieldDescriptor *f = strlen(key) == keylen ? crm_pbjson_field(desc, key) : NULL;
        if (!f)
            return crm_err_set(err, CRM_EINVALID, path->buf, "unknown", "unknown field");
        int rc = field_from_json(m, f, v, path, depth, err);
        if (rc != CRM_OK)
            return rc;
        path_pop(path, saved);
    }
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REQUIRED)
            continue;
        const json_t *v = json_object_getn(obj, f->name, json_name_len(f->name));
        if (!v || json_is_null(v)) {
            size_t saved = path_push(path, f->name, json_name_len(f->name));
            crm_err_set(err, CRM_EINVALID, path->buf, "missing", "this field is required");
            path_pop(path, saved);
            return CRM_EINVALID;
        }
    }
    return CRM_OK;
}

ProtobufCMessage *crm_pbjson_to_message(const ProtobufCMessageDescriptor *desc, const json_t *obj,
                                        const char *pointer_prefix, crm_err_t *err)
{
    path_t path = {.len = 0};
    path.buf[0] = '\0';
    if (pointer_prefix) {
        size_t n = strlen(pointer_prefix);
        if (n >= sizeof path.buf)
            n = sizeof path.buf - 1;
        memcpy(path.buf, pointer_prefix, n);
        path.buf[n] = '\0';
        path.len = n;
    }
    if (!desc) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "no message descriptor");
        return NULL;
    }
    if (!obj || !json_is_object(obj)) {
        if (obj)
            invalid_type(err, &path, "an object", obj);
        else
            crm_err_set(err, CRM_EINVALID, path.buf, "invalid_type", "expected an object");
        return NULL;
    }
    ProtobufCMessage *m = crm_pb_new(desc);
    if (!m) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    if (fill_message(m, obj, &path, 1, err) != CRM_OK) {
        protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

/* ---- text parameters ----------------------------------------------------------------------- */

static int bad_param(crm_err_t *err, const char *name, const char *expected)
{
    return crm_err_set(err, CRM_EBADREQUEST, name, "invalid_param", "%s: expected %s", name, expected);
}

/* Parses text for field f into slot. Returns CRM_OK or CRM_EBADREQUEST. */
static int value_from_text(const ProtobufCFieldDescriptor *f, void *slot, const char *name, const char *text,
                           crm_err_t *err)
{
    if (is_integer_type(f->type)) {
        int r = integer_from_text(f->type, text, slot);
        if (r == 0)
            return bad_param(err, name, "a whole decimal number");
        if (r < 0)
            return bad_param(err, name, "a number in range");
        return CRM_OK;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double d = *text && !(*text == ' ' || *text == '\t') ? strtod(text, &end) : 0;
        if (!end || *end || errno || !isfinite(d) || (f->type == PROTOBUF_C_TYPE_FLOAT && fabs(d) > FLT_MAX))
            return bad_param(err, name, "a finite number");
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)slot = (float)d;
        else
            *(double *)slot = d;
        return CRM_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            *(protobuf_c_boolean *)slot = 1;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
            *(protobuf_c_boolean *)slot = 0;
        else
            return bad_param(err, name, "true, false, 1 or 0");
        return CRM_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, text);
        if (!ev)
            return bad_param(err, name, "a known value name");
        *(int *)slot = ev->value;
        return CRM_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!utf8_valid(text, strlen(text)))
            return bad_param(err, name, "valid UTF-8 text");
        char *copy = crm_pb_strdup(text);
        if (!copy)
            return crm_err_set(err, CRM_EINTERNAL, name, NULL, "out of memory");
        *(char **)slot = copy;
        return CRM_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData b = {0, NULL};
        if (!base64_decode(text, strlen(text), &b))
            return bad_param(err, name, "base64");
        *(ProtobufCBinaryData *)slot = b;
        return CRM_OK;
    }
    default:
        return bad_param(err, name, "nothing: it is not a parameter");
    }
}

/* Frees what an optional/required single field holds, before it is replaced. */
static void clear_single(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    void *member = MEMBER(msg, f->offset);
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s = *(char **)member;
        if (s && s != (const char *)f->default_value)
            free(s);
        *(char **)member = NULL;
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        ProtobufCBinaryData *b = member;
        const ProtobufCBinaryData *def = f->default_value;
        if (b->data && (!def || b->data != def->data))
            free(b->data);
        b->data = NULL;
        b->len = 0;
    }
}

int crm_pbjson_set_field_text(ProtobufCMessage *msg, const char *json_name, const char *text, crm_err_t *err)
{
    const char *name = json_name ? json_name : "";
    if (!msg || !text)
        return bad_param(err, name, "a value");
    const ProtobufCFieldDescriptor *f = json_name ? crm_pbjson_field(msg->descriptor, json_name) : NULL;
    if (!f)
        return crm_err_set(err, CRM_EBADREQUEST, name, "invalid_param", "%s: unknown parameter", name);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return bad_param(err, name, "nothing: it is not a parameter");
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t c = *(uint32_t *)MEMBER(msg, f->quantifier_offset);
        if (c != 0 && c != f->id)
            return bad_param(err, name, "no other parameter of its group");
    }
    size_t sz = elem_size(f->type);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        /* Parse into a scratch slot first so the array only grows by a valid element. */
        union {
            char *s;
            ProtobufCBinaryData b;
            uint64_t u;
            double d;
        } tmp;
        memset(&tmp, 0, sizeof tmp);
        int rc = value_from_text(f, &tmp, name, text, err);
        if (rc != CRM_OK)
            return rc;
        size_t *n = MEMBER(msg, f->quantifier_offset);
        char **arr = MEMBER(msg, f->offset);
        char *grown = realloc(*arr, (*n + 1) * sz);
        if (!grown) {
            if (f->type == PROTOBUF_C_TYPE_STRING)
                free(tmp.s);
            else if (f->type == PROTOBUF_C_TYPE_BYTES)
                free(tmp.b.data);
            return crm_err_set(err, CRM_EINTERNAL, name, NULL, "out of memory");
        }
        memcpy(grown + *n * sz, &tmp, sz);
        *arr = grown;
        (*n)++;
        return CRM_OK;
    }
    /* Parse into scratch so a bad value leaves the old one intact. */
    union {
        char *s;
        ProtobufCBinaryData b;
        uint64_t u;
        double d;
    } tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = value_from_text(f, &tmp, name, text, err);
    if (rc != CRM_OK)
        return rc;
    clear_single(msg, f);
    memcpy(MEMBER(msg, f->offset), &tmp, sz);
    mark_set(msg, f);
    return CRM_OK;
}

const ProtobufCFieldDescriptor *crm_pbjson_field(const ProtobufCMessageDescriptor *desc,
                                                 const char *json_name)
{
    if (!desc || !json_name)
        return NULL;
    size_t want = strlen(json_name);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (json_name_len(f->name) == want && memcmp(f->name, json_name, want) == 0 && !is_update_mask(f))
            return f;
    }
    return NULL;
}

ProtobufCMessage *crm_pb_new(const ProtobufCMessageDescriptor *desc)
{
    if (!desc)
        return NULL;
    ProtobufCMessage *m = malloc(desc->sizeof_message);
    if (!m)
        return NULL;
    protobuf_c_message_init(desc, m);
    return m;
}

char *crm_pb_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

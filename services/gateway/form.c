/* The gateway's inbound form body parser (see form.h): decodes urlencoded or JSON bodies,
 * maps the common HTML form field names onto crm.LeadCaptured and applies the contact rules
 * of WEBHOOK_SOURCES.md step 8. Never trusts the body: every byte is checked, nothing recurses. */
#include "form.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- field names --------------------------------------------------------------------------- */

typedef enum {
    SLOT_FIRST,
    SLOT_LAST,
    SLOT_NAME,
    SLOT_EMAIL,
    SLOT_PHONE,
    SLOT_COMPANY,
    SLOT_TITLE,
    SLOT_MESSAGE,
    SLOT_SINGLE_COUNT, /* the single-valued slots end here */
    SLOT_TAGS = SLOT_SINGLE_COUNT,
    SLOT_NONE = -1,
    SLOT_CONTEXT = -2, /* utm_*, page, ...: kept as the capture's context, not a lead field */
} slot_t;

static const struct {
    const char *name;
    slot_t slot;
} field_names[] = {
    {"first_name", SLOT_FIRST},
    {"firstname", SLOT_FIRST},
    {"fname", SLOT_FIRST},
    {"last_name", SLOT_LAST},
    {"lastname", SLOT_LAST},
    {"lname", SLOT_LAST},
    {"name", SLOT_NAME},
    {"full_name", SLOT_NAME},
    {"email", SLOT_EMAIL},
    {"e-mail", SLOT_EMAIL},
    {"work_email", SLOT_EMAIL},
    {"phone", SLOT_PHONE},
    {"phone_number", SLOT_PHONE},
    {"tel", SLOT_PHONE},
    {"company", SLOT_COMPANY},
    {"organization_name", SLOT_COMPANY},
    {"organization", SLOT_COMPANY},
    {"title", SLOT_TITLE},
    {"job_title", SLOT_TITLE},
    {"message", SLOT_MESSAGE},
    {"description", SLOT_MESSAGE},
    {"comments", SLOT_MESSAGE},
    {"interests", SLOT_TAGS},
    {"interests[]", SLOT_TAGS}, /* PHP-style checkbox groups */
};

static const char *const context_names[] = {"page",         "page_url", "referrer",
                                            "landing_page", "gclid",    "fbclid"};

static slot_t slot_of(const char *key, size_t keylen)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++) {
        const char *n = field_names[i].name;
        if (strlen(n) == keylen && strncasecmp(n, key, keylen) == 0)
            return field_names[i].slot;
    }
    if (keylen > 4 && strncasecmp(key, "utm_", 4) == 0)
        return SLOT_CONTEXT;
    for (size_t i = 0; i < sizeof context_names / sizeof context_names[0]; i++)
        if (strlen(context_names[i]) == keylen && strncasecmp(context_names[i], key, keylen) == 0)
            return SLOT_CONTEXT;
    return SLOT_NONE;
}

/* ---- collected values ---------------------------------------------------------------------- */

typedef struct {
    char *single[SLOT_SINGLE_COUNT]; /* malloc'd, trimmed, non-empty; first one wins */
    char **tags;
    size_t n_tags, cap_tags;
    json_t *context; /* SLOT_CONTEXT keys → trimmed text, first one wins; NULL when none */
} collect_t;

static void collect_free(collect_t *c)
{
    for (int i = 0; i < SLOT_SINGLE_COUNT; i++)
        free(c->single[i]);
    for (size_t i = 0; i < c->n_tags; i++)
        free(c->tags[i]);
    free(c->tags);
    json_decref(c->context);
    memset(c, 0, sizeof *c);
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Narrows [*v, *v + *len) to its text without surrounding whitespace. */
static void trim(const char **v, size_t *len)
{
    while (*len > 0 && is_space((unsigned char)(*v)[0])) {
        (*v)++;
        (*len)--;
    }
    while (*len > 0 && is_space((unsigned char)(*v)[*len - 1]))
        (*len)--;
}

/* A malloc'd copy of value without surrounding whitespace, or NULL when nothing is left
 * (an empty field means absent). *oom is set when malloc fails. */
static char *trimmed_copy(const char *v, size_t len, bool *oom)
{
    trim(&v, &len);
    if (len == 0)
        return NULL;
    char *s = malloc(len + 1);
    if (!s) {
        *oom = true;
        return NULL;
    }
    memcpy(s, v, len);
    s[len] = '\0';
    return s;
}

static int oom_error(crm_err_t *err)
{
    return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
}

/* Adds one value for slot. The value holds no NUL and is valid UTF-8 (checked by the caller). */
static int collect_add(collect_t *c, slot_t slot, const char *value, size_t len, crm_err_t *err)
{
    if (slot == SLOT_NONE)
        return CRM_OK;
    if (slot != SLOT_TAGS && c->single[slot])
        return CRM_OK; /* the first non-empty value of a single-valued field wins */
    bool oom = false;
    char *s = trimmed_copy(value, len, &oom);
    if (oom)
        return oom_error(err);
    if (!s)
        return CRM_OK;
    if (slot != SLOT_TAGS) {
        c->single[slot] = s;
        return CRM_OK;
    }
    if (c->n_tags == c->cap_tags) {
        size_t cap = c->cap_tags ? c->cap_tags * 2 : 8;
        char **grown = realloc(c->tags, cap * sizeof *grown);
        if (!grown) {
            free(s);
            return oom_error(err);
        }
        c->tags = grown;
        c->cap_tags = cap;
    }
    c->tags[c->n_tags++] = s; /* in arrival order: a repeated key keeps every value */
    return CRM_OK;
}

/* ---- text checks --------------------------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
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
            return false;
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

bool gw_form_email_ok(const char *email)
{
    if (!email)
        return false;
    size_t len = strlen(email);
    if (len == 0 || len > 254)
        return false;
    const char *at = strchr(email, '@');
    if (!at || strchr(at + 1, '@') || at == email)
        return false;
    for (const unsigned char *p = (const unsigned char *)email; *p; p++)
        if (*p <= 0x20 || *p == 0x7F)
            return false; /* whitespace and control characters */
    const char *domain = at + 1;
    size_t dlen = strlen(domain);
    if (dlen == 0 || !strchr(domain, '.') || domain[0] == '.' || domain[dlen - 1] == '.' ||
        strstr(domain, ".."))
        return false;
    return true;
}

/* ---- urlencoded ---------------------------------------------------------------------------- */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one urlencoded component into out (room for len bytes): '+' is a space, decided
 * before percent escapes so that "%2B" stays a literal plus. Returns the decoded length, or
 * -1 on a bad escape. */
static long url_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '+') {
            out[o++] = ' ';
        } else if (c == '%') {
            int hi = i + 1 < len ? hex_value((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = c;
        }
    }
    return (long)o;
}

/* Decodes a component and checks it is text: valid UTF-8 without NUL bytes. */
static int decode_text(const char *in, size_t len, char *out, size_t *outlen, const char *what,
                       crm_err_t *err)
{
    long n = url_decode(in, len, out);
    if (n < 0)
        return crm_err_set(err, CRM_EBADREQUEST, NULL, "malformed", "bad percent escape in a form %s", what);
    if (memchr(out, '\0', (size_t)n))
        return crm_err_set(err, CRM_EBADREQUEST, NULL, "malformed", "a NUL byte in a form %s", what);
    if (!utf8_valid((const unsigned char *)out, (size_t)n))
        return crm_err_set(err, CRM_EBADREQUEST, NULL, "malformed", "a form %s is not valid UTF-8", what);
    *outlen = (size_t)n;
    return CRM_OK;
}

/* One context value (key and value valid UTF-8 text, checked by the caller). */
static int context_add(collect_t *c, const char *key, size_t klen, const char *value, size_t vlen,
                       crm_err_t *err)
{
    trim(&value, &vlen);
    if (vlen == 0)
        return CRM_OK;
    if (!c->context && !(c->context = json_object()))
        return oom_error(err);
    if (json_object_getn(c->context, key, klen))
        return CRM_OK;
    json_t *v = json_stringn(value, vlen);
    if (!v || json_object_setn_new(c->context, key, klen, v) != 0)
        return oom_error(err);
    return CRM_OK;
}

static int parse_urlencoded(const char *body, size_t len, collect_t *c, crm_err_t *err)
{
    /* One scratch buffer for the whole body: a decoded component is never longer than its
     * encoded form. */
    char *buf = malloc(len + 1);
    if (!buf)
        return oom_error(err);
    int rc = CRM_OK;
    size_t pos = 0;
    while (pos < len && rc == CRM_OK) {
        const char *seg = body + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seglen = amp ? (size_t)(amp - seg) : len - pos;
        pos += seglen + 1;
        if (seglen == 0)
            continue;
        const char *eq = memchr(seg, '=', seglen);
        size_t klen_enc = eq ? (size_t)(eq - seg) : seglen;
        size_t klen, vlen = 0;
        rc = decode_text(seg, klen_enc, buf, &klen, "key", err);
        if (rc != CRM_OK)
            break;
        slot_t slot = slot_of(buf, klen);
        char *key = NULL;
        if (slot == SLOT_CONTEXT && eq && !(key = malloc(klen + 1))) {
            rc = oom_error(err);
            break;
        }
        if (key)
            memcpy(key, buf, klen);
        /* Every value is checked, even of ignored keys: a malformed body is refused whole. */
        if (eq)
            rc = decode_text(eq + 1, seglen - klen_enc - 1, buf, &vlen, "value", err);
        if (rc == CRM_OK && key)
            rc = context_add(c, key, klen, buf, vlen, err);
        else if (rc == CRM_OK && eq)
            rc = collect_add(c, slot, buf, vlen, err);
        free(key);
    }
    free(buf);
    return rc;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* "/" + key with JSON pointer escapes, cut to fit crm_err_t.field. */
static void key_pointer(const char *key, char out[128])
{
    size_t o = 0;
    out[o++] = '/';
    const char *p = key;
    for (; *p && o < 120; p++) {
        if (*p == '~' || *p == '/') {
            out[o++] = '~';
            out[o++] = *p == '~' ? '0' : '1';
        } else {
            out[o++] = *p;
        }
    }
    /* a cut key must not end inside a UTF-8 sequence */
    while (*p && o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
        o--;
    if (*p && o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
        o--;
    out[o] = '\0';
}

static int json_invalid_type(crm_err_t *err, const char *pointer, const json_t *v)
{
    const char *got = json_is_object(v) ? "an object" : json_is_array(v) ? "an array" : "a boolean";
    return crm_err_set(err, CRM_EINVALID, pointer, "invalid_type", "expected text or a number, got %s", got);
}

/* Text of a JSON number as the sender wrote it as closely as jansson allows: integers as their
 * digits (a phone 919876543210 stays "919876543210"), reals in their shortest exact form. */
static void number_text(const json_t *v, char out[40])
{
    if (json_is_integer(v)) {
        snprintf(out, 40, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    }
    double d = json_real_value(v);
    if (d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(long long)d) {
        snprintf(out, 40, "%lld", (long long)d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* One JSON value of a mapped key. Strings and numbers are text; null is absent. */
static int json_value_add(collect_t *c, slot_t slot, const json_t *v, const char *pointer, crm_err_t *err)
{
    if (json_is_null(v))
        return CRM_OK;
    if (json_is_string(v))
        return collect_add(c, slot, json_string_value(v), json_string_length(v), err);
    if (json_is_number(v)) {
        char text[40];
        number_text(v, text);
        return collect_add(c, slot, text, strlen(text), err);
    }
    return json_invalid_type(err, pointer, v);
}

static int collect_json(const json_t *obj, collect_t *c, crm_err_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        slot_t slot = slot_of(key, strlen(key));
        if (slot == SLOT_CONTEXT) {
            char text[40];
            const char *t = json_is_string(v) ? json_string_value(v) : NULL;
            size_t tlen = t ? json_string_length(v) : 0;
            if (json_is_number(v)) {
                number_text(v, text);
                t = text;
                tlen = strlen(text);
            }
            /* jansson allows "\u0000" in strings; context is text, so such a value is left out */
            if (t && !memchr(t, '\0', tlen) && context_add(c, key, strlen(key), t, tlen, err) != CRM_OK)
                return err->code;
            continue;
        }
        if (slot == SLOT_NONE)
            continue; /* other keys (consent flags, nested objects) are ignored */
        char pointer[128];
        key_pointer(key, pointer);
        int rc = CRM_OK;
        if (slot == SLOT_TAGS && json_is_array(v)) {
            for (size_t i = 0; i < json_array_size(v) && rc == CRM_OK; i++) {
                char ep[128];
                snprintf(ep, sizeof ep, "%.100s/%zu", pointer, i);
                rc = json_value_add(c, slot, json_array_get(v, i), ep, err);
            }
        } else {
            rc = json_value_add(c, slot, v, pointer, err);
        }
        if (rc != CRM_OK)
            return rc;
    }
    return CRM_OK;
}

static int parse_json(const char *body, size_t len, collect_t *c, crm_err_t *err)
{
    /* jansson refuses invalid UTF-8, NUL escapes and nesting beyond JSON_PARSER_MAX_DEPTH
     * (2048); duplicate keys are refused too, so no value silently shadows another. */
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return crm_err_set(err, CRM_EBADREQUEST, NULL, "malformed", "body is not valid JSON: %s (line %d)",
                           jerr.text, jerr.line);
    int rc;
    if (!json_is_object(root))
        rc = crm_err_set(err, CRM_EBADREQUEST, NULL, "malformed", "body must be a JSON object");
    else
        rc = collect_json(root, c, err);
    json_decref(root);
    return rc;
}

/* ---- mapping and validation ---------------------------------------------------------------- */

/* "Ada King Lovelace" → first "Ada King", last "Lovelace"; one word → last name only. Fills
 * only the parts the sender did not give on their own. */
static int split_name(collect_t *c, crm_err_t *err)
{
    char *name = c->single[SLOT_NAME];
    if (!name || (c->single[SLOT_FIRST] && c->single[SLOT_LAST]))
        return CRM_OK;
    size_t len = strlen(name); /* trimmed: no whitespace at either end */
    size_t cut = len;
    while (cut > 0 && !is_space((unsigned char)name[cut - 1]))
        cut--;
    bool oom = false;
    if (!c->single[SLOT_LAST])
        c->single[SLOT_LAST] = trimmed_copy(name + cut, len - cut, &oom);
    if (cut > 0 && !c->single[SLOT_FIRST])
        c->single[SLOT_FIRST] = trimmed_copy(name, cut, &oom);
    return oom ? oom_error(err) : CRM_OK;
}

static int validate(collect_t *c, crm_err_t *err)
{
    char **s = c->single;
    if (s[SLOT_EMAIL] && !gw_form_email_ok(s[SLOT_EMAIL]))
        return crm_err_set(err, CRM_EINVALID, "/email", "incorrect_value", "not a valid e-mail address");
    if (!s[SLOT_LAST] && !s[SLOT_COMPANY] && !s[SLOT_EMAIL] && !s[SLOT_PHONE])
        return crm_err_set(err, CRM_EINVALID, "/last_name", "missing",
                           "a lead needs a last name, an organization, an e-mail or a phone; none was given");
    if (!s[SLOT_LAST] && !s[SLOT_COMPANY]) {
        bool oom = false;
        if (s[SLOT_EMAIL]) {
            const char *at = strchr(s[SLOT_EMAIL], '@'); /* validated: exists, not first */
            s[SLOT_LAST] = trimmed_copy(s[SLOT_EMAIL], (size_t)(at - s[SLOT_EMAIL]), &oom);
        } else {
            s[SLOT_LAST] = trimmed_copy(s[SLOT_PHONE], strlen(s[SLOT_PHONE]), &oom);
        }
        if (oom)
            return oom_error(err);
    }
    return CRM_OK;
}

static void move_into(collect_t *c, Crm__LeadCaptured *out)
{
    gw_form_clear(out);
    out->first_name = c->single[SLOT_FIRST];
    out->last_name = c->single[SLOT_LAST];
    out->organization_name = c->single[SLOT_COMPANY];
    out->email = c->single[SLOT_EMAIL];
    out->phone = c->single[SLOT_PHONE];
    out->title = c->single[SLOT_TITLE];
    out->description = c->single[SLOT_MESSAGE];
    out->tags = c->tags;
    out->n_tags = c->n_tags;
    out->context_json = c->context ? json_dumps(c->context, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c->context);
    free(c->single[SLOT_NAME]);
    memset(c, 0, sizeof *c);
}

int gw_form_parse(gw_form_type_t type, const char *body, size_t len, Crm__LeadCaptured *out, crm_err_t *err)
{
    if (!out)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "no message to fill");
    if (!body)
        len = 0;
    collect_t c;
    memset(&c, 0, sizeof c);
    int rc;
    switch (type) {
    case GW_FORM_URLENCODED:
        rc = parse_urlencoded(body ? body : "", len, &c, err);
        break;
    case GW_FORM_JSON:
        rc = parse_json(body ? body : "", len, &c, err);
        break;
    default:
        rc = crm_err_set(err, CRM_EBADREQUEST, NULL, "unsupported", "unsupported form body type");
        break;
    }
    if (rc == CRM_OK)
        rc = split_name(&c, err);
    if (rc == CRM_OK)
        rc = validate(&c, err);
    if (rc != CRM_OK) {
        collect_free(&c);
        return rc;
    }
    move_into(&c, out);
    return CRM_OK;
}

void gw_form_clear(Crm__LeadCaptured *lc)
{
    if (!lc)
        return;
    char **fields[] = {&lc->first_name, &lc->last_name, &lc->organization_name, &lc->email,
                       &lc->phone,      &lc->title,     &lc->description};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
    for (size_t i = 0; i < lc->n_tags; i++)
        free(lc->tags[i]);
    free(lc->tags);
    lc->tags = NULL;
    lc->n_tags = 0;
    free(lc->context_json);
    lc->context_json = NULL;
}

/* ---- content type -------------------------------------------------------------------------- */

/* Compares [s, s+n) with lit, ignoring ASCII case. */
static bool token_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Checks the parameters after the media type: only a UTF-8 (or ASCII) charset is acceptable. */
static bool params_ok(const char *p)
{
    while (*p) {
        while (*p == ';' || is_space((unsigned char)*p))
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';' && !is_space((unsigned char)*p))
            p++;
        size_t nlen = (size_t)(p - name);
        while (is_space((unsigned char)*p))
            p++;
        if (*p != '=') {
            continue;
        }
        p++;
        while (is_space((unsigned char)*p))
            p++;
        const char *val = p;
        size_t vlen;
        if (*p == '"') {
            val = ++p;
            while (*p && *p != '"')
                p++;
            vlen = (size_t)(p - val);
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ';' && !is_space((unsigned char)*p))
                p++;
            vlen = (size_t)(p - val);
        }
        if (token_is(name, nlen, "charset") && !token_is(val, vlen, "utf-8") &&
            !token_is(val, vlen, "utf8") && !token_is(val, vlen, "us-ascii"))
            return false;
    }
    return true;
}

gw_form_type_t gw_form_content_type(const char *content_type)
{
    if (!content_type)
        return GW_FORM_UNSUPPORTED;
    const char *p = content_type;
    while (is_space((unsigned char)*p))
        p++;
    const char *start = p;
    while (*p && *p != ';' && !is_space((unsigned char)*p))
        p++;
    size_t n = (size_t)(p - start);
    gw_form_type_t t = GW_FORM_UNSUPPORTED;
    if (token_is(start, n, "application/x-www-form-urlencoded"))
        t = GW_FORM_URLENCODED;
    else if (token_is(start, n, "application/json"))
        t = GW_FORM_JSON;
    else if (token_is(start, n, "multipart/form-data"))
        t = GW_FORM_MULTIPART;
    else if (n > 17 && strncasecmp(start, "application/", 12) == 0 && strncasecmp(p - 5, "+json", 5) == 0)
        t = GW_FORM_JSON;
    if (t == GW_FORM_UNSUPPORTED || !params_ok(p))
        return GW_FORM_UNSUPPORTED;
    return t;
}

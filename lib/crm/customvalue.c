#include "crm/customvalue.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm/util.h"

void crm_cv_defs_add(crm_cv_defs_t *d, const char *name, const char *type, char *const *choices, size_t n)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->f = realloc(d->f, d->cap * sizeof *d->f);
        if (!d->f)
            abort();
    }
    crm_cv_field_t *f = &d->f[d->n++];
    f->name = crm_strdup(name);
    f->type = crm_strdup(type ? type : "");
    f->choices = calloc(n + 1, sizeof *f->choices);
    f->nchoices = n;
    for (size_t i = 0; i < n; i++)
        f->choices[i] = crm_strdup(choices[i] ? choices[i] : "");
}

const crm_cv_field_t *crm_cv_defs_find(const crm_cv_defs_t *d, const char *name)
{
    for (size_t i = 0; d && name && i < d->n; i++)
        if (strcmp(d->f[i].name, name) == 0)
            return &d->f[i];
    return NULL;
}

void crm_cv_defs_free(crm_cv_defs_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        for (size_t c = 0; c < d->f[i].nchoices; c++)
            free(d->f[i].choices[c]);
        free(d->f[i].choices);
        free(d->f[i].name);
        free(d->f[i].type);
    }
    free(d->f);
    *d = (crm_cv_defs_t){0};
}

/* ---- dates ------------------------------------------------------------------------------------ */

static bool num(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool ymd(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (!num(s, 4, &y) || s[4] != '-' || !num(s + 5, 2, &m) || s[7] != '-' || !num(s + 8, 2, &d))
        return false;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    return !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

bool crm_cv_date_ok(const char *s)
{
    return s && strnlen(s, 11) == 10 && ymd(s);
}

bool crm_cv_datetime_ok(const char *s)
{
    if (!s || strnlen(s, 10) < 10 || !ymd(s))
        return false;
    s += 10;
    if (*s == '\0')
        return true;
    int h, m, sec;
    if ((*s != 'T' && *s != 't' && *s != ' ') || !num(s + 1, 2, &h) || s[3] != ':' || !num(s + 4, 2, &m) ||
        h > 23 || m > 59)
        return false;
    s += 6;
    if (*s == ':') {
        if (!num(s + 1, 2, &sec) || sec > 60)
            return false;
        s += 3;
        if (*s == '.') {
            size_t f = strspn(s + 1, "0123456789");
            if (f == 0 || f > 9)
                return false;
            s += 1 + f;
        }
    }
    if (*s == '\0' || ((*s == 'Z' || *s == 'z') && s[1] == '\0'))
        return true;
    if (*s != '+' && *s != '-')
        return false;
    if (!num(s + 1, 2, &h) || h > 14)
        return false;
    s += 3;
    s += *s == ':';
    return num(s, 2, &m) && m < 60 && s[2] == '\0';
}

/* ---- values ----------------------------------------------------------------------------------- */

/* Characters of a UTF-8 text (bytes that do not start a sequence are not counted). */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

const char *crm_cv_too_long(const char *type, const char *s)
{
    if (strcmp(type, "text") == 0)
        return strlen(s) > CRM_CV_TEXT_MAX ? "longer than 65536 bytes" : NULL;
    return chars(s) > CRM_CV_STRING_MAX ? "longer than 255 characters" : NULL;
}

static bool decimal(const char *s)
{
    s += *s == '-' || *s == '+';
    size_t before = strspn(s, "0123456789"), after = 0;
    s += before;
    if (*s == '.') {
        after = strspn(s + 1, "0123456789");
        if (after == 0)
            return false;
        s += 1 + after;
    }
    return before > 0 && before + after <= 30 && *s == '\0';
}

static bool email(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && at[1] && !strchr(at + 1, '@') && !strpbrk(s, " \t\r\n,;<>\"");
}

bool crm_cv_url_ok(const char *s)
{
    size_t skip = strncasecmp(s, "http://", 7) == 0 ? 7 : strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
    if (skip == 0 || s[skip] == '\0' || s[skip] == '/')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ')
            return false;
    return true;
}

static bool phone(const char *s)
{
    return strpbrk(s, "0123456789") && strspn(s, "0123456789 +-().\\/xX") == strlen(s);
}

/* The choice of f named v (case and blanks around it ignored), or NULL. */
static const char *choice(const crm_cv_field_t *f, const char *v, size_t len)
{
    while (len > 0 && isspace((unsigned char)*v))
        v++, len--;
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    for (size_t i = 0; i < f->nchoices; i++)
        if (strlen(f->choices[i]) == len && strncasecmp(f->choices[i], v, len) == 0)
            return f->choices[i];
    return NULL;
}

bool crm_cv_add_choice(json_t *arr, const char *c)
{
    if (!c)
        return false;
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (strcmp(json_string_value(json_array_get(arr, i)), c) == 0)
            return false;
    json_array_append_new(arr, json_string(c));
    return true;
}

static json_t *multi(const crm_cv_field_t *f, const char *v, const char **why)
{
    json_t *out = json_array();
    for (const char *p = v;;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *c = choice(f, p, len);
        if (!crm_cv_add_choice(out, c)) {
            json_decref(out);
            *why = c ? "a choice given twice" : "not one of the field's choices";
            return NULL;
        }
        if (!end)
            return out;
        p = end + 1;
    }
}

static json_t *typed(const crm_cv_field_t *f, const char *v, const char **why)
{
    const char *t = f->type;
    if (strcmp(t, "text") == 0 || strcmp(t, "string") == 0 || strcmp(t, "phone") == 0 ||
        strcmp(t, "email") == 0 || strcmp(t, "url") == 0) {
        if ((*why = crm_cv_too_long(t, v)))
            return NULL;
        if (strcmp(t, "email") == 0 && !email(v))
            *why = "not an e-mail address";
        else if (strcmp(t, "url") == 0 && !crm_cv_url_ok(v))
            *why = "not an http:// or https:// URL";
        else if (strcmp(t, "phone") == 0 && !phone(v))
            *why = "not a phone number";
        else
            return json_string(v);
        return NULL;
    }
    if (strcmp(t, "number") == 0) {
        *why = "not a number";
        return decimal(v) ? json_string(v) : NULL;
    }
    if (strcmp(t, "date") == 0) {
        *why = "not a date (YYYY-MM-DD)";
        return crm_cv_date_ok(v) ? json_string(v) : NULL;
    }
    if (strcmp(t, "datetime") == 0) {
        *why = "not an ISO 8601 date-time";
        return crm_cv_datetime_ok(v) ? json_string(v) : NULL;
    }
    if (strcmp(t, "bool") == 0) {
        static const char *const yes[] = {"true", "yes", "y", "t", "1"}, *const no[] = {"false", "no", "n",
                                                                                        "f", "0"};
        for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
            if (strcasecmp(v, yes[i]) == 0)
                return json_true();
            if (strcasecmp(v, no[i]) == 0)
                return json_false();
        }
        *why = "not true or false";
        return NULL;
    }
    if (strcmp(t, "list") == 0) {
        const char *c = choice(f, v, strlen(v));
        *why = "not one of the field's choices";
        return c ? json_string(c) : NULL;
    }
    if (strcmp(t, "multi_select_list") == 0)
        return multi(f, v, why);
    *why = "the field has a type the import does not know";
    return NULL;
}

json_t *crm_cv_from_text(const crm_cv_field_t *f, const char *text, const char **why)
{
    *why = NULL;
    if (!text)
        return NULL;
    while (isspace((unsigned char)*text))
        text++;
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0)
        return NULL;
    char *v = malloc(len + 1);
    if (!v)
        abort();
    memcpy(v, text, len);
    v[len] = '\0';
    json_t *out = typed(f, v, why);
    free(v);
    if (out)
        *why = NULL;
    return out;
}

json_t *crm_cv_row(const crm_cv_defs_t *d, char *const *columns, char *const *values, size_t n, char *reason,
                   size_t len)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < n; i++) {
        const crm_cv_field_t *f = crm_cv_defs_find(d, columns[i]);
        if (!f)
            continue;
        const char *why = NULL;
        json_t *v = crm_cv_from_text(f, values[i], &why);
        if (why) {
            snprintf(reason, len, "custom field '%.80s': %s", f->name, why);
            json_decref(obj);
            return NULL;
        }
        if (v)
            json_object_set_new(obj, f->name, v);
    }
    return obj;
}

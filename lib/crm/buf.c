#include "crm/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(crm_buf_t *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s)
        abort();
    b->s = s;
    b->cap = cap;
}

void crm_buf_printf(crm_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void crm_buf_copy_field(crm_buf_t *b, const char *v, bool last)
{
    if (!v) {
        crm_buf_printf(b, "\\N%c", last ? '\n' : '\t');
        return;
    }
    size_t n = strlen(v);
    reserve(b, 2 * n + 1);
    for (const char *p = v; *p; p++) {
        char e = *p == '\\' ? '\\' : *p == '\t' ? 't' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : 0;
        if (e) {
            b->s[b->len++] = '\\';
            b->s[b->len++] = e;
        } else {
            b->s[b->len++] = *p;
        }
    }
    b->s[b->len++] = last ? '\n' : '\t';
    b->s[b->len] = 0;
}

void crm_buf_i64_array(crm_buf_t *b, const int64_t *v, size_t n)
{
    reserve(b, 2 + 21 * n);
    b->s[b->len++] = '{';
    for (size_t i = 0; i < n; i++)
        b->len += (size_t)snprintf(b->s + b->len, 22, i ? ",%lld" : "%lld", (long long)v[i]);
    b->s[b->len++] = '}';
    b->s[b->len] = 0;
}

void crm_buf_free(crm_buf_t *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

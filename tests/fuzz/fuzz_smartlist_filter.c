/* libFuzzer target for the smart list filter compiler (services/leads/smartfilter.c): arbitrary
 * bytes → jansson → leads_filter_compile. A refusal must name a field under /filter; a success
 * must give SQL without any literal but the compiler's own (values are parameters), with
 * parameters numbered from the first, and everything freed (ASan/UBSan/LSan). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smartfilter.h"

/* The compiler's SQL has only its own constant literals: no other quote, no ';', no comment. A
 * value pasted into the text would have to bring one of them. Every '$' outside those literals
 * is a placeholder within first .. first + nparams - 1 (the numeric regex literal has its own '$'
 * anchor, which is why the placeholders are checked on the copy with the literals blanked). */
static void check_sql(const char *sql, long first, long nparams)
{
    static const char *allowed[] = {"'^[-+]?[0-9]+(\\.[0-9]+)?$'", "'null'"};
    char *copy = strdup(sql);
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        for (char *p = strstr(copy, allowed[i]); p; p = strstr(p, allowed[i]))
            memset(p, ' ', strlen(allowed[i]));
    if (strchr(copy, '\'') || strchr(copy, ';') || strstr(copy, "--") || strstr(copy, "/*") || strchr(copy, '"'))
        abort();
    for (const char *p = strchr(copy, '$'); p; p = strchr(p + 1, '$')) {
        char *end;
        long k = strtol(p + 1, &end, 10);
        if (end == p + 1 || k < first || k >= first + nparams)
            abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *f = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!f)
        return 0;
    leads_filter_t out;
    crm_err_t err;
    crm_err_clear(&err);
    int rc = leads_filter_compile(f, 2, &out, &err);
    if (rc != CRM_OK) {
        if (rc != CRM_EINVALID || strncmp(err.field, "/filter", 7) != 0 || out.sql || out.nparams)
            abort();
    } else {
        if (!out.sql || strncmp(out.sql, "TRUE", 4) != 0 || out.nparams > LEADS_FILTER_MAX_PARAMS)
            abort();
        check_sql(out.sql, 2, (long)out.nparams);
        leads_filter_clear(&out);
    }
    json_decref(f);
    return 0;
}

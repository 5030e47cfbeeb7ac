/* Result rows into protobuf-c fields, parameters from optional values, list windows. */
#include "crm/row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crm/util.h"

char *crm_row_str(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return crm_strdup(PQgetvalue(res, row, col));
}

bool crm_row_i64(const PGresult *res, int row, int col, protobuf_c_boolean *has, int64_t *out)
{
    *has = 0;
    if (PQgetisnull(res, row, col))
        return false;
    *out = strtoll(PQgetvalue(res, row, col), NULL, 10);
    *has = 1;
    return true;
}

bool crm_row_i32(const PGresult *res, int row, int col, protobuf_c_boolean *has, int32_t *out)
{
    int64_t v = 0;
    if (!crm_row_i64(res, row, col, has, &v))
        return false;
    *out = (int32_t)v;
    return true;
}

bool crm_row_bool(const PGresult *res, int row, int col, protobuf_c_boolean *has, protobuf_c_boolean *out)
{
    *has = 0;
    if (PQgetisnull(res, row, col))
        return false;
    *out = PQgetvalue(res, row, col)[0] == 't';
    *has = 1;
    return true;
}

const char *crm_param_i64(char buf[24], bool has, int64_t value)
{
    if (!has)
        return NULL;
    snprintf(buf, 24, "%lld", (long long)value);
    return buf;
}

const char *crm_param_bool(bool has, bool value)
{
    return has ? (value ? "t" : "f") : NULL;
}

int crm_page_window(bool has_page, int32_t page, bool has_per_page, int32_t per_page, crm_page_t *out,
                    crm_err_t *err)
{
    out->page = has_page ? page : 1;
    out->per_page = has_per_page ? per_page : 25;
    if (out->page < 1)
        return crm_err_set(err, CRM_EBADREQUEST, "page", "invalid_param",
                           "page must be 1 or more, given: %d", out->page);
    if (out->per_page < 1 || out->per_page > 100)
        return crm_err_set(err, CRM_EBADREQUEST, "per_page", "invalid_param",
                           "per_page must be between 1 and 100, given: %d", out->per_page);
    if (out->page > 10000000)
        return crm_err_set(err, CRM_EBADREQUEST, "page", "invalid_param", "page is too large, given: %d",
                           out->page);
    out->limit = out->per_page + 1;
    out->offset = (out->page - 1) * out->per_page;
    return CRM_OK;
}

int crm_sort_parse(const char *sort_by, const char *const *fields, int dflt_index, bool dflt_desc, int *index,
                   bool *desc, crm_err_t *err)
{
    *index = dflt_index;
    *desc = dflt_desc;
    if (!sort_by || !*sort_by)
        return CRM_OK;
    const char *colon = strchr(sort_by, ':');
    size_t flen = colon ? (size_t)(colon - sort_by) : strlen(sort_by);
    if (colon) {
        if (strcmp(colon + 1, "asc") == 0)
            *desc = false;
        else if (strcmp(colon + 1, "desc") == 0)
            *desc = true;
        else
            return crm_err_set(err, CRM_EBADREQUEST, "sort_by", "invalid_param",
                               "sort_by direction must be asc or desc, given: %s", colon + 1);
    } else {
        *desc = false;
    }
    for (int i = 0; fields[i]; i++)
        if (strlen(fields[i]) == flen && strncmp(fields[i], sort_by, flen) == 0) {
            *index = i;
            return CRM_OK;
        }
    return crm_err_set(err, CRM_EBADREQUEST, "sort_by", "invalid_param", "sort_by cannot sort on '%.*s'",
                       (int)flen, sort_by);
}

char *crm_param_text_array(char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(items[i]) + 3;
    char *out = malloc(cap);
    if (!out)
        abort();
    char *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = 0;
    return out;
}

char *crm_param_ids(const char *csv, const char *param, crm_err_t *err)
{
    size_t len = strlen(csv);
    char *out = malloc(len + 3);
    if (!out)
        abort();
    char *p = out;
    *p++ = '{';
    const char *s = csv;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        bool ok = n > 0 && n < 19;
        for (size_t i = 0; ok && i < n; i++)
            ok = s[i] >= '0' && s[i] <= '9';
        if (!ok) {
            free(out);
            crm_err_set(err, CRM_EBADREQUEST, param, "invalid_param",
                        "%s must be a comma-separated list of ids, given: %.64s", param, csv);
            return NULL;
        }
        if (p > out + 1)
            *p++ = ',';
        memcpy(p, s, n);
        p += n;
        s += n;
        if (*s == ',')
            s++;
    }
    *p++ = '}';
    *p = 0;
    return out;
}

int crm_row_str_array(const PGresult *res, int row, int col, size_t *n, char ***out)
{
    *n = 0;
    *out = NULL;
    if (PQgetisnull(res, row, col))
        return CRM_OK;
    json_t *arr = json_loads(PQgetvalue(res, row, col), 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return CRM_EINTERNAL;
    }
    size_t count = json_array_size(arr);
    if (count) {
        *out = calloc(count, sizeof **out);
        if (!*out)
            abort();
    }
    for (size_t i = 0; i < count; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        (*out)[(*n)++] = crm_strdup(s ? s : "");
    }
    json_decref(arr);
    return CRM_OK;
}

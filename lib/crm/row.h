/* Helpers for the store.c files: SQL result values into protobuf-c fields, typed values into
 * statement parameters, and the page window of list requests. */
#ifndef CRM_ROW_H
#define CRM_ROW_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include "crm/err.h"

/* A malloc'd copy of the value (NULL for SQL NULL), for string fields of reply messages. */
char *crm_row_str(const PGresult *res, int row, int col);
/* Sets *has and *out from a bigint/int column; false (and *has = 0) for SQL NULL. */
bool crm_row_i64(const PGresult *res, int row, int col, protobuf_c_boolean *has, int64_t *out);
bool crm_row_i32(const PGresult *res, int row, int col, protobuf_c_boolean *has, int32_t *out);
bool crm_row_bool(const PGresult *res, int row, int col, protobuf_c_boolean *has, protobuf_c_boolean *out);

/* Text of an optional int64 for a statement parameter: buf, or NULL (SQL NULL) when !has. */
const char *crm_param_i64(char buf[24], bool has, int64_t value);
/* "t"/"f" or NULL. */
const char *crm_param_bool(bool has, bool value);

/* The page window of a list request (Sell: page from 1, per_page 1..100, default 25). Asks one
 * row more than the page so the caller can tell has_more. */
typedef struct {
    int page, per_page;
    int limit;  /* per_page + 1 */
    int offset; /* (page - 1) * per_page */
} crm_page_t;

int crm_page_window(bool has_page, int32_t page, bool has_per_page, int32_t per_page, crm_page_t *out,
                    crm_err_t *err);

/* A sort_by value "field" or "field:asc|desc" checked against the allowed fields (NULL-ended).
 * Writes the chosen field index and direction; an unknown field or direction is CRM_EBADREQUEST.
 * sort_by NULL → dflt_index, ascending (or dflt_desc). */
int crm_sort_parse(const char *sort_by, const char *const *fields, int dflt_index, bool dflt_desc, int *index,
                   bool *desc, crm_err_t *err);



/* A Postgres text[] literal ("{\"a\",\"b\"}") for a statement parameter; malloc'd. */
char *crm_param_text_array(char *const *items, size_t n);
/* A bigint[] literal from "1,2,3" (Sell's ids= parameter); malloc'd, or NULL with
 * CRM_EBADREQUEST naming `param` when an element is not a positive integer. */
char *crm_param_ids(const char *csv, const char *param, crm_err_t *err);
/* Parses a json array of strings (as to_json(text[])::text gives) into a malloc'd array. */
int crm_row_str_array(const PGresult *res, int row, int col, size_t *n, char ***out);
#endif

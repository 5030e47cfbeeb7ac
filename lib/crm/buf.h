/* A growable byte buffer for building large texts: COPY data, Postgres array literals. Aborts on
 * out of memory (like crm_strdup). */
#ifndef CRM_BUF_H
#define CRM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *s; /* NUL-terminated once anything was appended (NULL before) */
    size_t len, cap;
} crm_buf_t;

void crm_buf_printf(crm_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One field of COPY ... FROM STDIN text format: v escaped (NULL → \N), then a tab, or a newline
 * when it is the last of its row. */
void crm_buf_copy_field(crm_buf_t *b, const char *v, bool last);
/* A bigint[] literal "{1,2,3}" of n values. */
void crm_buf_i64_array(crm_buf_t *b, const int64_t *v, size_t n);
void crm_buf_free(crm_buf_t *b);

#endif

/* libFuzzer target for the streaming CSV reader: the input is read in chunks whose sizes come
 * from its first byte, with the separator sniffed and a small field cap. Every record must be
 * consistent: fields NUL-terminated at their length, lines increasing, a record without an error
 * holding valid UTF-8 only, offsets never past the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crm/csv.h"

typedef struct {
    const uint8_t *data;
    size_t len, pos, chunk;
} mem_t;

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
    mem_t *m = arg;
    size_t n = m->len - m->pos;
    if (n > len)
        n = len;
    if (n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mem_t m = {data + 1, size - 1, 0, (size_t)(data[0] % 17) + 1};
    size_t cap = data[0] & 0x80 ? 8 : 0;
    crm_csv_t *c = crm_csv_new(mem_read, &m, cap, 0);
    crm_csv_record_t rec;
    long last_line = 0;
    int rc;
    while ((rc = crm_csv_next(c, &rec)) == 1) {
        if (rec.nfields < 1 || rec.nfields > CRM_CSV_MAX_FIELDS)
            abort();
        if (rec.line <= last_line || rec.end_line < rec.line)
            abort();
        last_line = rec.end_line;
        if (rec.end_offset > m.len)
            abort();
        for (size_t i = 0; i < rec.nfields; i++) {
            if (rec.fields[i][rec.lens[i]] != '\0')
                abort();
            if (cap && rec.lens[i] > cap)
                abort();
            if (!rec.error &&
                (!crm_csv_utf8_valid(rec.fields[i], rec.lens[i]) || memchr(rec.fields[i], '\0', rec.lens[i])))
                abort();
            (void)crm_csv_formula_like(rec.fields[i]);
        }
    }
    if (rc != 0)
        abort();
    char sep = crm_csv_separator(c);
    if (sep != ',' && sep != ';')
        abort();
    crm_csv_free(&c);
    return 0;
}

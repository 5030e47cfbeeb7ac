/* Unit tests of csv.c: RFC 4180 quoting, separators, BOM, line numbers, and hostile input
 * (ragged rows, an unterminated quote, invalid UTF-8, a 1 MiB field, formula injection). Every
 * input is also read one byte per read() call, so the buffer edges are crossed everywhere. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crm/csv.h"

typedef struct {
    const char *data;
    size_t len, pos, chunk;
} mem_t;

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
    mem_t *m = arg;
    size_t n = m->len - m->pos;
    if (n > len)
        n = len;
    if (m->chunk && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

/* One parsed record, copied out. */
typedef struct {
    size_t n;
    char *f[16];
    size_t lens[16];
    long line, end_line;
    const char *error;
} row_t;

/* Parses data (len bytes) into rows; returns the count. chunk: bytes per read (0: any). */
static size_t parse(const char *data, size_t len, size_t chunk, size_t cap, row_t *rows, size_t max,
                    char *sep)
{
    mem_t m = {data, len, 0, chunk};
    crm_csv_t *c = crm_csv_new(mem_read, &m, cap, 0);
    cr_assert_not_null(c);
    crm_csv_record_t rec;
    size_t n = 0;
    int rc;
    while ((rc = crm_csv_next(c, &rec)) == 1) {
        cr_assert_lt(n, max);
        row_t *r = &rows[n++];
        r->n = rec.nfields;
        r->line = rec.line;
        r->end_line = rec.end_line;
        r->error = rec.error;
        for (size_t i = 0; i < rec.nfields && i < 16; i++) {
            r->f[i] = malloc(rec.lens[i] + 1);
            memcpy(r->f[i], rec.fields[i], rec.lens[i] + 1);
            r->lens[i] = rec.lens[i];
        }
    }
    cr_assert_eq(rc, 0, "read error");
    if (sep)
        *sep = crm_csv_separator(c);
    crm_csv_free(&c);
    return n;
}

static void rows_free(row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < rows[i].n && k < 16; k++)
            free(rows[i].f[k]);
}

/* Parses s whole and one byte at a time; both must agree; returns the first. */
static size_t parse_both(const char *s, row_t *rows, size_t max, char *sep)
{
    row_t other[32];
    size_t n = parse(s, strlen(s), 0, 0, rows, max, sep);
    size_t n1 = parse(s, strlen(s), 1, 0, other, 32, NULL);
    cr_assert_eq(n, n1);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(rows[i].n, other[i].n);
        cr_assert_eq(rows[i].line, other[i].line);
        cr_assert_eq(rows[i].end_line, other[i].end_line);
        cr_assert_eq(rows[i].error, other[i].error);
        for (size_t k = 0; k < rows[i].n && k < 16; k++)
            cr_assert_str_eq(rows[i].f[k], other[i].f[k]);
    }
    rows_free(other, n1);
    return n;
}

Test(csv, plain_and_quoted)
{
    row_t r[8];
    char sep;
    size_t n = parse_both("first_name,last_name,description\r\n"
                          "Ada,Lovelace,\"likes \"\"engines\"\", and, commas\"\r\n"
                          "\"Grace\",Hopper,\"two\nlines\"\n"
                          "Alan,Turing,\n",
                          r, 8, &sep);
    cr_assert_eq(sep, ',');
    cr_assert_eq(n, 4);
    cr_assert_eq(r[0].n, 3);
    cr_assert_str_eq(r[1].f[2], "likes \"engines\", and, commas");
    cr_assert_eq(r[1].line, 2);
    cr_assert_str_eq(r[2].f[0], "Grace");
    cr_assert_str_eq(r[2].f[2], "two\nlines");
    cr_assert_eq(r[2].line, 3);
    cr_assert_eq(r[2].end_line, 4, "the embedded newline is a physical line");
    cr_assert_eq(r[3].line, 5);
    cr_assert_eq(r[3].n, 3);
    cr_assert_str_eq(r[3].f[2], "");
    for (size_t i = 0; i < n; i++)
        cr_assert_null(r[i].error);
    rows_free(r, n);
}

Test(csv, semicolon_sniffed_bom_skipped_blank_lines)
{
    row_t r[8];
    char sep;
    size_t n = parse_both("\xEF\xBB\xBF"
                          "Vorname;Nachname;Firma\n"
                          "\n"
                          "J\xC3\xBCrgen;M\xC3\xBCller;\"A, B; C\"\n"
                          "\r\n"
                          "Eva;Schmidt;X",
                          r, 8, &sep);
    cr_assert_eq(sep, ';');
    cr_assert_eq(n, 3);
    cr_assert_str_eq(r[0].f[0], "Vorname", "the BOM is not part of the first header");
    cr_assert_str_eq(r[1].f[1], "M\xC3\xBCller");
    cr_assert_str_eq(r[1].f[2], "A, B; C");
    cr_assert_eq(r[1].line, 3);
    cr_assert_eq(r[2].line, 5);
    cr_assert_str_eq(r[2].f[2], "X", "the last record needs no line end");
    rows_free(r, n);
}

Test(csv, sniff_ignores_quoted_separators)
{
    row_t r[4];
    char sep;
    size_t n = parse_both("\"a;b;c;d\",e,f\n1,2,3\n", r, 4, &sep);
    cr_assert_eq(sep, ',');
    cr_assert_eq(n, 2);
    cr_assert_str_eq(r[0].f[0], "a;b;c;d");
    rows_free(r, n);
}

Test(csv, cr_only_line_ends)
{
    row_t r[4];
    size_t n = parse_both("a,b\rc,d\r", r, 4, NULL);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(r[1].f[0], "c");
    cr_assert_eq(r[1].line, 2);
    rows_free(r, n);
}

Test(csv, ragged_rows_are_returned_as_they_are)
{
    row_t r[4];
    size_t n = parse_both("a,b,c\n1,2\n1,2,3,4\n", r, 4, NULL);
    cr_assert_eq(n, 3);
    cr_assert_eq(r[1].n, 2);
    cr_assert_eq(r[2].n, 4);
    cr_assert_null(r[1].error, "the field count is the caller's to judge against the header");
    rows_free(r, n);
}

Test(csv, unterminated_quote_at_eof)
{
    row_t r[4];
    size_t n = parse_both("a,b\n1,\"never closed\nstill, going\n", r, 4, NULL);
    cr_assert_eq(n, 2);
    cr_assert_eq(r[1].line, 2);
    cr_assert_not_null(r[1].error);
    cr_assert(strstr(r[1].error, "not closed"));
    rows_free(r, n);
}

Test(csv, invalid_utf8_rejected_per_record)
{
    row_t r[8];
    size_t n = parse_both("a,b\n\xC3\x28,x\nok,\xE2\x82\xAC\n\xED\xA0\x80,y\n\xC0\xAF,z\n", r, 8, NULL);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(r[4].error, "invalid UTF-8", "an overlong encoding is not UTF-8");
    cr_assert_str_eq(r[1].error, "invalid UTF-8");
    cr_assert_null(r[2].error, "the euro sign is valid");
    cr_assert_str_eq(r[3].error, "invalid UTF-8", "a surrogate is not UTF-8");
    rows_free(r, n);
    cr_assert_not(crm_csv_utf8_valid("\xC0\xAF", 2), "overlong");
    cr_assert_not(crm_csv_utf8_valid("\xF4\x90\x80\x80", 4), "above U+10FFFF");
    cr_assert_not(crm_csv_utf8_valid("\xE2\x82", 2), "truncated");
    cr_assert(crm_csv_utf8_valid("\xF0\x9F\x98\x80", 4));
}

Test(csv, nul_byte_rejected)
{
    row_t r[4];
    static const char in[] = "a,b\nx\0y,z\nok,ok\n";
    size_t n = parse(in, sizeof in - 1, 0, 0, r, 4, NULL);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(r[1].error, "NUL byte in a field");
    cr_assert_null(r[2].error);
    rows_free(r, n);
}

/* A field of exactly the cap is kept; one byte more is refused, and the next record is fine. */
Test(csv, one_mib_field)
{
    size_t cap = CRM_CSV_DEFAULT_FIELD_CAP;
    size_t len = 64 + 2 * cap;
    char *in = malloc(len + 64);
    size_t k = 0;
    k += (size_t)sprintf(in + k, "a,b\n\"");
    memset(in + k, 'x', cap);
    k += cap;
    k += (size_t)sprintf(in + k, "\",1\n");
    memset(in + k, 'y', cap + 1);
    k += cap + 1;
    k += (size_t)sprintf(in + k, ",2\nlast,3\n");
    row_t r[4];
    size_t n = parse(in, k, 0, 0, r, 4, NULL);
    cr_assert_eq(n, 4);
    cr_assert_null(r[1].error);
    cr_assert_eq(r[1].lens[0], cap);
    cr_assert_str_eq(r[1].f[1], "1");
    cr_assert_not_null(r[2].error);
    cr_assert(strstr(r[2].error, "field size limit"));
    cr_assert_eq(r[2].lens[0], cap, "only the cap is stored");
    cr_assert_str_eq(r[2].f[1], "2", "the next field of the same record is still read");
    cr_assert_null(r[3].error);
    cr_assert_str_eq(r[3].f[0], "last");
    cr_assert_eq(r[3].line, 4);
    rows_free(r, n);
    free(in);
}

Test(csv, small_cap)
{
    row_t r[4];
    size_t n = parse("a,b\nabcdef,x\n", 13, 1, 4, r, 4, NULL);
    cr_assert_eq(n, 2);
    cr_assert_not_null(r[1].error);
    cr_assert_str_eq(r[1].f[0], "abcd");
    rows_free(r, n);
}

Test(csv, formula_injection_kept_verbatim)
{
    row_t r[4];
    size_t n = parse_both("last_name,phone\n\"=cmd|' /C calc'!A0\",+49 30 1234\n", r, 4, NULL);
    cr_assert_eq(n, 2);
    cr_assert_null(r[1].error);
    cr_assert_str_eq(r[1].f[0], "=cmd|' /C calc'!A0", "kept as text, byte for byte");
    cr_assert(crm_csv_formula_like(r[1].f[0]));
    cr_assert_not(crm_csv_formula_like(r[1].f[1]), "a phone number is data");
    cr_assert(crm_csv_formula_like("@SUM(A1)"));
    cr_assert(crm_csv_formula_like("+HYPERLINK(\"x\")"));
    cr_assert(crm_csv_formula_like("-2+3+cmd|' /C calc'!A0"));
    cr_assert_not(crm_csv_formula_like("-12.5"));
    cr_assert_not(crm_csv_formula_like("Ada"));
    cr_assert_not(crm_csv_formula_like(""));
    rows_free(r, n);
}

Test(csv, too_many_fields)
{
    size_t len = 2 * (CRM_CSV_MAX_FIELDS + 10);
    char *in = malloc(len + 16);
    size_t k = 0;
    for (int i = 0; i < CRM_CSV_MAX_FIELDS + 10; i++) {
        in[k++] = 'x';
        in[k++] = ',';
    }
    in[k - 1] = '\n';
    memcpy(in + k, "a\n", 2);
    k += 2;
    mem_t m = {in, k, 0, 0};
    crm_csv_t *c = crm_csv_new(mem_read, &m, 0, ',');
    crm_csv_record_t rec;
    cr_assert_eq(crm_csv_next(c, &rec), 1);
    cr_assert_eq(rec.nfields, CRM_CSV_MAX_FIELDS);
    cr_assert_not_null(rec.error);
    cr_assert_eq(crm_csv_next(c, &rec), 1);
    cr_assert_null(rec.error);
    cr_assert_str_eq(rec.fields[0], "a");
    cr_assert_eq(crm_csv_next(c, &rec), 0);
    crm_csv_free(&c);
    free(in);
}

Test(csv, offsets_allow_resuming)
{
    const char *in = "h1,h2\nA,\"x\ny\"\nB,z\n";
    mem_t m = {in, strlen(in), 0, 3};
    crm_csv_t *c = crm_csv_new(mem_read, &m, 0, 0);
    crm_csv_record_t rec;
    cr_assert_eq(crm_csv_next(c, &rec), 1);
    cr_assert_eq(rec.end_offset, 6);
    cr_assert_eq(crm_csv_next(c, &rec), 1);
    cr_assert_eq(rec.end_offset, 14);
    cr_assert_eq(crm_csv_next(c, &rec), 1);
    cr_assert_str_eq(rec.fields[0], "B");
    cr_assert_eq(rec.end_offset, strlen(in));
    crm_csv_free(&c);
}

Test(csv, empty_input)
{
    row_t r[1];
    cr_assert_eq(parse("", 0, 0, 0, r, 1, NULL), 0);
    cr_assert_eq(parse("\xEF\xBB\xBF\n\n", 5, 1, 0, r, 1, NULL), 0);
}

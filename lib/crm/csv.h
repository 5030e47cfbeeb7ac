/* A streaming RFC 4180 reader for CSV imports (crmctl import, SPEC A3).
 *
 * Reads through a fixed-size buffer (never the whole input), skips a UTF-8 BOM, takes `,` or `;`
 * as the separator (sniffed from the first line: the one occurring more often outside quotes),
 * accepts quoted fields with embedded separators, newlines and "" escapes, and CRLF, LF or CR
 * line ends. Blank lines are skipped. Each record says on which physical lines it starts and ends.
 *
 * A bad record is still returned, with `error` set and its fields possibly truncated, so that the
 * caller can reject it with its line number and reason and go on with the next one:
 *   - a field longer than the field cap (the rest of the field is dropped, not stored),
 *   - more fields than CRM_CSV_MAX_FIELDS,
 *   - a quoted field still open at the end of the input,
 *   - invalid UTF-8 or a NUL byte in a field.
 * Ragged rows (a field count other than the header's) are the caller's to judge. */
#ifndef CRM_CSV_H
#define CRM_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CRM_CSV_BUFSIZE (64 * 1024)
#define CRM_CSV_DEFAULT_FIELD_CAP (1024 * 1024)
#define CRM_CSV_MAX_FIELDS 1024

/* Reads up to len bytes into buf: the count, 0 at the end, -1 on error (errno set). */
typedef ssize_t (*crm_csv_read_fn)(void *arg, void *buf, size_t len);

typedef struct crm_csv_t crm_csv_t;

typedef struct {
    size_t nfields;
    const char *const *fields; /* NUL-terminated; valid until the next crm_csv_next */
    const size_t *lens;        /* byte lengths (a field may not hold a NUL unless error is set) */
    long line;                 /* physical line (1-based) where the record starts */
    long end_line;             /* physical line where it ends */
    uint64_t end_offset;       /* byte offset of the input just after the record */
    const char *error;         /* NULL, or why the record is unusable (static text) */
    size_t error_field;        /* 0-based field the error is about (when it is about one) */
} crm_csv_record_t;

/* field_cap: longest field accepted in bytes (0: CRM_CSV_DEFAULT_FIELD_CAP). sep: ',' or ';',
 * or 0 to sniff it from the first line. */
crm_csv_t *crm_csv_new(crm_csv_read_fn read, void *arg, size_t field_cap, char sep);
/* A reader over a file descriptor (not closed by crm_csv_free). */
crm_csv_t *crm_csv_new_fd(int fd, size_t field_cap, char sep);
void crm_csv_free(crm_csv_t **self_p);

/* Starts reading mid-file, before the first crm_csv_next: the input is positioned at byte offset
 * (the end_offset of a record) and the next physical line is next_line. No BOM is looked for. */
void crm_csv_resume(crm_csv_t *self, long next_line, uint64_t offset);
/* The next record: 1 (rec filled), 0 at the end of the input, -1 on a read error. */
int crm_csv_next(crm_csv_t *self, crm_csv_record_t *rec);
/* The separator in use (known after the first crm_csv_next). */
char crm_csv_separator(const crm_csv_t *self);
/* Whether the input started with a UTF-8 byte order mark. */
bool crm_csv_had_bom(const crm_csv_t *self);

/* True when s (len bytes) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool crm_csv_utf8_valid(const char *s, size_t len);
/* True when a spreadsheet would take the cell as a formula: it starts with '=', '@', a tab or a
 * CR, or with '+' or '-' not followed by a plain number or phone number. */
bool crm_csv_formula_like(const char *s);

#endif

/* The streaming CSV reader (see csv.h). One byte at a time through a fixed read buffer into a
 * record buffer that grows up to the record cap; fields are NUL-terminated in place. */
#include "crm/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest record kept, all fields together: a longer one is rejected, its rest dropped. */
#define CSV_MAX_RECORD (16 * 1024 * 1024)

enum { CSV_EOF = -1, CSV_ERR = -2 };
enum { ST_FIELD_START, ST_UNQUOTED, ST_QUOTED, ST_QUOTE_SEEN };

struct crm_csv_t {
    crm_csv_read_fn read;
    void *arg;
    size_t field_cap;
    char sep;
    bool started, had_bom, eof;
    unsigned char buf[CRM_CSV_BUFSIZE];
    size_t pos, len;
    uint64_t base; /* input offset of buf[0] */
    long line;     /* current physical line */
    /* the record being read */
    char *rbuf;
    size_t rlen, rcap;
    size_t fstart[CRM_CSV_MAX_FIELDS];
    size_t nfields;
    bool dropping; /* the current field (or record) is over its cap: bytes are dropped */
    const char *error;
    size_t error_field;
    const char *fields[CRM_CSV_MAX_FIELDS];
    size_t lens[CRM_CSV_MAX_FIELDS];
};

static ssize_t fd_read(void *arg, void *buf, size_t len)
{
    int fd = (int)(intptr_t)arg;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

crm_csv_t *crm_csv_new(crm_csv_read_fn read, void *arg, size_t field_cap, char sep)
{
    crm_csv_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->read = read;
    self->arg = arg;
    self->field_cap = field_cap ? field_cap : CRM_CSV_DEFAULT_FIELD_CAP;
    self->sep = sep == ',' || sep == ';' ? sep : 0;
    self->line = 1;
    return self;
}

crm_csv_t *crm_csv_new_fd(int fd, size_t field_cap, char sep)
{
    return crm_csv_new(fd_read, (void *)(intptr_t)fd, field_cap, sep);
}

void crm_csv_free(crm_csv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->rbuf);
    free(*self_p);
    *self_p = NULL;
}

void crm_csv_resume(crm_csv_t *self, long next_line, uint64_t offset)
{
    self->line = next_line;
    self->base = offset;
}

char crm_csv_separator(const crm_csv_t *self)
{
    return self->sep ? self->sep : ',';
}

bool crm_csv_had_bom(const crm_csv_t *self)
{
    return self->had_bom;
}

/* Refills the buffer when it is used up: true when bytes are available. */
static int fill(crm_csv_t *self)
{
    if (self->pos < self->len)
        return 1;
    if (self->eof)
        return 0;
    self->base += self->len;
    self->pos = self->len = 0;
    ssize_t n = self->read(self->arg, self->buf, sizeof self->buf);
    if (n < 0)
        return -1;
    if (n == 0) {
        self->eof = true;
        return 0;
    }
    self->len = (size_t)n;
    return 1;
}

static int peek(crm_csv_t *self)
{
    int f = fill(self);
    return f > 0 ? self->buf[self->pos] : f == 0 ? CSV_EOF : CSV_ERR;
}

static int get(crm_csv_t *self)
{
    int c = peek(self);
    if (c >= 0)
        self->pos++;
    return c;
}

/* Reads at least a line (or what fits in the buffer) and picks the separator occurring more
 * often outside quotes in the first line; ',' on a tie. Skips a BOM first. */
static int start(crm_csv_t *self)
{
    self->started = true;
    while (!self->eof && self->len < sizeof self->buf) {
        ssize_t n = self->read(self->arg, self->buf + self->len, sizeof self->buf - self->len);
        if (n < 0)
            return -1;
        if (n == 0)
            self->eof = true;
        self->len += (size_t)n;
        if (memchr(self->buf, '\n', self->len) || memchr(self->buf, '\r', self->len))
            break;
    }
    if (self->base == 0 && self->len >= 3 && memcmp(self->buf, "\xEF\xBB\xBF", 3) == 0) {
        self->had_bom = true;
        self->pos = 3;
    }
    if (self->sep)
        return 0;
    size_t commas = 0, semis = 0;
    bool quoted = false;
    for (size_t i = self->pos; i < self->len; i++) {
        unsigned char c = self->buf[i];
        if (c == '"')
            quoted = !quoted;
        else if (!quoted && (c == '\n' || c == '\r'))
            break;
        else if (!quoted && c == ',')
            commas++;
        else if (!quoted && c == ';')
            semis++;
    }
    self->sep = semis > commas ? ';' : ',';
    return 0;
}

static void fail(crm_csv_t *self, const char *why)
{
    if (!self->error) {
        self->error = why;
        self->error_field = self->nfields ? self->nfields - 1 : 0;
    }
}

static int raw_append(crm_csv_t *self, char c)
{
    if (self->rlen + 1 > self->rcap) {
        size_t cap = self->rcap ? self->rcap * 2 : 4096;
        char *p = realloc(self->rbuf, cap);
        if (!p)
            return -1;
        self->rbuf = p;
        self->rcap = cap;
    }
    self->rbuf[self->rlen++] = c;
    return 0;
}

static int append(crm_csv_t *self, char c)
{
    if (self->dropping)
        return 0;
    if (self->rlen - self->fstart[self->nfields - 1] >= self->field_cap) {
        fail(self, "field longer than the field size limit");
        self->dropping = true;
        return 0;
    }
    if (self->rlen >= CSV_MAX_RECORD) {
        fail(self, "record longer than 16 MiB");
        self->dropping = true;
        return 0;
    }
    return raw_append(self, c);
}

/* Ends the current field (NUL) and, unless last, opens the next one. */
static int end_field(crm_csv_t *self, bool last)
{
    if (raw_append(self, '\0') < 0)
        return -1;
    if (last)
        return 0;
    if (self->nfields >= CRM_CSV_MAX_FIELDS) {
        fail(self, "more than 1024 fields");
        self->dropping = true; /* the rest of the record goes into no field */
        return 0;
    }
    self->dropping = false;
    self->fstart[self->nfields++] = self->rlen;
    return 0;
}

/* The checks run on a complete field: no NUL byte, valid UTF-8. */
static void check_fields(crm_csv_t *self)
{
    for (size_t i = 0; i < self->nfields && !self->error; i++) {
        if (memchr(self->fields[i], '\0', self->lens[i])) {
            self->error = "NUL byte in a field";
            self->error_field = i;
        } else if (!crm_csv_utf8_valid(self->fields[i], self->lens[i])) {
            self->error = "invalid UTF-8";
            self->error_field = i;
        }
    }
}

int crm_csv_next(crm_csv_t *self, crm_csv_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    if (!self->started && start(self) < 0)
        return -1;
    /* blank lines are no records */
    for (;;) {
        int c = peek(self);
        if (c == CSV_ERR)
            return -1;
        if (c == CSV_EOF)
            return 0;
        if (c != '\n' && c != '\r')
            break;
        get(self);
        if (c == '\r' && peek(self) == '\n')
            get(self);
        self->line++;
    }
    self->rlen = 0;
    self->nfields = 1;
    self->fstart[0] = 0;
    self->dropping = false;
    self->error = NULL;
    self->error_field = 0;
    rec->line = self->line;
    int state = ST_FIELD_START;
    for (;;) {
        int c = get(self);
        if (c == CSV_ERR)
            return -1;
        if (c == CSV_EOF) {
            if (state == ST_QUOTED)
                fail(self, "quoted field not closed at the end of the file");
            rec->end_line = self->line;
            break;
        }
        if (state == ST_FIELD_START) {
            if (c == '"') {
                state = ST_QUOTED;
                continue;
            }
            state = ST_UNQUOTED;
        } else if (state == ST_QUOTE_SEEN) {
            if (c == '"') {
                if (append(self, '"') < 0)
                    return -1;
                state = ST_QUOTED;
                continue;
            }
            state = ST_UNQUOTED; /* text after the closing quote is kept as it is */
        }
        if (state == ST_QUOTED) {
            if (c == '"') {
                state = ST_QUOTE_SEEN;
                continue;
            }
            if (c == '\n' || (c == '\r' && peek(self) != '\n'))
                self->line++;
            if (append(self, (char)c) < 0)
                return -1;
            continue;
        }
        /* unquoted */
        if (c == (unsigned char)self->sep) {
            if (end_field(self, false) < 0)
                return -1;
            state = ST_FIELD_START;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && peek(self) == '\n')
                get(self);
            rec->end_line = self->line++;
            break;
        } else if (append(self, (char)c) < 0) {
            return -1;
        }
    }
    if (end_field(self, true) < 0)
        return -1;
    for (size_t i = 0; i < self->nfields; i++) {
        self->fields[i] = self->rbuf + self->fstart[i];
        size_t end = i + 1 < self->nfields ? self->fstart[i + 1] - 1 : self->rlen - 1;
        self->lens[i] = end - self->fstart[i];
    }
    check_fields(self);
    rec->nfields = self->nfields;
    rec->fields = self->fields;
    rec->lens = self->lens;
    rec->end_offset = self->base + self->pos;
    rec->error = self->error;
    rec->error_field = self->error_field;
    return 1;
}

bool crm_csv_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

bool crm_csv_formula_like(const char *s)
{
    if (!s || !*s)
        return false;
    if (*s == '=' || *s == '@' || *s == '\t' || *s == '\r')
        return true;
    if (*s != '+' && *s != '-')
        return false;
    /* "+49 30 1234", "-12.5", "+1 (555) 010-9999": numbers and phone numbers are data */
    bool digit = false;
    for (const char *p = s + 1; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digit = true;
        else if (!strchr(" .,()-/", *p))
            return true;
    }
    return s[1] != '\0' && !digit;
}

/* Structured logging: one logfmt line per event on stderr. Each line is built in a local
 * buffer and written with a single write(2), so lines from concurrent threads never interleave. */
#include "crm/log.h"
#include "crm/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Set once by crm_log_init before any thread starts (see log.h); read-only afterwards. */
static char log_service[64] = "crm";
static crm_log_level_t log_min_level = CRM_LOG_INFO;

void crm_log_init(const char *service, crm_log_level_t min_level)
{
    snprintf(log_service, sizeof log_service, "%s", service ? service : "crm");
    log_min_level = min_level;
}

crm_log_level_t crm_log_level_parse(const char *name)
{
    if (!name)
        return CRM_LOG_INFO;
    if (strcasecmp(name, "debug") == 0)
        return CRM_LOG_DEBUG;
    if (strcasecmp(name, "warn") == 0 || strcasecmp(name, "warning") == 0)
        return CRM_LOG_WARN;
    if (strcasecmp(name, "error") == 0)
        return CRM_LOG_ERROR;
    return CRM_LOG_INFO;
}

static const char *level_name(crm_log_level_t level)
{
    switch (level) {
    case CRM_LOG_DEBUG: return "debug";
    case CRM_LOG_WARN: return "warn";
    case CRM_LOG_ERROR: return "error";
    default: return "info";
    }
}

const char *crm_log_quote(const char *s, char *buf, unsigned long bufsize)
{
    if (!buf || bufsize == 0)
        return buf;
    if (!s)
        s = "";
    size_t o = 0;
    /* Leave room for the closing quote and NUL. */
    if (bufsize < 3) {
        buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p == '\n') {
            memcpy(esc, "\\n", 2);
            n = 2;
        } else if (*p == '\r') {
            memcpy(esc, "\\r", 2);
            n = 2;
        } else if (*p == '\t') {
            memcpy(esc, "\\t", 2);
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
            n = 4;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        if (o + n + 2 > bufsize)
            break; /* truncate: keep room for '"' and NUL */
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void crm_log(crm_log_level_t level, const char *corr, const char *event, const char *fmt, ...)
{
    if (level < log_min_level)
        return;
    char line[4096];
    size_t cap = sizeof line - 1; /* keep one byte for the newline */

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[32];
    strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm);

    int n = snprintf(line, cap, "ts=%s.%06ldZ level=%s svc=%s", tbuf, (long)(ts.tv_nsec / 1000),
                     level_name(level), log_service);
    size_t o = n < 0 ? 0 : ((size_t)n >= cap ? cap - 1 : (size_t)n);
    if (corr && *corr && o < cap) {
        char q[160];
        /* A correlation id from outside may hold anything: quote it unless it is plain. */
        bool plain = strlen(corr) < 128 && strpbrk(corr, " \"\\=\n\r\t") == NULL;
        n = snprintf(line + o, cap - o, " corr=%s", plain ? corr : crm_log_quote(corr, q, sizeof q));
        o = n < 0 ? o : (o + (size_t)n >= cap ? cap - 1 : o + (size_t)n);
    }
    if (event && o < cap) {
        n = snprintf(line + o, cap - o, " event=%s", event);
        o = n < 0 ? o : (o + (size_t)n >= cap ? cap - 1 : o + (size_t)n);
    }
    if (fmt && *fmt && o < cap) {
        line[o++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        n = vsnprintf(line + o, cap - o, fmt, ap);
        va_end(ap);
        o = n < 0 ? o : (o + (size_t)n >= cap ? cap - 1 : o + (size_t)n);
    }
    line[o++] = '\n';
    /* One write(2) per line: atomic with respect to other threads' lines (PIPE_BUF for pipes). */
    ssize_t w = write(STDERR_FILENO, line, o);
    (void)w;
}

/* Structured logging: one logfmt line per event on stderr,
 *   ts=2026-11-23T10:00:00.123456Z level=info svc=leads corr=3f2a… event=lead.created id=42
 * The correlation id ties a line to the HTTP request that caused it. */
#ifndef CRM_LOG_H
#define CRM_LOG_H

typedef enum { CRM_LOG_DEBUG = 0, CRM_LOG_INFO = 1, CRM_LOG_WARN = 2, CRM_LOG_ERROR = 3 } crm_log_level_t;

/* Sets the service name and minimum level for the whole process (call once, before threads). */
void crm_log_init(const char *service, crm_log_level_t min_level);
/* Parses "debug" | "info" | "warn" | "error"; unknown → info. */
crm_log_level_t crm_log_level_parse(const char *name);
/* event: a short dotted name ("http.request", "outbox.published"); corr may be NULL.
 * fmt formats the rest of the line as key=value pairs; values holding spaces or quotes must be
 * passed through crm_log_quote. Thread-safe: each line is written with one write(2). */
void crm_log(crm_log_level_t level, const char *corr, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Quotes s for logfmt into buf (escapes ", \ and control characters; truncates). Returns buf. */
const char *crm_log_quote(const char *s, char *buf, unsigned long bufsize);

#define crm_log_info(corr, event, ...) crm_log(CRM_LOG_INFO, corr, event, __VA_ARGS__)
#define crm_log_warn(corr, event, ...) crm_log(CRM_LOG_WARN, corr, event, __VA_ARGS__)
#define crm_log_error(corr, event, ...) crm_log(CRM_LOG_ERROR, corr, event, __VA_ARGS__)
#define crm_log_debug(corr, event, ...) crm_log(CRM_LOG_DEBUG, corr, event, __VA_ARGS__)

#endif

/* Unit tests of log.c: logfmt lines on stderr, levels, quoting, one line per call under threads. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "crm/log.h"

/* Sends fd 2 to a temp file while fn runs; returns what was written (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/crm_test_log_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    cr_assert_eq(pread(fd, buf, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return buf;
}

static void log_basic(void)
{
    crm_log_init("leads", CRM_LOG_INFO);
    crm_log_info("corr-1", "lead.created", "id=%d", 42);
    crm_log_debug(NULL, "hidden", "x=1");
    crm_log_error(NULL, "db.down", "reason=%s", "refused");
}

Test(log, logfmt_line)
{
    char *out = capture_stderr(log_basic);
    char *nl = strchr(out, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    cr_assert(strncmp(out, "ts=", 3) == 0, "%s", out);
    cr_assert(strstr(out, "Z level=info svc=leads corr=corr-1 event=lead.created id=42") != NULL, "%s", out);
    char *second = nl + 1;
    cr_assert(strstr(second, "level=error svc=leads event=db.down reason=refused\n") != NULL, "%s", second);
    cr_assert(strstr(second, "hidden") == NULL, "debug line filtered");
    free(out);
}

Test(log, level_parse)
{
    cr_assert_eq(crm_log_level_parse("debug"), CRM_LOG_DEBUG);
    cr_assert_eq(crm_log_level_parse("WARN"), CRM_LOG_WARN);
    cr_assert_eq(crm_log_level_parse("error"), CRM_LOG_ERROR);
    cr_assert_eq(crm_log_level_parse("nonsense"), CRM_LOG_INFO);
    cr_assert_eq(crm_log_level_parse(NULL), CRM_LOG_INFO);
}

Test(log, quote)
{
    char buf[64];
    cr_assert_str_eq(crm_log_quote("a b", buf, sizeof buf), "\"a b\"");
    cr_assert_str_eq(crm_log_quote("say \"hi\"\\\n", buf, sizeof buf), "\"say \\\"hi\\\"\\\\\\n\"");
    char small[6];
    cr_assert_str_eq(crm_log_quote("abcdefgh", small, sizeof small), "\"abc\"");
    cr_assert_str_eq(crm_log_quote(NULL, buf, sizeof buf), "\"\"");
}

static void *log_worker(void *arg)
{
    long id = (long)arg;
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 200; i++)
        crm_log_info(NULL, "t", "thread=%ld i=%d pad=%s end=1", id, i, big);
    return NULL;
}

static void log_threads(void)
{
    crm_log_init("t", CRM_LOG_INFO);
    pthread_t th[8];
    for (long i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, log_worker, (void *)i);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
}

Test(log, threads_do_not_interleave)
{
    char *out = capture_stderr(log_threads);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        cr_assert(strncmp(line, "ts=", 3) == 0, "line starts with ts=: %.40s", line);
        size_t n = strlen(line);
        cr_assert(n > 6 && strcmp(line + n - 6, " end=1") == 0, "line complete");
    }
    cr_assert_eq(lines, 1600);
    free(out);
}

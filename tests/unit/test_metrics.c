/* Unit tests of metrics.c: counters, gauges, histograms, HELP/TYPE lines, thread safety. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "crm/metrics.h"

Test(metrics, counters_and_gauges)
{
    crm_metrics_t *m = crm_metrics_new();
    crm_metrics_help(m, "crm_events_in_total", "Events received by type and outcome.");
    crm_metrics_inc(m, "crm_events_in_total", "type=\"lead.created\",outcome=\"applied\"", 1);
    crm_metrics_inc(m, "crm_events_in_total", "type=\"lead.created\",outcome=\"applied\"", 2);
    crm_metrics_inc(m, "crm_events_in_total", "type=\"lead.created\",outcome=\"skipped\"", 1);
    crm_metrics_set(m, "crm_outbox_backlog", NULL, 7);
    crm_metrics_set(m, "crm_outbox_backlog", NULL, 5);
    crm_metrics_inc(m, "crm_outbox_backlog", NULL, -1);
    cr_assert_eq(crm_metrics_get(m, "crm_events_in_total", "type=\"lead.created\",outcome=\"applied\""), 3);
    cr_assert_eq(crm_metrics_get(m, "crm_outbox_backlog", NULL), 4);
    cr_assert_eq(crm_metrics_get(m, "absent", NULL), 0);

    size_t len = 0;
    char *text = crm_metrics_render(m, &len);
    cr_assert_not_null(text);
    cr_assert_eq(strlen(text), len);
    cr_assert(strstr(text, "# HELP crm_events_in_total Events received by type and outcome.\n"
                           "# TYPE crm_events_in_total counter\n"
                           "crm_events_in_total{type=\"lead.created\",outcome=\"applied\"} 3\n"
                           "crm_events_in_total{type=\"lead.created\",outcome=\"skipped\"} 1\n") != NULL,
              "%s", text);
    cr_assert(strstr(text, "# TYPE crm_outbox_backlog gauge\ncrm_outbox_backlog 4\n") != NULL, "%s", text);
    free(text);
    crm_metrics_destroy(&m);
    cr_assert_null(m);
}

Test(metrics, histogram)
{
    crm_metrics_t *m = crm_metrics_new();
    crm_metrics_observe(m, "crm_rpc_handler_seconds", "method=\"x\"", 0.003);
    crm_metrics_observe(m, "crm_rpc_handler_seconds", "method=\"x\"", 0.2);
    crm_metrics_observe(m, "crm_rpc_handler_seconds", "method=\"x\"", 20);
    crm_metrics_observe(m, "plain_seconds", NULL, 0.5);
    char *text = crm_metrics_render(m, NULL);
    cr_assert(strstr(text, "# TYPE crm_rpc_handler_seconds histogram\n") != NULL, "%s", text);
    cr_assert(strstr(text, "crm_rpc_handler_seconds_bucket{method=\"x\",le=\"0.001\"} 0\n") != NULL, "%s", text);
    cr_assert(strstr(text, "crm_rpc_handler_seconds_bucket{method=\"x\",le=\"0.005\"} 1\n") != NULL, "%s", text);
    cr_assert(strstr(text, "crm_rpc_handler_seconds_bucket{method=\"x\",le=\"0.25\"} 2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "crm_rpc_handler_seconds_bucket{method=\"x\",le=\"10\"} 2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "crm_rpc_handler_seconds_bucket{method=\"x\",le=\"+Inf\"} 3\n") != NULL, "%s", text);
    cr_assert(strstr(text, "crm_rpc_handler_seconds_sum{method=\"x\"} 20.203\n") != NULL, "%s", text);
    cr_assert(strstr(text, "crm_rpc_handler_seconds_count{method=\"x\"} 3\n") != NULL, "%s", text);
    cr_assert(strstr(text, "plain_seconds_bucket{le=\"0.5\"} 1\n") != NULL, "%s", text);
    cr_assert(strstr(text, "plain_seconds_count 1\n") != NULL, "%s", text);
    cr_assert_eq(crm_metrics_get(m, "crm_rpc_handler_seconds", "method=\"x\""), 3);
    free(text);
    crm_metrics_destroy(&m);
}

Test(metrics, type_mismatch_ignored_and_help_escaped)
{
    crm_metrics_t *m = crm_metrics_new();
    crm_metrics_inc(m, "c_total", NULL, 1);
    crm_metrics_observe(m, "c_total", NULL, 1); /* wrong kind: ignored */
    crm_metrics_help(m, "c_total", "line1\nline2 \\ end");
    char *text = crm_metrics_render(m, NULL);
    cr_assert(strstr(text, "# HELP c_total line1\\nline2 \\\\ end\n# TYPE c_total counter\nc_total 1\n") != NULL,
              "%s", text);
    cr_assert(strstr(text, "c_total_bucket") == NULL);
    free(text);
    crm_metrics_help(m, "unused", "no series");
    text = crm_metrics_render(m, NULL);
    cr_assert(strstr(text, "unused") == NULL, "families without series are not rendered");
    free(text);
    crm_metrics_destroy(&m);
    /* NULL-safe */
    crm_metrics_inc(NULL, "x", NULL, 1);
    cr_assert_eq(crm_metrics_get(NULL, "x", NULL), 0);
}

static void *bump(void *arg)
{
    crm_metrics_t *m = arg;
    for (int i = 0; i < 10000; i++) {
        crm_metrics_inc(m, "n_total", "k=\"v\"", 1);
        crm_metrics_observe(m, "h_seconds", NULL, 0.01);
    }
    return NULL;
}

Test(metrics, threads)
{
    crm_metrics_t *m = crm_metrics_new();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, bump, m);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(crm_metrics_get(m, "n_total", "k=\"v\""), 40000);
    cr_assert_eq(crm_metrics_get(m, "h_seconds", NULL), 40000);
    crm_metrics_destroy(&m);
}

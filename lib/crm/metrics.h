/* Prometheus metrics: counters, gauges and latency histograms kept in memory, rendered in the
 * text exposition format by the admin HTTP server (/metrics). Thread-safe. */
#ifndef CRM_METRICS_H
#define CRM_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct crm_metrics_t crm_metrics_t;

crm_metrics_t *crm_metrics_new(void);
void crm_metrics_destroy(crm_metrics_t **self_p);

/* name: "crm_events_in_total"; labels: "type=\"lead.created\",outcome=\"applied\"" or NULL.
 * A series is created on first use. help is used the first time a name is seen (may be NULL). */
void crm_metrics_inc(crm_metrics_t *self, const char *name, const char *labels, double by);
void crm_metrics_set(crm_metrics_t *self, const char *name, const char *labels, double value);
/* Histogram with fixed buckets in seconds (0.001 … 10): adds _bucket, _sum, _count series. */
void crm_metrics_observe(crm_metrics_t *self, const char *name, const char *labels, double seconds);
/* Sets the HELP text of a metric name; TYPE is derived from how it was used. */
void crm_metrics_help(crm_metrics_t *self, const char *name, const char *help);
/* A malloc'd text exposition of every series; *len gets its length. */
char *crm_metrics_render(crm_metrics_t *self, size_t *len);
/* Current value of a counter or gauge series (0 when absent): for tests and readiness. */
double crm_metrics_get(crm_metrics_t *self, const char *name, const char *labels);

#endif

/* Prometheus metrics kept in memory: families of counters, gauges and histograms, each with
 * labelled series, rendered in the text exposition format. One mutex guards everything;
 * updates are a lookup and an add, cheap next to the work they count. */
#include "crm/metrics.h"

#include <math.h> /* isnan, isinf: macros, no libm needed */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_UNTYPED, KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

static const double bucket_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof bucket_bounds / sizeof *bucket_bounds)

typedef struct series {
    char *labels; /* "" when none */
    double value; /* counters and gauges */
    uint64_t buckets[NBUCKETS];
    uint64_t count;
    double sum;
    struct series *next;
} series_t;

typedef struct family {
    char *name;
    char *help;
    kind_t kind;
    series_t *series, *last;
    struct family *next;
} family_t;

struct crm_metrics_t {
    pthread_mutex_t lock; /* guards every family and series */
    family_t *families, *last;
};

crm_metrics_t *crm_metrics_new(void)
{
    crm_metrics_t *self = calloc(1, sizeof *self);
    if (self)
        pthread_mutex_init(&self->lock, NULL);
    return self;
}

void crm_metrics_destroy(crm_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    crm_metrics_t *self = *self_p;
    family_t *f = self->families;
    while (f) {
        family_t *fn = f->next;
        series_t *s = f->series;
        while (s) {
            series_t *sn = s->next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* Caller holds the lock. */
static family_t *family_get(crm_metrics_t *self, const char *name, bool create)
{
    for (family_t *f = self->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    if (!create)
        return NULL;
    family_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->name = strdup(name);
    if (!f->name) {
        free(f);
        return NULL;
    }
    if (self->last)
        self->last->next = f;
    else
        self->families = f;
    self->last = f;
    return f;
}

/* Caller holds the lock. */
static series_t *series_get(family_t *f, const char *labels, bool create)
{
    if (!labels)
        labels = "";
    for (series_t *s = f->series; s; s = s->next)
        if (strcmp(s->labels, labels) == 0)
            return s;
    if (!create)
        return NULL;
    series_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->labels = strdup(labels);
    if (!s->labels) {
        free(s);
        return NULL;
    }
    if (f->last)
        f->last->next = s;
    else
        f->series = s;
    f->last = s;
    return s;
}

static series_t *lookup(crm_metrics_t *self, const char *name, const char *labels, kind_t kind)
{
    family_t *f = family_get(self, name, true);
    if (!f)
        return NULL;
    if (f->kind == KIND_UNTYPED)
        f->kind = kind;
    else if (f->kind != kind)
        return NULL; /* one name, one type: a mismatched use is ignored */
    return series_get(f, labels, true);
}

void crm_metrics_inc(crm_metrics_t *self, const char *name, const char *labels, double by)
{
    if (!self || !name)
        return;
    pthread_mutex_lock(&self->lock);
    family_t *f = family_get(self, name, false);
    /* inc on a gauge adjusts the gauge (e.g. in-flight counts going up and down). */
    series_t *s = lookup(self, name, labels, f && f->kind == KIND_GAUGE ? KIND_GAUGE : KIND_COUNTER);
    if (s)
        s->value += by;
    pthread_mutex_unlock(&self->lock);
}

void crm_metrics_set(crm_metrics_t *self, const char *name, const char *labels, double value)
{
    if (!self || !name)
        return;
    pthread_mutex_lock(&self->lock);
    series_t *s = lookup(self, name, labels, KIND_GAUGE);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&self->lock);
}

void crm_metrics_observe(crm_metrics_t *self, const char *name, const char *labels, double seconds)
{
    if (!self || !name || isnan(seconds))
        return;
    pthread_mutex_lock(&self->lock);
    series_t *s = lookup(self, name, labels, KIND_HISTOGRAM);
    if (s) {
        for (size_t i = 0; i < NBUCKETS; i++)
            if (seconds <= bucket_bounds[i])
                s->buckets[i]++;
        s->count++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&self->lock);
}

void crm_metrics_help(crm_metrics_t *self, const char *name, const char *help)
{
    if (!self || !name || !help)
        return;
    pthread_mutex_lock(&self->lock);
    family_t *f = family_get(self, name, true);
    if (f) {
        char *h = strdup(help);
        if (h) {
            free(f->help);
            f->help = h;
        }
    }
    pthread_mutex_unlock(&self->lock);
}

double crm_metrics_get(crm_metrics_t *self, const char *name, const char *labels)
{
    if (!self || !name)
        return 0;
    double v = 0;
    pthread_mutex_lock(&self->lock);
    family_t *f = family_get(self, name, false);
    series_t *s = f ? series_get(f, labels, false) : NULL;
    if (s)
        v = f->kind == KIND_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&self->lock);
    return v;
}

/* --- rendering --------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} out_t;

static void out_printf(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(out_t *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n + 1;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

/* Whole numbers print without a fraction. (No libm: the module links only crm_base.) */
static bool is_whole(double v)
{
    return v > -1e15 && v < 1e15 && (double)(long long)v == v;
}

static void fmt_value(double v, char out[40])
{
    if (isinf(v))
        snprintf(out, 40, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        snprintf(out, 40, "NaN");
    else if (is_whole(v))
        snprintf(out, 40, "%.0f", v);
    else
        snprintf(out, 40, "%.9g", v);
}

/* HELP text escapes backslash and newline (text format rules). */
static void out_help(out_t *o, const char *name, const char *help)
{
    out_printf(o, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            out_printf(o, "\\\\");
        else if (*p == '\n')
            out_printf(o, "\\n");
        else
            out_printf(o, "%c", *p);
    }
    out_printf(o, "\n");
}

static void render_histogram(out_t *o, const family_t *f, const series_t *s)
{
    const char *sep = s->labels[0] ? "," : "";
    char v[40];
    for (size_t i = 0; i < NBUCKETS; i++) {
        snprintf(v, sizeof v, "%g", bucket_bounds[i]);
        out_printf(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep, v,
                   (unsigned long long)s->buckets[i]);
    }
    out_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep, (unsigned long long)s->count);
    fmt_value(s->sum, v);
    if (s->labels[0]) {
        out_printf(o, "%s_sum{%s} %s\n", f->name, s->labels, v);
        out_printf(o, "%s_count{%s} %llu\n", f->name, s->labels, (unsigned long long)s->count);
    } else {
        out_printf(o, "%s_sum %s\n", f->name, v);
        out_printf(o, "%s_count %llu\n", f->name, (unsigned long long)s->count);
    }
}

char *crm_metrics_render(crm_metrics_t *self, size_t *len)
{
    out_t o = {.buf = malloc(4096), .cap = 4096};
    if (!o.buf)
        return NULL;
    o.buf[0] = '\0';
    if (self) {
        static const char *const kind_names[] = {"untyped", "counter", "gauge", "histogram"};
        pthread_mutex_lock(&self->lock);
        for (const family_t *f = self->families; f; f = f->next) {
            if (!f->series)
                continue;
            if (f->help)
                out_help(&o, f->name, f->help);
            out_printf(&o, "# TYPE %s %s\n", f->name, kind_names[f->kind]);
            for (const series_t *s = f->series; s; s = s->next) {
                if (f->kind == KIND_HISTOGRAM) {
                    render_histogram(&o, f, s);
                    continue;
                }
                char v[40];
                fmt_value(s->value, v);
                if (s->labels[0])
                    out_printf(&o, "%s{%s} %s\n", f->name, s->labels, v);
                else
                    out_printf(&o, "%s %s\n", f->name, v);
            }
        }
        pthread_mutex_unlock(&self->lock);
    }
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    if (len)
        *len = o.len;
    return o.buf;
}

/* Group commit: see commit.h. One mutex guards the queue; committers wait on `work`. After a
 * batch, each job's group counts down and the last job of a request calls its callback, so a
 * batch wakes exactly the requests it finished. */
#include "commit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "crm/metrics.h"
#include "crm/outbox.h"
#include "crm/util.h"

struct gw_committer_t {
    gw_t *gw;
    pthread_mutex_t mu;
    pthread_cond_t work;
    gw_commit_job_t *head, *tail;
    bool stop;
    int max_batch;
    int nthreads;
    pthread_t threads[16];
    /* Delivery ids taken from the sequence ahead of need (ID_BLOCK at a time), so that most
     * batches need one round trip, not two. Ids unused at exit are skipped, as a sequence does
     * after any rollback. */
    pthread_mutex_t id_mu;
    int64_t ids[512];
    size_t id_pos, id_len;
};

enum { ID_BLOCK = 512 };

/* n fresh delivery ids: from the committer's block when it holds enough, else from the
 * sequence (refilling the block). */
static int take_ids(gw_committer_t *self, crm_db_t *db, size_t n, int64_t *out, crm_err_t *err)
{
    if (!self || n > ID_BLOCK)
        return gw_store_delivery_ids(db, n, out, err);
    pthread_mutex_lock(&self->id_mu);
    int rc = CRM_OK;
    if (self->id_len - self->id_pos < n) {
        rc = gw_store_delivery_ids(db, ID_BLOCK, self->ids, err);
        self->id_pos = 0;
        self->id_len = rc == CRM_OK ? ID_BLOCK : 0;
    }
    if (rc == CRM_OK) {
        memcpy(out, self->ids + self->id_pos, n * sizeof *out);
        self->id_pos += n;
    }
    pthread_mutex_unlock(&self->id_mu);
    return rc;
}

/* One statement for jobs[0..n) (linked by next): fresh delivery ids first (the events carry
 * them), then every archive row and its lead.captured together, in the statement's own
 * transaction — two round trips for the whole batch. CRM_OK: every job has rc, inserted, id. */
static int store_batch(gw_committer_t *self, crm_db_t *db, gw_commit_job_t *first, crm_err_t *err)
{
    size_t n = 0;
    for (gw_commit_job_t *j = first; j; j = j->next)
        n++;
    int64_t *ids = calloc(n, sizeof *ids);
    bool *inserted = calloc(n, sizeof *inserted);
    const gw_archive_in_t **in = calloc(n, sizeof *in);
    const ProtobufCMessage **events = calloc(n, sizeof *events);
    int rc = ids && inserted && in && events
                 ? take_ids(self, db, n, ids, err)
                 : crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "out of memory storing the deliveries");
    if (rc == CRM_OK) {
        size_t k = 0;
        for (gw_commit_job_t *j = first; j; j = j->next, k++) {
            j->lc->has_delivery_id = true;
            j->lc->delivery_id = ids[k];
            in[k] = &j->in;
            events[k] = &j->lc->base;
        }
        rc = gw_store_accept_batch(db, in, ids, "lead.captured", events, n, inserted, err);
    }
    if (rc == CRM_OK) {
        /* Lost races (the same delivery id from another request, committed first or earlier in
         * this batch): answer with the winner's id. */
        size_t k = 0;
        for (gw_commit_job_t *j = first; j; j = j->next, k++) {
            j->rc = CRM_OK;
            j->inserted = inserted[k];
            j->id = inserted[k] ? ids[k] : 0;
            if (!j->inserted &&
                gw_store_delivery_find(db, j->in.source, j->in.external_id, &j->id, err) != CRM_OK)
                j->rc = err->code;
        }
    }
    free(ids);
    free(inserted);
    free(in);
    free(events);
    return rc;
}

/* Stores a list of jobs: all in one transaction, or, when that fails, each in its own. */
static void store_jobs(gw_t *gw, gw_committer_t *self, gw_commit_job_t *first)
{
    crm_err_t err;
    crm_err_clear(&err);
    size_t n = 0;
    for (gw_commit_job_t *j = first; j; j = j->next)
        n++;
    crm_metrics_inc(gw->metrics, "crm_gateway_commit_batches_total", NULL, 1);
    crm_metrics_inc(gw->metrics, "crm_gateway_commit_deliveries_total", NULL, (double)n);
    int64_t start_us = crm_mono_us();
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        for (gw_commit_job_t *j = first; j; j = j->next)
            j->rc = err.code ? err.code : CRM_EUNAVAILABLE;
        return;
    }
    if (store_batch(self, db, first, &err) != CRM_OK) {
        if (!first->next) {
            first->rc = err.code;
            crm_log_warn(first->corr, "webhook.store_failed", "source=%s code=%s reason=%s", first->in.source,
                         crm_code_name(err.code), err.message);
        } else {
            crm_log_warn(NULL, "webhook.batch_failed", "code=%s reason=%s retry=one_by_one",
                         crm_code_name(err.code), err.message);
            for (gw_commit_job_t *j = first, *next; j; j = next) {
                next = j->next;
                j->next = NULL;
                crm_err_clear(&err);
                if (store_batch(self, db, j, &err) != CRM_OK) {
                    j->rc = err.code;
                    crm_log_warn(j->corr, "webhook.store_failed", "source=%s code=%s reason=%s", j->in.source,
                                 crm_code_name(err.code), err.message);
                }
                j->next = next;
            }
        }
    }
    crm_db_pool_put(gw->db, db);
    crm_metrics_observe(gw->metrics, "crm_gateway_commit_duration_seconds", NULL,
                        (double)(crm_mono_us() - start_us) / 1e6);
    crm_outbox_kick(gw->outbox);
}

/* Counts the jobs of a stored list off their groups; the last job of a group calls back (after
 * which the job's memory may be gone). */
static void jobs_done(gw_commit_job_t *first)
{
    for (gw_commit_job_t *j = first, *next; j; j = next) {
        next = j->next;
        gw_commit_group_t *g = j->group;
        if (atomic_fetch_sub(&g->left, 1) == 1)
            g->done(g->arg);
    }
}

static void *committer_main(void *arg)
{
    gw_committer_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (!self->head && !self->stop)
            pthread_cond_wait(&self->work, &self->mu);
        if (!self->head)
            break; /* stopping and nothing left */
        gw_commit_job_t *first = self->head, *last = first;
        for (int k = 1; k < self->max_batch && last->next; k++)
            last = last->next;
        self->head = last->next;
        if (!self->head)
            self->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&self->mu);

        store_jobs(self->gw, self, first);
        jobs_done(first);

        pthread_mutex_lock(&self->mu);
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

gw_committer_t *gw_committer_new(gw_t *gw, int threads, int max_batch, crm_err_t *err)
{
    gw_committer_t *self = calloc(1, sizeof *self);
    if (!self) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    self->gw = gw;
    self->max_batch = max_batch < 1 ? 1 : max_batch;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->work, NULL);
    pthread_mutex_init(&self->id_mu, NULL);
    int n = threads < 1 ? 1 : (threads > 16 ? 16 : threads);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&self->threads[i], NULL, committer_main, self) != 0) {
            crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot start a committer thread");
            gw_committer_destroy(&self);
            return NULL;
        }
        self->nthreads++;
    }
    return self;
}

void gw_committer_destroy(gw_committer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_committer_t *self = *self_p;
    pthread_mutex_lock(&self->mu);
    self->stop = true;
    pthread_cond_broadcast(&self->work);
    pthread_mutex_unlock(&self->mu);
    for (int i = 0; i < self->nthreads; i++)
        pthread_join(self->threads[i], NULL);
    pthread_cond_destroy(&self->work);
    pthread_mutex_destroy(&self->id_mu);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

void gw_commit_async(gw_t *gw, gw_committer_t *self, gw_commit_job_t *jobs, size_t n,
                     gw_commit_group_t *group, gw_commit_done_fn done, void *arg)
{
    atomic_store(&group->left, n);
    group->done = done;
    group->arg = arg;
    for (size_t i = 0; i < n; i++) {
        jobs[i].rc = CRM_OK;
        jobs[i].group = group;
        jobs[i].next = i + 1 < n ? &jobs[i + 1] : NULL;
    }
    if (n == 0) {
        done(arg);
        return;
    }
    if (!self) {
        store_jobs(gw, NULL, &jobs[0]);
        jobs_done(&jobs[0]);
        return;
    }
    pthread_mutex_lock(&self->mu);
    if (self->tail)
        self->tail->next = &jobs[0];
    else
        self->head = &jobs[0];
    self->tail = &jobs[n - 1];
    pthread_cond_signal(&self->work);
    pthread_mutex_unlock(&self->mu);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter_t;

static void wake(void *arg)
{
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void gw_commit(gw_t *gw, gw_committer_t *self, gw_commit_job_t *jobs, size_t n)
{
    waiter_t w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    gw_commit_group_t group;
    gw_commit_async(gw, self, jobs, n, &group, wake, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

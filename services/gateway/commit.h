/* Group commit of accepted webhook deliveries. A request hands its accepted deliveries to a
 * committer; a committer thread takes every delivery queued so far (up to a batch) and stores
 * their archive rows and lead.captured events in ONE transaction, so that one WAL flush covers
 * many requests. The 202 still goes out only after that commit: durable before the answer, as
 * DESIGN §4 asks. A batch that fails is retried one delivery per transaction, so one bad row
 * costs only its own request a 503.
 *
 * gw_commit_async does not block: the HTTP layer suspends the connection and the committer
 * calls back once the request's deliveries are stored (no thread waits per request).
 * gw_commit blocks the calling thread until then. */
#ifndef GW_COMMIT_H
#define GW_COMMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"
#include "leads.pb-c.h"
#include "store.h"

typedef struct gw_commit_job {
    gw_archive_in_t in;    /* the archive row (pointers borrowed from the request) */
    Crm__LeadCaptured *lc; /* its event; the committer sets delivery_id */
    const char *corr;
    /* set by the committer */
    int rc;                        /* CRM_OK, or why it could not be stored (→ 503) */
    bool inserted;                 /* false: a delivery with this (source, id) existed already */
    int64_t id;                    /* the new delivery's id, or the earlier one's */
    struct gw_commit_group *group; /* the request the job belongs to */
    struct gw_commit_job *next;
} gw_commit_job_t;

/* Called from a committer thread (or, with nothing to queue, from the caller) once every job
 * handed over together is stored (each job's rc says how). */
typedef void (*gw_commit_done_fn)(void *arg);

typedef struct gw_commit_group {
    _Atomic size_t left; /* jobs not yet stored */
    gw_commit_done_fn done;
    void *arg;
} gw_commit_group_t;

typedef struct gw_committer_t gw_committer_t;

/* Starts `threads` committer threads taking up to max_batch deliveries per transaction. */
gw_committer_t *gw_committer_new(gw_t *gw, int threads, int max_batch, crm_err_t *err);
/* Commits what is queued, then stops the threads. Safe on NULL. */
void gw_committer_destroy(gw_committer_t **self_p);
/* Queues jobs[0..n) (stored together with other requests' jobs) and returns at once; done(arg)
 * is called once all are stored. group is the caller's and must live until then. With no
 * committer (self NULL), or n == 0, they are stored here and done is called before returning. */
void gw_commit_async(gw_t *gw, gw_committer_t *self, gw_commit_job_t *jobs, size_t n,
                     gw_commit_group_t *group, gw_commit_done_fn done, void *arg);
/* The same, returning when all are stored. */
void gw_commit(gw_t *gw, gw_committer_t *self, gw_commit_job_t *jobs, size_t n);

#endif

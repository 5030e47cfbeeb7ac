/* Group commit of accepted webhook deliveries. A request thread hands its accepted deliveries
 * to a committer and waits; a committer thread takes every delivery queued so far (up to a
 * batch) and stores their archive rows and lead.captured events in ONE transaction, so that one
 * WAL flush covers many requests. The 202 still goes out only after that commit: durable before
 * the answer, as DESIGN §4 asks. A batch that fails is retried one delivery per transaction,
 * so one bad row costs only its own request a 503. */
#ifndef GW_COMMIT_H
#define GW_COMMIT_H

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
    int rc;        /* CRM_OK, or why it could not be stored (→ 503) */
    bool inserted; /* false: a delivery with this (source, id) existed already */
    int64_t id;    /* the new delivery's id, or the earlier one's */
    bool done;
    struct gw_commit_job *next;
} gw_commit_job_t;

typedef struct gw_committer_t gw_committer_t;

/* Starts `threads` committer threads taking up to max_batch deliveries per transaction. */
gw_committer_t *gw_committer_new(gw_t *gw, int threads, int max_batch, crm_err_t *err);
/* Commits what is queued, then stops the threads. Safe on NULL. */
void gw_committer_destroy(gw_committer_t **self_p);
/* Stores jobs[0..n) (together with other requests' jobs) and returns when all are done. With no
 * committer (self NULL) they are stored here, in one transaction on a pooled connection. */
void gw_commit(gw_t *gw, gw_committer_t *self, gw_commit_job_t *jobs, size_t n);

#endif

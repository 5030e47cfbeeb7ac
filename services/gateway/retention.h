/* Delivery archive retention: the archive must not grow without bound. Each pass of the gateway's
 * pruning thread (stream.c, every gateway.stream.prune_interval_ms) drops the raw body of accepted
 * deliveries older than gateway.delivery_retention_seconds (30 days; 0 keeps everything) and
 * deletes refused, ignored and duplicate ones (gw_store_deliveries_prune), in batches of at most
 * 1000 rows. An accepted delivery's row stays for good: it is the dedupe key of its delivery id. */
#ifndef GW_RETENTION_H
#define GW_RETENTION_H

#include "gateway.h"

/* One pass: batches while they come back full (at most 100 of them). */
void gw_deliveries_prune(gw_t *gw);

#endif

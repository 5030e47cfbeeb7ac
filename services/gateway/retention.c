/* Delivery archive retention (retention.h). */
#include "retention.h"

#include <stdio.h>
#include "crm/log.h"
#include "store.h"

#define PRUNE_BATCH 1000 /* ~100 ms a statement on a loaded machine (it rewrites each row) */
#define PRUNE_MAX_BATCHES 100 /* per pass: the rest waits for the next pass */

void gw_deliveries_prune(gw_t *gw)
{
    long retention_s = crm_config_int(gw->config, "gateway.delivery_retention_seconds", 30L * 24 * 3600);
    if (retention_s <= 0)
        return;
    int64_t dropped_total = 0, deleted_total = 0;
    for (int i = 0; i < PRUNE_MAX_BATCHES && !atomic_load(&gw->quit); i++) {
        crm_err_t err = {0};
        crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
        if (!db)
            break;
        int64_t dropped = 0, deleted = 0;
        int rc = gw_store_deliveries_prune(db, retention_s, PRUNE_BATCH, &dropped, &deleted, &err);
        crm_db_pool_put(gw->db, db);
        if (rc != CRM_OK) {
            char q[300];
            crm_log_warn(NULL, "deliveries.prune_failed", "error=%s",
                         crm_log_quote(err.message, q, sizeof q));
            break;
        }
        dropped_total += dropped;
        deleted_total += deleted;
        if (dropped + deleted < PRUNE_BATCH)
            break;
    }
    if (dropped_total + deleted_total == 0)
        return;
    crm_log_info(NULL, "deliveries.pruned", "bodies_dropped=%lld rows_deleted=%lld retention_seconds=%ld",
                 (long long)dropped_total, (long long)deleted_total, retention_s);
    if (dropped_total)
        crm_metrics_inc(gw->metrics, "crm_gateway_deliveries_pruned_total", "action=\"body_dropped\"",
                        (double)dropped_total);
    if (deleted_total)
        crm_metrics_inc(gw->metrics, "crm_gateway_deliveries_pruned_total", "action=\"deleted\"",
                        (double)deleted_total);
}

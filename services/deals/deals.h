/* crm-deals: the service context and its store API. */
#ifndef DEALS_H
#define DEALS_H

#include "crm/daemon.h"
#include "deals.pb-c.h"

typedef struct {
    crm_daemon_t *daemon;
} deals_t;

void deals_rpc_register(deals_t *self);

/* store.c */
int deals_store_pipeline_list(crm_db_t *db, const Crm__PipelineListRequest *req, Crm__PipelineList **out,
                              crm_err_t *err);
int deals_store_stage_list(crm_db_t *db, const Crm__StageListRequest *req, Crm__StageList **out, crm_err_t *err);

#endif

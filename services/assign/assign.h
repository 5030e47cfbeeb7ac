/* crm-assign: the service context shared by rpc.c and consume.c, and its store API. */
#ifndef ASSIGN_H
#define ASSIGN_H

#include <stdbool.h>
#include "crm/daemon.h"
#include "assign.pb-c.h"
#include "leads.pb-c.h"

typedef struct {
    crm_daemon_t *daemon;
} assign_t;

void assign_rpc_register(assign_t *self);
int assign_consume_register(assign_t *self, crm_err_t *err);

/* store.c */
int assign_store_user_create(crm_db_t *db, const Crm__User *in, Crm__User **out, crm_err_t *err);
/* Returns the user with that e-mail, creating it as an admin when missing. */
int assign_store_user_bootstrap(crm_db_t *db, const char *name, const char *email, Crm__User **out,
                                crm_err_t *err);
/* Partial update (absent fields kept); 422 naming each bad field; the caller may not deactivate
 * or demote themselves. */
int assign_store_user_update(crm_db_t *db, int64_t caller_id, const Crm__User *in, Crm__User **out,
                             crm_err_t *err);
int assign_store_user_get(crm_db_t *db, int64_t id, Crm__User **out, crm_err_t *err);
int assign_store_user_list(crm_db_t *db, const Crm__UserListRequest *req, Crm__UserList **out,
                           crm_err_t *err);
int assign_store_pool_create(crm_db_t *db, const Crm__DistributionPool *in, Crm__DistributionPool **out,
                             crm_err_t *err);
int assign_store_pool_get(crm_db_t *db, int64_t id, Crm__DistributionPool **out, crm_err_t *err);
int assign_store_pool_list(crm_db_t *db, const Crm__PoolListRequest *req, Crm__PoolList **out,
                           crm_err_t *err);

/* Picks the next owner from the default pool of resource_type and records the assignment for
 * cause_event_id. *owner_id = 0 when there is no default pool or no active member. */
int assign_store_round_robin(crm_db_t *tx, const char *resource_type, int64_t resource_id,
                             const char *cause_event_id, int64_t *owner_id, int64_t *pool_id,
                             int64_t *assignment_id, crm_err_t *err);

/* store_teams.c */
int assign_store_team_create(crm_db_t *db, const Crm__Team *in, Crm__Team **out, crm_err_t *err);
int assign_store_team_update(crm_db_t *db, const Crm__Team *in, Crm__Team **out, crm_err_t *err);
int assign_store_team_delete(crm_db_t *db, int64_t id, crm_err_t *err);
int assign_store_team_get(crm_db_t *db, int64_t id, Crm__Team **out, crm_err_t *err);
int assign_store_team_list(crm_db_t *db, const Crm__TeamListRequest *req, Crm__TeamList **out,
                           crm_err_t *err);
int assign_store_account_get(crm_db_t *db, Crm__Account **out, crm_err_t *err);

#endif

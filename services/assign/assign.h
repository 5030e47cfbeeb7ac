/* crm-assign: the service context shared by rpc.c and consume.c, and its store API. */
#ifndef ASSIGN_H
#define ASSIGN_H

#include <stdbool.h>
#include "crm/daemon.h"
#include "assign.pb-c.h"
#include "leads.pb-c.h"
#include "deals.pb-c.h"

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
/* store_teams.c */
int assign_store_team_create(crm_db_t *db, const Crm__Team *in, Crm__Team **out, crm_err_t *err);
int assign_store_team_update(crm_db_t *db, const Crm__Team *in, Crm__Team **out, crm_err_t *err);
int assign_store_team_delete(crm_db_t *db, int64_t id, crm_err_t *err);
int assign_store_team_get(crm_db_t *db, int64_t id, Crm__Team **out, crm_err_t *err);
int assign_store_team_list(crm_db_t *db, const Crm__TeamListRequest *req, Crm__TeamList **out,
                           crm_err_t *err);
int assign_store_account_get(crm_db_t *db, Crm__Account **out, crm_err_t *err);

/* store_pools.c (see the comment at its top for the pick) */
int assign_store_pool_create(crm_db_t *db, const Crm__DistributionPool *in, Crm__DistributionPool **out,
                             crm_err_t *err);
int assign_store_pool_update(crm_db_t *db, const Crm__DistributionPool *in, Crm__DistributionPool **out,
                             crm_err_t *err);
int assign_store_pool_delete(crm_db_t *db, int64_t id, crm_err_t *err);
int assign_store_pool_get(crm_db_t *db, int64_t id, Crm__DistributionPool **out, crm_err_t *err);
int assign_store_pool_list(crm_db_t *db, const Crm__PoolListRequest *req, Crm__PoolList **out,
                           crm_err_t *err);
int assign_store_member_add(crm_db_t *db, const Crm__PoolMember *in, Crm__PoolMember **out, crm_err_t *err);
int assign_store_member_update(crm_db_t *db, const Crm__PoolMember *in, Crm__PoolMember **out,
                               crm_err_t *err);
int assign_store_member_remove(crm_db_t *db, const Crm__PoolMemberRequest *in, crm_err_t *err);
int assign_store_member_list(crm_db_t *db, const Crm__PoolMemberRequest *in, Crm__PoolMemberList **out,
                             crm_err_t *err);

typedef struct {
    int64_t pool_id; /* 0: no such pool / no default pool */
    bool mismatch;   /* the pool serves another record type: nothing picked */
    int64_t owner_id;
    int64_t assignment_id;
    char kind[16]; /* round_robin | weight_turn | fallback */
    bool fallback;
    int turn, weight;
    int64_t admin_ids[16]; /* fallback: the active admins */
    size_t n_admins;
} assign_pick_t;

/* Picks the owner of a record from pool_id (0: the default pool of type) and records it for
 * cause, in the caller's transaction. */
int assign_store_pick(crm_db_t *tx, int64_t pool_id, const char *type, int64_t resource_id, int64_t previous,
                      const char *cause, assign_pick_t *out, crm_err_t *err);
/* assign.pick_bulk: owners for many records of one type in one transaction (the caller's), in
 * record order, through the same pool lock and cursor as assign_store_pick; records that already
 * have an assignment get it back without a turn; owner_id > 0 assigns all to that user (manual).
 * owners/aids have n slots; *pool_used is 0 when no pool was used. No event is written. */
typedef struct {
    const char *type;
    const int64_t *ids;
    size_t n;
    int64_t pool_id; /* 0: the default pool of type (none: every owner 0) */
    int64_t owner_id;
    const char *import_id;
    int64_t changed_by;
    int64_t phase_us[5];    /* out: known, ids, picks, log COPY, ownership (for the log) */
    const int64_t *release; /* records that will never exist: this import's picks for them go */
    size_t nrelease;
    int64_t released; /* out: assignments removed */
} assign_bulk_t;
int assign_store_pick_bulk(crm_db_t *tx, assign_bulk_t *in, int64_t *owners, int64_t *aids,
                           int64_t *pool_used, crm_err_t *err);
/* Records a manual owner change for cause. */
int assign_store_manual(crm_db_t *tx, const char *type, int64_t resource_id, int64_t owner, int64_t previous,
                        int64_t changed_by, const char *cause, int64_t *assignment_id, crm_err_t *err);
/* True when cause already produced an assignment. */
int assign_store_seen(crm_db_t *tx, const char *cause, bool *seen, crm_err_t *err);
/* The current owner of a record, as events tell it (for caps). */
int assign_store_ownership_set(crm_db_t *tx, const char *type, int64_t resource_id, int64_t owner_id,
                               crm_err_t *err);
/* The owner we know of a record (0 when none). */
int assign_store_owner_of(crm_db_t *tx, const char *type, int64_t resource_id, int64_t *owner,
                          crm_err_t *err);
/* Marks a record closed (or open again); owner_id > 0 also sets the owner. */
int assign_store_ownership_close(crm_db_t *tx, const char *type, int64_t resource_id, int64_t owner_id,
                                 bool closed, crm_err_t *err);
int assign_store_assignment_list(crm_db_t *db, int64_t caller_id, bool sales,
                                 const Crm__AssignmentListRequest *req, Crm__AssignmentList **out,
                                 crm_err_t *err);
int assign_store_pool_stats(crm_db_t *db, const Crm__PoolStatsRequest *req, Crm__PoolStats **out,
                            crm_err_t *err);

#endif

/* crm-leads reminders: a thread that announces, through the outbox, each task that falls due
 * (task.due, once per due date) and each open lead that went stale (lead.stale, once until the
 * lead sees activity again). crm-notify turns them into notifications of the kinds task_due and
 * lead_stale for the owner, as the owner's settings ask.
 *
 * Each scan claims its rows with FOR UPDATE SKIP LOCKED and marks them announced in the same
 * transaction that appends the events, so several crm-leads instances never announce one thing
 * twice, and a crash before the commit announces it on the next scan.
 *
 * Configuration (leads.reminders.*): interval_ms (default 60000), stale_after_seconds (default
 * 14 days; 0 turns stale leads off), stale_ignore_statuses (default [Unqualified]). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activities.pb-c.h"
#include "crm/log.h"
#include "crm/row.h"
#include "crm/util.h"
#include "extras.h"
#include "leads.h"
#include "reminders.pb-c.h"

#define REMINDERS_BATCH "200"

struct leads_reminders_t {
    crm_daemon_t *daemon;
    long interval_ms;
    long stale_after_s;
    char *ignore_statuses; /* Postgres text[] literal */
    pthread_t thread;
    bool started;
    volatile int stopping;
};

static const char DUE_SQL[] =
    "WITH due AS (SELECT id FROM tasks "
    "  WHERE NOT completed AND due_announced_at IS NULL AND owner_id IS NOT NULL "
    "    AND coalesce(remind_at, due_date) <= now() "
    "  ORDER BY coalesce(remind_at, due_date), id LIMIT " REMINDERS_BATCH " FOR UPDATE SKIP LOCKED) "
    "UPDATE tasks t SET due_announced_at = now() FROM due WHERE t.id = due.id "
    "RETURNING t.id, t.owner_id, t.creator_id, t.content, t.resource_type, t.resource_id, " LEADS_TS(
        "t.due_date") ", " LEADS_TS("t.remind_at") ", " LEADS_TS("t.created_at") ", " LEADS_TS("t.updated_"
                                                                                               "at");

/* An open lead is stale when neither an edit nor a timeline entry touched it for $1 seconds; it is
 * announced again only after newer activity than the last announcement. */
static const char STALE_SQL[] =
    "WITH cand AS (SELECT l.id, greatest(l.updated_at, coalesce((SELECT max(la.created_at) "
    "      FROM lead_activities la WHERE la.lead_id = l.id), l.created_at)) AS last_at "
    "    FROM leads l "
    "   WHERE l.converted_at IS NULL AND l.owner_id IS NOT NULL AND NOT (l.status = ANY ($2::text[])) "
    "     AND l.updated_at < now() - make_interval(secs => $1::bigint) "
    "   ORDER BY l.updated_at, l.id LIMIT 1000), "
    "stale AS (SELECT l.id, cand.last_at FROM leads l JOIN cand ON cand.id = l.id "
    "   WHERE cand.last_at < now() - make_interval(secs => $1::bigint) "
    "     AND (l.stale_announced_at IS NULL OR l.stale_announced_at < cand.last_at) "
    "   LIMIT " REMINDERS_BATCH " FOR UPDATE OF l SKIP LOCKED) "
    "UPDATE leads l SET stale_announced_at = now() FROM stale WHERE l.id = stale.id "
    "RETURNING l.id, l.owner_id, coalesce(nullif(trim(concat_ws(' ', l.first_name, l.last_name)), ''), "
    "  l.organization_name, ''), " LEADS_TS("stale.last_at");

/* Announces what is due; returns the number of events written, or -1. */
static int announce_due(crm_db_t *db, crm_outbox_t *outbox, crm_err_t *err)
{
    PGresult *res = crm_db_exec(db, "leads_reminders_due", DUE_SQL, 0, NULL, err);
    if (!res)
        return -1;
    int n = PQntuples(res);
    for (int r = 0; r < n; r++) {
        Crm__Task task = CRM__TASK__INIT;
        crm_row_i64(res, r, 0, &task.has_id, &task.id);
        crm_row_i64(res, r, 1, &task.has_owner_id, &task.owner_id);
        crm_row_i64(res, r, 2, &task.has_creator_id, &task.creator_id);
        task.content = (char *)crm_db_str(res, r, 3);
        task.resource_type = (char *)crm_db_str(res, r, 4);
        crm_row_i64(res, r, 5, &task.has_resource_id, &task.resource_id);
        task.due_date = (char *)crm_db_str(res, r, 6);
        task.remind_at = (char *)crm_db_str(res, r, 7);
        task.created_at = (char *)crm_db_str(res, r, 8);
        task.updated_at = (char *)crm_db_str(res, r, 9);
        task.has_completed = 1;
        task.has_overdue = 1;
        task.overdue = task.due_date != NULL;
        Crm__TaskEvent ev = CRM__TASK_EVENT__INIT;
        ev.task = &task;
        if (crm_outbox_append(outbox, db, "task.due", NULL, &ev.base, err)) {
            PQclear(res);
            return -1;
        }
        crm_log_info(NULL, "task.due", "task_id=%lld owner_id=%lld", (long long)task.id,
                     (long long)task.owner_id);
    }
    PQclear(res);
    return n;
}

static int announce_stale(leads_reminders_t *self, crm_db_t *db, crm_err_t *err)
{
    if (self->stale_after_s <= 0)
        return 0;
    char secs[24];
    const char *p[2] = {crm_param_i64(secs, true, self->stale_after_s), self->ignore_statuses};
    PGresult *res = crm_db_exec(db, "leads_reminders_stale", STALE_SQL, 2, p, err);
    if (!res)
        return -1;
    int n = PQntuples(res);
    for (int r = 0; r < n; r++) {
        Crm__LeadStale ev = CRM__LEAD_STALE__INIT;
        crm_row_i64(res, r, 0, &ev.has_lead_id, &ev.lead_id);
        crm_row_i64(res, r, 1, &ev.has_owner_id, &ev.owner_id);
        ev.name = (char *)crm_db_str(res, r, 2);
        ev.last_activity_at = (char *)crm_db_str(res, r, 3);
        if (crm_outbox_append(self->daemon->outbox, db, "lead.stale", NULL, &ev.base, err)) {
            PQclear(res);
            return -1;
        }
        crm_log_info(NULL, "lead.stale", "lead_id=%lld owner_id=%lld last_activity_at=%s",
                     (long long)ev.lead_id, (long long)ev.owner_id,
                     ev.last_activity_at ? ev.last_activity_at : "");
    }
    PQclear(res);
    return n;
}

/* One scan in one transaction; returns the number of events written (0 when idle), or -1. */
static int scan(leads_reminders_t *self, crm_db_t *db)
{
    crm_err_t err;
    if (crm_db_begin(db, &err))
        goto fail;
    int due = announce_due(db, self->daemon->outbox, &err);
    int stale = due < 0 ? -1 : announce_stale(self, db, &err);
    if (stale < 0 || crm_db_commit(db, &err))
        goto fail;
    if (due + stale > 0)
        crm_outbox_kick(self->daemon->outbox);
    return due + stale;
fail:
    crm_log_warn(NULL, "reminders.scan_failed", "error=\"%s\"", err.message);
    crm_db_rollback(db);
    crm_db_check(db, &err);
    return -1;
}

static void *reminders_main(void *arg)
{
    leads_reminders_t *self = arg;
    crm_db_t *db = NULL;
    while (!self->stopping) {
        crm_err_t err;
        if (!db || !crm_db_ok(db)) {
            crm_db_destroy(&db);
            db = crm_db_connect(&self->daemon->db_params, &err);
        }
        /* A full batch means more may be waiting: scan again at once. */
        if (db && scan(self, db) >= atoi(REMINDERS_BATCH))
            continue;
        for (long slept = 0; slept < self->interval_ms && !self->stopping; slept += 50)
            crm_sleep_ms(50);
    }
    crm_db_destroy(&db);
    return NULL;
}

leads_reminders_t *leads_reminders_new(crm_daemon_t *d)
{
    const crm_config_t *cfg = d->config;
    leads_reminders_t *self = calloc(1, sizeof *self);
    self->daemon = d;
    self->interval_ms = crm_config_int(cfg, "leads.reminders.interval_ms", 60000);
    if (self->interval_ms < 50)
        self->interval_ms = 50;
    self->stale_after_s = crm_config_int(cfg, "leads.reminders.stale_after_seconds", 14L * 24 * 3600);
    size_t n = crm_config_len(cfg, "leads.reminders.stale_ignore_statuses");
    char *names[LEADS_MAX_STATUSES];
    size_t k = 0;
    for (size_t i = 0; i < n && k < LEADS_MAX_STATUSES; i++) {
        const char *s = crm_config_list_str(cfg, "leads.reminders.stale_ignore_statuses", i);
        if (s)
            names[k++] = (char *)s;
    }
    if (!crm_config_has(cfg, "leads.reminders.stale_ignore_statuses"))
        names[k++] = "Unqualified";
    self->ignore_statuses = crm_param_text_array(names, k);
    return self;
}

int leads_reminders_start(leads_reminders_t *self, crm_err_t *err)
{
    if (pthread_create(&self->thread, NULL, reminders_main, self) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot start the reminders thread");
    self->started = true;
    return CRM_OK;
}

void leads_reminders_destroy(leads_reminders_t **self_p)
{
    leads_reminders_t *self = *self_p;
    if (!self)
        return;
    self->stopping = 1;
    if (self->started)
        pthread_join(self->thread, NULL);
    free(self->ignore_statuses);
    free(self);
    *self_p = NULL;
}

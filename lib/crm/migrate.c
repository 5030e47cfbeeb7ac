/* migrate: applies the libcrm core migrations (the event spine's tables) and then a service's
 * own, each once, in order and in its own transaction, under a session advisory lock so that
 * many instances may start at once (DESIGN §6). */
#include <stdio.h>
#include <string.h>

#include "crm/db.h"
#include "crm/log.h"

/* The event spine's tables (DESIGN §4): outbox + its sequencing state, inbox offsets, and the
 * events a consumer could not apply. */
static const char core_001_spine[] =
    "CREATE TABLE outbox ("
    "  id bigserial PRIMARY KEY,"
    "  seq bigint UNIQUE,"
    "  event_id uuid NOT NULL UNIQUE,"
    "  type text NOT NULL,"
    "  occurred_at timestamptz NOT NULL DEFAULT now(),"
    "  correlation_id text,"
    "  schema_version int NOT NULL DEFAULT 1,"
    "  payload bytea NOT NULL);"
    /* the relay looks for committed rows still waiting for their seq */
    "CREATE INDEX outbox_unsequenced ON outbox (id) WHERE seq IS NULL;"
    /* events.replay with a type filter scans a seq range of some types */
    "CREATE INDEX outbox_replay ON outbox (type, seq) WHERE seq IS NOT NULL;"
    "CREATE TABLE outbox_state ("
    "  id int PRIMARY KEY CHECK (id = 1),"
    "  last_seq bigint NOT NULL);"
    "INSERT INTO outbox_state (id, last_seq) VALUES (1, 0);"
    "CREATE TABLE inbox_offsets ("
    "  producer text PRIMARY KEY,"
    "  last_seq bigint NOT NULL,"
    "  updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE dead_letters ("
    "  id bigserial PRIMARY KEY,"
    "  producer text NOT NULL,"
    "  seq bigint NOT NULL,"
    "  type text NOT NULL,"
    "  event_id text,"
    "  error text NOT NULL,"
    "  payload bytea,"
    "  created_at timestamptz NOT NULL DEFAULT now());";

/* Every appended outbox row used to add a NULL entry to the unique index on seq, and the
 * planner walked that index (not outbox_unsequenced) for "seq IS NULL": under a steady stream the
 * relay's every step read through every row sequenced since the last vacuum. Only sequenced rows
 * need the uniqueness. */
static const char core_002_outbox_seq[] =
    "ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_seq_key;"
    "CREATE UNIQUE INDEX IF NOT EXISTS outbox_seq ON outbox (seq) WHERE seq IS NOT NULL;";

/* Every outbox row is written twice (appended, then given its seq by the relay: a new row version
 * with an entry in every index), so each index costs two entries per event. Two served nothing
 * that needs them: event_id's uniqueness (a UUIDv7 of 74 random bits made by the appender; nothing
 * looks a row up by it) and (type, seq) for type-filtered replays, which scan a seq range of the
 * outbox_seq index and filter the types of that range just as well. A bulk import of a million
 * leads appends a million rows: 4 index entries fewer each. */
static const char core_003_outbox_indexes[] =
    "ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_event_id_key;"
    "DROP INDEX IF EXISTS outbox_replay;";

static const crm_migration_t core_migrations[] = {
    {"crm_core_001_spine", core_001_spine},
    {"crm_core_002_outbox_seq", core_002_outbox_seq},
    {"crm_core_003_outbox_indexes", core_003_outbox_indexes},
};

/* The schema name goes into SQL text (CREATE SCHEMA, search_path): only a plain lower-case
 * identifier is accepted. */
static bool valid_schema(const char *s) {
    if (!s || !*s || strlen(s) > 48) return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return false;
    return true;
}

static int is_applied(crm_db_t *db, const char *schema, const char *name, bool *applied, crm_err_t *err) {
    char stmt[96], sql[160];
    snprintf(stmt, sizeof stmt, "crm_migrate_applied_%s", schema);
    snprintf(sql, sizeof sql, "SELECT 1 FROM \"%s\".schema_migrations WHERE name = $1", schema);
    const char *p[1] = {name};
    PGresult *res = crm_db_exec(db, stmt, sql, 1, p, err);
    if (!res) return err ? err->code : CRM_EINTERNAL;
    *applied = PQntuples(res) > 0;
    PQclear(res);
    return CRM_OK;
}

static int apply_one(crm_db_t *db, const char *schema, const crm_migration_t *m, crm_err_t *err) {
    bool applied = false;
    int rc = is_applied(db, schema, m->name, &applied, err);
    if (rc != CRM_OK || applied) return rc;
    char sql[160];
    if ((rc = crm_db_begin(db, err)) != CRM_OK) return rc;
    snprintf(sql, sizeof sql, "SET LOCAL search_path TO \"%s\"", schema);
    if ((rc = crm_db_exec_simple(db, sql, err)) != CRM_OK) goto fail;
    if ((rc = crm_db_exec_simple(db, m->sql, err)) != CRM_OK) goto fail;
    char stmt[96];
    snprintf(stmt, sizeof stmt, "crm_migrate_record_%s", schema);
    snprintf(sql, sizeof sql, "INSERT INTO \"%s\".schema_migrations (name) VALUES ($1)", schema);
    const char *p[1] = {m->name};
    if ((rc = crm_db_run(db, stmt, sql, 1, p, err)) != CRM_OK) goto fail;
    if ((rc = crm_db_commit(db, err)) != CRM_OK) goto fail;
    crm_log_info(NULL, "db.migrated", "schema=%s migration=%s", schema, m->name);
    return CRM_OK;
fail:
    crm_db_rollback(db);
    if (err) {
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "migration %.80s: %.400s", m->name, err->message);
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return rc;
}

static int migrate_locked(crm_db_t *db, const char *schema, const crm_migration_t *migrations, size_t count,
                          crm_err_t *err) {
    /* The service role may lack CREATE on the database when `crmctl db init` made the schema
     * for it: only create it when it is missing. */
    const char *p[1] = {schema};
    PGresult *res = crm_db_exec(db, "crm_migrate_nsp", "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                                1, p, err);
    if (!res) return err ? err->code : CRM_EINTERNAL;
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    char sql[256];
    int rc;
    if (!exists) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS \"%s\"", schema);
        if ((rc = crm_db_exec_simple(db, sql, err)) != CRM_OK) return rc;
    }
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS \"%s\".schema_migrations ("
             " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
             schema);
    if ((rc = crm_db_exec_simple(db, sql, err)) != CRM_OK) return rc;
    for (size_t i = 0; i < sizeof core_migrations / sizeof core_migrations[0]; i++)
        if ((rc = apply_one(db, schema, &core_migrations[i], err)) != CRM_OK) return rc;
    for (size_t i = 0; i < count; i++)
        if ((rc = apply_one(db, schema, &migrations[i], err)) != CRM_OK) return rc;
    return CRM_OK;
}

int crm_db_migrate(crm_db_t *self, const char *schema, const crm_migration_t *migrations, size_t count,
                   crm_err_t *err) {
    if (!valid_schema(schema))
        return crm_err_set(err, CRM_EINVALID, NULL, NULL, "migrate: bad schema name '%s'", schema ? schema : "");
    int rc = crm_db_check(self, err);
    if (rc != CRM_OK) return rc;
    /* One migrator per schema at a time across every instance: the session lock is held
     * until every migration is applied (or one failed), so no two apply the same one. */
    const char *p[1] = {schema};
    rc = crm_db_run(self, "crm_migrate_lock", "SELECT pg_advisory_lock(hashtext('crm.migrate.' || $1))", 1, p,
                    err);
    if (rc != CRM_OK) return rc;
    rc = migrate_locked(self, schema, migrations, count, err);
    crm_err_t ignored;
    crm_db_run(self, "crm_migrate_unlock", "SELECT pg_advisory_unlock(hashtext('crm.migrate.' || $1))", 1, p,
               &ignored);
    return rc;
}

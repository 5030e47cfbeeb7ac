/* crmctl db: database administration. `db init` creates, idempotently, one login role and one
 * schema per service (DESIGN §6) in the database of database.url, connecting as its owner. */
#include "crmctl.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Every service that owns a schema; role crm_<name> owns schema <name>. */
static const char *const db_services[] = {"gateway", "leads", "deals", "assign", "notify"};
#define DB_NSERVICES (sizeof db_services / sizeof db_services[0])

/* Key of the advisory lock that serialises concurrent `db init` runs ("crmdbinit" in ASCII). */
#define DB_INIT_LOCK_KEY "7166744766855810676"

static void db_help(FILE *out)
{
    fputs("Usage: crmctl [--config FILE] db init\n\n"
          "  init   connect with database.url (env CRM_DATABASE_URL) as the database owner and\n"
          "         create what is missing, for each service in gateway leads deals assign notify:\n"
          "           - role crm_<service> LOGIN (PASSWORD database.service_password when set),\n"
          "           - schema <service> AUTHORIZATION crm_<service>,\n"
          "           - GRANT CONNECT ON DATABASE <db> TO crm_<service>.\n"
          "         Safe to run any number of times, also concurrently (it holds an advisory lock).\n"
          "         The daemons create their tables themselves (migrations) at start.\n",
          out);
}

/* Runs a statement and reports a failure; returns true on success. */
static bool db_ok(PGconn *conn, PGresult *res, const char *what)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return true;
    fprintf(stderr, "crmctl: db init: %s failed: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    return false;
}

/* Runs a DDL statement whose text was built from escaped identifiers/literals only. */
static bool db_ddl(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    bool ok = db_ok(conn, res, what);
    PQclear(res);
    return ok;
}

/* Runs a named prepared statement with one text parameter; returns its row count or -1. */
static int db_count(PGconn *conn, const char *stmt, const char *param)
{
    const char *params[1] = {param};
    PGresult *res = PQexecPrepared(conn, stmt, 1, params, NULL, NULL, 0);
    int n = db_ok(conn, res, stmt) ? PQntuples(res) : -1;
    PQclear(res);
    return n;
}

static bool db_prepare(PGconn *conn)
{
    static const struct {
        const char *name, *sql;
    } stmts[] = {
        {"role_exists", "SELECT 1 FROM pg_roles WHERE rolname = $1"},
        {"schema_owned_by", "SELECT n.nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
                            "WHERE n.nspname = $1 AND r.rolname = 'crm_' || $1"},
        {"schema_exists", "SELECT 1 FROM pg_namespace WHERE nspname = $1"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
        bool ok = db_ok(conn, res, stmts[i].name);
        PQclear(res);
        if (!ok)
            return false;
    }
    return true;
}

/* Creates (or brings up to date) the role, schema and grant of one service. Identifiers and
 * the password reach the DDL only through PQescapeIdentifier/PQescapeLiteral: DDL takes no
 * $n parameters. */
static bool db_init_service(PGconn *conn, const char *svc, const char *password, const char *dbname_q)
{
    char role[64], sql[1024];
    snprintf(role, sizeof role, "crm_%s", svc);
    char *role_q = PQescapeIdentifier(conn, role, strlen(role));
    char *schema_q = PQescapeIdentifier(conn, svc, strlen(svc));
    char *pw_q = password && *password ? PQescapeLiteral(conn, password, strlen(password)) : NULL;
    bool ok = role_q && schema_q && (!password || !*password || pw_q);
    const char *did_role = "kept", *did_schema = "kept";

    int n = ok ? db_count(conn, "role_exists", role) : -1;
    ok = ok && n >= 0;
    if (ok) {
        snprintf(sql, sizeof sql, "%s ROLE %s LOGIN%s%s", n == 0 ? "CREATE" : "ALTER", role_q,
                 pw_q ? " PASSWORD " : "", pw_q ? pw_q : "");
        ok = db_ddl(conn, sql, n == 0 ? "CREATE ROLE" : "ALTER ROLE");
        did_role = n == 0 ? "created" : "kept";
    }
    if (ok && (n = db_count(conn, "schema_exists", svc)) == 0) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s AUTHORIZATION %s", schema_q, role_q);
        ok = db_ddl(conn, sql, "CREATE SCHEMA");
        did_schema = "created";
    } else if (ok && n > 0 && (n = db_count(conn, "schema_owned_by", svc)) == 0) {
        /* The schema exists under another owner (made by hand): the service must own it. */
        snprintf(sql, sizeof sql, "ALTER SCHEMA %s OWNER TO %s", schema_q, role_q);
        ok = db_ddl(conn, sql, "ALTER SCHEMA");
        did_schema = "given to its role";
    }
    ok = ok && n >= 0;
    if (ok) {
        snprintf(sql, sizeof sql, "GRANT CONNECT ON DATABASE %s TO %s", dbname_q, role_q);
        ok = db_ddl(conn, sql, "GRANT CONNECT");
    }
    if (ok)
        printf("db init: role %s %s, schema %s %s\n", role, did_role, svc, did_schema);
    PQfreemem(role_q);
    PQfreemem(schema_q);
    PQfreemem(pw_q);
    return ok;
}

static int db_init(crmctl_t *ctx)
{
    const char *url = crm_config_str(ctx->config, "database.url", "postgresql://postgres@127.0.0.1:5432/crm");
    const char *password = crm_config_str(ctx->config, "database.service_password", "");
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "crmctl: db init: cannot connect with database.url: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return CRMCTL_FAIL;
    }
    const char *dbname = PQdb(conn);
    char *dbname_q = PQescapeIdentifier(conn, dbname, strlen(dbname));
    bool ok = dbname_q && db_prepare(conn);
    /* Invariant: one `db init` at a time per cluster. Two concurrent CREATE ROLE/SCHEMA of the
     * same name would make one of them fail; the session lock makes the later one wait and
     * then find everything there. Released when the connection closes. */
    ok = ok && db_ddl(conn, "SELECT pg_advisory_lock(" DB_INIT_LOCK_KEY ")", "advisory lock");
    for (size_t i = 0; ok && i < DB_NSERVICES; i++)
        ok = db_init_service(conn, db_services[i], password, dbname_q);
    if (ok)
        printf("db init: ok (database %s)\n", dbname);
    PQfreemem(dbname_q);
    PQfinish(conn);
    return ok ? CRMCTL_OK : CRMCTL_FAIL;
}

static int db_run(crmctl_t *ctx, int argc, char **argv)
{
    if (argc < 2)
        return crmctl_usage_error("db needs a subcommand: init (see crmctl help db)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        db_help(stdout);
        return CRMCTL_OK;
    }
    if (strcmp(argv[1], "init") == 0) {
        if (argc > 2)
            return crmctl_usage_error("db init takes no arguments, got '%s'", argv[2]);
        return db_init(ctx);
    }
    return crmctl_usage_error("unknown db subcommand '%s' (see crmctl help db)", argv[1]);
}

const crmctl_command_t crmctl_db_command = {
    .name = "db",
    .summary = "db init: create the service roles and schemas (idempotent)",
    .run = db_run,
    .help = db_help,
};

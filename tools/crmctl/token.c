/* crmctl token and crmctl user: API tokens and users straight in the database, for the
 * operator (connecting with database.url as the database owner, like `db init`). Tokens are
 * stored as SHA-256 hex in gateway.api_tokens, the secret is printed once; users live in
 * assign.users. */
#include "crmctl.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crm/util.h"

static PGconn *crmctl_connect(crmctl_t *ctx, const char *what)
{
    const char *url = crm_config_str(ctx->config, "database.url", "postgresql://postgres@127.0.0.1:5432/crm");
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "crmctl: %s: cannot connect with database.url: %s", what, PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Runs sql with text params; NULL (and a message on stderr) unless it succeeded. */
static PGresult *q(PGconn *conn, const char *what, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    fprintf(stderr, "crmctl: %s: %s", what, PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

/* Finds "--name VALUE" in argv[from..]; NULL when absent. */
static const char *opt(int argc, char **argv, int from, const char *name)
{
    for (int i = from; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

/* Every argument from argv[from] must be one of the options in names (each taking a value). */
static bool opts_ok(int argc, char **argv, int from, const char *const *names)
{
    for (int i = from; i < argc; i += 2) {
        bool known = false;
        for (const char *const *n = names; *n; n++)
            known = known || strcmp(argv[i], *n) == 0;
        if (!known || i + 1 >= argc) {
            crmctl_usage_error("unexpected or incomplete argument '%s'", argv[i]);
            return false;
        }
    }
    return true;
}

static void token_help(FILE *out)
{
    fputs("Usage: crmctl [--config FILE] token create --user EMAIL [--name NAME]\n"
          "       crmctl [--config FILE] token revoke ID\n"
          "       crmctl [--config FILE] token list [--user EMAIL]\n\n"
          "  create  mints a 64-hex-character API token for the active user with that e-mail, with\n"
          "          the user's role; prints it once on stdout (only its SHA-256 is stored).\n"
          "  revoke  revokes token ID in the database: every gateway refuses it (401) from the\n"
          "          next request on (gateways look tokens up on every request, no cache).\n"
          "  list    id, user, role, name, created and revoked times (never the secret).\n",
          out);
}

static int token_create(crmctl_t *ctx, int argc, char **argv)
{
    static const char *const names[] = {"--user", "--name", NULL};
    if (!opts_ok(argc, argv, 2, names))
        return CRMCTL_USAGE;
    const char *email = opt(argc, argv, 2, "--user");
    const char *name = opt(argc, argv, 2, "--name");
    if (!email)
        return crmctl_usage_error("token create needs --user EMAIL");
    PGconn *conn = crmctl_connect(ctx, "token create");
    if (!conn)
        return CRMCTL_FAIL;
    int rc = CRMCTL_FAIL;
    const char *p[] = {email};
    PGresult *res = q(conn, "token create",
                      "SELECT id, role, status FROM assign.users WHERE lower(email) = lower($1)", 1, p);
    if (res && PQntuples(res) == 0) {
        fprintf(stderr, "crmctl: token create: no user with e-mail %s\n", email);
    } else if (res && strcmp(PQgetvalue(res, 0, 2), "active") != 0) {
        fprintf(stderr, "crmctl: token create: user %s is %s\n", email, PQgetvalue(res, 0, 2));
    } else if (res) {
        char token[65], hash[65];
        if (crm_token_generate(token) == 0) {
            crm_sha256_hex(token, strlen(token), hash);
            const char *ip[] = {hash, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), name ? name : "crmctl"};
            PGresult *ins = q(conn, "token create",
                              "INSERT INTO gateway.api_tokens (token_hash, user_id, role, name) "
                              "VALUES ($1, $2::bigint, $3, $4) RETURNING id",
                              4, ip);
            if (ins) {
                fprintf(stderr, "token %s created for user %s (%s, role %s); it is shown only now:\n",
                        PQgetvalue(ins, 0, 0), PQgetvalue(res, 0, 0), email, PQgetvalue(res, 0, 1));
                printf("%s\n", token);
                rc = CRMCTL_OK;
            }
            PQclear(ins);
        } else {
            fprintf(stderr, "crmctl: token create: could not generate a token\n");
        }
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int token_revoke(crmctl_t *ctx, int argc, char **argv)
{
    int64_t id = 0;
    if (argc != 3 || !crm_parse_i64(argv[2], &id) || id <= 0)
        return crmctl_usage_error("usage: crmctl token revoke ID (a positive integer)");
    PGconn *conn = crmctl_connect(ctx, "token revoke");
    if (!conn)
        return CRMCTL_FAIL;
    const char *p[] = {argv[2]};
    PGresult *res =
        q(conn, "token revoke",
          "UPDATE gateway.api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1::bigint "
          "RETURNING id",
          1, p);
    int rc = CRMCTL_FAIL;
    if (res && PQntuples(res) == 0)
        fprintf(stderr, "crmctl: token revoke: no token %s\n", argv[2]);
    else if (res) {
        printf("token %s revoked\n", argv[2]);
        rc = CRMCTL_OK;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int token_list(crmctl_t *ctx, int argc, char **argv)
{
    static const char *const names[] = {"--user", NULL};
    if (!opts_ok(argc, argv, 2, names))
        return CRMCTL_USAGE;
    const char *email = opt(argc, argv, 2, "--user");
    PGconn *conn = crmctl_connect(ctx, "token list");
    if (!conn)
        return CRMCTL_FAIL;
    const char *p[] = {email};
    PGresult *res =
        q(conn, "token list",
          "SELECT t.id, t.user_id, coalesce(u.email, '?'), t.role, t.name, t.created_at, "
          "coalesce(t.revoked_at::text, '-') FROM gateway.api_tokens t LEFT JOIN assign.users u "
          "ON u.id = t.user_id WHERE $1::text IS NULL OR lower(u.email) = lower($1) ORDER BY t.id",
          1, p);
    if (res) {
        printf("%-6s %-8s %-30s %-8s %-20s %-32s %s\n", "ID", "USER", "EMAIL", "ROLE", "NAME", "CREATED",
               "REVOKED");
        for (int r = 0; r < PQntuples(res); r++)
            printf("%-6s %-8s %-30s %-8s %-20s %-32s %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                   PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4), PQgetvalue(res, r, 5),
                   PQgetvalue(res, r, 6));
    }
    int rc = res ? CRMCTL_OK : CRMCTL_FAIL;
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int token_run(crmctl_t *ctx, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        token_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CRMCTL_USAGE : CRMCTL_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return token_create(ctx, argc, argv);
    if (strcmp(argv[1], "revoke") == 0)
        return token_revoke(ctx, argc, argv);
    if (strcmp(argv[1], "list") == 0)
        return token_list(ctx, argc, argv);
    return crmctl_usage_error("unknown token subcommand '%s' (see crmctl help token)", argv[1]);
}

const crmctl_command_t crmctl_token_command = {
    .name = "token",
    .summary = "token create|revoke|list: API tokens (stored hashed)",
    .run = token_run,
    .help = token_help,
};

static void user_help(FILE *out)
{
    fputs("Usage: crmctl [--config FILE] user create --email EMAIL --name NAME [--role admin|manager|sales]\n"
          "       crmctl [--config FILE] user deactivate EMAIL\n"
          "       crmctl [--config FILE] user list\n\n"
          "  create      adds an active user (role sales by default) and prints its id.\n"
          "  deactivate  sets the user inactive (pools skip them) and revokes every token of theirs,\n"
          "              in one transaction (refused from the next request on).\n"
          "  list        id, e-mail, name, role, status.\n",
          out);
}

static int user_create(crmctl_t *ctx, int argc, char **argv)
{
    static const char *const names[] = {"--email", "--name", "--role", NULL};
    if (!opts_ok(argc, argv, 2, names))
        return CRMCTL_USAGE;
    const char *email = opt(argc, argv, 2, "--email"), *name = opt(argc, argv, 2, "--name");
    const char *role = opt(argc, argv, 2, "--role");
    role = role ? role : "sales";
    if (!email || !name || !*name || !strchr(email, '@'))
        return crmctl_usage_error("user create needs --email EMAIL (with an @) and --name NAME");
    if (strcmp(role, "admin") && strcmp(role, "manager") && strcmp(role, "sales"))
        return crmctl_usage_error("--role must be admin, manager or sales");
    PGconn *conn = crmctl_connect(ctx, "user create");
    if (!conn)
        return CRMCTL_FAIL;
    const char *p[] = {name, email, role};
    PGresult *res = q(conn, "user create",
                      "INSERT INTO assign.users (name, email, role) VALUES ($1, $2, $3) RETURNING id", 3, p);
    if (res)
        printf("%s\n", PQgetvalue(res, 0, 0));
    int rc = res ? CRMCTL_OK : CRMCTL_FAIL;
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int user_deactivate(crmctl_t *ctx, int argc, char **argv)
{
    if (argc != 3)
        return crmctl_usage_error("usage: crmctl user deactivate EMAIL");
    PGconn *conn = crmctl_connect(ctx, "user deactivate");
    if (!conn)
        return CRMCTL_FAIL;
    const char *p[] = {argv[2]};
    PGresult *res = q(conn, "user deactivate",
                      "WITH u AS (UPDATE assign.users SET status = 'inactive', updated_at = now() "
                      "WHERE lower(email) = lower($1) RETURNING id), "
                      "t AS (UPDATE gateway.api_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
                      "AND user_id IN (SELECT id FROM u) RETURNING id) "
                      "SELECT (SELECT id FROM u), (SELECT count(*) FROM t)",
                      1, p);
    int rc = CRMCTL_FAIL;
    if (res && PQgetisnull(res, 0, 0))
        fprintf(stderr, "crmctl: user deactivate: no user with e-mail %s\n", argv[2]);
    else if (res) {
        printf("user %s deactivated, %s token(s) revoked\n", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        rc = CRMCTL_OK;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int user_list(crmctl_t *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 2)
        return crmctl_usage_error("user list takes no arguments");
    PGconn *conn = crmctl_connect(ctx, "user list");
    if (!conn)
        return CRMCTL_FAIL;
    PGresult *res =
        q(conn, "user list", "SELECT id, email, name, role, status FROM assign.users ORDER BY id", 0, NULL);
    if (res) {
        printf("%-6s %-30s %-24s %-8s %s\n", "ID", "EMAIL", "NAME", "ROLE", "STATUS");
        for (int r = 0; r < PQntuples(res); r++)
            printf("%-6s %-30s %-24s %-8s %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                   PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
    }
    int rc = res ? CRMCTL_OK : CRMCTL_FAIL;
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int user_run(crmctl_t *ctx, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        user_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CRMCTL_USAGE : CRMCTL_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return user_create(ctx, argc, argv);
    if (strcmp(argv[1], "deactivate") == 0)
        return user_deactivate(ctx, argc, argv);
    if (strcmp(argv[1], "list") == 0)
        return user_list(ctx, argc, argv);
    return crmctl_usage_error("unknown user subcommand '%s' (see crmctl help user)", argv[1]);
}

const crmctl_command_t crmctl_user_command = {
    .name = "user",
    .summary = "user create|deactivate|list: users (assign schema)",
    .run = user_run,
    .help = user_help,
};

/* harness: a whole CRM stack for one integration test — a throwaway Postgres (pgtest), a YAML
 * config on free ports in a temp dir, `crmctl db init`, and every daemon of CRM_BUILD_DIR
 * started as a child process with its log in the temp dir — plus HTTP and polling helpers.
 *
 * Daemon names are "broker", "leads", "deals", "assign", "notify", "gateway" ("crm-" prefix
 * accepted). Spawn and kill daemons from the test's main thread only: children get
 * PR_SET_PDEATHSIG so that they die with the thread that started them. */
#ifndef CRM_HARNESS_H
#define CRM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "pgtest.h"

typedef struct harness_t harness_t;

/* Starts Postgres and every daemon and waits until each /readyz is 200 and the admin token
 * file is written. NULL on failure, with the reason and the daemons' log tails on stderr.
 * The stack is also torn down at exit if the test forgets to. */
harness_t *harness_start(void);

/* Changes to the generated YAML. Each *_extra is YAML text appended inside that daemon's section
 * (lines indented by two spaces, ending in "\n"); gateway_sources replaces the list items of
 * gateway.sources (default "    - {name: website, kind: form, signature: none}\n"); top_extra is
 * appended at the top level. NULL fields change nothing. */
typedef struct {
    const char *gateway_extra;
    const char *gateway_sources;
    const char *leads_extra;
    const char *deals_extra;
    const char *assign_extra;
    const char *notify_extra;
    const char *top_extra;
} harness_opts_t;
harness_t *harness_start_opts(const harness_opts_t *opts);
/* Stops every daemon (SIGTERM, then SIGKILL), the Postgres cluster, and removes the temp dir. */
void harness_destroy(harness_t **self_p);

const char *harness_admin_token(const harness_t *self);
const char *harness_dir(const harness_t *self);         /* the temp dir (config, logs) */
const char *harness_config_path(const harness_t *self); /* the YAML file the daemons read */
/* Runs crmctl --config <the stack's config> ARGS (through the shell): its stdout goes to out
 * (len bytes, NUL-terminated), its stderr is appended to <harness_dir>/crmctl-stderr.log.
 * Returns crmctl's exit status (-1 when it did not exit). */
int harness_crmctl(harness_t *self, const char *args, char *out, size_t len);
/* Starts crmctl --config <the stack's config> ARGS (through the shell, exec'd: the pid is crmctl's)
 * in the background, stdout discarded, stderr appended as above; returns its pid (-1: fork failed).
 * The caller kills and reaps it. */
pid_t harness_crmctl_spawn(harness_t *self, const char *args);
/* A file's content (at most 64 KiB) in a static buffer kept until the next call; NULL when it
 * cannot be read. */
char *harness_slurp(const char *path);
int harness_http_port(const harness_t *self);           /* the gateway's HTTP port */
pgtest_t *harness_pg(harness_t *self);

/* --- daemons ------------------------------------------------------------------------- */
/* kill -9 and reap; 0, or -1 when the name is unknown or it was not running. */
int harness_kill(harness_t *self, const char *name);
/* SIGTERM and wait up to timeout_ms for it to exit (then SIGKILL). Returns its exit status
 * (0..255), 128+signal when a signal ended it, or -1 when it was not running. */
int harness_term(harness_t *self, const char *name, int timeout_ms);
/* Spawns it again (same config, same ports) and waits for its /readyz. 0 or -1. */
int harness_restart(harness_t *self, const char *name);
bool harness_running(harness_t *self, const char *name);
/* The RPC port of a daemon (tcp://127.0.0.1:<port>), 0 when unknown or the broker. */
int harness_rpc_port(harness_t *self, const char *name);
/* The admin HTTP port of a daemon (/metrics, /readyz), 0 when unknown. */
int harness_admin_port(harness_t *self, const char *name);
/* Prints the last `lines` lines of every daemon's log to stderr. */
void harness_dump_logs(const harness_t *self, int lines);

/* Starts n more instances of a service (same config and schema; their own RPC and admin ports
 * through CRM_<SVC>_RPC_BIND / CRM_<SVC>_ADMIN_PORT; logs <svc>-extraN.log) and waits for
 * each /readyz. They only consume and publish (clients still call the first instance). They are
 * stopped by harness_destroy. 0 or -1. */
int harness_spawn_extra(harness_t *self, const char *name, int n);

/* --- HTTP ---------------------------------------------------------------------------- */
typedef struct {
    const char *method;       /* "GET" when NULL */
    const char *path;         /* "/v2/leads?per_page=100" */
    const char *body;         /* NULL: no body */
    size_t body_len;          /* 0: strlen(body) */
    const char *content_type; /* sent when not NULL */
    const char *token;        /* Authorization: Bearer <token> when not NULL */
    const char *header;       /* one extra header line, "X-Delivery-Id: abc", or NULL */
    int port;                 /* 0: the gateway's HTTP port */
    const char *headers[6];   /* more header lines ("Name: value"), NULL-terminated */
} harness_req_t;

typedef struct {
    long status;   /* HTTP status, 0 when nothing answered */
    char *body;    /* raw body, NUL-terminated ("" when empty) */
    size_t body_len;
    char *headers; /* raw response header block */
    json_t *json;  /* parsed body, or NULL when it is not JSON */
} harness_resp_t;

harness_resp_t *harness_http(harness_t *self, const harness_req_t *req);
void harness_resp_destroy(harness_resp_t **self_p);
/* The value of response header `name` (case-insensitive) in a static buffer, or NULL. */
const char *harness_resp_header(const harness_resp_t *self, const char *name);

/* JSON API call: body (not stolen; may be NULL) sent as application/json. */
harness_resp_t *harness_api(harness_t *self, const char *method, const char *path, const char *token,
                            json_t *body);
/* POST /v2/<resource> with {"data": data} (data stolen) as admin; returns data.id or -1. */
long long harness_create(harness_t *self, const char *resource, json_t *data);
/* Creates n sales users ("<tag> user <i>", <tag>-<i>@example.com) and a default lead pool of
 * them in that order; fills user_ids[n]; returns the pool id or -1. */
long long harness_seed_pool(harness_t *self, const char *tag, int n, long long *user_ids);
/* POST /webhooks/forms/website as a web form would; returns the response. */
harness_resp_t *harness_post_form(harness_t *self, const char *content_type, const char *body);
/* GET path as token; the number of items of a collection reply, or -1. */
int harness_count_items(harness_t *self, const char *path, const char *token);

/* --- polling and SQL ------------------------------------------------------------------- */
typedef bool (*harness_pred_fn)(harness_t *self, void *arg);
/* Polls pred every 200 ms until it holds (true) or timeout_ms passes (false: prints
 * "timed out waiting for <what>" and the daemons' log tails). */
bool harness_wait_until(harness_t *self, int timeout_ms, harness_pred_fn pred, void *arg, const char *what);
/* Runs SQL as the Postgres superuser; the first column of the first row as a number, or -1
 * on error or no row. For assertions on what each service stored. */
long long harness_sql_long(harness_t *self, const char *sql);

/* Milliseconds scaled for slow builds: CRM_TEST_TIMEOUT_SCALE (default 1; ASan builds 3). */
int harness_ms(int ms);

#endif

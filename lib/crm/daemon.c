/* The wiring every daemon shares: argv, config, log, ZeroMQ context, database and migrations,
 * RPC server, outbox relay, inbox and admin HTTP, then a signal wait and an orderly drain. */
#include "crm/daemon.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "crm/log.h"
#include "crm/util.h"

/* Default ports of each service (DESIGN §2): RPC on 7110+N, admin HTTP on 7180+N. */
static const char *const services[] = {"gateway", "leads", "deals", "assign", "notify"};

static int service_index(const char *name)
{
    for (size_t i = 0; i < sizeof services / sizeof *services; i++)
        if (strcmp(services[i], name) == 0)
            return (int)i;
    return 9; /* unknown services get 7119/7189 */
}

static const char *cfg_key(char *buf, size_t len, const char *service, const char *key)
{
    snprintf(buf, len, "%s.%s", service, key);
    return buf;
}

static void default_rpc_endpoint(const char *service, char *buf, size_t len)
{
    snprintf(buf, len, "tcp://127.0.0.1:%d", 7110 + service_index(service));
}

static void usage(const crm_daemon_spec_t *spec)
{
    printf("Usage: crm-%s [--config FILE] [--help]\n\n%s\n\n"
           "  --config FILE  the YAML configuration (default: $CRM_CONFIG, else deploy/config/crm.yaml\n"
           "                 when it exists, else built-in defaults). Any key can be overridden by\n"
           "                 CRM_<SECTION>_<KEY>, e.g. CRM_DATABASE_URL, CRM_%s_RPC_BIND.\n"
           "  --help         this text.\n\n"
           "Serves /healthz, /readyz and /metrics on %s.admin_bind:%s.admin_port (default %d).\n"
           "SIGTERM or SIGINT drains in-flight work and exits 0.\n",
           spec->name, spec->summary ? spec->summary : "", spec->name, spec->name, spec->name,
           7180 + service_index(spec->name));
}

static const char *find_config_path(int argc, char **argv, bool *help, crm_err_t *err)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = true;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            crm_err_set(err, CRM_EBADREQUEST, NULL, "invalid_param", "unknown argument '%s' (see --help)",
                        argv[i]);
            return NULL;
        }
    }
    if (!path)
        path = getenv("CRM_CONFIG");
    if (!path) {
        FILE *f = fopen("deploy/config/crm.yaml", "r");
        if (f) {
            fclose(f);
            path = "deploy/config/crm.yaml";
        }
    }
    return path;
}

void crm_daemon_db_params(const crm_config_t *config, const char *service, crm_db_params_t *out)
{
    memset(out, 0, sizeof *out);
    out->conninfo = crm_config_str(config, "database.url", "postgresql://postgres@127.0.0.1:5432/crm");
    out->schema = service;
    out->retry_seconds = (int)crm_config_int(config, "database.connect_retry_seconds", 60);
    const char *pw = crm_config_str(config, "database.service_password", "");
    out->password = (pw && *pw) ? pw : NULL;
}

/* The login role string must outlive the params: keep it in the daemon's owned strings. */
static const char *own(crm_daemon_t *self, char *s)
{
    for (size_t i = 0; i < sizeof self->strings / sizeof *self->strings; i++)
        if (!self->strings[i]) {
            self->strings[i] = s;
            return s;
        }
    free(s);
    return NULL;
}

static int open_database(crm_daemon_t *self, crm_err_t *err)
{
    const crm_daemon_spec_t *spec = self->spec;
    crm_daemon_db_params(self->config, spec->name, &self->db_params);
    if (crm_config_bool(self->config, "database.service_roles", true)) {
        char role[64];
        snprintf(role, sizeof role, "crm_%s", spec->name);
        self->db_params.user = own(self, crm_strdup(role));
    }
    int workers = (int)crm_config_int(self->config, "database.pool_size", 4);
    char key[128];
    int rpc_workers = (int)crm_config_int(self->config, cfg_key(key, sizeof key, spec->name, "rpc_workers"), 4);
    if (workers < rpc_workers + 2)
        workers = rpc_workers + 2; /* every RPC worker holds one; leave room for the service */
    self->db = crm_db_pool_new(&self->db_params, workers, err);
    if (!self->db)
        return err->code ? err->code : CRM_EUNAVAILABLE;
    crm_db_t *db = crm_db_pool_get(self->db, 60000, err);
    if (!db)
        return err->code;
    int rc = crm_db_migrate(db, spec->name, spec->migrations, spec->migration_count, err);
    crm_db_pool_put(self->db, db);
    if (rc == CRM_OK)
        crm_log_info(NULL, "db.migrated", "schema=%s migrations=%zu", spec->name, spec->migration_count);
    return rc;
}

static int open_messaging(crm_daemon_t *self, crm_err_t *err)
{
    const crm_daemon_spec_t *spec = self->spec;
    char key[128], dflt[64];
    if (spec->rpc || spec->outbox) {
        default_rpc_endpoint(spec->name, dflt, sizeof dflt);
        const char *bind = crm_config_str(self->config, cfg_key(key, sizeof key, spec->name, "rpc_bind"), dflt);
        int workers = (int)crm_config_int(self->config, cfg_key(key, sizeof key, spec->name, "rpc_workers"), 4);
        self->rpc = crm_rpc_server_new(self->zctx, bind, workers, self->db, self->metrics, err);
        if (!self->rpc)
            return err->code ? err->code : CRM_EINTERNAL;
    }
    const char *pub = crm_config_str(self->config, "bus.publish", "tcp://127.0.0.1:7100");
    const char *sub = crm_config_str(self->config, "bus.subscribe", "tcp://127.0.0.1:7101");
    if (spec->outbox) {
        self->outbox = crm_outbox_new(spec->name, self->zctx, pub, &self->db_params, self->metrics, err);
        if (!self->outbox)
            return err->code ? err->code : CRM_EINTERNAL;
        /* <svc>.outbox_retention_seconds (7 days; 0 keeps every event), <svc>.outbox_prune_interval_ms */
        long retention = crm_config_int(
            self->config, cfg_key(key, sizeof key, spec->name, "outbox_retention_seconds"), 7L * 24 * 3600);
        long prune_ms = crm_config_int(
            self->config, cfg_key(key, sizeof key, spec->name, "outbox_prune_interval_ms"), 60000);
        crm_outbox_set_retention(self->outbox, retention, prune_ms);
        crm_outbox_serve_replay(self->outbox, self->rpc);
    }
    if (spec->inbox) {
        self->inbox = crm_inbox_new(self->zctx, sub, &self->db_params, self->outbox, self->metrics, err);
        if (!self->inbox)
            return err->code ? err->code : CRM_EINTERNAL;
        crm_inbox_set_nice(self->inbox,
                           (int)crm_config_int(self->config, cfg_key(key, sizeof key, spec->name, "inbox_nice"), 0));
    }
    return CRM_OK;
}

crm_daemon_t *crm_daemon_new(const crm_daemon_spec_t *spec, int argc, char **argv, crm_err_t *err)
{
    crm_err_clear(err);
    bool help = false;
    const char *path = find_config_path(argc, argv, &help, err);
    if (err->code)
        return NULL;
    if (help) {
        usage(spec);
        return NULL;
    }
    /* Signals are taken by sigwait in crm_daemon_run: block them before any thread exists, so
     * every thread inherits the mask and none is interrupted. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    crm_daemon_t *self = calloc(1, sizeof *self);
    if (!self)
        abort();
    self->spec = spec;
    self->config = crm_config_load(path, err);
    if (!self->config) {
        crm_daemon_destroy(&self);
        return NULL;
    }
    crm_log_init(spec->name, crm_log_level_parse(crm_config_str(self->config, "log.level", "info")));
    crm_log_info(NULL, "daemon.starting", "config=%s pid=%d", path ? path : "(defaults)", (int)getpid());
    self->zctx = zmq_ctx_new();
    self->metrics = crm_metrics_new();
    int rc = CRM_OK;
    if (spec->database || spec->outbox || spec->inbox)
        rc = open_database(self, err);
    if (rc == CRM_OK)
        rc = open_messaging(self, err);
    if (rc != CRM_OK) {
        crm_log_error(NULL, "daemon.start_failed", "code=%s reason=\"%s\"", crm_code_name(err->code), err->message);
        crm_daemon_destroy(&self);
        return NULL;
    }
    return self;
}

static int endpoints_of(crm_daemon_t *self, const char *service, const char **eps, size_t max, char *dflt,
                        size_t dflt_len)
{
    char key[128];
    cfg_key(key, sizeof key, service, "rpc_endpoints");
    size_t n = crm_config_len(self->config, key);
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        eps[i] = crm_config_list_str(self->config, key, i);
    if (n == 0) {
        default_rpc_endpoint(service, dflt, dflt_len);
        eps[0] = dflt;
        n = 1;
    }
    return (int)n;
}

int crm_daemon_consume_from(crm_daemon_t *self, const char *producer, crm_err_t *err)
{
    const char *eps[16];
    char dflt[64];
    int n = endpoints_of(self, producer, eps, 16, dflt, sizeof dflt);
    return crm_inbox_add_producer(self->inbox, producer, eps, (size_t)n, err);
}

crm_rpc_client_t *crm_daemon_client(crm_daemon_t *self, const char *service, crm_err_t *err)
{
    const char *eps[16];
    char dflt[64];
    int n = endpoints_of(self, service, eps, 16, dflt, sizeof dflt);
    return crm_rpc_client_new(self->zctx, eps, (size_t)n, err);
}

void crm_daemon_set_ready_check(crm_daemon_t *self, crm_ready_fn fn, void *arg)
{
    self->extra_ready = fn;
    self->extra_ready_arg = arg;
}

/* Ready: started, not draining, the database answers, and the service's own condition holds. */
static bool daemon_ready(void *arg, char *reason, unsigned long len)
{
    crm_daemon_t *self = arg;
    if (!self->ready) {
        snprintf(reason, len, "%s", self->stopping ? "draining" : "starting");
        return false;
    }
    if (self->db) {
        crm_err_t err;
        crm_db_t *db = crm_db_pool_get(self->db, 1000, &err);
        if (!db) {
            snprintf(reason, len, "database: %s", err.message);
            return false;
        }
        int rc = crm_db_exec_simple(db, "SELECT 1", &err);
        crm_db_pool_put(self->db, db);
        if (rc != CRM_OK) {
            snprintf(reason, len, "database: %s", err.message);
            return false;
        }
    }
    if (self->extra_ready && !self->extra_ready(self->extra_ready_arg, reason, len))
        return false;
    return true;
}

static int start_parts(crm_daemon_t *self, crm_err_t *err)
{
    char key[128];
    const char *name = self->spec->name;
    if (self->rpc && crm_rpc_server_start(self->rpc, err) != CRM_OK)
        return err->code;
    if (self->outbox && crm_outbox_start(self->outbox, err) != CRM_OK)
        return err->code;
    if (self->inbox && crm_inbox_start(self->inbox, err) != CRM_OK)
        return err->code;
    const char *bind = crm_config_str(self->config, cfg_key(key, sizeof key, name, "admin_bind"), "127.0.0.1");
    int port = (int)crm_config_int(self->config, cfg_key(key, sizeof key, name, "admin_port"),
                                   7180 + service_index(name));
    self->admin = crm_admin_new(bind, port, self->metrics, daemon_ready, self, err);
    if (!self->admin)
        return err->code ? err->code : CRM_EINTERNAL;
    crm_log_info(NULL, "daemon.admin", "bind=%s port=%d", bind, crm_admin_port(self->admin));
    return CRM_OK;
}

int crm_daemon_run(crm_daemon_t *self)
{
    crm_err_t err;
    crm_err_clear(&err);
    if (start_parts(self, &err) != CRM_OK) {
        crm_log_error(NULL, "daemon.start_failed", "code=%s reason=\"%s\"", crm_code_name(err.code), err.message);
        return 1;
    }
    self->ready = 1;
    crm_log_info(NULL, "daemon.ready", "service=%s", self->spec->name);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig;
    while (sigwait(&set, &sig) != 0) {
    }
    /* Drain (DESIGN §9): stop taking work, finish what is in flight, flush the outbox. */
    self->stopping = 1;
    self->ready = 0;
    crm_log_info(NULL, "daemon.draining", "signal=%d", sig);
    if (self->inbox)
        crm_inbox_stop(self->inbox);
    if (self->rpc)
        crm_rpc_server_stop(self->rpc);
    if (self->outbox)
        crm_outbox_stop(self->outbox);
    crm_log_info(NULL, "daemon.stopped", "service=%s", self->spec->name);
    return 0;
}

void crm_daemon_destroy(crm_daemon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    crm_daemon_t *self = *self_p;
    crm_admin_destroy(&self->admin);
    crm_inbox_destroy(&self->inbox);
    crm_rpc_server_destroy(&self->rpc);
    crm_outbox_destroy(&self->outbox);
    crm_db_pool_destroy(&self->db);
    crm_metrics_destroy(&self->metrics);
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    crm_config_destroy(&self->config);
    for (size_t i = 0; i < sizeof self->strings / sizeof *self->strings; i++)
        free(self->strings[i]);
    free(self);
    *self_p = NULL;
}

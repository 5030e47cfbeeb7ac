/* harness: starts a whole CRM stack (pgtest Postgres, config on free ports, crmctl db init,
 * every daemon as a child process) for one integration test, and gives the test HTTP, SQL,
 * kill/restart and polling helpers. Failures print the daemons' log tails. */
#include "harness.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NDAEMONS 6
#define READY_TIMEOUT_MS 60000
#define LIVE_MAX 8

extern char **environ;

#define HARNESS_MAX_EXTRA 8

/* Start order: the broker first (everyone connects to it), the gateway last. */
static const char *const daemon_names[NDAEMONS] = {"broker", "leads", "deals", "assign", "notify", "gateway"};

typedef struct {
    const char *name;
    pid_t pid;    /* 0 when not running */
    int admin_port;
    int rpc_port; /* 0 for the broker */
    char log[512];
} daemon_t;

struct harness_t {
    char dir[256];
    char config[512];
    char token_file[512];
    char admin_token[256];
    pgtest_t *pg;
    harness_opts_t opts;
    daemon_t daemons[NDAEMONS];
    int http_port, xsub_port, xpub_port;
    daemon_t extras[HARNESS_MAX_EXTRA]; /* harness_spawn_extra: more instances of a service */
    int nextras;
};

/* Stacks still alive in this process: torn down at exit if the test did not (this test-only
 * registry is the one mutable global, like pgtest's). */
static harness_t *live[LIVE_MAX];
static int atexit_registered;

static void harness_atexit(void)
{
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i]) {
            harness_t *h = live[i];
            harness_destroy(&h);
        }
}

static void live_set(harness_t *self, bool add)
{
    if (add && !atexit_registered) {
        atexit(harness_atexit);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        atexit_registered = 1;
    }
    for (int i = 0; i < LIVE_MAX; i++) {
        if (add && !live[i]) {
            live[i] = self;
            return;
        }
        if (!add && live[i] == self)
            live[i] = NULL;
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int harness_ms(int ms)
{
    const char *s = getenv("CRM_TEST_TIMEOUT_SCALE");
    int scale = s ? atoi(s) : 0;
    if (scale <= 0) {
#if defined(__SANITIZE_ADDRESS__)
        scale = 3;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
        scale = 3;
#else
        scale = 1;
#endif
#else
        scale = 1;
#endif
    }
    return ms * scale;
}

static daemon_t *find_daemon(harness_t *self, const char *name)
{
    if (!self || !name)
        return NULL;
    if (strncmp(name, "crm-", 4) == 0)
        name += 4;
    for (int i = 0; i < NDAEMONS; i++)
        if (strcmp(self->daemons[i].name, name) == 0)
            return &self->daemons[i];
    return NULL;
}

/* --- logs ---------------------------------------------------------------------------- */

static void dump_file_tail(const char *label, const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "--- %s: no log (%s)\n", label, path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    /* Read at most the last 64 KiB and print its last `lines` lines. */
    long from = size > 65536 ? size - 65536 : 0;
    fseek(f, from, SEEK_SET);
    char *buf = calloc(1, (size_t)(size - from) + 1);
    size_t n = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
    fclose(f);
    if (!buf)
        return;
    buf[n] = '\0';
    const char *p = buf + n;
    int seen = 0;
    while (p > buf) {
        p--;
        if (*p == '\n' && p != buf + n - 1 && ++seen >= lines) {
            p++;
            break;
        }
    }
    fprintf(stderr, "--- %s (last %d lines of %s)\n%s%s", label, lines, path, p,
            n && buf[n - 1] != '\n' ? "\n" : "");
    free(buf);
}

void harness_dump_logs(const harness_t *self, int lines)
{
    if (!self)
        return;
    for (int i = 0; i < NDAEMONS; i++)
        dump_file_tail(self->daemons[i].name, self->daemons[i].log, lines);
}

/* --- processes ----------------------------------------------------------------------- */

/* The child's environment: ours without any CRM_* (an override left over from the caller's
 * shell would point a daemon elsewhere), plus the admin token file. */
static char **child_env(const harness_t *self)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CRM_", 4) != 0)
            env[k++] = environ[i];
    static char token_env[600];
    snprintf(token_env, sizeof token_env, "CRM_GATEWAY_ADMIN_TOKEN_FILE=%s", self->token_file);
    env[k++] = token_env;
    env[k] = NULL;
    return env;
}

/* fork + exec argv with stdout/stderr appended to logpath; returns the pid or -1. */
static pid_t spawn(const harness_t *self, char *const argv[], const char *logpath)
{
    char **env = child_env(self);
    if (!env)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Die with the test (even when it crashes before its teardown). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd < 0 || null < 0)
            _exit(127);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, env);
        dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(env);
    return pid;
}

/* Waits for pid up to timeout_ms; returns its status as harness_term documents, or -2 on
 * timeout. */
static int reap(pid_t pid, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0)
            return -1;
        if (now_ms() >= deadline)
            return -2;
        sleep_ms(20);
    }
}

static int http_get_status(int port, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, NULL);
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (devnull)
        fclose(devnull);
    return (int)status;
}

/* Waits until the daemon's /readyz is 200; fails early when it exits. */
static int wait_ready(harness_t *self, daemon_t *d, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        if (http_get_status(d->admin_port, "/readyz") == 200)
            return 0;
        int st = 0;
        if (d->pid > 0 && waitpid(d->pid, &st, WNOHANG) == d->pid) {
            fprintf(stderr, "harness: crm-%s exited (%s %d) before it was ready\n", d->name,
                    WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            d->pid = 0;
            dump_file_tail(d->name, d->log, 40);
            return -1;
        }
        sleep_ms(100);
    }
    fprintf(stderr, "harness: crm-%s not ready after %d ms\n", d->name, timeout_ms);
    harness_dump_logs(self, 30);
    return -1;
}

static int spawn_daemon(harness_t *self, daemon_t *d)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/services/crm-%s", CRM_BUILD_DIR, d->name);
    char *argv[] = {bin, "--config", self->config, NULL};
    d->pid = spawn(self, argv, d->log);
    return d->pid > 0 ? 0 : -1;
}

int harness_kill(harness_t *self, const char *name)
{
    daemon_t *d = find_daemon(self, name);
    if (!d || d->pid <= 0)
        return -1;
    kill(d->pid, SIGKILL);
    reap(d->pid, 10000);
    d->pid = 0;
    return 0;
}

int harness_term(harness_t *self, const char *name, int timeout_ms)
{
    daemon_t *d = find_daemon(self, name);
    if (!d || d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    int st = reap(d->pid, timeout_ms);
    if (st == -2) {
        fprintf(stderr, "harness: crm-%s did not exit within %d ms of SIGTERM: SIGKILL\n", d->name, timeout_ms);
        kill(d->pid, SIGKILL);
        st = reap(d->pid, 10000);
    }
    d->pid = 0;
    return st;
}

int harness_restart(harness_t *self, const char *name)
{
    daemon_t *d = find_daemon(self, name);
    if (!d)
        return -1;
    if (d->pid > 0)
        harness_kill(self, name);
    if (spawn_daemon(self, d) != 0)
        return -1;
    return wait_ready(self, d, harness_ms(READY_TIMEOUT_MS));
}

bool harness_running(harness_t *self, const char *name)
{
    daemon_t *d = find_daemon(self, name);
    if (!d || d->pid <= 0)
        return false;
    int st = 0;
    if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
        d->pid = 0;
        return false;
    }
    return true;
}

/* --- start and stop -------------------------------------------------------------------- */

/* Picks n distinct free ports (pgtest_free_port binds and releases; distinctness checked). */
static int pick_ports(int *ports, int n)
{
    for (int i = 0; i < n; i++) {
        for (int tries = 0;; tries++) {
            int p = pgtest_free_port();
            if (p <= 0 || tries > 50)
                return -1;
            bool dup = false;
            for (int j = 0; j < i; j++)
                dup = dup || ports[j] == p;
            if (!dup) {
                ports[i] = p;
                break;
            }
        }
    }
    return 0;
}

static const char *section_extra(const harness_opts_t *o, const char *name)
{
    if (strcmp(name, "gateway") == 0)
        return o->gateway_extra;
    if (strcmp(name, "leads") == 0)
        return o->leads_extra;
    if (strcmp(name, "deals") == 0)
        return o->deals_extra;
    if (strcmp(name, "assign") == 0)
        return o->assign_extra;
    if (strcmp(name, "notify") == 0)
        return o->notify_extra;
    return NULL;
}

static int write_config(harness_t *self)
{
    FILE *f = fopen(self->config, "w");
    if (!f)
        return -1;
    fprintf(f,
            "# written by tests/integration/harness.c\n"
            "log: {level: debug}\n"
            "database:\n  url: \"%s\"\n  service_roles: true\n  service_password: \"\"\n"
            "  pool_size: 4\n  connect_retry_seconds: 60\n"
            "bus:\n  publish: tcp://127.0.0.1:%d\n  subscribe: tcp://127.0.0.1:%d\n"
            "broker:\n  xsub_bind: tcp://127.0.0.1:%d\n  xpub_bind: tcp://127.0.0.1:%d\n"
            "  admin_bind: 127.0.0.1\n  admin_port: %d\n",
            pgtest_url(self->pg), self->xsub_port, self->xpub_port, self->xsub_port, self->xpub_port,
            self->daemons[0].admin_port);
    for (int i = 1; i < NDAEMONS; i++) {
        const daemon_t *d = &self->daemons[i];
        fprintf(f,
                "%s:\n  rpc_bind: tcp://127.0.0.1:%d\n  rpc_endpoints: [tcp://127.0.0.1:%d]\n"
                "  rpc_workers: 4\n  rpc_timeout_ms: 5000\n  admin_bind: 127.0.0.1\n  admin_port: %d\n",
                d->name, d->rpc_port, d->rpc_port, d->admin_port);
        if (strcmp(d->name, "gateway") == 0)
            fprintf(f,
                    "  http_bind: 127.0.0.1\n  http_port: %d\n  http_threads: 8\n"
                    "  max_body_bytes: 1048576\n  admin_token_file: \"%s\"\n"
                    "  bootstrap_admin_email: admin@localhost\n  bootstrap_admin_name: Admin\n"
                    "  sources:\n%s",
                    self->http_port, self->token_file,
                    self->opts.gateway_sources ? self->opts.gateway_sources
                                               : "    - {name: website, kind: form, signature: none}\n");
        const char *extra = section_extra(&self->opts, d->name);
        if (extra)
            fprintf(f, "%s", extra);
    }
    if (self->opts.top_extra)
        fprintf(f, "%s", self->opts.top_extra);
    return fclose(f) == 0 ? 0 : -1;
}

static int run_db_init(harness_t *self)
{
    char bin[512], log[600];
    snprintf(bin, sizeof bin, "%s/tools/crmctl/crmctl", CRM_BUILD_DIR);
    snprintf(log, sizeof log, "%s/crmctl.log", self->dir);
    char *argv[] = {bin, "--config", self->config, "db", "init", NULL};
    pid_t pid = spawn(self, argv, log);
    int st = pid > 0 ? reap(pid, 60000) : -1;
    if (st != 0) {
        fprintf(stderr, "harness: crmctl db init failed (%d)\n", st);
        dump_file_tail("crmctl", log, 30);
        return -1;
    }
    return 0;
}

static int read_token(harness_t *self, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    do {
        FILE *f = fopen(self->token_file, "r");
        if (f) {
            size_t n = fread(self->admin_token, 1, sizeof self->admin_token - 1, f);
            fclose(f);
            self->admin_token[n] = '\0';
            while (n > 0 && (self->admin_token[n - 1] == '\n' || self->admin_token[n - 1] == '\r' ||
                             self->admin_token[n - 1] == ' '))
                self->admin_token[--n] = '\0';
            if (n > 0)
                return 0;
        }
        sleep_ms(100);
    } while (now_ms() < deadline);
    fprintf(stderr, "harness: no admin token in %s\n", self->token_file);
    harness_dump_logs(self, 30);
    return -1;
}

harness_t *harness_start(void)
{
    return harness_start_opts(NULL);
}

/* Whether a daemon of this stack failed because one of its ports was taken. */
static bool port_clash(const harness_t *self)
{
    for (int i = 0; i < NDAEMONS; i++) {
        char *log = harness_slurp(self->daemons[i].log);
        if (log && (strstr(log, "Address already in use") || strstr(log, "EADDRINUSE")))
            return true;
    }
    return false;
}

static harness_t *start_once(const harness_opts_t *opts, bool *clash);

/* The ports are picked free and bound later by the daemons, so another program can take one in
 * between: a start that failed on a taken port is retried with fresh ports. */
harness_t *harness_start_opts(const harness_opts_t *opts)
{
    for (int attempt = 1;; attempt++) {
        bool clash = false;
        harness_t *h = start_once(opts, &clash);
        if (h || !clash || attempt == 3)
            return h;
        fprintf(stderr, "harness: a port was taken, starting again with other ports (attempt %d)\n",
                attempt + 1);
    }
}

static harness_t *start_once(const harness_opts_t *opts, bool *clash)
{
    harness_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (opts)
        self->opts = *opts; /* the strings stay the caller's; write_config uses them at once */
    live_set(self, true);
    snprintf(self->dir, sizeof self->dir, "/tmp/crm-it-XXXXXX");
    if (!mkdtemp(self->dir)) {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        self->dir[0] = '\0';
        harness_destroy(&self);
        return NULL;
    }
    snprintf(self->config, sizeof self->config, "%s/crm.yaml", self->dir);
    snprintf(self->token_file, sizeof self->token_file, "%s/admin.token", self->dir);
    int ports[3 + 2 * NDAEMONS];
    if (pick_ports(ports, 3 + 2 * NDAEMONS) != 0) {
        fprintf(stderr, "harness: no free ports\n");
        harness_destroy(&self);
        return NULL;
    }
    self->http_port = ports[0];
    self->xsub_port = ports[1];
    self->xpub_port = ports[2];
    for (int i = 0; i < NDAEMONS; i++) {
        daemon_t *d = &self->daemons[i];
        d->name = daemon_names[i];
        d->admin_port = ports[3 + 2 * i];
        d->rpc_port = i == 0 ? 0 : ports[4 + 2 * i];
        snprintf(d->log, sizeof d->log, "%s/crm-%s.log", self->dir, d->name);
    }
    self->pg = pgtest_start();
    if (!self->pg || write_config(self) != 0 || run_db_init(self) != 0) {
        fprintf(stderr, "harness: %s\n", self->pg ? "setup failed" : "pgtest_start failed");
        harness_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < NDAEMONS; i++)
        if (spawn_daemon(self, &self->daemons[i]) != 0) {
            fprintf(stderr, "harness: cannot spawn crm-%s\n", self->daemons[i].name);
            harness_destroy(&self);
            return NULL;
        }
    for (int i = 0; i < NDAEMONS; i++)
        if (wait_ready(self, &self->daemons[i], harness_ms(READY_TIMEOUT_MS)) != 0) {
            *clash = port_clash(self);
            harness_destroy(&self);
            return NULL;
        }
    long long deadline = now_ms() + harness_ms(READY_TIMEOUT_MS);
    while (http_get_status(self->http_port, "/readyz") != 200) {
        if (now_ms() > deadline) {
            fprintf(stderr, "harness: gateway HTTP /readyz on %d not 200\n", self->http_port);
            harness_dump_logs(self, 30);
            *clash = port_clash(self);
            harness_destroy(&self);
            return NULL;
        }
        sleep_ms(100);
    }
    if (read_token(self, harness_ms(10000)) != 0) {
        harness_destroy(&self);
        return NULL;
    }
    return self;
}

static void remove_tree(const char *dir)
{
    if (!dir[0])
        return;
    char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid > 0)
        reap(pid, 30000);
}

void harness_destroy(harness_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    harness_t *self = *self_p;
    live_set(self, false);
    for (int i = 0; i < self->nextras; i++)
        if (self->extras[i].pid > 0) {
            kill(self->extras[i].pid, SIGTERM);
            if (reap(self->extras[i].pid, 10000) == -2) {
                kill(self->extras[i].pid, SIGKILL);
                reap(self->extras[i].pid, 10000);
            }
        }
    /* The gateway first, the broker last; each gets 10 s to drain. */
    for (int i = NDAEMONS - 1; i >= 0; i--)
        if (self->daemons[i].pid > 0)
            kill(self->daemons[i].pid, SIGTERM);
    for (int i = NDAEMONS - 1; i >= 0; i--) {
        daemon_t *d = &self->daemons[i];
        if (d->pid > 0 && reap(d->pid, 10000) == -2) {
            kill(d->pid, SIGKILL);
            reap(d->pid, 10000);
        }
        d->pid = 0;
    }
    pgtest_destroy(&self->pg);
    if (getenv("CRM_TEST_KEEP"))
        fprintf(stderr, "harness: keeping %s (CRM_TEST_KEEP)\n", self->dir);
    else
        remove_tree(self->dir);
    free(self);
    *self_p = NULL;
}

const char *harness_admin_token(const harness_t *self) { return self->admin_token; }
const char *harness_dir(const harness_t *self) { return self->dir; }
const char *harness_config_path(const harness_t *self) { return self->config; }

int harness_crmctl(harness_t *self, const char *args, char *out, size_t len)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/tools/crmctl/crmctl --config '%s' %s 2>>'%s/crmctl-stderr.log'", CRM_BUILD_DIR,
             self->config, args, harness_dir(self));
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

pid_t harness_crmctl_spawn(harness_t *self, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s/tools/crmctl/crmctl --config '%s' %s >/dev/null 2>>'%s/crmctl-stderr.log'",
             CRM_BUILD_DIR, self->config, args, harness_dir(self));
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

char *harness_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}
int harness_http_port(const harness_t *self) { return self->http_port; }
pgtest_t *harness_pg(harness_t *self) { return self->pg; }

/* --- HTTP ---------------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t buf_append(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf_t *b = userdata;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

harness_resp_t *harness_http(harness_t *self, const harness_req_t *req)
{
    harness_resp_t *resp = calloc(1, sizeof *resp);
    CURL *c = curl_easy_init();
    if (!resp || !c) {
        free(resp);
        if (c)
            curl_easy_cleanup(c);
        return NULL;
    }
    char url[2048], line[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", req->port ? req->port : self->http_port, req->path);
    struct curl_slist *hdrs = NULL;
    if (req->content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", req->content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (req->token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", req->token);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (req->header)
        hdrs = curl_slist_append(hdrs, req->header);
    for (size_t i = 0; i < sizeof req->headers / sizeof req->headers[0] && req->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    buf_t body = {0}, head = {0};
    const char *method = req->method ? req->method : "GET";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, buf_append);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    if (req->body) {
        size_t len = req->body_len ? req->body_len : strlen(req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    }
    if (strcmp(method, "GET") == 0 && !req->body)
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    else if (resp->status == 0) {
        /* A server may answer (413) and close before it read the whole body: keep the status. */
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        if (resp->status == 0)
            fprintf(stderr, "harness: %s %s: %s\n", method, req->path, curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    resp->body = body.data ? body.data : strdup("");
    resp->body_len = body.len;
    resp->headers = head.data ? head.data : strdup("");
    if (resp->body_len > 0)
        resp->json = json_loadb(resp->body, resp->body_len, 0, NULL);
    return resp;
}

void harness_resp_destroy(harness_resp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    harness_resp_t *self = *self_p;
    free(self->body);
    free(self->headers);
    json_decref(self->json);
    free(self);
    *self_p = NULL;
}

const char *harness_resp_header(const harness_resp_t *self, const char *name)
{
    static char value[1024];
    size_t nlen = strlen(name);
    const char *p = self->headers;
    const char *found = NULL;
    /* The last matching header wins: with 100-continue there are several header blocks. */
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = len - (size_t)(v - p);
            if (vlen >= sizeof value)
                vlen = sizeof value - 1;
            memcpy(value, v, vlen);
            value[vlen] = '\0';
            found = value;
        }
        p = eol ? eol + 2 : NULL;
    }
    return found;
}

harness_resp_t *harness_api(harness_t *self, const char *method, const char *path, const char *token,
                            json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    harness_resp_t *r = harness_http(self, &(harness_req_t){.method = method,
                                                             .path = path,
                                                             .body = text,
                                                             .content_type = text ? "application/json" : NULL,
                                                             .token = token});
    free(text);
    return r;
}

long long harness_create(harness_t *self, const char *resource, json_t *data)
{
    char path[256];
    snprintf(path, sizeof path, "/v2/%s", resource);
    json_t *body = json_pack("{s:o}", "data", data);
    harness_resp_t *r = harness_api(self, "POST", path, self->admin_token, body);
    json_decref(body);
    long long id = -1;
    json_t *jid = r ? json_object_get(json_object_get(r->json, "data"), "id") : NULL;
    if (r && r->status >= 200 && r->status < 300 && json_is_integer(jid))
        id = json_integer_value(jid);
    else
        fprintf(stderr, "harness: POST %s -> %ld %s\n", path, r ? r->status : 0, r ? r->body : "");
    harness_resp_destroy(&r);
    return id;
}

long long harness_seed_pool(harness_t *self, const char *tag, int n, long long *user_ids)
{
    json_t *members = json_array();
    for (int i = 0; i < n; i++) {
        char name[128], email[128];
        snprintf(name, sizeof name, "%s user %d", tag, i + 1);
        snprintf(email, sizeof email, "%s-%d@example.com", tag, i + 1);
        user_ids[i] = harness_create(self, "users", json_pack("{s:s,s:s,s:s}", "name", name, "email", email,
                                                              "role", "sales"));
        if (user_ids[i] < 0) {
            json_decref(members);
            return -1;
        }
        json_array_append_new(members, json_integer(user_ids[i]));
    }
    return harness_create(self, "distribution_pools",
                          json_pack("{s:s,s:s,s:o,s:b}", "name", "Inbound", "resource_type", "lead", "user_ids",
                                    members, "default", 1));
}

harness_resp_t *harness_post_form(harness_t *self, const char *content_type, const char *body)
{
    return harness_http(self, &(harness_req_t){.method = "POST",
                                                .path = "/webhooks/forms/website",
                                                .body = body,
                                                .content_type = content_type});
}

int harness_count_items(harness_t *self, const char *path, const char *token)
{
    harness_resp_t *r = harness_api(self, "GET", path, token, NULL);
    json_t *items = r ? json_object_get(r->json, "items") : NULL;
    int n = r && r->status == 200 && json_is_array(items) ? (int)json_array_size(items) : -1;
    harness_resp_destroy(&r);
    return n;
}

/* --- polling and SQL ------------------------------------------------------------------- */

bool harness_wait_until(harness_t *self, int timeout_ms, harness_pred_fn pred, void *arg, const char *what)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (pred(self, arg))
            return true;
        if (now_ms() >= deadline)
            break;
        sleep_ms(200);
    }
    fprintf(stderr, "harness: timed out after %d ms waiting for %s\n", timeout_ms, what);
    harness_dump_logs(self, 30);
    return false;
}

long long harness_sql_long(harness_t *self, const char *sql)
{
    PGconn *conn = PQconnectdb(pgtest_url(self->pg));
    long long v = -1;
    if (PQstatus(conn) == CONNECTION_OK) {
        PGresult *res = PQexec(conn, sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
            v = atoll(PQgetvalue(res, 0, 0));
        else if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fprintf(stderr, "harness: SQL %s: %s", sql, PQresultErrorMessage(res));
        PQclear(res);
    } else {
        fprintf(stderr, "harness: SQL connect: %s", PQerrorMessage(conn));
    }
    PQfinish(conn);
    return v;
}

int harness_rpc_port(harness_t *self, const char *name)
{
    daemon_t *d = find_daemon(self, name);
    return d ? d->rpc_port : 0;
}

int harness_admin_port(harness_t *self, const char *name)
{
    daemon_t *d = find_daemon(self, name);
    return d ? d->admin_port : 0;
}

/* --- extra instances (issue 5: several crm-assign on one schema) ------------------------- */

int harness_spawn_extra(harness_t *self, const char *name, int n)
{
    if (strncmp(name, "crm-", 4) == 0)
        name += 4;
    daemon_t *base = find_daemon(self, name);
    if (!base || base->rpc_port == 0 || n < 0 || self->nextras + n > HARNESS_MAX_EXTRA)
        return -1;
    char upper[32];
    size_t k = 0;
    for (; name[k] && k < sizeof upper - 1; k++)
        upper[k] = (char)toupper((unsigned char)name[k]);
    upper[k] = '\0';
    for (int i = 0; i < n; i++) {
        daemon_t *d = &self->extras[self->nextras];
        d->name = base->name;
        d->admin_port = pgtest_free_port();
        d->rpc_port = pgtest_free_port();
        char log[sizeof d->log]; /* via a local: -O2 cannot tell self->dir from d->log (-Wrestrict) */
        snprintf(log, sizeof log, "%s/%s-extra%d.log", self->dir, name, self->nextras + 1);
        memcpy(d->log, log, sizeof log);
        /* The config file is shared: only the listening ports differ (CRM_<SECTION>_<KEY>). */
        char **env = child_env(self);
        if (!env)
            return -1;
        size_t m = 0;
        while (env[m])
            m++;
        char **env2 = calloc(m + 3, sizeof *env2);
        char rpc[128], admin[64];
        snprintf(rpc, sizeof rpc, "CRM_%s_RPC_BIND=tcp://127.0.0.1:%d", upper, d->rpc_port);
        snprintf(admin, sizeof admin, "CRM_%s_ADMIN_PORT=%d", upper, d->admin_port);
        if (!env2) {
            free(env);
            return -1;
        }
        memcpy(env2, env, m * sizeof *env2);
        env2[m] = rpc;
        env2[m + 1] = admin;
        char bin[512];
        snprintf(bin, sizeof bin, "%s/services/crm-%s", CRM_BUILD_DIR, name);
        char *argv[] = {bin, "--config", self->config, NULL};
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(127);
            int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            int null = open("/dev/null", O_RDONLY);
            if (fd < 0 || null < 0)
                _exit(127);
            dup2(null, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            execve(argv[0], argv, env2);
            _exit(127);
        }
        free(env2);
        free(env);
        if (pid <= 0)
            return -1;
        d->pid = pid;
        self->nextras++;
        long long deadline = now_ms() + harness_ms(30000);
        while (http_get_status(d->admin_port, "/readyz") != 200) {
            if (now_ms() > deadline) {
                fprintf(stderr, "harness: extra %s on admin port %d not ready\n", name, d->admin_port);
                dump_file_tail(name, d->log, 30);
                return -1;
            }
            usleep(100 * 1000);
        }
    }
    return 0;
}

/* pgtest: a throwaway PostgreSQL 15 cluster per test program (initdb + pg_ctl in a temp dir,
 * run as the `postgres` user when we are root). A small reaper process, watching a pipe, stops
 * and removes the cluster if the test program dies without calling pgtest_destroy. */
#include "pgtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define PGTEST_MAX_LIVE 16

struct pgtest_t {
    char dir[256];     /* the temp dir: data/, sockets, server.log, cmd.log */
    char datadir[300];
    char logfile[300];
    char cmdlog[300];
    char url[256];
    int port;
    int running;
    pid_t reaper;      /* cleans up if we die; its stdin is the read end of reaper_fd's pipe */
    int reaper_fd;     /* write end; closing it (or dying) triggers the reaper */
};

/* Clusters still alive in this process, destroyed at exit (best effort). */
static pgtest_t *live[PGTEST_MAX_LIVE];
static int atexit_done;

static void pgtest_atexit(void) {
    for (int i = 0; i < PGTEST_MAX_LIVE; i++)
        if (live[i]) {
            pgtest_t *p = live[i];
            pgtest_destroy(&p);
        }
}

static void live_add(pgtest_t *self) {
    if (!atexit_done) {
        atexit(pgtest_atexit);
        atexit_done = 1;
    }
    for (int i = 0; i < PGTEST_MAX_LIVE; i++)
        if (!live[i]) {
            live[i] = self;
            return;
        }
}

static void live_remove(pgtest_t *self) {
    for (int i = 0; i < PGTEST_MAX_LIVE; i++)
        if (live[i] == self) live[i] = NULL;
}

static int as_root(void) { return geteuid() == 0; }

/* Runs argv (as postgres when root and as_pg), output appended to logpath; returns exit status. */
static int run_cmd(const char *logpath, int as_pg, char *const argv[]) {
    char *full[32];
    int n = 0;
    if (as_pg && as_root()) {
        full[n++] = "runuser";
        full[n++] = "-u";
        full[n++] = "postgres";
        full[n++] = "--";
    }
    for (int i = 0; argv[i] && n < 31; i++) full[n++] = argv[i];
    full[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(logpath ? logpath : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) {
            dup2(nul, 0);
            close(nul);
        }
        execvp(full[0], full);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void dump_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) fprintf(stderr, "pgtest|  %s", line);
    fclose(f);
}

/* The first port of the kernel's ephemeral range (outgoing connections take their local ports
 * from it, so a port probed free there may be taken by a daemon's own Postgres connection a moment
 * later: "Address already in use"). */
static int ephemeral_low(void) {
    int lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2) lo = 32768;
        fclose(f);
    }
    return lo;
}

static int port_bindable(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* A random free port below the ephemeral range (10000 up to it), else one the kernel picks. */
int pgtest_free_port(void) {
    static unsigned seed;
    static pid_t seeded_by; /* a forked test process reseeds, else siblings would pick alike */
    if (seeded_by != getpid()) {
        seeded_by = getpid();
        seed = (unsigned)seeded_by * 2654435761u ^ (unsigned)time(NULL) ^ (unsigned)clock();
    }
    int lo = 10000, hi = ephemeral_low();
    for (int tries = 0; hi - lo > 1000 && tries < 200; tries++) {
        int p = lo + (int)(rand_r(&seed) % (unsigned)(hi - lo));
        if (port_bindable(p)) return p;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int pg_start(pgtest_t *self) {
    char opts[512];
    snprintf(opts, sizeof opts,
             "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
             "-c full_page_writes=off -c max_connections=200",
             self->port, self->dir);
    char *argv[] = {PG_BIN "/pg_ctl", "-D", self->datadir, "-l", self->logfile, "-w", "-t", "60",
                    "-o", opts, "start", NULL};
    int rc = run_cmd(self->cmdlog, 1, argv);
    if (rc != 0) {
        fprintf(stderr, "pgtest: pg_ctl start failed (%d) on port %d\n", rc, self->port);
        dump_file(self->cmdlog);
        dump_file(self->logfile);
        return -1;
    }
    self->running = 1;
    return 0;
}

/* The reaper: a detached shell that waits for EOF on its stdin (our pipe), then stops the
 * cluster at once and removes its directory. Exec'd right after fork, so it is safe even
 * when the test program already has threads. */
static void start_reaper(pgtest_t *self) {
    int fds[2];
    if (pipe(fds) != 0) return;
    char script[1024];
    snprintf(script, sizeof script,
             "read x; %s %s/pg_ctl -D %s -m immediate stop >/dev/null 2>&1; rm -rf %s",
             as_root() ? "runuser -u postgres --" : "", PG_BIN, self->datadir, self->dir);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        setsid();
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
            close(nul);
        }
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    /* Children we exec later must not hold the write end open, or the reaper would never see
     * EOF when we die. */
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    self->reaper = pid;
    self->reaper_fd = fds[1];
}

/* initdb takes seconds; a fresh data directory copied from a cached one takes a fraction.
 * The cache is made once per machine in a temp dir and renamed into place, so concurrent test
 * programs never see a half-made one. */
#define TEMPLATE_DIR "/tmp/pgtest-template-pg15"

static int template_ready(void) {
    struct stat st;
    return stat(TEMPLATE_DIR "/data/PG_VERSION", &st) == 0 && stat(TEMPLATE_DIR "/ok", &st) == 0;
}

static int make_template(void) {
    char tmp[] = "/tmp/pgtest-tpl.XXXXXX";
    if (!mkdtemp(tmp)) return -1;
    chmod(tmp, 0755);
    if (as_root()) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(tmp, pw->pw_uid, pw->pw_gid) != 0) {
            rmdir(tmp);
            return -1;
        }
    }
    char data[64], log[64], srvlog[64], ok[64];
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(srvlog, sizeof srvlog, "%s/server.log", tmp); /* written by postgres itself */
    snprintf(log, sizeof log, "%s/initdb.log", tmp);
    snprintf(ok, sizeof ok, "%s/ok", tmp);
    char *initdb[] = {PG_BIN "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync",
                      "-E", "UTF8", "--locale=C", NULL};
    int rc = run_cmd(log, 1, initdb);
    if (rc == 0) { /* the database "crm" is made once here (CREATE DATABASE checkpoints: slow) */
        char opts[256], port[16];
        int p = pgtest_free_port();
        snprintf(port, sizeof port, "%d", p);
        snprintf(opts, sizeof opts, "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p, tmp);
        char *start[] = {PG_BIN "/pg_ctl", "-D", data, "-l", srvlog, "-w", "-t", "60", "-o", opts, "start", NULL};
        char *createdb[] = {PG_BIN "/createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "crm", NULL};
        char *stop[] = {PG_BIN "/pg_ctl", "-D", data, "-w", "-m", "fast", "stop", NULL};
        rc = run_cmd(log, 1, start);
        if (rc == 0) {
            rc = run_cmd(log, 0, createdb);
            if (run_cmd(log, 1, stop) != 0) rc = -1;
        }
    }
    if (rc == 0) {
        int fd = open(ok, O_WRONLY | O_CREAT, 0644);
        if (fd >= 0) close(fd);
        if (rename(tmp, TEMPLATE_DIR) != 0) rc = template_ready() ? 0 : -1; /* another program won */
    }
    if (access(tmp, F_OK) == 0) {
        char *rm[] = {"rm", "-rf", tmp, NULL};
        run_cmd(NULL, 0, rm);
    }
    return rc == 0 ? 0 : -1;
}

static int copy_template(pgtest_t *self) {
    if (!template_ready() && make_template() != 0) return -1;
    char *cp[] = {"cp", "-a", TEMPLATE_DIR "/data", self->datadir, NULL};
    if (run_cmd(self->cmdlog, 0, cp) != 0) {
        char *rm[] = {"rm", "-rf", self->datadir, NULL};
        run_cmd(NULL, 0, rm);
        return -1;
    }
    return 0;
}

pgtest_t *pgtest_start(void) {
    pgtest_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->reaper_fd = -1;
    snprintf(self->dir, sizeof self->dir, "/tmp/pgtest.XXXXXX");
    if (!mkdtemp(self->dir)) {
        fprintf(stderr, "pgtest: mkdtemp: %s\n", strerror(errno));
        free(self);
        return NULL;
    }
    chmod(self->dir, 0755);
    if (as_root()) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(self->dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "pgtest: cannot hand %s to the postgres user\n", self->dir);
            rmdir(self->dir);
            free(self);
            return NULL;
        }
    }
    snprintf(self->datadir, sizeof self->datadir, "%s/data", self->dir);
    snprintf(self->logfile, sizeof self->logfile, "%s/server.log", self->dir);
    snprintf(self->cmdlog, sizeof self->cmdlog, "%s/cmd.log", self->dir);
    /* cmd.log is written by commands run both as us and as postgres. */
    int fd = open(self->cmdlog, O_WRONLY | O_CREAT, 0666);
    if (fd >= 0) {
        fchmod(fd, 0666);
        close(fd);
    }
    start_reaper(self);
    live_add(self);

    int from_template = copy_template(self) == 0;
    if (!from_template) {
        char *initdb[] = {PG_BIN "/initdb", "-D", self->datadir, "-A", "trust", "-U", "postgres", "--no-sync",
                          "-E", "UTF8", "--locale=C", NULL};
        if (run_cmd(self->cmdlog, 1, initdb) != 0) {
            fprintf(stderr, "pgtest: initdb failed\n");
            dump_file(self->cmdlog);
            pgtest_destroy(&self);
            return NULL;
        }
    }
    /* The port is free when probed but another program may take it first: try a few. */
    int started = 0;
    for (int attempt = 0; attempt < 5 && !started; attempt++) {
        self->port = pgtest_free_port();
        started = self->port > 0 && pg_start(self) == 0;
    }
    if (!started) {
        pgtest_destroy(&self);
        return NULL;
    }
    snprintf(self->url, sizeof self->url, "postgresql://postgres@127.0.0.1:%d/crm", self->port);
    char port[16];
    snprintf(port, sizeof port, "%d", self->port);
    char *createdb[] = {PG_BIN "/createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "crm", NULL};
    if (!from_template && run_cmd(self->cmdlog, 0, createdb) != 0) {
        fprintf(stderr, "pgtest: createdb failed\n");
        dump_file(self->cmdlog);
        pgtest_destroy(&self);
        return NULL;
    }
    return self;
}

const char *pgtest_url(const pgtest_t *self) { return self->url; }

int pgtest_port(const pgtest_t *self) { return self->port; }

int pgtest_psql(const pgtest_t *self, const char *sql) {
    char port[16];
    snprintf(port, sizeof port, "%d", self->port);
    char *argv[] = {PG_BIN "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port,
                    "-U", "postgres", "-d", "crm", "-c", (char *)sql, NULL};
    return run_cmd(self->cmdlog, 0, argv);
}

int pgtest_stop(pgtest_t *self, int crash) {
    if (!self->running) return 0;
    char *argv[] = {PG_BIN "/pg_ctl", "-D", self->datadir, "-w", "-m", crash ? "immediate" : "fast", "stop", NULL};
    int rc = run_cmd(self->cmdlog, 1, argv);
    if (rc == 0) self->running = 0;
    return rc;
}

int pgtest_restart(pgtest_t *self) {
    if (self->running) return 0;
    return pg_start(self);
}

void pgtest_destroy(pgtest_t **self_p) {
    if (!self_p || !*self_p) return;
    pgtest_t *self = *self_p;
    *self_p = NULL;
    live_remove(self);
    if (self->running) {
        char *argv[] = {PG_BIN "/pg_ctl", "-D", self->datadir, "-w", "-m", "immediate", "stop", NULL};
        run_cmd(NULL, 1, argv);
    }
    char *rm[] = {"rm", "-rf", self->dir, NULL};
    run_cmd(NULL, 0, rm);
    if (self->reaper > 0) {
        /* Nothing left to reap: stop the watcher instead of letting it run its script. */
        kill(self->reaper, SIGKILL);
        if (self->reaper_fd >= 0) close(self->reaper_fd);
        waitpid(self->reaper, NULL, 0);
    } else if (self->reaper_fd >= 0) {
        close(self->reaper_fd);
    }
    free(self);
}

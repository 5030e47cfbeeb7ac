/* pgtest: a throwaway PostgreSQL 15 cluster for one test program, on a free port, in a
 * temporary directory, removed at the end. Postgres refuses to run as root, so under root
 * the cluster is created and run as the `postgres` system user. */
#ifndef CRM_PGTEST_H
#define CRM_PGTEST_H

typedef struct pgtest_t pgtest_t;

/* Starts a cluster with a database "crm" and returns it, or NULL (reason on stderr). */
pgtest_t *pgtest_start(void);
/* Superuser URL: "postgresql://postgres@127.0.0.1:<port>/crm" (trust auth on loopback). */
const char *pgtest_url(const pgtest_t *self);
int pgtest_port(const pgtest_t *self);
/* Runs SQL as superuser via psql; returns its exit status. */
int pgtest_psql(const pgtest_t *self, const char *sql);
/* Stops the cluster (fast, or immediate when `crash` is set) / starts it again on the same port. */
int pgtest_stop(pgtest_t *self, int crash);
int pgtest_restart(pgtest_t *self);
/* Stops and removes the cluster. */
void pgtest_destroy(pgtest_t **self_p);
/* A free TCP port on 127.0.0.1 (bound and released). */
int pgtest_free_port(void);

#endif

/* crmctl: the command-line tool's shared context and command table. Each command lives in its
 * own file (db.c, config_cmd.c, later token.c, pool.c, import.c, tail.c, replay.c) and exports
 * one crmctl_command_t that main.c lists. */
#ifndef CRMCTL_H
#define CRMCTL_H

#include <stdio.h>
#include "crm/config.h"

/* Exit statuses of every command. */
enum { CRMCTL_OK = 0, CRMCTL_FAIL = 1, CRMCTL_USAGE = 2 };

typedef struct {
    const char *config_path; /* --config FILE, or $CRM_CONFIG, or NULL (defaults + env) */
    crm_config_t *config;
} crmctl_t;

typedef struct {
    const char *name;    /* first word on the command line: "db" */
    const char *summary; /* one line for `crmctl --help` */
    /* argv[0] is the command's name; returns a CRMCTL_* status. */
    int (*run)(crmctl_t *ctx, int argc, char **argv);
    void (*help)(FILE *out); /* `crmctl help <name>` */
} crmctl_command_t;

extern const crmctl_command_t crmctl_db_command;
extern const crmctl_command_t crmctl_config_command;
extern const crmctl_command_t crmctl_token_command;
extern const crmctl_command_t crmctl_user_command;
extern const crmctl_command_t crmctl_import_command;

/* Prints "crmctl: <message>" to stderr and returns CRMCTL_USAGE. */
int crmctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

/* crmctl: the operator's command-line tool. main.c parses the global options, loads the
 * configuration and dispatches to one command per file (see crmctl.h). */
#include "crmctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const crmctl_command_t *const commands[] = {
    &crmctl_db_command,
    &crmctl_config_command,
    &crmctl_token_command,
    &crmctl_user_command,
    &crmctl_import_command,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

int crmctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("crmctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(see crmctl --help)\n", stderr);
    va_end(ap);
    return CRMCTL_USAGE;
}

static void print_usage(FILE *out)
{
    fputs("Usage: crmctl [--config FILE] COMMAND [ARGS...]\n"
          "       crmctl help [COMMAND]\n\n"
          "The CRM's command-line tool. It reads the same configuration as the daemons\n"
          "(--config FILE, else $CRM_CONFIG, else built-in defaults), with CRM_* environment\n"
          "overrides (CRM_DATABASE_URL, ...).\n\nCommands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\nOptions:\n  --config FILE  configuration file (YAML)\n  -h, --help     this text\n"
          "\nExit status: 0 done, 1 failed, 2 bad usage.\n",
          out);
}

static const crmctl_command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static int help_command(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stdout);
        return CRMCTL_OK;
    }
    const crmctl_command_t *cmd = find_command(argv[1]);
    if (!cmd)
        return crmctl_usage_error("no such command '%s'", argv[1]);
    cmd->help(stdout);
    return CRMCTL_OK;
}

int main(int argc, char **argv)
{
    crmctl_t ctx = {.config_path = getenv("CRM_CONFIG")};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_usage(stdout);
            return CRMCTL_OK;
        } else if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return crmctl_usage_error("--config needs a FILE");
            ctx.config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            ctx.config_path = argv[i] + 9;
        } else {
            return crmctl_usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc) {
        print_usage(stderr);
        return CRMCTL_USAGE;
    }
    if (strcmp(argv[i], "help") == 0)
        return help_command(argc - i, argv + i);
    const crmctl_command_t *cmd = find_command(argv[i]);
    if (!cmd)
        return crmctl_usage_error("no such command '%s'", argv[i]);
    if (ctx.config_path && ctx.config_path[0] == '\0')
        ctx.config_path = NULL;

    crm_err_t err = {0};
    ctx.config = crm_config_load(ctx.config_path, &err);
    if (!ctx.config) {
        fprintf(stderr, "crmctl: cannot load %s: %s\n", ctx.config_path ? ctx.config_path : "(defaults)",
                err.message);
        return CRMCTL_FAIL;
    }
    int rc = cmd->run(&ctx, argc - i, argv + i);
    crm_config_destroy(&ctx.config);
    return rc;
}

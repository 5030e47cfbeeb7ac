/* crmctl config: shows configuration values as the daemons see them (file + CRM_* env), so
 * scripts such as run.sh need no YAML parser of their own. */
#include "crmctl.h"

#include <string.h>

static void config_help(FILE *out)
{
    fputs("Usage: crmctl [--config FILE] config get KEY\n\n"
          "Prints the value of KEY (a dotted path such as gateway.http_port or\n"
          "leads.rpc_endpoints) as the daemons see it: the file, overridden by CRM_<KEY>.\n"
          "Lists are printed comma-separated. Exit 1 when the key is not set.\n",
          out);
}

static int config_run(crmctl_t *ctx, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        config_help(stdout);
        return CRMCTL_OK;
    }
    if (argc != 3 || strcmp(argv[1], "get") != 0)
        return crmctl_usage_error("usage: crmctl config get KEY");
    const char *key = argv[2];
    size_t n = crm_config_len(ctx->config, key);
    if (n > 0) {
        for (size_t i = 0; i < n; i++) {
            const char *v = crm_config_list_str(ctx->config, key, i);
            printf("%s%s", i ? "," : "", v ? v : "");
        }
        putchar('\n');
        return CRMCTL_OK;
    }
    const char *v = crm_config_str(ctx->config, key, NULL);
    if (!v) {
        fprintf(stderr, "crmctl: %s is not set\n", key);
        return CRMCTL_FAIL;
    }
    printf("%s\n", v);
    return CRMCTL_OK;
}

const crmctl_command_t crmctl_config_command = {
    .name = "config",
    .summary = "config get KEY: print a configuration value as the daemons see it",
    .run = config_run,
    .help = config_help,
};

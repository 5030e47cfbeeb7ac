/* Unit tests of config.c: dotted paths, lists, env overrides, line-numbered errors and
 * hostile YAML (alias bombs, deep nesting). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "crm/config.h"

static const char *sample =
    "log:\n"
    "  level: debug\n"
    "database:\n"
    "  url: postgresql://u@h/db\n"
    "  pool_size: 7\n"
    "  service_roles: false\n"
    "  service_password: \"\"\n"
    "  nothing:\n"
    "leads:\n"
    "  rpc_endpoints: [tcp://127.0.0.1:7111, tcp://127.0.0.1:7211]\n"
    "gateway:\n"
    "  sources:\n"
    "    - {name: website, kind: form, signature: none}\n"
    "    - name: desk\n"
    "      kind: support\n";

static crm_config_t *parse(const char *y)
{
    crm_err_t err;
    crm_config_t *c = crm_config_parse(y, strlen(y), &err);
    cr_assert_not_null(c, "parse failed: %s", err.message);
    return c;
}

Test(config, scalars_and_paths)
{
    unsetenv("CRM_DATABASE_URL");
    unsetenv("CRM_DATABASE_POOL_SIZE");
    crm_config_t *c = parse(sample);
    cr_assert_str_eq(crm_config_str(c, "log.level", "info"), "debug");
    cr_assert_str_eq(crm_config_str(c, "database.url", NULL), "postgresql://u@h/db");
    cr_assert_eq(crm_config_int(c, "database.pool_size", 4), 7);
    cr_assert_eq(crm_config_int(c, "database.missing", 4), 4);
    cr_assert_eq(crm_config_int(c, "database.url", 9), 9, "junk integer → default");
    cr_assert_eq(crm_config_bool(c, "database.service_roles", true), false);
    cr_assert_eq(crm_config_bool(c, "database.other", true), true);
    cr_assert_str_eq(crm_config_str(c, "database.service_password", "dflt"), "");
    cr_assert_str_eq(crm_config_str(c, "database.nothing", "dflt"), "dflt");
    cr_assert_null(crm_config_str(c, "database", NULL), "a map is not a scalar");
    cr_assert(crm_config_has(c, "database.url"));
    cr_assert_not(crm_config_has(c, "database.nope"));
    cr_assert_not(crm_config_has(c, "nope.nope"));
    crm_config_destroy(&c);
    cr_assert_null(c);
}

Test(config, sequences)
{
    unsetenv("CRM_LEADS_RPC_ENDPOINTS");
    crm_config_t *c = parse(sample);
    cr_assert_eq(crm_config_len(c, "leads.rpc_endpoints"), 2);
    cr_assert_str_eq(crm_config_list_str(c, "leads.rpc_endpoints", 1), "tcp://127.0.0.1:7211");
    cr_assert_str_eq(crm_config_str(c, "leads.rpc_endpoints.0", NULL), "tcp://127.0.0.1:7111");
    cr_assert_null(crm_config_list_str(c, "leads.rpc_endpoints", 2));
    cr_assert_eq(crm_config_len(c, "gateway.sources"), 2);
    cr_assert_str_eq(crm_config_str(c, "gateway.sources.0.name", NULL), "website");
    cr_assert_str_eq(crm_config_str(c, "gateway.sources.1.kind", NULL), "support");
    cr_assert_null(crm_config_str(c, "gateway.sources.2.kind", NULL));
    cr_assert_null(crm_config_str(c, "gateway.sources.x.kind", NULL));
    cr_assert_eq(crm_config_len(c, "log.level"), 0);
    cr_assert_eq(crm_config_len(c, "absent"), 0);
    crm_config_destroy(&c);
}

Test(config, env_overrides)
{
    crm_config_t *c = parse(sample);
    setenv("CRM_DATABASE_URL", "postgresql://env@x/y", 1);
    setenv("CRM_DATABASE_POOL_SIZE", "12", 1);
    setenv("CRM_BUS_PUBLISH", "tcp://1.2.3.4:1", 1);
    setenv("CRM_GATEWAY_SOURCES_0_NAME", "nope", 1);
    setenv("CRM_DATABASE_SERVICE_ROLES", "yes", 1);
    cr_assert_str_eq(crm_config_str(c, "database.url", NULL), "postgresql://env@x/y");
    cr_assert_eq(crm_config_int(c, "database.pool_size", 4), 12);
    cr_assert_eq(crm_config_bool(c, "database.service_roles", false), true);
    cr_assert_str_eq(crm_config_str(c, "bus.publish", "dflt"), "tcp://1.2.3.4:1");
    cr_assert(crm_config_has(c, "bus.publish"));
    cr_assert_str_eq(crm_config_str(c, "gateway.sources.0.name", NULL), "website",
                     "paths with index segments are not overridable");
    /* The returned string outlives a later change of the environment. */
    const char *url = crm_config_str(c, "database.url", NULL);
    setenv("CRM_DATABASE_URL", "postgresql://other@x/y", 1);
    cr_assert_str_eq(url, "postgresql://env@x/y");
    cr_assert_str_eq(crm_config_str(c, "database.url", NULL), "postgresql://other@x/y");
    unsetenv("CRM_DATABASE_URL");
    unsetenv("CRM_DATABASE_POOL_SIZE");
    unsetenv("CRM_BUS_PUBLISH");
    unsetenv("CRM_GATEWAY_SOURCES_0_NAME");
    unsetenv("CRM_DATABASE_SERVICE_ROLES");
    crm_config_destroy(&c);
}

Test(config, env_list_override)
{
    crm_config_t *c = parse(sample);
    setenv("CRM_LEADS_RPC_ENDPOINTS", "tcp://a:1, tcp://b:2,tcp://c:3", 1);
    cr_assert_eq(crm_config_len(c, "leads.rpc_endpoints"), 3);
    cr_assert_str_eq(crm_config_list_str(c, "leads.rpc_endpoints", 0), "tcp://a:1");
    cr_assert_str_eq(crm_config_list_str(c, "leads.rpc_endpoints", 1), "tcp://b:2");
    cr_assert_str_eq(crm_config_list_str(c, "leads.rpc_endpoints", 2), "tcp://c:3");
    cr_assert_null(crm_config_list_str(c, "leads.rpc_endpoints", 3));
    setenv("CRM_DEALS_RPC_ENDPOINTS", "tcp://d:1", 1);
    cr_assert_eq(crm_config_len(c, "deals.rpc_endpoints"), 1, "env alone makes a list");
    cr_assert_str_eq(crm_config_list_str(c, "deals.rpc_endpoints", 0), "tcp://d:1");
    setenv("CRM_GATEWAY_SOURCES", "x,y,z", 1);
    cr_assert_eq(crm_config_len(c, "gateway.sources"), 2, "a list of maps is not overridden");
    unsetenv("CRM_LEADS_RPC_ENDPOINTS");
    unsetenv("CRM_DEALS_RPC_ENDPOINTS");
    unsetenv("CRM_GATEWAY_SOURCES");
    cr_assert_eq(crm_config_len(c, "leads.rpc_endpoints"), 2);
    crm_config_destroy(&c);
}

Test(config, syntax_error_names_line)
{
    const char *bad = "a: 1\nb:\n  c: 2\n d: [unclosed\n";
    crm_err_t err;
    crm_config_t *c = crm_config_parse(bad, strlen(bad), &err);
    cr_assert_null(c);
    cr_assert_eq(err.code, CRM_EINVALID);
    cr_assert(strncmp(err.message, "line 4: ", 8) == 0, "message: %s", err.message);
}

Test(config, load_file_and_missing)
{
    char path[] = "/tmp/crm_cfg_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, sample, strlen(sample)), (ssize_t)strlen(sample));
    close(fd);
    crm_err_t err;
    crm_config_t *c = crm_config_load(path, &err);
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_str_eq(crm_config_str(c, "log.level", NULL), "debug");
    crm_config_destroy(&c);
    unlink(path);

    cr_assert_null(crm_config_load("/nonexistent/crm.yaml", &err));
    cr_assert_neq(err.code, CRM_OK);

    c = crm_config_load(NULL, &err);
    cr_assert_not_null(c);
    cr_assert_str_eq(crm_config_str(c, "log.level", "info"), "info");
    crm_config_destroy(&c);

    const char *badfile = "x: 1\ny: [\n";
    c = crm_config_parse(badfile, strlen(badfile), &err);
    cr_assert_null(c);
    cr_assert(strstr(err.message, "line ") != NULL, "%s", err.message);
}

Test(config, empty_and_non_map)
{
    crm_err_t err;
    crm_config_t *c = crm_config_parse("", 0, &err);
    cr_assert_not_null(c);
    cr_assert_eq(crm_config_len(c, "x"), 0);
    crm_config_destroy(&c);
    c = crm_config_parse("- a\n- b\n", 8, &err);
    cr_assert_null(c, "top level must be a map");
    cr_assert(strstr(err.message, "line 1") != NULL, "%s", err.message);
}

Test(config, hostile_alias_bomb)
{
    const char *bomb =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    crm_err_t err;
    crm_config_t *c = crm_config_parse(bomb, strlen(bomb), &err);
    cr_assert_null(c);
    cr_assert(strstr(err.message, "line 2: aliases") != NULL, "%s", err.message);
}

Test(config, hostile_deep_nesting)
{
    size_t depth = 100000;
    char *y = malloc(depth * 2 + 1);
    for (size_t i = 0; i < depth; i++)
        y[i] = '[';
    for (size_t i = 0; i < depth; i++)
        y[depth + i] = ']';
    y[2 * depth] = '\0';
    char *doc = malloc(2 * depth + 8);
    snprintf(doc, 2 * depth + 8, "a: %s\n", y);
    crm_err_t err;
    crm_config_t *c = crm_config_parse(doc, strlen(doc), &err);
    cr_assert_null(c);
    cr_assert(strstr(err.message, "nesting") != NULL, "%s", err.message);
    free(y);
    free(doc);

    /* 64 levels are fine. */
    char ok[300] = "a: ";
    for (int i = 0; i < 63; i++)
        strcat(ok, "[");
    for (int i = 0; i < 63; i++)
        strcat(ok, "]");
    c = crm_config_parse(ok, strlen(ok), &err);
    cr_assert_not_null(c, "%s", err.message);
    crm_config_destroy(&c);
}

Test(config, hostile_garbage)
{
    const char *inputs[] = {"\x00\x01\x02", "a: b: c", "{", "key: \"unterminated", "? [a]\n: b\n",
                            "a: !!binary xyz\n", "\xff\xfe\xfd"};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        crm_err_t err;
        size_t len = i == 0 ? 3 : strlen(inputs[i]);
        crm_config_t *c = crm_config_parse(inputs[i], len, &err);
        crm_config_destroy(&c); /* either outcome is fine; no crash */
    }
}

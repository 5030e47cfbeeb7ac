/* Configuration: one YAML file (libyaml) read by every daemon, each reading its own section.
 * Keys are dotted paths; list elements are addressed by index: "gateway.sources.0.name".
 * Environment overrides: for a path without index segments, CRM_<PATH> with dots as
 * underscores, upper-cased, wins over the file ("database.url" → CRM_DATABASE_URL,
 * "leads.rpc_bind" → CRM_LEADS_RPC_BIND). For list-valued keys the variable is comma-separated. */
#ifndef CRM_CONFIG_H
#define CRM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "crm/err.h"

typedef struct crm_config_t crm_config_t;

/* path NULL → an empty config (defaults and environment only). A syntax error names the line. */
crm_config_t *crm_config_load(const char *path, crm_err_t *err);
/* Parses YAML from memory (tests, fuzzing). */
crm_config_t *crm_config_parse(const char *yaml, size_t len, crm_err_t *err);
void crm_config_destroy(crm_config_t **self_p);

/* Scalar lookups; dflt when the key is absent (and no env override is set). The returned
 * string lives as long as the config. */
const char *crm_config_str(const crm_config_t *self, const char *path, const char *dflt);
long crm_config_int(const crm_config_t *self, const char *path, long dflt);
bool crm_config_bool(const crm_config_t *self, const char *path, bool dflt);
/* Number of elements of a sequence (0 when absent or not a sequence). For a sequence of
 * scalars an env override (comma-separated) counts too. */
size_t crm_config_len(const crm_config_t *self, const char *path);
/* Element i of a sequence of scalars ("bus.endpoints", 0), honouring the env override. */
const char *crm_config_list_str(const crm_config_t *self, const char *path, size_t i);
/* True when the key exists in the file or the environment. */
bool crm_config_has(const crm_config_t *self, const char *path);

#endif

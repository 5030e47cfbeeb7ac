/* crm-leads bulk import: the custom field definitions (type, choices) of the custom columns of a
 * batch, for the shared value checker (crm/customvalue.h) that import.c runs on every row. */
#include "leads.h"

#include <stdlib.h>
#include <string.h>

#include "crm/pbjson.h"
#include "crm/row.h"

int leads_import_custom_defs(crm_db_t *tx, const char *rtype, char **columns, size_t n, crm_cv_defs_t *defs,
                             char ***unknown, size_t *nunknown, crm_err_t *err)
{
    if (n == 0)
        return CRM_OK;
    char *names = crm_param_text_array(columns, n);
    const char *p[] = {rtype, names};
    PGresult *res = crm_db_exec(tx, "import_custom_defs",
                                "SELECT name, type, to_json(choices)::text FROM custom_fields WHERE "
                                "resource_type = $1 AND name = ANY($2::text[])",
                                2, p, err);
    free(names);
    if (!res)
        return err->code;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t nc = 0;
        char **choices = NULL;
        crm_row_str_array(res, r, 2, &nc, &choices);
        crm_cv_defs_add(defs, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), choices, nc);
        for (size_t c = 0; c < nc; c++)
            free(choices[c]);
        free(choices);
    }
    PQclear(res);
    *unknown = calloc(n, sizeof **unknown);
    for (size_t c = 0; c < n; c++)
        if (!crm_cv_defs_find(defs, columns[c]))
            (*unknown)[(*nunknown)++] = crm_pb_strdup(columns[c]);
    return CRM_OK;
}

/* libFuzzer target for lib/crm/config: arbitrary bytes → YAML tree (aliases refused, depth
 * capped) → lookups by path and index, everything freed (ASan/UBSan/LSan watch). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    crm_err_t err;
    crm_config_t *c = crm_config_parse((const char *)data, size, &err);
    if (!c) {
        /* a refusal must say why, never crash */
        if (err.code == CRM_OK || err.message[0] == '\0')
            abort();
        return 0;
    }
    static const char *const paths[] = {"a", "a.b", "a.0", "a.0.b", "gateway.sources", "gateway.sources.0.name",
                                        "x.1.y.2", "", "a..b", "a."};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        const char *s = crm_config_str(c, paths[i], NULL);
        if (s)
            (void)strlen(s);
        (void)crm_config_int(c, paths[i], 0);
        (void)crm_config_bool(c, paths[i], false);
        (void)crm_config_has(c, paths[i]);
        size_t n = crm_config_len(c, paths[i]);
        for (size_t k = 0; k < n && k < 8; k++) {
            const char *e = crm_config_list_str(c, paths[i], k);
            if (e)
                (void)strlen(e);
        }
    }
    crm_config_destroy(&c);
    return 0;
}

/* libFuzzer target for the gateway's form body parser: the same bytes as urlencoded and as
 * JSON, plus the Content-Type parser; every success must hold only valid, freeable strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

static void check_text(const char *s)
{
    if (s && s[0] == '\0')
        abort(); /* an empty value means absent: it must never be stored */
}

static void parse_as(gw_form_type_t type, const uint8_t *data, size_t size)
{
    Crm__LeadCaptured lc = CRM__LEAD_CAPTURED__INIT;
    crm_err_t err;
    int rc = gw_form_parse(type, (const char *)data, size, &lc, &err);
    if (rc == CRM_OK) {
        /* step 8: a contact is always present, and a last name or an organization */
        if (!lc.last_name && !lc.organization_name)
            abort();
        if (lc.email && !gw_form_email_ok(lc.email))
            abort();
        check_text(lc.first_name);
        check_text(lc.last_name);
        check_text(lc.email);
        check_text(lc.phone);
        for (size_t i = 0; i < lc.n_tags; i++)
            check_text(lc.tags[i]);
    } else if (rc != CRM_EBADREQUEST && rc != CRM_EINVALID) {
        abort(); /* never 500 */
    } else if (lc.last_name || lc.email || lc.n_tags) {
        abort(); /* nothing kept on failure */
    }
    gw_form_clear(&lc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_as(GW_FORM_URLENCODED, data, size);
    parse_as(GW_FORM_JSON, data, size);
    if (size < 256) {
        char ct[256];
        memcpy(ct, data, size);
        ct[size] = '\0';
        (void)gw_form_content_type(ct);
    }
    return 0;
}

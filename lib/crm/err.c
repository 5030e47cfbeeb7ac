/* crm_err_t helpers: fill, clear and name the error codes every libcrm function returns.
 * The code values are shared with crm.Status (proto/rpc.proto) so an error can travel in an
 * RPC reply unchanged. */
#include "crm/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int crm_err_set(crm_err_t *err, int code, const char *field, const char *reason, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->nmore = 0;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    snprintf(err->reason, sizeof err->reason, "%s", reason ? reason : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    } else {
        err->message[0] = '\0';
    }
    return code;
}

int crm_err_add(crm_err_t *err, int code, const char *field, const char *reason, const char *fmt, ...)
{
    if (!err)
        return code;
    char text[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
    }
    if (err->code == CRM_OK)
        return crm_err_set(err, code, field, reason, "%s", text);
    if (err->nmore < CRM_ERR_MAX_MORE) {
        crm_err_more_t *m = &err->more[err->nmore++];
        snprintf(m->field, sizeof m->field, "%s", field ? field : "");
        snprintf(m->reason, sizeof m->reason, "%s", reason ? reason : "");
        snprintf(m->message, sizeof m->message, "%.159s", text);
    }
    return err->code;
}

void crm_err_clear(crm_err_t *err)
{
    if (!err)
        return;
    err->code = CRM_OK;
    err->nmore = 0;
    err->field[0] = '\0';
    err->reason[0] = '\0';
    err->message[0] = '\0';
}

bool crm_err_is_transient(const crm_err_t *err)
{
    return err && err->code == CRM_EUNAVAILABLE;
}

const char *crm_code_name(int code)
{
    switch (code) {
    case CRM_OK:
        return "OK";
    case CRM_EINVALID:
        return "INVALID";
    case CRM_ENOTFOUND:
        return "NOT_FOUND";
    case CRM_ECONFLICT:
        return "CONFLICT";
    case CRM_EFORBIDDEN:
        return "FORBIDDEN";
    case CRM_EUNAVAILABLE:
        return "UNAVAILABLE";
    case CRM_EINTERNAL:
        return "INTERNAL";
    case CRM_EBADREQUEST:
        return "BAD_REQUEST";
    default:
        return "UNKNOWN";
    }
}

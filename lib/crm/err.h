/* crm_err_t: how every libcrm function reports failure. A function returns 0 on success or
 * one of the codes below, and fills an error naming the field and the reason. */
#ifndef CRM_ERR_H
#define CRM_ERR_H

#include <stdbool.h>

/* The codes match crm.Status in proto/rpc.proto, so an error can travel as an RPC reply. */
typedef enum {
    CRM_OK = 0,
    CRM_EINVALID = 1,     /* bad input: 422 */
    CRM_ENOTFOUND = 2,    /* 404 */
    CRM_ECONFLICT = 3,    /* 409 */
    CRM_EFORBIDDEN = 4,   /* 403 */
    CRM_EUNAVAILABLE = 5, /* a dependency is down or a deadline passed: retry later, 503 */
    CRM_EINTERNAL = 6,    /* a bug or an unexpected state: 500 */
    CRM_EBADREQUEST = 7,  /* a malformed request parameter: 400 */
} crm_code_t;

#define CRM_ERR_MAX_MORE 7

/* A further field error after the first (a 422 that names every missing field). */
typedef struct {
    char field[128];
    char reason[32];
    char message[160];
} crm_err_more_t;

typedef struct {
    int code;          /* crm_code_t */
    char field[128];   /* JSON pointer of the offending field ("/last_name"), or "" */
    char reason[32];   /* machine code: "missing", "invalid_type", "incorrect_value", ... */
    char message[512]; /* human sentence */
    int nmore;         /* further field errors, in more[0 .. nmore-1] */
    crm_err_more_t more[CRM_ERR_MAX_MORE];
} crm_err_t;

/* Sets all of *err (err may be NULL) and returns code. field and reason may be NULL. */
int crm_err_set(crm_err_t *err, int code, const char *field, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Adds a field error: the first one like crm_err_set, later ones into more[] (dropped past
 * CRM_ERR_MAX_MORE, the message of the first then says how many there were). Returns code. */
int crm_err_add(crm_err_t *err, int code, const char *field, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void crm_err_clear(crm_err_t *err);
/* True for failures that a retry may cure (database or peer down, deadline). */
bool crm_err_is_transient(const crm_err_t *err);
const char *crm_code_name(int code); /* "INVALID", ... */

#endif

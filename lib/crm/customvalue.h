/* Custom field values given as text (a cell of an imported CSV file) checked against the field's
 * definition (SELL_API §6.21; definitions kept by crm-leads for leads, contacts and deals), and
 * turned into the JSON value a record's custom_fields stores:
 *   string, phone, email, url  at most CRM_CV_STRING_MAX characters; email: one @ with text on
 *                              both sides, no blanks; url: http:// or https:// and a host; phone:
 *                              a digit at least, only digits, blanks and + - ( ) . / x
 *   text                       at most CRM_CV_TEXT_MAX bytes
 *   number                     a decimal such as -1200.50 (at most 30 digits) → the string "-1200.50"
 *   date                       YYYY-MM-DD, a real calendar day
 *   datetime                   ISO 8601: YYYY-MM-DD[(T| )HH:MM[:SS[.f]]][Z|±HH[:]MM]
 *   bool                       true/false, yes/no, y/n, t/f, 1/0 (any case) → true / false
 *   list                       one of the choices (case and surrounding blanks ignored) → its name
 *   multi_select_list          choices separated by ';' (each once) → an array of names
 * Values are trimmed first; a blank value is no value. */
#ifndef CRM_CUSTOMVALUE_H
#define CRM_CUSTOMVALUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CRM_CV_STRING_MAX 255
#define CRM_CV_TEXT_MAX 65536

typedef struct {
    char *name, *type;
    char **choices;
    size_t nchoices;
} crm_cv_field_t;

typedef struct {
    crm_cv_field_t *f;
    size_t n, cap;
} crm_cv_defs_t;

/* Adds a definition (copies everything). */
void crm_cv_defs_add(crm_cv_defs_t *d, const char *name, const char *type, char *const *choices, size_t n);
const crm_cv_field_t *crm_cv_defs_find(const crm_cv_defs_t *d, const char *name);
void crm_cv_defs_free(crm_cv_defs_t *d);

/* One value: the JSON value to store (a new reference; NULL for a blank value with *why NULL), or
 * NULL with *why saying what is wrong ("not a number"). */
json_t *crm_cv_from_text(const crm_cv_field_t *f, const char *text, const char **why);

/* The custom_fields object of one imported row: values[i] of columns[i] for the columns that are
 * fields in d (others are skipped: the caller reports them), blanks left out. NULL when a value
 * does not fit its field, with reason = "custom field 'Budget': not a number". */
json_t *crm_cv_row(const crm_cv_defs_t *d, char *const *columns, char *const *values, size_t n, char *reason,
                   size_t len);

/* The limit a text value s of a field of that type (text: CRM_CV_TEXT_MAX bytes, the others
 * CRM_CV_STRING_MAX characters) goes over ("longer than 255 characters"), or NULL. */
const char *crm_cv_too_long(const char *type, const char *s);

/* Appends choice c to the multi-select value arr; false when c is NULL or already there. */
bool crm_cv_add_choice(json_t *arr, const char *c);

/* "YYYY-MM-DD" with a real calendar day. */
bool crm_cv_date_ok(const char *s);
/* An absolute http(s) URL with a host and no blank or control character. */
bool crm_cv_url_ok(const char *s);
/* ISO 8601 date-time as above (a date alone counts). */
bool crm_cv_datetime_ok(const char *s);

#endif

/* row: page windows, sort_by parsing and parameter literals used by every store.c. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "crm/row.h"

Test(row, page_window_defaults_and_limits)
{
    crm_page_t p;
    crm_err_t err;
    cr_assert_eq(crm_page_window(false, 0, false, 0, &p, &err), CRM_OK);
    cr_assert_eq(p.page, 1);
    cr_assert_eq(p.per_page, 25);
    cr_assert_eq(p.limit, 26, "one row more than the page tells has_more");
    cr_assert_eq(p.offset, 0);
    cr_assert_eq(crm_page_window(true, 3, true, 10, &p, &err), CRM_OK);
    cr_assert_eq(p.offset, 20);
    cr_assert_eq(crm_page_window(false, 0, true, 101, &p, &err), CRM_EBADREQUEST);
    cr_assert_str_eq(err.field, "per_page");
    cr_assert(strstr(err.message, "between 1 and 100, given: 101"));
    cr_assert_eq(crm_page_window(true, 0, false, 0, &p, &err), CRM_EBADREQUEST);
    cr_assert_str_eq(err.field, "page");
}

Test(row, sort_parse)
{
    static const char *const fields[] = {"updated_at", "id", "last_name", NULL};
    int idx;
    bool desc;
    crm_err_t err;
    cr_assert_eq(crm_sort_parse(NULL, fields, 0, false, &idx, &desc, &err), CRM_OK);
    cr_assert_eq(idx, 0);
    cr_assert_not(desc);
    cr_assert_eq(crm_sort_parse("id:desc", fields, 0, false, &idx, &desc, &err), CRM_OK);
    cr_assert_eq(idx, 1);
    cr_assert(desc);
    cr_assert_eq(crm_sort_parse("last_name", fields, 0, true, &idx, &desc, &err), CRM_OK);
    cr_assert_eq(idx, 2);
    cr_assert_not(desc);
    cr_assert_eq(crm_sort_parse("id; DROP TABLE leads", fields, 0, false, &idx, &desc, &err), CRM_EBADREQUEST);
    cr_assert_eq(crm_sort_parse("id:sideways", fields, 0, false, &idx, &desc, &err), CRM_EBADREQUEST);
    cr_assert_eq(crm_sort_parse("i", fields, 0, false, &idx, &desc, &err), CRM_EBADREQUEST, "no prefix match");
}

Test(row, ids_literal)
{
    crm_err_t err;
    char *s = crm_param_ids("1,22,333", "ids", &err);
    cr_assert_str_eq(s, "{1,22,333}");
    free(s);
    cr_assert_null(crm_param_ids("1,,2", "ids", &err));
    cr_assert_null(crm_param_ids("1,x", "ids", &err));
    cr_assert_null(crm_param_ids("1,-2", "ids", &err));
    cr_assert_null(crm_param_ids("99999999999999999999", "ids", &err));
    cr_assert_str_eq(err.field, "ids");
}

Test(row, text_array_literal_escapes)
{
    char *items[] = {"plain", "with \"quote\"", "back\\slash", "comma,brace}"};
    char *s = crm_param_text_array(items, 4);
    cr_assert_str_eq(s, "{\"plain\",\"with \\\"quote\\\"\",\"back\\\\slash\",\"comma,brace}\"}");
    free(s);
    s = crm_param_text_array(NULL, 0);
    cr_assert_str_eq(s, "{}");
    free(s);
}

/* crm/customvalue: imported custom field values checked against the field's type. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "crm/customvalue.h"

static crm_cv_defs_t defs;

static void setup(void)
{
    char *kinds[] = {"New", "Upsell"}, *areas[] = {"North", "South", "East"};
    crm_cv_defs_add(&defs, "Budget", "number", NULL, 0);
    crm_cv_defs_add(&defs, "Renewal", "date", NULL, 0);
    crm_cv_defs_add(&defs, "Seen", "datetime", NULL, 0);
    crm_cv_defs_add(&defs, "Kind", "list", kinds, 2);
    crm_cv_defs_add(&defs, "Areas", "multi_select_list", areas, 3);
    crm_cv_defs_add(&defs, "Flag", "bool", NULL, 0);
    crm_cv_defs_add(&defs, "Nick", "string", NULL, 0);
    crm_cv_defs_add(&defs, "Notes", "text", NULL, 0);
    crm_cv_defs_add(&defs, "Mail", "email", NULL, 0);
    crm_cv_defs_add(&defs, "Site", "url", NULL, 0);
    crm_cv_defs_add(&defs, "Tel", "phone", NULL, 0);
}

static void teardown(void)
{
    crm_cv_defs_free(&defs);
}

TestSuite(customvalue, .init = setup, .fini = teardown);

/* The value stored for text v of field name, as compact JSON (malloc'd), or "!" + why. */
static char *one(const char *name, const char *v)
{
    const crm_cv_field_t *f = crm_cv_defs_find(&defs, name);
    cr_assert_not_null(f, "%s", name);
    const char *why = NULL;
    json_t *j = crm_cv_from_text(f, v, &why);
    if (!j) {
        char *out = malloc(200);
        snprintf(out, 200, "!%s", why ? why : "(blank)");
        return out;
    }
    char *out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

static void expect(const char *name, const char *v, const char *want)
{
    char *got = one(name, v);
    cr_expect_str_eq(got, want, "%s = '%.40s'", name, v);
    free(got);
}

Test(customvalue, numbers)
{
    expect("Budget", "1200.50", "\"1200.50\"");
    expect("Budget", " -3 ", "\"-3\"");
    expect("Budget", "+0.5", "\"+0.5\"");
    expect("Budget", "=1+1", "!not a number");
    expect("Budget", "1,200", "!not a number");
    expect("Budget", "$5", "!not a number");
    expect("Budget", "1.", "!not a number");
    expect("Budget", "1e5", "!not a number");
    expect("Budget", "1234567890123456789012345678901", "!not a number"); /* 31 digits */
    expect("Budget", "   ", "!(blank)");
}

Test(customvalue, dates)
{
    expect("Renewal", "2024-02-29", "\"2024-02-29\"");
    expect("Renewal", "2023-02-29", "!not a date (YYYY-MM-DD)");
    expect("Renewal", "2027-02-30", "!not a date (YYYY-MM-DD)");
    expect("Renewal", "2027-13-01", "!not a date (YYYY-MM-DD)");
    expect("Renewal", "31/12/2027", "!not a date (YYYY-MM-DD)");
    expect("Renewal", "2027-01-01T10:00:00Z", "!not a date (YYYY-MM-DD)");
    expect("Seen", "2027-01-01T10:00:00Z", "\"2027-01-01T10:00:00Z\"");
    expect("Seen", "2027-01-01 10:00:00.123+02:00", "\"2027-01-01 10:00:00.123+02:00\"");
    expect("Seen", "2027-01-01", "\"2027-01-01\"");
    expect("Seen", "2027-01-01T25:00", "!not an ISO 8601 date-time");
    expect("Seen", "yesterday", "!not an ISO 8601 date-time");
}

Test(customvalue, lists_and_bools)
{
    expect("Kind", " upsell ", "\"Upsell\"");
    expect("Kind", "Renewal", "!not one of the field's choices");
    expect("Areas", "north; SOUTH", "[\"North\",\"South\"]");
    expect("Areas", "North;West", "!not one of the field's choices");
    expect("Areas", "North;north", "!a choice given twice");
    expect("Areas", "North;", "!not one of the field's choices");
    expect("Flag", "Yes", "true");
    expect("Flag", "0", "false");
    expect("Flag", "maybe", "!not true or false");
}

Test(customvalue, texts)
{
    expect("Nick", "=cmd|' /C calc'!A0", "\"=cmd|' /C calc'!A0\""); /* formula: kept as text */
    char *big = malloc(1024 * 1024 + 1);
    memset(big, 'a', 1024 * 1024);
    big[1024 * 1024] = '\0';
    expect("Nick", big, "!longer than 255 characters");
    expect("Notes", big, "!longer than 65536 bytes");
    big[CRM_CV_TEXT_MAX] = '\0';
    char *got = one("Notes", big);
    cr_expect_eq(strlen(got), (size_t)CRM_CV_TEXT_MAX + 2, "64 KiB of text is kept");
    free(got);
    /* 255 characters of 2 bytes each fit a string; 256 do not */
    for (int i = 0; i < 256; i++)
        memcpy(big + 2 * i, "\xC3\xA9", 2);
    big[512] = '\0';
    expect("Nick", big, "!longer than 255 characters");
    big[510] = '\0';
    got = one("Nick", big);
    cr_expect_eq(strlen(got), 512u);
    free(got);
    free(big);
    expect("Mail", "ann@example.com", "\"ann@example.com\"");
    expect("Mail", "ann@@example.com", "!not an e-mail address");
    expect("Mail", "ann example.com", "!not an e-mail address");
    expect("Site", "https://example.com/x", "\"https://example.com/x\"");
    expect("Site", "javascript:alert(1)", "!not an http:// or https:// URL");
    expect("Tel", "+44 (20) 1234-5678", "\"+44 (20) 1234-5678\"");
    expect("Tel", "=HYPERLINK(1)", "!not a phone number");
}

Test(customvalue, rows)
{
    char *cols[] = {"Budget", "Region", "Kind", "Flag"};
    char *good[] = {"10", "North", "new", ""};
    char reason[200] = "";
    json_t *obj = crm_cv_row(&defs, cols, good, 4, reason, sizeof reason);
    cr_assert_not_null(obj, "%s", reason);
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect_str_eq(s, "{\"Budget\":\"10\",\"Kind\":\"New\"}", "unknown column skipped, blank left out");
    free(s);
    json_decref(obj);
    char *bad[] = {"10", "x", "new", "perhaps"};
    cr_expect_null(crm_cv_row(&defs, cols, bad, 4, reason, sizeof reason));
    cr_expect_str_eq(reason, "custom field 'Flag': not true or false");
    char *bad2[] = {"ten", "x", "nope", "perhaps"};
    cr_expect_null(crm_cv_row(&defs, cols, bad2, 4, reason, sizeof reason));
    cr_expect_str_eq(reason, "custom field 'Budget': not a number", "the first bad value is named");
}

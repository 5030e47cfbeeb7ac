/* Unit tests of crm-leads' custom field validation (leads_custom_fields_validate) against the
 * real leads schema in a throwaway Postgres, and of the ISO 8601 date checks it relies on. */
#include <criterion/criterion.h>
#include <string.h>

#include "crm/db.h"
#include "extras.h"
#include "pgtest.h"

extern const crm_migration_t leads_migrations[];
extern const unsigned leads_migrations_count;

static pgtest_t *pg;
static crm_db_t *db;

static void up(void)
{
    pg = pgtest_start();
    cr_assert_not_null(pg, "pgtest_start");
    crm_db_params_t p = {.conninfo = pgtest_url(pg), .schema = "leads"};
    crm_err_t err = {0};
    db = crm_db_connect(&p, &err);
    cr_assert_not_null(db, "%s", err.message);
    cr_assert_eq(crm_db_migrate(db, "leads", leads_migrations, leads_migrations_count, &err), CRM_OK, "%s",
                 err.message);
    cr_assert_eq(
        crm_db_exec_simple(db,
                           "INSERT INTO custom_fields (resource_type, name, type, choices) VALUES "
                           "('lead', 'Tier', 'list', '{Gold,Silver}'), "
                           "('lead', 'Colours', 'multi_select_list', '{Red,Green,Blue}'), "
                           "('lead', 'Budget', 'number', '{}'), ('lead', 'Renewal', 'date', '{}'), "
                           "('lead', 'Met at', 'datetime', '{}'), ('lead', 'Partner', 'bool', '{}'), "
                           "('lead', 'Site', 'url', '{}'), ('lead', 'Notes', 'text', '{}'), "
                           "('lead', 'Billing', 'email', '{}'), ('lead', 'a/b~c', 'string', '{}'), "
                           "('contact', 'Tier', 'string', '{}')",
                           &err),
        CRM_OK, "%s", err.message);
}

static void down(void)
{
    crm_db_destroy(&db);
    pgtest_destroy(&pg);
}

TestSuite(leads_customfields, .init = up, .fini = down, .timeout = 120);

static int validate(const char *rtype, const char *json, crm_err_t *err, json_t **out)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(v, "test JSON %s", json);
    memset(err, 0, sizeof *err);
    int rc = leads_custom_fields_validate(db, rtype, v, err);
    if (out)
        *out = v;
    else
        json_decref(v);
    return rc;
}

Test(leads_customfields, good_values_pass_and_lists_normalize)
{
    crm_err_t err;
    json_t *v = NULL;
    int rc = validate(
        "lead",
        "{\"Tier\": {\"id\": 2}, \"Colours\": [\"Red\", {\"name\": \"Blue\"}], \"Budget\": \"1200.50\", "
        "\"Renewal\": \"2027-02-28\", \"Met at\": \"2026-11-23T10:00:00+01:00\", \"Partner\": false, "
        "\"Site\": \"https://example.com/x\", \"Notes\": \"anything\", \"Billing\": \"a@b.co\", "
        "\"a/b~c\": \"s\"}",
        &err, &v);
    cr_assert_eq(rc, CRM_OK, "%s %s", err.field, err.message);
    cr_expect_str_eq(json_string_value(json_object_get(v, "Tier")), "Silver", "id 2 is the second choice");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(v, "Colours"), 1)), "Blue");
    cr_expect_str_eq(json_string_value(json_object_get(v, "Budget")), "1200.50", "kept as given");
    json_decref(v);
    cr_expect_eq(validate("lead", "{\"Budget\": 12, \"Tier\": \"Gold\", \"Partner\": null}", &err, NULL),
                 CRM_OK);
    cr_expect_eq(validate("lead", "{}", &err, NULL), CRM_OK);
    cr_expect_eq(validate("lead", "null", &err, NULL), CRM_OK);
    cr_expect_eq(leads_custom_fields_validate(db, "lead", NULL, &err), CRM_OK);
    /* The same name on another resource type has that type's definition. */
    cr_expect_eq(validate("contact", "{\"Tier\": \"Platinum\"}", &err, NULL), CRM_OK);
}

Test(leads_customfields, bad_values_name_every_field)
{
    crm_err_t err;
    int rc = validate(
        "lead",
        "{\"Tier\": \"Bronze\", \"Budget\": \"12,5\", \"Renewal\": \"2027-02-30\", \"Partner\": \"yes\", "
        "\"Site\": \"ftp://x\", \"Unknown\": 1, \"Colours\": [\"Red\", \"Red\"]}",
        &err, NULL);
    cr_assert_eq(rc, CRM_EINVALID);
    cr_expect_eq(err.nmore, 6, "seven errors: %s", err.message);
    const char *want[] = {"/custom_fields/Tier",    "/custom_fields/Budget", "/custom_fields/Renewal",
                          "/custom_fields/Partner", "/custom_fields/Site",   "/custom_fields/Unknown",
                          "/custom_fields/Colours"};
    for (size_t i = 0; i < 7; i++) {
        bool found = strcmp(err.field, want[i]) == 0;
        for (int k = 0; k < err.nmore; k++)
            found = found || strcmp(err.more[k].field, want[i]) == 0;
        cr_expect(found, "%s named", want[i]);
    }
}

Test(leads_customfields, shapes)
{
    crm_err_t err;
    cr_expect_eq(validate("lead", "[1]", &err, NULL), CRM_EINVALID);
    cr_expect_str_eq(err.field, "/custom_fields");
    cr_expect_eq(validate("lead", "{\"a/b~c\": 5}", &err, NULL), CRM_EINVALID);
    cr_expect_str_eq(err.field, "/custom_fields/a~1b~0c", "JSON pointer escaping");
    cr_expect_eq(validate("lead", "{\"Tier\": {\"id\": 3}}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Tier\": {\"colour\": \"x\"}}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Colours\": \"Red\"}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Billing\": \"nobody\"}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Notes\": 5}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Met at\": \"2026-11-23 25:00\"}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Budget\": true}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Budget\": \"-.5\"}", &err, NULL), CRM_EINVALID);
    cr_expect_eq(validate("lead", "{\"Budget\": \"-0.5\"}", &err, NULL), CRM_OK);
    cr_expect_eq(validate("deal", "{\"Tier\": \"Gold\"}", &err, NULL), CRM_EINVALID, "no deal fields");
    cr_expect_str_eq(err.reason, "unknown");
}

Test(leads_customfields, iso_dates)
{
    cr_expect(leads_iso_date_ok("2024-02-29"));
    cr_expect_not(leads_iso_date_ok("2023-02-29"));
    cr_expect_not(leads_iso_date_ok("2023-2-01"));
    cr_expect_not(leads_iso_date_ok("2023-02-01T00:00:00Z"));
    cr_expect(leads_iso_datetime_ok("2017-06-04T18:28:53Z"));
    cr_expect(leads_iso_datetime_ok("2014-09-27T16:32:56+00:00"));
    cr_expect(leads_iso_datetime_ok("2014-09-27T16:32:56.123-0530"));
    cr_expect(leads_iso_datetime_ok("2014-09-27T16:32"));
    cr_expect(leads_iso_datetime_ok("2014-09-27"));
    cr_expect_not(leads_iso_datetime_ok("2014-09-27T24:00:00Z"));
    cr_expect_not(leads_iso_datetime_ok("2014-09-27T16:32:56+15:00"));
    cr_expect_not(leads_iso_datetime_ok("2014-09-27T16:32:56ZZ"));
    cr_expect_not(leads_iso_datetime_ok("tomorrow"));
    cr_expect_not(leads_iso_datetime_ok(""));
    cr_expect_not(leads_iso_datetime_ok(NULL));
}

/* Tests of services/gateway/form: content types, urlencoded and JSON decoding, the field name
 * mapping, name splitting, the contact and e-mail rules, and hostile bodies. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

/* Parses body; the caller checks the result and calls gw_form_clear(lc). */
static int parse(gw_form_type_t type, const char *body, Crm__LeadCaptured *lc, crm_err_t *err)
{
    Crm__LeadCaptured init = CRM__LEAD_CAPTURED__INIT;
    *lc = init;
    crm_err_clear(err);
    return gw_form_parse(type, body, strlen(body), lc, err);
}

static void expect_fail(gw_form_type_t type, const char *body, size_t len, int code, const char *field,
                        const char *reason)
{
    Crm__LeadCaptured lc = CRM__LEAD_CAPTURED__INIT;
    crm_err_t err;
    crm_err_clear(&err);
    int rc = gw_form_parse(type, body, len, &lc, &err);
    cr_expect_eq(rc, code, "rc %d for [%.60s]", rc, body);
    cr_expect_eq(err.code, code);
    if (field)
        cr_expect_str_eq(err.field, field, "field for [%.60s]", body);
    if (reason)
        cr_expect_str_eq(err.reason, reason, "reason for [%.60s]", body);
    cr_expect_neq(err.message[0], '\0');
    cr_expect_null(lc.last_name, "nothing kept on failure");
    cr_expect_null(lc.email);
    cr_expect_eq(lc.n_tags, 0);
    gw_form_clear(&lc);
}

#define FAIL_U(body, code, field, reason)                                                                    \
    expect_fail(GW_FORM_URLENCODED, body, strlen(body), code, field, reason)
#define FAIL_J(body, code, field, reason) expect_fail(GW_FORM_JSON, body, strlen(body), code, field, reason)

Test(gateway_form, content_types)
{
    cr_expect_eq(gw_form_content_type("application/x-www-form-urlencoded"), GW_FORM_URLENCODED);
    cr_expect_eq(gw_form_content_type("Application/X-WWW-Form-URLEncoded; charset=UTF-8"),
                 GW_FORM_URLENCODED);
    cr_expect_eq(gw_form_content_type("application/json"), GW_FORM_JSON);
    cr_expect_eq(gw_form_content_type("  APPLICATION/JSON;charset=\"utf-8\""), GW_FORM_JSON);
    cr_expect_eq(gw_form_content_type("application/vnd.api+json"), GW_FORM_JSON);
    cr_expect_eq(gw_form_content_type("multipart/form-data; boundary=----x"), GW_FORM_MULTIPART);
    cr_expect_eq(gw_form_content_type("application/json; charset=iso-8859-1"), GW_FORM_UNSUPPORTED);
    cr_expect_eq(gw_form_content_type("text/plain"), GW_FORM_UNSUPPORTED);
    cr_expect_eq(gw_form_content_type("application/jsonx"), GW_FORM_UNSUPPORTED);
    cr_expect_eq(gw_form_content_type(""), GW_FORM_UNSUPPORTED);
    cr_expect_eq(gw_form_content_type(NULL), GW_FORM_UNSUPPORTED);
    cr_expect_eq(gw_form_content_type(";;;==\"\""), GW_FORM_UNSUPPORTED);
}

Test(gateway_form, urlencoded_every_mapping)
{
    const char *body = "first_name=Ada&last_name=Lovelace&email=ada%40example.com&phone=%2B44+20+7946+0000"
                       "&company=Analytical+Engines&title=Countess&message=Hello%0D%0AWorld"
                       "&interests=math&interests=poetry&utm_source=x&page=%2Fcontact";
    Crm__LeadCaptured lc;
    crm_err_t err;
    cr_assert_eq(parse(GW_FORM_URLENCODED, body, &lc, &err), CRM_OK, "%s", err.message);
    cr_expect_str_eq(lc.first_name, "Ada");
    cr_expect_str_eq(lc.last_name, "Lovelace");
    cr_expect_str_eq(lc.email, "ada@example.com");
    cr_expect_str_eq(lc.phone, "+44 20 7946 0000");
    cr_expect_str_eq(lc.organization_name, "Analytical Engines");
    cr_expect_str_eq(lc.title, "Countess");
    cr_expect_str_eq(lc.description, "Hello\r\nWorld");
    cr_assert_eq(lc.n_tags, 2);
    cr_expect_str_eq(lc.tags[0], "math");
    cr_expect_str_eq(lc.tags[1], "poetry");
    gw_form_clear(&lc);
    cr_expect_null(lc.first_name);
    cr_expect_null(lc.tags);
}

Test(gateway_form, aliases_case_insensitive)
{
    const char *sets[][8] = {
        /* body, first, last, email, phone, org, title, description */
        {"FirstName=A&LastName=B&E-Mail=a%40b.co&Tel=1&Organization=O&Job_Title=T&Comments=C", "A", "B",
         "a@b.co", "1", "O", "T", "C"},
        {"fname=A&lname=B&work_email=a%40b.co&phone_number=1&organization_name=O&title=T&description=C", "A",
         "B", "a@b.co", "1", "O", "T", "C"},
    };
    for (size_t i = 0; i < 2; i++) {
        Crm__LeadCaptured lc;
        crm_err_t err;
        cr_assert_eq(parse(GW_FORM_URLENCODED, sets[i][0], &lc, &err), CRM_OK, "%s", err.message);
        cr_expect_str_eq(lc.first_name, sets[i][1]);
        cr_expect_str_eq(lc.last_name, sets[i][2]);
        cr_expect_str_eq(lc.email, sets[i][3]);
        cr_expect_str_eq(lc.phone, sets[i][4]);
        cr_expect_str_eq(lc.organization_name, sets[i][5]);
        cr_expect_str_eq(lc.title, sets[i][6]);
        cr_expect_str_eq(lc.description, sets[i][7]);
        gw_form_clear(&lc);
    }
}

Test(gateway_form, plus_and_percent_2b)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    cr_assert_eq(
        parse(GW_FORM_URLENCODED, "last_name=a+b%2Bc&email=x%2Btag%40ex.com&interests=c%2B%2B", &lc, &err),
        CRM_OK);
    cr_expect_str_eq(lc.last_name, "a b+c");
    cr_expect_str_eq(lc.email, "x+tag@ex.com");
    cr_expect_str_eq(lc.tags[0], "c++");
    gw_form_clear(&lc);
}

Test(gateway_form, repeated_keys_empty_fields_and_trim)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    cr_assert_eq(parse(GW_FORM_URLENCODED,
                       "email=&last_name=++&last_name=%20Smith%09&interests=a&interests=&interests=b&&x&"
                       "interests[]=c&first_name",
                       &lc, &err),
                 CRM_OK, "%s", err.message);
    cr_expect_null(lc.email, "an empty field is absent");
    cr_expect_null(lc.first_name);
    cr_expect_str_eq(lc.last_name, "Smith", "first non-empty value, trimmed");
    cr_assert_eq(lc.n_tags, 3);
    cr_expect_str_eq(lc.tags[0], "a");
    cr_expect_str_eq(lc.tags[1], "b");
    cr_expect_str_eq(lc.tags[2], "c");
    gw_form_clear(&lc);
}

Test(gateway_form, name_split)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    cr_assert_eq(parse(GW_FORM_URLENCODED, "name=Ada+King+Lovelace", &lc, &err), CRM_OK);
    cr_expect_str_eq(lc.first_name, "Ada King");
    cr_expect_str_eq(lc.last_name, "Lovelace");
    gw_form_clear(&lc);
    cr_assert_eq(parse(GW_FORM_URLENCODED, "full_name=Cher", &lc, &err), CRM_OK);
    cr_expect_null(lc.first_name);
    cr_expect_str_eq(lc.last_name, "Cher");
    gw_form_clear(&lc);
    /* given parts win over the split */
    cr_assert_eq(parse(GW_FORM_URLENCODED, "name=Ada+Lovelace&first_name=Augusta", &lc, &err), CRM_OK);
    cr_expect_str_eq(lc.first_name, "Augusta");
    cr_expect_str_eq(lc.last_name, "Lovelace");
    gw_form_clear(&lc);
    cr_assert_eq(parse(GW_FORM_JSON, "{\"name\": \"  Ada   Lovelace \", \"last_name\": \"King\"}", &lc, &err),
                 CRM_OK);
    cr_expect_str_eq(lc.first_name, "Ada");
    cr_expect_str_eq(lc.last_name, "King");
    gw_form_clear(&lc);
}

Test(gateway_form, contact_rules)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    FAIL_U("first_name=Ada&message=hi", CRM_EINVALID, "/last_name", "missing");
    FAIL_U("", CRM_EINVALID, "/last_name", "missing");
    FAIL_J("{}", CRM_EINVALID, "/last_name", "missing");
    FAIL_J("{\"last_name\": \"\", \"email\": \"  \", \"phone\": null}", CRM_EINVALID, "/last_name",
           "missing");
    /* the message says what is missing */
    Crm__LeadCaptured tmp = CRM__LEAD_CAPTURED__INIT;
    cr_expect_eq(gw_form_parse(GW_FORM_URLENCODED, "fname=x", 7, &tmp, &err), CRM_EINVALID);
    cr_expect(strstr(err.message, "last name") && strstr(err.message, "organization") &&
              strstr(err.message, "e-mail") && strstr(err.message, "phone"));

    /* organization alone is enough and no last name is invented */
    cr_assert_eq(parse(GW_FORM_URLENCODED, "company=Acme", &lc, &err), CRM_OK);
    cr_expect_null(lc.last_name);
    gw_form_clear(&lc);
    /* e-mail alone: last name from its local part */
    cr_assert_eq(parse(GW_FORM_URLENCODED, "email=jane.doe%40acme.io&phone=123", &lc, &err), CRM_OK);
    cr_expect_str_eq(lc.last_name, "jane.doe");
    cr_expect_str_eq(lc.phone, "123");
    gw_form_clear(&lc);
    /* phone alone: last name from the phone */
    cr_assert_eq(parse(GW_FORM_JSON, "{\"phone\": \"+1 555 0100\"}", &lc, &err), CRM_OK);
    cr_expect_str_eq(lc.last_name, "+1 555 0100");
    gw_form_clear(&lc);
}

Test(gateway_form, email_validation)
{
    const char *bad[] = {"plainaddress", "a@b",     "@b.co",   "a@",      "a@@b.co", "a@b@c.co",
                         "a b@c.co",     "a@b .co", "a@.b.co", "a@b.co.", "a@b..co", "a\t@b.co"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_not(gw_form_email_ok(bad[i]), "%s", bad[i]);
        char body[128];
        snprintf(body, sizeof body, "{\"email\": \"%s\", \"last_name\": \"X\"}", bad[i]);
        if (strchr(bad[i], '\t'))
            continue; /* a raw tab is not valid inside a JSON string */
        FAIL_J(body, CRM_EINVALID, "/email", "incorrect_value");
    }
    FAIL_U("email=a%0D%0A%40b.co&last_name=x", CRM_EINVALID, "/email", "incorrect_value");
    FAIL_U("email=a%01%40b.co&last_name=x", CRM_EINVALID, "/email", "incorrect_value");
    const char *good[] = {"a@b.co", "first.last+tag@sub.example.org", "ü@exämple.de", "x_y@a-b.c"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(gw_form_email_ok(good[i]), "%s", good[i]);
    /* 254 bytes is the limit */
    char addr[300];
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 254 - 6, "@b.com", 7);
    cr_expect(gw_form_email_ok(addr));
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 255 - 6, "@b.com", 7);
    cr_expect_not(gw_form_email_ok(addr));
    cr_expect_not(gw_form_email_ok(NULL));
    cr_expect_not(gw_form_email_ok(""));
}

Test(gateway_form, json_values)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    cr_assert_eq(
        parse(GW_FORM_JSON,
              "{\"Phone\": 919876543210, \"last_name\": \"O'Brien\", \"interests\": [\"a\", 7, null],"
              " \"utm_source\": {\"deep\": [1, 2]}, \"consent\": true, \"page\": null,"
              " \"title\": 2.5, \"company\": 1e3, \"description\": \"line\\r\\nnext\"}",
              &lc, &err),
        CRM_OK, "%s %s", err.field, err.message);
    cr_expect_str_eq(lc.phone, "919876543210", "never a float");
    cr_expect_str_eq(lc.last_name, "O'Brien");
    cr_assert_eq(lc.n_tags, 2);
    cr_expect_str_eq(lc.tags[1], "7");
    cr_expect_str_eq(lc.title, "2.5");
    cr_expect_str_eq(lc.organization_name, "1000");
    cr_expect_str_eq(lc.description, "line\r\nnext");
    gw_form_clear(&lc);
    cr_assert_eq(parse(GW_FORM_JSON, "{\"email\": \"a@b.co\", \"interests\": \"single\"}", &lc, &err),
                 CRM_OK);
    cr_assert_eq(lc.n_tags, 1);
    cr_expect_str_eq(lc.tags[0], "single");
    gw_form_clear(&lc);

    FAIL_J("{\"email\": {\"a\": 1}}", CRM_EINVALID, "/email", "invalid_type");
    FAIL_J("{\"last_name\": [\"x\"]}", CRM_EINVALID, "/last_name", "invalid_type");
    FAIL_J("{\"last_name\": \"x\", \"phone\": true}", CRM_EINVALID, "/phone", "invalid_type");
    FAIL_J("{\"last_name\": \"x\", \"interests\": [\"a\", {}]}", CRM_EINVALID, "/interests/1",
           "invalid_type");
    FAIL_J("{\"last_name\": \"x\", \"interests\": [[\"a\"]]}", CRM_EINVALID, "/interests/0", "invalid_type");
    FAIL_J("{\"Work_Email\": []}", CRM_EINVALID, "/Work_Email", "invalid_type");
}

Test(gateway_form, malformed_bodies_are_400)
{
    FAIL_J("{\"last_name\": \"x\"", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("[{\"last_name\": \"x\"}]", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("\"x\"", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("null", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("{\"last_name\": \"x\", \"last_name\": \"y\"}", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("{\"a\": 1, \"a\": 1, \"last_name\": \"y\"}", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("{\"last_name\": \"a\\u0000b\"}", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("{\"last_name\": \"\xff\"}", CRM_EBADREQUEST, NULL, NULL);
    FAIL_J("{\"last_name\": \"\xed\xa0\x80\"}", CRM_EBADREQUEST, NULL, NULL); /* a surrogate */
    FAIL_J("{\"last_name\": \"x\"} trailing", CRM_EBADREQUEST, NULL, NULL);
    FAIL_U("last_name=%", CRM_EBADREQUEST, NULL, NULL);
    FAIL_U("last_name=%4", CRM_EBADREQUEST, NULL, NULL);
    FAIL_U("last_name=%zz", CRM_EBADREQUEST, NULL, NULL);
    FAIL_U("last_name=a%00b", CRM_EBADREQUEST, NULL, NULL);
    FAIL_U("last_name=%C3%28", CRM_EBADREQUEST, NULL, NULL);   /* invalid UTF-8 after decoding */
    FAIL_U("last_name=\xc3\x28", CRM_EBADREQUEST, NULL, NULL); /* raw invalid UTF-8 */
    FAIL_U("bad%zzkey=1&last_name=x", CRM_EBADREQUEST, NULL, NULL);
    FAIL_U("ignored=%ff&last_name=x", CRM_EBADREQUEST, NULL, NULL); /* even in an ignored field */
    FAIL_U("last_name=%C0%80", CRM_EBADREQUEST, NULL, NULL);        /* overlong NUL */
    /* a NUL byte in the raw body */
    expect_fail(GW_FORM_URLENCODED, "last_name=a\0b", 13, CRM_EBADREQUEST, NULL, NULL);
    expect_fail(GW_FORM_JSON, "{\"last_name\":\"a\0\"}", 18, CRM_EBADREQUEST, NULL, NULL);
    /* multipart is not parsed here (the gateway answers 415 first) */
    expect_fail(GW_FORM_MULTIPART, "x", 1, CRM_EBADREQUEST, NULL, NULL);
    expect_fail(GW_FORM_UNSUPPORTED, "x", 1, CRM_EBADREQUEST, NULL, NULL);
}

static char *nested_json(size_t depth)
{
    char *s = malloc(depth * 6 + 64);
    size_t o = (size_t)sprintf(s, "{\"last_name\": \"x\", \"ctx\": ");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(s + o, "{\"a\":");
    s[o++] = '1';
    for (size_t i = 0; i < depth; i++)
        s[o++] = '}';
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

Test(gateway_form, deep_nesting)
{
    char *deep = nested_json(10000);
    expect_fail(GW_FORM_JSON, deep, strlen(deep), CRM_EBADREQUEST, NULL, NULL);
    free(deep);
    char *ok = nested_json(2000); /* within the 2048 limit, in an ignored key */
    Crm__LeadCaptured lc = CRM__LEAD_CAPTURED__INIT;
    crm_err_t err;
    cr_expect_eq(gw_form_parse(GW_FORM_JSON, ok, strlen(ok), &lc, &err), CRM_OK);
    cr_expect_str_eq(lc.last_name, "x");
    gw_form_clear(&lc);
    free(ok);
    char *arrays = malloc(20000 + 64);
    size_t o = (size_t)sprintf(arrays, "{\"interests\": ");
    memset(arrays + o, '[', 10000);
    o += 10000;
    memset(arrays + o, ']', 10000);
    o += 10000;
    strcpy(arrays + o, "}");
    expect_fail(GW_FORM_JSON, arrays, strlen(arrays), CRM_EBADREQUEST, NULL, NULL);
    free(arrays);
}

Test(gateway_form, verbatim_and_big_values)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    /* SQL and HTML metacharacters are stored verbatim */
    cr_assert_eq(
        parse(GW_FORM_URLENCODED,
              "last_name=Robert%27%29%3B+DROP+TABLE+leads%3B--&message=%3Cscript%3E%22x%22%3C%2Fscript%3E"
              "&company=a%5C%25_b",
              &lc, &err),
        CRM_OK);
    cr_expect_str_eq(lc.last_name, "Robert'); DROP TABLE leads;--");
    cr_expect_str_eq(lc.description, "<script>\"x\"</script>");
    cr_expect_str_eq(lc.organization_name, "a\\%_b");
    gw_form_clear(&lc);

    /* a 1 MiB field */
    size_t big = 1 << 20;
    char *body = malloc(big + 64);
    size_t o = (size_t)sprintf(body, "last_name=x&message=");
    memset(body + o, 'm', big);
    body[o + big] = '\0';
    cr_assert_eq(parse(GW_FORM_URLENCODED, body, &lc, &err), CRM_OK);
    cr_expect_eq(strlen(lc.description), big);
    gw_form_clear(&lc);
    /* and the same as JSON */
    o = (size_t)sprintf(body, "{\"last_name\": \"");
    memset(body + o, 'n', big);
    strcpy(body + o + big, "\"}");
    cr_assert_eq(parse(GW_FORM_JSON, body, &lc, &err), CRM_OK);
    cr_expect_eq(strlen(lc.last_name), big);
    gw_form_clear(&lc);
    free(body);

    /* many repeated keys */
    size_t n = 5000;
    char *many = malloc(n * 20 + 32);
    o = (size_t)sprintf(many, "email=a%%40b.co");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(many + o, "&interests=%zu", i);
    cr_assert_eq(parse(GW_FORM_URLENCODED, many, &lc, &err), CRM_OK);
    cr_assert_eq(lc.n_tags, n);
    cr_expect_str_eq(lc.tags[4999], "4999");
    gw_form_clear(&lc);
    free(many);
}

Test(gateway_form, unicode_kept)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    cr_assert_eq(parse(GW_FORM_URLENCODED, "last_name=%C3%85str%C3%B6m&first_name=\xe6\x9d\x8e", &lc, &err),
                 CRM_OK);
    cr_expect_str_eq(lc.last_name, "Åström");
    cr_expect_str_eq(lc.first_name, "李");
    gw_form_clear(&lc);
}

Test(gateway_form, heap_message_freed_by_free_unpacked)
{
    Crm__LeadCaptured *lc = malloc(sizeof *lc);
    crm__lead_captured__init(lc);
    crm_err_t err;
    const char *body = "name=A+B&email=a%40b.co&interests=x&interests=y";
    cr_assert_eq(gw_form_parse(GW_FORM_URLENCODED, body, strlen(body), lc, &err), CRM_OK);
    lc->source = strdup("website");
    crm__lead_captured__free_unpacked(lc, NULL); /* ASan would report a leak or a bad free */
}

Test(gateway_form, capture_context)
{
    Crm__LeadCaptured lc;
    crm_err_t err;
    /* urlencoded: utm_* (any case), page, referrer kept verbatim (trimmed), the first one wins;
     * other unknown keys stay ignored; an empty one is absent. */
    cr_assert_eq(parse(GW_FORM_URLENCODED,
                       "email=c%40example.com&UTM_Source=news+letter&utm_campaign=q4&utm_campaign=later"
                       "&page=%2Fpricing%3Fa%3D1&referrer=&consent=yes&utm_=x",
                       &lc, &err),
                 CRM_OK, "%s", err.message);
    cr_expect_str_eq(lc.context_json,
                     "{\"UTM_Source\":\"news letter\",\"page\":\"/pricing?a=1\",\"utm_campaign\":\"q4\"}");
    gw_form_clear(&lc);
    cr_expect_null(lc.context_json);
    /* JSON: strings and numbers kept, objects and arrays ignored; SQL metacharacters are data. */
    cr_assert_eq(
        parse(GW_FORM_JSON,
              "{\"email\":\"j@example.com\",\"utm_term\":\"x'; DROP TABLE leads;--\",\"gclid\":12345,"
              "\"utm_source\":{\"deep\":1},\"page\":[\"a\"]}",
              &lc, &err),
        CRM_OK, "%s", err.message);
    cr_expect_str_eq(lc.context_json, "{\"gclid\":\"12345\",\"utm_term\":\"x'; DROP TABLE leads;--\"}");
    gw_form_clear(&lc);
    /* no context: NULL, not "{}" */
    cr_assert_eq(parse(GW_FORM_URLENCODED, "email=n%40example.com", &lc, &err), CRM_OK);
    cr_expect_null(lc.context_json);
    gw_form_clear(&lc);
    /* a refused body keeps nothing (and leaks nothing: ASan) */
    FAIL_U("utm_source=a&first_name=only", CRM_EINVALID, "/last_name", "missing");
}

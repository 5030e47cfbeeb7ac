/* Unit tests of util.c and err.c: ids, tokens, hashing, comparison, time and parsing. */
#include <criterion/criterion.h>
#include <string.h>
#include <ctype.h>
#include "crm/util.h"
#include "crm/err.h"

Test(util, uuid7_format_and_order)
{
    char a[37], b[37];
    crm_uuid7(a);
    crm_sleep_ms(2);
    crm_uuid7(b);
    cr_assert_eq(strlen(a), 36);
    cr_assert_eq(a[8], '-');
    cr_assert_eq(a[13], '-');
    cr_assert_eq(a[14], '7', "version nibble: %s", a);
    cr_assert(strchr("89ab", a[19]) != NULL, "variant: %s", a);
    cr_assert_lt(strcmp(a, b), 0, "time-ordered: %s < %s", a, b);
    cr_assert_neq(strcmp(a, b), 0);
}

Test(util, uuid7_unique)
{
    char ids[200][37];
    for (int i = 0; i < 200; i++)
        crm_uuid7(ids[i]);
    for (int i = 0; i < 200; i++)
        for (int j = i + 1; j < 200; j++)
            cr_assert_neq(strcmp(ids[i], ids[j]), 0);
}

Test(util, token)
{
    char t1[65], t2[65];
    cr_assert_eq(crm_token_generate(t1), 0);
    cr_assert_eq(crm_token_generate(t2), 0);
    cr_assert_eq(strlen(t1), 64);
    for (int i = 0; i < 64; i++)
        cr_assert(isxdigit((unsigned char)t1[i]) && !isupper((unsigned char)t1[i]));
    cr_assert_neq(strcmp(t1, t2), 0);
}

Test(util, sha256_known_vectors)
{
    char out[65];
    crm_sha256_hex("abc", 3, out);
    cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crm_sha256_hex("", 0, out);
    cr_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(util, hex)
{
    unsigned char in[] = {0x00, 0xff, 0x1a};
    char out[7];
    crm_hex_encode(in, 3, out);
    cr_assert_str_eq(out, "00ff1a");
}

Test(util, ct_equal)
{
    cr_assert(crm_ct_equal("abc", 3, "abc", 3));
    cr_assert_not(crm_ct_equal("abc", 3, "abd", 3));
    cr_assert_not(crm_ct_equal("abc", 3, "abcd", 4));
    cr_assert(crm_ct_equal("", 0, "", 0));
}

Test(util, time_format)
{
    char out[32];
    crm_time_format(1496600933000000LL, out);
    cr_assert_str_eq(out, "2017-06-04T18:28:53Z");
    crm_time_format(0, out);
    cr_assert_str_eq(out, "1970-01-01T00:00:00Z");
}

Test(util, clocks)
{
    int64_t m0 = crm_mono_us();
    crm_sleep_ms(20);
    int64_t m1 = crm_mono_us();
    cr_assert_geq(m1 - m0, 19000);
    cr_assert_gt(crm_now_us(), 1600000000000000LL);
    cr_assert_gt(crm_now_ms(), 1600000000000LL);
}

Test(util, parse_i64)
{
    int64_t v = 0;
    cr_assert(crm_parse_i64("42", &v));
    cr_assert_eq(v, 42);
    cr_assert(crm_parse_i64("-9223372036854775808", &v));
    cr_assert_eq(v, INT64_MIN);
    cr_assert_not(crm_parse_i64("9223372036854775808", &v));
    cr_assert_not(crm_parse_i64("", &v));
    cr_assert_not(crm_parse_i64(NULL, &v));
    cr_assert_not(crm_parse_i64("12a", &v));
    cr_assert_not(crm_parse_i64(" 12", &v));
    cr_assert_not(crm_parse_i64("-", &v));
}

Test(util, strdup_null)
{
    cr_assert_null(crm_strdup(NULL));
    char *s = crm_strdup("x");
    cr_assert_str_eq(s, "x");
    free(s);
}

Test(err, set_and_clear)
{
    crm_err_t e;
    int rc = crm_err_set(&e, CRM_EINVALID, "/last_name", "missing", "last_name is %s", "required");
    cr_assert_eq(rc, CRM_EINVALID);
    cr_assert_eq(e.code, CRM_EINVALID);
    cr_assert_str_eq(e.field, "/last_name");
    cr_assert_str_eq(e.reason, "missing");
    cr_assert_str_eq(e.message, "last_name is required");
    cr_assert_not(crm_err_is_transient(&e));
    crm_err_set(&e, CRM_EUNAVAILABLE, NULL, NULL, "down");
    cr_assert_str_eq(e.field, "");
    cr_assert(crm_err_is_transient(&e));
    crm_err_clear(&e);
    cr_assert_eq(e.code, CRM_OK);
    cr_assert_str_eq(e.message, "");
    cr_assert_eq(crm_err_set(NULL, CRM_ENOTFOUND, NULL, NULL, "x"), CRM_ENOTFOUND);
    cr_assert_str_eq(crm_code_name(CRM_ENOTFOUND), "NOT_FOUND");
    cr_assert_str_eq(crm_code_name(CRM_EBADREQUEST), "BAD_REQUEST");
}

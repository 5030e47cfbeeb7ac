/* Unit tests of services/gateway/sell.c: the Sell envelopes, error bodies and status mapping
 * exactly as SELL_API.md §2–§4 describe them. */
#include <criterion/criterion.h>
#include <string.h>
#include "sell.h"

static json_t *reparse(const gw_response_t *resp)
{
    json_error_t e;
    json_t *j = json_loadb(resp->body, resp->len, 0, &e);
    cr_assert_not_null(j, "response is not JSON: %s", e.text);
    return j;
}

Test(gateway_sell, single_envelope)
{
    json_t *j = gw_sell_single(json_pack("{s:I,s:s}", "id", (json_int_t)7, "last_name", "Doe"), "lead");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "data"), "id")), 7);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "meta"), "type")), "lead");
    cr_assert_null(json_object_get(j, "items"), "a single reply must not carry items");
    json_decref(j);
}

Test(gateway_sell, collection_envelope_with_links)
{
    json_t *items = json_pack("[{s:i},{s:i}]", "id", 1, "id", 2);
    gw_links_t links = {0};
    links.self = strdup("http://h/v2/leads?page=2&per_page=2");
    links.first_page = strdup("http://h/v2/leads?page=1&per_page=2");
    links.prev_page = strdup("http://h/v2/leads?page=1&per_page=2");
    json_t *j = gw_sell_collection(items, "lead", &links);
    gw_links_clear(&links);
    json_t *arr = json_object_get(j, "items");
    cr_assert_eq(json_array_size(arr), 2);
    json_t *first = json_array_get(arr, 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(first, "data"), "id")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(first, "meta"), "type")), "lead");
    json_t *meta = json_object_get(j, "meta");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "type")), "collection");
    cr_assert_eq(json_integer_value(json_object_get(meta, "count")), 2);
    json_t *jl = json_object_get(meta, "links");
    cr_assert_str_eq(json_string_value(json_object_get(jl, "self")), "http://h/v2/leads?page=2&per_page=2");
    cr_assert_not_null(json_object_get(jl, "prev_page"));
    cr_assert_null(json_object_get(jl, "next_page"), "next_page only when there is more");
    json_decref(j);
}

Test(gateway_sell, empty_collection)
{
    json_t *j = gw_sell_collection(json_array(), "user", NULL);
    cr_assert_eq(json_array_size(json_object_get(j, "items")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "meta"), "count")), 0);
    cr_assert(json_is_object(json_object_get(json_object_get(j, "meta"), "links")));
    json_decref(j);
}

Test(gateway_sell, error_body_shape)
{
    gw_response_t resp = {0};
    gw_respond_error(&resp, 422, "missing", "last_name is required", "lead", "/last_name", "req-1");
    cr_assert_eq(resp.status, 422);
    cr_assert_str_eq(resp.ctype, "application/json; charset=utf-8");
    json_t *j = reparse(&resp);
    json_t *errors = json_object_get(j, "errors");
    cr_assert_eq(json_array_size(errors), 1);
    json_t *e0 = json_array_get(errors, 0);
    json_t *error = json_object_get(e0, "error");
    cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "missing");
    cr_assert_str_eq(json_string_value(json_object_get(error, "details")), "last_name is required");
    cr_assert_str_eq(json_string_value(json_object_get(error, "resource")), "lead");
    cr_assert_str_eq(json_string_value(json_object_get(error, "field")), "/last_name");
    cr_assert(json_is_string(json_object_get(error, "message")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e0, "meta"), "type")), "error");
    cr_assert(json_is_object(json_object_get(json_object_get(e0, "meta"), "links")));
    json_t *meta = json_object_get(j, "meta");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "type")), "errors");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "http_status")), "422 Unprocessable Entity");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "logref")), "req-1");
    cr_assert(json_is_object(json_object_get(meta, "links")));
    json_decref(j);
    gw_response_clear(&resp);
}

Test(gateway_sell, non_resource_errors_have_no_field)
{
    crm_err_t err;
    crm_err_set(&err, CRM_ENOTFOUND, "/id", "not_found", "no such lead");
    gw_response_t resp = {0};
    gw_respond_err(&resp, &err, "lead", "abc");
    cr_assert_eq(resp.status, 404);
    json_t *j = reparse(&resp);
    json_t *error = json_object_get(json_array_get(json_object_get(j, "errors"), 0), "error");
    cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "not_found");
    cr_assert_null(json_object_get(error, "field"));
    cr_assert_null(json_object_get(error, "resource"));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "meta"), "http_status")),
                     "404 Not Found");
    json_decref(j);
    gw_response_clear(&resp);
}

Test(gateway_sell, logref_never_empty)
{
    json_t *j = gw_sell_error_body(500, "server_error", NULL, NULL, NULL, NULL, "");
    cr_assert_gt(strlen(json_string_value(json_object_get(json_object_get(j, "meta"), "logref"))), 0);
    json_decref(j);
}

Test(gateway_sell, status_mapping)
{
    static const struct {
        int code;
        const char *reason;
        int status;
        const char *sell;
    } cases[] = {
        {CRM_OK, "", 200, ""},
        {CRM_EINVALID, "missing", 422, "missing"},
        {CRM_EINVALID, "blank", 422, "blank"},
        {CRM_EINVALID, "invalid_type", 422, "invalid_type"},
        {CRM_EINVALID, "unknown", 422, "unknown"},
        {CRM_EINVALID, "already_exists", 422, "already_exists"},
        {CRM_EINVALID, "weird", 422, "incorrect_value"},
        {CRM_ENOTFOUND, "", 404, "not_found"},
        {CRM_ECONFLICT, "", 409, "conflict"},
        {CRM_EFORBIDDEN, "", 403, "forbidden"},
        {CRM_EUNAVAILABLE, "", 503, "temporarily_unavailable"},
        {CRM_EINTERNAL, "", 500, "server_error"},
        {CRM_EBADREQUEST, "invalid_param", 400, "invalid_param"},
        {CRM_EBADREQUEST, "", 400, "invalid_param"},
        {CRM_EBADREQUEST, "invalid_payload", 400, "invalid_payload"},
        {42, "", 500, "server_error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        crm_err_t err;
        crm_err_set(&err, cases[i].code, NULL, cases[i].reason, "x");
        const char *code = NULL;
        int status = gw_sell_status(&err, &code);
        cr_assert_eq(status, cases[i].status, "case %zu: %d", i, status);
        cr_assert_str_eq(code, cases[i].sell, "case %zu", i);
    }
}

Test(gateway_sell, no_content)
{
    gw_response_t resp = {0};
    gw_respond_json(&resp, 200, json_object());
    gw_respond_no_content(&resp);
    cr_assert_eq(resp.status, 204);
    cr_assert_null(resp.body);
    cr_assert_null(resp.ctype);
}

Test(gateway_sell, request_ids)
{
    cr_assert(gw_request_id_ok("abc-DEF_123"));
    cr_assert(gw_request_id_ok("0190a8b2-7c1e-7def-8abc-0123456789ab"));
    char max[65];
    memset(max, 'a', 64);
    max[64] = '\0';
    cr_assert(gw_request_id_ok(max));
    char over[66];
    memset(over, 'a', 65);
    over[65] = '\0';
    cr_assert_not(gw_request_id_ok(over));
    cr_assert_not(gw_request_id_ok(""));
    cr_assert_not(gw_request_id_ok(NULL));
    cr_assert_not(gw_request_id_ok("a b"));
    cr_assert_not(gw_request_id_ok("a\"b"));
    cr_assert_not(gw_request_id_ok("x\ny"));
}

Test(gateway_sell, invalid_utf8_is_still_reported)
{
    json_t *j = gw_json_text("bad \xff key \xc3\xa9 \xe2\x82");
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(j), "bad ? key \xc3\xa9 ??");
    json_decref(j);
    gw_response_t resp = {0};
    gw_respond_error(&resp, 400, "invalid_param", "unknown query parameter: \xff", NULL, NULL, "r");
    cr_assert(strstr(resp.body, "unknown query parameter: ?"), "%s", resp.body);
    gw_response_clear(&resp);
}

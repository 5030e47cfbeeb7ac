/* Tests of the pure parts of services/gateway/stream and sync: the `previous` diff of two
 * record states, firehose positions, and sync ack keys. */
#include <criterion/criterion.h>
#include <string.h>

#include "stream.h"

static json_t *diff(const char *old, const char *new_)
{
    json_t *o = json_loads(old, 0, NULL), *n = json_loads(new_, 0, NULL);
    cr_assert(o && n);
    json_t *p = gw_stream_previous(o, n);
    json_decref(o);
    json_decref(n);
    return p;
}

Test(stream, previous_holds_old_values_of_changed_fields_only)
{
    json_t *p = diff(
        "{\"id\":1,\"first_name\":\"Ann\",\"status\":\"New\",\"tags\":[\"a\"],\"address\":{\"city\":\"X\"}}",
        "{\"id\":1,\"first_name\":\"Ann\",\"status\":\"Working\",\"tags\":[\"a\",\"b\"],"
        "\"address\":{\"city\":\"X\"}}");
    cr_expect_eq(json_object_size(p), 2);
    cr_expect_str_eq(json_string_value(json_object_get(p, "status")), "New");
    cr_expect_eq(json_array_size(json_object_get(p, "tags")), 1);
    cr_expect_null(json_object_get(p, "first_name"));
    cr_expect_null(json_object_get(p, "address"));
    json_decref(p);
}

Test(stream, previous_of_a_field_set_or_cleared)
{
    json_t *p =
        diff("{\"id\":1,\"email\":null,\"phone\":\"1\"}", "{\"id\":1,\"email\":\"a@b\",\"phone\":null}");
    cr_expect(json_is_null(json_object_get(p, "email")), "was null");
    cr_expect_str_eq(json_string_value(json_object_get(p, "phone")), "1");
    json_decref(p);
    /* a key missing on one side counts as null */
    p = diff("{\"id\":1,\"x\":5}", "{\"id\":1,\"y\":null}");
    cr_expect_eq(json_integer_value(json_object_get(p, "x")), 5);
    cr_expect_null(json_object_get(p, "y"));
    json_decref(p);
}

Test(stream, previous_is_empty_without_change)
{
    json_t *p = diff("{\"id\":1,\"a\":{\"b\":[1,2]}}", "{\"a\":{\"b\":[1,2]},\"id\":1}");
    cr_expect_eq(json_object_size(p), 0);
    json_decref(p);
}

Test(stream, positions)
{
    int64_t after = -1;
    bool top = true;
    cr_expect(gw_stream_parse_position("tail", &after, &top));
    cr_expect_eq(after, 0);
    cr_expect_not(top);
    cr_expect(gw_stream_parse_position("top", &after, &top));
    cr_expect(top);
    cr_expect(gw_stream_parse_position("0", &after, &top));
    cr_expect_eq(after, 0);
    cr_expect(gw_stream_parse_position("1234", &after, &top));
    cr_expect_eq(after, 1234);
    const char *bad[] = {"", "-1", "+3", "abc", "12a", "1.5", " 1", "TOP", "1234567890123456789012", NULL};
    for (int i = 0; bad[i]; i++)
        cr_expect_not(gw_stream_parse_position(bad[i], &after, &top), "accepted [%s]", bad[i]);
    cr_expect_not(gw_stream_parse_position(NULL, &after, &top));
}

Test(sync, ack_keys_round_trip)
{
    char key[64], res[16];
    int64_t id = 0;
    int rev = 0;
    gw_sync_ack_key("lead", 1234, 3, key);
    cr_expect_str_eq(key, "Lead-1234-3");
    cr_expect(gw_sync_parse_ack_key(key, res, &id, &rev));
    cr_expect_str_eq(res, "lead");
    cr_expect_eq(id, 1234);
    cr_expect_eq(rev, 3);
    gw_sync_ack_key("deal", 7, 1, key);
    cr_expect_str_eq(key, "Deal-7-1");
    cr_expect(gw_sync_parse_ack_key("Contact-9-12", res, &id, &rev));
    cr_expect_str_eq(res, "contact");
}

Test(sync, bad_ack_keys)
{
    char res[16];
    int64_t id;
    int rev;
    const char *bad[] = {"",
                         "Lead",
                         "Lead-1",
                         "Lead-1-",
                         "Lead--1",
                         "Lead-0-1",
                         "Lead-1-0",
                         "lead-1-1",
                         "Spaceship-1-1",
                         "Lead-1-1-1",
                         "Lead-a-1",
                         "Lead-1-b",
                         "Lead-1-1 ",
                         "Lead-99999999999999999999-1",
                         "Lead-1-9999999999",
                         NULL};
    for (int i = 0; bad[i]; i++)
        cr_expect_not(gw_sync_parse_ack_key(bad[i], res, &id, &rev), "accepted [%s]", bad[i]);
    cr_expect_not(gw_sync_parse_ack_key(NULL, res, &id, &rev));
}

/* examples/subscriber (SPEC G4) on a real stack: crm-subscriber catches up from its stored offset
 * with events.replay, prints each deal.stage_changed as a JSON line, follows live events, and on
 * the next start prints only what came after the stored offset. */
#include <unistd.h>

#include "notify_support.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(notify_subscriber, .fini = stop_stack, .timeout = 600);

static FILE *run_subscriber(const char *offset_file, int idle_ms)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "'%s/examples/crm-subscriber' --config '%s' --offset-file '%s' --exit-idle-ms %d", CRM_BUILD_DIR,
             harness_config_path(h), offset_file, idle_ms);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f, "%s", cmd);
    return f;
}

/* Reads one JSON line and checks it is the stage change of deal_id. */
static void expect_line(FILE *f, long long deal_id)
{
    char line[8192];
    cr_assert_not_null(fgets(line, sizeof line, f), "a line for deal %lld", deal_id);
    json_t *j = json_loads(line, 0, NULL);
    cr_assert_not_null(j, "JSON: %s", line);
    cr_expect_str_eq(json_string_value(json_object_get(j, "type")) ?: "", "deal.stage_changed", "%s", line);
    cr_expect_str_eq(json_string_value(json_object_get(j, "producer")) ?: "", "deals", "%s", line);
    cr_expect(json_is_string(json_object_get(j, "event_id")), "%s", line);
    cr_expect(json_integer_value(json_object_get(j, "seq")) > 0, "%s", line);
    json_t *data = json_object_get(j, "data");
    cr_expect_eq(json_integer_value(json_object_get(data, "deal_id")), deal_id, "%s", line);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(data, "deal"), "id")), deal_id, "%s",
                 line);
    cr_expect(json_is_string(json_object_get(data, "stage_name")), "%s", line);
    json_decref(j);
}

Test(notify_subscriber, catches_up_follows_and_resumes)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    char offset_file[512];
    snprintf(offset_file, sizeof offset_file, "%s/subscriber.offset", harness_dir(h));

    ns_stage_changed(h, 801, 0, "One", "A", "B");
    ns_stage_changed(h, 802, 0, "Two", "B", "C");
    cr_assert(ns_wait_sql(h, 30000, "SELECT count(*) FROM deals.outbox WHERE seq IS NOT NULL", 2),
              "published");

    FILE *f = run_subscriber(offset_file, harness_ms(6000));
    expect_line(f, 801); /* catch-up from offset 0 */
    expect_line(f, 802);
    ns_stage_changed(h, 803, 0, "Three", "C", "D");
    expect_line(f, 803); /* live */
    char line[256];
    cr_expect_null(fgets(line, sizeof line, f), "nothing more: %s", line);
    cr_expect_eq(pclose(f), 0);
    FILE *o = fopen(offset_file, "r");
    unsigned long long off = 0;
    cr_assert_not_null(o);
    cr_expect_eq(fscanf(o, "%llu", &off), 1);
    fclose(o);
    cr_expect_eq(off, 3, "offset stored");

    /* Next start: only what came after the stored offset. */
    ns_stage_changed(h, 804, 0, "Four", "D", "E");
    cr_assert(ns_wait_sql(h, 30000, "SELECT count(*) FROM deals.outbox WHERE seq IS NOT NULL", 4),
              "published");
    f = run_subscriber(offset_file, harness_ms(2000));
    expect_line(f, 804);
    cr_expect_null(fgets(line, sizeof line, f), "nothing else: %s", line);
    cr_expect_eq(pclose(f), 0);
}

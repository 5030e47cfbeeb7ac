/* Unit tests of services/gateway/ratelimit.c: burst, refill, Retry-After, per-key buckets,
 * many keys (eviction) and off. */
#include <criterion/criterion.h>
#include <stdio.h>
#include "ratelimit.h"

Test(ratelimit, burst_refill_and_retry_after)
{
    gw_ratelimit_t *rl = gw_ratelimit_new(2, 3);
    cr_assert_not_null(rl);
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        cr_expect_eq(gw_ratelimit_take(rl, "a", t), 0, "burst request %d", i);
    int wait = gw_ratelimit_take(rl, "a", t);
    cr_expect_eq(wait, 1, "half a second to the next token rounds up to 1 s, got %d", wait);
    cr_expect_eq(gw_ratelimit_take(rl, "b", t), 0, "another key has its own bucket");
    cr_expect_eq(gw_ratelimit_take(rl, "a", t + 500000), 0, "one token after 0.5 s at 2/s");
    cr_expect_neq(gw_ratelimit_take(rl, "a", t + 500000), 0);
    cr_expect_eq(gw_ratelimit_take(rl, "a", t + 100000000), 0, "refilled");
    gw_ratelimit_destroy(&rl);
    cr_expect_null(rl);
}

Test(ratelimit, slow_rate_waits_longer)
{
    gw_ratelimit_t *rl = gw_ratelimit_new(0.1, 1);
    cr_assert_not_null(rl);
    cr_expect_eq(gw_ratelimit_take(rl, "k", 0), 0);
    cr_expect_eq(gw_ratelimit_take(rl, "k", 0), 10, "one token per 10 s");
    gw_ratelimit_destroy(&rl);
}

Test(ratelimit, many_keys_and_off)
{
    gw_ratelimit_t *rl = gw_ratelimit_new(1, 1);
    char key[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "token-%d", i);
        cr_assert_eq(gw_ratelimit_take(rl, key, i), 0, "a new key starts with a full bucket");
    }
    gw_ratelimit_destroy(&rl);
    cr_expect_null(gw_ratelimit_new(0, 10), "per_second 0: off");
    cr_expect_eq(gw_ratelimit_take(NULL, "x", 0), 0);
}

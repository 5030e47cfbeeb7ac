/* Per-API-token rate limit (token bucket): each token may spend `burst` requests at once and
 * gets `per_second` back every second. A fixed table of buckets keyed by the token's hash;
 * thread-safe (one mutex per shard). */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdint.h>

typedef struct gw_ratelimit_t gw_ratelimit_t;

/* NULL when per_second ≤ 0 (the limit is off). */
gw_ratelimit_t *gw_ratelimit_new(double per_second, double burst);
void gw_ratelimit_destroy(gw_ratelimit_t **self_p);

/* Takes one request for key at now_us (monotonic). 0 when allowed; otherwise the whole seconds
 * (≥ 1) after which one request will be allowed again (the Retry-After value). */
int gw_ratelimit_take(gw_ratelimit_t *self, const char *key, int64_t now_us);

#endif

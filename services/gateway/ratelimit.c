/* Token buckets per API token (see ratelimit.h). Keys are hashed (FNV-1a) into shards of open
 * addressing tables; a full table evicts the bucket that was idle longest in its probe window,
 * which at worst gives that token a fresh (full) bucket. */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16
#define SLOTS 1024 /* per shard */
#define PROBE 8

typedef struct {
    uint64_t hash; /* 0 = empty */
    double tokens;
    int64_t last_us;
} bucket_t;

typedef struct {
    pthread_mutex_t lock;
    bucket_t slots[SLOTS];
} shard_t;

struct gw_ratelimit_t {
    double rate;  /* tokens per second */
    double burst; /* bucket size */
    shard_t shards[SHARDS];
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

gw_ratelimit_t *gw_ratelimit_new(double per_second, double burst)
{
    if (!(per_second > 0))
        return NULL;
    gw_ratelimit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->rate = per_second;
    self->burst = burst >= 1 ? burst : (per_second >= 1 ? per_second : 1);
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&self->shards[i].lock, NULL);
    return self;
}

void gw_ratelimit_destroy(gw_ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&(*self_p)->shards[i].lock);
    free(*self_p);
    *self_p = NULL;
}

int gw_ratelimit_take(gw_ratelimit_t *self, const char *key, int64_t now_us)
{
    if (!self || !key)
        return 0;
    uint64_t h = fnv1a(key);
    shard_t *sh = &self->shards[h % SHARDS];
    pthread_mutex_lock(&sh->lock);
    size_t start = (size_t)((h / SHARDS) % SLOTS);
    bucket_t *b = NULL, *oldest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        bucket_t *s = &sh->slots[(start + i) % SLOTS];
        if (s->hash == h) {
            b = s;
            break;
        }
        if (!oldest || s->hash == 0 || (oldest->hash != 0 && s->last_us < oldest->last_us))
            if (!oldest || oldest->hash != 0)
                oldest = s;
    }
    if (!b) {
        b = oldest;
        b->hash = h;
        b->tokens = self->burst;
        b->last_us = now_us;
    }
    double elapsed = (double)(now_us - b->last_us) / 1e6;
    if (elapsed > 0) {
        b->tokens = fmin(self->burst, b->tokens + elapsed * self->rate);
        b->last_us = now_us;
    }
    int wait = 0;
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        double secs = (1 - b->tokens) / self->rate;
        wait = (int)ceil(secs);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&sh->lock);
    return wait;
}

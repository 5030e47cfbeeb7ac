/* Small shared helpers: clocks, ids, hashing, hex, token generation, string buffers. */
#ifndef CRM_UTIL_H
#define CRM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

int64_t crm_now_us(void);              /* wall clock, microseconds since the Unix epoch */
int64_t crm_now_ms(void);
int64_t crm_mono_us(void);             /* monotonic clock */
void crm_sleep_ms(long ms);
/* Formats microseconds since the epoch as "2017-06-04T18:28:53Z" (second precision, UTC). */
void crm_time_format(int64_t us, char out[32]);

/* A UUIDv7 in text form (36 chars + NUL). Time-ordered, random tail from getrandom(2). */
void crm_uuid7(char out[37]);
/* n random bytes from the kernel; 0 or -1. */
int crm_random_bytes(void *buf, size_t n);
/* An API token: 64 lower-case hex characters (32 random bytes) + NUL. */
int crm_token_generate(char out[65]);
/* Lower-case hex SHA-256 of data: 64 chars + NUL. */
void crm_sha256_hex(const void *data, size_t len, char out[65]);
void crm_hex_encode(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* Constant-time comparison of two byte strings (length leaks, content does not). */
bool crm_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* strdup that never returns NULL on a NULL input (returns NULL) and aborts on OOM. */
char *crm_strdup(const char *s);
/* Parses a whole base-10 int64 ("42"); false on junk, overflow or empty. */
bool crm_parse_i64(const char *s, int64_t *out);

#endif

/* Small shared helpers: clocks, UUIDv7, random tokens, SHA-256 (OpenSSL EVP), hex,
 * constant-time comparison and strict integer parsing. */
#include "crm/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

int64_t crm_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t crm_now_ms(void)
{
    return crm_now_us() / 1000;
}

int64_t crm_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void crm_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void crm_time_format(int64_t us, char out[32])
{
    time_t secs = (time_t)(us / 1000000);
    if (us < 0 && us % 1000000)
        secs -= 1;
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(out, 32, "1970-01-01T00:00:00Z");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int crm_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

void crm_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

void crm_uuid7(char out[37])
{
    unsigned char b[16];
    uint64_t ms = (uint64_t)crm_now_ms();
    if (crm_random_bytes(b + 6, 10) != 0) {
        /* getrandom does not fail on Linux ≥ 3.17 once seeded; fall back to the clock. */
        uint64_t x = (uint64_t)crm_mono_us() * 0x9E3779B97F4A7C15ull;
        for (int i = 6; i < 16; i++, x >>= 6)
            b[i] = (unsigned char)x;
    }
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */
    char hex[33];
    crm_hex_encode(b, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

int crm_token_generate(char out[65])
{
    unsigned char b[32];
    if (crm_random_bytes(b, sizeof b) != 0) {
        out[0] = '\0';
        return -1;
    }
    crm_hex_encode(b, sizeof b, out);
    OPENSSL_cleanse(b, sizeof b);
    return 0;
}

void crm_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    crm_hex_encode(md, 32, out);
}

bool crm_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    if (alen == 0)
        return true;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

char *crm_strdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort(); /* out of memory: nothing sensible left to do */
    return d;
}

bool crm_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false; /* reject leading spaces and lone signs */
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || !end || *end != '\0')
        return false;
    if (out)
        *out = (int64_t)v;
    return true;
}

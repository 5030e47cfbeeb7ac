/* Inbound webhook signatures (see signature.h): one verifier per recipe of WEBHOOK_SOURCES.md.
 * Every comparison of secret-derived bytes goes through CRYPTO_memcmp over equal lengths; the
 * received value is decoded first, so a malformed header is told apart from a wrong one. */
#include "signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

gw_sig_scheme_t gw_sig_scheme(const char *name)
{
    static const struct {
        const char *name;
        gw_sig_scheme_t s;
    } names[] = {
        {"none", GW_SIG_NONE},         {"zendesk", GW_SIG_ZENDESK},   {"intercom", GW_SIG_INTERCOM},
        {"sunshine", GW_SIG_SUNSHINE}, {"livechat", GW_SIG_LIVECHAT}, {"typeform", GW_SIG_TYPEFORM},
        {"webflow", GW_SIG_WEBFLOW},   {"stripe", GW_SIG_STRIPE},     {"github", GW_SIG_GITHUB},
    };
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].s;
    return GW_SIG_UNKNOWN;
}

/* ---- parsers ------------------------------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool gw_sig_parse_hex(const char *s, size_t slen, uint8_t *out, size_t outlen)
{
    if (!s || slen != 2 * outlen)
        return false;
    for (size_t i = 0; i < outlen; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool gw_sig_parse_base64(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
    *outlen = 0;
    if (!s || slen == 0 || slen % 4 != 0)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < slen; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + (size_t)k];
            if (c == '=') {
                /* padding only in the last quantum, only in its last two places, contiguous */
                if (i + 4 != slen || k < 2 || (k == 2 && s[i + 3] != '='))
                    return false;
                v[k] = 0;
                pad++;
            } else {
                if (pad)
                    return false;
                v[k] = b64val(c);
                if (v[k] < 0)
                    return false;
            }
        }
        uint32_t q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t bytes[3] = {(uint8_t)(q >> 16), (uint8_t)(q >> 8), (uint8_t)q};
        for (int k = 0; k < 3 - pad; k++) {
            if (n >= cap)
                return false;
            out[n++] = bytes[k];
        }
    }
    *outlen = n;
    return true;
}

const char *gw_sig_strip_prefix(const char *header, const char *prefix)
{
    if (!header || !prefix)
        return NULL;
    size_t n = strlen(prefix);
    return strncmp(header, prefix, n) == 0 ? header + n : NULL;
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool gw_sig_parse_iso8601(const char *s, int64_t *epoch)
{
    /* YYYY-MM-DDTHH:MM:SS */
    if (!s || strlen(s) < 20)
        return false;
    int y, mo, d, h, mi, sec;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &sec))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        size_t n = 0;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n == 0 || n > 9)
            return false;
        p += n;
    }
    if (!((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') && strcmp(p, "+00:00") != 0)
        return false;
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *epoch = (int64_t)t;
    return true;
}

bool gw_sig_parse_uint(const char *s, int64_t *out)
{
    if (!s || !s[0] || strlen(s) > 18)
        return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

bool gw_sig_parse_stripe(const char *header, int64_t *t, uint8_t v1[][32], size_t *nv1)
{
    *nv1 = 0;
    bool have_t = false;
    if (!header)
        return false;
    const char *p = header;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 2 && p[0] == 't' && p[1] == '=') {
            char num[24];
            if (n - 2 >= sizeof num || have_t)
                return false;
            memcpy(num, p + 2, n - 2);
            num[n - 2] = '\0';
            if (!gw_sig_parse_uint(num, t))
                return false;
            have_t = true;
        } else if (n > 3 && strncmp(p, "v1=", 3) == 0) {
            if (*nv1 < GW_SIG_MAX_V1 && gw_sig_parse_hex(p + 3, n - 3, v1[*nv1], 32))
                (*nv1)++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return have_t && *nv1 > 0;
}

/* ---- verification -------------------------------------------------------------------------- */

static bool fail(gw_sig_why_t *why, const char *reason, const char *fmt, const char *arg)
{
    snprintf(why->reason, sizeof why->reason, "%s", reason);
    snprintf(why->message, sizeof why->message, fmt, arg);
    return false;
}

/* HMAC(secret, prefix ‖ body) into out; *outlen its size. */
static bool hmac(const EVP_MD *md, const char *secret, const char *prefix, size_t plen, const void *body,
                 size_t len, uint8_t *out, unsigned *outlen)
{
    const unsigned char *data = body ? body : (const unsigned char *)"";
    unsigned char *buf = NULL;
    size_t total = len;
    if (plen > 0) {
        total = plen + len;
        buf = malloc(total ? total : 1);
        if (!buf)
            return false;
        memcpy(buf, prefix, plen);
        if (len)
            memcpy(buf + plen, body, len);
        data = buf;
    }
    unsigned char *r = HMAC(md, secret, (int)strlen(secret), data, total, out, outlen);
    free(buf);
    return r != NULL;
}

/* True when any secret's HMAC over prefix ‖ body equals one of the n received digests. */
static bool any_match(const EVP_MD *md, const gw_sig_keys_t *k, const char *prefix, size_t plen,
                      const void *body, size_t len, uint8_t (*got)[64], const size_t *gotlen, size_t n)
{
    bool ok = false;
    for (size_t i = 0; i < k->nsecrets; i++) {
        if (!k->secrets[i] || !k->secrets[i][0])
            continue;
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        if (!hmac(md, k->secrets[i], prefix, plen, body, len, mac, &maclen))
            continue;
        for (size_t j = 0; j < n; j++)
            if (gotlen[j] == maclen && CRYPTO_memcmp(mac, got[j], maclen) == 0)
                ok = true; /* keep going: the time spent does not depend on which one matched */
    }
    return ok;
}

static bool within(const gw_sig_keys_t *k, int64_t ts_s)
{
    long tol = k->tolerance_s > 0 ? k->tolerance_s : 300;
    int64_t d = k->now_s - ts_s;
    return d <= tol && d >= -tol;
}

/* Constant-time equality of two strings of possibly different lengths (the length may leak,
 * the content does not). */
static bool secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

static bool verify_hmac_hex(const EVP_MD *md, size_t mdlen, const gw_sig_keys_t *k, const char *hex,
                            const char *prefix, size_t plen, const void *body, size_t len, gw_sig_why_t *why,
                            const char *hname)
{
    uint8_t got[1][64];
    size_t gotlen = mdlen;
    if (!gw_sig_parse_hex(hex, strlen(hex), got[0], mdlen))
        return fail(why, "malformed", "the %s header is not a hex digest of the right length", hname);
    if (!any_match(md, k, prefix, plen, body, len, got, &gotlen, 1))
        return fail(why, "mismatch", "the %s header does not match the body", hname);
    return true;
}

static bool verify_hmac_b64(const gw_sig_keys_t *k, const char *b64, const char *prefix, size_t plen,
                            const void *body, size_t len, gw_sig_why_t *why, const char *hname)
{
    uint8_t got[1][64];
    size_t gotlen = 0;
    if (!gw_sig_parse_base64(b64, strlen(b64), got[0], sizeof got[0], &gotlen) || gotlen != 32)
        return fail(why, "malformed", "the %s header is not a base64 SHA-256 digest", hname);
    if (!any_match(EVP_sha256(), k, prefix, plen, body, len, got, &gotlen, 1))
        return fail(why, "mismatch", "the %s header does not match the body", hname);
    return true;
}

bool gw_sig_verify(gw_sig_scheme_t scheme, const gw_sig_keys_t *k, gw_header_fn header, void *arg,
                   const void *body, size_t len, const char *body_secret, gw_sig_why_t *why)
{
    memset(why, 0, sizeof *why);
#define H(name) (header ? header(arg, name) : NULL)
    switch (scheme) {
    case GW_SIG_NONE:
        return true;
    case GW_SIG_ZENDESK: {
        const char *sig = H("X-Zendesk-Webhook-Signature");
        const char *ts = H("X-Zendesk-Webhook-Signature-Timestamp");
        if (!sig || !ts)
            return fail(why, "missing", "%s",
                        "X-Zendesk-Webhook-Signature and X-Zendesk-Webhook-Signature-Timestamp are required");
        int64_t t = 0;
        if (!gw_sig_parse_iso8601(ts, &t))
            return fail(why, "malformed", "%s",
                        "X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 UTC time");
        if (!within(k, t))
            return fail(why, "stale", "%s", "the signature timestamp is outside the accepted window");
        return verify_hmac_b64(k, sig, ts, strlen(ts), body, len, why, "X-Zendesk-Webhook-Signature");
    }
    case GW_SIG_INTERCOM: {
        const char *h = H("X-Hub-Signature");
        if (!h)
            return fail(why, "missing", "%s", "the X-Hub-Signature header is required");
        const char *hex = gw_sig_strip_prefix(h, "sha1=");
        if (!hex)
            return fail(why, "malformed", "%s", "X-Hub-Signature must read sha1=<hex>");
        return verify_hmac_hex(EVP_sha1(), 20, k, hex, NULL, 0, body, len, why, "X-Hub-Signature");
    }
    case GW_SIG_GITHUB: {
        const char *h = H("X-Hub-Signature-256");
        if (!h)
            return fail(why, "missing", "%s", "the X-Hub-Signature-256 header is required");
        const char *hex = gw_sig_strip_prefix(h, "sha256=");
        if (!hex)
            return fail(why, "malformed", "%s", "X-Hub-Signature-256 must read sha256=<hex>");
        return verify_hmac_hex(EVP_sha256(), 32, k, hex, NULL, 0, body, len, why, "X-Hub-Signature-256");
    }
    case GW_SIG_TYPEFORM: {
        const char *h = H("Typeform-Signature");
        if (!h)
            return fail(why, "missing", "%s", "the Typeform-Signature header is required");
        const char *b64 = gw_sig_strip_prefix(h, "sha256=");
        if (!b64)
            return fail(why, "malformed", "%s", "Typeform-Signature must read sha256=<base64>");
        return verify_hmac_b64(k, b64, NULL, 0, body, len, why, "Typeform-Signature");
    }
    case GW_SIG_WEBFLOW: {
        const char *ts = H("x-webflow-timestamp");
        const char *sig = H("x-webflow-signature");
        if (!ts || !sig)
            return fail(why, "missing", "%s", "x-webflow-timestamp and x-webflow-signature are required");
        int64_t ms = 0;
        if (!gw_sig_parse_uint(ts, &ms))
            return fail(why, "malformed", "%s", "x-webflow-timestamp must be epoch milliseconds");
        if (!within(k, ms / 1000))
            return fail(why, "stale", "%s", "the signature timestamp is outside the accepted window");
        char prefix[32];
        int plen = snprintf(prefix, sizeof prefix, "%s:", ts);
        return verify_hmac_hex(EVP_sha256(), 32, k, sig, prefix, (size_t)plen, body, len, why,
                               "x-webflow-signature");
    }
    case GW_SIG_STRIPE: {
        const char *h = H("Stripe-Signature");
        if (!h)
            return fail(why, "missing", "%s", "the Stripe-Signature header is required");
        int64_t t = 0;
        uint8_t v1[GW_SIG_MAX_V1][32];
        size_t n = 0;
        if (!gw_sig_parse_stripe(h, &t, v1, &n))
            return fail(why, "malformed", "%s", "Stripe-Signature must read t=<unix>,v1=<hex>");
        if (!within(k, t))
            return fail(why, "stale", "%s", "the signature timestamp is outside the accepted window");
        uint8_t got[GW_SIG_MAX_V1][64];
        size_t gotlen[GW_SIG_MAX_V1];
        for (size_t i = 0; i < n; i++) {
            memcpy(got[i], v1[i], 32);
            gotlen[i] = 32;
        }
        char prefix[32];
        int plen = snprintf(prefix, sizeof prefix, "%lld.", (long long)t);
        if (!any_match(EVP_sha256(), k, prefix, (size_t)plen, body, len, got, gotlen, n))
            return fail(why, "mismatch", "%s", "no v1 signature of Stripe-Signature matches the body");
        return true;
    }
    case GW_SIG_SUNSHINE: {
        const char *key = H("X-API-Key");
        if (!key)
            return fail(why, "missing", "%s", "the X-API-Key header is required");
        bool ok = false;
        for (size_t i = 0; i < k->nsecrets; i++)
            if (k->secrets[i] && secret_equal(key, k->secrets[i]))
                ok = true;
        return ok ? true : fail(why, "mismatch", "%s", "X-API-Key is not this source's key");
    }
    case GW_SIG_LIVECHAT: {
        if (!body_secret)
            return fail(why, "missing", "%s", "the body has no secret_key");
        bool ok = false;
        for (size_t i = 0; i < k->nsecrets; i++)
            if (k->secrets[i] && secret_equal(body_secret, k->secrets[i]))
                ok = true;
        return ok ? true : fail(why, "mismatch", "%s", "secret_key is not this source's secret");
    }
    case GW_SIG_UNKNOWN:
    default:
        return fail(why, "unsupported", "%s", "this source's signature scheme is not supported");
    }
#undef H
}

/* Unit tests of services/gateway/signature.c: the header parsers and each recipe of
 * WEBHOOK_SOURCES.md against digests computed here with OpenSSL, including rotation (two
 * secrets), the timestamp window and malformed headers. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "signature.h"

typedef struct {
    const char *names[4];
    const char *values[4];
} hdrs_t;

static const char *hdr(void *arg, const char *name)
{
    hdrs_t *h = arg;
    for (int i = 0; i < 4 && h->names[i]; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

static void mac_hex(const EVP_MD *md, const char *key, const char *data, char *out)
{
    unsigned char m[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    HMAC(md, key, (int)strlen(key), (const unsigned char *)data, strlen(data), m, &n);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", m[i]);
}

static void mac_b64(const char *key, const char *data, char *out)
{
    unsigned char m[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, strlen(data), m, &n);
    EVP_EncodeBlock((unsigned char *)out, m, (int)n);
}

static gw_sig_keys_t keys(int64_t now)
{
    return (gw_sig_keys_t){.secrets = {"old", "new"}, .nsecrets = 2, .tolerance_s = 300, .now_s = now};
}

Test(signature, parsers)
{
    uint8_t out[64];
    size_t n = 0;
    cr_expect(gw_sig_parse_hex("00ffA0", 6, out, 3));
    cr_expect_eq(out[1], 0xff);
    cr_expect_not(gw_sig_parse_hex("00ff", 4, out, 3), "wrong length");
    cr_expect_not(gw_sig_parse_hex("zz", 2, out, 1));
    cr_expect(gw_sig_parse_base64("aGk=", 4, out, sizeof out, &n));
    cr_expect_eq(n, 2);
    cr_expect(memcmp(out, "hi", 2) == 0);
    cr_expect_not(gw_sig_parse_base64("aGk", 3, out, sizeof out, &n), "no padding");
    cr_expect_not(gw_sig_parse_base64("a=Gk", 4, out, sizeof out, &n), "padding inside");
    cr_expect_not(gw_sig_parse_base64("aG-_", 4, out, sizeof out, &n), "url alphabet");
    int64_t t = 0;
    cr_expect(gw_sig_parse_iso8601("2025-11-22T10:15:42Z", &t));
    cr_expect_eq(t, 1763806542);
    cr_expect(gw_sig_parse_iso8601("2025-11-22T10:15:42.123Z", &t));
    cr_expect(gw_sig_parse_iso8601("2025-11-22T10:15:42+00:00", &t));
    cr_expect_not(gw_sig_parse_iso8601("2025-11-22 10:15:42", &t));
    cr_expect_not(gw_sig_parse_iso8601("2025-13-22T10:15:42Z", &t));
    cr_expect_not(gw_sig_parse_iso8601("2025-11-22T10:15:42+02:00", &t), "UTC only");
    cr_expect(gw_sig_parse_uint("1700000000000", &t));
    cr_expect_not(gw_sig_parse_uint("-1", &t));
    cr_expect_not(gw_sig_parse_uint("1234567890123456789", &t), "19 digits");
    uint8_t v1[GW_SIG_MAX_V1][32];
    char a[65], b[65];
    memset(a, 'a', 64);
    a[64] = 0;
    memset(b, 'B', 64);
    b[64] = 0;
    char sh[300];
    snprintf(sh, sizeof sh, "t=12345, v1=%s,v0=zz,v1=%s", a, b);
    cr_expect(gw_sig_parse_stripe(sh, &t, v1, &n));
    cr_expect_eq(t, 12345);
    cr_expect_eq(n, 2);
    cr_expect_not(gw_sig_parse_stripe("v1=00", &t, v1, &n), "no t");
    snprintf(sh, sizeof sh, "t=1,t=2,v1=%s", a);
    cr_expect_not(gw_sig_parse_stripe(sh, &t, v1, &n), "two t");
    cr_expect_not(gw_sig_parse_stripe("t=1", &t, v1, &n), "no v1");
    cr_expect_eq(gw_sig_scheme("zendesk"), GW_SIG_ZENDESK);
    cr_expect_eq(gw_sig_scheme("hmac-sha256"), GW_SIG_UNKNOWN);
}

Test(signature, zendesk_rotation_and_window)
{
    const char *body = "{\"ticket\":{}}";
    const char *ts = "2025-11-22T10:15:42Z";
    char data[256], sig[100];
    snprintf(data, sizeof data, "%s%s", ts, body);
    mac_b64("new", data, sig);
    hdrs_t h = {{"X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"}, {sig, ts}};
    gw_sig_keys_t k = keys(1763806542 + 100);
    gw_sig_why_t why;
    cr_expect(gw_sig_verify(GW_SIG_ZENDESK, &k, hdr, &h, body, strlen(body), NULL, &why), "%s", why.message);
    k.nsecrets = 1; /* only "old" */
    cr_expect_not(gw_sig_verify(GW_SIG_ZENDESK, &k, hdr, &h, body, strlen(body), NULL, &why));
    cr_expect_str_eq(why.reason, "mismatch");
    k = keys(1763806542 + 301);
    cr_expect_not(gw_sig_verify(GW_SIG_ZENDESK, &k, hdr, &h, body, strlen(body), NULL, &why));
    cr_expect_str_eq(why.reason, "stale");
    k = keys(1763806542 - 301);
    cr_expect_not(gw_sig_verify(GW_SIG_ZENDESK, &k, hdr, &h, body, strlen(body), NULL, &why), "future");
    k = keys(1763806542);
    cr_expect_not(gw_sig_verify(GW_SIG_ZENDESK, &k, hdr, &h, "{\"ticket\":{} }", 14, NULL, &why),
                  "body changed");
    hdrs_t none = {{NULL}, {NULL}};
    cr_expect_not(gw_sig_verify(GW_SIG_ZENDESK, &k, hdr, &none, body, strlen(body), NULL, &why));
    cr_expect_str_eq(why.reason, "missing");
}

Test(signature, hex_recipes)
{
    const char *body = "{\"x\":1}";
    char sig[200], hv[220];
    gw_sig_keys_t k = keys(1700000000);
    gw_sig_why_t why;
    /* Intercom sha1 */
    mac_hex(EVP_sha1(), "old", body, sig);
    snprintf(hv, sizeof hv, "sha1=%s", sig);
    hdrs_t h = {{"X-Hub-Signature"}, {hv}};
    cr_expect(gw_sig_verify(GW_SIG_INTERCOM, &k, hdr, &h, body, strlen(body), NULL, &why), "%s", why.message);
    snprintf(hv, sizeof hv, "sha256=%s", sig);
    cr_expect_not(gw_sig_verify(GW_SIG_INTERCOM, &k, hdr, &h, body, strlen(body), NULL, &why));
    cr_expect_str_eq(why.reason, "malformed");
    /* GitHub sha256 */
    mac_hex(EVP_sha256(), "new", body, sig);
    snprintf(hv, sizeof hv, "sha256=%s", sig);
    hdrs_t g = {{"X-Hub-Signature-256"}, {hv}};
    cr_expect(gw_sig_verify(GW_SIG_GITHUB, &k, hdr, &g, body, strlen(body), NULL, &why), "%s", why.message);
    /* Webflow ms timestamp */
    char data[200];
    snprintf(data, sizeof data, "1700000000123:%s", body);
    mac_hex(EVP_sha256(), "old", data, sig);
    hdrs_t w = {{"x-webflow-timestamp", "x-webflow-signature"}, {"1700000000123", sig}};
    cr_expect(gw_sig_verify(GW_SIG_WEBFLOW, &k, hdr, &w, body, strlen(body), NULL, &why), "%s", why.message);
    k.now_s = 1700000000 + 400;
    cr_expect_not(gw_sig_verify(GW_SIG_WEBFLOW, &k, hdr, &w, body, strlen(body), NULL, &why));
    cr_expect_str_eq(why.reason, "stale");
    /* Stripe with two v1 */
    k.now_s = 1700000000;
    snprintf(data, sizeof data, "1700000000.%s", body);
    mac_hex(EVP_sha256(), "new", data, sig);
    char sh[300];
    snprintf(sh, sizeof sh, "t=1700000000,v1=%064d,v1=%s", 0, sig);
    hdrs_t s = {{"Stripe-Signature"}, {sh}};
    cr_expect(gw_sig_verify(GW_SIG_STRIPE, &k, hdr, &s, body, strlen(body), NULL, &why), "%s", why.message);
    /* Typeform base64 */
    char b64[100];
    mac_b64("old", body, b64);
    snprintf(hv, sizeof hv, "sha256=%s", b64);
    hdrs_t t = {{"Typeform-Signature"}, {hv}};
    cr_expect(gw_sig_verify(GW_SIG_TYPEFORM, &k, hdr, &t, body, strlen(body), NULL, &why), "%s", why.message);
}

Test(signature, shared_keys)
{
    gw_sig_keys_t k = keys(0);
    gw_sig_why_t why;
    hdrs_t h = {{"X-API-Key"}, {"new"}};
    cr_expect(gw_sig_verify(GW_SIG_SUNSHINE, &k, hdr, &h, "", 0, NULL, &why));
    h.values[0] = "ne";
    cr_expect_not(gw_sig_verify(GW_SIG_SUNSHINE, &k, hdr, &h, "", 0, NULL, &why));
    cr_expect(gw_sig_verify(GW_SIG_LIVECHAT, &k, NULL, NULL, "", 0, "old", &why));
    cr_expect_not(gw_sig_verify(GW_SIG_LIVECHAT, &k, NULL, NULL, "", 0, NULL, &why));
    cr_expect_not(gw_sig_verify(GW_SIG_LIVECHAT, &k, NULL, NULL, "", 0, "", &why));
    cr_expect(gw_sig_verify(GW_SIG_NONE, &k, NULL, NULL, "", 0, NULL, &why));
    cr_expect_not(gw_sig_verify(GW_SIG_UNKNOWN, &k, NULL, NULL, "", 0, NULL, &why));
}

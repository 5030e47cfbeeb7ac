/* libFuzzer target for every signature header parser and verifier: the input is split at
 * newlines into header values (Zendesk signature and timestamp, X-Hub-Signature(-256),
 * Typeform-Signature, Webflow timestamp and signature, Stripe-Signature, X-API-Key) and the rest
 * is the body; every scheme verifies it, and each parser gets the first line on its own. Nothing
 * may crash, leak or read out of bounds, and random input must never verify. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "signature.h"

#define NH 8
static const char *const names[NH] = {"X-Zendesk-Webhook-Signature",
                                      "X-Zendesk-Webhook-Signature-Timestamp",
                                      "X-Hub-Signature",
                                      "X-Hub-Signature-256",
                                      "Typeform-Signature",
                                      "x-webflow-timestamp",
                                      "x-webflow-signature",
                                      "Stripe-Signature"};

typedef struct {
    char *v[NH + 1];
} hdrs_t;

static const char *hdr(void *arg, const char *name)
{
    hdrs_t *h = arg;
    for (int i = 0; i < NH; i++)
        if (strcasecmp(names[i], name) == 0)
            return h->v[i];
    if (strcasecmp(name, "X-API-Key") == 0)
        return h->v[NH];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    hdrs_t h = {{0}};
    char *p = copy;
    size_t body_off = 0;
    for (int i = 0; i <= NH; i++) {
        char *nl = memchr(p, '\n', size - (size_t)(p - copy));
        if (!nl)
            break;
        *nl = '\0';
        h.v[i] = p;
        p = nl + 1;
        body_off = (size_t)(p - copy);
    }
    const char *body = copy + body_off;
    size_t blen = size - body_off;
    gw_sig_keys_t k = {.secrets = {"fuzz-secret-1", "fuzz-secret-2"},
                       .nsecrets = 2,
                       .tolerance_s = 300,
                       .now_s = 1763806542};
    for (int s = GW_SIG_UNKNOWN; s <= GW_SIG_GITHUB; s++) {
        gw_sig_why_t why;
        bool ok = gw_sig_verify((gw_sig_scheme_t)s, &k, hdr, &h, body, blen, h.v[0], &why);
        if (ok && s != GW_SIG_NONE && s != GW_SIG_SUNSHINE && s != GW_SIG_LIVECHAT)
            abort(); /* a forged HMAC would mean the comparison is broken */
        if (!ok && why.reason[0] == '\0')
            abort();
    }
    const char *line = h.v[0] ? h.v[0] : copy;
    size_t ll = strlen(line);
    uint8_t out[64];
    size_t n;
    (void)gw_sig_parse_hex(line, ll, out, ll / 2 < sizeof out ? ll / 2 : sizeof out);
    if (gw_sig_parse_base64(line, ll, out, sizeof out, &n) && n > sizeof out)
        abort();
    int64_t t;
    (void)gw_sig_parse_iso8601(line, &t);
    (void)gw_sig_parse_uint(line, &t);
    uint8_t v1[GW_SIG_MAX_V1][32];
    if (gw_sig_parse_stripe(line, &t, v1, &n) && (n == 0 || n > GW_SIG_MAX_V1))
        abort();
    (void)gw_sig_strip_prefix(line, "sha256=");
    (void)gw_sig_scheme(line);
    free(copy);
    return 0;
}

/* Inbound webhook signatures (WEBHOOK_SOURCES.md, "Signature recipes"): the header parsers of
 * every scheme and the verification over the raw body — HMAC computed with OpenSSL, compared in
 * constant time (CRYPTO_memcmp), timestamps within the source's tolerance, any of the source's
 * secrets (two during a rotation). Pure functions: no I/O, no shared state. */
#ifndef GW_SIGNATURE_H
#define GW_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gateway.h"

typedef enum {
    GW_SIG_UNKNOWN = 0,
    GW_SIG_NONE,     /* declared unsigned */
    GW_SIG_ZENDESK,  /* X-Zendesk-Webhook-Signature: base64 HMAC-SHA256(ts ‖ body) */
    GW_SIG_INTERCOM, /* X-Hub-Signature: sha1=<hex> */
    GW_SIG_SUNSHINE, /* X-API-Key: the shared secret itself */
    GW_SIG_LIVECHAT, /* body field secret_key */
    GW_SIG_TYPEFORM, /* Typeform-Signature: sha256=<base64> */
    GW_SIG_WEBFLOW,  /* x-webflow-timestamp (ms) + x-webflow-signature: hex HMAC-SHA256(ts:body) */
    GW_SIG_STRIPE,   /* Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>] over t.body */
    GW_SIG_GITHUB,   /* X-Hub-Signature-256: sha256=<hex> */
} gw_sig_scheme_t;

/* The scheme of a configured name ("zendesk", "intercom", "sunshine", "livechat", "typeform",
 * "webflow", "stripe", "github", "none"), GW_SIG_UNKNOWN otherwise. */
gw_sig_scheme_t gw_sig_scheme(const char *name);

/* The secrets and clock a verification uses. */
typedef struct {
    const char *secrets[2];
    size_t nsecrets;
    long tolerance_s; /* ≤ 0 → 300 */
    int64_t now_s;    /* Unix seconds */
} gw_sig_keys_t;

/* Why a verification failed: reason for metrics ("missing", "malformed", "mismatch", "stale")
 * and a sentence for the error body. */
typedef struct {
    char reason[16];
    char message[200];
} gw_sig_why_t;

/* Verifies one delivery. header(arg, name) gives request headers; body_secret is LiveChat's
 * secret_key field (read by the caller from the parsed body; NULL when absent). Returns true
 * when authentic; false with why filled otherwise. GW_SIG_NONE is always true; GW_SIG_UNKNOWN
 * never. */
bool gw_sig_verify(gw_sig_scheme_t scheme, const gw_sig_keys_t *keys, gw_header_fn header, void *arg,
                   const void *body, size_t len, const char *body_secret, gw_sig_why_t *why);

/* ---- parsers (exposed for unit tests and fuzzing) ---------------------------------------- */

/* Exactly 2*outlen hex digits (either case) → out. */
bool gw_sig_parse_hex(const char *s, size_t slen, uint8_t *out, size_t outlen);
/* Standard base64 with padding → out (cap bytes); *outlen the decoded length. */
bool gw_sig_parse_base64(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);
/* "<prefix><rest>" → rest (prefix compared case-sensitively), or NULL. */
const char *gw_sig_strip_prefix(const char *header, const char *prefix);
/* ISO 8601 UTC "2025-11-22T10:15:42Z" (optional fraction ".123", "Z" or "+00:00") → Unix s. */
bool gw_sig_parse_iso8601(const char *s, int64_t *epoch);
/* A non-negative decimal integer of at most 18 digits. */
bool gw_sig_parse_uint(const char *s, int64_t *out);

#define GW_SIG_MAX_V1 4
/* "t=1700000000,v1=<hex64>,v1=<hex64>" (other keys such as v0 ignored, spaces around items
 * tolerated) → t and up to GW_SIG_MAX_V1 decoded v1 digests. False when t or every v1 is
 * missing or malformed. */
bool gw_sig_parse_stripe(const char *header, int64_t *t, uint8_t v1[][32], size_t *nv1);

#endif

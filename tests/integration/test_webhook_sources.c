/* Every inbound source kind on a real stack (WEBHOOK_SOURCES.md): Zendesk Support, Intercom,
 * Sunshine Conversations, LiveChat, Typeform, Webflow (signed and declared unsigned), a generic
 * JSON sender with a field mapping and a Stripe-style signature. Signatures are computed here
 * with OpenSSL; each delivery must become a lead (or be ignored / refused as the policy says),
 * and the archive, the metrics and GET /v2/webhook_sources must tell what happened. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(webhook_sources, .fini = stop_stack, .timeout = 900);

static const char sources[] =
    "    - {name: website, kind: form, signature: none}\n"
    "    - name: zd\n"
    "      kind: support\n"
    "      type: zendesk\n"
    "      signature: zendesk\n"
    "      secrets: [zd-old-secret, zd-new-secret]\n"
    "      tags: [support]\n"
    "    - {name: ic, kind: chat, type: intercom, signature: intercom, secret: ic-secret}\n"
    "    - {name: sun, kind: chat, type: sunshine, signature: sunshine, secret: sun-key}\n"
    "    - name: lc\n"
    "      kind: chat\n"
    "      type: livechat\n"
    "      signature: livechat\n"
    "      secret: lc-secret\n"
    "      mapping:\n"
    "        - {field: phone, label: Telefonnummer}\n"
    "    - name: tf\n"
    "      kind: form\n"
    "      type: typeform\n"
    "      signature: typeform\n"
    "      secret: tf-secret\n"
    "      mapping:\n"
    "        - {field: email, ref: contact_mail}\n"
    "        - {field: organization_name, ref: firm}\n"
    "        - {field: last_name, ref: surname_q}\n"
    "    - {name: wf, kind: form, type: webflow, signature: webflow, secret: wf-secret}\n"
    "    - {name: wfopen, kind: form, type: webflow, signature: none}\n"
    "    - name: generic\n"
    "      kind: form\n"
    "      type: json\n"
    "      signature: github\n"
    "      secret: gh-secret\n"
    "      delivery_id_pointer: /meta/id\n"
    "      event_pointer: /event\n"
    "      events: [signup]\n"
    "      mapping:\n"
    "        - {field: email, pointer: /person/contact/mail}\n"
    "        - {field: last_name, pointer: /person/surname}\n"
    "        - {field: description, pointer: /person/note}\n"
    "        - {field: tags, value: from-generic}\n"
    "    - {name: st, kind: form, type: json, signature: stripe, secret: st-secret, "
    "mapping: [{field: email, pointer: /email}]}\n"
    "    - {name: nosig, kind: chat, type: intercom}\n";

/* ---- signatures ------------------------------------------------------------------------------ */

static void hmac_raw(const EVP_MD *md, const char *secret, const char *prefix, const char *body,
                     unsigned char *out, unsigned *outlen)
{
    size_t pl = prefix ? strlen(prefix) : 0, bl = strlen(body);
    char *buf = malloc(pl + bl + 1);
    cr_assert_not_null(buf);
    if (pl)
        memcpy(buf, prefix, pl);
    memcpy(buf + pl, body, bl + 1);
    HMAC(md, secret, (int)strlen(secret), (unsigned char *)buf, pl + bl, out, outlen);
    free(buf);
}

static void hmac_hex(const EVP_MD *md, const char *secret, const char *prefix, const char *body, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    hmac_raw(md, secret, prefix, body, mac, &n);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
}

static void hmac_b64(const char *secret, const char *prefix, const char *body, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    hmac_raw(EVP_sha256(), secret, prefix, body, mac, &n);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)n);
}

static void iso_now(long offset_s, char out[32])
{
    time_t t = time(NULL) + offset_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static harness_resp_t *post(const char *path, const char *body, const char *ctype, const char *h1,
                            const char *h2, const char *h3)
{
    harness_req_t req = {.method = "POST",
                         .path = path,
                         .body = body,
                         .content_type = ctype ? ctype : "application/json",
                         .headers = {h1, h2, h3, NULL}};
    harness_resp_t *r = harness_http(h, &req);
    cr_assert_not_null(r, "no answer from %s", path);
    return r;
}

static harness_resp_t *zendesk(const char *body, const char *secret, long ts_offset, const char *invocation)
{
    char ts[32], sig[128], h1[200], h2[100], h3[200];
    iso_now(ts_offset, ts);
    hmac_b64(secret, ts, body, sig);
    snprintf(h1, sizeof h1, "X-Zendesk-Webhook-Signature: %s", sig);
    snprintf(h2, sizeof h2, "X-Zendesk-Webhook-Signature-Timestamp: %s", ts);
    snprintf(h3, sizeof h3, "X-Zendesk-Webhook-Invocation-Id: %s", invocation);
    return post("/webhooks/support/zd", body, NULL, h1, h2, h3);
}

static long long count(const char *sql)
{
    return harness_sql_long(h, sql);
}

static const char *first_error_text(const harness_resp_t *r, const char *key)
{
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
    return json_string_value(json_object_get(e, key));
}

static void expect_status(harness_resp_t *r, long status, const char *what)
{
    cr_expect_eq(r->status, status, "%s: status %ld, want %ld: %s", what, r->status, status, r->body);
    if (status >= 400) {
        const char *details = first_error_text(r, "details");
        const char *code = first_error_text(r, "code");
        cr_expect(code && *code && details && *details, "%s: error body names the problem: %s", what,
                  r->body);
    }
}

typedef struct {
    const char *email;
} lead_arg_t;

static bool lead_with_email(harness_t *self, void *arg)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leads.leads WHERE email = '%s'",
             ((lead_arg_t *)arg)->email);
    return harness_sql_long(self, sql) >= 1;
}

static void wait_lead(const char *email)
{
    lead_arg_t a = {email};
    cr_expect(harness_wait_until(h, harness_ms(30000), lead_with_email, &a, email), "lead %s", email);
}

/* The lead.captured payload holding text (protobuf bytes contain strings verbatim). */
static bool sql_count_is(harness_t *self, void *arg)
{
    return harness_sql_long(self, (const char *)arg) == 1;
}

/* Waits until sql (a count) answers 1. */
static bool wait_one(const char *sql)
{
    return harness_wait_until(h, harness_ms(30000), sql_count_is, (void *)sql, sql);
}

static long long captured_with(const char *text)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.outbox WHERE type = 'lead.captured' AND "
             "position(convert_to('%s', 'UTF8') in payload) > 0",
             text);
    return count(sql);
}

/* ---- the sources ---------------------------------------------------------------------------- */

Test(webhook_sources, every_kind_becomes_a_lead)
{
    h = harness_start_opts(&(harness_opts_t){.gateway_sources = sources});
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);

    /* Zendesk trigger webhook: the requester becomes a lead, the ticket travels with it; signed
     * with the older of the two secrets (rotation). */
    const char *zd =
        "{\"ticket\":{\"id\":\"4711\",\"subject\":\"Pricing for 40 seats\",\"status\":\"new\","
        "\"url\":\"https://acme.zendesk.com/agent/tickets/4711\",\"tags\":\"vip trial\","
        "\"requester\":{\"name\":\"Zoe Zendesk\",\"email\":\"zoe@example.com\",\"phone\":\"+49 30 "
        "1234567\"}}}";
    harness_resp_t *r = zendesk(zd, "zd-old-secret", 0, "inv-1");
    expect_status(r, 202, "zendesk, old secret");
    harness_resp_destroy(&r);
    wait_lead("zoe@example.com");
    cr_expect_eq(captured_with("https://acme.zendesk.com/agent/tickets/4711"), 1,
                 "ticket url in lead.captured");
    cr_expect_eq(captured_with("Pricing for 40 seats"), 1, "ticket subject in lead.captured");
    cr_expect_eq(captured_with("+49301234567"), 1, "phone_e164 in lead.captured");
    cr_expect_eq(count("SELECT count(*) FROM leads.leads WHERE last_name = 'Zendesk' AND first_name = 'Zoe'"),
                 1);

    /* The newer secret works too; a later event of the same ticket is a new delivery. */
    const char *zd2 = "{\"ticket\":{\"id\":\"4711\",\"subject\":\"Pricing for 40 seats\",\"status\":\"open\","
                      "\"requester\":{\"name\":\"Zoe Zendesk\",\"email\":\"zoe@example.com\"}}}";
    r = zendesk(zd2, "zd-new-secret", 0, "inv-2");
    expect_status(r, 202, "zendesk, new secret");
    harness_resp_destroy(&r);

    /* A requester who is already a contact (and no open lead): the ticket is linked on the
     * contact's timeline, no lead is made; a later event of the ticket updates that link. */
    long long carla = harness_create(h, "contacts",
                                     json_pack("{s:s,s:s,s:s}", "first_name", "Carla", "last_name", "Contact",
                                               "email", "Carla@Example.com"));
    cr_assert_gt(carla, 0);
    r = zendesk("{\"ticket\":{\"id\":\"5150\",\"subject\":\"Invoice question\",\"status\":\"new\","
                "\"url\":\"https://acme.zendesk.com/agent/tickets/5150\",\"requester\":{\"name\":\"Carla "
                "Contact\",\"email\":\"carla@example.com\"}}}",
                "zd-new-secret", 0, "inv-c1");
    expect_status(r, 202, "zendesk, requester is a contact");
    harness_resp_destroy(&r);
    char ctl[160];
    snprintf(ctl, sizeof ctl,
             "SELECT count(*) FROM leads.contact_activities WHERE contact_id = %lld AND kind = 'ticket' "
             "AND ticket_status = 'new'",
             carla);
    cr_assert(wait_one(ctl), "the ticket linked on the contact");
    r = zendesk("{\"ticket\":{\"id\":\"5150\",\"subject\":\"Invoice question\",\"status\":\"solved\","
                "\"requester\":{\"name\":\"Carla Contact\",\"email\":\"carla@example.com\"}}}",
                "zd-new-secret", 0, "inv-c2");
    expect_status(r, 202, "zendesk, same ticket later");
    harness_resp_destroy(&r);
    snprintf(ctl, sizeof ctl,
             "SELECT count(*) FROM leads.contact_activities WHERE contact_id = %lld AND kind = 'ticket' "
             "AND ticket_status = 'solved'",
             carla);
    cr_assert(wait_one(ctl), "the link updated by the later event");
    cr_expect_eq(count("SELECT count(*) FROM leads.contact_activities WHERE kind = 'ticket'"), 1, "one link");
    cr_expect_eq(count("SELECT count(*) FROM leads.leads WHERE lower(email) = 'carla@example.com'"), 0,
                 "no lead for a contact's ticket");
    snprintf(ctl, sizeof ctl, "/v2/contacts/%lld/activities", carla);
    r = harness_api(h, "GET", ctl, admin, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    int tickets = 0, captures = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(r->json, "items")); i++) {
        json_t *d = json_object_get(json_array_get(json_object_get(r->json, "items"), i), "data");
        const char *kind = json_string_value(json_object_get(d, "kind"));
        if (kind && strcmp(kind, "ticket") == 0) {
            tickets++;
            cr_expect_str_eq(json_string_value(json_object_get(d, "ticket_id")) ?: "", "5150", "%s", r->body);
            cr_expect_str_eq(json_string_value(json_object_get(d, "ticket_status")) ?: "", "solved", "%s",
                             r->body);
            cr_expect_str_eq(json_string_value(json_object_get(d, "ticket_url")) ?: "",
                             "https://acme.zendesk.com/agent/tickets/5150", "kept from the first event: %s",
                             r->body);
        }
        captures += kind && strcmp(kind, "captured") == 0;
    }
    cr_expect_eq(tickets, 1, "%s", r->body);
    cr_expect_eq(captures, 2, "both captures on the contact's timeline: %s", r->body);
    harness_resp_destroy(&r);

    /* Zendesk event subscription: no requester details → 200, archived as ignored. */
    r = zendesk("{\"type\":\"zen:event-type:ticket.created\",\"account_id\":1,\"id\":\"e1\",\"detail\":"
                "{\"requester_id\":\"99\"}}",
                "zd-new-secret", 0, "inv-3");
    expect_status(r, 200, "zendesk event subscription");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "data"), "ignored")) ?: "",
                     "event_subscription");
    harness_resp_destroy(&r);

    /* Intercom: user-created conversation → lead; HTML body stored as text; ping → 200. */
    const char *ic =
        "{\"type\":\"notification_event\",\"id\":\"notif_1\",\"topic\":\"conversation.user.created\","
        "\"data\":{\"item\":{\"id\":\"conv-9\",\"state\":\"open\",\"source\":{\"body\":\"<p>Hi "
        "&amp; hello</p>\",\"author\":{\"type\":\"lead\",\"name\":\"Ian Intercom\",\"email\":"
        "\"ian@example.com\"}}}}}";
    char sig[160], h1[400], h2[400];
    hmac_hex(EVP_sha1(), "ic-secret", NULL, ic, sig);
    snprintf(h1, sizeof h1, "X-Hub-Signature: sha1=%s", sig);
    r = post("/webhooks/chat/ic", ic, NULL, h1, NULL, NULL);
    expect_status(r, 202, "intercom");
    harness_resp_destroy(&r);
    const char *ping = "{\"type\":\"notification_event\",\"id\":null,\"topic\":\"ping\",\"data\":{}}";
    hmac_hex(EVP_sha1(), "ic-secret", NULL, ping, sig);
    snprintf(h1, sizeof h1, "X-Hub-Signature: sha1=%s", sig);
    r = post("/webhooks/chat/ic", ping, NULL, h1, NULL, NULL);
    expect_status(r, 200, "intercom ping");
    harness_resp_destroy(&r);
    /* An admin's message is never a lead. */
    const char *icadm =
        "{\"id\":\"notif_2\",\"topic\":\"conversation.user.created\",\"data\":{\"item\":{\"source\":"
        "{\"author\":{\"type\":\"admin\",\"name\":\"Agent\",\"email\":\"agent@example.com\"}}}}}";
    hmac_hex(EVP_sha1(), "ic-secret", NULL, icadm, sig);
    snprintf(h1, sizeof h1, "X-Hub-Signature: sha1=%s", sig);
    r = post("/webhooks/chat/ic", icadm, NULL, h1, NULL, NULL);
    expect_status(r, 200, "intercom admin author");
    harness_resp_destroy(&r);
    wait_lead("ian@example.com");
    cr_expect_eq(count("SELECT count(*) FROM leads.leads WHERE email = 'agent@example.com'"), 0);

    /* Sunshine Conversations: two events in one POST, one from a user (lead), one from an agent. */
    const char *sun =
        "{\"app\":{\"id\":\"app1\"},\"webhook\":{\"id\":\"wh1\",\"version\":\"v2\"},\"events\":["
        "{\"id\":\"ev-user\",\"type\":\"conversation:message\",\"payload\":{\"conversation\":{\"id\":"
        "\"sc-1\"},\"message\":{\"author\":{\"type\":\"user\",\"displayName\":\"Web User 5f1\","
        "\"user\":{\"profile\":{\"givenName\":\"Sue\",\"surname\":\"Sunshine\",\"email\":"
        "\"sue@example.com\"},\"metadata\":{\"company\":\"Sunny Ltd\"}}},\"content\":{\"type\":"
        "\"text\",\"text\":\"Need a quote\"}}}},"
        "{\"id\":\"ev-agent\",\"type\":\"conversation:message\",\"payload\":{\"message\":{\"author\":"
        "{\"type\":\"business\"},\"content\":{\"type\":\"text\",\"text\":\"Hello!\"}}}}]}";
    r = post("/webhooks/chat/sun", sun, NULL, "X-API-Key: sun-key", NULL, NULL);
    expect_status(r, 202, "sunshine");
    json_t *events = json_object_get(json_object_get(r->json, "data"), "events");
    cr_expect_eq(json_array_size(events), 2, "two events answered: %s", r->body);
    harness_resp_destroy(&r);
    r = post("/webhooks/chat/sun", sun, NULL, "X-API-Key: wrong-key", NULL, NULL);
    expect_status(r, 401, "sunshine wrong key");
    harness_resp_destroy(&r);
    wait_lead("sue@example.com");
    cr_expect_eq(
        count("SELECT count(*) FROM leads.leads WHERE email = 'sue@example.com' AND first_name = 'Sue'"), 1);

    /* LiveChat: secret in the body; customer from users[], phone from a configured label. */
    const char *lc =
        "{\"webhook_id\":\"w1\",\"secret_key\":\"lc-secret\",\"action\":\"incoming_chat\","
        "\"payload\":{\"chat\":{\"id\":\"CH1\",\"users\":[{\"id\":\"ag\",\"type\":\"agent\",\"name\":"
        "\"Agent\",\"email\":\"ag@example.com\"},{\"id\":\"cu\",\"type\":\"customer\",\"name\":"
        "\"Liv Chat\",\"email\":\"liv@example.com\"}],\"thread\":{\"id\":\"TH1\",\"events\":[{\"type\":"
        "\"filled_form\",\"fields\":[{\"type\":\"text\",\"label\":\"Telefonnummer\",\"answer\":"
        "\"+44 20 7946 0000\"}]},{\"type\":\"message\",\"author_id\":\"cu\",\"text\":\"Hi there\"}]}}}}";
    r = post("/webhooks/chat/lc", lc, NULL, NULL, NULL, NULL);
    expect_status(r, 202, "livechat");
    long long lc_id = json_integer_value(json_object_get(json_object_get(r->json, "data"), "delivery_id"));
    harness_resp_destroy(&r);
    wait_lead("liv@example.com");
    cr_expect_eq(count("SELECT count(*) FROM leads.leads WHERE email = 'liv@example.com' AND phone = '+44 20 "
                       "7946 0000'"),
                 1);
    /* The archive never shows LiveChat's secret. */
    char path[96];
    snprintf(path, sizeof path, "/v2/webhook_deliveries/%lld", lc_id);
    r = harness_api(h, "GET", path, admin, NULL);
    expect_status(r, 200, "archived livechat delivery");
    cr_expect(strstr(r->body, "lc-secret") == NULL, "secret masked: %s", r->body);
    cr_expect(strstr(r->body, "liv@example.com") != NULL, "body shown: %s", r->body);
    harness_resp_destroy(&r);

    /* Typeform: answers by ref (configured and common), value under the type's key. */
    const char *tf =
        "{\"event_id\":\"tf-ev-1\",\"event_type\":\"form_response\",\"form_response\":{\"form_id\":"
        "\"F1\",\"hidden\":{\"utm_source\":\"ads\"},\"answers\":[{\"type\":\"text\",\"text\":\"Typer\","
        "\"field\":{\"ref\":\"surname_q\"}},{\"type\":\"email\",\"email\":\"tia@example.com\","
        "\"field\":{\"ref\":\"contact_mail\"}},{\"type\":\"choice\",\"choice\":{\"label\":\"Forms "
        "Inc\"},\"field\":{\"ref\":\"firm\"}}]}}";
    hmac_b64("tf-secret", NULL, tf, sig);
    snprintf(h1, sizeof h1, "Typeform-Signature: sha256=%s", sig);
    r = post("/webhooks/forms/tf", tf, NULL, h1, NULL, NULL);
    expect_status(r, 202, "typeform");
    harness_resp_destroy(&r);
    wait_lead("tia@example.com");
    cr_expect_eq(
        count("SELECT count(*) FROM leads.leads WHERE email = 'tia@example.com' AND last_name = 'Typer'"), 1);

    /* Webflow signed (ms timestamp) and unsigned; a numeric phone stays a digit string. */
    const char *wf =
        "{\"triggerType\":\"form_submission\",\"payload\":{\"name\":\"Contact\",\"siteId\":\"s\","
        "\"data\":{\"First Name\":\"Wendy\",\"Last Name\":\"Flow\",\"Email\":\"wendy@example.com\","
        "\"Phone\":919876543210},\"submittedAt\":\"2025-11-22T10:15:42Z\",\"id\":\"wf-1\"}}";
    char ts[32], prefix[40];
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL) * 1000);
    snprintf(prefix, sizeof prefix, "%s:", ts);
    hmac_hex(EVP_sha256(), "wf-secret", prefix, wf, sig);
    snprintf(h1, sizeof h1, "x-webflow-timestamp: %s", ts);
    snprintf(h2, sizeof h2, "x-webflow-signature: %s", sig);
    r = post("/webhooks/forms/wf", wf, NULL, h1, h2, NULL);
    expect_status(r, 202, "webflow signed");
    harness_resp_destroy(&r);
    wait_lead("wendy@example.com");
    cr_expect_eq(
        count(
            "SELECT count(*) FROM leads.leads WHERE email = 'wendy@example.com' AND phone = '919876543210'"),
        1);
    const char *wfo = "{\"triggerType\":\"form_submission\",\"payload\":{\"data\":{\"name\":\"Open Webflow\","
                      "\"email\":\"open@example.com\"},\"id\":\"wfo-1\"}}";
    r = post("/webhooks/forms/wfopen", wfo, NULL, NULL, NULL, NULL);
    expect_status(r, 202, "webflow unsigned (declared)");
    harness_resp_destroy(&r);
    wait_lead("open@example.com");

    /* Generic JSON with a mapping, a delivery id in the body, an event filter, GitHub-style sig. */
    const char *gj = "{\"event\":\"signup\",\"meta\":{\"id\":\"g-1\"},\"person\":{\"surname\":\"Generic\","
                     "\"note\":\"it's; DROP TABLE leads; --\",\"contact\":{\"mail\":\"gina@example.com\"}}}";
    hmac_hex(EVP_sha256(), "gh-secret", NULL, gj, sig);
    snprintf(h1, sizeof h1, "X-Hub-Signature-256: sha256=%s", sig);
    r = post("/webhooks/forms/generic", gj, NULL, h1, NULL, NULL);
    expect_status(r, 202, "generic json");
    harness_resp_destroy(&r);
    r = post("/webhooks/forms/generic", gj, NULL, h1, NULL, NULL);
    expect_status(r, 200, "generic json repeated (body delivery id)");
    harness_resp_destroy(&r);
    const char *gother =
        "{\"event\":\"unsubscribe\",\"meta\":{\"id\":\"g-2\"},\"person\":{\"surname\":\"X\"}}";
    hmac_hex(EVP_sha256(), "gh-secret", NULL, gother, sig);
    snprintf(h1, sizeof h1, "X-Hub-Signature-256: sha256=%s", sig);
    r = post("/webhooks/forms/generic", gother, NULL, h1, NULL, NULL);
    expect_status(r, 200, "generic json, other event");
    harness_resp_destroy(&r);
    wait_lead("gina@example.com");
    cr_expect_eq(count("SELECT count(*) FROM leads.leads WHERE email = 'gina@example.com' AND "
                       "description = 'it''s; DROP TABLE leads; --'"),
                 1, "SQL metacharacters stored verbatim");
    cr_expect_eq(captured_with("from-generic"), 1, "constant tag");

    /* Stripe-style: t=,v1= (two v1 during rotation, one valid). */
    const char *st = "{\"email\":\"stan@example.com\"}";
    char tprefix[32];
    long long now = (long long)time(NULL);
    snprintf(tprefix, sizeof tprefix, "%lld.", now);
    hmac_hex(EVP_sha256(), "st-secret", tprefix, st, sig);
    snprintf(h1, sizeof h1, "Stripe-Signature: t=%lld,v1=%064d,v1=%s", now, 0, sig);
    r = post("/webhooks/forms/st", st, NULL, h1, NULL, NULL);
    expect_status(r, 202, "stripe-style");
    harness_resp_destroy(&r);
    snprintf(tprefix, sizeof tprefix, "%lld.", now - 1000);
    hmac_hex(EVP_sha256(), "st-secret", tprefix, st, sig);
    snprintf(h1, sizeof h1, "Stripe-Signature: t=%lld,v1=%s", now - 1000, sig);
    r = post("/webhooks/forms/st", st, NULL, h1, NULL, NULL);
    expect_status(r, 401, "stripe-style stale");
    harness_resp_destroy(&r);
    wait_lead("stan@example.com");

    /* A source that never declared `signature: none` refuses everything. */
    r = post("/webhooks/chat/nosig", ic, NULL, NULL, NULL, NULL);
    expect_status(r, 401, "undeclared signature");
    harness_resp_destroy(&r);

    /* GET /v2/webhook_sources: every source, no secret. */
    r = harness_api(h, "GET", "/v2/webhook_sources", admin, NULL);
    expect_status(r, 200, "webhook_sources");
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 11, "%s", r->body);
    const char *secrets[] = {"zd-old-secret", "zd-new-secret", "ic-secret", "sun-key",  "lc-secret",
                             "tf-secret",     "wf-secret",     "gh-secret", "st-secret"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        cr_expect(strstr(r->body, secrets[i]) == NULL, "secret %s shown: %s", secrets[i], r->body);
    cr_expect(strstr(r->body, "\"secrets_configured\":2") != NULL, "rotation visible: %s", r->body);
    harness_resp_destroy(&r);
}

/* ---- the answer policy, row by row (on the Zendesk source) ------------------------------------ */

static bool metric_has(const char *needle)
{
    harness_resp_t *r = harness_http(h, &(harness_req_t){.path = "/metrics"});
    bool ok = r && r->body && strstr(r->body, needle);
    if (!ok && r)
        fprintf(stderr, "metrics lack %s\n", needle);
    harness_resp_destroy(&r);
    return ok;
}

static bool gateway_ready(harness_t *self, void *arg)
{
    (void)arg;
    harness_resp_t *r = harness_http(self, &(harness_req_t){.path = "/readyz"});
    bool ok = r && r->status == 200;
    harness_resp_destroy(&r);
    return ok;
}

Test(webhook_sources, policy_rows_archive_and_metrics)
{
    h = harness_start_opts(
        &(harness_opts_t){.gateway_sources = sources, .gateway_extra = "  max_body_bytes: 65536\n"});
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    const char *ok =
        "{\"ticket\":{\"id\":\"1\",\"requester\":{\"name\":\"Pol Icy\",\"email\":\"pol@example.com\"}}}";

    /* 1. unknown source, wrong group, other method */
    harness_resp_t *r = post("/webhooks/support/nope", ok, NULL, NULL, NULL, NULL);
    expect_status(r, 404, "unknown source");
    harness_resp_destroy(&r);
    r = post("/webhooks/chat/zd", ok, NULL, NULL, NULL, NULL);
    expect_status(r, 404, "support source under /chat/");
    harness_resp_destroy(&r);
    r = harness_http(h, &(harness_req_t){.method = "PUT", .path = "/webhooks/support/zd", .body = ok});
    expect_status(r, 405, "PUT");
    cr_expect_str_eq(harness_resp_header(r, "Allow") ?: "", "POST");
    harness_resp_destroy(&r);
    /* 2. size, before the body is read */
    size_t big_len = 200000;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    big[0] = '{';
    big[big_len - 1] = '}';
    big[big_len] = '\0';
    r = post("/webhooks/support/zd", big, NULL, NULL, NULL, NULL);
    cr_expect_eq(r->status, 413, "too large: %ld", r->status);
    harness_resp_destroy(&r);
    free(big);
    /* 3. content type */
    r = post("/webhooks/support/zd", ok, "text/plain", NULL, NULL, NULL);
    expect_status(r, 415, "text/plain");
    harness_resp_destroy(&r);
    r = post("/webhooks/support/zd", "email=x%40example.com", "application/x-www-form-urlencoded", NULL, NULL,
             NULL);
    expect_status(r, 415, "urlencoded to a JSON sender");
    harness_resp_destroy(&r);
    /* 4. missing, malformed, wrong, stale signature; charset parameter allowed */
    r = post("/webhooks/support/zd", ok, "application/json; charset=UTF-8", NULL, NULL, NULL);
    expect_status(r, 401, "missing signature");
    cr_expect(strstr(first_error_text(r, "details") ?: "", "X-Zendesk-Webhook-Signature") != NULL, "%s",
              r->body);
    harness_resp_destroy(&r);
    char ts[32], h1[200], h2[100];
    iso_now(0, ts);
    snprintf(h1, sizeof h1, "X-Zendesk-Webhook-Signature: not*base64");
    snprintf(h2, sizeof h2, "X-Zendesk-Webhook-Signature-Timestamp: %s", ts);
    r = post("/webhooks/support/zd", ok, NULL, h1, h2, NULL);
    expect_status(r, 401, "malformed signature");
    harness_resp_destroy(&r);
    r = zendesk(ok, "some-other-secret", 0, "p-1");
    expect_status(r, 401, "wrong secret");
    harness_resp_destroy(&r);
    r = zendesk(ok, "zd-new-secret", -3600, "p-1");
    expect_status(r, 401, "stale timestamp");
    cr_expect(strstr(first_error_text(r, "details") ?: "", "window") != NULL, "%s", r->body);
    harness_resp_destroy(&r);
    /* 5. parse: malformed JSON, invalid UTF-8, duplicate keys, not an object, deep nesting */
    r = zendesk("{\"ticket\":", "zd-new-secret", 0, "p-2");
    expect_status(r, 400, "malformed JSON");
    harness_resp_destroy(&r);
    r = zendesk("{\"ticket\":{\"requester\":{\"name\":\"\xff\xfe\",\"email\":\"u@example.com\"}}}",
                "zd-new-secret", 0, "p-3");
    expect_status(r, 400, "invalid UTF-8");
    harness_resp_destroy(&r);
    r = zendesk("{\"a\":1,\"a\":2}", "zd-new-secret", 0, "p-4");
    expect_status(r, 400, "duplicate keys");
    harness_resp_destroy(&r);
    r = zendesk("[1,2]", "zd-new-secret", 0, "p-5");
    expect_status(r, 400, "array body");
    harness_resp_destroy(&r);
    char *deep = malloc(20002);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    r = zendesk(deep, "zd-new-secret", 0, "p-6");
    expect_status(r, 400, "10000-deep nesting");
    harness_resp_destroy(&r);
    free(deep);
    /* 6. ignored: no usable contact from a machine sender */
    r = zendesk("{\"ticket\":{\"id\":\"2\",\"requester\":{\"name\":\"\",\"email\":\"\"}}}", "zd-new-secret",
                0, "p-7");
    expect_status(r, 200, "no contact: ignored");
    harness_resp_destroy(&r);
    /* 8. wrong type, bad e-mail: 422 naming the field */
    r = zendesk("{\"ticket\":{\"requester\":{\"name\":{\"x\":1},\"email\":\"a@example.com\"}}}",
                "zd-new-secret", 0, "p-8");
    expect_status(r, 422, "object where text is expected");
    harness_resp_destroy(&r);
    r = zendesk("{\"ticket\":{\"requester\":{\"name\":\"Bad Mail\",\"email\":\"not-an-address\"}}}",
                "zd-new-secret", 0, "p-9");
    expect_status(r, 422, "bad e-mail");
    cr_expect_str_eq(first_error_text(r, "field") ?: "", "/email", "%s", r->body);
    harness_resp_destroy(&r);
    /* 9 and 7: accepted, then the same invocation id is a repeat */
    r = zendesk(ok, "zd-new-secret", 0, "p-10");
    expect_status(r, 202, "accepted");
    long long first = json_integer_value(json_object_get(json_object_get(r->json, "data"), "delivery_id"));
    harness_resp_destroy(&r);
    r = zendesk(ok, "zd-new-secret", 0, "p-10");
    expect_status(r, 200, "repeat");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r->json, "data"), "delivery_id")), first);
    harness_resp_destroy(&r);
    wait_lead("pol@example.com");
    usleep((useconds_t)harness_ms(1000) * 1000);
    cr_expect_eq(count("SELECT count(*) FROM leads.leads"), 1, "only the 202 stored a lead");
    cr_expect_eq(count("SELECT count(*) FROM gateway.outbox WHERE type = 'lead.captured'"), 1);

    /* Metrics by source and reason. */
    cr_expect(metric_has("source=\"zd\",outcome=\"refused\",reason=\"signature_stale\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"refused\",reason=\"signature_mismatch\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"refused\",reason=\"signature_missing\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"refused\",reason=\"content_type\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"refused\",reason=\"parse\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"refused\",reason=\"too_large\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"refused\",reason=\"method\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"ignored\",reason=\"no_contact\""));
    cr_expect(metric_has("source=\"zd\",outcome=\"duplicate\",reason=\"seen\""));
    cr_expect(metric_has("source=\"unknown\",outcome=\"refused\",reason=\"unknown_source\""));

    /* The archive: filters, pagination, one delivery. */
    r = harness_api(h, "GET", "/v2/webhook_deliveries?source=zd&outcome=refused&per_page=100", admin, NULL);
    expect_status(r, 200, "archive list");
    json_t *items = json_object_get(r->json, "items");
    /* /chat/zd (404, archived under the name given), method, 413, 2×415, missing, malformed,
     * wrong, stale, 5×400, 2×422 */
    char reasons[1024] = "";
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *d = json_object_get(it, "data");
        snprintf(reasons + strlen(reasons), sizeof reasons - strlen(reasons), "%s:%lld ",
                 json_string_value(json_object_get(d, "reason")) ?: "?",
                 (long long)json_integer_value(json_object_get(d, "status")));
        cr_expect_str_eq(json_string_value(json_object_get(d, "outcome")) ?: "", "refused");
        cr_expect_str_eq(json_string_value(json_object_get(d, "source")) ?: "", "zd");
    }
    cr_expect_eq(json_array_size(items), 16, "refused zd deliveries: %s", reasons);
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/webhook_deliveries?source=zd&per_page=2&page=2", admin, NULL);
    expect_status(r, 200, "archive page 2");
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 2, "%s", r->body);
    cr_expect(json_is_string(
                  json_object_get(json_object_get(json_object_get(r->json, "meta"), "links"), "next_page")),
              "%s", r->body);
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/webhook_deliveries?outcome=bogus", admin, NULL);
    expect_status(r, 400, "bad outcome filter");
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/webhook_deliveries?color=red", admin, NULL);
    expect_status(r, 400, "unknown filter");
    harness_resp_destroy(&r);
    char path[96];
    snprintf(path, sizeof path, "/v2/webhook_deliveries/%lld", first);
    r = harness_api(h, "GET", path, admin, NULL);
    expect_status(r, 200, "one delivery");
    json_t *d = json_object_get(r->json, "data");
    cr_expect_str_eq(json_string_value(json_object_get(d, "outcome")) ?: "", "accepted");
    cr_expect_str_eq(json_string_value(json_object_get(d, "body")) ?: "", ok);
    cr_expect_str_eq(json_string_value(json_object_get(d, "delivery_id")) ?: "", "p-10");
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/webhook_deliveries/999999", admin, NULL);
    expect_status(r, 404, "missing delivery");
    harness_resp_destroy(&r);
    r = harness_api(h, "GET", "/v2/webhook_deliveries", NULL, NULL);
    expect_status(r, 401, "archive without a token");
    harness_resp_destroy(&r);

    /* 503: storage down → the sender is told to retry. */
    cr_assert_eq(harness_kill(h, "leads"), 0); /* unrelated to the gateway's storage: still 202 */
    r = zendesk("{\"ticket\":{\"requester\":{\"email\":\"while-leads-down@example.com\"}}}", "zd-new-secret",
                0, "p-11");
    expect_status(r, 202, "accepted while leads is down (durable in the gateway)");
    harness_resp_destroy(&r);
    pgtest_t *pg = harness_pg(h);
    cr_assert_not_null(pg);
    harness_sql_long(h,
                     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'crm_gateway'");
    harness_sql_long(h, "ALTER ROLE crm_gateway NOLOGIN");
    r = zendesk("{\"ticket\":{\"requester\":{\"email\":\"db-down@example.com\"}}}", "zd-new-secret", 0,
                "p-12");
    expect_status(r, 503, "storage down");
    cr_expect(harness_resp_header(r, "Retry-After") != NULL, "Retry-After on 503");
    harness_resp_destroy(&r);
    harness_sql_long(h, "ALTER ROLE crm_gateway LOGIN");
    cr_expect(harness_wait_until(h, harness_ms(20000), gateway_ready, NULL,
                                 "gateway /readyz after storage came back"));
    cr_expect(harness_running(h, "gateway"), "the gateway is still running");
}

/* ---- REST rate limit ------------------------------------------------------------------------- */

Test(webhook_sources, rest_rate_limit)
{
    h = harness_start_opts(&(harness_opts_t){.gateway_extra = "  rate_limit: {per_second: 1, burst: 3}\n"});
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    int limited = 0, okc = 0;
    for (int i = 0; i < 6; i++) {
        harness_resp_t *r = harness_api(h, "GET", "/v2/webhook_sources", admin, NULL);
        cr_assert_not_null(r);
        if (r->status == 429) {
            limited++;
            const char *ra = harness_resp_header(r, "Retry-After");
            cr_expect(ra && atoi(ra) >= 1, "Retry-After on 429: %s", ra ? ra : "(none)");
            cr_expect_str_eq(first_error_text(r, "code") ?: "", "rate_limit_exceeded", "%s", r->body);
        } else {
            cr_expect_eq(r->status, 200, "%s", r->body);
            okc++;
        }
        harness_resp_destroy(&r);
    }
    cr_expect(okc >= 3 && okc <= 4, "burst of 3 (+1 refill) allowed, got %d", okc);
    cr_expect(limited >= 2, "the rest limited, got %d", limited);
    /* Webhooks are not rate limited per token. */
    harness_resp_t *r = harness_post_form(h, "application/x-www-form-urlencoded", "email=rl%40example.com");
    cr_expect_eq(r->status, 202, "%s", r->body);
    harness_resp_destroy(&r);
    sleep(2);
    r = harness_api(h, "GET", "/v2/webhook_sources", admin, NULL);
    cr_expect_eq(r->status, 200, "refilled after Retry-After: %s", r->body);
    harness_resp_destroy(&r);
}

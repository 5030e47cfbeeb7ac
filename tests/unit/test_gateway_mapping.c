/* Unit tests of services/gateway/mapping.c: JSON pointers, the configured field mapping, each
 * sender's extractor (ignored events, agent authors, several events per POST) and step 8. */
#include <criterion/criterion.h>
#include <string.h>
#include "mapping.h"

static gw_source_t src_of(const char *type)
{
    gw_source_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "t");
    snprintf(s.kind, sizeof s.kind, "form");
    snprintf(s.type, sizeof s.type, "%s", type);
    return s;
}

static void map(gw_source_t *s, const char *field, const char *what, const char *v)
{
    gw_map_entry_t *m = &s->mapping[s->nmapping++];
    memset(m, 0, sizeof *m);
    snprintf(m->field, sizeof m->field, "%s", field);
    char *dst = strcmp(what, "pointer") == 0 ? m->pointer
                : strcmp(what, "ref") == 0   ? m->ref
                : strcmp(what, "label") == 0 ? m->label
                : strcmp(what, "key") == 0   ? m->key
                                             : m->value;
    snprintf(dst, 96, "%s", v);
}

static gw_captures_t run(const gw_source_t *s, const char *json, const char *hdr_id)
{
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(root, "%s", je.text);
    gw_captures_t c;
    crm_err_t err;
    crm_err_clear(&err);
    cr_assert_eq(gw_extract(s, root, hdr_id, &c, &err), CRM_OK, "%s", err.message);
    json_decref(root);
    return c;
}

Test(mapping, json_pointer)
{
    json_t *r = json_loads("{\"a\":{\"b/c\":[1,{\"~k\":\"v\"}]},\"\":5}", 0, NULL);
    cr_assert_not_null(r);
    cr_expect_eq(gw_json_pointer(r, ""), r);
    cr_expect_str_eq(json_string_value(gw_json_pointer(r, "/a/b~1c/1/~0k")), "v");
    cr_expect_eq(json_integer_value(gw_json_pointer(r, "/")), 5);
    cr_expect_null(gw_json_pointer(r, "/a/b~1c/01"), "leading zero");
    cr_expect_null(gw_json_pointer(r, "/a/b~1c/9"));
    cr_expect_null(gw_json_pointer(r, "a"));
    cr_expect_null(gw_json_pointer(r, "/a/~2"));
    json_decref(r);
}

Test(mapping, generic_json_mapping_constants_and_types)
{
    gw_source_t s = src_of("json");
    map(&s, "email", "pointer", "/p/mail");
    map(&s, "name", "pointer", "/p/full");
    map(&s, "phone", "pointer", "/p/tel");
    map(&s, "tags", "value", "const-tag");
    map(&s, "tags", "pointer", "/p/tags");
    snprintf(s.tags[s.ntags++], sizeof s.tags[0], "src-tag");
    gw_captures_t c = run(&s,
                          "{\"p\":{\"mail\":\"a@example.com\",\"full\":\"Ada King Lovelace\",\"tel\":"
                          "4930123456789,\"tags\":[\"x\",\"y\"]}}",
                          "hdr-1");
    cr_assert_eq(c.n, 1);
    gw_capture_t *k = &c.items[0];
    cr_expect_eq(k->outcome, GW_CAP_LEAD);
    cr_expect_str_eq(k->delivery_key, "hdr-1");
    cr_expect_str_eq(k->lc.first_name, "Ada King");
    cr_expect_str_eq(k->lc.last_name, "Lovelace");
    cr_expect_str_eq(k->lc.phone, "4930123456789", "integers keep every digit");
    cr_expect_eq(k->lc.n_tags, 4);
    cr_expect_str_eq(k->lc.tags[0], "const-tag");
    cr_expect_str_eq(k->lc.tags[3], "src-tag");
    gw_captures_free(&c);

    c = run(&s, "{\"p\":{\"mail\":{\"no\":1}}}", NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_INVALID);
    cr_expect_str_eq(c.items[0].err.field, "/p/mail");
    gw_captures_free(&c);
    c = run(&s, "{\"p\":{\"mail\":\"bad\"}}", NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_INVALID);
    cr_expect_str_eq(c.items[0].err.field, "/email");
    gw_captures_free(&c);
    c = run(&s, "{\"p\":{\"mail\":\"  \"}}", NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_IGNORED, "empty strings are absent: no contact");
    cr_expect_str_eq(c.items[0].reason, "no_contact");
    gw_captures_free(&c);

    snprintf(s.event_pointer, sizeof s.event_pointer, "/ev");
    snprintf(s.events[s.nevents++], sizeof s.events[0], "lead");
    c = run(&s, "{\"ev\":\"other\",\"p\":{\"mail\":\"a@example.com\"}}", NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_IGNORED);
    gw_captures_free(&c);
}

Test(mapping, zendesk_and_intercom)
{
    gw_source_t z = src_of("zendesk");
    gw_captures_t c =
        run(&z,
            "{\"ticket\":{\"id\":\"12\",\"subject\":\"S\",\"status\":\"new\",\"url\":\"u\",\"tags\":\"a "
            "b\",\"requester\":{\"name\":\"\",\"email\":\"r@example.com\",\"organization\":{\"name\":"
            "\"Org\"}}}}",
            "inv");
    gw_capture_t *k = &c.items[0];
    cr_expect_eq(k->outcome, GW_CAP_LEAD);
    cr_expect_str_eq(k->lc.ticket_id, "12");
    cr_expect_str_eq(k->lc.ticket_subject, "S");
    cr_expect_str_eq(k->lc.organization_name, "Org");
    cr_expect_null(k->lc.last_name, "organization given: no derived last name");
    cr_expect_eq(k->lc.n_tags, 2);
    gw_captures_free(&c);
    c = run(&z, "{\"type\":\"zen:event-type:ticket.created\",\"detail\":{\"requester_id\":\"1\"}}", "inv");
    cr_expect_eq(c.items[0].outcome, GW_CAP_IGNORED);
    gw_captures_free(&c);

    gw_source_t i = src_of("intercom");
    c = run(&i,
            "{\"id\":\"n1\",\"topic\":\"conversation.user.created\",\"data\":{\"item\":{\"source\":{\"body\":"
            "\"<p>a &lt;b&gt;</p><br>c\",\"author\":{\"type\":\"user\",\"email\":\"u@example.com\"}}}}}",
            NULL);
    k = &c.items[0];
    cr_expect_eq(k->outcome, GW_CAP_LEAD);
    cr_expect_str_eq(k->delivery_key, "n1");
    cr_expect_str_eq(k->lc.description, "a <b>\n\nc");
    cr_expect_str_eq(k->lc.last_name, "u", "from the e-mail's local part");
    gw_captures_free(&c);
    c = run(&i,
            "{\"id\":\"n2\",\"topic\":\"conversation.user.created\",\"data\":{\"item\":{\"source\":{"
            "\"author\":{\"type\":\"bot\",\"email\":\"b@example.com\"}}}}}",
            NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_IGNORED);
    gw_captures_free(&c);
}

Test(mapping, sunshine_livechat_typeform_webflow)
{
    gw_source_t s = src_of("sunshine");
    gw_captures_t c =
        run(&s,
            "{\"events\":[{\"id\":\"e1\",\"type\":\"conversation:message\",\"payload\":{\"message\":"
            "{\"author\":{\"type\":\"user\",\"displayName\":\"Web User 5f\"},\"content\":{\"type\":"
            "\"formResponse\",\"fields\":[{\"type\":\"email\",\"name\":\"email\",\"email\":"
            "\"f@example.com\"},{\"type\":\"text\",\"name\":\"first_name\",\"text\":\"Fi\"}]}}}},"
            "{\"id\":\"e2\",\"type\":\"conversation:read\"}]}",
            NULL);
    cr_assert_eq(c.n, 2);
    cr_expect_eq(c.items[0].outcome, GW_CAP_LEAD);
    cr_expect_str_eq(c.items[0].lc.email, "f@example.com");
    cr_expect_str_eq(c.items[0].lc.first_name, "Fi");
    cr_expect_str_eq(c.items[0].lc.last_name, "f", "anonymous display name is not a name");
    cr_expect_eq(c.items[1].outcome, GW_CAP_IGNORED);
    cr_expect_str_eq(c.items[1].delivery_key, "e2");
    gw_captures_free(&c);

    gw_source_t t = src_of("typeform");
    map(&t, "organization_name", "ref", "co");
    c = run(
        &t,
        "{\"event_id\":\"E\",\"event_type\":\"form_response\",\"form_response\":{\"answers\":[{\"type\":"
        "\"choices\",\"choices\":{\"labels\":[\"A\",\"B\"]},\"field\":{\"ref\":\"co\"}},{\"type\":\"phone_"
        "number\",\"phone_number\":\"+4915112345678\",\"field\":{\"ref\":\"zzz\"}}]}}",
        NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_LEAD);
    cr_expect_str_eq(c.items[0].lc.organization_name, "A, B");
    cr_expect_str_eq(c.items[0].lc.phone_e164, "+4915112345678");
    cr_expect_null(c.items[0].lc.context_json, "no hidden fields, no context");
    gw_captures_free(&c);
    /* Typeform's hidden fields (utm values) are the capture context. */
    c = run(&t,
            "{\"event_id\":\"H\",\"event_type\":\"form_response\",\"form_response\":{\"hidden\":{"
            "\"utm_source\":\"ads\",\"utm_medium\":\"cpc\"},\"answers\":[{\"type\":\"email\",\"email\":"
            "\"h@example.com\",\"field\":{\"ref\":\"q1\"}}]}}",
            NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_LEAD);
    cr_expect_str_eq(c.items[0].lc.context_json, "{\"utm_medium\":\"cpc\",\"utm_source\":\"ads\"}");
    gw_captures_free(&c);

    gw_source_t w = src_of("webflow");
    c = run(&w,
            "{\"triggerType\":\"form_submission\",\"payload\":{\"id\":\"W\",\"data\":{\"Email\":\"w@example."
            "com\","
            "\"Phone\":919876543210,\"Subscribe\":true}}}",
            NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_LEAD);
    cr_expect_str_eq(c.items[0].lc.phone, "919876543210");
    cr_expect_str_eq(c.items[0].delivery_key, "W");
    gw_captures_free(&c);

    gw_source_t l = src_of("livechat");
    c = run(&l, "{\"action\":\"chat_deactivated\",\"payload\":{\"chat\":{\"id\":\"C\"}}}", NULL);
    cr_expect_eq(c.items[0].outcome, GW_CAP_IGNORED);
    cr_expect_str_eq(c.items[0].delivery_key, "C");
    gw_captures_free(&c);
}

Test(mapping, phone_e164)
{
    char *p = gw_phone_e164("+49 (30) 123-456");
    cr_expect_str_eq(p, "+4930123456");
    free(p);
    p = gw_phone_e164("0044 20 7946 0000");
    cr_expect_str_eq(p, "+442079460000");
    free(p);
    cr_expect_null(gw_phone_e164("030 123456"), "national: unknown country");
    cr_expect_null(gw_phone_e164("+1 555 CALL NOW"));
    cr_expect_null(gw_phone_e164("+1234"));
}

/* libFuzzer target for the JSON field mapper and the payload extractors: the input is
 * "<json pointer>\n<json body>"; the body goes through every sender type's extractor (with a
 * mapping of pointers, refs, labels, keys and constants), the pointer through gw_json_pointer,
 * and every line through the phone normaliser. A capture that is a lead must satisfy step 8. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "mapping.h"

static void check_text(const char *s)
{
    if (s && s[0] == '\0')
        abort(); /* an empty value means absent */
}

static void add(gw_source_t *s, const char *field, char kind, const char *v)
{
    gw_map_entry_t *m = &s->mapping[s->nmapping++];
    memset(m, 0, sizeof *m);
    snprintf(m->field, sizeof m->field, "%s", field);
    char *dst = kind == 'p'   ? m->pointer
                : kind == 'r' ? m->ref
                : kind == 'l' ? m->label
                : kind == 'k' ? m->key
                              : m->value;
    snprintf(dst, 96, "%s", v);
}

static void run(const char *type, json_t *root, const char *ptr)
{
    gw_source_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "fuzz");
    snprintf(s.type, sizeof s.type, "%s", type);
    add(&s, "email", 'p', "/email");
    add(&s, "name", 'p', "/a/0/name");
    add(&s, "tags", 'p', "/tags");
    add(&s, "description", 'p', ptr[0] == '/' ? ptr : "/d");
    add(&s, "organization_name", 'r', "co");
    add(&s, "phone", 'l', "Tel");
    add(&s, "title", 'k', "Job");
    add(&s, "tags", 'v', "const");
    snprintf(s.tags[s.ntags++], sizeof s.tags[0], "src");
    snprintf(s.event_pointer, sizeof s.event_pointer, "/event");
    snprintf(s.events[s.nevents++], sizeof s.events[0], "lead");
    gw_captures_t c;
    crm_err_t err;
    crm_err_clear(&err);
    int rc = gw_extract(&s, root, "hdr", &c, &err);
    if (rc != CRM_OK) {
        if (rc != CRM_EBADREQUEST || c.n != 0)
            abort();
        return;
    }
    if (c.n == 0)
        abort();
    for (size_t i = 0; i < c.n; i++) {
        gw_capture_t *k = &c.items[i];
        if (k->outcome == GW_CAP_LEAD) {
            Crm__LeadCaptured *lc = &k->lc;
            if (!lc->last_name && !lc->organization_name)
                abort();
            if (lc->email && !gw_form_email_ok(lc->email))
                abort();
            check_text(lc->first_name);
            check_text(lc->last_name);
            check_text(lc->email);
            check_text(lc->phone);
            check_text(lc->description);
            check_text(lc->ticket_id);
            for (size_t t = 0; t < lc->n_tags; t++)
                check_text(lc->tags[t]);
            if (lc->phone_e164 && lc->phone_e164[0] != '+')
                abort();
        }
        if (k->delivery_key && (!k->delivery_key[0] || strlen(k->delivery_key) > 255))
            abort();
    }
    gw_captures_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - (const char *)data) : 0;
    if (plen > 200)
        plen = 200;
    char ptr[201];
    memcpy(ptr, data, plen);
    ptr[plen] = '\0';
    const char *body = nl ? nl + 1 : (const char *)data;
    size_t blen = size - (size_t)(body - (const char *)data);
    char *phone = gw_phone_e164(ptr);
    if (phone && phone[0] != '+')
        abort();
    free(phone);
    json_error_t jerr;
    json_t *root = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return 0;
    (void)gw_json_pointer(root, ptr);
    static const char *const types[] = {"zendesk",  "intercom", "sunshine", "livechat",
                                        "typeform", "webflow",  "json"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        run(types[i], root, ptr);
    json_decref(root);
    return 0;
}

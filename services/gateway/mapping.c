/* Inbound payloads → crm.LeadCaptured (see mapping.h). A capture is built in a work_t of
 * malloc'd strings where the first value given for a field wins: the source's mapping entries
 * run first, then the sender type's defaults, then the source's constant tags. Nothing
 * recurses over the input: pointers walk one level per segment. */
#include "mapping.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "form.h"

/* ---- fields --------------------------------------------------------------------------------- */

typedef enum {
    F_FIRST,
    F_LAST,
    F_NAME,
    F_ORG,
    F_EMAIL,
    F_PHONE,
    F_TITLE,
    F_DESC,
    F_TICKET_ID,
    F_TICKET_SUBJECT,
    F_TICKET_STATUS,
    F_TICKET_URL,
    NF,
    F_TAGS = NF,
    F_NONE = -1,
} fid_t;

static const struct {
    const char *name;
    fid_t f;
} field_names[] = {
    {"first_name", F_FIRST},
    {"firstname", F_FIRST},
    {"fname", F_FIRST},
    {"given_name", F_FIRST},
    {"last_name", F_LAST},
    {"lastname", F_LAST},
    {"lname", F_LAST},
    {"surname", F_LAST},
    {"name", F_NAME},
    {"full_name", F_NAME},
    {"organization_name", F_ORG},
    {"organization", F_ORG},
    {"company", F_ORG},
    {"email", F_EMAIL},
    {"e-mail", F_EMAIL},
    {"work_email", F_EMAIL},
    {"phone", F_PHONE},
    {"phone_number", F_PHONE},
    {"tel", F_PHONE},
    {"title", F_TITLE},
    {"job_title", F_TITLE},
    {"description", F_DESC},
    {"message", F_DESC},
    {"comments", F_DESC},
    {"tags", F_TAGS},
    {"interests", F_TAGS},
    {"ticket_id", F_TICKET_ID},
    {"ticket_subject", F_TICKET_SUBJECT},
    {"ticket_status", F_TICKET_STATUS},
    {"ticket_url", F_TICKET_URL},
};

/* A field by name: case-insensitive, spaces and dashes count as underscores ("First Name",
 * "e-mail" stays an alias of its own). */
static fid_t field_of(const char *name)
{
    if (!name)
        return F_NONE;
    char norm[64];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof norm)
        return F_NONE;
    for (size_t i = 0; i <= n; i++)
        norm[i] = (char)(name[i] == ' ' ? '_' : tolower((unsigned char)name[i]));
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
        if (strcmp(field_names[i].name, norm) == 0)
            return field_names[i].f;
    /* "Your e-mail address", "Phone number (mobile)": LiveChat labels and form names vary. */
    if (strstr(norm, "mail"))
        return F_EMAIL;
    if (strstr(norm, "phone"))
        return F_PHONE;
    return F_NONE;
}

bool gw_mapping_field_ok(const char *field)
{
    for (size_t i = 0; field && i < sizeof field_names / sizeof field_names[0]; i++)
        if (strcmp(field_names[i].name, field) == 0)
            return true;
    return false;
}

typedef struct {
    char *f[NF];
    char **tags;
    size_t ntags;
    bool oom;
    bool bad; /* a mapped value of the wrong type */
    char badfield[160];
} work_t;

static void work_free(work_t *w)
{
    for (int i = 0; i < NF; i++)
        free(w->f[i]);
    for (size_t i = 0; i < w->ntags; i++)
        free(w->tags[i]);
    free(w->tags);
    memset(w, 0, sizeof *w);
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static char *trimmed(const char *v, size_t len, bool *oom)
{
    while (len > 0 && is_space((unsigned char)v[0])) {
        v++;
        len--;
    }
    while (len > 0 && is_space((unsigned char)v[len - 1]))
        len--;
    if (len == 0)
        return NULL;
    char *s = malloc(len + 1);
    if (!s) {
        *oom = true;
        return NULL;
    }
    memcpy(s, v, len);
    s[len] = '\0';
    return s;
}

static void add_tag(work_t *w, const char *v, size_t len)
{
    char *t = trimmed(v, len, &w->oom);
    if (!t)
        return;
    for (size_t i = 0; i < w->ntags; i++)
        if (strcmp(w->tags[i], t) == 0) {
            free(t);
            return;
        }
    char **nt = realloc(w->tags, (w->ntags + 1) * sizeof *nt);
    if (!nt) {
        free(t);
        w->oom = true;
        return;
    }
    w->tags = nt;
    w->tags[w->ntags++] = t;
}

/* Tags from text: separated by whitespace or commas (Zendesk renders tags space-separated). */
static void add_tags_text(work_t *w, const char *s)
{
    while (*s) {
        size_t skip = strspn(s, " \t\r\n,");
        s += skip;
        size_t n = strcspn(s, " \t\r\n,");
        if (n > 0)
            add_tag(w, s, n);
        s += n;
    }
}

static void set_text(work_t *w, fid_t f, const char *v)
{
    if (f == F_NONE || !v)
        return;
    if (f == F_TAGS) {
        add_tags_text(w, v);
        return;
    }
    if (w->f[f])
        return; /* first value wins */
    w->f[f] = trimmed(v, strlen(v), &w->oom);
}

/* The text of a scalar JSON value into buf (or a pointer to the string itself); NULL for null,
 * objects and arrays. Integers keep every digit ("919876543210", never 9.19e11). */
static const char *scalar_text(const json_t *v, char buf[48])
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, 48, "%lld", (long long)json_integer_value(v));
        return buf;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d < 1e15 && d > -1e15 && d == (double)(long long)d) /* range first: the cast is UB outside */
            snprintf(buf, 48, "%lld", (long long)d);
        else
            snprintf(buf, 48, "%.17g", d);
        return buf;
    }
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

/* Sets field f from a JSON value; where names the value in a 422 (a JSON pointer). */
static void set_json(work_t *w, fid_t f, const json_t *v, const char *where)
{
    if (!v || json_is_null(v) || f == F_NONE)
        return;
    if (f == F_TAGS && json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            char buf[48];
            const char *t = scalar_text(e, buf);
            if (t)
                add_tag(w, t, strlen(t));
        }
        return;
    }
    char buf[48];
    const char *t = scalar_text(v, buf);
    if (!t) {
        if (!w->bad) {
            w->bad = true;
            snprintf(w->badfield, sizeof w->badfield, "%s", where ? where : "");
        }
        return;
    }
    set_text(w, f, t);
}

/* ---- JSON pointer -------------------------------------------------------------------------- */

json_t *gw_json_pointer(json_t *root, const char *ptr)
{
    if (!root || !ptr)
        return NULL;
    if (!ptr[0])
        return root;
    if (ptr[0] != '/')
        return NULL;
    json_t *cur = root;
    const char *p = ptr + 1;
    char seg[256];
    for (;;) {
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~') {
                if (*p == '0')
                    c = '~';
                else if (*p == '1')
                    c = '/';
                else
                    return NULL;
                p++;
            }
            if (n + 1 >= sizeof seg)
                return NULL;
            seg[n++] = c;
        }
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, seg, n);
        } else if (json_is_array(cur)) {
            if (n == 0 || n > 9 || (n > 1 && seg[0] == '0') || strspn(seg, "0123456789") != n)
                return NULL;
            cur = json_array_get(cur, (size_t)strtoul(seg, NULL, 10));
        } else {
            return NULL;
        }
        if (!cur)
            return NULL;
        if (!*p)
            return cur;
        p++; /* the '/' */
    }
}

static const char *ptr_str(json_t *root, const char *ptr)
{
    return json_string_value(gw_json_pointer(root, ptr));
}

/* ---- building captures ----------------------------------------------------------------------- */

static gw_capture_t *cap_new(gw_captures_t *out)
{
    gw_capture_t *items = realloc(out->items, (out->n + 1) * sizeof *items);
    if (!items)
        return NULL;
    out->items = items;
    gw_capture_t *c = &items[out->n++];
    memset(c, 0, sizeof *c);
    Crm__LeadCaptured init = CRM__LEAD_CAPTURED__INIT;
    c->lc = init;
    crm_err_clear(&c->err);
    return c;
}

static void cap_ignore(gw_capture_t *c, const char *reason)
{
    c->outcome = GW_CAP_IGNORED;
    snprintf(c->reason, sizeof c->reason, "%s", reason);
}

static void cap_key(gw_capture_t *c, const json_t *v)
{
    char buf[48];
    const char *t = v ? scalar_text(v, buf) : NULL;
    if (t && t[0] && strlen(t) <= 255)
        c->delivery_key = strdup(t);
}

/* The mapping entries of src that read JSON (pointer, constant value), against base. */
static void apply_mapping(const gw_source_t *src, json_t *base, work_t *w)
{
    for (size_t i = 0; i < src->nmapping; i++) {
        const gw_map_entry_t *m = &src->mapping[i];
        fid_t f = field_of(m->field);
        if (m->pointer[0])
            set_json(w, f, gw_json_pointer(base, m->pointer), m->pointer);
        else if (m->value[0])
            set_text(w, f, m->value);
    }
}

/* The field a form-ish name maps to: an entry of src with that key (or label / ref, by
 * `which`), else the common field names. */
static fid_t named_field(const gw_source_t *src, const char *name, char which)
{
    if (!name)
        return F_NONE;
    for (size_t i = 0; i < src->nmapping; i++) {
        const gw_map_entry_t *m = &src->mapping[i];
        const char *k = which == 'k' ? m->key : which == 'l' ? m->label : m->ref;
        if (k[0] && strcasecmp(k, name) == 0)
            return field_of(m->field);
    }
    return field_of(name);
}

/* Moves the work fields into the capture, runs step 8, sets the outcome. */
static void cap_finish(const gw_source_t *src, gw_capture_t *c, work_t *w)
{
    for (size_t i = 0; i < src->ntags; i++)
        add_tag(w, src->tags[i], strlen(src->tags[i]));
    if (w->oom) {
        work_free(w);
        cap_ignore(c, "out_of_memory");
        return;
    }
    if (w->bad) {
        c->outcome = GW_CAP_INVALID;
        snprintf(c->reason, sizeof c->reason, "invalid_type");
        crm_err_set(&c->err, CRM_EINVALID, w->badfield, "invalid_type",
                    "%s holds an object or array where text is expected", w->badfield);
        work_free(w);
        return;
    }
    Crm__LeadCaptured *lc = &c->lc;
    char *name = w->f[F_NAME];
    /* "Ada King Lovelace" → first "Ada King", last "Lovelace", for the parts not given. */
    if (name && !(w->f[F_FIRST] && w->f[F_LAST])) {
        size_t len = strlen(name), cut = len;
        while (cut > 0 && !is_space((unsigned char)name[cut - 1]))
            cut--;
        if (!w->f[F_LAST])
            w->f[F_LAST] = trimmed(name + cut, len - cut, &w->oom);
        if (cut > 0 && !w->f[F_FIRST])
            w->f[F_FIRST] = trimmed(name, cut, &w->oom);
    }
    free(name);
    w->f[F_NAME] = NULL;
    lc->first_name = w->f[F_FIRST];
    lc->last_name = w->f[F_LAST];
    lc->organization_name = w->f[F_ORG];
    lc->email = w->f[F_EMAIL];
    lc->phone = w->f[F_PHONE];
    lc->title = w->f[F_TITLE];
    lc->description = w->f[F_DESC];
    lc->ticket_id = w->f[F_TICKET_ID];
    lc->ticket_subject = w->f[F_TICKET_SUBJECT];
    lc->ticket_status = w->f[F_TICKET_STATUS];
    lc->ticket_url = w->f[F_TICKET_URL];
    lc->tags = w->tags;
    lc->n_tags = w->ntags;
    memset(w, 0, sizeof *w);
    crm_err_t e;
    crm_err_clear(&e);
    int rc = gw_capture_finish(lc, &e);
    if (rc == CRM_ENOTFOUND) {
        cap_ignore(c, "no_contact");
    } else if (rc != CRM_OK) {
        c->outcome = GW_CAP_INVALID;
        snprintf(c->reason, sizeof c->reason, "invalid_%s", e.reason[0] ? e.reason : "field");
        c->err = e;
    }
}

/* Strips HTML to text: tags removed (<br>, </p>, </div> become newlines), a few entities. */
static char *html_text(const char *html)
{
    size_t n = strlen(html);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (html[i] == '<') {
            const char *close = strchr(html + i, '>');
            if (!close)
                break;
            size_t tl = (size_t)(close - (html + i));
            if ((tl >= 3 && strncasecmp(html + i, "<br", 3) == 0) ||
                (tl >= 3 && (strncasecmp(html + i, "</p", 3) == 0 || strncasecmp(html + i, "</div", 5) == 0)))
                out[o++] = '\n';
            i += tl + 1;
            continue;
        }
        if (html[i] == '&') {
            static const struct {
                const char *ent;
                char c;
            } ents[] = {{"&amp;", '&'},  {"&lt;", '<'},   {"&gt;", '>'},
                        {"&quot;", '"'}, {"&#39;", '\''}, {"&nbsp;", ' '}};
            bool done = false;
            for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                size_t el = strlen(ents[k].ent);
                if (strncmp(html + i, ents[k].ent, el) == 0) {
                    out[o++] = ents[k].c;
                    i += el;
                    done = true;
                    break;
                }
            }
            if (done)
                continue;
        }
        out[o++] = html[i++];
    }
    out[o] = '\0';
    return out;
}

/* ---- extractors ------------------------------------------------------------------------------ */

static int extract_json(const gw_source_t *src, json_t *root, const char *hdr_id, gw_captures_t *out)
{
    gw_capture_t *c = cap_new(out);
    if (!c)
        return CRM_EINTERNAL;
    if (src->delivery_pointer[0])
        cap_key(c, gw_json_pointer(root, src->delivery_pointer));
    else if (hdr_id)
        c->delivery_key = strdup(hdr_id);
    if (src->event_pointer[0]) {
        const char *ev = ptr_str(root, src->event_pointer);
        bool wanted = false;
        for (size_t i = 0; ev && i < src->nevents; i++)
            if (strcmp(ev, src->events[i]) == 0)
                wanted = true;
        if (!wanted) {
            cap_ignore(c, "event_type");
            return CRM_OK;
        }
    }
    work_t w = {0};
    apply_mapping(src, root, &w);
    cap_finish(src, c, &w);
    return CRM_OK;
}

static int extract_zendesk(const gw_source_t *src, json_t *root, const char *hdr_id, gw_captures_t *out)
{
    gw_capture_t *c = cap_new(out);
    if (!c)
        return CRM_EINTERNAL;
    if (src->delivery_pointer[0])
        cap_key(c, gw_json_pointer(root, src->delivery_pointer));
    else if (hdr_id)
        c->delivery_key = strdup(hdr_id);
    const char *type = ptr_str(root, "/type");
    if (type && strncmp(type, "zen:event-type:", 15) == 0) {
        /* Event subscriptions carry only requester_id: no lead without the Users API. */
        cap_ignore(c, "event_subscription");
        return CRM_OK;
    }
    work_t w = {0};
    apply_mapping(src, root, &w);
    static const struct {
        const char *ptr;
        fid_t f;
    } defaults[] = {
        {"/ticket/id", F_TICKET_ID},
        {"/ticket/subject", F_TICKET_SUBJECT},
        {"/ticket/title", F_TICKET_SUBJECT},
        {"/ticket/status", F_TICKET_STATUS},
        {"/ticket/url", F_TICKET_URL},
        {"/ticket/link", F_TICKET_URL},
        {"/ticket/description", F_DESC},
        {"/ticket/tags", F_TAGS},
        {"/ticket/requester/first_name", F_FIRST},
        {"/ticket/requester/last_name", F_LAST},
        {"/ticket/requester/name", F_NAME},
        {"/ticket/requester/email", F_EMAIL},
        {"/ticket/requester/phone", F_PHONE},
        {"/ticket/requester/organization", F_ORG},
        {"/ticket/requester/organization/name", F_ORG},
        {"/requester/first_name", F_FIRST},
        {"/requester/last_name", F_LAST},
        {"/requester/name", F_NAME},
        {"/requester/email", F_EMAIL},
        {"/requester/phone", F_PHONE},
        {"/requester/organization", F_ORG},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        json_t *v = gw_json_pointer(root, defaults[i].ptr);
        size_t pl = strlen(defaults[i].ptr);
        /* an organization object is read through its "name" (the next entry) */
        if (json_is_object(v) && pl > 13 && strcmp(defaults[i].ptr + pl - 13, "/organization") == 0)
            continue;
        set_json(&w, defaults[i].f, v, defaults[i].ptr);
    }
    cap_finish(src, c, &w);
    return CRM_OK;
}

static int extract_intercom(const gw_source_t *src, json_t *root, gw_captures_t *out)
{
    gw_capture_t *c = cap_new(out);
    if (!c)
        return CRM_EINTERNAL;
    cap_key(c, gw_json_pointer(root, "/id"));
    const char *topic = ptr_str(root, "/topic");
    if (!topic || strcmp(topic, "conversation.user.created") != 0) {
        cap_ignore(c, topic && strcmp(topic, "ping") == 0 ? "ping" : "topic");
        return CRM_OK;
    }
    json_t *author = gw_json_pointer(root, "/data/item/source/author");
    const char *atype = ptr_str(author, "/type");
    if (!atype || (strcmp(atype, "user") != 0 && strcmp(atype, "lead") != 0)) {
        cap_ignore(c, "author_type"); /* admins and bots are never leads */
        return CRM_OK;
    }
    work_t w = {0};
    apply_mapping(src, root, &w);
    set_json(&w, F_NAME, gw_json_pointer(author, "/name"), "/data/item/source/author/name");
    set_json(&w, F_EMAIL, gw_json_pointer(author, "/email"), "/data/item/source/author/email");
    const char *body = ptr_str(root, "/data/item/source/body");
    if (body && !w.f[F_DESC]) {
        char *t = html_text(body);
        if (t)
            set_text(&w, F_DESC, t);
        free(t);
    }
    set_json(&w, F_TICKET_ID, gw_json_pointer(root, "/data/item/id"), "/data/item/id");
    const char *subject = ptr_str(root, "/data/item/source/subject");
    if (subject && !w.f[F_TICKET_SUBJECT]) {
        char *t = html_text(subject);
        if (t)
            set_text(&w, F_TICKET_SUBJECT, t);
        free(t);
    }
    set_json(&w, F_TICKET_STATUS, gw_json_pointer(root, "/data/item/state"), "/data/item/state");
    set_json(&w, F_TICKET_URL, gw_json_pointer(root, "/data/item/source/url"), "/data/item/source/url");
    cap_finish(src, c, &w);
    return CRM_OK;
}

static bool anonymous_name(const char *s)
{
    return s && strncmp(s, "Web User ", 9) == 0;
}

static int extract_sunshine(const gw_source_t *src, json_t *root, gw_captures_t *out, crm_err_t *err)
{
    json_t *events = json_object_get(root, "events");
    if (!json_is_array(events) || json_array_size(events) == 0)
        return crm_err_set(err, CRM_EBADREQUEST, "/events", "malformed",
                           "a Sunshine Conversations delivery needs a non-empty events array");
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        gw_capture_t *c = cap_new(out);
        if (!c)
            return CRM_EINTERNAL;
        cap_key(c, json_object_get(ev, "id"));
        const char *type = ptr_str(ev, "/type");
        if (!type || strcmp(type, "conversation:message") != 0) {
            cap_ignore(c, "event_type");
            continue;
        }
        json_t *author = gw_json_pointer(ev, "/payload/message/author");
        const char *atype = ptr_str(author, "/type");
        if (!atype || strcmp(atype, "user") != 0) {
            cap_ignore(c, "author_type"); /* "business": our own agents */
            continue;
        }
        work_t w = {0};
        apply_mapping(src, ev, &w);
        json_t *content = gw_json_pointer(ev, "/payload/message/content");
        const char *ctype = ptr_str(content, "/type");
        if (ctype && strcmp(ctype, "formResponse") == 0) {
            size_t j;
            json_t *fld;
            json_array_foreach(json_object_get(content, "fields"), j, fld)
            {
                fid_t f = named_field(src, ptr_str(fld, "/name"), 'k');
                json_t *v = json_object_get(fld, "text");
                if (!v)
                    v = json_object_get(fld, "email");
                if (!v) {
                    json_t *sel = json_object_get(fld, "select");
                    v = json_is_array(sel) ? json_object_get(json_array_get(sel, 0), "label") : sel;
                }
                set_json(&w, f, v, "/payload/message/content/fields");
            }
        } else {
            set_json(&w, F_DESC, gw_json_pointer(content, "/text"), "/payload/message/content/text");
        }
        set_json(&w, F_FIRST, gw_json_pointer(author, "/user/profile/givenName"), "givenName");
        set_json(&w, F_LAST, gw_json_pointer(author, "/user/profile/surname"), "surname");
        set_json(&w, F_EMAIL, gw_json_pointer(author, "/user/profile/email"), "email");
        set_json(&w, F_ORG, gw_json_pointer(author, "/user/metadata/company"), "company");
        const char *dn = ptr_str(author, "/displayName");
        if (dn && !anonymous_name(dn) && !w.f[F_FIRST] && !w.f[F_LAST])
            set_text(&w, F_NAME, dn);
        set_json(&w, F_TICKET_ID, gw_json_pointer(ev, "/payload/conversation/id"), "conversation id");
        cap_finish(src, c, &w);
    }
    return CRM_OK;
}

static int extract_livechat(const gw_source_t *src, json_t *root, gw_captures_t *out)
{
    gw_capture_t *c = cap_new(out);
    if (!c)
        return CRM_EINTERNAL;
    json_t *chat = gw_json_pointer(root, "/payload/chat");
    json_t *key = gw_json_pointer(chat, "/thread/id");
    cap_key(c, key ? key : gw_json_pointer(chat, "/id"));
    const char *action = ptr_str(root, "/action");
    if (!action || strcmp(action, "incoming_chat") != 0) {
        cap_ignore(c, "event_type");
        return CRM_OK;
    }
    work_t w = {0};
    apply_mapping(src, root, &w);
    const char *customer_id = NULL;
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(chat, "users"), i, u)
    {
        const char *t = ptr_str(u, "/type");
        if (t && strcmp(t, "customer") == 0) {
            customer_id = ptr_str(u, "/id");
            set_json(&w, F_NAME, json_object_get(u, "name"), "/payload/chat/users/name");
            set_json(&w, F_EMAIL, json_object_get(u, "email"), "/payload/chat/users/email");
            break;
        }
    }
    json_t *ev;
    json_array_foreach(gw_json_pointer(chat, "/thread/events"), i, ev)
    {
        const char *t = ptr_str(ev, "/type");
        if (t && strcmp(t, "filled_form") == 0) {
            size_t j;
            json_t *fld;
            json_array_foreach(json_object_get(ev, "fields"), j, fld)
            {
                fid_t f = named_field(src, ptr_str(fld, "/label"), 'l');
                set_json(&w, f, json_object_get(fld, "answer"), "/payload/chat/thread/events/fields/answer");
            }
        } else if (t && strcmp(t, "message") == 0 && !w.f[F_DESC]) {
            const char *author = ptr_str(ev, "/author_id");
            if (!customer_id || (author && strcmp(author, customer_id) == 0))
                set_json(&w, F_DESC, json_object_get(ev, "text"), "/payload/chat/thread/events/text");
        }
    }
    set_json(&w, F_TICKET_ID, json_object_get(chat, "id"), "/payload/chat/id");
    cap_finish(src, c, &w);
    return CRM_OK;
}

/* The value of a Typeform answer: under the key its type names. */
static void typeform_answer(work_t *w, fid_t f, json_t *a)
{
    const char *type = ptr_str(a, "/type");
    if (!type || f == F_NONE)
        return;
    json_t *v = json_object_get(a, type);
    if (strcmp(type, "choice") == 0) {
        json_t *l = json_object_get(v, "label");
        set_json(w, f, l ? l : json_object_get(v, "other"), "/form_response/answers/choice");
    } else if (strcmp(type, "choices") == 0) {
        json_t *labels = json_object_get(v, "labels");
        if (f == F_TAGS) {
            set_json(w, f, labels, "/form_response/answers/choices");
        } else {
            size_t i;
            json_t *l;
            char joined[1024] = "";
            json_array_foreach(labels, i, l)
            {
                const char *s = json_string_value(l);
                if (s)
                    snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", i ? ", " : "",
                             s);
            }
            set_text(w, f, joined);
        }
    } else {
        set_json(w, f, v, "/form_response/answers");
    }
}

static int extract_typeform(const gw_source_t *src, json_t *root, gw_captures_t *out)
{
    gw_capture_t *c = cap_new(out);
    if (!c)
        return CRM_EINTERNAL;
    cap_key(c, json_object_get(root, "event_id"));
    const char *et = ptr_str(root, "/event_type");
    if (!et || strcmp(et, "form_response") != 0) {
        cap_ignore(c, "event_type");
        return CRM_OK;
    }
    work_t w = {0};
    apply_mapping(src, root, &w);
    size_t i;
    json_t *a;
    json_t *answers = gw_json_pointer(root, "/form_response/answers");
    /* By ref (configured, or a common field name as the ref), never by position. */
    json_array_foreach(answers, i, a)
    {
        typeform_answer(&w, named_field(src, ptr_str(a, "/field/ref"), 'r'), a);
    }
    /* Unmapped e-mail and phone questions are still recognisable by their type. */
    json_array_foreach(answers, i, a)
    {
        const char *type = ptr_str(a, "/type");
        if (type && strcmp(type, "email") == 0)
            typeform_answer(&w, F_EMAIL, a);
        else if (type && strcmp(type, "phone_number") == 0)
            typeform_answer(&w, F_PHONE, a);
    }
    cap_finish(src, c, &w);
    /* Hidden fields (utm values and the like) are the capture's context. */
    json_t *hidden = gw_json_pointer(root, "/form_response/hidden");
    if (json_is_object(hidden) && json_object_size(hidden) > 0 && !c->lc.context_json)
        c->lc.context_json = json_dumps(hidden, JSON_COMPACT | JSON_SORT_KEYS);
    return CRM_OK;
}

static int extract_webflow(const gw_source_t *src, json_t *root, gw_captures_t *out)
{
    gw_capture_t *c = cap_new(out);
    if (!c)
        return CRM_EINTERNAL;
    cap_key(c, gw_json_pointer(root, "/payload/id"));
    const char *tt = ptr_str(root, "/triggerType");
    if (!tt || strcmp(tt, "form_submission") != 0) {
        cap_ignore(c, "event_type");
        return CRM_OK;
    }
    work_t w = {0};
    apply_mapping(src, root, &w);
    const char *k;
    json_t *v;
    json_object_foreach(gw_json_pointer(root, "/payload/data"), k, v)
    {
        set_json(&w, named_field(src, k, 'k'), v, "/payload/data");
    }
    cap_finish(src, c, &w);
    return CRM_OK;
}

int gw_extract(const gw_source_t *src, json_t *root, const char *header_delivery_id, gw_captures_t *out,
               crm_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(root))
        return crm_err_set(err, CRM_EBADREQUEST, NULL, "malformed", "body must be a JSON object");
    int rc;
    const char *t = src->type;
    if (strcmp(t, "zendesk") == 0)
        rc = extract_zendesk(src, root, header_delivery_id, out);
    else if (strcmp(t, "intercom") == 0)
        rc = extract_intercom(src, root, out);
    else if (strcmp(t, "sunshine") == 0)
        rc = extract_sunshine(src, root, out, err);
    else if (strcmp(t, "livechat") == 0)
        rc = extract_livechat(src, root, out);
    else if (strcmp(t, "typeform") == 0)
        rc = extract_typeform(src, root, out);
    else if (strcmp(t, "webflow") == 0)
        rc = extract_webflow(src, root, out);
    else
        rc = extract_json(src, root, header_delivery_id, out);
    if (rc == CRM_EINTERNAL)
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    if (rc != CRM_OK)
        gw_captures_free(out);
    return rc;
}

void gw_capture_clear(Crm__LeadCaptured *lc)
{
    if (!lc)
        return;
    gw_form_clear(lc);
    char **more[] = {&lc->ticket_id, &lc->ticket_subject, &lc->ticket_status, &lc->ticket_url,
                     &lc->phone_e164};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        free(*more[i]);
        *more[i] = NULL;
    }
}

void gw_captures_free(gw_captures_t *c)
{
    for (size_t i = 0; c && i < c->n; i++) {
        free(c->items[i].delivery_key);
        gw_capture_clear(&c->items[i].lc);
    }
    if (c) {
        free(c->items);
        c->items = NULL;
        c->n = 0;
    }
}

char *gw_phone_e164(const char *phone)
{
    if (!phone)
        return NULL;
    const char *p = phone;
    while (is_space((unsigned char)*p))
        p++;
    bool intl = false;
    if (*p == '+') {
        intl = true;
        p++;
    } else if (p[0] == '0' && p[1] == '0') {
        intl = true;
        p += 2;
    }
    if (!intl)
        return NULL;
    char digits[16];
    size_t n = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n >= 15)
                return NULL;
            digits[n++] = *p;
        } else if (!strchr(" .-()/\t", *p)) {
            return NULL;
        }
    }
    if (n < 8 || digits[0] == '0')
        return NULL;
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    out[0] = '+';
    memcpy(out + 1, digits, n);
    out[n + 1] = '\0';
    return out;
}

int gw_capture_finish(Crm__LeadCaptured *lc, crm_err_t *err)
{
    if (lc->email && !gw_form_email_ok(lc->email))
        return crm_err_set(err, CRM_EINVALID, "/email", "incorrect_value", "not a valid e-mail address");
    if (!lc->last_name && !lc->organization_name && !lc->email && !lc->phone)
        return crm_err_set(err, CRM_ENOTFOUND, "/last_name", "missing",
                           "a lead needs a last name, an organization, an e-mail or a phone; none was given");
    if (!lc->last_name && !lc->organization_name) {
        bool oom = false;
        if (lc->email) {
            const char *at = strchr(lc->email, '@');
            lc->last_name = trimmed(lc->email, (size_t)(at - lc->email), &oom);
        } else {
            lc->last_name = trimmed(lc->phone, strlen(lc->phone), &oom);
        }
        if (oom)
            return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
    }
    if (lc->phone && !lc->phone_e164)
        lc->phone_e164 = gw_phone_e164(lc->phone);
    return CRM_OK;
}

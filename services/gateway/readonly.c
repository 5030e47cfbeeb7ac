/* Read-only attributes in PUT bodies (SELL_API.md §10, issue 9): Sell clients read a record, change
 * a few attributes and send the whole record back, read-only ones included. Those are accepted
 * when they still hold the record's current value and dropped before the service sees the body;
 * a changed one is a 422 naming it. Shared by every GW_UPDATE route and by upsert.c. */
#include "routes.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crm/pbjson.h"

/* Read-only on every record, and per Sell meta type (only where the record has the field). */
static const char *const ro_common[] = {"id", "created_at", "updated_at", "creator_id", NULL};
static const struct {
    const char *type;
    const char *keys[8];
} ro_typed[] = {
    {"lead", {"converted_at", NULL}},
    {"task", {"completed_at", "overdue", NULL}},
    {"custom_field", {"resource_type", NULL}},
    {"deal",
     {"organization_id", "last_stage_change_by_id", "dropbox_email", "last_activity_at", "unsorted",
      "conversion_id", NULL}},
};

static bool in_list(const char *const *keys, const char *key)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], key) == 0)
            return true;
    return false;
}

static bool read_only(const gw_route_t *r, const char *key)
{
    if (!crm_pbjson_field(r->req_desc, key))
        return false; /* not an attribute of this record: pbjson answers "unknown" */
    if (in_list(ro_common, key))
        return true;
    for (size_t i = 0; i < sizeof ro_typed / sizeof ro_typed[0]; i++)
        if (r->meta_type && strcmp(ro_typed[i].type, r->meta_type) == 0)
            return in_list(ro_typed[i].keys, key);
    return false;
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.fff](Z|±hh:mm|±hhmm)"; false otherwise. */
static bool iso_instant(const char *s, long long *out)
{
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6 ||
        n != 19)
        return false;
    s += n;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            ;
    long off = 0;
    if (*s == 'Z' && s[1] == '\0') {
        off = 0;
    } else if ((*s == '+' || *s == '-') && s[1]) {
        int hh = 0, mm = 0;
        if (!(sscanf(s + 1, "%2d:%2d", &hh, &mm) == 2 || sscanf(s + 1, "%2d%2d", &hh, &mm) == 2))
            return false;
        off = (*s == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
    } else {
        return false;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (long long)timegm(&tm) - off;
    return true;
}

/* The body's value v equals the record's value now: the same JSON, null for an absent field, or
 * the same instant written another way ("…Z" / "…+00:00"). */
static bool same_value(const json_t *now, const json_t *v)
{
    if (!now || json_is_null(now))
        return json_is_null(v);
    if (json_equal((json_t *)now, (json_t *)v))
        return true;
    long long a, b;
    return json_is_string(now) && json_is_string(v) && iso_instant(json_string_value(now), &a) &&
           iso_instant(json_string_value(v), &b) && a == b;
}

/* The record at path as the caller sees it (its GET route), NULL without one, or NULL with err. */
static json_t *current(gw_t *gw, gw_request_t *req, const char *path, crm_err_t *err)
{
    gw_path_t pp;
    const gw_route_t *get = gw_route_match("GET", path, &pp);
    if (!get || get->kind != GW_ONE || !get->req_desc)
        return NULL;
    ProtobufCMessage *in = crm_pb_new(get->req_desc), *out = NULL;
    for (size_t i = 0; in && i < pp.n; i++)
        if (crm_pbjson_field(get->req_desc, pp.p[i].name) &&
            crm_pbjson_set_field_text(in, pp.p[i].name, pp.p[i].value, err) != CRM_OK)
            break;
    if (in && err->code == CRM_OK)
        gw_route_call(gw, get, req, in, &out, err);
    if (in)
        protobuf_c_message_free_unpacked(in, NULL);
    json_t *j = out ? crm_pbjson_from_message(out) : NULL;
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    if (!j && err->code == CRM_OK)
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "could not read %s", path);
    return j;
}

int gw_readonly_check(gw_t *gw, gw_request_t *req, const gw_route_t *update, const char *path, json_t *data,
                      crm_err_t *err)
{
    const char *key;
    json_t *v;
    void *tmp;
    size_t n = 0;
    json_object_foreach(data, key, v)
    {
        (void)v;
        n += read_only(update, key);
    }
    if (n == 0)
        return CRM_OK;
    gw_path_t pp;
    bool has_get = gw_route_match("GET", path, &pp) != NULL;
    json_t *now = has_get ? current(gw, req, path, err) : NULL;
    if (has_get && !now)
        return err->code ? err->code : CRM_OK;
    json_object_foreach_safe(data, tmp, key, v)
    {
        if (!read_only(update, key))
            continue;
        if (!now || same_value(json_object_get(now, key), v)) {
            json_object_del(data, key);
            continue;
        }
        char field[140];
        snprintf(field, sizeof field, "/%s", key);
        crm_err_add(err, CRM_EINVALID, field, "incorrect_value",
                    "%.100s is read-only: send it unchanged or leave it out", key);
    }
    json_decref(now);
    return err->code;
}

ProtobufCMessage *gw_update_request(gw_t *gw, gw_request_t *req, const gw_route_t *update, const char *path,
                                    json_t *data, crm_err_t *err)
{
    /* Unknown attributes and wrong types first (no service call for a body that cannot apply). */
    ProtobufCMessage *in = crm_pbjson_to_message(update->req_desc, data, "", err);
    if (!in)
        return NULL;
    size_t before = json_object_size(data);
    if (gw_readonly_check(gw, req, update, path, data, err) != CRM_OK) {
        protobuf_c_message_free_unpacked(in, NULL);
        return NULL;
    }
    if (json_object_size(data) != before) { /* without the dropped read-only attributes */
        protobuf_c_message_free_unpacked(in, NULL);
        in = crm_pbjson_to_message(update->req_desc, data, "", err);
        if (!in)
            return NULL;
    }
    gw_fill_update_mask(in, data);
    return in;
}

/* Zendesk Sell envelopes and error bodies (SELL_API.md §2–§4), and the crm_code_t → HTTP
 * mapping. Every JSON answer of the gateway is built here, so clients see one shape. */
#include "sell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *gw_json_text(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not valid UTF-8 (user input echoed in a message or a link): keep the valid sequences
     * and replace every other byte with '?', so the body still names the problem. */
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return json_string("");
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len > 1) { /* let jansson judge overlong forms and surrogates */
            json_t *probe = json_stringn(s + i, len);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (!ok) {
            copy[i++] = '?';
            continue;
        }
        memcpy(copy + i, s + i, len);
        i += len;
    }
    copy[n] = '\0';
    j = json_string(copy);
    free(copy);
    return j ? j : json_string("");
}

json_t *gw_sell_single(json_t *data, const char *type)
{
    json_t *meta = json_pack("{s:s}", "type", type ? type : "");
    return json_pack("{s:o,s:o}", "data", data ? data : json_object(), "meta", meta);
}

void gw_links_clear(gw_links_t *links)
{
    if (!links)
        return;
    free(links->self);
    free(links->first_page);
    free(links->prev_page);
    free(links->next_page);
    memset(links, 0, sizeof *links);
}

json_t *gw_sell_collection(json_t *items, const char *type, const gw_links_t *links)
{
    json_t *wrapped = json_array();
    size_t i;
    json_t *it;
    if (json_is_array(items)) {
        json_array_foreach(items, i, it)
        {
            json_array_append_new(wrapped, gw_sell_single(json_incref(it), type));
        }
    }
    json_decref(items);
    json_t *jl = json_object();
    if (links) {
        if (links->self)
            json_object_set_new(jl, "self", gw_json_text(links->self));
        if (links->first_page)
            json_object_set_new(jl, "first_page", gw_json_text(links->first_page));
        if (links->prev_page)
            json_object_set_new(jl, "prev_page", gw_json_text(links->prev_page));
        if (links->next_page)
            json_object_set_new(jl, "next_page", gw_json_text(links->next_page));
    }
    json_t *meta = json_pack("{s:s,s:I,s:o}", "type", "collection", "count",
                             (json_int_t)json_array_size(wrapped), "links", jl);
    return json_pack("{s:o,s:o}", "items", wrapped, "meta", meta);
}

const char *gw_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static const struct {
    const char *code;
    const char *message;
} sell_messages[] = {
    {"invalid_param", "invalid request query parameter"},
    {"invalid_payload", "invalid request payload"},
    {"invalid_header", "invalid request header"},
    {"unauthorized", "authentication failed: the token is missing, malformed or invalid"},
    {"forbidden", "you are not allowed to perform this action"},
    {"not_found", "resource not found"},
    {"incorrect_path", "Requested path was not found."},
    {"method_not_allowed", "method not allowed"},
    {"request_too_large", "request body too large"},
    {"unsupported_media_type", "unsupported content type"},
    {"missing", "attribute is missing"},
    {"blank", "attribute can't be blank"},
    {"invalid_type", "attribute has an invalid type"},
    {"incorrect_value", "attribute value is incorrect"},
    {"unknown", "unknown attribute"},
    {"already_exists", "attribute value already exists"},
    {"incorrect_payload", "incorrect payload"},
    {"conflict", "the request conflicts with the current state of the resource"},
    {"temporarily_unavailable", "service temporarily unavailable, retry later"},
    {"server_error", "internal server error"},
};

const char *gw_sell_message(const char *code)
{
    for (size_t i = 0; code && i < sizeof sell_messages / sizeof sell_messages[0]; i++)
        if (strcmp(sell_messages[i].code, code) == 0)
            return sell_messages[i].message;
    return "request failed";
}

static bool is_resource_code(const char *reason)
{
    static const char *const codes[] = {"missing", "blank",          "invalid_type",     "incorrect_value",
                                        "unknown", "already_exists", "incorrect_payload"};
    for (size_t i = 0; reason && i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i], reason) == 0)
            return true;
    return false;
}

int gw_sell_status(const crm_err_t *err, const char **code)
{
    const char *c = "server_error";
    int status = 500;
    switch (err ? err->code : CRM_EINTERNAL) {
    case CRM_OK:
        status = 200;
        c = "";
        break;
    case CRM_EINVALID:
        status = 422;
        c = is_resource_code(err->reason) ? err->reason : "incorrect_value";
        break;
    case CRM_ENOTFOUND:
        status = 404;
        c = "not_found";
        break;
    case CRM_ECONFLICT:
        status = 409;
        c = (err->reason[0] && is_resource_code(err->reason)) ? err->reason : "conflict";
        break;
    case CRM_EFORBIDDEN:
        status = 403;
        c = "forbidden";
        break;
    case CRM_EUNAVAILABLE:
        status = 503;
        c = "temporarily_unavailable";
        break;
    case CRM_EBADREQUEST:
        status = 400;
        c = (err->reason[0] && strncmp(err->reason, "invalid_", 8) == 0) ? err->reason : "invalid_param";
        break;
    default:
        status = 500;
        c = "server_error";
        break;
    }
    if (code)
        *code = c;
    return status;
}

json_t *gw_sell_error_body(int http_status, const char *code, const char *message, const char *details,
                           const char *resource, const char *field, const char *logref)
{
    json_t *error = json_object();
    json_object_set_new(error, "code", gw_json_text(code ? code : "server_error"));
    json_object_set_new(error, "message", gw_json_text(message ? message : gw_sell_message(code)));
    json_object_set_new(
        error, "details",
        gw_json_text(details && details[0] ? details : (message ? message : gw_sell_message(code))));
    if (resource && resource[0])
        json_object_set_new(error, "resource", gw_json_text(resource));
    if (field && field[0])
        json_object_set_new(error, "field", gw_json_text(field));
    json_t *item = json_pack("{s:o,s:{s:s,s:{}}}", "error", error, "meta", "type", "error", "links");
    char status_text[64];
    snprintf(status_text, sizeof status_text, "%d %s", http_status, gw_http_reason(http_status));
    /* logref must exist and be non-empty: Python clients read it unconditionally. */
    const char *ref = (logref && logref[0]) ? logref : "-";
    return json_pack("{s:[o],s:{s:s,s:s,s:s,s:{}}}", "errors", item, "meta", "type", "errors", "http_status",
                     status_text, "logref", ref, "links");
}

void gw_response_clear(gw_response_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    resp->ctype = NULL;
    resp->allow = NULL;
}

void gw_respond_json(gw_response_t *resp, int status, json_t *body)
{
    gw_response_clear(resp);
    resp->status = status;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        /* Only on out-of-memory: still answer something a client can parse. */
        resp->status = 500;
        text =
            strdup("{\"errors\":[{\"error\":{\"code\":\"server_error\",\"message\":\"internal server error\","
                   "\"details\":\"internal server error\"},\"meta\":{\"type\":\"error\",\"links\":{}}}],"
                   "\"meta\":{\"type\":\"errors\",\"http_status\":\"500 Internal Server Error\","
                   "\"logref\":\"-\",\"links\":{}}}");
    }
    resp->body = text;
    resp->len = text ? strlen(text) : 0;
    resp->ctype = GW_JSON_CTYPE;
}

void gw_respond_error(gw_response_t *resp, int status, const char *code, const char *details,
                      const char *resource, const char *field, const char *logref)
{
    gw_respond_json(
        resp, status,
        gw_sell_error_body(status, code, gw_sell_message(code), details, resource, field, logref));
}

void gw_respond_err(gw_response_t *resp, const crm_err_t *err, const char *resource, const char *logref)
{
    const char *code = NULL;
    int status = gw_sell_status(err, &code);
    const char *details = (err && err->message[0]) ? err->message : NULL;
    bool resource_error = status == 422;
    gw_respond_error(resp, status, code, details, resource_error ? resource : NULL,
                     resource_error && err ? err->field : NULL, logref);
    if (!resource_error || !err || err->nmore == 0 || !resp->body)
        return;
    /* Sell lists one item per offending field: add the further ones to "errors". */
    json_t *root = json_loads(resp->body, 0, NULL);
    json_t *items = root ? json_object_get(root, "errors") : NULL;
    for (int i = 0; json_is_array(items) && i < err->nmore; i++) {
        const char *reason = is_resource_code(err->more[i].reason) ? err->more[i].reason : "incorrect_value";
        json_t *one = gw_sell_error_body(status, reason, gw_sell_message(reason),
                                         err->more[i].message[0] ? err->more[i].message : NULL, resource,
                                         err->more[i].field, logref);
        json_array_extend(items, json_object_get(one, "errors"));
        json_decref(one);
    }
    if (root)
        gw_respond_json(resp, status, root);
}

void gw_respond_no_content(gw_response_t *resp)
{
    gw_response_clear(resp);
    resp->status = 204;
}

bool gw_request_id_ok(const char *s)
{
    if (!s || !s[0])
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_';
        if (!ok || n >= 64)
            return false;
    }
    return true;
}

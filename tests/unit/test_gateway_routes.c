/* Unit tests of the pure parts of services/gateway/routes.c and auth.c: route matching, roles,
 * paging checks, collection links, query → message, body envelope, bearer parsing and the
 * admin token file. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "assign.pb-c.h"
#include "auth.h"
#include "crm/pbjson.h"
#include "leads.pb-c.h"
#include "routes.h"

Test(gateway_routes, match)
{
    gw_path_t id;
    const gw_route_t *r = gw_route_match("GET", "/v2/users/self", &id);
    cr_assert_not_null(r);
    cr_assert(r->self_id);
    cr_assert_str_eq(r->rpc_method, "users.get");
    r = gw_route_match("GET", "/v2/users/42", &id);
    cr_assert_not_null(r);
    cr_assert_str_eq(gw_path_get(&id, "id"), "42");
    cr_assert_not(r->self_id);
    r = gw_route_match("GET", "/v2/leads", &id);
    cr_assert_eq(r->kind, GW_LIST);
    cr_assert_str_eq(r->service, "leads");
    cr_assert_eq(id.n, 0);
    r = gw_route_match("GET", "/v2/leads/", &id);
    cr_assert_not_null(r, "one trailing slash is tolerated");
    r = gw_route_match("POST", "/v2/users", &id);
    cr_assert_eq(r->kind, GW_CREATE);
    cr_assert_str_eq(r->min_role, "admin");
    r = gw_route_match("POST", "/v2/distribution_pools", &id);
    cr_assert_str_eq(r->min_role, "admin");
    cr_assert_str_eq(gw_route_match("GET", "/v2/distribution_pools/3", &id)->rpc_method, "pools.get");
    cr_assert_str_eq(gw_route_match("GET", "/v2/notifications", &id)->rpc_method, "notifications.list");
    cr_assert_str_eq(gw_route_match("GET", "/v2/pipelines", &id)->rpc_method, "pipelines.list");
    cr_assert_str_eq(gw_route_match("GET", "/v2/stages", &id)->rpc_method, "stages.list");
    cr_assert_eq(gw_route_match("POST", "/v2/api_tokens", &id)->kind, GW_CUSTOM);
}

Test(gateway_routes, no_match)
{
    gw_path_t id;
    cr_assert_null(gw_route_match("GET", "/v2/users/abc", &id));
    cr_assert_null(gw_route_match("GET", "/v2/users/0", &id));
    cr_assert_null(gw_route_match("GET", "/v2/users/-1", &id));
    cr_assert_null(gw_route_match("GET", "/v2/users/1/x", &id));
    cr_assert_null(gw_route_match("GET", "/v2/users/99999999999999999999999", &id));
    cr_assert_null(gw_route_match("DELETE", "/v2/leads", &id));
    cr_assert_null(gw_route_match("GET", "/v2/nothing", &id));
    cr_assert_null(gw_route_match("GET", "/v2", &id));
    cr_assert_null(gw_route_match("GET", "/v2/leadsx", &id));
    cr_assert_null(gw_route_match(NULL, "/v2/leads", &id));
}

Test(gateway_routes, every_route_is_well_formed)
{
    size_t n = gw_routes_count();
    cr_assert_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        const gw_route_t *r = gw_route_at(i);
        gw_path_t pp;
        cr_assert_null(gw_route_match(r->method, "/v2/leadsx", &pp));
        cr_assert_not_null(r->meta_type);
        cr_assert_not_null(r->min_role);
        if (r->kind == GW_CUSTOM) {
            cr_assert_not_null(r->custom);
            continue;
        }
        cr_assert_not_null(r->req_desc, "%s", r->pattern);
        cr_assert_not_null(r->reply_desc, "%s", r->pattern);
        if (r->kind == GW_LIST) {
            cr_assert_not_null(crm_pbjson_field(r->reply_desc, "items"), "%s", r->pattern);
            cr_assert_not_null(crm_pbjson_field(r->reply_desc, "has_more"), "%s", r->pattern);
            cr_assert_not_null(crm_pbjson_field(r->req_desc, "page"), "%s", r->pattern);
            cr_assert_not_null(crm_pbjson_field(r->req_desc, "per_page"), "%s", r->pattern);
        }
        if (r->self_id)
            cr_assert_not_null(crm_pbjson_field(r->req_desc, "id"), "%s", r->pattern);
        /* Each route is reachable (no earlier route shadows it) and every "{name}" in it is a
         * field of its request. */
        char path[256];
        size_t len = 0;
        for (const char *p = r->pattern; *p && len < sizeof path - 8;) {
            if (*p == '{') {
                const char *close = strchr(p, '}');
                cr_assert_not_null(close, "%s", r->pattern);
                char name[32];
                snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
                cr_assert_not_null(crm_pbjson_field(r->req_desc, name), "%s: no field %s", r->pattern, name);
                path[len++] = '7';
                p = close + 1;
            } else {
                path[len++] = *p++;
            }
        }
        path[len] = '\0';
        cr_assert_eq(gw_route_match(r->method, path, &pp), r, "%s %s is shadowed", r->method, r->pattern);
    }
}

Test(gateway_routes, roles)
{
    cr_assert(gw_role_allows("admin", "admin"));
    cr_assert(gw_role_allows("admin", "sales"));
    cr_assert(gw_role_allows("manager", "sales"));
    cr_assert(gw_role_allows("sales", "sales"));
    cr_assert_not(gw_role_allows("sales", "admin"));
    cr_assert_not(gw_role_allows("manager", "admin"));
    cr_assert_not(gw_role_allows("", "sales"));
    cr_assert_not(gw_role_allows(NULL, "sales"));
    cr_assert_not(gw_role_allows("root", "sales"));
}

Test(gateway_routes, paging)
{
    crm_err_t err;
    long page, per_page;
    cr_assert_eq(gw_paging(NULL, 0, &page, &per_page, &err), CRM_OK);
    cr_assert_eq(page, 1);
    cr_assert_eq(per_page, 25);
    gw_param_t ok[] = {{"page", "3"}, {"per_page", "100"}};
    cr_assert_eq(gw_paging(ok, 2, &page, &per_page, &err), CRM_OK);
    cr_assert_eq(page, 3);
    cr_assert_eq(per_page, 100);
    gw_param_t big[] = {{"per_page", "200"}};
    cr_assert_eq(gw_paging(big, 1, &page, &per_page, &err), CRM_EBADREQUEST);
    cr_assert_str_eq(err.reason, "invalid_param");
    cr_assert(strstr(err.message, "must be between 1 and 100, given: 200"), "%s", err.message);
    gw_param_t zero[] = {{"per_page", "0"}};
    cr_assert_eq(gw_paging(zero, 1, &page, &per_page, &err), CRM_EBADREQUEST);
    gw_param_t p0[] = {{"page", "0"}};
    cr_assert_eq(gw_paging(p0, 1, &page, &per_page, &err), CRM_EBADREQUEST);
    cr_assert(strstr(err.message, "page"), "%s", err.message);
    gw_param_t junk[] = {{"page", "two"}};
    cr_assert_eq(gw_paging(junk, 1, &page, &per_page, &err), CRM_EBADREQUEST);
    gw_param_t empty[] = {{"per_page", ""}};
    cr_assert_eq(gw_paging(empty, 1, &page, &per_page, &err), CRM_EBADREQUEST);
}

Test(gateway_routes, links)
{
    gw_param_t params[] = {{"per_page", "2"}, {"status", "New lead"}, {"page", "2"}};
    gw_links_t l;
    gw_links_build("http://h:8080", "/v2/leads", params, 3, 2, 2, true, &l);
    cr_assert_str_eq(l.self, "http://h:8080/v2/leads?page=2&per_page=2&status=New%20lead");
    cr_assert_str_eq(l.first_page, "http://h:8080/v2/leads?page=1&per_page=2&status=New%20lead");
    cr_assert_str_eq(l.prev_page, "http://h:8080/v2/leads?page=1&per_page=2&status=New%20lead");
    cr_assert_str_eq(l.next_page, "http://h:8080/v2/leads?page=3&per_page=2&status=New%20lead");
    gw_links_clear(&l);
    gw_links_build("", "/v2/users", NULL, 0, 1, 25, false, &l);
    cr_assert_str_eq(l.self, "/v2/users?page=1&per_page=25");
    cr_assert_null(l.prev_page, "no prev_page on page 1");
    cr_assert_null(l.next_page, "no next_page on the last page");
    gw_links_clear(&l);
}

Test(gateway_routes, query_params_to_message)
{
    crm_err_t err;
    ProtobufCMessage *m = crm_pb_new(&crm__lead_list_request__descriptor);
    gw_param_t ok[] = {{"page", "2"}, {"owner_id", "7"}, {"status", "New"}};
    cr_assert_eq(gw_apply_params(m, ok, 3, &err), CRM_OK, "%s", err.message);
    Crm__LeadListRequest *r = (Crm__LeadListRequest *)m;
    cr_assert_eq(r->page, 2);
    cr_assert_eq(r->owner_id, 7);
    cr_assert_str_eq(r->status, "New");
    gw_param_t unknown[] = {{"bogus", "1"}};
    cr_assert_eq(gw_apply_params(m, unknown, 1, &err), CRM_EBADREQUEST);
    cr_assert_str_eq(err.reason, "invalid_param");
    cr_assert(strstr(err.message, "bogus"), "%s", err.message);
    gw_param_t bad[] = {{"owner_id", "x"}};
    cr_assert_eq(gw_apply_params(m, bad, 1, &err), CRM_EBADREQUEST);
    cr_assert(strstr(err.message, "owner_id"), "%s", err.message);
    gw_param_t id[] = {{"id", "3"}};
    cr_assert_eq(gw_apply_params(m, id, 1, &err), CRM_EBADREQUEST, "id comes from the path only");
    protobuf_c_message_free_unpacked(m, NULL);
}

Test(gateway_routes, body_envelope)
{
    crm_err_t err;
    const char *good = "{\"data\":{\"name\":\"x\"},\"meta\":{\"type\":\"user\"}}";
    json_t *d = gw_body_data(good, strlen(good), &err);
    cr_assert_not_null(d);
    cr_assert_str_eq(json_string_value(json_object_get(d, "name")), "x");
    json_decref(d);
    const char *bad[] = {
        "",    "{", "[]", "{\"name\":\"x\"}", "{\"data\":[]}", "{\"data\":1}", "{\"data\":{},\"data\":{}}",
        "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        crm_err_clear(&err);
        cr_assert_null(gw_body_data(bad[i], strlen(bad[i]), &err), "accepted %s", bad[i]);
        cr_assert_eq(err.code, CRM_EBADREQUEST);
        cr_assert_str_eq(err.reason, "invalid_payload");
    }
}

Test(gateway_auth, bearer)
{
    char t[128];
    cr_assert(gw_auth_bearer("Bearer abc", t, sizeof t));
    cr_assert_str_eq(t, "abc");
    cr_assert(gw_auth_bearer("bearer   abc  ", t, sizeof t));
    cr_assert_str_eq(t, "abc");
    cr_assert_not(gw_auth_bearer(NULL, t, sizeof t));
    cr_assert_not(gw_auth_bearer("", t, sizeof t));
    cr_assert_not(gw_auth_bearer("Bearer", t, sizeof t));
    cr_assert_not(gw_auth_bearer("Bearer ", t, sizeof t));
    cr_assert_not(gw_auth_bearer("Basic abc", t, sizeof t));
    cr_assert_not(gw_auth_bearer("Bearerabc", t, sizeof t));
    cr_assert_not(gw_auth_bearer("Bearer a b", t, sizeof t));
    char longtok[300];
    memset(longtok, 'a', sizeof longtok);
    memcpy(longtok, "Bearer ", 7);
    longtok[299] = '\0';
    cr_assert_not(gw_auth_bearer(longtok, t, sizeof t));
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gwtok.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

Test(gateway_auth, token_file_created_then_reused)
{
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/a/b/admin.token", tmpdir);
    char tok[65], again[65];
    bool created = false;
    crm_err_t err;
    cr_assert_eq(gw_auth_token_file(path, tok, &created, &err), CRM_OK, "%s", err.message);
    cr_assert(created);
    cr_assert_eq(strlen(tok), 64);
    cr_assert_eq(strspn(tok, "0123456789abcdef"), 64);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(gw_auth_token_file(path, again, &created, &err), CRM_OK);
    cr_assert_not(created);
    cr_assert_str_eq(again, tok);
}

typedef struct {
    const char *path;
    char tok[65];
    bool created;
    int rc;
} race_arg_t;

static void *race(void *p)
{
    race_arg_t *a = p;
    crm_err_t err;
    a->rc = gw_auth_token_file(a->path, a->tok, &a->created, &err);
    return NULL;
}

Test(gateway_auth, token_file_race_gives_one_token)
{
    make_tmpdir();
    for (int round = 0; round < 20; round++) {
        char path[512];
        snprintf(path, sizeof path, "%s/r%d/admin.token", tmpdir, round);
        race_arg_t a[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            memset(&a[i], 0, sizeof a[i]);
            a[i].path = path;
            pthread_create(&th[i], NULL, race, &a[i]);
        }
        int creators = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            cr_assert_eq(a[i].rc, CRM_OK);
            creators += a[i].created;
        }
        cr_assert_eq(creators, 1, "exactly one writer per file");
        for (int i = 1; i < 4; i++)
            cr_assert_str_eq(a[i].tok, a[0].tok);
    }
}

Test(gateway_auth, token_file_with_garbage_is_refused)
{
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/admin.token", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("two words\n", f);
    fclose(f);
    char tok[65];
    bool created;
    crm_err_t err;
    cr_assert_neq(gw_auth_token_file(path, tok, &created, &err), CRM_OK);
}

/* Sell's bracket filters: address[city] sets address_city, custom_fields[name] appends a pair. */
Test(gateway_routes, bracket_params)
{
    gw_param_t ps[] = {
        {"address[city]", "Paris"}, {"custom_fields[Size]", "L"}, {"custom_fields[Tier]", "g"}};
    Crm__LeadListRequest *req = (Crm__LeadListRequest *)crm_pb_new(&crm__lead_list_request__descriptor);
    crm_err_t err;
    crm_err_clear(&err);
    cr_assert_eq(gw_apply_params(&req->base, ps, 3, &err), CRM_OK, "%s", err.message);
    cr_expect_str_eq(req->address_city, "Paris");
    cr_assert_eq(req->n_custom_fields, 2);
    cr_expect_str_eq(req->custom_fields[0], "Size=L");
    cr_expect_str_eq(req->custom_fields[1], "Tier=g");
    gw_param_t bad[] = {{"address[planet]", "Mars"}};
    cr_expect_eq(gw_apply_params(&req->base, bad, 1, &err), CRM_EBADREQUEST);
    cr_expect_str_eq(err.field, "address[planet]");
    protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* Users, teams, the account and API tokens through HTTP on a real stack (issue 5): admin
 * writes, role checks, 422s naming the field, deactivation that stops the user's tokens, token
 * listing and revocation effective at once. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(assign_users, .fini = stop_stack, .timeout = 600);

/* Sends {"data": data} (stolen; NULL for no body) and returns the response. */
static harness_resp_t *call(const char *method, const char *path, const char *token, json_t *data)
{
    json_t *body = data ? json_pack("{s:o}", "data", data) : NULL;
    harness_resp_t *r = harness_api(h, method, path, token, body);
    json_decref(body);
    cr_assert_not_null(r);
    return r;
}

static long status_of(const char *method, const char *path, const char *token, json_t *data)
{
    harness_resp_t *r = call(method, path, token, data);
    long s = r->status;
    harness_resp_destroy(&r);
    return s;
}

static json_t *data_of(harness_resp_t *r)
{
    return json_object_get(r->json, "data");
}

static long long id_of(harness_resp_t *r)
{
    return json_integer_value(json_object_get(data_of(r), "id"));
}

/* The field of the first error of a 422 body ("" when none). */
static const char *error_field(harness_resp_t *r)
{
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
    const char *f = json_string_value(json_object_get(e, "field"));
    return f ? f : "";
}

static const char *error_code(harness_resp_t *r)
{
    json_t *e = json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    return c ? c : "";
}

/* POST /v2/api_tokens for user; returns the token (malloc'd) and its id. */
static char *mint(const char *admin, long long user, long long *token_id)
{
    harness_resp_t *r = call("POST", "/v2/api_tokens", admin,
                             json_pack("{s:I,s:s}", "user_id", (json_int_t)user, "name", "test"));
    cr_assert_eq(r->status, 200, "mint token: %ld %s", r->status, r->body);
    char *tok = strdup(json_string_value(json_object_get(data_of(r), "token")));
    if (token_id)
        *token_id = id_of(r);
    harness_resp_destroy(&r);
    return tok;
}

/* Runs crmctl with the stack's config; returns its exit status and the first stdout line. */
static int crmctl(const char *args, char *line, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/tools/crmctl/crmctl --config '%s' %s 2>/dev/null", CRM_BUILD_DIR,
             harness_config_path(h), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    line[0] = '\0';
    if (fgets(line, (int)len, p))
        line[strcspn(line, "\n")] = '\0';
    char sink[256];
    while (fgets(sink, sizeof sink, p))
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long long make_user(const char *admin, const char *name, const char *email, const char *role)
{
    harness_resp_t *r = call("POST", "/v2/users", admin,
                             json_pack("{s:s,s:s,s:s}", "name", name, "email", email, "role", role));
    cr_assert_eq(r->status, 200, "create user %s: %ld %s", email, r->status, r->body);
    long long id = id_of(r);
    harness_resp_destroy(&r);
    return id;
}

Test(assign_users, users_teams_account_and_tokens)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);

    long long sales = make_user(admin, "Sam Sales", "sam@example.com", "sales");
    long long mgr = make_user(admin, "Mia Manager", "mia@example.com", "manager");
    char *sales_tok = mint(admin, sales, NULL);
    char *mgr_tok = mint(admin, mgr, NULL);

    /* Bad creates: every field named. */
    harness_resp_t *r =
        call("POST", "/v2/users", admin,
             json_pack("{s:s,s:s,s:s}", "name", "X", "email", "x@example.com", "role", "owner"));
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect_str_eq(error_field(r), "/role", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/users", admin, json_pack("{s:s,s:s}", "name", "Dup", "email", "SAM@example.com"));
    cr_expect_eq(r->status, 422, "duplicate email: %s", r->body);
    cr_expect_str_eq(error_field(r), "/email", "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(
        status_of("POST", "/v2/users", sales_tok, json_pack("{s:s,s:s}", "name", "N", "email", "n@e.com")),
        403);

    /* Self, retrieve and list are open to sales. */
    r = call("GET", "/v2/users/self", sales_tok, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(id_of(r), sales);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(r), "role")) ?: "", "sales");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/users?role=manager", sales_tok), 1);
    cr_expect_eq(status_of("GET", "/v2/users/self?bogus=1", sales_tok, NULL), 400);

    /* Account. */
    r = call("GET", "/v2/accounts/self", sales_tok, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "account");
    cr_expect_str_eq(json_string_value(json_object_get(data_of(r), "currency")) ?: "", "USD", "%s", r->body);
    cr_expect(json_is_string(json_object_get(data_of(r), "time_format")), "%s", r->body);
    harness_resp_destroy(&r);

    /* Update: admin only, 422 per bad field, role change reaches the tokens at once. */
    char upath[64];
    snprintf(upath, sizeof upath, "/v2/users/%lld", sales);
    cr_expect_eq(status_of("PUT", upath, mgr_tok, json_pack("{s:s}", "name", "Nope")), 403);
    r = call("PUT", upath, admin, json_pack("{s:s,s:s}", "role", "boss", "status", "gone"));
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(r->body, "\"/role\"") && strstr(r->body, "\"/status\""), "both fields named: %s",
              r->body);
    harness_resp_destroy(&r);
    r = call("PUT", upath, admin, json_pack("{s:s,s:s}", "name", "Sam Senior", "role", "manager"));
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(r), "name")) ?: "", "Sam Senior");
    harness_resp_destroy(&r);
    r = call("GET", "/v2/users/self", sales_tok, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(r), "role")) ?: "", "manager", "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(status_of("PUT", "/v2/users/999999", admin, json_pack("{s:s}", "name", "Ghost")), 404);
    /* An admin cannot lock themselves out. */
    r = call("GET", "/v2/users/self", admin, NULL);
    long long admin_id = id_of(r);
    harness_resp_destroy(&r);
    char apath[64];
    snprintf(apath, sizeof apath, "/v2/users/%lld", admin_id);
    cr_expect_eq(status_of("DELETE", apath, admin, NULL), 422);

    /* Teams: admin CRUD, sales read, 422s. */
    r = call("POST", "/v2/teams", admin,
             json_pack("{s:s,s:I,s:[I,I]}", "name", "East", "manager_id", (json_int_t)mgr, "user_ids",
                       (json_int_t)sales, (json_int_t)mgr));
    cr_expect_eq(r->status, 200, "%s", r->body);
    long long team = id_of(r);
    cr_expect_eq(json_array_size(json_object_get(data_of(r), "user_ids")), 2, "%s", r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/teams", admin,
             json_pack("{s:[I],s:I}", "user_ids", (json_int_t)424242, "manager_id", (json_int_t)434343));
    cr_expect_eq(r->status, 422, "%s", r->body);
    cr_expect(strstr(r->body, "\"/name\"") && strstr(r->body, "\"/user_ids\"") &&
                  strstr(r->body, "\"/manager_id\""),
              "every field named: %s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(status_of("POST", "/v2/teams", admin, json_pack("{s:s}", "name", "east")), 422,
                 "name taken");
    cr_expect_eq(status_of("POST", "/v2/teams", mgr_tok, json_pack("{s:s}", "name", "West")), 403);
    char tpath[64];
    snprintf(tpath, sizeof tpath, "/v2/teams/%lld", team);
    r = call("GET", tpath, sales_tok, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_integer_value(json_object_get(data_of(r), "manager_id")), mgr);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "type")) ?: "",
                     "team");
    harness_resp_destroy(&r);
    r = call("PUT", tpath, admin,
             json_pack("{s:s,s:[I]}", "name", "East Coast", "user_ids", (json_int_t)mgr));
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(json_array_size(json_object_get(data_of(r), "user_ids")), 1, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/teams", sales_tok), 1);
    cr_expect_eq(status_of("DELETE", tpath, sales_tok, NULL), 403);
    cr_expect_eq(status_of("DELETE", tpath, admin, NULL), 204);
    cr_expect_eq(status_of("GET", tpath, admin, NULL), 404);

    /* API tokens: list (no secret), revoke → 401 at once with the Sell body, unknown id → 404. */
    long long tid = 0;
    char *tmp_tok = mint(admin, mgr, &tid);
    cr_expect_eq(status_of("GET", "/v2/users/self", tmp_tok, NULL), 200);
    r = call("GET", "/v2/api_tokens?per_page=100", admin, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect(json_array_size(json_object_get(r->json, "items")) >= 4, "%s", r->body);
    cr_expect_null(strstr(r->body, tmp_tok), "the secret is never listed");
    cr_expect_null(strstr(r->body, "hash"), "nor its hash");
    harness_resp_destroy(&r);
    cr_expect_eq(status_of("GET", "/v2/api_tokens", mgr_tok, NULL), 403);
    cr_expect_eq(status_of("GET", "/v2/api_tokens?foo=1", admin, NULL), 400);
    char kpath[64];
    snprintf(kpath, sizeof kpath, "/v2/api_tokens/%lld", tid);
    cr_expect_eq(status_of("DELETE", kpath, mgr_tok, NULL), 403);
    cr_expect_eq(status_of("DELETE", kpath, admin, NULL), 204);
    r = call("GET", "/v2/users/self", tmp_tok, NULL);
    cr_expect_eq(r->status, 401, "revoked token: %s", r->body);
    cr_expect_str_eq(error_code(r), "unauthorized", "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(status_of("DELETE", "/v2/api_tokens/987654", admin, NULL), 404);
    r = call("GET", "/v2/api_tokens?user_id=999999", admin, NULL);
    cr_expect_eq(json_array_size(json_object_get(r->json, "items")), 0, "%s", r->body);
    harness_resp_destroy(&r);

    /* crmctl token create / revoke / list. */
    char line[256];
    cr_expect_eq(crmctl("token create --user MIA@example.com --name cli", line, sizeof line), 0);
    cr_expect_eq(strlen(line), 64, "one 64-char token printed: '%s'", line);
    cr_expect_eq(status_of("GET", "/v2/users/self", line, NULL), 200, "crmctl token works");
    cr_expect_eq(crmctl("token create --user MIA@example.com", line, sizeof line), 0);
    long long cli_id = harness_sql_long(h, "SELECT max(id) FROM gateway.api_tokens");
    char args[64];
    snprintf(args, sizeof args, "token revoke %lld", cli_id);
    char out[256];
    cr_expect_eq(crmctl(args, out, sizeof out), 0, "%s", out);
    cr_expect_eq(status_of("GET", "/v2/users/self", line, NULL), 401, "a token revoked by crmctl before use");
    cr_expect_eq(crmctl("token revoke 999999", out, sizeof out), 1);
    cr_expect_eq(crmctl("token create --user nobody@example.com", out, sizeof out), 1);
    cr_expect_eq(crmctl("token create", out, sizeof out), 2);
    cr_expect_eq(
        harness_sql_long(h, "SELECT count(*) FROM gateway.api_tokens WHERE length(token_hash) <> 64"), 0,
        "stored as sha256 hex");
    cr_expect_eq(crmctl("user create --email cli@example.com --name Cli", out, sizeof out), 0);
    cr_expect(atoll(out) > 0, "user id printed: %s", out);
    cr_expect_eq(crmctl("user deactivate cli@example.com", out, sizeof out), 0, "%s", out);

    /* Deactivation: the user's tokens stop working at once; no new token for an inactive user. */
    cr_expect_eq(status_of("GET", "/v2/users/self", sales_tok, NULL), 200);
    cr_expect_eq(status_of("DELETE", upath, admin, NULL), 204);
    r = call("GET", "/v2/users/self", sales_tok, NULL);
    cr_expect_eq(r->status, 401, "deactivated user's token: %s", r->body);
    cr_expect_str_eq(error_code(r), "unauthorized", "%s", r->body);
    harness_resp_destroy(&r);
    r = call("GET", upath, admin, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(data_of(r), "status")) ?: "", "inactive", "%s",
                     r->body);
    harness_resp_destroy(&r);
    r = call("POST", "/v2/api_tokens", admin, json_pack("{s:I}", "user_id", (json_int_t)sales));
    cr_expect_eq(r->status, 422, "token for an inactive user: %s", r->body);
    cr_expect_str_eq(error_field(r), "/user_id", "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_count_items(h, "/v2/users?status=inactive", admin), 2);

    free(sales_tok);
    free(mgr_tok);
    free(tmp_tok);
}

/* API tokens (DESIGN §7): Bearer tokens are looked up by SHA-256 hex in gateway.api_tokens
 * on every request (no cache: revocation is effective at once), the bootstrap admin and its token file are
 * set up before the gateway reports ready, and admins mint new tokens with POST /v2/api_tokens. */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "assign.pb-c.h"
#include "crm/log.h"
#include "crm/pbjson.h"
#include "crm/util.h"
#include "sell.h"
#include "store.h"

/* No token cache: every request looks its token up (one indexed read of gateway.api_tokens), so
 * a revocation, a deactivation or a role change made anywhere (this gateway, another instance,
 * crmctl straight in the database) takes effect on the very next request. */
struct gw_auth_t {
    int unused;
};

gw_auth_t *gw_auth_new(void)
{
    return calloc(1, sizeof(gw_auth_t));
}

void gw_auth_destroy(gw_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

bool gw_auth_bearer(const char *header, char *out, size_t outlen)
{
    if (!header)
        return false;
    while (*header == ' ' || *header == '\t')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return false;
    const char *t = header + 6;
    while (*t == ' ' || *t == '\t')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= outlen)
        return false;
    for (size_t i = 0; i < n; i++)
        if (t[i] <= ' ' || t[i] == 0x7f)
            return false;
    memcpy(out, t, n);
    out[n] = '\0';
    return true;
}

int gw_auth_check(gw_t *gw, gw_request_t *req, gw_response_t *resp)
{
    char token[257];
    if (!gw_auth_bearer(gw_request_header(req, "Authorization"), token, sizeof token)) {
        gw_respond_error(resp, 401, "unauthorized",
                         "missing or malformed Authorization: Bearer <token> header", NULL, NULL, req->corr);
        return -1;
    }
    char hash[65];
    crm_sha256_hex(token, strlen(token), hash);
    crm_err_t err;
    crm_err_clear(&err);
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_error(resp, 503, "temporarily_unavailable", "the token store is unavailable, retry later",
                         NULL, NULL, req->corr);
        return -1;
    }
    gw_token_row_t row;
    int rc = gw_store_token_find(db, hash, &row, &err);
    crm_db_pool_put(gw->db, db);
    if (rc == CRM_ENOTFOUND || (rc == CRM_OK && row.revoked)) {
        gw_respond_error(resp, 401, "unauthorized", rc == CRM_OK ? "the token was revoked" : "invalid token",
                         NULL, NULL, req->corr);
        return -1;
    }
    if (rc != CRM_OK) {
        gw_respond_error(resp, 503, "temporarily_unavailable", "the token store is unavailable, retry later",
                         NULL, NULL, req->corr);
        return -1;
    }
    req->user_id = row.user_id;
    snprintf(req->role, sizeof req->role, "%s", row.role);
    return 0;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path, crm_err_t *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return CRM_OK;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "mkdir %s: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "mkdir %s: %s", dir, strerror(errno));
    return CRM_OK;
}

static int read_token(const char *path, char out[65], crm_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return crm_err_set(err, errno == ENOENT ? CRM_ENOTFOUND : CRM_EINTERNAL, NULL, NULL, "open %s: %s",
                           path, strerror(errno));
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    size_t start = strspn(buf, " \t\r\n");
    size_t len = n - start;
    if (len == 0 || len > 64)
        return crm_err_set(err, CRM_EINVALID, NULL, "incorrect_value",
                           "%s does not hold a token (expected 1..64 characters, found %zu)", path, len);
    for (size_t i = start; i < n; i++)
        if ((unsigned char)buf[i] <= ' ')
            return crm_err_set(err, CRM_EINVALID, NULL, "incorrect_value",
                               "%s: the token contains whitespace", path);
    memcpy(out, buf + start, len);
    out[len] = '\0';
    return CRM_OK;
}

int gw_auth_token_file(const char *path, char out[65], bool *created, crm_err_t *err)
{
    *created = false;
    int rc = read_token(path, out, err);
    if (rc != CRM_ENOTFOUND)
        return rc;
    if (make_parent_dirs(path, err) != CRM_OK)
        return err->code;
    char token[65];
    if (crm_token_generate(token) != 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "could not generate a token");
    /* Exclusive, atomic creation: write a private temporary file (O_EXCL, 0600), then link(2)
     * it to the final name, which fails if another gateway got there first. Readers never see
     * a half-written token, and two instances never end up with two tokens: the loser reads
     * the winner's. */
    char tmp[4200];
    char rnd[9];
    unsigned char rb[4];
    crm_random_bytes(rb, sizeof rb);
    crm_hex_encode(rb, sizeof rb, rnd);
    snprintf(tmp, sizeof tmp, "%s.%ld.%s.tmp", path, (long)getpid(), rnd);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "create %s: %s", tmp, strerror(errno));
    char line[66];
    int len = snprintf(line, sizeof line, "%s\n", token);
    bool ok = write(fd, line, (size_t)len) == len && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(tmp);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "write %s: %s", tmp, strerror(errno));
    }
    int linked = link(tmp, path);
    int link_errno = errno;
    unlink(tmp);
    if (linked != 0) {
        if (link_errno == EEXIST)
            return read_token(path, out, err);
        return crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "link %s: %s", path, strerror(link_errno));
    }
    memcpy(out, token, 65);
    *created = true;
    return CRM_OK;
}

static void set_boot_reason(gw_t *gw, const char *fmt, const char *detail)
{
    /* The detail is cut to what fits: the reason is a one-line hint for /readyz. */
    char cut[96];
    snprintf(cut, sizeof cut, "%.95s", detail ? detail : "");
    pthread_mutex_lock(&gw->boot_lock);
    snprintf(gw->boot_reason, sizeof gw->boot_reason, fmt, cut);
    pthread_mutex_unlock(&gw->boot_lock);
}

int gw_auth_bootstrap_once(gw_t *gw, crm_err_t *err)
{
    Crm__User in = CRM__USER__INIT;
    in.name = (char *)crm_config_str(gw->config, "gateway.bootstrap_admin_name", "Admin");
    in.email = (char *)crm_config_str(gw->config, "gateway.bootstrap_admin_email", "admin@localhost");
    crm_rpc_caller_t caller = {.user_id = 0, .role = "system", .correlation_id = "bootstrap"};
    ProtobufCMessage *out = NULL;
    crm_rpc_client_t *assign = gw_client(gw, "assign");
    if (!assign)
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for assign");
    int rc = crm_rpc_call(assign, "users.bootstrap", &caller, &in.base, &crm__user__descriptor,
                          gw_rpc_timeout_ms(gw, "assign"), &out, err);
    if (rc != CRM_OK) {
        set_boot_reason(gw, "waiting for assign users.bootstrap: %s", err->message);
        return rc;
    }
    Crm__User *admin = (Crm__User *)out;
    int64_t admin_id = admin->has_id ? admin->id : 0;
    char role[16];
    snprintf(role, sizeof role, "%s", admin->role && admin->role[0] ? admin->role : "admin");
    protobuf_c_message_free_unpacked(out, NULL);
    if (admin_id <= 0) {
        set_boot_reason(gw, "%s", "users.bootstrap returned no user id");
        return crm_err_set(err, CRM_EUNAVAILABLE, NULL, NULL, "users.bootstrap returned no user id");
    }

    const char *path = crm_config_str(gw->config, "gateway.admin_token_file", "var/admin.token");
    char token[65];
    bool created = false;
    if ((rc = gw_auth_token_file(path, token, &created, err)) != CRM_OK) {
        set_boot_reason(gw, "admin token file: %s", err->message);
        return rc;
    }
    char hash[65];
    crm_sha256_hex(token, strlen(token), hash);
    crm_db_t *db = gw_db_get(gw, 5000, err);
    if (!db) {
        set_boot_reason(gw, "admin token: %s", err->message);
        return err->code;
    }
    gw_token_row_t row;
    /* Idempotent: a restart, or a second instance that lost the file race, stores nothing new. */
    rc = gw_store_token_insert(db, hash, admin_id, role, "bootstrap admin", true, &row, err);
    crm_db_pool_put(gw->db, db);
    if (rc != CRM_OK) {
        set_boot_reason(gw, "admin token: %s", err->message);
        return rc;
    }
    crm_log_info(NULL, "gateway.bootstrap", "admin_id=%lld token_file=%s created=%s", (long long)admin_id,
                 path, created ? "true" : "false");
    return CRM_OK;
}

void *gw_auth_bootstrap_thread(void *arg)
{
    gw_t *gw = arg;
    long delay_ms = 200;
    while (!atomic_load(&gw->quit)) {
        crm_err_t err;
        crm_err_clear(&err);
        if (gw_auth_bootstrap_once(gw, &err) == CRM_OK) {
            set_boot_reason(gw, "%s", "");
            atomic_store(&gw->bootstrapped, true);
            break;
        }
        crm_log_warn(NULL, "gateway.bootstrap_retry", "code=%s reason=\"%s\"", crm_code_name(err.code),
                     err.message);
        for (long waited = 0; waited < delay_ms && !atomic_load(&gw->quit); waited += 50)
            crm_sleep_ms(50);
        delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
    }
    return NULL;
}

/* Reads {"data": {"user_id": N, "name": "..."}}; a failure fills err (400 or 422). */
static int token_request(const gw_request_t *req, int64_t *user_id, char *name, size_t name_len,
                         crm_err_t *err)
{
    json_t *data = gw_body_data(req->body, req->body_len, err);
    if (!data)
        return err->code;
    int rc = CRM_OK;
    json_t *uid = json_object_get(data, "user_id");
    json_t *jname = json_object_get(data, "name");
    const char *key;
    json_t *v;
    json_object_foreach(data, key, v)
    {
        if (strcmp(key, "user_id") != 0 && strcmp(key, "name") != 0) {
            char ptr[128];
            snprintf(ptr, sizeof ptr, "/%.100s", key);
            rc = crm_err_set(err, CRM_EINVALID, ptr, "unknown", "unknown attribute %.100s", key);
            break;
        }
    }
    if (rc == CRM_OK && (!uid || json_is_null(uid)))
        rc = crm_err_set(err, CRM_EINVALID, "/user_id", "missing", "user_id is required");
    else if (rc == CRM_OK && !json_is_integer(uid))
        rc = crm_err_set(err, CRM_EINVALID, "/user_id", "invalid_type", "user_id must be an integer");
    else if (rc == CRM_OK && json_integer_value(uid) <= 0)
        rc = crm_err_set(err, CRM_EINVALID, "/user_id", "incorrect_value", "user_id must be positive");
    else if (rc == CRM_OK && jname && !json_is_null(jname) && !json_is_string(jname))
        rc = crm_err_set(err, CRM_EINVALID, "/name", "invalid_type", "name must be a string");
    else if (rc == CRM_OK && json_is_string(jname) && json_string_length(jname) >= name_len)
        rc = crm_err_set(err, CRM_EINVALID, "/name", "incorrect_value",
                         "name is too long (at most %zu characters)", name_len - 1);
    if (rc == CRM_OK) {
        *user_id = json_integer_value(uid);
        snprintf(name, name_len, "%s", json_is_string(jname) ? json_string_value(jname) : "");
    }
    json_decref(data);
    return rc;
}

void gw_auth_create_token(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    crm_err_t err;
    crm_err_clear(&err);
    int64_t user_id = 0;
    char name[128];
    if (gw_no_params(req, &err) != CRM_OK ||
        token_request(req, &user_id, name, sizeof name, &err) != CRM_OK) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    /* The token carries the user's role: ask assign, which also tells us the user exists. */
    Crm__UserGetRequest get = CRM__USER_GET_REQUEST__INIT;
    get.has_id = true;
    get.id = user_id;
    crm_rpc_caller_t caller = {.user_id = req->user_id, .role = req->role, .correlation_id = req->corr};
    ProtobufCMessage *out = NULL;
    crm_rpc_client_t *assign = gw_client(gw, "assign");
    int rc = assign ? crm_rpc_call(assign, "users.get", &caller, &get.base, &crm__user__descriptor,
                                   gw_rpc_timeout_ms(gw, "assign"), &out, &err)
                    : crm_err_set(&err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for assign");
    if (rc != CRM_OK) {
        if (rc == CRM_ENOTFOUND)
            crm_err_set(&err, CRM_ENOTFOUND, "/user_id", "not_found", "no user with id %lld",
                        (long long)user_id);
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    Crm__User *user = (Crm__User *)out;
    if (user->status && strcmp(user->status, "active") != 0) {
        protobuf_c_message_free_unpacked(out, NULL);
        crm_err_set(&err, CRM_EINVALID, "/user_id", "incorrect_value", "user %lld is not active",
                    (long long)user_id);
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    char role[16];
    snprintf(role, sizeof role, "%s", user->role && user->role[0] ? user->role : "sales");
    protobuf_c_message_free_unpacked(out, NULL);

    char token[65], hash[65];
    if (crm_token_generate(token) != 0) {
        gw_respond_error(resp, 500, "server_error", "could not generate a token", NULL, NULL, req->corr);
        return;
    }
    crm_sha256_hex(token, strlen(token), hash);
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    gw_token_row_t row;
    rc = gw_store_token_insert(db, hash, user_id, role, name, false, &row, &err);
    crm_db_pool_put(gw->db, db);
    if (rc != CRM_OK) {
        if (rc != CRM_EUNAVAILABLE)
            crm_err_set(&err, CRM_EUNAVAILABLE, NULL, NULL, "could not store the token, retry later");
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    json_t *data =
        json_pack("{s:I,s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)row.id, "user_id", (json_int_t)row.user_id,
                  "role", row.role, "name", row.name, "token", token, "created_at", row.created_at);
    crm_log_info(req->corr, "api_token.created", "token_id=%lld user_id=%lld role=%s", (long long)row.id,
                 (long long)row.user_id, row.role);
    gw_respond_json(resp, 200, gw_sell_single(data, route->meta_type));
}

void gw_auth_list_tokens(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    crm_err_t err;
    crm_err_clear(&err);
    long page, per_page;
    int64_t user_id = 0;
    if (gw_paging(req->params, req->nparams, &page, &per_page, &err) != CRM_OK) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    for (size_t i = 0; i < req->nparams; i++) {
        const char *k = req->params[i].key;
        if (strcmp(k, "page") == 0 || strcmp(k, "per_page") == 0)
            continue;
        if (strcmp(k, "user_id") != 0 || !crm_parse_i64(req->params[i].value, &user_id) || user_id <= 0) {
            crm_err_set(&err, CRM_EBADREQUEST, k, "invalid_param", "%s: unknown query parameter or bad value",
                        strcmp(k, "user_id") == 0 ? "user_id"
                                                  : "only page, per_page and user_id are allowed");
            gw_respond_err(resp, &err, route->meta_type, req->corr);
            return;
        }
    }
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    if (!db) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    json_t *items = NULL;
    bool has_more = false;
    int rc = gw_store_token_list(db, user_id, page, per_page, &items, &has_more, &err);
    crm_db_pool_put(gw->db, db);
    if (rc != CRM_OK) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    gw_links_t links;
    gw_links_build(req->base, req->path, req->params, req->nparams, page, per_page, has_more, &links);
    gw_respond_json(resp, 200, gw_sell_collection(items, route->meta_type, &links));
    gw_links_clear(&links);
}

void gw_auth_revoke_token(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    crm_err_t err;
    crm_err_clear(&err);
    int64_t id = 0;
    crm_parse_i64(gw_path_get(&req->pathp, "id"), &id);
    crm_db_t *db = gw_no_params(req, &err) == CRM_OK ? gw_db_get(gw, gw->db_wait_ms, &err) : NULL;
    if (!db) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    char hash[65];
    int rc = gw_store_token_revoke(db, id, hash, &err);
    crm_db_pool_put(gw->db, db);
    if (rc != CRM_OK) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    crm_log_info(req->corr, "api_token.revoked", "token_id=%lld by=%lld", (long long)id,
                 (long long)req->user_id);
    gw_respond_no_content(resp);
}

void gw_auth_user_write(gw_t *gw, const gw_route_t *route, gw_request_t *req, gw_response_t *resp)
{
    crm_err_t err;
    crm_err_clear(&err);
    ProtobufCMessage *in = NULL;
    if (gw_no_params(req, &err) != CRM_OK) {
        /* answered below */
    } else if (strcmp(req->method, "PUT") == 0) {
        json_t *data = gw_body_data(req->body, req->body_len, &err);
        if (data) /* unknown attributes 422, read-only ones sent back unchanged dropped */
            in = gw_update_request(gw, req, route, req->path, data, &err);
        json_decref(data);
    } else {
        in = crm_pb_new(route->req_desc);
    }
    if (in && crm_pbjson_set_field_text(in, "id", gw_path_get(&req->pathp, "id"), &err) != CRM_OK) {
        protobuf_c_message_free_unpacked(in, NULL);
        in = NULL;
    }
    if (!in) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    crm_rpc_caller_t caller = {.user_id = req->user_id, .role = req->role, .correlation_id = req->corr};
    ProtobufCMessage *out = NULL;
    crm_rpc_client_t *assign = gw_client(gw, "assign");
    int rc = assign ? crm_rpc_call(assign, route->rpc_method, &caller, in, route->reply_desc,
                                   gw_rpc_timeout_ms(gw, "assign"), &out, &err)
                    : crm_err_set(&err, CRM_EUNAVAILABLE, NULL, NULL, "no RPC client for assign");
    protobuf_c_message_free_unpacked(in, NULL);
    if (rc != CRM_OK) {
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    Crm__User *user = (Crm__User *)out;
    bool inactive = user->status && strcmp(user->status, "inactive") == 0;
    crm_db_t *db = gw_db_get(gw, gw->db_wait_ms, &err);
    rc = db ? gw_store_tokens_sync_user(db, user->id, user->role, inactive, &err) : err.code;
    if (db)
        crm_db_pool_put(gw->db, db);
    if (rc != CRM_OK) {
        /* The user changed but the tokens did not follow: the client retries (PUT and DELETE are
         * idempotent) until they do. */
        protobuf_c_message_free_unpacked(out, NULL);
        crm_err_set(&err, CRM_EUNAVAILABLE, NULL, NULL,
                    "the user changed but the token store is unavailable; retry");
        gw_respond_err(resp, &err, route->meta_type, req->corr);
        return;
    }
    crm_log_info(req->corr, "user.changed", "user_id=%lld role=%s status=%s", (long long)user->id,
                 user->role ? user->role : "", user->status ? user->status : "");
    if (strcmp(req->method, "DELETE") == 0)
        gw_respond_no_content(resp);
    else
        gw_respond_json(resp, 200, gw_sell_single(crm_pbjson_from_message(out), route->meta_type));
    protobuf_c_message_free_unpacked(out, NULL);
}

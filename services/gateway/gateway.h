/* crm-gateway's shared context and the request/response shapes its modules pass around:
 * http.c turns libmicrohttpd connections into gw_request_t, the handlers (routes.c, auth.c,
 * webhooks.c) fill a gw_response_t, sell.c builds the JSON bodies, store.c holds all SQL. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "crm/daemon.h"

#define GW_MAX_SOURCES 32
#define GW_MAX_PARAMS 64

#define GW_MAX_MAPPING 32
#define GW_MAX_SOURCE_TAGS 8

/* One entry of a source's field mapping (gateway.sources.N.mapping.M): the lead field it fills
 * and where the value comes from — a JSON pointer into the body ("pointer"), a Typeform answer
 * ref ("ref"), a LiveChat pre-chat label ("label"), a form/field name ("key"), or a constant
 * ("value"). Exactly one of them is set. */
typedef struct {
    char field[32];
    char pointer[160];
    char ref[96];
    char label[96];
    char key[96];
    char value[160];
} gw_map_entry_t;

/* One configured inbound webhook source (gateway.sources). */
typedef struct {
    char name[64];
    char kind[16];      /* form | support | chat */
    char type[16];      /* zendesk | intercom | sunshine | livechat | typeform | webflow | html | json */
    char signature[32]; /* "none" for unsigned sources; anything else is a scheme name (signature.h) */
    char secrets[2][160];
    size_t nsecrets;           /* two during a rotation */
    long tolerance_s;          /* timestamp tolerance of schemes that carry one (default 300) */
    char delivery_header[64];  /* header naming the delivery id ("" → the type's default) */
    char delivery_pointer[96]; /* or a JSON pointer into the body */
    char event_pointer[96];    /* json: where the event type is ("" → every body is a lead) */
    char events[4][64];        /* json: event types that become leads */
    size_t nevents;
    gw_map_entry_t mapping[GW_MAX_MAPPING];
    size_t nmapping;
    char tags[GW_MAX_SOURCE_TAGS][48]; /* added to every lead of this source */
    size_t ntags;
    char problem[160]; /* why deliveries are refused 401 (bad signature setup), "" when fine */
} gw_source_t;

/* The RPC peers the gateway talks to. */
typedef enum { GW_SVC_LEADS = 0, GW_SVC_ASSIGN, GW_SVC_NOTIFY, GW_SVC_DEALS, GW_SVC_COUNT } gw_svc_t;

typedef struct gw_auth_t gw_auth_t;
typedef struct gw_ratelimit_t gw_ratelimit_t;
typedef struct gw_http_t gw_http_t;
typedef struct gw_stream_t gw_stream_t;

/* The daemon's one context struct (STYLE: no other mutable globals). */
typedef struct gw_t {
    crm_daemon_t *d;
    crm_config_t *config;
    crm_metrics_t *metrics;
    crm_db_pool_t *db;
    crm_outbox_t *outbox;
    crm_rpc_client_t *clients[GW_SVC_COUNT];
    gw_source_t sources[GW_MAX_SOURCES];
    size_t nsources;
    size_t max_body;
    int db_wait_ms; /* how long a request waits for a pooled connection */
    gw_auth_t *auth;
    gw_ratelimit_t *ratelimit; /* per API token (ratelimit.h), NULL when disabled */
    gw_http_t *http;
    gw_stream_t *stream;              /* Firehose and Sync API (stream.h) */
    struct gw_committer_t *committer; /* group commit of accepted webhooks (commit.h) */
    pthread_t boot_thread;
    bool boot_started;
    atomic_bool bootstrapped; /* users.bootstrap done and the admin token stored */
    atomic_bool quit;
    char boot_reason[160]; /* why not ready yet (guarded by boot_lock) */
    pthread_mutex_t boot_lock;
} gw_t;

typedef struct {
    const char *key;
    const char *value; /* never NULL ("" for a bare key) */
} gw_param_t;

#define GW_MAX_PATH_PARAMS 3

/* The integer segments of a matched route pattern: "/v2/leads/{id}/notes/{note_id}". */
typedef struct {
    size_t n;
    struct {
        char name[32];
        char value[24];
    } p[GW_MAX_PATH_PARAMS];
} gw_path_t;

typedef const char *(*gw_header_fn)(void *arg, const char *name);

/* One HTTP request as the handlers see it (independent of libmicrohttpd). */
typedef struct {
    const char *method;
    const char *path;
    const char *corr; /* request id: correlation id and error logref */
    const char *base; /* "http://host" for links, or "" */
    gw_param_t params[GW_MAX_PARAMS];
    size_t nparams;
    bool too_many_params;
    const char *body;
    size_t body_len;
    gw_header_fn header;
    void *header_arg;
    gw_path_t pathp; /* set by the route match */
    /* the authenticated caller (set by gw_auth_check) */
    int64_t user_id;
    char role[16];
} gw_request_t;

/* What a handler answers. body is malloc'd (or NULL for no body). */
typedef struct {
    int status;
    char *body;
    size_t len;
    const char *ctype; /* NULL → no Content-Type */
    const char *allow; /* Allow header, or NULL */
    const char *route; /* route pattern for metrics labels (static), or NULL */
    int retry_after;   /* seconds for a Retry-After header (429), 0 → none */
    char note[96];     /* more logfmt fields for the request's log line ("delivery_id=7"), or "" */
} gw_response_t;

#define GW_JSON_CTYPE "application/json; charset=utf-8"

/* A header of the request (case-insensitive name), or NULL. */
const char *gw_request_header(const gw_request_t *req, const char *name);

/* The RPC client of a service by name ("leads", "assign", "notify", "deals"), or NULL. */
crm_rpc_client_t *gw_client(gw_t *gw, const char *service);
/* <service>.rpc_timeout_ms, falling back to gateway.rpc_timeout_ms, 5000. */
int gw_rpc_timeout_ms(gw_t *gw, const char *service);
/* A pooled connection (waiting up to timeout_ms), or NULL with CRM_EUNAVAILABLE; give it back
 * with crm_db_pool_put(gw->db, db). */
crm_db_t *gw_db_get(gw_t *gw, int timeout_ms, crm_err_t *err);
/* The configured source by name, or NULL. */
const gw_source_t *gw_source_find(const gw_t *gw, const char *name);
/* Reads gateway.sources (default: website, form, unsigned) into gw. A source whose signature
 * cannot be checked (unknown scheme, none declared, no secret) is kept with `problem` set: its
 * deliveries are refused 401, never accepted unsigned. Bad mapping entries are logged and
 * skipped. */
void gw_sources_load(gw_t *gw);

/* Builds the context from the daemon's parts (config, pool, outbox, RPC clients, sources). */
gw_t *gw_new(crm_daemon_t *d, crm_err_t *err);
/* Starts the HTTP server and the bootstrap thread. */
int gw_start(gw_t *self, crm_err_t *err);
/* Stops taking HTTP requests, lets in-flight ones finish, joins the bootstrap thread. */
void gw_stop(gw_t *self);
void gw_destroy(gw_t **self_p);
/* The readiness condition given to crm_daemon_set_ready_check (crm_ready_fn). */
bool gw_ready(void *arg, char *reason, unsigned long reason_len);

/* The gateway's migrations (embedded by cmake from migrations/ *.sql). */
extern const crm_migration_t gateway_migrations[];
extern const unsigned gateway_migrations_count;

#endif

/* Configuration: the YAML file parsed with libyaml's event API into a small tree of maps,
 * sequences and scalars, looked up by dotted path, with CRM_<PATH> environment overrides.
 * Hostile input is refused, not followed: aliases are rejected and nesting is capped. */
#include "crm/config.h"
#include "crm/util.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define CONFIG_MAX_DEPTH 64

typedef enum { NODE_SCALAR, NODE_MAP, NODE_SEQ } node_kind_t;

typedef struct node {
    node_kind_t kind;
    char *key;     /* key within the parent map (NULL for sequence items and the root) */
    char *value;   /* scalars; NULL for a null scalar (~, null or nothing) */
    struct node **items;
    size_t n, cap;
} node_t;

/* Environment values handed out by lookups are copied here, so a returned string lives as long
 * as the config even if the environment changes later. Guarded by lock: lookups may come from
 * several threads. */
typedef struct env_entry {
    char *name;
    char *value;
    char **parts; /* comma-split value, for list lookups */
    size_t nparts;
    struct env_entry *next;
} env_entry_t;

typedef struct {
    pthread_mutex_t lock;
    env_entry_t *head;
} env_cache_t;

struct crm_config_t {
    node_t *root; /* a map (maybe empty) */
    env_cache_t *env;
};

/* --- tree ------------------------------------------------------------------------------ */

static node_t *node_new(node_kind_t kind)
{
    node_t *n = calloc(1, sizeof *n);
    if (n)
        n->kind = kind;
    return n;
}

static void node_free(node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->items[i]);
    free(n->items);
    free(n->key);
    free(n->value);
    free(n);
}

static int node_add(node_t *parent, node_t *child)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        node_t **items = realloc(parent->items, cap * sizeof *items);
        if (!items)
            return -1;
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    return 0;
}

/* --- parsing ----------------------------------------------------------------------------- */

typedef struct {
    yaml_parser_t parser;
    crm_err_t *err;
    int depth;
} parse_t;

static int parse_fail(parse_t *p, const yaml_mark_t *mark, const char *what)
{
    crm_err_set(p->err, CRM_EINVALID, NULL, "invalid_yaml", "line %lu: %s", (unsigned long)mark->line + 1, what);
    return -1;
}

static int next_event(parse_t *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->parser, ev)) {
        const yaml_mark_t *m = &p->parser.problem_mark;
        char msg[400];
        snprintf(msg, sizeof msg, "%s%s%s", p->parser.problem ? p->parser.problem : "syntax error",
                 p->parser.context ? " " : "", p->parser.context ? p->parser.context : "");
        return parse_fail(p, m, msg);
    }
    return 0;
}

static bool scalar_is_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static int parse_node(parse_t *p, yaml_event_t *ev, node_t **out);

/* Parses the children of the collection just started (ev is its start event, already
 * consumed), until the matching end event. */
static int parse_collection(parse_t *p, node_t *coll)
{
    bool is_map = coll->kind == NODE_MAP;
    for (;;) {
        yaml_event_t ev;
        if (next_event(p, &ev))
            return -1;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char *key = NULL;
        if (is_map) {
            if (ev.type != YAML_SCALAR_EVENT) {
                int rc = parse_fail(p, &ev.start_mark, ev.type == YAML_ALIAS_EVENT
                                                           ? "aliases are not supported"
                                                           : "mapping keys must be scalars");
                yaml_event_delete(&ev);
                return rc;
            }
            key = strdup((const char *)ev.data.scalar.value);
            yaml_event_delete(&ev);
            if (!key || next_event(p, &ev)) {
                free(key);
                return -1;
            }
        }
        node_t *child = NULL;
        int rc = parse_node(p, &ev, &child);
        yaml_event_delete(&ev);
        if (rc) {
            free(key);
            return -1;
        }
        child->key = key;
        if (node_add(coll, child)) {
            node_free(child);
            return -1;
        }
    }
}

/* Builds the node that begins with ev (not deleted here). */
static int parse_node(parse_t *p, yaml_event_t *ev, node_t **out)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        node_t *n = node_new(NODE_SCALAR);
        if (!n)
            return -1;
        if (!scalar_is_null(ev)) {
            n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
            if (!n->value) {
                free(n);
                return -1;
            }
        }
        *out = n;
        return 0;
    }
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: {
        /* Nesting cap: a deeply nested document must not exhaust the stack. */
        if (p->depth >= CONFIG_MAX_DEPTH)
            return parse_fail(p, &ev->start_mark, "nesting deeper than 64 levels");
        node_t *n = node_new(ev->type == YAML_MAPPING_START_EVENT ? NODE_MAP : NODE_SEQ);
        if (!n)
            return -1;
        p->depth++;
        int rc = parse_collection(p, n);
        p->depth--;
        if (rc) {
            node_free(n);
            return -1;
        }
        *out = n;
        return 0;
    }
    case YAML_ALIAS_EVENT:
        /* Aliases are refused outright: they are what makes "billion laughs" documents blow up. */
        return parse_fail(p, &ev->start_mark, "aliases are not supported");
    default:
        return parse_fail(p, &ev->start_mark, "unexpected YAML event");
    }
}

static node_t *parse_document(parse_t *p)
{
    node_t *root = NULL;
    yaml_event_t ev;
    for (;;) {
        if (next_event(p, &ev))
            goto fail;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_STREAM_END_EVENT || t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            break; /* only the first document counts */
        }
        if (root) { /* cannot happen within one document; be defensive */
            yaml_event_delete(&ev);
            break;
        }
        int rc = parse_node(p, &ev, &root);
        if (rc == 0 && root->kind == NODE_SCALAR && root->value == NULL) {
            node_free(root); /* an empty or "~" document */
            root = NULL;
        } else if (rc == 0 && root->kind != NODE_MAP) {
            rc = parse_fail(p, &ev.start_mark, "the top level must be a mapping");
            node_free(root);
            root = NULL;
        }
        yaml_event_delete(&ev);
        if (rc)
            goto fail;
    }
    if (!root)
        root = node_new(NODE_MAP);
    return root;
fail:
    node_free(root);
    return NULL;
}

static crm_config_t *config_wrap(node_t *root, crm_err_t *err)
{
    crm_config_t *self = calloc(1, sizeof *self);
    env_cache_t *env = calloc(1, sizeof *env);
    if (!root || !self || !env) {
        free(self);
        free(env);
        node_free(root);
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&env->lock, NULL);
    self->root = root;
    self->env = env;
    return self;
}

static crm_config_t *config_from_parser(parse_t *p, crm_err_t *err)
{
    node_t *root = parse_document(p);
    yaml_parser_delete(&p->parser);
    if (!root) {
        if (err && err->code == CRM_OK)
            crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "out of memory while parsing YAML");
        return NULL;
    }
    return config_wrap(root, err);
}

crm_config_t *crm_config_parse(const char *yaml, size_t len, crm_err_t *err)
{
    crm_err_clear(err);
    parse_t p = {.err = err};
    if (!yaml_parser_initialize(&p.parser)) {
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&p.parser, (const unsigned char *)(yaml ? yaml : ""), yaml ? len : 0);
    return config_from_parser(&p, err);
}

crm_config_t *crm_config_load(const char *path, crm_err_t *err)
{
    crm_err_clear(err);
    if (!path)
        return config_wrap(node_new(NODE_MAP), err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        crm_err_set(err, CRM_EINVALID, "config", "unreadable", "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    parse_t p = {.err = err};
    if (!yaml_parser_initialize(&p.parser)) {
        fclose(f);
        crm_err_set(err, CRM_EINTERNAL, NULL, NULL, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_file(&p.parser, f);
    crm_config_t *self = config_from_parser(&p, err);
    fclose(f);
    if (!self && err) {
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "%s", err->message);
        snprintf(err->message, sizeof err->message, "%.200s: %.300s", path, msg);
    }
    return self;
}

void crm_config_destroy(crm_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    crm_config_t *self = *self_p;
    node_free(self->root);
    if (self->env) {
        env_entry_t *e = self->env->head;
        while (e) {
            env_entry_t *next = e->next;
            for (size_t i = 0; i < e->nparts; i++)
                free(e->parts[i]);
            free(e->parts);
            free(e->name);
            free(e->value);
            free(e);
            e = next;
        }
        pthread_mutex_destroy(&self->env->lock);
        free(self->env);
    }
    free(self);
    *self_p = NULL;
}

/* --- lookups ----------------------------------------------------------------------------- */

static bool segment_is_index(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static const node_t *find(const crm_config_t *self, const char *path)
{
    if (!self || !path)
        return NULL;
    const node_t *cur = self->root;
    const char *s = path;
    while (cur && *s) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        const node_t *next = NULL;
        if (cur->kind == NODE_MAP) {
            /* Last one wins when a key repeats, as in most YAML loaders. */
            for (size_t i = cur->n; i-- > 0;) {
                const char *k = cur->items[i]->key;
                if (k && strlen(k) == len && memcmp(k, s, len) == 0) {
                    next = cur->items[i];
                    break;
                }
            }
        } else if (cur->kind == NODE_SEQ && segment_is_index(s, len) && len < 10) {
            size_t idx = (size_t)strtoul(s, NULL, 10);
            if (idx < cur->n)
                next = cur->items[idx];
        }
        cur = next;
        s = dot ? dot + 1 : s + len;
        if (dot && !*s)
            return NULL; /* trailing dot */
    }
    return cur;
}

/* CRM_<PATH>: upper-cased, dots (and dashes) as underscores. False when the path has an
 * index segment (those are not overridable) or is too long. */
static bool env_name(const char *path, char *out, size_t outlen)
{
    if (!path || !*path)
        return false;
    const char *s = path;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (segment_is_index(s, len))
            return false;
        s = dot ? dot + 1 : s + len;
    }
    size_t n = strlen(path);
    if (n + 5 > outlen)
        return false;
    memcpy(out, "CRM_", 4);
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        out[4 + i] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
    }
    out[4 + n] = '\0';
    return true;
}

static void split_commas(env_entry_t *e)
{
    const char *v = e->value;
    if (!*v)
        return; /* an empty variable is an empty list */
    size_t count = 1;
    for (const char *p = v; *p; p++)
        count += *p == ',';
    e->parts = calloc(count, sizeof *e->parts);
    if (!e->parts)
        return;
    const char *start = v;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t len = comma ? (size_t)(comma - start) : strlen(start);
        /* Trim spaces around each element: "a, b" is two clean endpoints. */
        while (len && isspace((unsigned char)*start)) {
            start++;
            len--;
        }
        while (len && isspace((unsigned char)start[len - 1]))
            len--;
        char *part = strndup(start, len);
        if (part)
            e->parts[e->nparts++] = part;
        if (!comma)
            break;
        start = comma + 1;
    }
}

/* The override of path from the environment (cached copy), or NULL. */
static const env_entry_t *env_lookup(const crm_config_t *self, const char *path)
{
    char name[256];
    if (!self || !env_name(path, name, sizeof name))
        return NULL;
    const char *v = getenv(name);
    if (!v)
        return NULL;
    env_cache_t *c = self->env;
    pthread_mutex_lock(&c->lock);
    env_entry_t *e;
    for (e = c->head; e; e = e->next)
        if (strcmp(e->name, name) == 0 && strcmp(e->value, v) == 0)
            break;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (e) {
            e->name = strdup(name);
            e->value = strdup(v);
            if (!e->name || !e->value) {
                free(e->name);
                free(e->value);
                free(e);
                e = NULL;
            } else {
                split_commas(e);
                e->next = c->head;
                c->head = e;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

const char *crm_config_str(const crm_config_t *self, const char *path, const char *dflt)
{
    const env_entry_t *e = env_lookup(self, path);
    if (e)
        return e->value;
    const node_t *n = find(self, path);
    if (!n || n->kind != NODE_SCALAR || !n->value)
        return dflt;
    return n->value;
}

long crm_config_int(const crm_config_t *self, const char *path, long dflt)
{
    const char *v = crm_config_str(self, path, NULL);
    if (!v || !*v)
        return dflt;
    errno = 0;
    char *end = NULL;
    long x = strtol(v, &end, 10); /* base 10: "0700" is seven hundred, not octal */
    if (errno || !end || end == v)
        return dflt;
    while (isspace((unsigned char)*end))
        end++;
    return *end ? dflt : x;
}

bool crm_config_bool(const crm_config_t *self, const char *path, bool dflt)
{
    const char *v = crm_config_str(self, path, NULL);
    if (!v)
        return dflt;
    static const char *const yes[] = {"true", "yes", "on", "1", "y"};
    static const char *const no[] = {"false", "no", "off", "0", "n"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return true;
        if (strcasecmp(v, no[i]) == 0)
            return false;
    }
    return dflt;
}

/* True when an env override may stand for this node: a list of scalars, a scalar, or nothing. */
static bool env_may_override_list(const node_t *n)
{
    if (!n || n->kind == NODE_SCALAR)
        return true;
    if (n->kind != NODE_SEQ)
        return false;
    for (size_t i = 0; i < n->n; i++)
        if (n->items[i]->kind != NODE_SCALAR)
            return false;
    return true;
}

size_t crm_config_len(const crm_config_t *self, const char *path)
{
    const node_t *n = find(self, path);
    if (env_may_override_list(n)) {
        const env_entry_t *e = env_lookup(self, path);
        if (e)
            return e->nparts;
    }
    return n && n->kind == NODE_SEQ ? n->n : 0;
}

const char *crm_config_list_str(const crm_config_t *self, const char *path, size_t i)
{
    const node_t *n = find(self, path);
    if (env_may_override_list(n)) {
        const env_entry_t *e = env_lookup(self, path);
        if (e)
            return i < e->nparts ? e->parts[i] : NULL;
    }
    if (!n || n->kind != NODE_SEQ || i >= n->n || n->items[i]->kind != NODE_SCALAR)
        return NULL;
    return n->items[i]->value;
}

bool crm_config_has(const crm_config_t *self, const char *path)
{
    return env_lookup(self, path) != NULL || find(self, path) != NULL;
}

/* Visibility (H1) as a matrix through HTTP on the real stack: callers sales A, sales B, manager
 * and admin × the records of crm-leads — leads, contacts, notes, tasks, smart lists (private),
 * lead and contact activities (timelines), smart list items and lead conversions — × retrieve,
 * list, update and delete. A sales caller sees and changes only what it owns (404 for the other
 * rep's records, absent from its lists); manager and admin see and change everything. Timelines
 * and conversions are read-only (405 on PUT/DELETE). */
#include "leads2_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(leads_visibility, .fini = stop_stack, .timeout = 900);

enum { A, B, MANAGER, ADMIN, NACTORS };
static const char *actor_name[NACTORS] = {"sales A", "sales B", "manager", "admin"};

/* One kind of record: the path of A's and of B's (retrieve), the list holding them (NULL: the
 * retrieve path is itself a list), a PUT body (NULL: read-only) and whether DELETE exists. */
typedef struct {
    const char *kind;
    const char *fmt; /* of the retrieve path, from the record's id */
    const char *list;
    const char *put;
    bool deletable;
    long long id[2];
    char one[2][96]; /* the retrieve paths of A's and B's */
} res_t;

/* Whether the list at path, read by token, holds the record id (every page). */
static bool list_has(const char *path, const char *token, long long id)
{
    for (int page = 1; page < 20; page++) {
        char p[160];
        long long ids[100];
        snprintf(p, sizeof p, "%s%cper_page=100&page=%d", path, strchr(path, '?') ? '&' : '?', page);
        int n = l2_list_ids(h, p, token, ids, 100);
        cr_assert_geq(n, 0, "list %s", p);
        for (int i = 0; i < n && i < 100; i++)
            if (ids[i] == id)
                return true;
        if (n < 100)
            return false;
    }
    return false;
}

/* The records of one sales user (token tok): a lead, a contact, a note and a task on the lead, a
 * private smart list and a converted second lead. */
static void make_records(const char *tok, const char *who, long long *out)
{
    char body[512];
    snprintf(body, sizeof body, "{\"last_name\":\"Lead of %s\",\"organization_name\":\"%s Inc\"}", who, who);
    out[0] = l2_create(h, "/v2/leads", tok, body);
    snprintf(body, sizeof body, "{\"last_name\":\"Contact of %s\"}", who);
    out[1] = l2_create(h, "/v2/contacts", tok, body);
    snprintf(body, sizeof body,
             "{\"content\":\"note of %s\",\"resource_type\":\"lead\",\"resource_id\":%lld}", who, out[0]);
    out[2] = l2_create(h, "/v2/notes", tok, body);
    snprintf(body, sizeof body,
             "{\"content\":\"task of %s\",\"resource_type\":\"contact\",\"resource_id\":%lld,\"due_date\":"
             "\"2030-01-01T10:00:00Z\"}",
             who, out[1]);
    out[3] = l2_create(h, "/v2/tasks", tok, body);
    snprintf(body, sizeof body, "{\"name\":\"list of %s\",\"resource_type\":\"lead\",\"filter\":{}}", who);
    out[4] = l2_create(h, "/v2/smart_lists", tok, body);
    snprintf(body, sizeof body, "{\"last_name\":\"Converted of %s\"}", who);
    long long lead2 = l2_create(h, "/v2/leads", tok, body);
    snprintf(body, sizeof body, "{\"lead_id\":%lld}", lead2);
    out[5] = l2_create(h, "/v2/lead_conversions", tok, body);
    for (int i = 0; i < 6; i++)
        cr_assert_gt(out[i], 0, "%s's record %d", who, i);
}

Test(leads_visibility, matrix)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    char *tok[NACTORS];
    tok[A] = l2_user_token(h, "vis-a", "sales", NULL);
    tok[B] = l2_user_token(h, "vis-b", "sales", NULL);
    tok[MANAGER] = l2_user_token(h, "vis-m", "manager", NULL);
    tok[ADMIN] = strdup(harness_admin_token(h));
    cr_assert(tok[A] && tok[B] && tok[MANAGER]);
    long long rec[2][6];
    make_records(tok[A], "A", rec[0]);
    make_records(tok[B], "B", rec[1]);

    res_t res[] = {
        {"lead", "/v2/leads/%lld", "/v2/leads", "{\"data\":{\"title\":\"t\"}}", true, {0, 0}, {""}},
        {"contact", "/v2/contacts/%lld", "/v2/contacts", "{\"data\":{\"title\":\"t\"}}", true, {0, 0}, {""}},
        {"note", "/v2/notes/%lld", "/v2/notes", "{\"data\":{\"content\":\"c\"}}", true, {0, 0}, {""}},
        {"task", "/v2/tasks/%lld", "/v2/tasks", "{\"data\":{\"completed\":true}}", true, {0, 0}, {""}},
        {"smart list",
         "/v2/smart_lists/%lld",
         "/v2/smart_lists",
         "{\"data\":{\"name\":\"n\"}}",
         true,
         {0, 0},
         {""}},
        {"lead conversion", "/v2/lead_conversions/%lld", "/v2/lead_conversions", NULL, false, {0, 0}, {""}},
        {"lead activities", "/v2/leads/%lld/activities", NULL, NULL, false, {0, 0}, {""}},
        {"contact activities", "/v2/contacts/%lld/activities", NULL, NULL, false, {0, 0}, {""}},
        {"smart list items", "/v2/smart_lists/%lld/items", NULL, NULL, false, {0, 0}, {""}},
    };
    const int rec_of[] = {0, 1, 2, 3, 4, 5, 0, 1, 4}; /* which record of make_records each row uses */
    const size_t nres = sizeof res / sizeof res[0];
    for (size_t i = 0; i < nres; i++)
        for (int o = 0; o < 2; o++) {
            res[i].id[o] = rec[o][rec_of[i]];
            snprintf(res[i].one[o], sizeof res[i].one[o], res[i].fmt, res[i].id[o]);
        }

    /* Retrieve, list and update: owner o's record seen by actor a? */
    for (int a = 0; a < NACTORS; a++)
        for (size_t i = 0; i < nres; i++)
            for (int o = 0; o < 2; o++) {
                bool sees = !(a == A && o == 1) && !(a == B && o == 0);
                long want = sees ? 200 : 404;
                cr_expect_eq(l2_status(h, "GET", res[i].one[o], tok[a], NULL, want), want, "%s GET %s of %s",
                             actor_name[a], res[i].kind, o ? "B" : "A");
                if (res[i].list)
                    cr_expect_eq(list_has(res[i].list, tok[a], res[i].id[o]), sees, "%s lists %s of %s",
                                 actor_name[a], res[i].kind, o ? "B" : "A");
                if (res[i].put)
                    cr_expect_eq(l2_status(h, "PUT", res[i].one[o], tok[a], res[i].put, want), want,
                                 "%s PUT %s of %s", actor_name[a], res[i].kind, o ? "B" : "A");
            }
    /* Smart list items: A's list holds A's leads only for A, everyone's for the manager. */
    char items[96];
    snprintf(items, sizeof items, "/v2/smart_lists/%lld/items", rec[0][4]);
    cr_expect(list_has(items, tok[A], rec[0][0]));
    cr_expect(!list_has(items, tok[A], rec[1][0]), "B's lead is not among A's items");
    cr_expect(list_has(items, tok[MANAGER], rec[1][0]), "the manager gets every lead");
    /* Timelines and conversions are read-only. */
    for (size_t i = 0; i < nres; i++)
        if (!res[i].put) {
            cr_expect_eq(l2_status(h, "PUT", res[i].one[0], tok[ADMIN], "{\"data\":{}}", 405), 405, "PUT %s",
                         res[i].kind);
            cr_expect_eq(l2_status(h, "DELETE", res[i].one[0], tok[ADMIN], NULL, 405), 405, "DELETE %s",
                         res[i].kind);
        }

    /* Delete: each sales user gets 404 on the other's records, which stay; then the manager
     * deletes A's and the admin B's. Dependent rows first (notes, tasks, lists), then records. */
    const size_t order[] = {2, 3, 4, 0, 1};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        res_t *r = &res[order[k]];
        cr_assert(r->deletable);
        cr_expect_eq(l2_status(h, "DELETE", r->one[0], tok[B], NULL, 404), 404, "B deletes A's %s", r->kind);
        cr_expect_eq(l2_status(h, "DELETE", r->one[1], tok[A], NULL, 404), 404, "A deletes B's %s", r->kind);
        cr_expect_eq(l2_status(h, "GET", r->one[0], tok[ADMIN], NULL, 200), 200, "A's %s kept", r->kind);
        cr_expect_eq(l2_status(h, "GET", r->one[1], tok[ADMIN], NULL, 200), 200, "B's %s kept", r->kind);
        cr_expect_eq(l2_status(h, "DELETE", r->one[0], tok[MANAGER], NULL, 204), 204, "manager deletes %s",
                     r->kind);
        cr_expect_eq(l2_status(h, "DELETE", r->one[1], tok[ADMIN], NULL, 204), 204, "admin deletes %s",
                     r->kind);
        cr_expect_eq(l2_status(h, "GET", r->one[0], tok[ADMIN], NULL, 404), 404, "%s gone", r->kind);
    }
    for (int a = 0; a < NACTORS; a++)
        free(tok[a]);
}

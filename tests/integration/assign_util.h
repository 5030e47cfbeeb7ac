/* Helpers shared by the crm-assign integration tests (issue 5). */
#ifndef ASSIGN_UTIL_H
#define ASSIGN_UTIL_H

#include <stdio.h>
#include <string.h>

#include "harness.h"

typedef struct {
    long long user;
    const char *type; /* lead | contact | deal */
    long long id;
} assign_notif_t;

/* harness_pred_fn: user has a notification (GET /v2/notifications as admin) about record type id. */
static inline bool assign_notified(harness_t *self, void *arg)
{
    assign_notif_t *a = arg;
    char path[128];
    snprintf(path, sizeof path, "/v2/notifications?user_id=%lld&per_page=100", a->user);
    harness_resp_t *r = harness_api(self, "GET", path, harness_admin_token(self), NULL);
    bool ok = false;
    size_t i;
    json_t *it;
    json_array_foreach(r ? json_object_get(r->json, "items") : NULL, i, it)
    {
        json_t *d = json_object_get(it, "data");
        const char *t = json_string_value(json_object_get(d, "resource_type"));
        ok = ok ||
             (t && strcmp(t, a->type) == 0 && json_integer_value(json_object_get(d, "resource_id")) == a->id);
    }
    harness_resp_destroy(&r);
    return ok;
}

#endif

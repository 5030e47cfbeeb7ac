/* Issue 9 through HTTP on a real stack: /v2/calls CRUD on leads, contacts and deals (timeline rows,
 * call.* events, visibility for sales tokens, the 4xx paths), the seeded call and visit outcomes,
 * the read-only text messages and visits (filters, paging, 404), the industry lists, the Sell
 * shape of lead statuses and custom fields, and POST /v2/{leads,contacts}/upsert. */
#include "leads2_util.h"

static harness_t *h;

static void stop_stack(void)
{
    harness_destroy(&h);
}

TestSuite(sell_activities, .fini = stop_stack, .timeout = 900);

static json_t *data_of(const harness_resp_t *r)
{
    return r && r->json ? json_object_get(r->json, "data") : NULL;
}

static json_t *items_of(const harness_resp_t *r)
{
    return r && r->json ? json_object_get(r->json, "items") : NULL;
}

/* data of item i of a collection reply. */
static json_t *item(const harness_resp_t *r, size_t i)
{
    return json_object_get(json_array_get(items_of(r), i), "data");
}

static long long jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static const char *jstr(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* GET path as token, expecting 200 and a collection; the reply (caller destroys). */
static harness_resp_t *list(const char *path, const char *token)
{
    harness_resp_t *r = l2_call(h, "GET", path, token, NULL);
    cr_assert_eq(r->status, 200, "GET %s -> %ld: %s", path, r->status, r->body);
    cr_assert(json_is_array(items_of(r)), "GET %s: no items: %s", path, r->body);
    return r;
}

static size_t count(const char *path, const char *token)
{
    harness_resp_t *r = list(path, token);
    size_t n = json_array_size(items_of(r));
    harness_resp_destroy(&r);
    return n;
}

static long long sqlf(const char *fmt, long long a, long long b)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fmt, a, b);
    return harness_sql_long(h, sql);
}

/* The timeline of path (lead or contact) holds an entry of kind with summary containing text. */
static bool timeline_has(const char *path, const char *token, const char *kind, const char *text)
{
    harness_resp_t *r = list(path, token);
    bool found = false;
    for (size_t i = 0; i < json_array_size(items_of(r)); i++) {
        json_t *e = item(r, i);
        if (strcmp(jstr(e, "kind"), kind) == 0 && strstr(jstr(e, "summary"), text))
            found = true;
    }
    harness_resp_destroy(&r);
    return found;
}

Test(sell_activities, calls_outcomes_texts_visits_industries)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long ua, ub;
    char *a = l2_user_token(h, "call-a", "sales", &ua);
    char *b = l2_user_token(h, "call-b", "sales", &ub);
    cr_assert(a && b);
    long long la = l2_create(h, "/v2/leads", a, "{\"last_name\":\"Callee\"}");
    long long ca = l2_create(h, "/v2/contacts", a, "{\"last_name\":\"Contacted\"}");
    cr_assert(la > 0 && ca > 0);

    /* Call outcomes: seeded, filterable by name, meta type call_outcome, unknown id 404. */
    harness_resp_t *r = list("/v2/call_outcomes", a);
    cr_expect_geq(json_array_size(items_of(r)), 5);
    cr_expect_str_eq(jstr(json_object_get(json_array_get(items_of(r), 0), "meta"), "type"), "call_outcome");
    harness_resp_destroy(&r);
    r = list("/v2/call_outcomes?name=No%20answer", a);
    cr_assert_eq(json_array_size(items_of(r)), 1);
    long long no_answer = jint(item(r, 0), "id");
    cr_expect_str_eq(jstr(item(r, 0), "name"), "No answer");
    harness_resp_destroy(&r);
    cr_expect_eq(count("/v2/call_outcomes?per_page=2&page=2", a), 2);
    cr_expect_eq(count("/v2/call_outcomes?page=50", a), 0);
    cr_expect_eq(l2_status(h, "GET", "/v2/call_outcomes/999999", a, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "GET", "/v2/call_outcomes?colour=red", a, NULL, 400), 400);

    /* Create on a lead: every attribute, the caller as user_id, made_at normalized to UTC. */
    char body[1024], path[256], path2[256];
    snprintf(body, sizeof body,
             "{\"summary\":\"Wants a demo\",\"phone_number\":\"+49 30 1234\",\"duration\":120,"
             "\"incoming\":false,\"missed\":false,\"outcome_id\":%lld,\"resource_type\":\"lead\","
             "\"resource_id\":%lld,\"associated_deal_ids\":[5,6],\"made_at\":\"2026-11-20T10:00:00+01:00\","
             "\"external_id\":\"ext-1\",\"recording_url\":\"https://rec.example.com/1.mp3\"}",
             no_answer, la);
    long long c1 = l2_create(h, "/v2/calls", a, body);
    cr_assert_gt(c1, 0);
    snprintf(path, sizeof path, "/v2/calls/%lld", c1);
    r = l2_call(h, "GET", path, a, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_t *d = data_of(r);
    cr_expect_eq(jint(d, "user_id"), ua);
    cr_expect_eq(jint(d, "creator_id"), ua);
    cr_expect_eq(jint(d, "duration"), 120);
    cr_expect_eq(jint(d, "outcome_id"), no_answer);
    cr_expect_str_eq(jstr(d, "made_at"), "2026-11-20T09:00:00Z");
    cr_expect_str_eq(jstr(d, "phone_number"), "+49 30 1234");
    cr_expect_str_eq(jstr(d, "external_id"), "ext-1");
    cr_expect_str_eq(jstr(d, "recording_url"), "https://rec.example.com/1.mp3");
    cr_expect_eq(json_integer_value(json_array_get(json_object_get(d, "associated_deal_ids"), 1)), 6);
    cr_expect(json_is_false(json_object_get(d, "incoming")));
    cr_expect_str_eq(jstr(json_object_get(r->json, "meta"), "type"), "call");
    harness_resp_destroy(&r);
    /* In the same transaction: the event and the lead's timeline row. */
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'call.created'"), 1);
    snprintf(path2, sizeof path2, "/v2/leads/%lld/activities", la);
    cr_expect(timeline_has(path2, a, "call", "Outgoing call +49 30 1234: Wants a demo"));

    /* Visibility: the other sales user neither sees nor changes it; admins see all. */
    cr_expect_eq(l2_status(h, "GET", path, b, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "PUT", path, b, "{\"data\":{\"summary\":\"x\"}}", 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, b, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "GET", path, admin, NULL, 200), 200);
    cr_expect_eq(count("/v2/calls", b), 0);
    cr_expect_eq(count("/v2/calls", a), 1);

    /* Calls on a contact (its timeline) and on a deal (not checked here: crm-deals owns it). */
    snprintf(body, sizeof body,
             "{\"summary\":\"Missed him\",\"incoming\":true,\"missed\":true,\"resource_type\":\"contact\","
             "\"resource_id\":%lld}",
             ca);
    long long c2 = l2_create(h, "/v2/calls", a, body);
    cr_assert_gt(c2, 0);
    snprintf(path2, sizeof path2, "/v2/contacts/%lld/activities", ca);
    cr_expect(timeline_has(path2, a, "call", "Incoming call (missed): Missed him"));
    long long c3 =
        l2_create(h, "/v2/calls", b, "{\"resource_type\":\"deal\",\"resource_id\":777,\"duration\":0}");
    cr_assert_gt(c3, 0);

    /* List filters, sorting and paging. */
    snprintf(path2, sizeof path2, "/v2/calls?resource_type=lead&resource_id=%lld", la);
    cr_expect_eq(count(path2, admin), 1);
    snprintf(path2, sizeof path2, "/v2/calls?outcome_id=%lld", no_answer);
    cr_expect_eq(count(path2, admin), 1);
    cr_expect_eq(count("/v2/calls?incoming=true", admin), 1);
    cr_expect_eq(count("/v2/calls?missed=false", admin), 2);
    cr_expect_eq(count("/v2/calls?external_id=ext-1", admin), 1);
    snprintf(path2, sizeof path2, "/v2/calls?user_id=%lld", ub);
    cr_expect_eq(count(path2, admin), 1);
    snprintf(path2, sizeof path2, "/v2/calls?ids=%lld,%lld", c1, c3);
    cr_expect_eq(count(path2, admin), 2);
    r = list("/v2/calls?sort_by=id:desc&per_page=2", admin);
    cr_expect_eq(jint(item(r, 0), "id"), c3);
    cr_expect(strstr(jstr(json_object_get(json_object_get(r->json, "meta"), "links"), "next_page"),
                     "/v2/calls?page=2&per_page=2&sort_by=id%3Adesc"),
              "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(count("/v2/calls?page=2&per_page=2", admin), 1);
    cr_expect_eq(count("/v2/calls?page=9&per_page=100", admin), 0);
    cr_expect_eq(count("/v2/calls", b), 1);
    cr_expect_eq(l2_status(h, "GET", "/v2/calls?per_page=101", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/calls?sort_by=colour", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/calls?resource_type=account", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/calls?colour=red", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/calls/999999", admin, NULL, 404), 404);

    /* Partial update: only what is sent changes; null clears. */
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"summary\":\"Left a message\",\"outcome_id\":null}}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    d = data_of(r);
    cr_expect_str_eq(jstr(d, "summary"), "Left a message");
    cr_expect(json_is_null(json_object_get(d, "outcome_id")));
    cr_expect_eq(jint(d, "duration"), 120);
    cr_expect_str_eq(jstr(d, "phone_number"), "+49 30 1234");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'call.updated'"), 1);
    /* The Ruby client's update: id, resource_type and resource_id only (moves it to the contact). */
    snprintf(body, sizeof body, "{\"data\":{\"id\":%lld,\"resource_type\":\"contact\",\"resource_id\":%lld}}",
             c1, ca);
    r = l2_call(h, "PUT", path, a, body);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(data_of(r), "resource_type"), "contact");
    cr_expect_eq(jint(data_of(r), "resource_id"), ca);
    cr_expect_str_eq(jstr(data_of(r), "summary"), "Left a message");
    harness_resp_destroy(&r);

    /* 4xx of create and update, each naming its field. */
    char fields[256];
    r = l2_call(h, "POST", "/v2/calls", a, "{\"data\":{\"summary\":\"x\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_fields(r, fields, sizeof fields), "/resource_type,/resource_id");
    cr_expect_str_eq(l2_err_code(r), "missing");
    harness_resp_destroy(&r);
    struct {
        const char *data;
        const char *field;
    } bad[] = {
        {"{\"resource_type\":\"account\",\"resource_id\":1}", "/resource_type"},
        {"{\"resource_type\":\"lead\",\"resource_id\":999999}", "/resource_id"},
        {"{\"resource_type\":\"deal\",\"resource_id\":1,\"outcome_id\":999999}", "/outcome_id"},
        {"{\"resource_type\":\"deal\",\"resource_id\":1,\"duration\":-1}", "/duration"},
        {"{\"resource_type\":\"deal\",\"resource_id\":1,\"duration\":\"long\"}", "/duration"},
        {"{\"resource_type\":\"deal\",\"resource_id\":1,\"made_at\":\"yesterday\"}", "/made_at"},
        {"{\"resource_type\":\"deal\",\"resource_id\":1,\"recording_url\":\"ftp://x\"}", "/recording_url"},
        {"{\"resource_type\":\"deal\",\"resource_id\":1,\"associated_deal_ids\":[0]}",
         "/associated_deal_ids"},
        {"{\"resource_type\":\"deal\",\"resource_id\":1,\"mood\":\"happy\"}", "/mood"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"data\":%s}", bad[i].data);
        r = l2_call(h, "POST", "/v2/calls", a, body);
        cr_expect_eq(r->status, 422, "%s: %ld %s", bad[i].data, r->status, r->body);
        cr_expect_str_eq(l2_err_field(r), bad[i].field, "%s: %s", bad[i].data, r->body);
        harness_resp_destroy(&r);
    }
    r = l2_call(h, "POST", "/v2/calls", a,
                "{\"data\":{\"resource_type\":\"deal\",\"resource_id\":1,\"mood\":1}}");
    cr_expect_str_eq(l2_err_code(r), "unknown");
    harness_resp_destroy(&r);
    /* A lead another sales user owns is not the caller's to log calls on. */
    snprintf(body, sizeof body, "{\"data\":{\"resource_type\":\"lead\",\"resource_id\":%lld}}", la);
    r = l2_call(h, "POST", "/v2/calls", b, body);
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_id");
    harness_resp_destroy(&r);
    r = l2_call(h, "PUT", path, a, "{\"data\":{\"resource_type\":\"lead\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/resource_id");
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "PUT", path, a, "{\"data\":{\"duration\":-5}}", 422), 422);
    cr_expect_eq(l2_status(h, "PUT", path, a, "{\"data\":{\"created_at\":\"2001-01-01T00:00:00Z\"}}", 422),
                 422);
    cr_expect_eq(l2_status(h, "PUT", "/v2/calls/999999", admin, "{\"data\":{\"summary\":\"x\"}}", 404), 404);
    cr_expect_eq(l2_status(h, "POST", "/v2/calls?x=1", a, "{\"data\":{}}", 400), 400);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.calls"), 3);

    /* Delete: 204, gone, call.deleted in the outbox. */
    cr_expect_eq(l2_status(h, "DELETE", path, a, NULL, 204), 204);
    cr_expect_eq(l2_status(h, "GET", path, a, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "DELETE", path, a, NULL, 404), 404);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'call.deleted'"), 1);

    /* Text messages: read-only, empty at first; default order id:desc; resource filters go together. */
    cr_expect_eq(count("/v2/text_messages", admin), 0);
    long long t1 =
        sqlf("INSERT INTO leads.text_messages (user_id, content, incoming, resource_type, resource_id, "
             "associated_deal_ids) VALUES (%lld, 'See you', false, 'lead', %lld, '{9}') RETURNING id",
             ua, la);
    long long t2 =
        sqlf("INSERT INTO leads.text_messages (user_id, content, incoming) VALUES (%lld, 'Hi', true) "
             "RETURNING id",
             ub, 0);
    cr_assert(t1 > 0 && t2 > 0);
    r = list("/v2/text_messages", admin);
    cr_expect_eq(json_array_size(items_of(r)), 2);
    cr_expect_eq(jint(item(r, 0), "id"), t2);
    cr_expect_str_eq(jstr(json_object_get(json_array_get(items_of(r), 0), "meta"), "type"), "text_message");
    harness_resp_destroy(&r);
    cr_expect_eq(count("/v2/text_messages?sort_by=id", admin), 2);
    cr_expect_eq(count("/v2/text_messages", a), 1);
    snprintf(path2, sizeof path2, "/v2/text_messages?resource_type=lead&resource_id=%lld", la);
    cr_expect_eq(count(path2, admin), 1);
    cr_expect_eq(count("/v2/text_messages?per_page=1&page=3", admin), 0);
    cr_expect_eq(l2_status(h, "GET", "/v2/text_messages?resource_type=lead", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/text_messages?content=Hi", admin, NULL, 400), 400);
    snprintf(path2, sizeof path2, "/v2/text_messages/%lld", t1);
    r = l2_call(h, "GET", path2, a, NULL);
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_str_eq(jstr(data_of(r), "content"), "See you");
    cr_expect_eq(json_integer_value(json_array_get(json_object_get(data_of(r), "associated_deal_ids"), 0)),
                 9);
    harness_resp_destroy(&r);
    snprintf(path2, sizeof path2, "/v2/text_messages/%lld", t2);
    cr_expect_eq(l2_status(h, "GET", path2, a, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "GET", "/v2/text_messages/999999", admin, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "POST", "/v2/text_messages", admin, "{\"data\":{}}", 405), 405);

    /* Visits and visit outcomes. */
    cr_expect_eq(count("/v2/visits", admin), 0);
    r = list("/v2/visit_outcomes", a);
    cr_assert_geq(json_array_size(items_of(r)), 1);
    long long vo = jint(item(r, 0), "id");
    harness_resp_destroy(&r);
    long long v1 =
        sqlf("INSERT INTO leads.visits (creator_id, outcome_id, resource_type, resource_id, summary, "
             "rep_location_verification_status) VALUES (%lld, %lld, 'lead', 1, 'Met', 'verified') "
             "RETURNING id",
             ua, vo);
    cr_assert_gt(v1, 0);
    snprintf(path2, sizeof path2, "/v2/visits?outcome_id=%lld", vo);
    cr_expect_eq(count(path2, admin), 1);
    cr_expect_eq(count("/v2/visits?rep_location_verification_status=verified", admin), 1);
    cr_expect_eq(count("/v2/visits?rep_location_verification_status=unverified", admin), 0);
    cr_expect_eq(count("/v2/visits", a), 1);
    cr_expect_eq(count("/v2/visits", b), 0);
    cr_expect_eq(l2_status(h, "GET", "/v2/visits?resource_id=1", admin, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/visits/999999", admin, NULL, 404), 404);
    snprintf(path2, sizeof path2, "/v2/visits/%lld", v1);
    cr_expect_eq(l2_status(h, "GET", path2, b, NULL, 404), 404);
    cr_expect_eq(l2_status(h, "GET", path2, a, NULL, 200), 200);

    /* Industries: {name} items, alphabetical, filterable and paged. */
    r = list("/v2/lead/industries", a);
    cr_expect_eq(json_array_size(items_of(r)), 25);
    cr_expect_str_eq(jstr(item(r, 0), "name"), "Accounting");
    cr_expect_eq(json_object_size(item(r, 0)), 1);
    cr_expect_str_eq(jstr(json_object_get(json_array_get(items_of(r), 0), "meta"), "type"), "industry");
    harness_resp_destroy(&r);
    cr_expect_eq(count("/v2/contact/industries?name=Banking", a), 1);
    cr_expect_eq(count("/v2/contact/industries?per_page=5&page=2", a), 5);
    cr_expect_eq(count("/v2/contact/industries?page=100", a), 0);
    cr_expect_eq(l2_status(h, "GET", "/v2/lead/industries?sort_by=id", a, NULL, 400), 400);
    cr_expect_eq(l2_status(h, "GET", "/v2/deal/industries", a, NULL, 404), 404);

    /* Lead statuses and custom fields in Sell's shape. */
    r = list("/v2/lead_statuses", a);
    cr_expect_eq(jint(item(r, 0), "id"), 1);
    cr_expect_str_eq(jstr(item(r, 0), "name"), "New");
    cr_expect_str_eq(jstr(json_object_get(json_array_get(items_of(r), 0), "meta"), "type"), "lead_status");
    harness_resp_destroy(&r);
    cr_assert_gt(
        l2_create(h, "/v2/contact/custom_fields", admin,
                  "{\"name\":\"Size\",\"type\":\"list\",\"choices\":[{\"name\":\"S\"},{\"name\":\"M\"}],"
                  "\"for_company\":true,\"for_contact\":false}"),
        0);
    r = list("/v2/contact/custom_fields", a);
    json_t *cf = item(r, 0);
    const char *keys[] = {"id",          "name",        "type",       "choices",
                          "for_company", "for_contact", "created_at", "updated_at"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_expect(json_object_get(cf, keys[i]) != NULL, "custom field without %s", keys[i]);
    cr_expect_str_eq(jstr(json_array_get(json_object_get(cf, "choices"), 1), "name"), "M");
    cr_expect_gt(jint(json_array_get(json_object_get(cf, "choices"), 1), "id"), 0);
    cr_expect_str_eq(jstr(json_object_get(json_array_get(items_of(r), 0), "meta"), "type"), "custom_field");
    harness_resp_destroy(&r);
    cr_expect_eq(count("/v2/lead/custom_fields", a), 0);
    cr_expect_eq(count("/v2/deal/custom_fields", a), 0);
    free(a);
    free(b);
}

/* POST path?query as token with {"data": data}; the reply. */
static harness_resp_t *upsert(const char *path, const char *token, const char *data)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"data\":%s}", data);
    return l2_call(h, "POST", path, token, body);
}

Test(sell_activities, upsert)
{
    h = harness_start();
    cr_assert_not_null(h, "stack did not start");
    const char *admin = harness_admin_token(h);
    long long ub;
    char *b = l2_user_token(h, "upsert-b", "sales", &ub);
    cr_assert_not_null(b);

    /* No match → create (200, as POST /v2/leads). */
    harness_resp_t *r = upsert("/v2/leads/upsert?email=ann@example.com", admin,
                               "{\"last_name\":\"Ann\",\"email\":\"ann@example.com\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    long long l1 = l2_data_int(r, "id");
    cr_expect_str_eq(jstr(json_object_get(r->json, "meta"), "type"), "lead");
    harness_resp_destroy(&r);
    cr_assert_gt(l1, 0);
    /* Exactly one → partial update of that one. */
    r = upsert("/v2/leads/upsert?email=ann@example.com", admin, "{\"title\":\"CTO\"}");
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(l2_data_int(r, "id"), l1);
    cr_expect_str_eq(l2_data_str(r, "title"), "CTO");
    cr_expect_str_eq(l2_data_str(r, "last_name"), "Ann");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE email = 'ann@example.com'"), 1);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.outbox WHERE type = 'lead.updated'"), 1);
    /* Two filters must both match. */
    r = upsert("/v2/leads/upsert?email=ann@example.com&last_name=Other", admin,
               "{\"last_name\":\"Other\",\"email\":\"ann@example.com\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    long long l2 = l2_data_int(r, "id");
    cr_expect(l2 > 0 && l2 != l1);
    harness_resp_destroy(&r);
    /* Several → 409 with a Sell error body, nothing changed. */
    r = upsert("/v2/leads/upsert?email=ann@example.com", admin, "{\"title\":\"CEO\"}");
    cr_expect_eq(r->status, 409, "%s", r->body);
    cr_expect_str_eq(l2_err_code(r), "conflict");
    cr_expect_str_eq(jstr(json_object_get(r->json, "meta"), "http_status"), "409 Conflict");
    cr_expect_str_neq(jstr(json_object_get(r->json, "meta"), "logref"), "");
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE title = 'CEO'"), 0);

    /* 400: no filter, paging as a filter, an unknown filter, no body; 422: an unknown attribute or a
     * changed read-only one (nothing created). */
    cr_expect_eq(l2_status(h, "POST", "/v2/leads/upsert", admin, "{\"data\":{\"last_name\":\"X\"}}", 400),
                 400);
    cr_expect_eq(
        l2_status(h, "POST", "/v2/leads/upsert?page=1", admin, "{\"data\":{\"last_name\":\"X\"}}", 400), 400);
    cr_expect_eq(
        l2_status(h, "POST", "/v2/leads/upsert?colour=red", admin, "{\"data\":{\"last_name\":\"X\"}}", 400),
        400);
    cr_expect_eq(l2_status(h, "POST", "/v2/leads/upsert?email=zed@example.com", admin, NULL, 400), 400);
    r = upsert("/v2/leads/upsert?email=zed@example.com", admin, "{\"last_name\":\"Zed\",\"mood\":\"ok\"}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(l2_err_field(r), "/mood");
    harness_resp_destroy(&r);
    r = upsert("/v2/leads/upsert?email=zed@example.com", admin, "{\"email\":\"zed@example.com\"}");
    cr_expect_eq(r->status, 422, "a create still needs a name: %s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM leads.leads WHERE email = 'zed@example.com'"), 0);
    r = upsert("/v2/leads/upsert?last_name=Other", admin, "{\"id\":1,\"title\":\"VP\"}");
    if (l2 != 1) {
        cr_expect_eq(r->status, 422, "%s", r->body);
        cr_expect_str_eq(l2_err_field(r), "/id");
    }
    harness_resp_destroy(&r);
    char body[256];
    snprintf(body, sizeof body, "{\"id\":%lld,\"title\":\"VP\"}", l2);
    r = upsert("/v2/leads/upsert?last_name=Other", admin, body);
    cr_expect_eq(r->status, 200, "the same id is accepted: %s", r->body);
    cr_expect_str_eq(l2_data_str(r, "title"), "VP");
    harness_resp_destroy(&r);

    /* Custom field filters (custom_fields[name]=value). */
    cr_assert_gt(l2_create(h, "/v2/lead/custom_fields", admin, "{\"name\":\"Ext ID\",\"type\":\"string\"}"),
                 0);
    r = upsert("/v2/leads/upsert?custom_fields%5BExt%20ID%5D=A-1", admin,
               "{\"last_name\":\"Cf\",\"custom_fields\":{\"Ext ID\":\"A-1\"}}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    long long l3 = l2_data_int(r, "id");
    harness_resp_destroy(&r);
    r = upsert("/v2/leads/upsert?custom_fields%5BExt%20ID%5D=A-1", admin, "{\"first_name\":\"Carl\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(l2_data_int(r, "id"), l3);
    cr_expect_str_eq(l2_data_str(r, "first_name"), "Carl");
    harness_resp_destroy(&r);

    /* A sales token matches only what it can see: admin's Ann is invisible, so it creates its own. */
    r = upsert("/v2/leads/upsert?last_name=Ann", b, "{\"last_name\":\"Ann\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    long long l4 = l2_data_int(r, "id");
    cr_expect(l4 > 0 && l4 != l1);
    cr_expect_eq(l2_data_int(r, "owner_id"), ub);
    harness_resp_destroy(&r);
    r = upsert("/v2/leads/upsert?last_name=Ann", b, "{\"title\":\"Mine\"}");
    cr_expect_eq(l2_data_int(r, "id"), l4);
    harness_resp_destroy(&r);

    /* Contacts. */
    r = upsert("/v2/contacts/upsert?email=cat@example.com", admin,
               "{\"last_name\":\"Cat\",\"email\":\"cat@example.com\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    long long c1 = l2_data_int(r, "id");
    cr_expect_str_eq(jstr(json_object_get(r->json, "meta"), "type"), "contact");
    harness_resp_destroy(&r);
    r = upsert("/v2/contacts/upsert?email=cat@example.com", admin, "{\"title\":\"Owner\"}");
    cr_expect_eq(r->status, 200, "%s", r->body);
    cr_expect_eq(l2_data_int(r, "id"), c1);
    cr_expect_str_eq(l2_data_str(r, "title"), "Owner");
    harness_resp_destroy(&r);
    r = upsert("/v2/contacts/upsert?is_organization=false", admin, "{\"title\":\"x\"}");
    cr_expect_eq(r->status, 200, "one person contact so far: %s", r->body);
    harness_resp_destroy(&r);
    cr_assert_gt(l2_create(h, "/v2/contacts", admin, "{\"last_name\":\"Dog\"}"), 0);
    r = upsert("/v2/contacts/upsert?is_organization=false", admin, "{\"title\":\"x\"}");
    cr_expect_eq(r->status, 409, "%s", r->body);
    harness_resp_destroy(&r);
    cr_expect_eq(l2_status(h, "GET", "/v2/contacts/upsert", admin, NULL, 405), 405);
    free(b);
}

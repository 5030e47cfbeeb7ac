/* crm-notify: the X-Crm-Signature header value, against HMAC-SHA256 computed independently
 * (Python's hmac module) for one secret and for two during rotation; the notification kinds. */
#include <criterion/criterion.h>
#include <string.h>

#include "notify.h"

Test(notify_webhook, signature_one_secret)
{
    char out[400];
    notify_webhook_sign("first-secret-0123456789", NULL, 1700000000LL, "{\"a\":1}", out, sizeof out);
    cr_expect_str_eq(out, "t=1700000000,v1=c2d4d00dc8f6e69639fa32968ec265e55760d69b37d0beff311f8877c07cfb67");
}

Test(notify_webhook, signature_rotation_two_secrets)
{
    char out[400];
    notify_webhook_sign("first-secret-0123456789", "second-secret-0123456789", 1700000000LL, "{\"a\":1}", out,
                        sizeof out);
    cr_expect_str_eq(out, "t=1700000000,v1=c2d4d00dc8f6e69639fa32968ec265e55760d69b37d0beff311f8877c07cfb67"
                          ",v1=059c438e80ba0ffa6c25f4243451dc0d9d4037ba928d907715f56b8a06f395f2");
    /* An empty secondary secret is no secret. */
    notify_webhook_sign("first-secret-0123456789", "", 1700000000LL, "{\"a\":1}", out, sizeof out);
    cr_expect_eq(strstr(out, ",v1=") == strrchr(out, ',') && strchr(out, ',') == strrchr(out, ','), 1, "%s",
                 out);
}

Test(notify_webhook, kinds_and_topics)
{
    cr_expect_eq(notify_kind_index("assigned"), 0);
    cr_expect_eq(notify_kind_index("task_due"), 3);
    cr_expect_eq(notify_kind_index("birthday"), -1);
    cr_expect(notify_topic_known("deal.stage_changed"));
    cr_expect(notify_topic_known("owner.assigned"));
    cr_expect(!notify_topic_known("deal.teleported"));
}

/* crm-notify e-mail (SPEC G2) against a real SMTP server (python3 -m aiosmtpd with a Maildir
 * handler) started by the test: a deal owner who asked for e-mail gets one mail per stage change,
 * with the right recipient, subject and body; while the server is down the mail waits and is
 * retried, and it is delivered exactly once when the server comes up, also across a restart of
 * crm-notify. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "notify_support.h"

static harness_t *h;
static pid_t smtpd = -1;
static char maildir[128];

static void stop_all(void)
{
    if (smtpd > 0) {
        kill(smtpd, SIGKILL);
        waitpid(smtpd, NULL, 0);
        smtpd = -1;
    }
    harness_destroy(&h);
    if (maildir[0]) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", maildir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", maildir);
    }
}

TestSuite(notify_mail, .fini = stop_all, .timeout = 600);

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static void start_smtpd(int port)
{
    char listen_on[64], log[256], box[200];
    snprintf(listen_on, sizeof listen_on, "127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/smtpd.log", maildir);
    snprintf(box, sizeof box, "%s/mail", maildir);
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    smtpd = fork();
    cr_assert_geq(smtpd, 0);
    if (smtpd == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *f = freopen(log, "a", stdout);
        (void)f;
        dup2(1, 2);
        execlp(py, py, "-m", "aiosmtpd", "-n", "-l", listen_on, "-c", "aiosmtpd.handlers.Mailbox", box,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !port_open(port); i++)
        usleep(100000);
    cr_assert(port_open(port), "aiosmtpd listens on %d (see %s)", port, log);
}

/* The files of maildir/new, read whole (at most 8). */
static int read_mails(char *mails[8])
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/mail/new", maildir);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 8) {
        if (e->d_name[0] == '.')
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        mails[n] = calloc(1, 65536);
        size_t len = fread(mails[n], 1, 65535, f);
        mails[n][len] = '\0';
        fclose(f);
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

static int count_mails(void)
{
    char *m[8];
    int n = read_mails(m);
    for (int i = 0; i < n; i++)
        free(m[i]);
    return n;
}

static bool mails_are(harness_t *self, void *arg)
{
    (void)self;
    return count_mails() == *(int *)arg;
}

Test(notify_mail, delivered_once_after_the_server_comes_up)
{
    snprintf(maildir, sizeof maildir, "/tmp/notify-mail-XXXXXX");
    cr_assert_not_null(mkdtemp(maildir));
    int port = free_port();
    char extra[512];
    snprintf(extra, sizeof extra,
             "  smtp:\n    host: 127.0.0.1\n    port: %d\n    from: crm@example.com\n    timeout_ms: 3000\n"
             "  mail:\n    poll_ms: 100\n    retry_base_ms: 300\n    retry_max_ms: 1500\n",
             port);
    h = harness_start_opts(&(harness_opts_t){.notify_extra = extra});
    cr_assert_not_null(h, "stack did not start");
    char *tok;
    long long u = ns_user(h, "mail-ann", "sales", &tok);
    harness_resp_t *r =
        harness_http(h, &(harness_req_t){.method = "PUT",
                                         .path = "/v2/notification_settings",
                                         .body = "{\"data\": {\"deal_stage_changed\": {\"email\": true}}}",
                                         .content_type = "application/json",
                                         .token = tok});
    cr_assert_eq(r->status, 200, "%s", r->body);
    harness_resp_destroy(&r);

    /* The SMTP server is down: the mail waits, retried with backoff. */
    ns_stage_changed(h, 701, u, "Acme renewal", "Qualified", "Proposal");
    cr_assert(
        ns_wait_sql(h, 30000,
                    "SELECT count(*) FROM notify.mail_outbox WHERE status = 'pending' AND attempts >= 2 "
                    "AND last_error LIKE 'smtp:%'",
                    1),
        "the mail is retried while the server is down");

    /* Server up: delivered once. */
    start_smtpd(port);
    cr_assert(ns_wait_sql(h, 30000, "SELECT count(*) FROM notify.mail_outbox WHERE status = 'sent'", 1),
              "sent once the server is up");
    int one = 1;
    cr_assert(harness_wait_until(h, harness_ms(10000), mails_are, &one, "one mail in the maildir"));
    char *m[8];
    int n = read_mails(m);
    cr_assert_eq(n, 1);
    cr_expect(strstr(m[0], "To: mail-ann@example.com\n") != NULL, "To header:\n%s", m[0]);
    cr_expect(strstr(m[0], "X-RcptTo: mail-ann@example.com") != NULL, "envelope recipient:\n%s", m[0]);
    cr_expect(strstr(m[0], "From: crm@example.com\n") != NULL, "From header:\n%s", m[0]);
    cr_expect(strstr(m[0], "Subject: Your deal Acme renewal moved from Qualified to Proposal\n") != NULL,
              "Subject:\n%s", m[0]);
    cr_expect(strstr(m[0], "\n\nYour deal Acme renewal moved from Qualified to Proposal") != NULL,
              "body:\n%s", m[0]);
    cr_expect(strstr(m[0], "Message-ID: <mail-") != NULL, "Message-ID:\n%s", m[0]);
    free(m[0]);
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.mail_outbox WHERE status = 'sent' "
                                     "AND recipient = 'mail-ann@example.com' AND sent_at IS NOT NULL"),
                 1);

    /* Another while up; then crm-notify restarts: nothing is sent twice. */
    ns_stage_changed(h, 702, u, "Globex", "Proposal", "Won");
    int two = 2;
    cr_assert(harness_wait_until(h, harness_ms(20000), mails_are, &two, "two mails in the maildir"));
    cr_assert(ns_wait_sql(h, 30000, "SELECT count(*) FROM notify.mail_outbox WHERE status = 'sent'", 2));
    harness_kill(h, "notify");
    cr_assert_eq(harness_sql_long(h, "UPDATE notify.inbox_offsets SET last_seq = 0 WHERE producer = 'deals' "
                                     "RETURNING 1"),
                 1);
    cr_assert_eq(harness_restart(h, "notify"), 0);
    cr_expect(ns_wait_sql(h, 30000, "SELECT last_seq FROM notify.inbox_offsets WHERE producer = 'deals'", 2));
    sleep(2);
    cr_expect_eq(count_mails(), 2, "no mail sent twice");
    cr_expect_eq(harness_sql_long(h, "SELECT count(*) FROM notify.mail_outbox"), 2, "one mail per event");
    free(tok);
}

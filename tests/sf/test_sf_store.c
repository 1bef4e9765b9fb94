/* Store-and-forward end to end, the store's part of issue 18: aerie-leaf (with its
 * forwarder as it is) on a store whose disk is full when it starts, and on a store with a
 * byte flipped in the middle of its only segment, against a real nats-server JetStream hub
 * behind aerie-relay.
 *
 * - full_disk_after_sigterm / full_disk_after_kill9: a store on a 3 MiB tmpfs (in a private
 *   mount namespace, as root) is filled offline until appends fail; the leaf is stopped
 *   (SIGTERM, or kill -9), what little room is left is taken by another file, and the leaf
 *   is started again. It must start (the store read-only, said in its log), serve local
 *   pub/sub, tell publishers on uplink subjects that their messages are not stored, drain
 *   the backlog to the hub once the link is back, and log new messages again once the
 *   drained segment is removed and space returns. Not as root: a 64-byte RLIMIT_FSIZE on
 *   the restarted leaf makes the meta file's write fail with EFBIG; everything but the
 *   return of space is checked then.
 * - corrupt_only_segment: 1,500 flushed messages, kill -9, one byte flipped in the middle of
 *   the only segment: exactly one message is lost and reported (lost_msgs 1, an error in the
 *   log); the 750 after it reach the hub. */
#include "sf_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define NSUBJ 4

/* A tmpfs of `size` under path in a private mount namespace (the case's process and the
 * leaf it starts share it; it vanishes with them). False when not permitted (not root). */
static bool mount_small_fs(const char *path, const char *size)
{
    if (unshare(CLONE_NEWNS) != 0)
        return false;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    mkdir(path, 0755);
    char opt[64];
    snprintf(opt, sizeof opt, "size=%s", size);
    return mount("sfstore", path, "tmpfs", 0, opt) == 0;
}

/* Takes every byte left on the file system of dir (a file named "filler", which the store
 * ignores). Returns how many bytes it took. */
static long fill_disk(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    SF_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
    static char block[4096];
    long total = 0;
    for (size_t chunk = sizeof block; chunk >= 1; chunk /= 2) {
        ssize_t w;
        while ((w = write(fd, block, chunk)) > 0)
            total += w;
        SF_ASSERT(errno == ENOSPC, "filling %s: %s", path, strerror(errno));
    }
    close(fd);
    return total;
}

/* Waits until the backlog is gone, then reads the stream back. */
static void drain_and_check(sf_leaf *l, sf_net *n, sf_pub *p, sf_check *c, int timeout_ms)
{
    SF_ASSERT(sf_pub_flush(p, 10000), "the leaf did not answer the publisher's last PINGs");
    SF_ASSERT(sf_wait_drained(l, timeout_ms), "backlog not drained within %d ms: %lld left",
              timeout_ms, sf_leafz_int(l, "backlog_msgs"));
    sf_check_stream(&n->hub, 0, "VEH", p, c);
}

/* Local pub/sub through the leaf while its store is read-only: a plain subject, and the
 * uplink subjects, whose publishers are told the message is not stored for the hub but
 * whose local subscribers still get it. */
static void check_local_pubsub(sf_leaf *l, sf_pub *p)
{
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", l->port);
    natsConnection *nc = NULL;
    natsSubscription *plain = NULL, *uplink = NULL;
    SF_ASSERT(natsConnection_ConnectTo(&nc, url) == NATS_OK &&
                  natsConnection_SubscribeSync(&plain, nc, "local.chat") == NATS_OK &&
                  natsConnection_SubscribeSync(&uplink, nc, "fleet.test.veh.v1.state.>") ==
                      NATS_OK &&
                  natsConnection_Flush(nc) == NATS_OK,
              "cannot subscribe through the restarted leaf");
    for (int i = 0; i < 10; i++)
        SF_ASSERT(natsConnection_PublishString(nc, "local.chat", "hello") == NATS_OK, "publish");
    SF_ASSERT(natsConnection_Flush(nc) == NATS_OK, "flush");
    long refused0 = p->refused;
    SF_ASSERT(sf_pub_reconnect(p, 15000) == 0, "publisher cannot reach the restarted leaf");
    for (int i = 0; i < 50; i++)
        SF_ASSERT(sf_pub_send(p, true) == 0, "publisher lost the leaf");
    SF_ASSERT(sf_pub_flush(p, 10000), "the leaf stopped answering PINGs on a full disk");
    int got_plain = 0, got_uplink = 0;
    natsMsg *m = NULL;
    while (got_plain < 10 && natsSubscription_NextMsg(&m, plain, 5000) == NATS_OK) {
        got_plain++;
        natsMsg_Destroy(m);
    }
    while (got_uplink < 50 && natsSubscription_NextMsg(&m, uplink, 5000) == NATS_OK) {
        got_uplink++;
        natsMsg_Destroy(m);
    }
    printf("  read-only: %d/10 plain and %d/50 uplink messages delivered locally, %ld "
           "publishes refused for the hub\n",
           got_plain, got_uplink, p->refused - refused0);
    SF_ASSERT(got_plain == 10 && got_uplink == 50, "local delivery: %d/10 plain, %d/50 uplink",
              got_plain, got_uplink);
    SF_ASSERT(p->refused - refused0 == 50, "%ld of 50 publishes were refused with -ERR",
              p->refused - refused0);
    natsSubscription_Destroy(plain);
    natsSubscription_Destroy(uplink);
    natsConnection_Destroy(nc);
}

static void full_disk_restart(bool kill9)
{
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_net_cmd(&n, "cut");
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    /* max_bytes 8 MiB (2 MiB segments) is larger than the 3 MiB disk: the disk fills first */
    sf_leaf_init(&l, "v1", n.urls, NULL, "sync: always\n  max_bytes: 8MB", NULL, NULL);
    bool tmpfs = mount_small_fs(l.store_dir, "3m");
    printf("  full disk via %s\n", tmpfs ? "a 3 MiB tmpfs" : "RLIMIT_FSIZE 64 bytes");
    sf_leaf_start(&l);
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 1024, 20000);
    int sent = 0;
    while (sent < (tmpfs ? 6000 : 500) && sf_leafz_int(&l, "capture_errors") <= 0) {
        for (int i = 0; i < 100; i++, sent++)
            SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
        SF_ASSERT(sf_pub_flush(&p, 10000), "the leaf stopped answering PINGs");
    }
    SF_ASSERT(!tmpfs || sf_leafz_int(&l, "capture_errors") > 0, "the disk never filled");
    long long stored = sf_leafz_int(&l, "backlog_msgs");
    if (kill9)
        sf_leaf_kill(&l);
    else
        sf_leaf_stop(&l, true);
    if (tmpfs)
        printf("  %llu messages sent, %lld stored, %ld refused; %ld more bytes filled\n",
               (unsigned long long)p.next_g, stored, p.refused, fill_disk(l.store_dir));
    else
        l.fsize_limit = 64;

    /* The restart on a full disk. */
    int ro_before = sf_log_count(&l, "read-only: the disk of");
    sf_leaf_start(&l);
    SF_ASSERT(sf_log_count(&l, "read-only: the disk of") == ro_before + 1,
              "the restarted leaf did not say its store is read-only");
    SF_ASSERT(sf_leafz_int(&l, "backlog_msgs") == stored,
              "backlog %lld after the restart, %lld "
              "before",
              sf_leafz_int(&l, "backlog_msgs"), stored);
    check_local_pubsub(&l, &p);

    /* The backlog drains; what was refused is all that is missing. */
    sf_net_cmd(&n, "heal");
    sf_check c;
    drain_and_check(&l, &n, &p, &c, 60000);
    sf_check_print(kill9 ? "full_disk_after_kill9" : "full_disk_after_sigterm", &c);
    SF_ASSERT(c.lost == p.refused, "lost %ld, refused %ld", c.lost, p.refused);
    SF_ASSERT(c.distinct == (long)stored, "%ld in the stream, %lld were stored", c.distinct,
              stored);
    SF_ASSERT(c.duplicated == 0 && c.reordered == 0 && c.unknown == 0 && c.missing_headers == 0,
              "dup %ld reordered %ld unknown %ld", c.duplicated, c.reordered, c.unknown);
    sf_check_free(&c);

    if (tmpfs) {
        /* The drained first segment is removed: space is back, and so is logging. */
        int64_t deadline = ah_now_ms() + (int64_t)(20000 * ah_timeout_scale());
        while (sf_log_count(&l, "there is space again") == 0 && ah_now_ms() < deadline)
            ah_sleep_ms(100);
        SF_ASSERT(sf_log_count(&l, "there is space again") == 1,
                  "the store never became writable again");
        long refused = p.refused;
        uint64_t from = p.next_g;
        for (int i = 0; i < 300; i++)
            SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
        drain_and_check(&l, &n, &p, &c, 30000);
        long missing = 0;
        for (uint64_t g = from; g < p.next_g; g++)
            missing += c.count[g] == 0;
        printf("  after space returned: %ld of 300 new messages missing, %ld refused\n", missing,
               p.refused - refused);
        SF_ASSERT(missing == 0 && p.refused == refused, "%ld of 300 missing, %ld refused", missing,
                  p.refused - refused);
        sf_check_free(&c);
    }
    sf_pub_close(&p);
    sf_leaf_stop(&l, true);
    if (tmpfs)
        umount2(l.store_dir, MNT_DETACH);
    if (!getenv("AH_KEEP_TMP"))
        ah_rmrf(l.dir);
    sf_net_stop(&n);
    nats_Close();
}

static void test_full_disk_after_sigterm(void)
{
    full_disk_restart(false);
}

static void test_full_disk_after_kill9(void)
{
    full_disk_restart(true);
}

/* The only *.seg file of a store directory (fails the case unless there is exactly one). */
static void only_segment(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    SF_ASSERT(d, "opendir %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len == 24 && !strcmp(e->d_name + 20, ".seg")) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    SF_ASSERT(n == 1, "%d segments in %s, want 1", n, dir);
}

static void test_corrupt_only_segment(void)
{
    sf_net n;
    sf_net_start(&n, 1, true);
    sf_net_cmd(&n, "cut");
    sf_stream_create(&n.hub, "VEH", 1, 0);
    sf_leaf l;
    sf_leaf_init(&l, "v1", n.urls, NULL, "sync: always", NULL, NULL);
    sf_leaf_start(&l);
    sf_pub p;
    sf_pub_open(&p, l.port, "v1", NSUBJ, 64, 3000);
    for (int i = 0; i < 1500; i++) {
        SF_ASSERT(sf_pub_send(&p, true) == 0, "publisher lost the leaf");
        sf_pub_poll(&p, 0);
    }
    SF_ASSERT(sf_pub_flush(&p, 20000) && p.nflushed == 1500, "flushed %llu of 1500",
              (unsigned long long)p.nflushed);
    sf_leaf_kill(&l);
    char seg[700];
    only_segment(l.store_dir, seg, sizeof seg);
    struct stat sb;
    SF_ASSERT(stat(seg, &sb) == 0, "stat %s", seg);
    int fd = open(seg, O_RDWR);
    unsigned char b;
    SF_ASSERT(fd >= 0 && pread(fd, &b, 1, sb.st_size / 2) == 1, "read %s", seg);
    b ^= 0x5a;
    SF_ASSERT(pwrite(fd, &b, 1, sb.st_size / 2) == 1, "write %s", seg);
    close(fd);
    sf_leaf_start(&l);
    long long lost = sf_leafz_int(&l, "lost_msgs");
    printf("  flipped the byte at %lld of %lld; lost_msgs %lld, backlog %lld\n",
           (long long)(sb.st_size / 2), (long long)sb.st_size, lost,
           sf_leafz_int(&l, "backlog_msgs"));
    SF_ASSERT(lost == 1, "lost_msgs %lld, want exactly the one damaged record", lost);
    SF_ASSERT(sf_log_count(&l, "corrupt at offset") == 1 && sf_log_count(&l, "torn tail") == 0,
              "the leaf did not report the damage as corruption");
    SF_ASSERT(sf_log_count(&l, "(1 record) is lost") == 1, "the loss is not in the log");
    SF_ASSERT(sf_leafz_int(&l, "backlog_msgs") == 1499, "backlog %lld, want 1499",
              sf_leafz_int(&l, "backlog_msgs"));
    sf_net_cmd(&n, "heal");
    SF_ASSERT(sf_pub_reconnect(&p, 15000) == 0, "publisher cannot reach the leaf again");
    sf_check c;
    drain_and_check(&l, &n, &p, &c, 30000);
    sf_check_print("corrupt_only_segment", &c);
    SF_ASSERT(c.lost == 1 && c.first_lost > 500 && c.first_lost < 1000,
              "lost %ld (g %llu..%llu), want one message from the middle", c.lost,
              (unsigned long long)c.first_lost, (unsigned long long)c.last_lost);
    SF_ASSERT(c.distinct == 1499 && c.duplicated == 0 && c.reordered == 0 && c.unknown == 0,
              "distinct %ld dup %ld reordered %ld unknown %ld", c.distinct, c.duplicated,
              c.reordered, c.unknown);
    sf_check_free(&c);
    sf_pub_close(&p);
    sf_leaf_stop(&l, false);
    sf_net_stop(&n);
    nats_Close();
}

int main(int argc, char **argv)
{
    static const ah_case cases[] = {
        {"full_disk_after_sigterm", test_full_disk_after_sigterm, 150},
        {"full_disk_after_kill9", test_full_disk_after_kill9, 150},
        {"corrupt_only_segment", test_corrupt_only_segment, 90},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}

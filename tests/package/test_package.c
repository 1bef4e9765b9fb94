/* The Debian packages that scripts/package built into dist/: what each one holds and
 * declares, that its systemd units pass `systemd-analyze verify`, and that the packaged
 * aerie-leaf, unpacked into a throwaway root with dpkg -x, starts from the packaged
 * /etc/aerie/leaf.conf as a standalone broker with monitoring on loopback whose /metrics
 * passes promtool. (A real `apt-get install` and systemd run is not possible in CI;
 * docs/operations.md says what was checked by hand.)
 *
 * Without packages the program exits 77, which ctest reports as skipped; scripts/check
 * builds them first and sets AERIE_REQUIRE_PACKAGES=1, and under CI (CI=true) a missing
 * package fails too. */
#include "harness/harness.h"
#include "harness/prom_check.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dist[512];

/* dist/<name>_*.deb into out; false when there is none. */
static bool find_deb(const char *name, char *out, size_t cap)
{
    DIR *d = opendir(dist);
    if (!d)
        return false;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s_", name);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && n > 4 &&
            !strcmp(e->d_name + n - 4, ".deb")) {
            snprintf(out, cap, "%s/%s", dist, e->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

static char *deb_of(const char *name)
{
    static char path[3][700];
    static int next;
    char *p = path[next++ % 3];
    AH_ASSERT_MSG(find_deb(name, p, sizeof path[0]), "no %s package in %s", name, dist);
    return p;
}

/* Runs argv to completion; fails the case unless it exits 0. Returns stdout (caller frees)
 * and, when err is not NULL, stderr in *err (caller frees). */
static char *run_out(char *const argv[], char **err)
{
    char *tmp = ah_mkdtemp("pkgrun");
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/out", tmp);
    ah_output o = ah_run_capture(prefix, argv, 60000);
    ah_rmrf(tmp);
    free(tmp);
    AH_ASSERT_MSG(o.code == 0, "%s %s exited %d: %s%s", argv[0], argv[1] ? argv[1] : "", o.code,
                  o.out, o.err);
    if (err)
        *err = o.err;
    else
        free(o.err);
    return o.out;
}

static char *run_ok(char *const argv[])
{
    return run_out(argv, NULL);
}

/* ---- what the packages hold ------------------------------------------------------------ */

static void expect_package(const char *name, const char *const *files, const char *const *depends,
                           const char *const *conffiles)
{
    char *deb = deb_of(name);
    char *list = run_ok((char *[]){"/usr/bin/dpkg-deb", "--contents", deb, NULL});
    for (const char *const *f = files; *f; f++)
        AH_ASSERT_MSG(strstr(list, *f), "%s lacks %s:\n%s", deb, *f, list);
    free(list);
    char *dep = run_ok((char *[]){"/usr/bin/dpkg-deb", "--field", deb, "Depends", NULL});
    for (const char *const *d = depends; *d; d++)
        AH_ASSERT_MSG(strstr(dep, *d), "%s: Depends lacks %s: %s", deb, *d, dep);
    free(dep);
    char *conf = run_ok((char *[]){"/usr/bin/dpkg-deb", "--info", deb, "conffiles", NULL});
    for (const char *const *c = conffiles; *c; c++)
        AH_ASSERT_MSG(strstr(conf, *c), "%s: %s is not a conffile: %s", deb, *c, conf);
    free(conf);
}

static void t_contents(void)
{
    expect_package("aerie-leaf",
                   (const char *const[]){"./usr/bin/aerie-leaf", "./etc/aerie/leaf.conf",
                                         "./lib/systemd/system/aerie-leaf.service",
                                         "./usr/share/man/man1/aerie-leaf.1.gz",
                                         "./usr/lib/sysusers.d/aerie-leaf.conf", NULL},
                   (const char *const[]){"libmicrohttpd12", "libssl3", "libjansson4", NULL},
                   (const char *const[]){"/etc/aerie/leaf.conf", NULL});
    expect_package("aerie-gw",
                   (const char *const[]){"./usr/bin/aerie-gw", "./etc/aerie/gw.conf",
                                         "./lib/systemd/system/aerie-gw.service",
                                         "./usr/share/man/man1/aerie-gw.1.gz", NULL},
                   (const char *const[]){"libmicrohttpd12", "libnats", NULL},
                   (const char *const[]){"/etc/aerie/gw.conf", NULL});
    expect_package("aerie",
                   (const char *const[]){"./usr/bin/aerie", "./usr/libexec/aerie/aerie-relay",
                                         "./etc/aerie/dashboard.env",
                                         "./lib/systemd/system/aerie-dashboard.service",
                                         "./usr/share/man/man1/aerie.1.gz", NULL},
                   (const char *const[]){"libnats", "libmicrohttpd12", NULL},
                   (const char *const[]){"/etc/aerie/dashboard.env", NULL});
    /* the dashboard's settings hold a password */
    char *list = run_ok((char *[]){"/usr/bin/dpkg-deb", "--contents", deb_of("aerie"), NULL});
    AH_ASSERT_CONTAINS(list, "-rw------- root/root");
    free(list);
}

/* ---- unpacked into a throwaway root ------------------------------------------------------ */

static char *unpack_all(void)
{
    char *root = ah_mkdtemp("pkgroot");
    const char *names[] = {"aerie-leaf", "aerie-gw", "aerie"};
    for (size_t i = 0; i < 3; i++)
        free(run_ok((char *[]){"/usr/bin/dpkg", "-x", deb_of(names[i]), root, NULL}));
    return root;
}

/* Each unit, with our programs' paths pointed into the unpacked root, passes systemd's own
 * checker (unknown keys, bad values, missing executables). */
static void t_units_verify(void)
{
    char *root = unpack_all();
    const char *units[] = {"aerie-leaf.service", "aerie-gw.service", "aerie-dashboard.service"};
    for (size_t i = 0; i < 3; i++) {
        char src[700], dst[700];
        snprintf(src, sizeof src, "%s/lib/systemd/system/%s", root, units[i]);
        snprintf(dst, sizeof dst, "%s/%s", root, units[i]);
        char *text = ah_read_file(src);
        AH_ASSERT_MSG(text, "cannot read %s", src);
        AH_ASSERT_CONTAINS(text, "ExecStart=/usr/bin/aerie");
        AH_ASSERT_CONTAINS(text, "NoNewPrivileges=yes");
        AH_ASSERT_CONTAINS(text, "ProtectSystem=strict");
        FILE *f = fopen(dst, "w");
        AH_ASSERT(f);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (!strncmp(line, "ExecStart=/usr/bin/", 19))
                fprintf(f, "ExecStart=%s/usr/bin/%s\n", root, line + 19);
            else
                fprintf(f, "%s\n", line);
        }
        fclose(f);
        free(text);
        /* verify exits 0 on unknown keys and bad values: it only warns, naming the file.
         * Not the man pages of Documentation= (they are not installed here; contents checks
         * that the packages carry them). */
        char *err = NULL;
        free(
            run_out((char *[]){"/usr/bin/systemd-analyze", "verify", "--man=no", dst, NULL}, &err));
        AH_ASSERT_MSG(!strstr(err, units[i]), "systemd-analyze verify %s: %s", units[i], err);
        free(err);
    }
    ah_rmrf(root);
    free(root);
}

/* The packaged leaf.conf: valid as installed, and its commented hub example is valid once
 * uncommented (what the comment tells the operator to do). */
static void t_leaf_conf(void)
{
    char *root = unpack_all();
    char leaf[700], conf[700], hub[700];
    snprintf(leaf, sizeof leaf, "%s/usr/bin/aerie-leaf", root);
    snprintf(conf, sizeof conf, "%s/etc/aerie/leaf.conf", root);
    snprintf(hub, sizeof hub, "%s/leaf-hub.conf", root);
    char *out = run_ok((char *[]){leaf, "-t", "-c", conf, NULL});
    AH_ASSERT_CONTAINS(out, "is valid");
    free(out);
    char *text = ah_read_file(conf);
    AH_ASSERT(text);
    FILE *f = fopen(hub, "w");
    AH_ASSERT(f);
    bool in_example = false;
    int uncommented = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "# server_name:", 14))
            in_example = true;
        if (in_example && !strncmp(line, "# ", 2)) {
            fprintf(f, "%s\n", line + 2);
            uncommented++;
        } else {
            fprintf(f, "%s\n", line);
        }
    }
    fclose(f);
    free(text);
    AH_ASSERT_MSG(uncommented > 10, "no hub example in the packaged leaf.conf");
    out = run_ok((char *[]){leaf, "-t", "-c", hub, NULL});
    AH_ASSERT_CONTAINS(out, "is valid");
    free(out);
    ah_rmrf(root);
    free(root);
}

/* The packaged aerie-leaf starts from the packaged config (ports moved with -p/-m only, so
 * that the test never collides with a broker on 4222/8222; the addresses are the file's). */
static void t_leaf_starts(void)
{
    char *root = unpack_all();
    char leaf[700], conf[700], log[700], ps[16], ms[16];
    snprintf(leaf, sizeof leaf, "%s/usr/bin/aerie-leaf", root);
    snprintf(conf, sizeof conf, "%s/etc/aerie/leaf.conf", root);
    snprintf(log, sizeof log, "%s/leaf.log", root);
    int port = ah_free_port(), http = ah_free_port();
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(ms, sizeof ms, "%d", http);
    ah_proc p;
    AH_ASSERT_EQ_INT(ah_spawn(&p, log, (char *[]){leaf, "-c", conf, "-p", ps, "-m", ms, NULL}), 0);
    AH_ASSERT_MSG(ah_wait_tcp(http, 5000) == 0, "the packaged aerie-leaf did not start");
    char want[128];
    snprintf(want, sizeof want, "Listening for client connections on 127.0.0.1:%d", port);
    AH_ASSERT_EQ_INT(ah_count_in_file(log, want), 1);
    snprintf(want, sizeof want, "Starting http monitor on 127.0.0.1:%d", http);
    AH_ASSERT_EQ_INT(ah_count_in_file(log, want), 1);

    char *t = ah_prom_scrape(http);
    AH_ASSERT(ah_prom_value(t, "aerie_uplink_configured") == 0);
    AH_ASSERT(ah_prom_value(t, "aerie_leaf_connections") == 0);
    free(t);
    int fd = ah_connect(port);
    AH_ASSERT(fd >= 0);
    char buf[2048];
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "\r\n", 3000) > 0);
    AH_ASSERT_CONTAINS(buf, "INFO {");
    ah_send(fd, "CONNECT {}\r\nPING\r\n");
    AH_ASSERT(ah_read_until(fd, buf, sizeof buf, "PONG", 3000) > 0);
    close(fd);
    int st = ah_stop(&p, SIGTERM, 5000);
    AH_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
    ah_rmrf(root);
    free(root);
}

int main(int argc, char **argv)
{
    const char *d = getenv("AERIE_DIST_DIR");
    snprintf(dist, sizeof dist, "%s", d && *d ? d : AERIE_SOURCE_DIR "/dist");
    char probe[700];
    if (!find_deb("aerie-leaf", probe, sizeof probe)) {
        const char *req = getenv("AERIE_REQUIRE_PACKAGES"), *ci = getenv("CI");
        if ((req && *req && strcmp(req, "0") != 0) || (ci && !strcmp(ci, "true"))) {
            fprintf(stderr, "FAIL: no packages in %s (run scripts/package first)\n", dist);
            printf("0 passed, 1 failed\n");
            return 1;
        }
        printf("skipped: no packages in %s; run scripts/package to test them\n", dist);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    static const ah_case cases[] = {
        {"contents", t_contents, 60},
        {"units_verify", t_units_verify, 60},
        {"leaf_conf", t_leaf_conf, 60},
        {"leaf_starts", t_leaf_starts, 60},
    };
    return ah_run(argc, argv, cases, sizeof cases / sizeof cases[0]);
}

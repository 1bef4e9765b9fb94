/* Test-side control of aerie-relay: spawn it on kernel-chosen ports, talk its line protocol over
 * the control port (one short connection per command, so a test never has to manage a
 * control socket), and stop it by PID. */
#include "harness/relay_ctl.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* The relay binds port 0 for both of its listeners and names the ports the kernel chose on
 * its READY line: a port drawn here and bound there could be taken in between by a test
 * running beside this one. */
int ah_relay_start(ah_relay *r, int target_port)
{
    memset(r, 0, sizeof *r);
    r->target_port = target_port;
    char *dir = ah_mkdtemp("relay");
    if (!dir)
        return -1;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    free(dir);
    char to_s[32], log[600];
    snprintf(to_s, sizeof to_s, "127.0.0.1:%d", target_port);
    snprintf(log, sizeof log, "%s/relay.log", r->dir);
    char *argv[] = {
        (char *)ah_bin("aerie-relay"), "--listen", "0", "--to", to_s, "--control", "0", NULL};
    if (ah_spawn(&r->proc, log, argv) != 0)
        goto fail;
    int64_t deadline = ah_now_ms() + (int64_t)(10000 * ah_timeout_scale());
    while (ah_now_ms() < deadline) {
        if (!ah_alive(&r->proc))
            break;
        char *said = ah_read_file(log);
        const char *ready = said ? strstr(said, "READY listen=") : NULL;
        if (ready && sscanf(ready, "READY listen=%d control=%d", &r->port, &r->control_port) == 2 &&
            ah_relay_cmd(r, "stats", NULL, 0) == 0) {
            free(said);
            return 0;
        }
        free(said);
        ah_sleep_ms(20);
    }
    char *said = ah_read_file(log);
    fprintf(stderr, "ah_relay_start: relay to port %d did not come up; it said: %s\n", target_port,
            said && *said ? said : "(nothing)");
    free(said);
fail:
    ah_relay_stop(r);
    return -1;
}

int ah_relay_cmd(ah_relay *r, const char *cmd, char *reply, size_t cap)
{
    if (reply && cap)
        reply[0] = '\0';
    int fd = ah_connect(r->control_port);
    if (fd < 0)
        return -1;
    char line[600];
    snprintf(line, sizeof line, "%s\n", cmd);
    char buf[1024];
    int n = -1;
    if (ah_send(fd, line) == 0)
        n = ah_read_until(fd, buf, sizeof buf, "\n", (int)(5000 * ah_timeout_scale()));
    close(fd);
    if (n <= 0 || !strchr(buf, '\n'))
        return -1;
    *strchr(buf, '\n') = '\0';
    if (reply && cap)
        snprintf(reply, cap, "%s", buf);
    return strncmp(buf, "OK", 2) == 0 ? 0 : -1;
}

void ah_relay_stop(ah_relay *r)
{
    if (!r)
        return;
    if (r->proc.pid > 0)
        ah_stop(&r->proc, SIGTERM, 3000);
    if (r->dir[0]) {
        if (getenv("AH_KEEP_TMP"))
            fprintf(stderr, "ah_relay: keeping %s (AH_KEEP_TMP)\n", r->dir);
        else
            ah_rmrf(r->dir);
        r->dir[0] = '\0';
    }
}

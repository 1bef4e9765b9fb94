/* MAVLink benchmarks.
 *
 * 1. Decode rate on one core: a realistic telemetry mix (heartbeat, position, attitude, GPS,
 *    battery, sys_status; a few signed) parsed from one big buffer, from 64-byte reads (as a
 *    serial port delivers them), and parsed plus unpacked into structs.
 * 2. End to end: this process plays the autopilot, sending ATTITUDE over UDP at a fixed rate
 *    to a real aerie-gw connected to a real broker ($AERIE_BROKER or nats-server), and
 *    subscribes to state.attitude; each frame carries its index in time_boot_ms, so the
 *    latency is receive time minus send time of that index (same clock, same host).
 *
 * Usage: bench_mavlink [decode|e2e|all] [e2e samples (default 20000)] [rate Hz (default 2000)] */
#include "common/timeutil.h"
#include "harness/harness.h"
#include "mavlink/mavlink.h"

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t build_mix(uint8_t *buf, size_t cap, size_t *nframes)
{
    size_t off = 0, n = 0;
    uint8_t seq = 0;
    ae_mav_signing sg = {.key = {7}, .link_id = 1, .timestamp = 1};
    while (off + 2 * AE_MAV_MAX_FRAME < cap) {
        ae_mav_header h = {.version = 2, .seq = seq++, .sysid = 1, .compid = 1};
        ae_mav_heartbeat hb = {.custom_mode = 0x04040000,
                               .type = 2,
                               .autopilot = 12,
                               .base_mode = 157,
                               .system_status = 4,
                               .mavlink_version = 3};
        ae_mav_global_position_int p = {.time_boot_ms = (uint32_t)n,
                                        .lat = 473977418,
                                        .lon = 85455938,
                                        .alt = 503000,
                                        .relative_alt = 15000,
                                        .vx = 120,
                                        .vy = -40,
                                        .vz = 3,
                                        .hdg = 9000};
        ae_mav_attitude a = {.time_boot_ms = (uint32_t)n,
                             .roll = 0.01f,
                             .pitch = -0.05f,
                             .yaw = 1.2f,
                             .rollspeed = 0.001f};
        ae_mav_gps_raw_int g = {.time_usec = 1767225600000000ULL,
                                .lat = 473977418,
                                .lon = 85455938,
                                .alt = 503000,
                                .eph = 80,
                                .epv = 120,
                                .vel = 800,
                                .cog = 9000,
                                .fix_type = 3,
                                .satellites_visible = 14};
        ae_mav_battery_status b = {.current_consumed = 800,
                                   .energy_consumed = -1,
                                   .temperature = 2500,
                                   .current_battery = 1800,
                                   .battery_remaining = 70};
        for (int i = 0; i < 10; i++)
            b.voltages[i] = i < 4 ? 3950 : UINT16_MAX;
        int k = (int)(n % 10);
        int w;
        if (k == 0)
            w = ae_mav_encode_msg(buf + off, cap - off, &h, AE_MAV_MSG_HEARTBEAT, &hb,
                                  n % 50 == 0 ? &sg : NULL);
        else if (k < 4)
            w = ae_mav_encode_msg(buf + off, cap - off, &h, AE_MAV_MSG_GLOBAL_POSITION_INT, &p,
                                  NULL);
        else if (k < 8)
            w = ae_mav_encode_msg(buf + off, cap - off, &h, AE_MAV_MSG_ATTITUDE, &a, NULL);
        else if (k == 8)
            w = ae_mav_encode_msg(buf + off, cap - off, &h, AE_MAV_MSG_GPS_RAW_INT, &g, NULL);
        else
            w = ae_mav_encode_msg(buf + off, cap - off, &h, AE_MAV_MSG_BATTERY_STATUS, &b, NULL);
        if (w <= 0)
            break;
        off += (size_t)w;
        n++;
    }
    *nframes = n;
    return off;
}

static void unpack_cb(void *ctx, const ae_mav_frame *f)
{
    uint8_t msg[512];
    ae_mav_frame_unpack(f, msg);
    *(uint64_t *)ctx += msg[0];
}

static void bench_decode(void)
{
    size_t cap = 4 << 20, nframes;
    uint8_t *buf = malloc(cap);
    size_t len = build_mix(buf, cap, &nframes);
    printf("decode: %zu frames, %zu bytes (avg %.1f B/frame), telemetry mix, 2%% of heartbeats "
           "signed (not verified)\n",
           nframes, len, (double)len / (double)nframes);
    for (int mode = 0; mode < 3; mode++) {
        ae_mav_parser p;
        uint64_t sink = 0;
        ae_mav_parser_init(&p, mode == 2 ? unpack_cb : NULL, &sink);
        int reps = 20;
        int64_t t0 = ae_mono_ns();
        for (int r = 0; r < reps; r++) {
            if (mode == 1) {
                for (size_t off = 0; off < len; off += 64)
                    ae_mav_parse(&p, buf + off, len - off < 64 ? len - off : 64);
            } else {
                ae_mav_parse(&p, buf, len);
            }
        }
        double s = (double)(ae_mono_ns() - t0) / 1e9;
        double fps = (double)p.stats.frames / s;
        printf("  %-34s %8.2f M frames/s  %7.1f MB/s  (%llu frames, %llu crc errors)\n",
               mode == 0   ? "parse+CRC, one buffer:"
               : mode == 1 ? "parse+CRC, 64-byte reads:"
                           : "parse+CRC+unpack, one buffer:",
               fps / 1e6, (double)len * reps / s / 1e6, (unsigned long long)p.stats.frames,
               (unsigned long long)p.stats.crc_errors);
    }
    free(buf);
}

/* ---- end to end --------------------------------------------------------------------------- */

typedef struct e2e {
    int fd;
    struct sockaddr_in gw;
    int samples, rate_hz;
    int64_t *sent_ns; /* by index */
    volatile int sending_done;
} e2e;

static void *sender(void *arg)
{
    e2e *e = arg;
    uint8_t frame[AE_MAV_MAX_FRAME];
    int64_t period = AE_NS_PER_SEC / e->rate_hz;
    int64_t next = ae_mono_ns();
    for (int i = 0; i < e->samples; i++) {
        /* Sleep, do not spin: on a small vehicle computer a spinning sender would steal the
         * core the gateway and the broker need, and measure contention instead of latency. */
        int64_t now = ae_mono_ns();
        if (next > now) {
            struct timespec ts = {.tv_sec = (next - now) / AE_NS_PER_SEC,
                                  .tv_nsec = (next - now) % AE_NS_PER_SEC};
            nanosleep(&ts, NULL);
        }
        next += period;
        ae_mav_attitude a = {.time_boot_ms = (uint32_t)i, .roll = 0.01f, .yaw = 1.0f};
        ae_mav_header h = {.version = 2, .seq = (uint8_t)i, .sysid = 1, .compid = 1};
        int n = ae_mav_encode_msg(frame, sizeof frame, &h, AE_MAV_MSG_ATTITUDE, &a, NULL);
        e->sent_ns[i] = ae_mono_ns();
        sendto(e->fd, frame, (size_t)n, 0, (struct sockaddr *)&e->gw, sizeof e->gw);
    }
    e->sending_done = 1;
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_e2e(int samples, int rate_hz)
{
    const char *broker = getenv("AERIE_BROKER");
    if (!broker || !*broker || !strcmp(broker, "nats-server"))
        broker = ah_nats_server();
    else if (!strcmp(broker, "aerie-leaf"))
        broker = ah_bin("aerie-leaf");
    int nport = ah_free_port(), mport = ah_free_port();
    char np[16], url[64], mav[64];
    snprintf(np, sizeof np, "%d", nport);
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", nport);
    snprintf(mav, sizeof mav, "udp://127.0.0.1:%d", mport);
    ah_proc b = {0}, g = {0};
    char *bargv[] = {(char *)broker, "-a", "127.0.0.1", "-p", np, NULL};
    if (ah_spawn(&b, NULL, bargv) || ah_wait_tcp(nport, 10000)) {
        fprintf(stderr, "e2e: cannot start broker %s\n", broker);
        return;
    }
    char *gargv[] = {(char *)ah_bin("aerie-gw"),
                     "--mavlink",
                     mav,
                     "--nats",
                     url,
                     "--vid",
                     "BENCH-1",
                     "--env",
                     "bench",
                     "--rate",
                     "all=0",
                     NULL};
    if (ah_spawn(&g, NULL, gargv)) {
        fprintf(stderr, "e2e: cannot start aerie-gw\n");
        ah_stop(&b, SIGTERM, 2000);
        return;
    }
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
        natsConnection_SubscribeSync(&sub, nc, "fleet.bench.veh.BENCH-1.state.attitude") !=
            NATS_OK) {
        fprintf(stderr, "e2e: cannot subscribe\n");
        goto out;
    }
    natsConnection_Flush(nc);
    e2e e = {.samples = samples, .rate_hz = rate_hz};
    e.sent_ns = calloc((size_t)samples, sizeof(int64_t));
    int64_t *lat = calloc((size_t)samples, sizeof(int64_t));
    e.fd = socket(AF_INET, SOCK_DGRAM, 0);
    e.gw.sin_family = AF_INET;
    e.gw.sin_port = htons((uint16_t)mport);
    e.gw.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Warm up: heartbeats until the gateway adopts the autopilot. */
    natsSubscription *hs = NULL;
    natsConnection_SubscribeSync(&hs, nc, "fleet.bench.veh.BENCH-1.state.heartbeat");
    natsConnection_Flush(nc);
    bool up = false;
    for (int i = 0; i < 50 && !up; i++) {
        uint8_t fr[AE_MAV_MAX_FRAME];
        ae_mav_heartbeat hb = {.type = 2, .autopilot = 12, .base_mode = 0x81, .mavlink_version = 3};
        ae_mav_header h = {.version = 2, .sysid = 1, .compid = 1};
        int n = ae_mav_encode_msg(fr, sizeof fr, &h, AE_MAV_MSG_HEARTBEAT, &hb, NULL);
        sendto(e.fd, fr, (size_t)n, 0, (struct sockaddr *)&e.gw, sizeof e.gw);
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, hs, 200) == NATS_OK) {
            natsMsg_Destroy(m);
            up = true;
        }
    }
    natsSubscription_Destroy(hs);
    if (!up) {
        fprintf(stderr, "e2e: aerie-gw did not come up\n");
        goto out;
    }
    pthread_t th;
    pthread_create(&th, NULL, sender, &e);
    int got = 0;
    for (;;) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 1000) != NATS_OK) {
            if (e.sending_done)
                break;
            continue;
        }
        int64_t now = ae_mono_ns();
        const char *d = natsMsg_GetData(m);
        const char *p = strstr(d, "\"time_boot_ms\":");
        if (p) {
            int idx = atoi(p + 15);
            if (idx >= 0 && idx < samples && e.sent_ns[idx])
                lat[got++] = now - e.sent_ns[idx];
        }
        natsMsg_Destroy(m);
        if (got == samples)
            break;
    }
    pthread_join(th, NULL);
    qsort(lat, (size_t)got, sizeof lat[0], cmp_i64);
    if (got > 0)
        printf("e2e: autopilot UDP -> aerie-gw -> %s -> libnats subscriber, %d Hz ATTITUDE\n"
               "  received %d of %d; latency p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f "
               "us, max %.1f us\n",
               strrchr(broker, '/') ? strrchr(broker, '/') + 1 : broker, rate_hz, got, samples,
               lat[got / 2] / 1e3, lat[got * 9 / 10] / 1e3, lat[got * 99 / 100] / 1e3,
               lat[got * 999 / 1000] / 1e3, lat[got - 1] / 1e3);
    close(e.fd);
    free(e.sent_ns);
    free(lat);
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    ah_stop(&g, SIGTERM, 3000);
    ah_stop(&b, SIGTERM, 3000);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    int samples = argc > 2 ? atoi(argv[2]) : 20000;
    int rate = argc > 3 ? atoi(argv[3]) : 2000;
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(what, "decode") || !strcmp(what, "all"))
        bench_decode();
    if (!strcmp(what, "e2e") || !strcmp(what, "all"))
        bench_e2e(samples > 0 ? samples : 20000, rate > 0 ? rate : 2000);
    nats_Close();
    return 0;
}

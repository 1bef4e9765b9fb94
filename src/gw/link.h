/* MAVLink transports for the gateway: UDP (listening as autopilots and SITL expect, or
 * sending to a fixed address) and serial ports (termios, raw, any standard baud rate).
 *
 * Endpoint forms, as in MAVProxy/mavlink-router:
 *   udp://[host]:port     listen (udpin:// is the same); replies go to the latest sender
 *   udpout://host:port    send to host:port, receive replies on the same socket
 *   serial:///dev/ttyACM0:57600   (also serial:/dev/ttyUSB0 with the default 57600 baud)
 * Each link owns one MAVLink parser, so counters and sequence gaps are per link. */
#ifndef AERIE_GW_LINK_H
#define AERIE_GW_LINK_H

#include "common/err.h"
#include "mavlink/mavlink.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef enum ae_gw_link_kind {
    AE_GW_LINK_UDP_LISTEN,
    AE_GW_LINK_UDP_OUT,
    AE_GW_LINK_SERIAL,
} ae_gw_link_kind;

typedef struct ae_gw_link {
    ae_gw_link_kind kind;
    char url[256];
    int fd;
    struct sockaddr_storage peer;      /* UDP: where to send (latest sender, or the fixed target) */
    socklen_t peer_len;                /* 0 while unknown (a listening link nobody has sent to) */
    struct sockaddr_storage last_from; /* UDP: the sender of the datagram being parsed */
    socklen_t last_from_len;
    ae_mav_parser parser;
    uint64_t tx_frames, tx_errors;
} ae_gw_link;

/* Parses `url` (forms above) and opens the link. The parser is initialised with cb/ctx.
 * Returns 0, or AE_EINVAL (bad URL, with the accepted forms in the message) or AE_EIO
 * (socket/bind/open/termios failed, naming the call and strerror). */
int ae_gw_link_open(ae_gw_link *l, const char *url, ae_mav_frame_cb cb, void *ctx, ae_err *err);
/* Reads what is available (non-blocking) and feeds the parser, which calls back per frame;
 * during the callbacks l->last_from names the sender (UDP). Returns 0, or AE_EIO when the
 * device went away (serial unplugged). */
int ae_gw_link_read(ae_gw_link *l);
/* Sends one frame: UDP to `to` (NULL: l->peer), serial to the port. Returns 0, AE_EAGAIN when
 * no peer is known yet, or AE_EIO. */
int ae_gw_link_send(ae_gw_link *l, const uint8_t *frame, size_t n,
                    const struct sockaddr_storage *to, socklen_t to_len);
void ae_gw_link_close(ae_gw_link *l);

#endif

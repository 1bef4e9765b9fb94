/* libmicrohttpd for the vehicle programs, loaded only when an HTTP endpoint is configured.
 *
 * Linked in, libmicrohttpd brings GnuTLS and its friends: about 3 MiB of resident memory
 * that a vehicle without monitoring should not pay (measured on aerie-leaf: 3.7 MiB RSS
 * without its monitoring port, 6.6 MiB with it). So the library is dlopen'ed on first use
 * and its calls go through this table. aerie-gw's metrics listener uses it; aerie-leaf's
 * monitor.c has the same loader of its own. The Debian packages depend on libmicrohttpd12
 * explicitly, since dpkg-shlibdeps cannot see a dlopen. */
#ifndef AERIE_COMMON_MHD_H
#define AERIE_COMMON_MHD_H

#include "common/err.h"

#include <microhttpd.h>

typedef struct ae_mhd_api {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
} ae_mhd_api;

/* Loads libmicrohttpd (once per process; call it from one thread). Returns the table, or
 * NULL with a message saying which package to install. */
const ae_mhd_api *ae_mhd_load(ae_err *err);

#endif

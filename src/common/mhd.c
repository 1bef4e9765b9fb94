/* libmicrohttpd loaded on demand; see mhd.h. */
#include "common/mhd.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>

static ae_mhd_api api;
static bool loaded;

const ae_mhd_api *ae_mhd_load(ae_err *err)
{
    if (loaded)
        return &api;
    void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libmicrohttpd.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ae_err_set(err, AE_EIO,
                   "HTTP endpoints need libmicrohttpd (Debian package libmicrohttpd12): %s; "
                   "install it, or remove the metrics address from the config",
                   dlerror());
        return NULL;
    }
    struct {
        void **slot;
        const char *name;
    } syms[] = {
        {(void **)&api.start_daemon, "MHD_start_daemon"},
        {(void **)&api.stop_daemon, "MHD_stop_daemon"},
        {(void **)&api.get_daemon_info, "MHD_get_daemon_info"},
        {(void **)&api.run, "MHD_run"},
        {(void **)&api.create_response_from_buffer, "MHD_create_response_from_buffer"},
        {(void **)&api.add_response_header, "MHD_add_response_header"},
        {(void **)&api.queue_response, "MHD_queue_response"},
        {(void **)&api.destroy_response, "MHD_destroy_response"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            ae_err_set(err, AE_EIO, "libmicrohttpd lacks %s: too old? (need 0.9.71 or newer)",
                       syms[i].name);
            return NULL;
        }
    }
    loaded = true;
    return &api;
}

/* Loaders for the client port's security options (authorization { } and tls { }), used by
 * the config loader in opts.c. Each fills `o` and returns 0, or AE_EINVAL with a message
 * naming file, line and key (nats-server's wording where it has one). */
#ifndef AERIE_LEAF_OPTS_AUTH_H
#define AERIE_LEAF_OPTS_AUTH_H

#include "common/conf.h"
#include "leaf/opts.h"

int ae_opts_load_authorization(ae_opts *o, const ae_conf_node *block, ae_err *err);
int ae_opts_load_tls(ae_opts *o, const ae_conf_node *block, ae_err *err);
/* Frees o->users with their permissions. */
void ae_opts_free_users(ae_opts *o);

#endif

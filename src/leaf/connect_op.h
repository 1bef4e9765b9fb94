/* The CONNECT op of a local client: its options (verbose, pedantic, echo, headers,
 * no_responders, protocol, name/lang/version), authentication against the configured users
 * and the permissions that come with the user. A CONNECT that does not decode, fails
 * authentication or asks for what the server cannot do closes the connection with
 * nats-server's -ERR text and close reason; otherwise the client is connected (+OK when
 * verbose). Called by client.c's read path; calls only conn.c, auth.c and perms.c. */
#ifndef AERIE_LEAF_CONNECT_OP_H
#define AERIE_LEAF_CONNECT_OP_H

#include "leaf/client.h"
#include "leaf/proto.h"

void ae_client_connect_op(ae_client *c, const ae_op *op);

#endif

/* The NATS protocol parser: client ops (we are the server) and leafnode ops
 * (we are the soliciting leaf, the peer is a hub).
 *
 * The parser is stateless and zero-copy, in the picohttpparser manner: it is handed
 * the bytes a connection has buffered and either recognises one complete operation
 * at the front (returning how many bytes it used), says it needs more bytes, or
 * reports a protocol error. Every slice in `ae_op` points into the caller's buffer
 * and is valid only until the caller moves or frees those bytes. The parser does no
 * I/O, allocates nothing and touches no globals.
 *
 * Grammar facts follow nats-server 2.9: op names are case-insensitive; fields are
 * separated by runs of spaces or tabs; empty fields and trailing whitespace are
 * tolerated ("SUB a  1", "UNSUB 1 "); control lines end in CRLF or a bare LF. */
#ifndef AERIE_LEAF_PROTO_H
#define AERIE_LEAF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ae_slice {
    const char *ptr;
    size_t len;
} ae_slice;

/* Which ops a connection may send us. */
typedef enum ae_proto_kind {
    AE_PROTO_CLIENT, /* a NATS client talking to our server side */
    AE_PROTO_LEAF,   /* a hub talking to our soliciting leaf side */
} ae_proto_kind;

typedef enum ae_op_kind {
    AE_OP_NONE = 0,
    AE_OP_CONNECT, /* arg = JSON                                              (client, leaf) */
    AE_OP_INFO,    /* arg = JSON                                              (client, leaf) */
    AE_OP_PUB,     /* subject [reply] size, payload                           (client) */
    AE_OP_HPUB,    /* subject [reply] hdr_len total_len, payload              (client) */
    AE_OP_SUB,     /* subject [queue] sid                                     (client) */
    AE_OP_UNSUB,   /* sid [max_msgs] (max_msgs -1: absent or not a number)    (client) */
    AE_OP_PING,    /*                                                         (client, leaf) */
    AE_OP_PONG,    /*                                                         (client, leaf) */
    AE_OP_OK,      /* +OK                                                     (client, leaf) */
    AE_OP_ERR,     /* -ERR 'text': arg = text without the quotes             (client, leaf) */
    AE_OP_LSUB,    /* LS+ subject [queue weight]                              (leaf) */
    AE_OP_LUNSUB,  /* LS- subject [queue]                                     (leaf) */
    AE_OP_LMSG,    /* LMSG subject [reply | "|" queues | "+" reply queues] size   (leaf) */
    AE_OP_HMSG,    /* HMSG as LMSG with hdr_len total_len                     (leaf) */
} ae_op_kind;

typedef struct ae_op {
    ae_op_kind kind;
    ae_slice subject;       /* PUB HPUB SUB LSUB LUNSUB LMSG HMSG */
    ae_slice reply;         /* PUB HPUB LMSG HMSG; len 0 when absent */
    ae_slice queue;         /* SUB LSUB LUNSUB; len 0 when absent */
    ae_slice queues;        /* LMSG HMSG: the queue names, separated by single or repeated spaces */
    ae_slice sid;           /* SUB UNSUB */
    int64_t max_msgs;       /* UNSUB: -1 when absent */
    int32_t weight;         /* LSUB with a queue: its weight (1 when absent) */
    ae_slice arg;           /* CONNECT INFO: the JSON text; ERR: the text inside the quotes */
    size_t hdr_len;         /* HPUB HMSG: header bytes; 0 otherwise */
    size_t total_len;       /* PUB HPUB LMSG HMSG: bytes of headers + payload */
    const uint8_t *payload; /* PUB HPUB LMSG HMSG: total_len bytes, headers first */
} ae_op;

/* Protocol errors. Each maps to what nats-server sends and whether it closes. */
typedef enum ae_perr {
    AE_PERR_NONE = 0,
    AE_PERR_UNKNOWN_OP = 1,  /* -ERR 'Unknown Protocol Operation', close */
    AE_PERR_MAX_CONTROL = 2, /* -ERR 'maximum control line exceeded', close */
    AE_PERR_MAX_PAYLOAD = 3, /* -ERR 'Maximum Payload Violation', close */
    AE_PERR_BAD_ARGS = 4,    /* malformed arguments: nats-server closes without -ERR */
    AE_PERR_PAYLOAD_END = 5, /* payload not followed by CRLF: 'Unknown Protocol Operation', close */
} ae_perr;

typedef struct ae_proto_limits {
    ae_proto_kind kind;
    size_t max_control_line; /* bytes of arguments after the op name; 0 = no limit */
    size_t max_payload;      /* PUB/HPUB declared total; 0 = no limit */
} ae_proto_limits;

/* Recognises one operation at the start of buf[0..len).
 * Returns > 0: that many bytes form the operation, and *op describes it.
 * Returns 0: the operation is incomplete; *need (if not NULL) is set to the total number of
 *            bytes the operation will need once known (control line + payload + CRLF), or 0
 *            while the control line itself is incomplete.
 * Returns < 0: -ae_perr; the connection must be closed as ae_proto_err_text says.
 * Limits are checked as soon as possible: an over-long control line is reported before its
 * end arrives, and a too-large PUB size before its payload arrives. */
ptrdiff_t ae_proto_parse(const ae_proto_limits *lim, const uint8_t *buf, size_t len, ae_op *op,
                         size_t *need);

/* The text nats-server puts in -ERR '...' for an error, or NULL when it closes silently. */
const char *ae_proto_err_text(ae_perr err);

/* Iterates queue names in an LMSG/HMSG `queues` slice: call with *pos = 0 first; returns false
 * at the end. */
bool ae_proto_next_queue(ae_slice queues, size_t *pos, ae_slice *name);

#endif

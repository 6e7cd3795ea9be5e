/* tcp_state.h: the TCP connection state machine with sequence-window tracking.
 *
 * A pure function over a small struct, modelled on Linux nf_conntrack_proto_tcp (the state table
 * and tcp_in_window) and pf's window checks: every segment is validated against the flags its
 * direction may carry in the current state and against the window each end has advertised. No I/O,
 * no clock: the caller keeps the time and the timeouts. */
#ifndef FW_TCP_STATE_H
#define FW_TCP_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum tcp_st {
    TCP_ST_NONE = 0,
    TCP_ST_SYN_SENT,    /* SYN seen from the originator */
    TCP_ST_SYN_RECV,    /* SYN+ACK seen from the responder */
    TCP_ST_ESTABLISHED, /* the originator's ACK of the SYN+ACK seen */
    TCP_ST_FIN_WAIT,    /* a FIN seen in one direction */
    TCP_ST_CLOSE_WAIT,  /* the FIN acknowledged, the other direction still open */
    TCP_ST_LAST_ACK,    /* FINs seen in both directions, the last not yet acknowledged */
    TCP_ST_TIME_WAIT,   /* both FINs acknowledged */
    TCP_ST_CLOSE,       /* reset */
    TCP_ST_MAX
};

/* tcp_track.loose: a mid-stream pickup tolerates window failures until the responder is heard
 * (Linux's nf_conntrack_tcp_loose); a connection taken over from another worker tolerates them
 * for its whole life (the windows it learns come from whatever packet arrives first, possibly a
 * stale retransmission; conntrackd's injected entries are liberal the same way). RSTs are
 * checked either way. */
#define TCP_LOOSE_PICKUP  1
#define TCP_LOOSE_ADOPTED 2

/* Directions: the originator (who sent the first SYN) and the responder. */
#define TCP_DIR_ORIG  0
#define TCP_DIR_REPLY 1

/* What the tracker says about one segment. TCP_OK: forward it. Anything else: drop and count. */
enum tcp_verdict {
    TCP_OK = 0,
    TCP_BAD_FLAGS,     /* invalid combination: SYN+FIN, SYN+RST, FIN+RST, NULL, XMAS, FIN w/o ACK */
    TCP_NOT_SYN,       /* first segment of an unknown connection is not a plain SYN (strict mode) */
    TCP_UNEXPECTED,    /* flags not valid in this state and direction (e.g. unsolicited SYN+ACK) */
    TCP_OUT_OF_WINDOW, /* sequence or acknowledgement outside the tracked window */
    TCP_BAD_RST,       /* RST whose sequence number is not acceptable (blind reset) */
    TCP_VERDICT_MAX
};

/* One end of the connection, as Linux's ip_ct_tcp_state. */
struct tcp_peer {
    uint32_t end;    /* highest seq + len this end sent */
    uint32_t maxend; /* highest ack + window the other end allowed it */
    uint32_t maxwin; /* largest (scaled) window this end advertised */
    uint8_t wscale;  /* window scale this end announced in its SYN, 0 when none */
    uint8_t flags;   /* TCP_PEER_* */
    uint32_t maxack; /* highest ack this end sent, valid with TCP_PEER_MAXACK_SET (RST check) */
};
#define TCP_PEER_WSCALE     0x01 /* sent a window scale option */
#define TCP_PEER_SACK       0x02 /* sent SACK permitted */
#define TCP_PEER_FIN        0x04 /* sent a FIN */
#define TCP_PEER_FIN_ACKED  0x08 /* its FIN was acknowledged */
#define TCP_PEER_MAXACK_SET 0x10 /* has acknowledged something */
#define TCP_PEER_PICKUP     0x20 /* picked up mid-stream: no SYN seen, window scale assumed 14 */

struct tcp_track {
    uint8_t state;           /* enum tcp_st */
    uint8_t last_dir;        /* direction of the last accepted segment */
    uint8_t last_flags;      /* flags of the last accepted segment */
    uint8_t loose;           /* TCP_LOOSE_*: window failures of non-RST segments tolerated */
    struct tcp_peer peer[2]; /* [TCP_DIR_ORIG], [TCP_DIR_REPLY] */
};

/* The fields of a segment the tracker needs (host order). */
struct tcp_seg {
    uint8_t flags;
    uint32_t seq, ack;
    uint32_t len;   /* payload bytes, without SYN/FIN */
    uint16_t win;   /* unscaled */
    uint8_t wscale; /* window scale option, 0xff when absent */
    bool sack_perm;
};

/* Starts tracking with the first segment of a connection the rules allowed, seen in the
 * originator's direction. Strict (loose == false): only a plain SYN starts a connection. Loose: any
 * segment with valid flags starts one (mid-stream pickup; the state becomes ESTABLISHED for a
 * segment with ACK and no SYN, FIN_WAIT if it carries a FIN; SYN+ACK and RST are TCP_NOT_SYN).
 * Returns TCP_OK and fills t, or a drop verdict and leaves t zeroed. */
enum tcp_verdict tcp_state_new(struct tcp_track *t, const struct tcp_seg *s, bool loose);

/* Validates a segment of a tracked connection in direction dir and advances the state.
 * Returns TCP_OK (t updated) or a drop verdict (t unchanged). A SYN+ACK whose ack is not the
 * originator's SYN seq + 1 is TCP_OUT_OF_WINDOW (its flags are right, its acknowledgement is not);
 * an RST that fails its sequence (or ack) check is TCP_BAD_RST. */
enum tcp_verdict tcp_state_update(struct tcp_track *t, int dir, const struct tcp_seg *s);

/* True for the invalid flag combinations that are dropped whatever the state. */
bool tcp_flags_invalid(uint8_t flags);

/* "SYN_SENT", "ESTABLISHED", ... and back; tcp_state_from_name returns -1 for an unknown word. */
const char *tcp_state_name(enum tcp_st st);
int tcp_state_from_name(const char *name);
const char *tcp_verdict_name(enum tcp_verdict v);

#endif

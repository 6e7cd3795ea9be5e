/* tcp_state.c: pure TCP state machine with sequence-window tracking (after Linux conntrack, pf). */
#include "compiler.h"
#include "tcp_state.h"

#include <string.h>

/* Flag bits as on the wire; local so this pure module depends on its header only. */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10
#define TH_URG 0x20

#define WSCALE_MAX     14     /* RFC 7323 limit; larger announcements are clamped (as Linux) */
#define MAXACKWINCONST 66000u /* Linux: how far behind the peer's end an ack may lag at least */
#define MAXWIN_LIMIT   (65535u << WSCALE_MAX) /* the largest window TCP can express */

/* The flag combinations that may appear at all once PSH, ECE and CWR are masked off: Linux's
 * tcp_valid_flags table as a bitmap indexed by FIN|SYN|RST|ACK|URG (at most 0x37). */
#define VF(f) (UINT64_C(1) << (f))
static const uint64_t valid_flags = VF(TH_SYN) | VF(TH_SYN | TH_URG) | VF(TH_SYN | TH_ACK) |
                                    VF(TH_RST) | VF(TH_RST | TH_ACK) | VF(TH_FIN | TH_ACK) |
                                    VF(TH_FIN | TH_ACK | TH_URG) | VF(TH_ACK) | VF(TH_ACK | TH_URG);
#undef VF

static const char *const state_names[TCP_ST_MAX] = {
    [TCP_ST_NONE] = "NONE",         [TCP_ST_SYN_SENT] = "SYN_SENT",
    [TCP_ST_SYN_RECV] = "SYN_RECV", [TCP_ST_ESTABLISHED] = "ESTABLISHED",
    [TCP_ST_FIN_WAIT] = "FIN_WAIT", [TCP_ST_CLOSE_WAIT] = "CLOSE_WAIT",
    [TCP_ST_LAST_ACK] = "LAST_ACK", [TCP_ST_TIME_WAIT] = "TIME_WAIT",
    [TCP_ST_CLOSE] = "CLOSE",
};

static const char *const verdict_names[TCP_VERDICT_MAX] = {
    [TCP_OK] = "ok",
    [TCP_BAD_FLAGS] = "bad_flags",
    [TCP_NOT_SYN] = "not_syn",
    [TCP_UNEXPECTED] = "unexpected",
    [TCP_OUT_OF_WINDOW] = "out_of_window",
    [TCP_BAD_RST] = "bad_rst",
};

/* Sequence-space comparisons, wrap-safe (RFC 1982 style, as the kernel's before()/after()). */
static inline bool seq_before(uint32_t a, uint32_t b)
{
    return (uint32_t)(a - b) > UINT32_C(0x7fffffff);
}

static inline bool seq_after(uint32_t a, uint32_t b)
{
    return seq_before(b, a);
}

/* The later of two sequence numbers. */
static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
    return seq_after(a, b) ? a : b;
}

/* Sequence number just past the segment: SYN and FIN each take one. */
static inline uint32_t seg_end(const struct tcp_seg *s)
{
    return s->seq + s->len + ((s->flags & TH_SYN) ? 1u : 0u) + ((s->flags & TH_FIN) ? 1u : 0u);
}

/* Window scale that applies to the windows end p advertises: only when both SYNs carried the
 * option (RFC 7323 2.2), otherwise none. Clamped again because a track may come from the shared
 * store, and a shift by more than 31 would be undefined. */
static inline unsigned eff_scale(const struct tcp_track *t, int p)
{
    unsigned ws = t->peer[p].wscale;

    if (!(t->peer[TCP_DIR_ORIG].flags & t->peer[TCP_DIR_REPLY].flags & TCP_PEER_WSCALE))
        return 0;
    return ws > WSCALE_MAX ? WSCALE_MAX : ws;
}

/* How far below the receiver's end an acknowledgement may lie (Linux MAXACKWINDOW). */
static inline uint32_t max_ack_window(const struct tcp_peer *sender)
{
    return sender->maxwin > MAXACKWINCONST ? sender->maxwin : MAXACKWINCONST;
}

/* Whether ack is plausible for data the receiver sent: not past its end (acking unseen data) and
 * not further behind it than the sender's largest window (a very stale or forged ack). */
static inline bool ack_in_window(uint32_t ack, const struct tcp_peer *sender,
                                 const struct tcp_peer *receiver)
{
    return !seq_after(ack, receiver->end) &&
           !seq_before(ack, receiver->end - max_ack_window(sender));
}

/* Records the options a SYN or SYN+ACK announces on its end. */
static void learn_syn_options(struct tcp_peer *p, const struct tcp_seg *s)
{
    p->flags &= (uint8_t) ~(TCP_PEER_WSCALE | TCP_PEER_SACK);
    p->wscale = 0;
    if (s->wscale != 0xff) {
        p->flags |= TCP_PEER_WSCALE;
        p->wscale = s->wscale > WSCALE_MAX ? WSCALE_MAX : s->wscale;
    }
    if (s->sack_perm)
        p->flags |= TCP_PEER_SACK;
}

/* Starts a connection from the originator's plain SYN: the originator's end is seq + 1, its
 * window is the SYN's (never scaled) and the responder is unknown yet. */
static void start_from_syn(struct tcp_track *t, const struct tcp_seg *s)
{
    struct tcp_peer *o = &t->peer[TCP_DIR_ORIG];

    memset(t, 0, sizeof(*t));
    o->end = seg_end(s);
    o->maxend = o->end;
    o->maxwin = s->win ? s->win : 1;
    learn_syn_options(o, s);
    t->state = TCP_ST_SYN_SENT;
    t->last_dir = TCP_DIR_ORIG;
    t->last_flags = s->flags;
}

/* Mid-stream pickup (Linux nf_conntrack_tcp_loose): the window is learned from this segment. The
 * window scale was in SYNs we never saw, so both ends are assumed to scale by the maximum: windows
 * are overestimated, which may let through what a tighter window would drop but never drops a
 * segment of a scaled connection for being "out of window". The responder is known only through the
 * ack; its window is learned from its first segment, and until then t->loose tolerates window
 * failures of non-RST segments. */
static void start_loose(struct tcp_track *t, const struct tcp_seg *s)
{
    struct tcp_peer *o = &t->peer[TCP_DIR_ORIG];
    struct tcp_peer *r = &t->peer[TCP_DIR_REPLY];
    uint32_t win = (uint32_t)s->win << WSCALE_MAX;

    memset(t, 0, sizeof(*t));
    o->flags = r->flags = TCP_PEER_PICKUP | TCP_PEER_WSCALE;
    o->wscale = r->wscale = WSCALE_MAX;
    o->end = seg_end(s);
    o->maxwin = win ? win : 1;
    o->maxend = o->end + o->maxwin;
    o->maxack = s->ack;
    o->flags |= TCP_PEER_MAXACK_SET;
    r->end = s->ack;
    r->maxend = s->ack + win + (win == 0);
    t->state = TCP_ST_ESTABLISHED;
    if (s->flags & TH_FIN) {
        o->flags |= TCP_PEER_FIN;
        t->state = TCP_ST_FIN_WAIT;
    }
    t->loose = TCP_LOOSE_PICKUP;
    t->last_dir = TCP_DIR_ORIG;
    t->last_flags = s->flags;
}

bool tcp_flags_invalid(uint8_t flags)
{
    unsigned m = flags & (TH_FIN | TH_SYN | TH_RST | TH_ACK | TH_URG);

    return !((valid_flags >> m) & 1u);
}

/* First segment of a connection in the originator's direction. Strict: a plain SYN (SYN, no ACK;
 * RST and FIN are already excluded by the flag check) or TCP_NOT_SYN. Loose: additionally any valid
 * segment without SYN or RST (an ACK, possibly with FIN and data) picks the connection up in
 * ESTABLISHED (FIN_WAIT for a FIN). t is zeroed on any drop. */
enum tcp_verdict tcp_state_new(struct tcp_track *t, const struct tcp_seg *s, bool loose)
{
    memset(t, 0, sizeof(*t));
    if (tcp_flags_invalid(s->flags))
        return TCP_BAD_FLAGS;
    if ((s->flags & (TH_SYN | TH_ACK)) == TH_SYN) {
        start_from_syn(t, s);
        return TCP_OK;
    }
    if (!loose || (s->flags & (TH_SYN | TH_RST)))
        return TCP_NOT_SYN;
    start_loose(t, s);
    return TCP_OK;
}

/* Whether an RST in direction dir is acceptable (not a blind reset). In SYN_SENT the responder's
 * RST must acknowledge the SYN exactly (RFC 793 3.4) and the originator's must sit at its end.
 * Otherwise its seq must lie in the receiver's window: not below what the receiver has already
 * acknowledged (Linux td_maxack; sender end - receiver window when unknown or implausible) and not
 * past the sender's maxend. An RST+ACK's ack (unless 0, which some stacks send) is checked like any
 * ack. */
static bool rst_acceptable(const struct tcp_track *t, int dir, const struct tcp_seg *s)
{
    const struct tcp_peer *snd = &t->peer[dir];
    const struct tcp_peer *rcv = &t->peer[!dir];
    uint32_t lo, hi;

    if (t->state == TCP_ST_SYN_SENT) {
        if (dir == TCP_DIR_REPLY)
            return (s->flags & TH_ACK) && s->ack == t->peer[TCP_DIR_ORIG].end;
        return s->seq == snd->end;
    }
    lo = snd->end - rcv->maxwin;
    if ((rcv->flags & TCP_PEER_MAXACK_SET) && !seq_before(rcv->maxack, lo) &&
        !seq_after(rcv->maxack, snd->end))
        lo = rcv->maxack;
    hi = seq_max(snd->maxend, snd->end);
    if (seq_before(s->seq, lo) || seq_after(s->seq, hi))
        return false;
    if ((s->flags & TH_ACK) && s->ack != 0 && !ack_in_window(s->ack, snd, rcv))
        return false;
    return true;
}

/* Checks I to IV of in_window (below) for a segment from snd whose end is end. */
static inline bool window_ok(const struct tcp_peer *snd, const struct tcp_peer *rcv,
                             const struct tcp_seg *s, uint32_t end)
{
    /* A pure ACK may sit at the sender's end even when that end ran past maxend. */
    uint32_t hi = end == s->seq ? seq_max(snd->maxend, snd->end) : snd->maxend;

    return !seq_after(s->seq, hi) && !seq_before(end, snd->end - rcv->maxwin) &&
           ack_in_window(s->ack, snd, rcv);
}

/* What an accepted segment teaches: the sender's end, window and maxack, and the receiver's maxend
 * (ack + window); first: the sender's first segment (pickup), whose ack + window always replaces
 * the guess made at pickup. */
static inline void window_advance(struct tcp_peer *snd, struct tcp_peer *rcv,
                                  const struct tcp_seg *s, uint32_t end, uint32_t win, bool first)
{
    uint32_t ack = s->ack;

    if (snd->maxwin < win)
        snd->maxwin = win;
    if (rcv->maxwin != 0 && seq_after(end, snd->maxend)) {
        /* The receiver must have offered more than we saw: grow its window, within reason. */
        rcv->maxwin += end - snd->maxend;
        if (rcv->maxwin > MAXWIN_LIMIT || rcv->maxwin < end - snd->maxend)
            rcv->maxwin = MAXWIN_LIMIT;
    }
    if (seq_after(end, snd->end))
        snd->end = end;
    if (!(snd->flags & TCP_PEER_MAXACK_SET)) {
        snd->maxack = ack;
        snd->flags |= TCP_PEER_MAXACK_SET;
    } else if (seq_after(ack, snd->maxack)) {
        snd->maxack = ack; /* the flag is set already: the common case stores one word */
    }
    if (first || !seq_before(ack + win, rcv->maxend))
        rcv->maxend = ack + win + (win == 0); /* +1: room for a zero-window probe */
}

/* Linux tcp_in_window for a segment with ACK and without SYN/RST, on the working copy t. Checks:
 *   I   seq not past the sender's maxend (the receiver's ack + window); a pure ACK may also
 *       sit at the sender's end
 *   II  end not older than the sender's end minus the receiver's largest window
 *   III ack not past the receiver's end
 *   IV  ack not further back than max(sender's window, 66000) from the receiver's end
 * and on success widens the bounds: sender end and window, the receiver's maxend (ack + window) and
 * the sender's maxack. While t->loose (mid-stream pickup, responder not yet heard) a failure is
 * tolerated and the bounds are widened to cover the segment. New data or a second FIN after the
 * sender's FIN is never acceptable. */
static enum tcp_verdict in_window(struct tcp_track *t, int dir, const struct tcp_seg *s)
{
    struct tcp_peer *snd = &t->peer[dir];
    struct tcp_peer *rcv = &t->peer[!dir];
    uint32_t end = seg_end(s);
    uint32_t win = (uint32_t)s->win << eff_scale(t, dir);
    bool first = snd->maxwin == 0;

    if (first) {
        /* First segment from this end (pickup): learn its end and window. What it may send is
         * already bounded by the other end's ack + window, seen at pickup. */
        snd->end = end;
        snd->maxwin = win ? win : 1;
        if (seq_after(end, snd->maxend))
            snd->maxend = end;
    }
    if ((snd->flags & TCP_PEER_FIN) && seq_after(end, snd->end))
        return TCP_OUT_OF_WINDOW;
    if (!window_ok(snd, rcv, s, end)) {
        if (!t->loose)
            return TCP_OUT_OF_WINDOW;
        if (seq_after(s->ack, rcv->end))
            rcv->end = s->ack;
    }
    window_advance(snd, rcv, s, end, win, first);
    return TCP_OK;
}

/* The closing state implied by the FINs seen and acknowledged, or NONE while neither end sent one:
 * one FIN: FIN_WAIT, CLOSE_WAIT once acked; two FINs: LAST_ACK, TIME_WAIT once both acked. */
static uint8_t close_state(const struct tcp_track *t)
{
    uint8_t f0 = t->peer[TCP_DIR_ORIG].flags, f1 = t->peer[TCP_DIR_REPLY].flags;
    int fins = !!(f0 & TCP_PEER_FIN) + !!(f1 & TCP_PEER_FIN);
    int acked = !!(f0 & TCP_PEER_FIN_ACKED) + !!(f1 & TCP_PEER_FIN_ACKED);

    if (fins == 0)
        return TCP_ST_NONE;
    if (fins == 1)
        return acked ? TCP_ST_CLOSE_WAIT : TCP_ST_FIN_WAIT;
    return acked == 2 ? TCP_ST_TIME_WAIT : TCP_ST_LAST_ACK;
}

/* A SYN without ACK. Only the originator may send one: a retransmission in SYN_SENT (a later ISN
 * restarts the attempt, an earlier one is out of window, as in Linux) or SYN_RECV (same ISN only),
 * or a reopen of a connection in TIME_WAIT or CLOSE, which starts afresh. No simultaneous open. */
static enum tcp_verdict on_syn(struct tcp_track *t, int dir, const struct tcp_seg *s)
{
    uint32_t end = seg_end(s);
    const struct tcp_peer *o = &t->peer[TCP_DIR_ORIG];

    if (dir != TCP_DIR_ORIG)
        return TCP_UNEXPECTED;
    switch (t->state) {
    case TCP_ST_SYN_SENT:
        if (seq_after(end, o->end)) {
            start_from_syn(t, s);
            return TCP_OK;
        }
        return end == o->end ? TCP_OK : TCP_OUT_OF_WINDOW;
    case TCP_ST_SYN_RECV:
        return end == o->end ? TCP_OK : TCP_UNEXPECTED;
    case TCP_ST_TIME_WAIT:
    case TCP_ST_CLOSE:
        start_from_syn(t, s);
        return TCP_OK;
    default:
        return TCP_UNEXPECTED;
    }
}

/* A SYN+ACK. Only the responder may send one. In SYN_SENT it must acknowledge the SYN exactly
 * (else TCP_OUT_OF_WINDOW); it records the responder's end, window and options and allows the
 * originator to send up to ack + window (a SYN's window is never scaled). A retransmission (same
 * ISN, same ack) is fine in SYN_RECV, and in ESTABLISHED while the responder has sent nothing else
 * (the originator's final ACK was lost past us; dropping it would stall a server-speaks-first
 * protocol). */
static enum tcp_verdict on_synack(struct tcp_track *t, int dir, const struct tcp_seg *s)
{
    struct tcp_peer *o = &t->peer[TCP_DIR_ORIG];
    struct tcp_peer *r = &t->peer[TCP_DIR_REPLY];
    uint32_t end = seg_end(s);

    if (dir != TCP_DIR_REPLY)
        return TCP_UNEXPECTED;
    switch (t->state) {
    case TCP_ST_SYN_SENT:
        if (s->ack != o->end)
            return TCP_OUT_OF_WINDOW;
        r->end = r->maxend = end;
        r->maxwin = s->win ? s->win : 1;
        learn_syn_options(r, s);
        r->maxack = s->ack;
        r->flags |= TCP_PEER_MAXACK_SET;
        if (!seq_before(s->ack + s->win, o->maxend))
            o->maxend = s->ack + s->win + (s->win == 0);
        t->state = TCP_ST_SYN_RECV;
        return TCP_OK;
    case TCP_ST_SYN_RECV:
        if (end != r->end)
            return TCP_UNEXPECTED;
        return s->ack == o->end ? TCP_OK : TCP_OUT_OF_WINDOW;
    case TCP_ST_ESTABLISHED:
        if (end != r->end)
            return TCP_UNEXPECTED;
        return ack_in_window(s->ack, r, o) ? TCP_OK : TCP_OUT_OF_WINDOW;
    default:
        return TCP_UNEXPECTED;
    }
}

/* A segment with ACK, possibly FIN and data. Nothing but a SYN+ACK may answer a SYN, and the
 * originator cannot ack before one: both are unexpected in SYN_SENT. Otherwise the window check
 * decides; then the originator's ACK in SYN_RECV establishes, and the FINs seen and acknowledged
 * drive the closing states. CLOSE stays CLOSE. */
static enum tcp_verdict on_ack(struct tcp_track *t, int dir, const struct tcp_seg *s)
{
    struct tcp_peer *snd = &t->peer[dir];
    struct tcp_peer *rcv = &t->peer[!dir];
    enum tcp_verdict v;
    uint8_t cs;

    if (t->state == TCP_ST_SYN_SENT)
        return TCP_UNEXPECTED;
    v = in_window(t, dir, s);
    if (v != TCP_OK)
        return v;
    if (s->flags & TH_FIN)
        snd->flags |= TCP_PEER_FIN;
    if ((rcv->flags & TCP_PEER_FIN) && !seq_before(s->ack, rcv->end))
        rcv->flags |= TCP_PEER_FIN_ACKED;

    if (t->state == TCP_ST_CLOSE)
        return TCP_OK;
    if (t->state == TCP_ST_SYN_RECV && dir == TCP_DIR_ORIG)
        t->state = TCP_ST_ESTABLISHED;
    cs = close_state(t);
    if (cs != TCP_ST_NONE)
        t->state = cs;
    return TCP_OK;
}

/* The bulk of the traffic: in ESTABLISHED, an ACK (PSH, ECE, CWR aside) without FIN, SYN, RST or
 * URG, neither end has sent a FIN and the sender has been heard from (maxwin != 0: not its first
 * segment after a pickup). For such a segment the full path goes on_ack -> in_window (no FIN
 * check, no first-segment learning) -> window_advance, and then changes nothing else: no FIN to
 * record or acknowledge, close_state is NONE, the state stays ESTABLISHED. So when window_ok holds,
 * the same updates are made in place (established_advance), without the working copy; otherwise
 * (a drop, or a loose track's tolerated failure) the full path decides. */
static ALWAYS_INLINE bool established_fast(const struct tcp_track *t, int dir,
                                           const struct tcp_seg *s)
{
    const struct tcp_peer *snd = &t->peer[dir];
    const struct tcp_peer *rcv = &t->peer[!dir];

    return t->state == TCP_ST_ESTABLISHED &&
           (s->flags & (TH_FIN | TH_SYN | TH_RST | TH_ACK | TH_URG)) == TH_ACK &&
           !((snd->flags | rcv->flags) & TCP_PEER_FIN) && snd->maxwin != 0 &&
           window_ok(snd, rcv, s, s->seq + s->len);
}

/* The updates of a segment established_fast accepted, in place. */
static ALWAYS_INLINE enum tcp_verdict established_advance(struct tcp_track *t, int dir,
                                                          const struct tcp_seg *s)
{
    uint32_t win = (uint32_t)s->win << eff_scale(t, dir);

    window_advance(&t->peer[dir], &t->peer[!dir], s, s->seq + s->len, win, false);
    if (dir == TCP_DIR_REPLY && t->loose == TCP_LOOSE_PICKUP)
        t->loose = 0;
    t->last_dir = (uint8_t)dir;
    t->last_flags = s->flags;
    return TCP_OK;
}

/* One copy of the updates per direction, reached by a tail call: the checks before it and the
 * updates in it each fit in the registers a call may clobber, so neither saves any. */
static NOINLINE enum tcp_verdict advance_orig(struct tcp_track *t, const struct tcp_seg *s)
{
    return established_advance(t, TCP_DIR_ORIG, s);
}

static NOINLINE enum tcp_verdict advance_reply(struct tcp_track *t, const struct tcp_seg *s)
{
    return established_advance(t, TCP_DIR_REPLY, s);
}

/* The full path: dispatches on the segment's kind (RST, SYN, SYN+ACK, else ACK/FIN, as Linux's
 * get_conntrack_index) over a copy of the track, committed only when accepted. A segment in the
 * responder's direction ends the mid-stream pickup's grace period. Kept out of line so that the
 * fast path's caller saves no registers for it. */
static NOINLINE enum tcp_verdict update_full(struct tcp_track *t, int dir, const struct tcp_seg *s)
{
    struct tcp_track n;
    enum tcp_verdict v;

    if (tcp_flags_invalid(s->flags))
        return TCP_BAD_FLAGS;
    if (t->state == TCP_ST_NONE || t->state >= TCP_ST_MAX)
        return TCP_UNEXPECTED;

    n = *t;
    if (s->flags & TH_RST) {
        if (!rst_acceptable(&n, dir, s))
            return TCP_BAD_RST;
        n.state = TCP_ST_CLOSE;
        v = TCP_OK;
    } else if (s->flags & TH_SYN) {
        v = (s->flags & TH_ACK) ? on_synack(&n, dir, s) : on_syn(&n, dir, s);
    } else {
        v = on_ack(&n, dir, s);
    }
    if (v != TCP_OK)
        return v;

    if (dir == TCP_DIR_REPLY && n.loose == TCP_LOOSE_PICKUP)
        n.loose = 0;
    n.last_dir = (uint8_t)dir;
    n.last_flags = s->flags;
    *t = n;
    return TCP_OK;
}

/* The fast path is expanded once per direction, so that each copy finds the peers at fixed
 * offsets. */
enum tcp_verdict tcp_state_update(struct tcp_track *t, int dir, const struct tcp_seg *s)
{
    if (dir == TCP_DIR_ORIG) {
        if (established_fast(t, TCP_DIR_ORIG, s))
            return advance_orig(t, s);
    } else if (dir == TCP_DIR_REPLY) {
        if (established_fast(t, TCP_DIR_REPLY, s))
            return advance_reply(t, s);
    } else {
        return TCP_UNEXPECTED;
    }
    return update_full(t, dir, s);
}

const char *tcp_state_name(enum tcp_st st)
{
    if ((unsigned)st >= TCP_ST_MAX)
        return "?";
    return state_names[st];
}

int tcp_state_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < TCP_ST_MAX; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

const char *tcp_verdict_name(enum tcp_verdict v)
{
    if ((unsigned)v >= TCP_VERDICT_MAX)
        return "?";
    return verdict_names[v];
}

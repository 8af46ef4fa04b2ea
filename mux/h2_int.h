/* h2_int.h - private state shared by the HTTP/2 mux files (h2_conn.c,
 * h2_cb.c, h2_ep.c). Not a contract: nothing outside mux/h2_*.c includes it.
 */
#ifndef SLUICE_MUX_H2_INT_H
#define SLUICE_MUX_H2_INT_H

#include <nghttp2/nghttp2.h>
#include "mux/h1.h"
#include "mux/h2.h"

/* The life of a connection (h2c.state). It only moves forward, and may
 * skip states: a connection shut down while its socket still connects
 * goes from CONNECTING to DRAINING, its socket flagged H2C_SOCK_PENDING
 * until connect() reports. Why a connection ends (error causes) and what
 * its socket can do (readiness) are flags, apart from it. */
enum h2c_state {
	H2C_CONNECTING = 0, /* client role: connect() not finished, nothing sent yet */
	H2C_OPEN,           /* streams may start */
	H2C_DRAINING,       /* a GOAWAY went either way (h2c_shutdown, or the peer's):
	                     * open streams finish, none starts */
	H2C_TERMINATED,     /* the session was ended (nghttp2_session_terminate_session):
	                     * nothing more is read, the GOAWAY is flushed, then close */
	H2C_CLOSED,         /* socket closed, session deleted: only waits for the
	                     * streams' release to be freed */
};

/* Moves <c> to state <st> unless it is there or further already. */
#define h2c_advance(c, st) do { if ((c)->state < (st)) (c)->state = (st); } while (0)

/* h2c.flags */
enum {
	/* socket readiness (like an edge-triggered socket's) */
	H2C_RD_READY    = 1u << 0,  /* the socket may have bytes to read */
	H2C_WR_READY    = 1u << 1,  /* the socket may take bytes */
	H2C_RD_HUP      = 1u << 2,  /* the peer shut its side: read on to EOF */
	H2C_RD_EOF      = 1u << 3,  /* recv() returned 0 */
	H2C_SOCK_PENDING= 1u << 4,  /* client role: connect() has not reported how it
	                             * ended: nothing is read or sent before */
	/* error causes: the connection closes (h2c_after_io) */
	H2C_SOCK_ERR    = 1u << 5,  /* the socket failed */
	H2C_CALM        = 1u << 6,  /* a limit was crossed: end with ENHANCE_YOUR_CALM */
	H2C_FATAL       = 1u << 7,  /* the session is unusable: close without flushing */
	/* requests and buffer bookkeeping */
	H2C_ABORT_REQ   = 1u << 8,  /* h2c_abort() asked while busy: done on leave */
	H2C_DBUF_HEAP   = 1u << 9,  /* dbuf is on the heap (pre-read bytes, small dbuf) */
	H2C_MBUF_KEPT   = 1u << 10, /* an empty mbuf is kept one turn for the woken streams */
	H2C_RX_GRACE    = 1u << 11, /* the paused payload's stream had its turn to take it */
	/* role */
	H2C_CLIENT      = 1u << 12, /* client role: we send requests, the peer is a server */
	H2C_XPRT_HS     = 1u << 13, /* client role: connected, the transport's handshake
	                             * runs (H2C_SOCK_PENDING stays until it is done) */
};


/* A growable string in accounted memory. */
struct h2_sb {
	char  *p;
	size_t len, size;
};

/* h2s.flags */
enum {
	H2S_GIVEN      = 1u << 0,  /* handed to the engine (new_stream accepted) */
	H2S_RELEASED   = 1u << 1,  /* the engine is done with it (or never had it) */
	H2S_CLOSED     = 1u << 2,  /* nghttp2 closed the stream */
	H2S_BAD        = 1u << 3,  /* malformed request: being reset */
	H2S_RX_EOS     = 1u << 4,  /* END_STREAM received */
	H2S_RX_CHUNKED = 1u << 5,  /* request body is given chunk-framed */
	H2S_RX_LAST    = 1u << 6,  /* the final "0\r\n\r\n" was staged */
	H2S_HAS_CL     = 1u << 7,
	H2S_HAS_HOST   = 1u << 8,
	H2S_TX_HEAD    = 1u << 9,  /* final response head submitted */
	H2S_TX_DONE    = 1u << 10, /* the response ended (EOF given to nghttp2) */
	H2S_TX_SHUT    = 1u << 11, /* shut_wr was called */
	H2S_TX_BLOCKED = 1u << 12, /* snd_buf could not take everything: wake on room */
	H2S_TX_DATA    = 1u << 13, /* a data provider is attached */
	H2S_HEAD_DONE  = 1u << 14, /* request head fully given to the stream */
	H2S_RX_INCHUNK = 1u << 15, /* a chunk header was given: rx_ck_left bytes follow */
	H2S_TX_ENDSENT = 1u << 16, /* our END_STREAM left */
	H2S_SLOT       = 1u << 17, /* client role: counts in c->nb_open (not closed yet) */
	H2S_RX_INHEAD  = 1u << 18, /* client role: a response head block is being received */
	H2S_RX_FINAL   = 1u << 19, /* client role: the final response head was composed */
	H2S_RX_NOBODY  = 1u << 20, /* client role: the response cannot have a body */
};

struct h2c;

struct h2s {
	struct mux_ep ep;           /* first: ep pointers convert to h2s */
	struct h2c   *c;
	struct h2s   *next, *prev;  /* in c->streams */
	int32_t       id;
	unsigned      flags;        /* H2S_* */
	enum h1_meth  meth;         /* method of the request carried */
	int           status;       /* client role: :status of the head being received */

	/* received head being built (the request in server role, a response
	 * in client role; only hdrs is used then), then given as rx_head */
	struct h2_sb  method, path, auth, hdrs, cookie;
	size_t        hdr_bytes;    /* header list size (RFC 9113 6.5.2) */
	char         *rx_head;
	size_t        rx_head_len, rx_head_off;
	char          rx_fr[24];    /* chunk framing waiting to be given */
	uint8_t       rx_fr_len, rx_fr_off;
	size_t        rx_ck_left;   /* payload bytes left in the chunk being given */
	/* payload the stream did not take in its turn, copied out of dbuf so
	 * the demux goes on (WINDOW_UPDATE, other streams); given before any
	 * newer payload. Bounded by the stream's receive window. */
	struct h2_sb  rx_stash;
	size_t        rx_stash_off;
	size_t        rx_conn_owed; /* stashed bytes whose connection window is still closed */

	/* the message we send: the response (server role), the request (client role) */
	struct buf   *tx_src;       /* the stream's buffer, only inside snd_buf */
	size_t        tx_budget;    /* bytes snd_buf may still take */
	size_t        tx_taken;     /* bytes taken during this snd_buf */
	enum h1_body_mode tx_mode;
	uint64_t      tx_left;      /* LENGTH: payload left */
	struct h1_body tx_ck;       /* CHUNKED: its framing, read by the HTTP/1 decoder */
};

struct h2c {
	struct tasklet tl;          /* first: tasklet_kill(&c->tl, 1) frees c */
	nghttp2_session *sess;
	struct sched_thread *thr;
	struct pool  *pool;
	unsigned      tid;
	int           fd;
	enum h2c_state state;
	unsigned      flags;        /* H2C_* */
	unsigned      busy;         /* nesting of entry points: c is freed only at 0 */
	uint32_t      abort_code;   /* for H2C_ABORT_REQ */

	struct buf    dbuf, mbuf;
	struct pool_wait dwait, mwait;

	/* output nghttp2 gave that did not fit in mbuf; valid until the next
	 * nghttp2_session_mem_send() */
	const uint8_t *out_ptr;
	size_t        out_len;

	/* the DATA payload the demux paused on, inside dbuf */
	struct h2s   *rx_s;
	const uint8_t *rx_ptr;
	size_t        rx_len;
	int           rx_flush;     /* call mem_recv once more to end the frame */
	size_t        stash_total;  /* stashed payload bytes over all streams */
	/* stashed bytes whose connection window reopens at once (half the
	 * memory cap): past it, stashed bytes reopen it only when their stream
	 * takes them, so a connection stashes at most this plus one window */
	size_t        stash_free;

	struct h2s   *streams;      /* every h2s not freed yet */
	unsigned      nb_streams;
	unsigned      nb_held;      /* streams given to their owner and not released */
	unsigned      nb_open;      /* client role: streams opened and not closed yet */

	/* heap held outside the pool (h2_mem_alloc): now, the soft cap past
	 * which the session ends with ENHANCE_YOUR_CALM, the hard cap no
	 * allocation passes (h2_settings.max_heap), and where to count it */
	size_t        mem_cur, mem_cap, mem_hard;
	uint64_t     *heap_gauge;
	/* blocks of a page or more, on pages of their own so that
	 * h2c_trim() can give pages back (h2_conn.c); p NULL: free slot.
	 * nghttp2's are its outbound frame buffer (one chunk, up to 5 while
	 * it sends a long header block) and its stream map's table. Four
	 * slots hold the two that live as long as the session and two being
	 * replaced; a block that finds no free slot is an ordinary one, only
	 * not given back while idle. Eight made struct h2c 792 bytes, one
	 * jemalloc class (896) above what four give (768) */
#define H2C_BIG_SLOTS 4
	struct h2_big { void *p; size_t size; } big[H2C_BIG_SLOTS];
	struct h2_transport xprt;   /* TLS under the socket, or all NULL */
	size_t        hblock;       /* bytes of the header block being received */
	/* server role: the highest stream id a client's HEADERS named, and
	 * the streams we reset, which nghttp2 forgets once closed while the
	 * client may still send on them (h2_lower_stream_id in h2_cb.c): bit
	 * i of rst_bits is stream hdr_last - 2 i; resets of older streams go
	 * to rst_far, the last H2C_RST_FAR of them */
#define H2C_RST_FAR 2
	int32_t       hdr_last;
	uint8_t       rst_next;     /* next slot of rst_far to overwrite */
	uint64_t      rst_bits;
	int32_t       rst_far[H2C_RST_FAR];
	uint32_t      max_hdr_list;

	struct h2_callbacks cb;
	void         *cb_ctx;
	struct h2c_stats st;
};

/* Returns the flags every stream endpoint of <c> carries from its birth:
 * one transaction each, and over a transport that seals records (TLS)
 * EP_SND_FRAMED, as its DATA frames then become records. */
static inline unsigned h2c_ep_flags(const struct h2c *c)
{
	return EP_ONE_TXN | (c->xprt.sendv ? EP_SND_FRAMED : 0);
}

/* h2_conn.c */
void *h2_mem_alloc(struct h2c *c, size_t n);
void  h2_mem_free(struct h2c *c, void *p);
int   h2_sb_add(struct h2c *c, struct h2_sb *sb, const void *p, size_t n);
int   h2_sb_add_exact(struct h2c *c, struct h2_sb *sb, const void *p, size_t n);
void  h2_sb_free(struct h2c *c, struct h2_sb *sb);
void  h2c_wake(struct h2c *c);
void  h2c_enter(struct h2c *c);
void  h2c_leave(struct h2c *c);
unsigned h2c_wake_tx_all(struct h2c *c);
int   h2c_send(struct h2c *c);
int   h2c_stage(struct h2c *c);
size_t h2c_data_room(struct h2c *c, size_t want);
int   h2c_send_data(struct h2c *c, const uint8_t *hd, struct buf *src, size_t len);
void  h2c_after_io(struct h2c *c);
void  h2c_after_stream(struct h2c *c);
void  h2s_unlink_free(struct h2s *s);
void  h2c_rx_drop(struct h2c *c);

/* h2_cb.c */
void  h2_cb_setup(nghttp2_session_callbacks *cbs);
int   h2_is(const uint8_t *n, size_t nl, const char *s);
char *h2_put(char *p, const void *src, size_t n);
void  h2s_forget(struct h2s *s);

/* h2_ep.c */
extern const struct mux_ops h2_ep_ops;
int   h2_hop_by_hop(const char *n, size_t nl);
void  h2_lower(char *n, size_t nl);
int   h2s_submit_msg(struct h2s *s, const nghttp2_nv *nva, size_t nb, const struct h1_body *body,
		     uint64_t content_length);
void  h2s_set_error(struct h2s *s);
int   h2s_wake_tx(struct h2s *s);
int   h2s_rx_stash(struct h2s *s, const uint8_t *p, size_t n);
void  h2s_rx_stash_drop(struct h2s *s);
int   h2s_send_data(nghttp2_session *sess, nghttp2_frame *frame, const uint8_t *framehd,
		    size_t length, nghttp2_data_source *src, void *user);
ssize_t h2s_data_read(nghttp2_session *sess, int32_t id, uint8_t *out, size_t len,
		      uint32_t *data_flags, nghttp2_data_source *src, void *user);

/* h2_client.c */
void  h2c_connected(struct h2c *c);
void  h2c_goaway_received(struct h2c *c);
void  h2s_closed(struct h2s *s);
int   h2s_submit_request(struct h2s *s, struct h1_msg *m, char *area);
void  h2s_resp_begin(struct h2s *s);
int   h2s_resp_header(struct h2s *s, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl);
int   h2s_resp_head_done(struct h2s *s, int eos);

#endif /* SLUICE_MUX_H2_INT_H */

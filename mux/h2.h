/* h2.h - the HTTP/2 mux (cleartext, prior knowledge), in both roles.
 *
 * Contract
 * --------
 * Server role (h2c_new): an h2c takes over one accepted socket and speaks
 * HTTP/2 on it with an nghttp2 server session. Every request stream becomes
 * a struct mux_ep (mux.h) handed to the engine through
 * h2_callbacks.new_stream; the engine's stream then reads the request in
 * HTTP/1.1 wire format with ep->ops->rcv_buf and writes the HTTP/1.1
 * response with ep->ops->snd_buf, exactly as it would on a socket. A
 * request whose host header names another authority than its :authority
 * is malformed and reset (PROTOCOL_ERROR) before the engine sees it; a
 * HEADERS opening a stream id below one already opened ends the connection
 * (GOAWAY PROTOCOL_ERROR).
 *
 * A chunked HTTP/1.1 body given to snd_buf (either role) is decoded with
 * the HTTP/1 body decoder (mux/h1.h, h1_chunk_framing): it is accepted or
 * refused exactly as the HTTP/1 side would frame it; bad framing resets
 * the stream.
 *
 * Client role (h2c_new_client): an h2c takes over a socket connecting to a
 * server and speaks HTTP/2 to it with an nghttp2 client session. The engine
 * opens request streams with h2c_open_stream() while h2c_open_room() allows;
 * its stream writes the HTTP/1.1 request with snd_buf (a complete head
 * first; the body per the head's framing: Content-Length kept, chunked
 * decoded; bytes after the message are never taken; CONNECT is refused with
 * EP_ERROR) and reads the response as HTTP/1.1 with rcv_buf: interim 1xx
 * heads each as their own head before the final one; the final head keeps
 * the server's content-length, else gets "transfer-encoding: chunked" (the
 * DATA payload chunk-framed, ending with 0 CRLF CRLF) or "content-length: 0"
 * when END_STREAM came with the head; a response to HEAD, a 204 or a 304
 * gets no framing header added. Trailers are dropped both ways. shut_wr is
 * harmless (the framing ends the request); release resets a stream not
 * finished both ways (CANCEL). RST_STREAM, a GOAWAY naming a lower
 * last-stream-id, or connection loss give EP_ERROR to the streams concerned
 * only; after a GOAWAY the lower streams finish, then the connection closes.
 *
 * Buffers are taken from the pool only while data is in flight: a demux
 * buffer (POOL_CRIT_REQUEST; POOL_CRIT_RESPONSE in client role, or while
 * streams wait for the peer) while the socket has bytes to read or a DATA
 * frame waits for its stream, a mux buffer (POOL_CRIT_EMIT) while frames
 * wait to be sent. An idle connection holds none. When the pool refuses, a
 * wait entry per direction pauses only that direction; except that while
 * streams wait for what the demux reads (WINDOW_UPDATE, or responses in
 * client role), which they may do holding every block of the pool, the
 * demux reads on into a small heap buffer instead of waiting, and output
 * leaves straight from nghttp2's memory.
 *
 * A DATA payload stays in the demux buffer until its stream takes it; one
 * not taken within one turn is stashed in accounted memory so that the
 * demux goes on (WINDOW_UPDATEs behind it must be read) and the demux
 * buffer is never held while waiting for a stream. A stash is bounded by
 * the stream's receive window, which reopens only for bytes given to the
 * stream; the connection window reopens at stash time only while the
 * connection's stashes stay under half of mem_cap. Known limit: many
 * large request bodies queued behind a busy server can exhaust that and
 * stall the connection until timeouts (see bench/RESULTS.md). Response bodies stay in the stream's buffer
 * until they fit in a DATA frame.
 *
 * All nghttp2 memory, and every other heap block the connection holds,
 * goes through an accounted allocator; past h2_settings.mem_cap the
 * session is ended with GOAWAY(ENHANCE_YOUR_CALM), and no allocation
 * passes h2_settings.max_heap.
 *
 * Threading: an h2c and its endpoints live on one scheduler thread; every
 * function here and every ep op must be called on that thread.
 *
 * Readiness of an endpoint (see mux.h): EP_RD_READY + wake(SCHED_R_READ)
 * when bytes of the message received (the request in server role, the
 * response in client role) can be received; EP_RD_EOF once its last byte
 * was given; EP_WR_READY + wake(SCHED_R_WRITE) when snd_buf may
 * take bytes again (window update, output drained); EP_ERROR +
 * wake(SCHED_R_HUP | SCHED_R_READ | SCHED_R_WRITE) when the stream was reset
 * or the connection died. An endpoint stays valid until ops->release().
 */
#ifndef SLUICE_MUX_H2_H
#define SLUICE_MUX_H2_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "mux/mux.h"
#include "pool/pool.h"
#include "sched/sched.h"

/* The client connection preface (RFC 9113 3.4), without a terminating NUL. */
#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN (sizeof(H2_PREFACE) - 1)

/* Returns non-zero if the <len> bytes at <p> may start an HTTP/2 client
 * preface (all of them match it so far), and sets *complete when the whole
 * preface is there. A pure check over bytes: it reads at most
 * H2_PREFACE_LEN of them and consumes nothing. */
static inline int h2_is_preface(const char *p, size_t len, int *complete)
{
	size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;

	*complete = len >= H2_PREFACE_LEN;
	return memcmp(p, H2_PREFACE, n) == 0;
}

/* A transport between the mux and its socket (TLS), given in h2_settings;
 * all NULL: the socket itself (recv/sendmsg). recv and sendv behave like
 * recv() and sendmsg() on the non-blocking socket: bytes moved, 0 at the
 * peer's end (recv), -1 with errno (EAGAIN: wait for readiness). A short
 * recv does not mean the socket is drained: the mux reads until EAGAIN.
 * After EAGAIN or a short sendv the mux offers the bytes not taken again,
 * first. A short sendv does not mean the socket is full (TLS sends whole
 * records and leaves a short rest for the next call): the mux stops
 * sending only on EAGAIN. close runs once when the connection closes, before the socket is
 * closed; it ends and frees ctx. If h2c_new/h2c_new_client fail, close is
 * not called: ctx stays the caller's. Client role only: handshake, if set,
 * runs after connect() succeeded and before anything is sent, on every
 * readiness of the socket until it returns 1 (done); 0 means it waits for
 * the socket, -1 that it failed (the connection fails as a failed connect
 * would: EP_ERROR to its streams). */
struct h2_transport {
	void *ctx;
	int (*handshake)(void *ctx);
	ssize_t (*recv)(void *ctx, void *buf, size_t len);
	/* optional: right after recv returned bytes, non-zero when the
	 * socket is known to be drained, as a short recv() says on a plain
	 * socket (the demux then stops reading until the poller reports it);
	 * without it the demux reads on until EAGAIN */
	int (*drained)(void *ctx);
	ssize_t (*sendv)(void *ctx, const struct iovec *iov, int cnt);
	void (*close)(void *ctx);
};

/* Connection settings. A zero field means the default shown. */
struct h2_settings {
	uint32_t max_concurrent_streams; /* 100 (server role; a client sends ENABLE_PUSH 0) */
	uint32_t initial_window_size;    /* 65535 */
	uint32_t header_table_size;      /* 4096: the HPACK table we let the peer use
	                                  * (SETTINGS) */
	/* The most our HPACK encoder's dynamic table uses, whatever the peer
	 * allows; 0 (the default): none, fields go literal or from the static
	 * table. Its entries are memory an idle connection keeps, and those
	 * small blocks, made while a response is encoded beside short-lived
	 * ones, pin partly free allocator pages: bench/idle.py measured about
	 * 2 KiB of RSS per idle connection for the default 4096. */
	uint32_t encoder_table_size;
	uint32_t max_header_list_size;   /* 65536 */
	size_t   mem_cap;                /* nghttp2 memory cap per connection: 1 MiB, or
	                                  * two thirds of max_heap when that is set */
	/* Bound on the heap a connection holds outside the pool: nghttp2's
	 * session and queued frames (output that leaves straight from nghttp2
	 * memory included), stream state and request heads, stashed DATA
	 * payload, the small demux buffer and pre-read bytes. No allocation
	 * passes it; past mem_cap the session already ends with
	 * GOAWAY(ENHANCE_YOUR_CALM), and the margin up to max_heap lets that
	 * GOAWAY out. 0: mem_cap + mem_cap / 2 + 64 KiB (1.5 MiB + 64 KiB).
	 * Pool buffers (demux, mux, the streams') are not part of it. */
	size_t   max_heap;
	/* Where to count the bytes the connection holds on that heap, or NULL:
	 * a counter of the thread that runs the connection, which adds and
	 * subtracts with relaxed atomic loads and stores (one writer), so
	 * that other threads may read it. Several connections of a thread may
	 * share one. Back to what it was once the connection is freed. */
	uint64_t *heap_gauge;
	/* Transport under the mux (TLS); zero: plain TCP. */
	struct h2_transport xprt;
};

struct h2_callbacks {
	/* Server role only (NULL in client role).
	 * A new request stream: the engine creates a stream on <ep> (sets
	 * ep->owner). The request head is ready to be received (EP_RD_READY
	 * is set and the owner is woken with SCHED_R_READ after this
	 * returns). Called from inside the demux: it must not call ep ops
	 * itself. Returns 0, or -1 and the mux answers RST_STREAM
	 * (REFUSED_STREAM) and forgets <ep>. */
	int  (*new_stream)(void *ctx, struct mux_ep *ep);
	/* The connection is gone (closed, GOAWAY done, error): called once.
	 * The h2c then frees itself as soon as all its streams were released;
	 * the caller must not call h2c_* functions after this callback
	 * returns (read the final counters with h2c_get_stats() inside it). */
	void (*closed)(void *ctx);
};

struct h2c;

/* Takes over the connected, non-blocking socket <fd> on thread <thr>
 * (thread index <tid> in <pool>); call it on that thread. <pre>/<pre_len>
 * are bytes already read from the socket (the preface, if the engine read
 * it while detecting it); they are copied. <set> may be NULL (defaults).
 * Returns the connection, or NULL (errno set) with <fd> left open. */
struct h2c *h2c_new(struct sched_thread *thr, unsigned tid, struct pool *pool, int fd,
		    const char *pre, size_t pre_len, const struct h2_settings *set,
		    const struct h2_callbacks *cb, void *cb_ctx);

/* Client role: takes over the non-blocking socket <fd>, on which connect() was started
 * (it may still be in progress: the mux waits for writability and checks SO_ERROR) and
 * speaks HTTP/2 with prior knowledge to a server. <set>, <cb>, <cb_ctx> as for h2c_new;
 * cb->new_stream is not used (may be NULL). Returns the connection or NULL (errno set,
 * <fd> left open). Call on thread <thr>. */
struct h2c *h2c_new_client(struct sched_thread *thr, unsigned tid, struct pool *pool, int fd,
			   const struct h2_settings *set, const struct h2_callbacks *cb,
			   void *cb_ctx);

/* Client role: returns how many more request streams may be opened on <c> now: 0 once
 * the connection failed, is closing, or received GOAWAY; otherwise the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS arrive) minus the streams open. */
unsigned h2c_open_room(const struct h2c *c);

/* Client role: opens a request stream and returns its endpoint (the caller sets
 * ep->owner), or NULL (errno set). The endpoint carries EP_ONE_TXN; it is flagged
 * EP_CONNECTING while the socket connects (then EP_CONNECTING is cleared, EP_WR_READY set
 * and the owner woken with SCHED_R_WRITE), EP_WR_READY at once when connected. If the
 * connection fails, EP_ERROR + wake(SCHED_R_HUP|SCHED_R_READ|SCHED_R_WRITE). */
struct mux_ep *h2c_open_stream(struct h2c *c);

/* Returns the number of streams of <c> not yet released by their owners. */
unsigned h2c_nb_streams(const struct h2c *c);

/* Graceful shutdown: GOAWAY(NO_ERROR) naming the last stream processed,
 * lets open streams finish, then closes (the closed callback runs then,
 * possibly before this returns when no stream is open). A client that does
 * not read may keep it waiting: use h2c_abort() after a grace period.
 * No-op once closed. */
void h2c_shutdown(struct h2c *c);

/* Hard close (timeouts, engine stop after grace): queues
 * GOAWAY(<error_code>, e.g. 0 = NO_ERROR), flushes what the socket takes
 * without blocking, then closes the socket; open streams get EP_ERROR. The
 * closed callback runs before this returns, unless it is called from inside
 * a mux callback (new_stream, closed), where it is done when the mux
 * returns. No-op once closed. */
void h2c_abort(struct h2c *c, uint32_t error_code);

/* Per-connection counters, written by the owning thread only. */
struct h2c_stats {
	uint64_t streams_opened;  /* request streams given to new_stream or opened */
	uint64_t streams_reset;   /* RST_STREAM sent or received */
	uint64_t goaway_sent, goaway_recv;
	uint64_t frames_in, frames_out;
	uint64_t stream_frames_in; /* HEADERS and DATA received: what streams did
	                            * (frames_in also counts PING, SETTINGS, ...) */
	uint64_t dbuf_waits;      /* demux buffer refused: waited */
	uint64_t mbuf_waits;      /* mux buffer refused: waited */
	uint64_t mem_peak;        /* highest heap bytes held (see h2_settings.max_heap) */
	uint64_t mem_now;         /* heap bytes held now */
	uint64_t calm_kills;      /* sessions ended with ENHANCE_YOUR_CALM */
};

/* Gives back to the kernel the pages of nghttp2's outbound frame buffer,
 * and pages of nghttp2's large blocks that hold only zeros (its stream
 * map's table once every stream closed: nghttp2 keeps no closed stream),
 * when <c> is quiet: no stream, nothing left to send. Either role, any
 * transport. The blocks stay mapped; what is written to them again is
 * faulted back in. Costs a mincore and at most one madvise per page, so
 * call it once the connection has been quiet for a while, not after every
 * frame. Returns 0 when <c> was quiet (*released: bytes given back, 0 when
 * nothing was resident), 1 when it is busy (try again later). */
int h2c_trim(struct h2c *c, size_t *released);

/* Copies the counters of <c> into <out> (the caller keeps thread sums). */
void h2c_get_stats(const struct h2c *c, struct h2c_stats *out);

#endif /* SLUICE_MUX_H2_H */

/* conn.h - a non-blocking socket driven by its thread's poller.
 *
 * A connection is registered edge-triggered (an accepted one possibly only
 * once it must wait, see conn_new_unpolled): the poller only says when the
 * socket *became* readable or writable, so the connection remembers
 * readiness in flags and clears it when a call returns EAGAIN. This is what
 * lets a receive that was paused for lack of a buffer resume later without
 * a new event: the flag says data is still waiting.
 *
 * A connection holds no buffer: buffers belong to the stream channels it
 * reads into and writes from.
 */
#ifndef SLUICE_ENGINE_CONN_H
#define SLUICE_ENGINE_CONN_H

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "engine/core/list.h"
#include "engine/core/pipe.h"
#include "pool/buf.h"
#include "mux/mux.h"
#include "sched/sched.h"

/* Connection flags are the endpoint flags of mux/mux.h (an HTTP/1
 * connection is its own endpoint), plus a few of its own. */
enum {
	CF_RD_READY   = EP_RD_READY,
	CF_WR_READY   = EP_WR_READY,
	CF_RD_EOF     = EP_RD_EOF,
	CF_ERROR      = EP_ERROR,
	CF_CONNECTING = EP_CONNECTING,
	CF_SHUT_WR    = EP_SHUT_WR,
	CF_IDLE       = EP_IDLE,
	CF_RD_HUP     = 1u << 16, /* the peer shut its side: read until EOF */
};

struct server;
struct thr_ctx;
struct ssl_st;
struct tls_srv;

struct conn {
	/* The tasklet comes first: the scheduler frees a killed tasklet with
	 * free(), which therefore frees the whole connection. */
	struct tasklet tl;
	struct mux_ep ep;       /* the HTTP/1 endpoint: ops and flags */
	int fd;
	void *owner;            /* the stream using it, NULL when idle */
	struct server *srv;     /* server side: its server */
	struct eng_list idle_link;  /* in its server's idle list (server/srvconn.c) */
	struct thr_ctx *tc;
	/* TLS on this socket (engine/core/tls.h), NULL for plain TCP: every
	 * socket call below then goes through it, at the cost of one test
	 * on the plain path */
	struct ssl_st *tls;
	/* server side: the TLS to run once the TCP connect completes, with
	 * conn_connect_check() reporting "in progress" until its handshake
	 * is over (NULL: plain) */
	struct tls_srv *tls_srv;
	int tls_verify_failed;  /* the last handshake failed verification */
	/* not registered with the poller yet (conn_new_unpolled): no event
	 * comes until conn_poll() registers it */
	int unpolled;
	/* idle server side: the poller's count (sched_polls()) when the
	 * connection went quiet (conn_idle_mark); 32 bits are enough, since
	 * a wrap can only make conn_idle_unchanged() say "not known" */
	uint32_t idle_polls;
};

/* Wraps the connected socket <fd> into a new connection on thread <tc>
 * whose events go to <fn>. Returns NULL (fd left open) on failure. */
struct conn *conn_new(struct thr_ctx *tc, int fd, tasklet_fn fn, void *owner);

/* As conn_new(), for a socket just accepted, but not registered with the
 * poller: its owner reads and writes at once (the flags say "ready", which
 * a fresh socket's send side is, and a read answers for its receive side)
 * and calls conn_poll() only once it must wait for the socket. A connection
 * per request that is answered without ever waiting on its client thus
 * costs no epoll_ctl at all. Returns NULL (fd left open) on failure. */
struct conn *conn_new_unpolled(struct thr_ctx *tc, int fd, tasklet_fn fn, void *owner);

/* Registers <c> with its thread's poller if conn_new_unpolled() left it
 * out; a no-op otherwise. Edge-triggered registration reports what is
 * already pending, so no readiness is lost by registering late. Returns 0,
 * or -1 with errno set (the connection stays unregistered). */
int conn_poll(struct conn *c);

/* Makes the next conn_new() on this thread take <tls> (a completed TLS
 * session over the socket it is given) as its transport. A layer that only
 * knows conn_new (the HTTP/1 stream's accept) is thus given a TLS socket
 * without knowing it. A conn_new that fails leaves <tls> there: take it
 * back with conn_tls_adopt_cancel(). */
void conn_tls_adopt_next(struct ssl_st *tls);

/* Returns the TLS session conn_tls_adopt_next() left unused (the conn_new
 * it was meant for never happened or failed), or NULL, and forgets it. */
struct ssl_st *conn_tls_adopt_cancel(void);

/* Returns the TLS session of the last connection conn_release_fd() let go
 * of on this thread, if it was over socket <fd>, and forgets it: the layer
 * taking the socket over (HTTP/2 after a preface seen on HTTP/1 over TLS)
 * goes on with the same session. NULL otherwise. */
struct ssl_st *conn_tls_take_released(int fd);

/* Opens a non-blocking socket and starts connecting it to <addr>. Returns
 * the socket, with *inprogress set when the connect has not completed yet,
 * or -1 with errno set. */
int conn_sock_connect(const struct sockaddr *addr, socklen_t len, int *inprogress);

/* Starts a non-blocking connect to <addr>. Returns a connection flagged
 * CF_CONNECTING (or already connected), or NULL with errno set. */
struct conn *conn_connect(struct thr_ctx *tc, const struct sockaddr *addr, socklen_t len,
			  tasklet_fn fn, void *owner);

/* Makes the connection <c>, which conn_connect() just started, speak TLS
 * with the settings <ts> (NULL: plain): its handshake runs inside
 * conn_connect_check() once the TCP connect completed. */
void conn_tls_client(struct conn *c, struct tls_srv *ts);

/* Completes a pending connect once the socket is writable, then the TLS
 * handshake on a conn_tls_client() connection (bounded by the caller's
 * connect timeout; the socket's readiness wakes the caller as usual).
 * Returns CONN_CONNECTED, CONN_CONNECTING, or CONN_FAILED (errno set;
 * EPROTO for a failed handshake, EPERM for a failed verification, with
 * tls_verify_failed set). */
enum conn_connect conn_connect_check(struct conn *c);

/* Where connecting a server connection stands (conn_connect_check()). */
enum conn_connect {
	CONN_CONNECTED = 0,   /* connected (and its TLS handshake done, if any) */
	CONN_CONNECTING = 1,  /* still in progress: the socket's events tell */
	CONN_FAILED = -1,     /* failed: errno set, CF_ERROR set */
};

/* What a send on the socket of a connection that took no byte means. */
enum conn_snd {
	CONN_SND_RETRY,  /* interrupted by a signal: send again */
	CONN_SND_FULL,   /* the socket takes no more now: CF_WR_READY is cleared */
	CONN_SND_FAILED, /* the socket failed: CF_ERROR is set */
};

/* Classifies a send on the socket of <c> (plain, TLS or splice alike) that
 * returned <n> < 1, errno set when negative, and updates the flags: the one
 * rule for every send path of a connection. A stream socket never takes 0
 * of the bytes it is given without an error: 0 is a failure. */
static inline enum conn_snd conn_snd_classify(struct conn *c, ssize_t n)
{
	if (n < 0 && errno == EINTR)
		return CONN_SND_RETRY;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->ep.flags &= ~CF_WR_READY;
		return CONN_SND_FULL;
	}
	c->ep.flags |= CF_ERROR; /* EPIPE, ECONNRESET (SIGPIPE is blocked) */
	return CONN_SND_FAILED;
}

/* Folds poller reasons into the readiness flags. */
void conn_update_ready(struct conn *c, unsigned reasons);

/* Reads into the free space of <b> (which must hold storage) until it
 * holds <limit> bytes. Returns the number of bytes read (0 when nothing was
 * ready), and sets CF_RD_EOF or CF_ERROR as the socket says. */
size_t conn_recv(struct conn *c, struct buf *b, size_t limit);

/* Sends up to <max> bytes from the head of <b> and removes them from it.
 * Returns the number of bytes sent; sets CF_ERROR on a failed socket. */
size_t conn_send(struct conn *c, struct buf *b, size_t max);

/* Reads and throws away what the peer sends, through <scratch> (size
 * bytes, no pool buffer), until the socket runs dry, the peer closes or
 * <budget> bytes went. Used for a lingering close: a socket closed with
 * unread bytes makes the kernel send a reset, which destroys the answer
 * the peer has not read yet. Returns the bytes discarded; sets CF_RD_EOF
 * or CF_ERROR as the socket says and clears CF_RD_READY when dry. */
size_t conn_drain(struct conn *c, char *scratch, size_t size, size_t budget);

/* Splicing (conn_splice.c; plain TCP connections only, never TLS).
 *
 * conn_splice_in() moves up to <max> bytes from the socket into the pipe
 * <p> (as much as its room allows) without copying them to user space.
 * Returns the bytes moved and updates p->data; sets CF_RD_EOF or CF_ERROR
 * as the socket says, and clears CF_RD_READY when the socket is dry
 * (an EAGAIN with data in the pipe is taken as a full pipe instead).
 *
 * conn_splice_out() sends what <p> holds to the socket; <more> says more
 * bytes of the message follow (SPLICE_F_MORE). Returns the bytes sent;
 * clears CF_WR_READY on EAGAIN, sets CF_ERROR on a failed socket. */
size_t conn_splice_in(struct conn *c, struct pipe_pair *p, size_t max);
size_t conn_splice_out(struct conn *c, struct pipe_pair *p, int more);

/* Shuts down our sending side (a FIN after pending data). */
void conn_shut_wr(struct conn *c);

/* Returns non-zero if an idle connection is still usable: no EOF, no
 * error, and no unexpected bytes waiting (over TLS: no application data;
 * a late session ticket is consumed). Costs a system call (a peek). */
int conn_idle_alive(struct conn *c);

/* Notes that <c>, known clean now, goes idle: conn_idle_unchanged() then
 * tells whether its poller has seen it since. */
void conn_idle_mark(struct conn *c);

/* Returns non-zero when the poller has looked at <c>'s socket since
 * conn_idle_mark() and reported nothing: no readiness flag, no read or
 * hang-up wake-up pending. Then nothing arrived before the poller's last
 * return, and conn_idle_alive()'s peek can be spared. Zero means "not
 * known", never "unclean". Over TLS, OpenSSL may hold records the socket
 * no longer shows: zero then, unless conn_idle_alive() was the last to
 * look. */
int conn_idle_unchanged(const struct conn *c);

/* Returns non-zero when <c> went idle (conn_idle_mark()) since its
 * poller last returned: conn_idle_unchanged() cannot tell about it yet. */
int conn_idle_fresh(const struct conn *c);

/* Makes the poller of thread <tc> look at all its sockets now, without
 * sleeping (sched_poll_now()), so that conn_idle_unchanged() can tell
 * about every connection marked before: one system call for all of them
 * instead of a peek for each. Events found wake their tasklets as usual.
 * Call from a callback running on <tc>. Returns 0, or -1 with errno set. */
int conn_poll_now(struct thr_ctx *tc);

/* Unregisters and frees <c> but leaves its socket open, and returns the
 * socket: another protocol layer takes it over (HTTP/2 upgrade). Its TLS
 * session, if any, is kept for conn_tls_take_released(); the one a previous
 * release left untaken is freed. */
int conn_release_fd(struct conn *c);

/* Unregisters, closes and frees <c> (on its thread). */
void conn_close(struct conn *c);

/* The endpoint operations of a plain HTTP/1 connection. */
extern const struct mux_ops conn_h1_ops;

/* Returns the connection behind an HTTP/1 endpoint. */
static inline struct conn *conn_of_ep(struct mux_ep *ep)
{
	return (struct conn *)((char *)ep - offsetof(struct conn, ep));
}

#endif /* SLUICE_ENGINE_CONN_H */

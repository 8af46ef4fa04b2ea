/* conn.h - a non-blocking socket driven by its thread's poller.
 *
 * A connection is registered edge-triggered: the poller only says when the
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

#include <sys/socket.h>
#include "pool/buf.h"
#include "sched/sched.h"

enum {
	CF_RD_READY   = 1u << 0, /* the socket may have data to read */
	CF_WR_READY   = 1u << 1, /* the socket may accept data */
	CF_RD_EOF     = 1u << 2, /* the peer closed its side */
	CF_ERROR      = 1u << 3, /* the socket failed */
	CF_CONNECTING = 1u << 4, /* a connect() is in progress */
	CF_SHUT_WR    = 1u << 5, /* we shut our sending side */
	CF_IDLE       = 1u << 6, /* a server connection parked for reuse */
};

struct server;
struct thr_ctx;

struct conn {
	/* The tasklet comes first: the scheduler frees a killed tasklet with
	 * free(), which therefore frees the whole connection. */
	struct tasklet tl;
	int fd;
	unsigned flags;
	void *owner;            /* the stream using it, NULL when idle */
	struct server *srv;     /* server side: its server */
	struct conn *idle_next, *idle_prev;
	struct thr_ctx *tc;
};

/* Wraps the connected socket <fd> into a new connection on thread <tc>
 * whose events go to <fn>. Returns NULL (fd left open) on failure. */
struct conn *conn_new(struct thr_ctx *tc, int fd, tasklet_fn fn, void *owner);

/* Starts a non-blocking connect to <addr>. Returns a connection flagged
 * CF_CONNECTING (or already connected), or NULL with errno set. */
struct conn *conn_connect(struct thr_ctx *tc, const struct sockaddr *addr, socklen_t len,
			  tasklet_fn fn, void *owner);

/* Completes a pending connect once the socket is writable. Returns 0 when
 * connected, 1 when still in progress, -1 on failure (errno set). */
int conn_connect_check(struct conn *c);

/* Folds poller reasons into the readiness flags. */
void conn_update_ready(struct conn *c, unsigned reasons);

/* Reads into the free space of <b> (which must hold storage) until it
 * holds <limit> bytes. Returns the number of bytes read (0 when nothing was
 * ready), and sets CF_RD_EOF or CF_ERROR as the socket says. */
size_t conn_recv(struct conn *c, struct buf *b, size_t limit);

/* Sends up to <max> bytes from the head of <b> and removes them from it.
 * Returns the number of bytes sent; sets CF_ERROR on a failed socket. */
size_t conn_send(struct conn *c, struct buf *b, size_t max);

/* Sends the bytes of <data> directly (used for tiny fixed replies).
 * Returns the number of bytes sent. */
size_t conn_send_raw(struct conn *c, const char *data, size_t len);

/* Shuts down our sending side (a FIN after pending data). */
void conn_shut_wr(struct conn *c);

/* Returns non-zero if an idle connection is still usable: no EOF, no
 * error, and no unexpected bytes waiting. */
int conn_idle_alive(struct conn *c);

/* Unregisters, closes and frees <c> (on its thread). */
void conn_close(struct conn *c);

#endif /* SLUICE_ENGINE_CONN_H */

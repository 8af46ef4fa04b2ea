/* listener.h - the listening sockets of a thread: accepting under maxconn.
 *
 * Each worker thread has its own listening socket per bind line
 * (SO_REUSEPORT), bound before the threads start (or moved over from the
 * previous generation by a reload: after one that lowered nbthread, some
 * threads listen on several sockets of a line, since closing one would
 * reset the connections queued on it). An accepted socket
 * becomes an HTTP/1 stream, or an HTTP/2 connection on a `proto h2` bind;
 * an HTTP/1 stream that sees the HTTP/2 preface is handed to the HTTP/2
 * side through the callback the listener gives it (the stream itself knows
 * nothing of HTTP/2 connections). At the global or the frontend's maxconn
 * a listener pauses, leaving connections in the kernel's backlog, until a
 * connection closes (eng_conn_closed wakes the housekeeping tasks, which
 * call listener_resume_all).
 *
 * On a `bind ... ssl` line every accepted socket first runs its TLS
 * handshake here, in a tasklet of its own with non-blocking OpenSSL: a
 * handshake that waits for the client waits for socket readiness, never
 * blocks the thread, and is bounded by the frontend's `timeout
 * http-request`. A completed handshake hands the socket and its TLS session
 * to HTTP/2 (ALPN "h2") or to an HTTP/1 stream; a failed or timed out one
 * closes the socket and counts the failure by reason. The connection counts
 * toward maxconn from its accept on.
 *
 * All calls happen on the listener's thread.
 */
#ifndef SLUICE_ENGINE_CLIENT_LISTENER_H
#define SLUICE_ENGINE_CLIENT_LISTENER_H

#include "engine/core/ctx.h"

/* One listening socket of one bind line, owned by one thread. */
struct listener {
	int fd;
	int full;                 /* paused by maxconn, waiting for a close */
	int proto_h2;             /* HTTP/2 prior knowledge only */
	struct frontend *fe;
	struct thr_ctx *tc;
	struct tls_bind *tls;     /* `ssl` bind: its contexts; NULL for plain TCP */
	struct eng_list handshakes; /* TLS handshakes in progress (struct tls_hs) */
	struct tasklet tl;
};

/* Sets up <l> on thread <tc> over the bound socket <fd> of bind line <b> of
 * frontend <fe> and registers it with the poller. Returns 0, or an errno. */
int listener_init(struct listener *l, struct thr_ctx *tc, struct frontend *fe, int fd,
		  const struct cfg_bind *b);

/* Closes the listening socket of <l> (stop accepting) and the connections
 * still in their TLS handshake. Idempotent. */
void listener_close(struct listener *l);

/* Stops accepting on <l> and leaves the connections still in their TLS
 * handshake running (listener_close ends them). With <keep_fd>, another
 * generation listens on the socket: it is only unregistered. Otherwise it
 * is closed, with <drain> after accepting the connections already queued
 * on it (closing a listening socket resets them), up to maxconn.
 * Idempotent. */
void listener_stop(struct listener *l, int keep_fd, int drain);

/* Resumes the listeners of <tc> that maxconn paused, if there is room now. */
void listener_resume_all(struct thr_ctx *tc);

#endif /* SLUICE_ENGINE_CLIENT_LISTENER_H */

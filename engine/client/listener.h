/* listener.h - the listening sockets of a thread: accepting under maxconn.
 *
 * Each worker thread has its own listening socket per bind line
 * (SO_REUSEPORT), bound before the threads start. An accepted socket
 * becomes an HTTP/1 stream, or an HTTP/2 connection on a `proto h2` bind;
 * an HTTP/1 stream that sees the HTTP/2 preface is handed to the HTTP/2
 * side through the callback the listener gives it (the stream itself knows
 * nothing of HTTP/2 connections). At the global or the frontend's maxconn
 * a listener pauses, leaving connections in the kernel's backlog, until a
 * connection closes (eng_conn_closed wakes the housekeeping tasks, which
 * call listener_resume_all).
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
	struct tasklet tl;
};

/* Sets up <l> on thread <tc> over the bound socket <fd> of frontend <fe>
 * and registers it with the poller. Returns 0, or an errno. */
int listener_init(struct listener *l, struct thr_ctx *tc, struct frontend *fe, int fd, int proto_h2);

/* Closes the listening socket of <l> (stop accepting). Idempotent. */
void listener_close(struct listener *l);

/* Resumes the listeners of <tc> that maxconn paused, if there is room now. */
void listener_resume_all(struct thr_ctx *tc);

#endif /* SLUICE_ENGINE_CLIENT_LISTENER_H */

/* h2front.h - HTTP/2 client connections: the engine's side of mux/h2.
 *
 * An HTTP/2 connection is accepted on a `bind ... proto h2` listener, or
 * detected on an ordinary listener by its connection preface. The HTTP/2
 * mux (mux/h2.h) owns the socket; every request stream it hands over
 * becomes an engine stream on an endpoint (stream_new_on_ep), so requests
 * follow exactly the same path as HTTP/1 ones. Over TLS the mux reads and
 * writes through the connection's TLS session (an h2_transport).
 */
#ifndef SLUICE_ENGINE_H2FRONT_H
#define SLUICE_ENGINE_H2FRONT_H

#include <stddef.h>
#include <sys/socket.h>
#include "engine/core/ctx.h"

struct ssl_st;

/* Takes over the accepted socket <fd> as an HTTP/2 connection of <fe>;
 * <pre>/<pre_len> are bytes already read from it. <peer> is the client's
 * address as text. Returns 0, or -1 (fd closed, connection uncounted). */
int h2front_accept(struct thr_ctx *tc, struct frontend *fe, int fd, const char *peer,
		   const char *pre, size_t pre_len);

/* Takes over the accepted socket <fd> whose TLS handshake completed with
 * ALPN "h2" (<ssl> is its session, owned by the connection from here on:
 * freed on failure too). <peer> is the client's address. Returns 0, or -1
 * (fd closed, session freed, connection uncounted). */
int h2front_accept_tls(struct thr_ctx *tc, struct frontend *fe, int fd,
		       const struct sockaddr_storage *peer, struct ssl_st *ssl);

/* Same as h2front_accept, for a socket whose peer address is <peer>. */
int h2front_accept_peer(struct thr_ctx *tc, struct frontend *fe, int fd,
			const struct sockaddr_storage *peer);

/* Stops the HTTP/2 connections of thread <tc>: GOAWAY and let open streams
 * finish, or, with <now>, close them at once. */
void h2front_stop_all(struct thr_ctx *tc, int now);

/* A reload retired the generation of <tc>: each HTTP/2 connection is asked
 * to go away (GOAWAY) only once it had no stream activity for a second,
 * and closed if then silent one more second, instead of at once: a GOAWAY
 * stops a busy client from opening its next stream (a load generator
 * such as h2load counts that as a failed request), while an idle one
 * simply reconnects, to the new generation. A busy connection is served
 * by the old configuration until it pauses or the grace period ends. */
void h2front_retire_all(struct thr_ctx *tc);

#endif /* SLUICE_ENGINE_H2FRONT_H */

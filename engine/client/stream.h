/* stream.h - one client connection and the HTTP/1.1 transactions on it.
 *
 * A stream joins a client-side connection to at most one server-side
 * connection through two channels: the request channel (client to server)
 * and the response channel (server to client). Each channel owns at most
 * one buffer, taken from the pool when bytes are ready to be received and
 * given back as soon as it is empty, and one wait entry used when the pool
 * refuses. A stream lives as long as its client connection: keep-alive
 * transactions follow each other on it, and while idle it holds no buffer.
 *
 * Work is split in two so that a buffer hand-off or a socket event only
 * moves bytes (stream_io, run from the connections' tasklets), and the
 * stream's processing function (a task with the stream's timer) runs only
 * when something must be decided: a head to parse, a message that ended, a
 * server to pick, a timeout, an error. Both run on the stream's thread.
 */
#ifndef SLUICE_ENGINE_STREAM_H
#define SLUICE_ENGINE_STREAM_H

#include "engine/core/ctx.h"
#include "mux/mux.h"

/* Takes over a client connection that opened with the HTTP/2 preface: the
 * socket <fd>, the client's address as text <peer>, and the <len> bytes
 * already read from it at <pre>. Returns 0, or -1 (fd closed). */
typedef int (*stream_h2_preface_fn)(struct thr_ctx *tc, struct frontend *fe, int fd,
				    const char *peer, const char *pre, size_t len);

/* Creates a stream for the accepted socket <fd> on thread <tc>, for
 * frontend <fe>. If the client opens with the HTTP/2 preface, the stream
 * hands the connection to <on_h2_preface> and ends (NULL: the preface is
 * parsed as an HTTP/1 request, and refused). Returns 0, or -1 (fd closed)
 * on failure. */
int stream_accept(struct thr_ctx *tc, struct frontend *fe, int fd,
		  const struct sockaddr_storage *peer, stream_h2_preface_fn on_h2_preface);

/* Creates a stream whose client side is the endpoint <ep> of a multiplexed
 * connection (one HTTP/2 stream); <peer> is the client's address as text.
 * The stream becomes the endpoint's owner. Returns 0, or -1 on allocation
 * failure (the caller then refuses the endpoint). */
int stream_new_on_ep(struct thr_ctx *tc, struct frontend *fe, struct mux_ep *ep, const char *peer);

/* Tells every stream of thread <tc> that the engine stops: idle ones close
 * at once, busy ones after their current transaction; with <now>, all of
 * them close at once. */
void stream_stop_all(struct thr_ctx *tc, int now);

#endif /* SLUICE_ENGINE_STREAM_H */

/* h2back.h - HTTP/2 server connections: the engine's side of mux/h2 in its
 * client role.
 *
 * A server declared `proto h2` is reached over HTTP/2 with prior knowledge.
 * Each thread keeps its own connections to it; a stream that needs the
 * server opens a request stream on the first connection of its thread that
 * has room (the server's SETTINGS_MAX_CONCURRENT_STREAMS), or on a new
 * connection when none has. The stream then talks to that endpoint exactly
 * as to an HTTP/1 server connection (mux/mux.h), so HTTP/1 and HTTP/2
 * clients reach HTTP/2 servers by the same path.
 *
 * A connection left without streams stays open for the next ones; one that
 * opened no stream for a whole `timeout server` is shut (GOAWAY). Server
 * slots (maxconn) count streams, not connections, as for HTTP/1.
 *
 * Everything here runs on the thread that owns the connections.
 */
#ifndef SLUICE_ENGINE_H2BACK_H
#define SLUICE_ENGINE_H2BACK_H

#include "engine/core/ctx.h"
#include "mux/mux.h"

struct server;

/* Opens a request stream to <srv> for a stream of thread <tc>. Returns its
 * endpoint (EP_CONNECTING while a new connection connects), with *reused
 * set when an existing connection carries it; or NULL with errno set. */
struct mux_ep *h2back_open(struct thr_ctx *tc, struct server *srv, int *reused);

/* Stops the HTTP/2 server connections of <tc>: GOAWAY and let open streams
 * finish, or, with <now>, close them at once. */
void h2back_stop_all(struct thr_ctx *tc, int now);

#endif /* SLUICE_ENGINE_H2BACK_H */

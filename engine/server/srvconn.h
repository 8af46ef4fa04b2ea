/* srvconn.h - idle HTTP/1 server connections kept for reuse.
 *
 * Contract
 * --------
 * When a transaction ends and both sides allow it, its HTTP/1 server
 * connection is parked on the idle list of its server for the thread that
 * used it; the next stream of that thread going to that server takes it
 * instead of connecting. The lists are per server and per thread, touched
 * only by their thread: no lock.
 *
 * Reuse is only for clean connections. A stream stops reading its server
 * once the response is complete, so bytes the server sends later (a body
 * after HEAD or 204, bytes past Content-Length, an answer to a request body
 * it ignored) would be read as the next request's answer, which belongs to
 * another client. A connection with any byte past its last response, or
 * that the server closed, is closed instead: checked when parked (its
 * readiness flags, then a peek if the flag may be stale), while parked (any
 * event on it), and again when taken: a peek, unless the poller has looked
 * at the socket since the park and reported nothing; when several wait
 * that were parked in the current turn, one poll of the thread
 * (conn_poll_now()) stands for their peeks. What stays unseen is
 * what a server sends more than a loop turn after its response and that
 * arrives during the turn which takes the connection (no check can close
 * that window: bytes may come right after it).
 */
#ifndef SLUICE_ENGINE_SERVER_SRVCONN_H
#define SLUICE_ENGINE_SERVER_SRVCONN_H

#include "engine/core/conn.h"
#include "engine/core/ctx.h"
#include "engine/server/backend.h"

/* Takes a clean idle connection to <srv> parked by thread <tc>, or NULL.
 * Connections found unclean on the way are closed (and counted). */
struct conn *srvconn_take(struct thr_ctx *tc, struct server *srv);

/* Parks <c>, whose response just ended, for reuse by thread <tc>; closes
 * it instead when it is not clean, the list is full or the engine stops.
 * The caller no longer owns <c>; its tasklet must call srvconn_idle_event()
 * while it has no owner. */
void srvconn_park(struct thr_ctx *tc, struct conn *c);

/* Handles an event on the parked connection <c>: the server closed it or
 * spoke out of turn, so unless a peek proves it still clean it leaves the
 * list and is closed. */
void srvconn_idle_event(struct conn *c);

/* Closes every idle connection parked by thread <tc> (engine stop). */
void srvconn_close_all(struct thr_ctx *tc);

#endif /* SLUICE_ENGINE_SERVER_SRVCONN_H */

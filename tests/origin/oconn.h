/* oconn.h - one client connection of the origin and its request cycle.
 *
 * A connection serves one request at a time, in order, which is all HTTP/1
 * pipelining needs: the next head is parsed only once the current answer
 * has been produced. Sockets are edge-triggered; can_read / can_write
 * remember whether the last attempt hit EAGAIN, so the connection tries
 * again only after a new edge. Request bodies are consumed as they arrive
 * (echoed, hashed or dropped) and response bodies are generated as the
 * socket drains, so memory per connection stays bounded: a 32 KiB input
 * buffer and an output buffer kept under about OCONN_OUT_HIGH.
 */
#ifndef SLUICE_ORIGIN_OCONN_H
#define SLUICE_ORIGIN_OCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obuf.h"
#include "ohttp.h"
#include "oroute.h"
#include "oworker.h"
#include "sha256.h"

#define OCONN_RBUF_SIZE  (32 * 1024)  /* also the largest request head */
#define OCONN_OUT_HIGH   (64 * 1024)  /* producers pause above this */
#define OCONN_LINGER_MS  2000         /* reading after our FIN, at most */

enum oconn_phase {
	OCONN_IDLE,    /* waiting for a request head */
	OCONN_BODY,    /* consuming the request body */
	OCONN_WAIT,    /* /delay: timer armed */
	OCONN_RESP,    /* generating a response body */
	OCONN_NEVER,   /* /never: dropping input until the peer closes */
	OCONN_DRAIN,   /* last answer given: flushing it before our FIN */
	OCONN_LINGER,  /* FIN sent: dropping input until EOF or the timer */
	OCONN_CLOSED,  /* to be released (or released when fd < 0) */
};

enum oconn_in {
	OCONN_IN_NONE,
	OCONN_IN_LENGTH,
	OCONN_IN_CHUNKED,
};

enum oconn_framing {
	OCONN_OUT_LENGTH,    /* Content-Length */
	OCONN_OUT_CHUNKED,   /* Transfer-Encoding: chunked */
	OCONN_OUT_CLOSE,     /* until close: HTTP/1.0 with an unknown length */
};

/* State of the request being served. */
struct oconn_req {
	struct oroute_match  route;
	bool                 head_only;   /* HEAD: headers, no body */
	bool                 keep_alive;
	bool                 http10;
	enum oconn_in        in;
	uint64_t             in_left;     /* OCONN_IN_LENGTH: bytes to come */
	uint64_t             in_total;    /* body bytes received so far */
	struct ohttp_chunked dec;
	enum oconn_framing   framing;
	uint64_t             gen_off;     /* pattern bytes generated so far */
	uint64_t             gen_len;     /* pattern bytes to generate */
	struct sha256        sha;
};

struct oconn {
	struct oev         sock_ev;
	struct oev         timer_ev;
	struct oworker    *w;
	struct oconn      *prev, *next;   /* worker's live list */
	struct oconn      *ready_next;    /* worker's ready list */
	struct oconn      *dead_next;     /* worker's dead list */
	bool               in_ready;
	int                fd;
	int                tfd;           /* timerfd, created on first use */
	enum oconn_phase   phase;
	bool               can_read;
	bool               can_write;
	bool               rdhup;         /* the peer's FIN was reported */
	bool               peer_eof;      /* read() returned 0 */
	size_t             rpos, rlen;    /* unconsumed input in rbuf */
	size_t             scanned;       /* head bytes known not to end it */
	struct obuf        out;
	struct oconn_req   rq;
	char               rbuf[OCONN_RBUF_SIZE];
};

/* Returns a new connection over the accepted socket <fd>, registered with
 * the worker's epoll, or NULL (and <fd> closed) on failure. */
struct oconn *oconn_new(struct oworker *w, int fd);

/* Handles epoll <events> on the connection's socket. */
void oconn_on_io(struct oconn *c, uint32_t events);

/* Handles the expiry of the connection's timer. */
void oconn_on_timer(struct oconn *c);

/* Runs a connection taken from the ready list. */
void oconn_resume(struct oconn *c);

/* Closes the sockets of <c> if still open and frees it; only for a
 * connection no list refers to any more. */
void oconn_free(struct oconn *c);

/* Closes the sockets of a live connection and hands it to the worker's
 * dead list. */
void oconn_release(struct oconn *c);

#endif

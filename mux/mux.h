/* mux.h - the interface between a connection's protocol layer (a mux) and
 * the streams it carries.
 *
 * A stream (engine/stream.c) speaks HTTP/1.1 wire format on both of its
 * channels: it parses and rewrites HTTP/1.1 heads in place and forwards
 * bodies verbatim. What lies under its client side is an endpoint: for an
 * HTTP/1 connection the endpoint is the socket itself; for HTTP/2 it is one
 * HTTP/2 stream of a multiplexed connection, and the HTTP/2 mux converts
 * between frames and HTTP/1.1 wire format in rcv_buf/snd_buf.
 *
 * Readiness works like an edge-triggered socket: the mux sets EP_RD_READY
 * when bytes can be received, EP_WR_READY when bytes can be sent, EP_RD_EOF
 * / EP_ERROR when the peer finished or failed, and wakes the owner's tasklet
 * (ep->owner) whenever one of these appears. rcv_buf/snd_buf clear the
 * READY flags when they run dry, exactly like recv()/send() on EAGAIN.
 *
 * All calls happen on the thread that owns the connection.
 */
#ifndef SLUICE_MUX_MUX_H
#define SLUICE_MUX_MUX_H

#include <stddef.h>
#include "pool/buf.h"
#include "sched/sched.h"

enum {
	EP_RD_READY   = 1u << 0, /* bytes may be received */
	EP_WR_READY   = 1u << 1, /* bytes may be sent */
	EP_RD_EOF     = 1u << 2, /* the peer finished sending */
	EP_ERROR      = 1u << 3, /* the endpoint failed (reset, protocol error) */
	EP_CONNECTING = 1u << 4, /* not established yet (server side) */
	EP_SHUT_WR    = 1u << 5, /* our sending side is shut */
	EP_IDLE       = 1u << 6, /* parked for reuse (server side) */
	EP_ONE_TXN    = 1u << 7, /* carries exactly one transaction (an HTTP/2 stream) */
	EP_SND_MORE   = 1u << 8, /* hint set by the stream around snd_buf: more bytes
	                          * of this message follow at once (known length),
	                          * or the connection's close does (last answer) */
	EP_SND_FRAMED = 1u << 9, /* set by the mux at creation: what snd_buf takes
	                          * leaves as frames with an EP_FRAME_HDR-byte
	                          * header, sealed in records of a buffer's size
	                          * (HTTP/2 over TLS). A source that fills whole
	                          * buffers for it leaves that many bytes free, so
	                          * that a full buffer is one record, not a full
	                          * one and one of a few bytes */
};

/* The frame header that EP_SND_FRAMED speaks of (HTTP/2's). */
#define EP_FRAME_HDR 9

struct mux_ep;

struct mux_ops {
	const char *name;
	/* Receives message bytes in HTTP/1.1 wire format into <b> (which
	 * holds storage) until it holds <limit> bytes. Returns the number of
	 * bytes added; clears EP_RD_READY when nothing more is ready. */
	size_t (*rcv_buf)(struct mux_ep *ep, struct buf *b, size_t limit);
	/* Takes up to <max> bytes in HTTP/1.1 wire format from the head of
	 * <b> (removing them). Returns how many it took; clears EP_WR_READY
	 * when it cannot take more for now. */
	size_t (*snd_buf)(struct mux_ep *ep, struct buf *b, size_t max);
	/* Shuts the sending side once everything was sent (a FIN for a
	 * socket, END_STREAM for an HTTP/2 stream). */
	void (*shut_wr)(struct mux_ep *ep);
	/* The stream is done with the endpoint: close or reset what is not
	 * finished, and free it. The endpoint must not be used afterwards. */
	void (*release)(struct mux_ep *ep);
};

struct mux_ep {
	const struct mux_ops *ops;
	unsigned flags;          /* EP_* */
	struct tasklet *owner;   /* woken when readiness changes; set by the stream */
};

/* Wakes the owner of <ep> with <reasons> if it has one. */
static inline void mux_ep_wake(struct mux_ep *ep, unsigned reasons)
{
	if (ep->owner)
		tasklet_wakeup(ep->owner, reasons);
}

#endif /* SLUICE_MUX_MUX_H */

/* stream.c - HTTP/1.1 transactions between a client and a server.
 *
 * See stream.h for the split between byte moving (stream_io) and deciding
 * (stream_process). The rules that keep buffers flowing under a cap:
 *  - a channel takes a buffer only when its socket has bytes ready and it
 *    wants them, and gives it back the moment it is empty: an idle
 *    connection holds none;
 *  - when the pool refuses, only that direction pauses: it subscribes its
 *    one wait entry and the hand-off wakes the stream's I/O tasklet, which
 *    takes the buffer and retries just that receive, not the whole stream;
 *  - a channel never needs a second buffer to progress: heads are parsed
 *    and rewritten in place, bodies are sent from where they were received
 *    (a waiter holding one buffer while waiting for another is how pools
 *    deadlock);
 *  - requests allocate at request level, request bodies of a slot holder a
 *    little higher, responses and error messages at response level, which
 *    may use the whole reserve: a response always finds a way to free its
 *    server slot, so queued requests cannot starve responses of buffers,
 *    even with a `maxconn 1` server under a tiny limit;
 *  - waiting never stops a timer: a starved request is bounded by timeout
 *    queue, and a timeout cancels the wait, passing on any buffer handed
 *    over in the meantime (docs/ARCHITECTURE.md, "The hand-off rules").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include "engine/server/backend.h"
#include "engine/server/h2back.h"
#include "engine/server/srvconn.h"
#include "engine/core/conn.h"
#include "engine/client/hostapi.h"
#include "engine/client/rules.h"
#include "engine/client/stream_int.h"
#include "mux/h2.h"

static void stream_process(struct tasklet *t, unsigned reasons);
static void stream_io(struct stream *s);
static void stream_free(struct stream *s);
static void stream_linger_drain(struct stream *s);
static uint64_t stream_expiry(const struct stream *s);

/* ---- small helpers ---- */

/* Gives the channel's buffer back if it holds no data. */
void chan_release_if_empty(struct stream *s, struct chan *ch)
{
	if (!b_is_null(&ch->buf) && b_empty(&ch->buf))
		pool_release(st_pool(s), s->tc->pool_tid, &ch->buf);
}

/* Drops the channel's data and buffer, and stops waiting for one. */
static void chan_reset(struct stream *s, struct chan *ch)
{
	pool_wait_cancel(st_pool(s), &ch->wait);
	pool_release(st_pool(s), s->tc->pool_tid, &ch->buf);
	chan_splice_drop(s, ch);
	ch->fwd = 0;
	ch->head_scan = 0;
	ch->st = CH_HEAD;
}

/* The pool's notify for both channels: runs on the releasing thread, so it
 * only posts to the stream's I/O tasklet, which lives as long as the stream
 * and whose entries are cancelled before it dies (a cancel waits for a
 * notify in flight to finish). */
static void stream_buf_notify(struct pool_wait *w)
{
	struct stream *s = w->ctx;

	tasklet_wakeup(s->io, SCHED_R_BUFFER);
}

/* The backend's notify: a server slot was handed to this queued stream. */
static void stream_queue_notify(struct qent *q)
{
	struct stream *s = q->ctx;

	task_wakeup(&s->task, SCHED_R_MSG);
}

/* Returns the criticality of a receive into <ch>. */
static enum pool_crit chan_crit(const struct stream *s, const struct chan *ch)
{
	if (ch == &s->res)
		return POOL_CRIT_RESPONSE;
	/* the rest of a request body whose stream holds a server slot: it is
	 * what lets that slot (and the queued requests' buffers behind it) be
	 * freed, so it may use the reserve; otherwise streams queued for the
	 * slot, each holding a request buffer, could leave it none (seen with
	 * POST bodies under a tiny limit). Not all of it: one buffer stays for
	 * the responses these uploads wait for. */
	if (s->target && s->st == ST_FORWARD)
		return POOL_CRIT_SLOT;
	/* nothing of this request yet: reading a new message frees nothing */
	return (ch->st == CH_HEAD && !s->txn_active) ? POOL_CRIT_NEWCONN : POOL_CRIT_REQUEST;
}

/* Makes sure <ch> has a buffer to receive into. Returns 1 if it has one,
 * 0 if the direction is paused waiting for one. */
int chan_get_buf(struct stream *s, struct chan *ch)
{
	enum pool_crit crit;

	if (!b_is_null(&ch->buf))
		return 1;
	if (pool_wait_state(&ch->wait) != POOL_WAIT_IDLE)
		return 0; /* already waiting: the hand-off will wake us */
	crit = chan_crit(s, ch);
	if (pool_alloc(st_pool(s), s->tc->pool_tid, crit, &ch->buf) == 0)
		return 1;
	ch->wait.crit = crit;
	ch->wait_since = tc_now(s->tc);
	CNT_INC(s->tc, buf_waits);
	(void)pool_wait_subscribe(st_pool(s), &ch->wait);
	/* a starved channel has its own bound instead of its peer's */
	task_schedule(&s->task, stream_expiry(s));
	return 0;
}

/* Returns non-zero while the request channel is paused because the pool
 * had no buffer for it. The client is then not being slow: its client and
 * idle timeouts do not run, and the wait is bounded by timeout queue (the
 * bound on waiting for a shared resource), counted from the refusal. */
static int stream_starved(const struct stream *s)
{
	return pool_wait_state(&s->req.wait) != POOL_WAIT_IDLE;
}

/* Returns when the request channel's buffer wait runs out. */
static uint64_t stream_starved_until(const struct stream *s)
{
	return s->req.wait_since + be_to(s)->queue_ms;
}

/* Returns non-zero when <ch> wants bytes from its source connection. */
static int chan_wants_rx(const struct stream *s, const struct chan *ch)
{
	if (ch == &s->req)
		return s->st != ST_CLOSING && (ch->st == CH_BODY || ch->st == CH_TUNNEL || ch->st == CH_SPLICE ||
					       (ch->st == CH_HEAD && s->st == ST_REQ_HEAD));
	return s->st == ST_FORWARD && ch->st != CH_DONE;
}

/* Accounts <n> new bytes at the tail of a body channel: scans them and
 * extends what may be forwarded. Returns 1 if the message ended or the
 * framing failed (the stream must decide), else 0. */
static int chan_scan_body(struct chan *ch)
{
	long n;

	if (ch->st == CH_TUNNEL) {
		ch->fwd = b_data(&ch->buf);
		return 0;
	}
	if (ch->st != CH_BODY || ch->fwd >= b_data(&ch->buf))
		return 0;
	n = h1_body_scan_buf(&ch->body, &ch->buf, ch->fwd);
	if (n < 0)
		return 1;
	ch->fwd += (size_t)n;
	if (ch->body.done) {
		ch->st = CH_DONE;
		return 1;
	}
	return 0;
}

/* Returns how many bytes <ch> may hold before it stops receiving: while a
 * head waits to be parsed, maxrewrite bytes stay free so that the in-place
 * rewrite can grow it (X-Forwarded-For, Connection). When the channel's
 * destination frames and seals what it sends (EP_SND_FRAMED: HTTP/2 over
 * TLS), a frame header's worth stays free, so that a full buffer leaves
 * as one frame in one record. */
static size_t chan_rx_limit(const struct stream *s, const struct chan *ch)
{
	const struct mux_ep *dst = ch == &s->res ? s->cep : s->sep;
	size_t limit = ch->buf.size;

	if (ch->st == CH_HEAD)
		limit -= s->tc->eng->cfg->g.maxrewrite;
	else if (dst && (dst->flags & EP_SND_FRAMED))
		limit -= EP_FRAME_HDR;
	return limit;
}

/* Returns non-zero when <ch> does not receive because of us, not of its
 * source: it waits for a pool buffer, or its buffer is full of bytes its
 * destination has not taken yet. Its source's timer must not run then. */
static int chan_rx_paused(const struct stream *s, const struct chan *ch)
{
	if (pool_wait_state(&ch->wait) != POOL_WAIT_IDLE)
		return 1;
	return !b_is_null(&ch->buf) && b_data(&ch->buf) >= chan_rx_limit(s, ch);
}

/* Receives into <ch> from <c> if it wants and can. Returns non-zero when
 * the stream must look at the result (new head bytes, end of message,
 * EOF or error). */
static int chan_rx(struct stream *s, struct chan *ch, struct mux_ep *ep)
{
	size_t n, limit;
	int wake = 0;

	if (!ep || (ep->flags & EP_CONNECTING) || !chan_wants_rx(s, ch))
		return 0;
	if (ep->flags & (EP_RD_EOF | EP_ERROR)) {
		/* Nothing more comes from <ep>. A buffer handed over while we
		 * waited goes back at once (holding it would starve the next
		 * waiter), and a failure is the stream's to act on: an HTTP/2
		 * stream learns of its dead connection only through this. */
		chan_release_if_empty(s, ch);
		return (ep->flags & EP_ERROR) != 0;
	}
	if (!(ep->flags & EP_RD_READY))
		return 0;
	if (ch->st == CH_SPLICE)
		return chan_splice_rx(s, ch, ep); /* no buffer: into the pipe */
	if (!chan_get_buf(s, ch))
		return 0;
	limit = chan_rx_limit(s, ch);
	if (b_data(&ch->buf) >= limit)
		return 0;
	n = ep->ops->rcv_buf(ep, &ch->buf, limit);
	st_note_rcvd(s, ep, n);
	if (n) {
		wake |= ch->st == CH_HEAD ? 1 : chan_scan_body(ch);
	}
	if (ep->flags & (EP_RD_EOF | EP_ERROR))
		wake = 1;
	chan_release_if_empty(s, ch);
	return wake;
}

/* Sends what <ch> may forward to <c>. Returns non-zero when the stream
 * must look: the channel finished its message, or the socket failed. */
static int chan_tx(struct stream *s, struct chan *ch, struct mux_ep *ep)
{
	size_t n;
	int was_full;

	/* a spliced body leaves from its pipe once the buffer drained */
	if (ch->st == CH_SPLICE && !ch->fwd)
		return chan_splice_tx(s, ch, ep);
	if (!ep || !ch->fwd || (ep->flags & EP_CONNECTING))
		return 0;
	was_full = b_data(&ch->buf) >= chan_rx_limit(s, ch);
	/* more bytes of a known-length body are on their way */
	if ((ch->st == CH_BODY || ch->st == CH_SPLICE) && ch->body.mode == H1_BODY_LENGTH)
		ep->flags |= EP_SND_MORE;
	/* the last answer of an HTTP/1 connection that closes: the FIN (over
	 * TLS, close_notify and the FIN) follows at once, since st_closing()
	 * shuts or closes the socket in the same run once nothing is left to
	 * send; with the mark they leave in the answer's segment, one wake-up
	 * of the client instead of two */
	if (ch == &s->res && s->cli_close && ch->st == CH_DONE && ch->fwd == b_data(&ch->buf) &&
	    !(ep->flags & EP_ONE_TXN))
		ep->flags |= EP_SND_MORE;
	n = ep->ops->snd_buf(ep, &ch->buf, ch->fwd);
	ep->flags &= ~EP_SND_MORE;
	ch->fwd -= n;
	st_note_sent(s, ep, n);
	/* a full response buffer stopped us reading the server: its timer
	 * counts again from the moment we can read it */
	if (n && was_full && ch == &s->res)
		s->srv_act_ms = tc_now(s->tc);
	chan_release_if_empty(s, ch);
	if (ep->flags & EP_ERROR)
		return 1;
	/* a finished message, or a head (after a 1xx answer, or a pipelined
	 * request) waiting behind what was just sent */
	return n && !ch->fwd && (ch->st == CH_DONE || (ch->st == CH_HEAD && !b_empty(&ch->buf)));
}

/* Moves bytes in every direction until nothing moves. Returns non-zero
 * when the stream's processing function must run. */
static int stream_move(struct stream *s)
{
	int wake = 0;

	for (int round = 0; round < 8; round++) {
		uint64_t before = s->moved;

		wake |= chan_rx(s, &s->req, s->cep);
		if (s->st == ST_FORWARD) {
			wake |= chan_tx(s, &s->req, s->sep);
			wake |= chan_rx(s, &s->res, s->sep);
		}
		wake |= chan_tx(s, &s->res, s->cep);
		if (s->sp && s->st == ST_FORWARD && stream_stats_fill(s))
			wake |= chan_tx(s, &s->res, s->cep);
		if (s->svc && s->st == ST_FORWARD) {
			wake |= svc_pump(s);
			wake |= chan_tx(s, &s->res, s->cep);
		}
		if (s->moved == before)
			return wake;
	}
	/* still moving after a fair share: the sockets are edge-triggered and
	 * will not say so again, so come back after the others had a turn */
	tasklet_wakeup(s->io, SCHED_R_WAKE);
	return wake;
}

/* Registers the client connection with the poller once the stream is
 * about to wait for it: a request (head or body) or a tunnel still to come,
 * a place in a server's queue, an answer its socket would not take, a
 * lingering close, or the next keep-alive request. A connection accepted unregistered (see stream_accept)
 * and answered without ever waiting on its client, the common case of a
 * connection per request, never costs an epoll_ctl. While it waits for the
 * server only, a client that leaves is noticed when the answer is sent to
 * it, within timeout server at worst. A registration that fails is the
 * connection's error, which the stream's processing acts upon. */
static void stream_cli_poll(struct stream *s)
{
	struct conn *c = s->cli;

	if (!c || !c->unpolled)
		return;
	/* queued, it may wait long: a client that gives up must leave the queue */
	if (s->st != ST_REQ_HEAD && s->st != ST_LINGER && s->st != ST_QUEUED &&
	    s->req.st == CH_DONE && (c->ep.flags & CF_WR_READY))
		return;
	if (conn_poll(c) < 0) {
		c->ep.flags |= CF_ERROR;
		task_wakeup(&s->task, SCHED_R_WAKE);
	}
}

/* Byte moving on behalf of a connection event or a buffer hand-off: wakes
 * the stream's processing only when there is something to decide. */
static void stream_io(struct stream *s)
{
	CNT_INC(s->tc, io_calls);
	if (s->st == ST_LINGER) {
		stream_linger_drain(s);
		return;
	}
	/* an HTTP/2 server stream says through this same tasklet that its
	 * connection is up, or failed: the state machine must look */
	if (s->st == ST_CONNECT && s->sep && !s->srv)
		task_wakeup(&s->task, SCHED_R_WAKE);
	if (stream_move(s))
		task_wakeup(&s->task, SCHED_R_WAKE);
	else
		stream_cli_poll(s);
}

/* Discards what a lingering client sends (no pool buffer: the thread's
 * scratch area) and wakes the stream once it closed. A fair share per
 * call: more comes back through the I/O tasklet. */
static void stream_linger_drain(struct stream *s)
{
	struct conn *c = s->cli;
	size_t size = s->tc->eng->cfg->g.bufsize;

	(void)conn_drain(c, s->tc->trash, size, 16 * size);
	if (c->ep.flags & (CF_RD_EOF | CF_ERROR))
		task_wakeup(&s->task, SCHED_R_WAKE);
	else if (c->ep.flags & CF_RD_READY)
		tasklet_wakeup(s->io, SCHED_R_WAKE);
}

/* Starts a lingering close if the client may still be sending: the answer
 * was flushed; our side is shut (a FIN after it) and what the client sends
 * is discarded until it closes or its client timeout runs out. Closing a
 * socket with unread bytes would make the kernel reset the connection and
 * destroy the answer before the client reads it. HTTP/2 streams end with
 * their own reset and never linger. Returns 1 when lingering. */
static int stream_linger(struct stream *s)
{
	if (!s->cli || (s->cli->ep.flags & (CF_RD_EOF | CF_ERROR)))
		return 0;
	if (!s->req_cut && !(s->cli->ep.flags & CF_RD_READY))
		return 0;
	stream_log(s);
	chan_reset(s, &s->req);
	chan_reset(s, &s->res);
	conn_shut_wr(s->cli);
	CNT_INC(s->tc, lingering_closes);
	s->st = ST_LINGER;
	s->linger_until = tc_now(s->tc) + fe_to(s)->client_ms;
	stream_linger_drain(s);
	return 1;
}

/* Takes a buffer handed to the wait entry of <ch>. A buffer the channel no
 * longer wants (its state moved on while it waited) is passed on at once:
 * holding an empty buffer would starve the next waiter. */
static void chan_take_buffer(struct stream *s, struct chan *ch)
{
	if (!pool_wait_take(st_pool(s), &ch->wait, &ch->buf))
		return;
	s->log_tw += tc_now(s->tc) - ch->wait_since;
	/* the peer was not idle while we could not read it: its timeout
	 * counts from now */
	if (ch == &s->req)
		s->cli_act_ms = tc_now(s->tc);
	else
		s->srv_act_ms = tc_now(s->tc);
	if (!chan_wants_rx(s, ch) && !(ch == &s->res && s->st == ST_REPLY))
		chan_release_if_empty(s, ch);
}

/* Takes buffers handed to the stream's wait entries. */
static void stream_take_buffers(struct stream *s)
{
	chan_take_buffer(s, &s->req);
	chan_take_buffer(s, &s->res);
}

/* Tasklet of an HTTP/1 client connection: socket events. */
static void cli_conn_cb(struct tasklet *t, unsigned reasons)
{
	struct conn *c = t->ctx;

	conn_update_ready(c, reasons);
	stream_io(c->owner);
}

/* The stream's I/O tasklet: buffer hand-offs, endpoint events, and the
 * continuation of long transfers. */
static void stream_io_cb(struct tasklet *t, unsigned reasons)
{
	struct stream *s = t->ctx;

	if (reasons & SCHED_R_BUFFER) {
		stream_take_buffers(s);
		if (s->st == ST_REPLY && !b_is_null(&s->res.buf))
			task_wakeup(&s->task, SCHED_R_BUFFER);
	}
	stream_io(s);
}

/* Tasklet of a server connection, attached to a stream or idle. */
static void srv_conn_cb(struct tasklet *t, unsigned reasons)
{
	struct conn *c = t->ctx;
	struct stream *s = c->owner;

	conn_update_ready(c, reasons);
	if (!s) {
		/* idle: any event means the server closed it or spoke out of turn */
		srvconn_idle_event(c);
		return;
	}
	if (c->ep.flags & CF_CONNECTING) {
		task_wakeup(&s->task, SCHED_R_WAKE);
		return;
	}
	stream_io(s);
}

/* ---- server side ---- */

/* Gives the server slot back (to the next queued stream). */
static void stream_release_slot(struct stream *s)
{
	if (s->target) {
		be_release_slot(s->target);
		s->target = NULL;
	}
}

/* Detaches the server side: the connection is parked when <reuse>, else
 * closed; the response channel forgets any wait; the slot is released. */
static void stream_srv_detach(struct stream *s, int reuse)
{
	if (s->srv) {
		if (reuse && s->target && b_is_null(&s->res.buf))
			srvconn_park(s->tc, s->srv);
		else
			conn_close(s->srv);
	} else if (s->sep) {
		/* an HTTP/2 stream: its connection stays with h2back */
		s->sep->ops->release(s->sep);
	}
	s->srv = NULL;
	s->sep = NULL;
	svc_detach(s); /* a host service stands where a server would */
	pool_wait_cancel(st_pool(s), &s->res.wait);
	stream_release_slot(s);
}

/* ---- answers of our own ---- */


/* Builds the pending reply of our own (s->reply: an error message, or the
 * stats page) in the response buffer. The buffer is taken at response
 * level, which may use the reserve; when even that is refused the stream
 * waits for a hand-off like any receiver, its timer still running. A stats
 * page that cannot be rendered becomes a 500. Returns 1 once built, 0
 * while waiting for a buffer. */
static int stream_reply(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	int status = s->reply_status;
	size_t len;

	/* the stats snapshot is rendered before the buffer of its own answer
	 * is taken, so that a quiet proxy shows 0 buffers in use */
	int blen = s->reply == REPLY_STATS ? stream_stats_render(s) : -1;

	if (!chan_get_buf(s, &s->res))
		return 0;
	if (s->reply == REPLY_STATS) {
		if (blen >= 0 && stream_stats_answer(s) == 0)
			return 1;
		s->reply = REPLY_ERROR;
		status = 500;
	}
	s->cli_close = 1;
	b_reset(&s->res.buf);
	/* a rule's answer or an errorfile first, else the built-in page;
	 * a 401 is only ever the stats page's: it names its realm */
	len = rules_reply(s, status, b_tail(&s->res.buf), b_contig_space(&s->res.buf));
	if (!len && status < 400)
		status = 500; /* a rule's answer that does not fit the buffer */
	if (!len)
		len = h1_make_error_hdr(status, status == 401 ? "WWW-Authenticate: Basic realm=\"Sluice statistics\"\r\n" : "",
					b_tail(&s->res.buf), b_contig_space(&s->res.buf));
	b_add(&s->res.buf, len);
	s->res.fwd = len;
	s->res.st = CH_DONE;
	s->rsp_started = 1;
	CNT_INC(tc, rsp_errors);
	CNT_INC(tc, rsp_by_class[status / 100 <= 5 ? status / 100 : 0]);
	s->txn_active = 0;
	eng_debug(tc->eng, "stream %p: error %d", (void *)s, status);
	return 1;
}

/* Ends the transaction with an error answer <status> and closes after it.
 * When a response is already on its way, or no request is pending, there
 * is nothing to answer and the connection just closes. */
static void stream_error(struct stream *s, int status)
{
	stream_log_term(s, LOG_TC_PROXY);
	if (s->req.st != CH_DONE)
		s->req_cut = 1; /* the client may still be sending it */
	if (s->txn_active && !s->rsp_started)
		s->log_status = status;
	stream_srv_detach(s, 0);
	s->cli_close = 1;
	s->st = ST_CLOSING;
	if (s->rsp_started || !s->txn_active) {
		if (s->txn_active) {
			CNT_INC(s->tc, req_aborted);
			s->txn_active = 0;
		}
		chan_reset(s, &s->res);
		return;
	}
	/* the request will not be forwarded any more */
	chan_reset(s, &s->req);
	s->req.st = CH_DONE;
	chan_reset(s, &s->res);
	s->reply = REPLY_ERROR;
	s->reply_status = status;
	s->st = stream_reply(s) ? ST_CLOSING : ST_REPLY;
}

/* Ends the transaction like stream_error(), naming who ended it. */
static void stream_fail(struct stream *s, enum log_term_cause cause, int status)
{
	stream_log_term(s, cause);
	stream_error(s, status);
}

/* ---- request analysis ---- */

/* Hands the client connection over to the HTTP/2 mux, with the bytes
 * received so far, and frees the stream. Returns PARSE_HANDED_OVER. */
static enum parse_res stream_upgrade_h2(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	struct frontend *fe = s->fe;
	int fd;

	/* the bytes are copied by the mux before this buffer is released */
	fd = conn_release_fd(s->cli);
	s->cli = NULL;
	s->cep = NULL;
	s->owns_conn = 0;
	(void)s->on_h2_preface(tc, fe, fd, s->cli_addr, b_head(&s->req.buf), b_data(&s->req.buf));
	stream_free(s);
	return PARSE_HANDED_OVER;
}

/* Remembers what protocols request <m> (its head at <base>) offers to
 * upgrade to, so that a 101 can be checked against it. Without memory for
 * the copy the offer is withdrawn (the rewrite then drops Upgrade): the
 * request goes on as a plain one. */
static void stream_keep_upgrade(struct stream *s, struct h1_msg *m, const char *base)
{
	int i;

	free(s->req_upgrade);
	s->req_upgrade = NULL;
	if (!(m->flags & H1_F_UPGRADE))
		return;
	i = h1_find_hdr(m, base, "upgrade", 0);
	if (i >= 0)
		s->req_upgrade = strndup(base + m->hdrs[i].value.ofs, m->hdrs[i].value.len);
	if (!s->req_upgrade)
		m->flags &= ~H1_F_UPGRADE;
}

/* Returns non-zero when the 101 response <m> (its head at <base>) switches
 * to protocols the request offered. A 101 nobody asked for would turn the
 * client's next bytes into an unparsed, unlogged tunnel to the origin. */
static int stream_upgrade_accepted(const struct stream *s, const struct h1_msg *m, const char *base)
{
	int i;

	if (!s->req_upgrade || !(m->flags & H1_F_UPGRADE))
		return 0;
	i = h1_find_hdr(m, base, "upgrade", 0);
	return i >= 0 && h1_list_covers(s->req_upgrade, strlen(s->req_upgrade),
					base + m->hdrs[i].value.ofs, m->hdrs[i].value.len);
}

/* Hands request <m> (head at the start of <b>) to host service <idx>: the
 * service reads the head in its start(), then the head leaves the buffer
 * and what follows it is the body the service reads. Returns
 * PARSE_ANSWERED (a service that refused gets the client a 500). */
static enum parse_res stream_use_service(struct stream *s, int idx, struct h1_msg *m, struct buf *b)
{
	int ret;

	s->st = ST_FORWARD;
	ret = svc_begin(s, idx, m, b);
	b_del(b, m->head_len);
	s->req.fwd = 0;
	s->req.st = s->req.body.done ? CH_DONE : CH_BODY;
	(void)chan_scan_body(&s->req);
	chan_release_if_empty(s, &s->req);
	if (ret < 0)
		stream_error(s, 500);
	return PARSE_ANSWERED;
}

/* Parses and rewrites a request head at the start of the request buffer.
 * Returns PARSE_READY when the transaction may go on, PARSE_WAIT for more
 * bytes, PARSE_HANDED_OVER when the connection went to HTTP/2 (the stream
 * is gone), PARSE_ANSWERED when the stream answers by itself (an error, or
 * the stats page). */
static enum parse_res stream_parse_request(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	struct engine *e = tc->eng;
	struct h1_msg *m = &tc->msg;
	struct buf *b = &s->req.buf;
	struct h1_rewrite rw = { 0 };
	size_t max_head = e->cfg->g.bufsize - e->cfg->g.maxrewrite;
	enum stats_match sm;
	size_t tail;
	int ret;

	if (b_is_null(b) || b_empty(b) || s->req.fwd)
		return PARSE_WAIT;
	b_realign(b);
	if (s->on_h2_preface && !s->txn_count && !s->txn_active) {
		int complete;

		if (h2_is_preface(b_head(b), b_data(b), &complete))
			return complete ? stream_upgrade_h2(s) : PARSE_WAIT;
	}
	if (!s->txn_active) {
		s->txn_active = 1;
		s->txn_start_ms = tc_now(tc);
		s->be = NULL; /* until the rules pick one: the log must not name the last one */
		s->uid_len = 0;
		s->rsp_started = 0;
		s->reply = REPLY_NONE;
	}
	/* parse only once the head is all there (or too large to ever be) */
	if (!h1_head_end(b_head(b), b_data(b), &s->req.head_scan) && b_data(b) < max_head)
		return PARSE_WAIT;
	s->req.head_scan = 0;
	ret = h1_parse_head(b_head(b), b_data(b), 1, max_head, m);
	if (ret == H1_NEED_MORE)
		return PARSE_WAIT;
	/* an admin form posted to the stats page is read whole with its head */
	if (ret >= 0 && stream_stats_body_pending(s, m, b_head(b), b_data(b), b->size))
		return PARSE_WAIT;
	CNT_INC(tc, req_received);
	CNT_INC(tc, streams);
	stream_log_begin(s, ret < 0 ? NULL : m, b_head(b), b_data(b));
	if (ret < 0) {
		CNT_INC(tc, bad_requests);
		stream_error(s, m->err_status ? m->err_status : (ret == H1_ERR_TOO_LARGE ? 431 : 400));
		return PARSE_ANSWERED;
	}
	if (m->meth == H1_M_CONNECT) {
		/* a reverse proxy has no tunnel to offer: forwarding CONNECT
		 * would send its payload to the origin as a request body */
		stream_error(s, 501);
		return PARSE_ANSWERED;
	}
	s->req_meth = m->meth;
	s->req_version = m->version;
	stream_keep_upgrade(s, m, b_head(b));
	s->cli_close = h1_wants_close(m) || eng_stopping(e) || (s->cep->flags & EP_ONE_TXN) ||
		       s->fe->cfg->conn_mode == CFG_CONN_CLOSE;
	if (h1_body_init(&s->req.body, m, m->meth) < 0) {
		CNT_INC(tc, bad_requests);
		stream_error(s, 400);
		return PARSE_ANSWERED;
	}
	sm = stream_stats_match(s, m, b_head(b));
	if (sm != STATS_NONE) {
		if (sm == STATS_DENIED || sm == STATS_FORBIDDEN) {
			/* our 401 or 403 ends the transaction like any error of
			 * ours; the body, if any, is discarded by the lingering close */
			stream_error(s, sm == STATS_DENIED ? 401 : 403);
			return PARSE_ANSWERED;
		}
		s->req.fwd = 0;
		b_del(b, m->head_len);
		s->req.st = s->req.body.done ? CH_DONE : CH_BODY;
		if (s->req.st != CH_DONE)
			s->cli_close = 1; /* we do not read bodies sent to the stats page */
		s->req.st = CH_DONE;
		chan_release_if_empty(s, &s->req);
		s->reply = REPLY_STATS;
		s->st = ST_REPLY;
		return PARSE_ANSWERED;
	}
	/* the frontend's rules: edits, answers of our own, the backend */
	switch (rules_request(s, m, b)) {
	case RULES_PASS:
		break;
	case RULES_ANSWER:
		stream_error(s, s->rule_status);
		return PARSE_ANSWERED;
	case RULES_FAIL:
		stream_error(s, 500);
		return PARSE_ANSWERED;
	case RULES_SERVICE:
		return stream_use_service(s, s->svc_pick, m, b);
	}
	/* the host's request hook, when the rules decided nothing final */
	switch (hostapi_request(s, m, b)) {
	case HOST_PASS:
		break;
	case HOST_ANSWER:
		stream_error(s, s->rule_status);
		return PARSE_ANSWERED;
	case HOST_SERVICE:
		return stream_use_service(s, s->svc_pick, m, b);
	case HOST_FAIL:
		stream_error(s, 500);
		return PARSE_ANSWERED;
	}
	if (!s->be) {
		stream_error(s, 503);
		return PARSE_ANSWERED;
	}
	if (rules_forwardfor(s, m, b, &rw.xff) < 0) {
		stream_error(s, 500);
		return PARSE_ANSWERED;
	}
	rw.add_conn_close = s->be->cfg->conn_mode == CFG_CONN_CLOSE ||
			    s->be->cfg->conn_mode == CFG_CONN_SERVER_CLOSE;
	rw.add_conn_keepalive = !rw.add_conn_close && m->version == 10;
	tail = b_data(b) - m->head_len;
	ret = h1_rewrite_head(m, b_head(b), b->size, tail, &rw, tc->trash, e->cfg->g.bufsize);
	if (ret < 0) {
		CNT_INC(tc, bad_requests);
		stream_error(s, 431);
		return PARSE_ANSWERED;
	}
	b->data = (size_t)ret + tail;
	s->req.fwd = (size_t)ret;
	s->req.st = s->req.body.done ? CH_DONE : CH_BODY;
	(void)chan_scan_body(&s->req);
	return PARSE_READY;
}

/* ---- response analysis ---- */

/* A response Sluice will not forward: counted, answered 502. */
static enum parse_res stream_bad_response(struct stream *s)
{
	CNT_INC(s->tc, bad_responses);
	stream_error(s, 502);
	return PARSE_ANSWERED;
}

/* Rewrites the response head <m> at the start of the response buffer with
 * <rw> (hop-by-hop headers out, ours in) and lets it leave. Returns 0, or
 * -1 when the new head does not fit. */
static int stream_rewrite_response(struct stream *s, struct h1_msg *m, const struct h1_rewrite *rw)
{
	struct buf *b = &s->res.buf;
	size_t tail = b_data(b) - m->head_len;
	int ret = h1_rewrite_head(m, b_head(b), b->size, tail, rw, s->tc->trash, s->tc->eng->cfg->g.bufsize);

	if (ret < 0)
		return -1;
	b->data = (size_t)ret + tail;
	s->res.fwd = (size_t)ret;
	s->rsp_started = 1;
	return 0;
}

/* Parses and rewrites a response head at the start of the response buffer.
 * Returns PARSE_READY once the final head is forwarded, PARSE_WAIT for more
 * bytes (or after an interim answer), PARSE_ANSWERED on an error answered. */
static enum parse_res stream_parse_response(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	struct engine *e = tc->eng;
	struct h1_msg *m = &tc->msg;
	struct buf *b = &s->res.buf;
	struct h1_rewrite rw = { 0 };
	size_t max_head = e->cfg->g.bufsize - e->cfg->g.maxrewrite;
	int ret;

	if (b_is_null(b) || b_empty(b) || s->res.fwd)
		return PARSE_WAIT;
	b_realign(b);
	for (;;) {
		/* parse only once the head is all there (or too large to
		 * ever be, or the server closed: what it sent is judged as
		 * it is): a server trickling its head costs O(total) */
		if (!h1_head_end(b_head(b), b_data(b), &s->res.head_scan) && b_data(b) < max_head &&
		    !(s->sep && (s->sep->flags & EP_RD_EOF)))
			return PARSE_WAIT;
		s->res.head_scan = 0;
		ret = h1_parse_head(b_head(b), b_data(b), 0, max_head, m);
		if (ret == H1_NEED_MORE)
			return PARSE_WAIT;
		if (ret < 0 || (m->status == 101 && !stream_upgrade_accepted(s, m, b_head(b))))
			return stream_bad_response(s);
		if (m->status >= 200 || m->status == 101)
			break;
		/* An interim answer (100 Continue, 103 Early Hints). An
		 * HTTP/1.0 client cannot tell it from the final one: it is
		 * dropped. Others get it cleaned of hop-by-hop headers like a
		 * final answer, and the next head is awaited. */
		if (s->req_version == 10) {
			b_del(b, m->head_len);
			if (b_empty(b))
				return PARSE_WAIT;
			continue;
		}
		if (stream_rewrite_response(s, m, &rw) < 0)
			return stream_bad_response(s);
		return PARSE_WAIT;
	}
	s->srv_keepalive = !h1_wants_close(m);
	if (h1_body_init(&s->res.body, m, s->req_meth) < 0)
		return stream_bad_response(s);
	if (s->res.body.mode == H1_BODY_CLOSE)
		s->srv_keepalive = 0, s->cli_close = 1;
	if (eng_stopping(e))
		s->cli_close = 1;
	if (rules_response(s, m, b) < 0)
		return stream_bad_response(s);
	rw.add_conn_close = s->cli_close;
	rw.add_conn_keepalive = !s->cli_close && s->req_version == 10;
	if (stream_rewrite_response(s, m, &rw) < 0)
		return stream_bad_response(s);
	CNT_INC(tc, rsp_by_class[m->status / 100 <= 5 ? m->status / 100 : 0]);
	s->log_status = m->status;
	s->log_tr = (int64_t)(tc_now(tc) - s->log_fwd_ms);
	if (m->status == 101) {
		s->res.st = CH_TUNNEL;
		s->req.st = CH_TUNNEL;
		s->cli_close = 1;
		s->srv_keepalive = 0;
		(void)chan_scan_body(&s->req);
	} else {
		s->res.st = s->res.body.done ? CH_DONE : CH_BODY;
	}
	(void)chan_scan_body(&s->res);
	chan_splice_start(s, &s->res);
	return PARSE_READY;
}

/* ---- transaction life ---- */

/* Starts waiting for the next request on a kept-alive connection. */
static void stream_next_txn(struct stream *s)
{
	s->st = ST_REQ_HEAD;
	s->req.st = CH_HEAD;
	s->res.st = CH_HEAD;
	s->req.fwd = s->res.fwd = 0;
	s->req.head_scan = s->res.head_scan = 0;
	s->txn_active = 0;
	s->rsp_started = 0;
	s->reply = REPLY_NONE;
	s->retries_left = 0;
	s->req_cut = 0;
	s->avoid = NULL;
	s->srv_keepalive = 0;
	s->txn_count++;
	s->cli_act_ms = tc_now(s->tc);
	chan_release_if_empty(s, &s->req);
	chan_release_if_empty(s, &s->res);
}

/* Ends a transaction whose response was fully sent. */
static void stream_end_txn(struct stream *s)
{
	int reuse = s->srv_keepalive && s->req.st == CH_DONE && !s->req.fwd &&
		    b_empty(&s->res.buf) && s->be &&
		    s->be->cfg->conn_mode != CFG_CONN_CLOSE &&
		    s->be->cfg->conn_mode != CFG_CONN_SERVER_CLOSE;

	if (s->txn_active)
		CNT_INC(s->tc, rsp_sent);
	s->txn_active = 0;
	stream_log(s);
	if (s->res.st != CH_DONE || s->req.st != CH_DONE)
		s->cli_close = 1; /* cannot find the next message boundary */
	if (s->req.st != CH_DONE)
		s->req_cut = 1;
	chan_reset(s, &s->res);
	stream_srv_detach(s, reuse);
	/* retiring: the client was not told to close and may be sending its
	 * next request already; that one is answered with Connection: close */
	if (s->cli_close || eng_closes_idle(s->tc->eng)) {
		s->st = ST_CLOSING;
		return;
	}
	stream_next_txn(s);
}

/* The timers of a stream. Only the first to run out matters, and its
 * kind says what to do: stream_deadline() picks it, stream_timeout() acts.
 * One place decides both, so the expiry armed and the cause acted upon
 * can never disagree. */
enum st_timer {
	TMR_NONE = 0,
	TMR_IDLE,          /* no request started (keep-alive or first): close quietly */
	TMR_HTTP_REQUEST,  /* a head started and is not complete: 408 */
	TMR_STARVED,       /* the request (or response) waited timeout queue for a
	                    * buffer: 503 (or close once answering), 'R' */
	TMR_QUEUE,         /* no server slot within timeout queue: 503 */
	TMR_CONNECT,       /* the server did not accept within timeout connect: 503 */
	TMR_SERVER,        /* the server went silent mid-response: 504 */
	TMR_CLIENT,        /* the client went silent: 408, or close */
	TMR_LINGER,        /* a lingering client never closed: close */
};

/* Returns how long the stream may stay idle before its next request: <ms>,
 * or at most ENG_RETIRE_IDLE_MS once a reload retired its generation (a
 * client idle that long is closed, one busy gets one more answer). */
static uint64_t stream_idle_ms(const struct stream *s, uint64_t ms)
{
	const struct engine *e = s->tc->eng;

	return eng_stopping(e) && !eng_closes_idle(e) && ms > ENG_RETIRE_IDLE_MS ? ENG_RETIRE_IDLE_MS : ms;
}

/* Returns the absolute time at which the stream's first timer runs out
 * in its state (0: none runs), and its kind in *which when not NULL. */
static uint64_t stream_deadline(const struct stream *s, enum st_timer *which)
{
	const struct cfg_timeouts *ft = fe_to(s), *bt = be_to(s);
	enum st_timer w = TMR_NONE;
	uint64_t exp = 0;

#define ARM(t, at) do { uint64_t _at = (at); if (!exp || _at < exp) { exp = _at; w = (t); } } while (0)
	switch (s->st) {
	case ST_REQ_HEAD:
		/* the head's clock starts with its first byte read: a head we
		 * could not read for lack of a buffer only has the starved bound */
		if (s->txn_active || (!b_is_null(&s->req.buf) && !b_empty(&s->req.buf)))
			ARM(TMR_HTTP_REQUEST, s->txn_start_ms + ft->http_request_ms);
		else if (!stream_starved(s))
			ARM(TMR_IDLE, s->cli_act_ms + stream_idle_ms(s, s->txn_count ? ft->http_keep_alive_ms
										       : ft->http_request_ms));
		break;
	case ST_QUEUED:
		ARM(TMR_QUEUE, s->queue_start_ms + bt->queue_ms);
		break;
	case ST_CONNECT:
		ARM(TMR_CONNECT, s->connect_start_ms + bt->connect_ms);
		break;
	case ST_FORWARD:
		/* the server's timer runs while we wait for it, not while we
		 * do not read it (a response paused for a buffer, or behind a
		 * client that does not read, whose own timer runs) nor while
		 * it waits for a request we cannot read for lack of a buffer */
		if (s->res.st != CH_DONE && s->sep && !chan_rx_paused(s, &s->res) && !stream_starved(s))
			ARM(TMR_SERVER, s->srv_act_ms + bt->server_ms);
		/* the stats applet or a service may wait for a buffer (or a
		 * service for its own work): the client timeout runs on */
		if ((s->req.st != CH_DONE && !stream_starved(s)) || s->res.fwd || s->sp || s->svc ||
		    chan_splice_pending(&s->res))
			ARM(TMR_CLIENT, s->cli_act_ms + ft->client_ms);
		break;
	case ST_LINGER:
		ARM(TMR_LINGER, s->linger_until);
		break;
	case ST_ASSIGN:
	case ST_REPLY:
	case ST_CLOSING:
		ARM(TMR_CLIENT, s->cli_act_ms + ft->client_ms);
		break;
	}
	if (stream_starved(s) && (s->st == ST_REQ_HEAD || s->st == ST_FORWARD))
		ARM(TMR_STARVED, stream_starved_until(s));
	/* a response waiting for a buffer has the same bound */
	if (s->st == ST_FORWARD && pool_wait_state(&s->res.wait) != POOL_WAIT_IDLE)
		ARM(TMR_STARVED, s->res.wait_since + bt->queue_ms);
#undef ARM
	if (which)
		*which = w;
	return exp;
}

/* Returns the absolute expiry the stream's timer must have in its state. */
static uint64_t stream_expiry(const struct stream *s)
{
	return stream_deadline(s, NULL);
}

/* Counts a request whose head never completed, so that it is answered and
 * logged like any other (with what could be read of its request line). */
static void stream_count_unparsed(struct stream *s)
{
	if (!s->txn_active) {
		s->txn_active = 1;
		CNT_INC(s->tc, req_received);
		CNT_INC(s->tc, streams);
	}
	if (!s->log_pending)
		stream_log_begin(s, NULL, b_is_null(&s->req.buf) ? NULL : b_head(&s->req.buf),
				 b_is_null(&s->req.buf) ? 0 : b_contig_data(&s->req.buf));
}

/* Acts on the stream's first timer if it ran out. Returns STEP_GONE when
 * the stream was freed, else STEP_AGAIN (answered, or nothing ran out). */
static enum st_step stream_timeout(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	enum st_timer w;
	uint64_t exp = stream_deadline(s, &w);

	if (!exp || tc_now(tc) < exp)
		return STEP_AGAIN;
	switch (w) {
	case TMR_NONE:
		break;
	case TMR_IDLE:
		stream_free(s); /* idle keep-alive connection: close quietly */
		return STEP_GONE;
	case TMR_HTTP_REQUEST:
		CNT_INC(tc, timeouts_http_request);
		stream_count_unparsed(s);
		stream_fail(s, LOG_TC_CLI_TIMEOUT, 408);
		break;
	case TMR_STARVED:
		/* the pool could not give the request a buffer in time: not
		 * the client's fault and not the server's, but an answer all
		 * the same (503, as for a queue that does not move) */
		CNT_INC(tc, buf_wait_timeouts);
		stream_count_unparsed(s);
		stream_fail(s, LOG_TC_RESOURCE, 503);
		break;
	case TMR_QUEUE:
		CNT_INC(tc, queue_timeouts);
		if (qent_cancel(&s->qe))
			be_release_slot(s->qe.srv);
		s->log_tq = (int64_t)(tc_now(tc) - s->queue_start_ms);
		stream_fail(s, LOG_TC_SRV_TIMEOUT, 503);
		break;
	case TMR_CONNECT:
		CNT_INC(tc, timeouts_connect);
		stream_fail(s, LOG_TC_SRV_TIMEOUT, 503);
		break;
	case TMR_SERVER:
		CNT_INC(tc, timeouts_server);
		stream_fail(s, LOG_TC_SRV_TIMEOUT, 504);
		break;
	case TMR_CLIENT:
		CNT_INC(tc, timeouts_client);
		if (s->st == ST_FORWARD) {
			stream_fail(s, LOG_TC_CLI_TIMEOUT, 408);
			break;
		}
		/* nothing to answer with: a reply still waiting for a buffer
		 * means the pool ran dry */
		stream_log_term(s, s->st == ST_REPLY ? LOG_TC_RESOURCE : LOG_TC_CLI_TIMEOUT);
		if (s->txn_active) {
			CNT_INC(tc, req_aborted);
			s->txn_active = 0;
		}
		stream_free(s);
		return STEP_GONE;
	case TMR_LINGER:
		stream_free(s); /* the client never closed: close anyway */
		return STEP_GONE;
	}
	return STEP_AGAIN;
}

/* ST_ASSIGN: asks the backend for a server slot, or a place in a queue. */
static enum st_step stream_assign(struct stream *s)
{
	enum be_assign_res ret = be_assign(s->be, &s->qe, NULL, s->avoid, tc_now(s->tc));

	if (ret == BE_NOSRV) {
		stream_fail(s, LOG_TC_SRV_ABORT, 503);
		return STEP_AGAIN;
	}
	if (ret == BE_FULL) {
		/* every server busy and the queue at its maxqueue: a queued
		 * stream keeps its request buffer, so the queue's length is
		 * memory too. Turned away at once, logged as a resource limit. */
		CNT_INC(s->tc, queue_full);
		stream_fail(s, LOG_TC_RESOURCE, 503);
		return STEP_AGAIN;
	}
	if (ret == BE_QUEUED) {
		CNT_INC(s->tc, queued_total);
		s->queue_start_ms = tc_now(s->tc);
		s->st = ST_QUEUED;
		return STEP_WAIT;
	}
	s->target = s->qe.srv;
	s->log_srv = s->target;
	s->log_tq = 0;
	s->st = ST_CONNECT;
	s->srv = NULL;
	s->sep = NULL;
	return STEP_AGAIN;
}

/* Handles a failed connection attempt: retry, redispatch or answer 503. */
static void stream_connect_failed(struct stream *s)
{
	struct thr_ctx *tc = s->tc;

	CNT_INC(tc, srv_connect_errors);
	if (s->target)
		__atomic_fetch_add(&s->target->failures, 1, __ATOMIC_RELAXED);
	if (s->srv)
		conn_close(s->srv);
	else if (s->sep)
		s->sep->ops->release(s->sep);
	s->srv = NULL;
	s->sep = NULL;
	if (s->retries_left-- <= 0) {
		stream_fail(s, LOG_TC_SRV_ABORT, 503);
		return;
	}
	CNT_INC(tc, retries);
	if (s->be->cfg->redispatch && s->retries_left == 0 && be_nb_srv(s->be) > 1) {
		CNT_INC(tc, redispatches);
		s->avoid = s->target;
		stream_release_slot(s);
		s->st = ST_ASSIGN;
		return;
	}
	s->st = ST_CONNECT;
}

/* Opens (or reuses) an HTTP/1 connection to the stream's server. Returns
 * 0, or -1 when it cannot even start. */
static int stream_open_h1(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	const struct cfg_server *cs = s->target->cfg;

	s->srv = srvconn_take(tc, s->target);
	if (s->srv) {
		s->srv->owner = s;
		s->srv_reused = 1;
	} else {
		s->srv_reused = 0;
		s->srv = conn_connect(tc, (const struct sockaddr *)&cs->addr, cs->addrlen,
				      srv_conn_cb, s);
		if (!s->srv)
			return -1;
		s->srv->srv = s->target;
		conn_tls_client(s->srv, cs->tls);
	}
	s->sep = &s->srv->ep;
	return 0;
}

/* Opens an HTTP/2 stream to the stream's server, on a connection of this
 * thread with room or a new one. Returns 0, or -1 when it cannot. */
static int stream_open_h2(struct stream *s)
{
	s->sep = h2back_open(s->tc, s->target, &s->srv_reused);
	if (!s->sep)
		return -1;
	s->sep->owner = s->io;
	return 0;
}

/* Returns where connecting the server endpoint (an HTTP/1 connection or
 * an HTTP/2 stream) stands. */
static enum conn_connect stream_connect_check(struct stream *s)
{
	if (s->srv)
		return conn_connect_check(s->srv);
	if (s->sep->flags & EP_ERROR)
		return CONN_FAILED;
	return (s->sep->flags & EP_CONNECTING) ? CONN_CONNECTING : CONN_CONNECTED;
}

/* ST_CONNECT: opens (or reuses) the server side and waits until it is up. */
static enum st_step stream_connect(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	enum conn_connect cr;
	int ret;

	if (s->cep->flags & EP_ERROR) {
		/* the client went while we connected: nobody reads an answer */
		stream_fail(s, LOG_TC_CLI_ABORT, 400);
		return STEP_AGAIN;
	}
	if (!s->sep) {
		s->connect_start_ms = tc_now(tc);
		ret = s->target->cfg->proto_h2 ? stream_open_h2(s) : stream_open_h1(s);
		if (ret < 0) {
			stream_connect_failed(s);
			return STEP_AGAIN;
		}
		if (s->srv_reused)
			CNT_INC(tc, srv_reuses);
		else
			CNT_INC(tc, srv_connects);
	}
	cr = stream_connect_check(s);
	if (cr == CONN_CONNECTING)
		return STEP_WAIT;
	if (cr == CONN_FAILED) {
		stream_connect_failed(s);
		return STEP_AGAIN;
	}
	s->st = ST_FORWARD;
	s->srv_act_ms = tc_now(tc);
	s->log_fwd_ms = tc_now(tc);
	s->log_tc = (int64_t)(tc_now(tc) - s->connect_start_ms);
	s->res.st = CH_HEAD;
	s->res.head_scan = 0;
	/* the request body may splice now that its server side is known */
	chan_splice_start(s, &s->req);
	return STEP_AGAIN;
}

/* ST_FORWARD: looks at the forwarding state (response head, end of the
 * transaction, EOFs and errors); bytes themselves move in stream_move(). */
static enum st_step stream_forward(struct stream *s)
{
	struct mux_ep *cli = s->cep;
	struct mux_ep *srv = s->sep;

	if (cli->flags & EP_ERROR) {
		stream_fail(s, LOG_TC_CLI_ABORT, 400); /* closes: nobody will read the answer */
		return STEP_AGAIN;
	}
	if (srv && (srv->flags & EP_ERROR) && s->res.st != CH_DONE) {
		stream_fail(s, LOG_TC_SRV_ABORT, 502);
		return STEP_AGAIN;
	}
	if (s->res.st == CH_HEAD) {
		enum parse_res r = stream_parse_response(s);

		if (r == PARSE_ANSWERED)
			return STEP_AGAIN;
		if (r == PARSE_WAIT && srv && (srv->flags & EP_RD_EOF)) {
			stream_fail(s, LOG_TC_SRV_ABORT, 502);
			return STEP_AGAIN;
		}
	}
	if ((s->res.st == CH_BODY || s->res.st == CH_TUNNEL) && srv && (srv->flags & EP_RD_EOF) &&
	    s->res.fwd == b_data(&s->res.buf)) {
		if (h1_body_eof(&s->res.body) == 0 || s->res.st == CH_TUNNEL) {
			s->res.st = CH_DONE;
			s->cli_close = 1;
		} else {
			/* truncated response: forward what we have and close */
			stream_log_term(s, LOG_TC_SRV_ABORT);
			s->cli_close = 1;
			s->res.st = CH_DONE;
			s->req.st = CH_DONE;
			s->srv_keepalive = 0;
		}
	}
	chan_splice_srv_eof(s);
	if (s->res.st == CH_BODY && s->res.fwd < b_data(&s->res.buf) && chan_scan_body(&s->res) &&
	    s->res.st != CH_DONE) {
		CNT_INC(s->tc, bad_responses);
		stream_error(s, 502);
		return STEP_AGAIN;
	}
	if (s->req.st == CH_BODY && s->req.fwd < b_data(&s->req.buf) && chan_scan_body(&s->req) &&
	    s->req.st != CH_DONE) {
		CNT_INC(s->tc, bad_requests);
		stream_error(s, 400);
		return STEP_AGAIN;
	}
	if (cli->flags & EP_RD_EOF)
		s->cli_close = 1;
	if ((cli->flags & EP_RD_EOF) && s->req.st != CH_DONE && s->req.st != CH_TUNNEL &&
	    !(s->req.st == CH_SPLICE && s->req.body.done)) {
		/* the client left in the middle of its request */
		stream_log_term(s, LOG_TC_CLI_ABORT);
		CNT_INC(s->tc, req_aborted);
		s->txn_active = 0;
		stream_srv_detach(s, 0);
		s->cli_close = 1;
		s->st = ST_CLOSING;
		chan_reset(s, &s->res);
		return STEP_AGAIN;
	}
	if (s->res.st == CH_DONE && !s->res.fwd) {
		stream_end_txn(s);
		return STEP_AGAIN;
	}
	return STEP_WAIT;
}

/* Frees the stream and everything it holds. */
static void stream_free(struct stream *s)
{
	struct thr_ctx *tc = s->tc;

	if (s->txn_active)
		CNT_INC(tc, req_aborted);
	stream_log_term(s, LOG_TC_CLI_ABORT);
	stream_log(s);
	free(s->log_req);
	free(s->req_upgrade);
	free(s->reply_msg);
	free(s->uid);
	statspage_free(s->sp);
	if (s->st == ST_QUEUED && qent_cancel(&s->qe))
		be_release_slot(s->qe.srv);
	stream_srv_detach(s, 0);
	chan_reset(s, &s->req);
	chan_reset(s, &s->res);
	if (s->cep)
		s->cep->ops->release(s->cep);
	tasklet_kill(s->io, 1);
	eng_list_del(&s->link);
	tc->nb_streams--;
	if (s->owns_conn)
		eng_conn_closed(tc, s->fe);
	if (s->in_maxstreams)
		__atomic_sub_fetch(&tc->eng->h2_streams_cur, 1, __ATOMIC_RELAXED);
	task_kill(&s->task, 1);
}

/* ---- the state machine: one step function per state ---- */

/* ST_REQ_HEAD: parses the request head once it is complete. */
static enum st_step st_req_head(struct stream *s)
{
	enum parse_res r = (s->cep->flags & CF_ERROR) ? PARSE_WAIT : stream_parse_request(s);

	switch (r) {
	case PARSE_HANDED_OVER:
		return STEP_GONE;
	case PARSE_ANSWERED:
		return STEP_AGAIN;
	case PARSE_READY:
		/* s->be was chosen by the rules while parsing */
		s->retries_left = (int)s->be->cfg->retries;
		s->st = ST_ASSIGN;
		/* a client that half-closed after its request still gets the
		 * answer, then the connection closes */
		if (s->cep->flags & CF_RD_EOF)
			s->cli_close = 1;
		return STEP_AGAIN;
	case PARSE_WAIT:
		break;
	}
	if (s->cep->flags & (CF_ERROR | CF_RD_EOF)) {
		/* no complete request and the client is gone: a partial head
		 * has nobody to answer to */
		s->txn_active = 0;
		stream_free(s);
		return STEP_GONE;
	}
	return STEP_WAIT;
}

/* ST_QUEUED: takes the server slot a queue hand-off gave us. */
static enum st_step st_queued(struct stream *s)
{
	struct server *srv;

	if (s->cep->flags & CF_ERROR) {
		stream_free(s);
		return STEP_GONE;
	}
	srv = qent_take(&s->qe);
	if (!srv)
		return STEP_WAIT;
	s->log_srv = srv;
	s->log_tq = (int64_t)(tc_now(s->tc) - s->queue_start_ms);
	s->target = srv;
	s->st = ST_CONNECT;
	s->srv = NULL;
	s->sep = NULL;
	return STEP_AGAIN;
}

/* ST_REPLY: builds our own answer once the response buffer comes. */
static enum st_step st_reply(struct stream *s)
{
	if (s->cep->flags & EP_ERROR) {
		stream_free(s);
		return STEP_GONE;
	}
	if (!stream_reply(s))
		return STEP_WAIT;
	/* the stats applet goes on filling the response as it drains */
	s->st = s->reply == REPLY_STATS ? ST_FORWARD : ST_CLOSING;
	return STEP_AGAIN;
}

/* ST_CLOSING: flushes the last answer, then lingers or frees. */
static enum st_step st_closing(struct stream *s)
{
	if (s->res.fwd && !(s->cep->flags & CF_ERROR))
		return STEP_WAIT; /* still flushing our last answer */
	if (stream_linger(s))
		return STEP_WAIT;
	stream_free(s);
	return STEP_GONE;
}

/* ST_LINGER: the client closed at last. */
static enum st_step st_linger(struct stream *s)
{
	if (!(s->cli->ep.flags & (CF_RD_EOF | CF_ERROR)))
		return STEP_WAIT;
	stream_free(s);
	return STEP_GONE;
}

/* Runs the step of the stream's current state. */
static enum st_step stream_step(struct stream *s)
{
	switch (s->st) {
	case ST_REQ_HEAD: return st_req_head(s);
	case ST_ASSIGN:   return stream_assign(s);
	case ST_QUEUED:   return st_queued(s);
	case ST_CONNECT:  return stream_connect(s);
	case ST_FORWARD:  return stream_forward(s);
	case ST_REPLY:    return st_reply(s);
	case ST_CLOSING:  return st_closing(s);
	case ST_LINGER:   return st_linger(s);
	}
	return STEP_WAIT;
}

/* The stream's processing function: runs on its thread when woken by its
 * connections, its timer, a queue hand-off or the engine stopping. */
static void stream_process(struct tasklet *t, unsigned reasons)
{
	struct stream *s = t->ctx;

	CNT_INC(s->tc, stream_calls);
	if ((reasons & SCHED_R_TIMER) && stream_timeout(s) == STEP_GONE)
		return;
	if ((reasons & SCHED_R_STOP) && s->st == ST_REQ_HEAD && !s->txn_active && eng_closes_idle(s->tc->eng) &&
	    (b_is_null(&s->req.buf) || b_empty(&s->req.buf))) {
		stream_free(s);
		return;
	}
	for (int guard = 0; guard < 16; guard++) {
		enum st_step r = stream_step(s);

		if (r == STEP_GONE)
			return;
		/* moving bytes may finish a message or bring a head */
		if (stream_move(s))
			r = STEP_AGAIN;
		if (r != STEP_AGAIN)
			break;
	}
	stream_cli_poll(s);
	/* between two keep-alive transactions only the connection stays */
	if (stream_idle_park(s) == 0) {
		stream_free(s);
		return;
	}
	task_schedule(&s->task, stream_expiry(s));
}

/* ---- creation and engine stop ---- */

/* Creates a stream on client endpoint <ep> (set up by the caller except
 * for its owner). Returns it, or NULL on allocation failure (<ep> is then
 * left to the caller). */
static struct stream *stream_create(struct thr_ctx *tc, struct frontend *fe, struct mux_ep *ep,
				    const char *peer)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->io = malloc(sizeof(*s->io));
	if (!s->io) {
		free(s);
		return NULL;
	}
	s->tc = tc;
	s->fe = fe;
	s->cep = ep;
	task_init(&s->task, tc->thr, stream_process, s);
	tasklet_init(s->io, tc->thr, stream_io_cb, s);
	pool_wait_init(&s->req.wait, tc->pool_tid, POOL_CRIT_REQUEST, stream_buf_notify, s);
	pool_wait_init(&s->res.wait, tc->pool_tid, POOL_CRIT_RESPONSE, stream_buf_notify, s);
	qent_init(&s->qe, stream_queue_notify, s);
	/* once per stream: a copy, not a formatted print */
	if (peer) {
		size_t n = strnlen(peer, sizeof(s->cli_addr) - 1);

		memcpy(s->cli_addr, peer, n);
		s->cli_addr[n] = 0;
	}
	s->cli_act_ms = tc_now(tc);
	s->st = ST_REQ_HEAD;
	eng_list_append(&tc->streams, &s->link);
	tc->nb_streams++;
	task_schedule(&s->task, stream_expiry(s));
	return s;
}

int stream_accept(struct thr_ctx *tc, struct frontend *fe, int fd,
		  const struct sockaddr_storage *peer, stream_h2_preface_fn on_h2_preface)
{
	char addr[INET6_ADDRSTRLEN];
	struct stream *s;
	struct conn *c;

	eng_addr_text(peer, addr, sizeof(addr));
	/* not registered until the stream must wait for its client: the
	 * request is read at once, in this loop turn (stream_cli_poll) */
	c = conn_new_unpolled(tc, fd, cli_conn_cb, NULL);
	if (!c) {
		close(fd);
		return -1;
	}
	s = stream_create(tc, fe, &c->ep, addr);
	if (!s) {
		conn_close(c);
		return -1;
	}
	c->owner = s;
	s->cli = c;
	s->owns_conn = 1;
	s->on_h2_preface = on_h2_preface;
	if (peer->ss_family == AF_INET)
		s->cli_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
	else if (peer->ss_family == AF_INET6)
		s->cli_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
	/* the request is usually there already (TCP_DEFER_ACCEPT on HTTP
	 * listeners): read it without waiting for a poller round */
	tasklet_wakeup(s->io, SCHED_R_READ);
	return 0;
}

int stream_unpark(struct thr_ctx *tc, struct frontend *fe, struct conn *c,
		  const char *peer, unsigned port, unsigned txn_count)
{
	struct stream *s = stream_create(tc, fe, &c->ep, peer);

	if (!s)
		return -1;
	c->owner = s;
	c->tl.fn = cli_conn_cb;
	s->cli = c;
	s->owns_conn = 1;
	s->cli_port = port;
	s->txn_count = (int)txn_count;
	/* a kept-alive connection: its idle timer is the keep-alive one */
	task_schedule(&s->task, stream_expiry(s));
	stream_io(s);
	return 0;
}

int stream_new_on_ep(struct thr_ctx *tc, struct frontend *fe, struct mux_ep *ep, const char *peer)
{
	struct stream *s = stream_create(tc, fe, ep, peer);

	if (!s)
		return -1;
	/* h2front counted it against maxstreams; stream_free uncounts it */
	s->in_maxstreams = tc->eng->cfg->g.max_streams != 0;
	ep->owner = s->io;
	/* the endpoint may already hold the request */
	tasklet_wakeup(s->io, SCHED_R_READ);
	return 0;
}

void stream_stop_all(struct thr_ctx *tc, int now)
{
	struct eng_list *l, *next;

	for (l = tc->streams.next; l != &tc->streams; l = next) {
		struct stream *s = (struct stream *)((char *)l - offsetof(struct stream, link));

		next = l->next;
		if (now)
			stream_free(s);
		else
			task_wakeup(&s->task, SCHED_R_STOP);
	}
	stream_idle_stop_all(tc);
}

/* stream_splice.c - HTTP/1.1 bodies through kernel pipes (CH_SPLICE).
 *
 * Life of a spliced body: the head is received, parsed and rewritten in
 * the channel's buffer as always; when splicing applies, the channel takes
 * a pipe from its thread's cache and enters CH_SPLICE. The bytes already
 * in the buffer (the head and the first body bytes read with it) leave
 * first, through conn_send(); once the buffer drained it goes back to the
 * pool. The rest of the body moves socket -> pipe -> socket with splice(2)
 * and never touches a pool buffer: at most a pipe's capacity is received
 * ahead of what was sent, which is the back-pressure. A known length is
 * never read past its end (the next message stays in the socket for the
 * buffer path). When the body is all in and the pipe drained, the pipe
 * returns to the cache and the channel is CH_DONE: the transaction ends as
 * any other. An aborted transfer closes the pipe with its data
 * (chan_splice_drop via chan_reset).
 *
 * A channel that finds no pipe keeps CH_BODY: buffers, at once. Waiting
 * for a pipe while holding a buffer would be the hold-and-wait the pool's
 * design forbids.
 */
#include <unistd.h>
#include "engine/core/conn.h"
#include "engine/client/stream_int.h"

/* Returns non-zero when `option splice-*` of the stream's frontend or
 * backend has <ch> splice a body of <left> bytes (UINT64_MAX: until the
 * server closes). splice-request / splice-response: always; splice-auto:
 * when at least a buffer's worth is left (less goes as fast through the
 * buffer the head already holds, without the pipe's system calls). */
static int chan_splice_wanted(const struct stream *s, const struct chan *ch, uint64_t left)
{
	int bits = s->fe->cfg->splice | (s->be ? s->be->cfg->splice : 0);
	int dir = ch == &s->req ? CFG_SPLICE_REQ : CFG_SPLICE_RSP;

	if (bits & dir)
		return 1;
	return (bits & CFG_SPLICE_AUTO) && left >= s->tc->eng->cfg->g.bufsize;
}

/* Moves the body bytes that the buffer holds behind the head (read with
 * it) into the channel's fresh pipe, so that the buffer carries the head
 * alone and goes back to the pool once the head left: a client whose
 * socket cannot take the head and up to a buffer of body at once would
 * otherwise keep the buffer until it read them. The order holds, since
 * the pipe only leaves after the buffer. One copy of at most a buffer's
 * worth; when it cannot be done whole (the bytes wrap, a short write),
 * they stay in the buffer and leave from there. Returns 0, or -1 when the
 * pipe holds a part that could not be taken back: it is unusable. */
static int chan_splice_take_tail(struct stream *s, struct chan *ch)
{
	struct buf *b = &ch->buf;
	struct pipe_pair *p = ch->pipe;
	size_t k = (size_t)ch->body.total;
	size_t ofs;
	ssize_t n;

	/* all body bytes scanned so far are still in the buffer, at its end:
	 * nothing of them was sent (a response head was just parsed; a
	 * request was held until its server connection came up) */
	if (b_is_null(b) || !k || b_data(b) != ch->fwd || k >= b_data(b) || k > pipe_room(p))
		return 0;
	ofs = b_wrap_ofs(b, b_data(b) - k);
	if (ofs + k > b->size)
		return 0;
	n = write(p->wr, b->area + ofs, k);
	if (n == (ssize_t)k) {
		p->data += k;
		b->data -= k;
		ch->fwd -= k;
		return 0;
	}
	/* a part alone would reorder the body: take it back */
	if (n <= 0 || read(p->rd, s->tc->trash, (size_t)n) == n)
		return 0;
	p->data = (size_t)n; /* makes pipe_put() close it */
	return -1;
}

void chan_splice_start(struct stream *s, struct chan *ch)
{
	uint64_t left;

	if (ch->st != CH_BODY || ch->body.done || !s->cli || !s->srv || s->cli->tls || s->srv->tls ||
	    (s->srv->ep.flags & CF_CONNECTING))
		return;
	if (ch->body.mode == H1_BODY_LENGTH)
		left = ch->body.left;
	else if (ch->body.mode == H1_BODY_CLOSE && ch == &s->res)
		left = UINT64_MAX;
	else
		return; /* chunked: its framing is parsed in the buffer */
	if (!left || !chan_splice_wanted(s, ch, left))
		return;
	ch->pipe = pipe_get(s->tc);
	if (!ch->pipe)
		return; /* counted in pipes_failed: buffers carry this body */
	/* no buffer is needed from now on: a wait subscribed earlier goes,
	 * passing on a buffer handed over meanwhile */
	pool_wait_cancel(st_pool(s), &ch->wait);
	if (chan_splice_take_tail(s, ch) < 0) {
		chan_splice_drop(s, ch);
		return;
	}
	ch->st = CH_SPLICE;
}

int chan_splice_rx(struct stream *s, struct chan *ch, struct mux_ep *ep)
{
	struct h1_body *b = &ch->body;
	size_t max = SIZE_MAX;
	size_t n;
	int wake = 0;

	if (b->done)
		return 0;
	if (b->mode == H1_BODY_LENGTH && b->left < max)
		max = (size_t)b->left;
	n = conn_splice_in(conn_of_ep(ep), ch->pipe, max);
	st_note_rcvd(s, ep, n);
	if (n) {
		b->total += n;
		if (b->mode == H1_BODY_LENGTH) {
			b->left -= n;
			if (!b->left)
				b->done = 1, wake = 1;
		}
	}
	if (ep->flags & (EP_RD_EOF | EP_ERROR))
		wake = 1;
	return wake;
}

/* The client stopped taking the spliced response (its socket is full, the
 * pipe still holds data): makes sure the stream's timer runs out no later
 * than its client timeout. The timer is otherwise only rearmed when the
 * stream's processing runs, which splicing does not wake per send; armed
 * while the pipe happened to be empty it may stand at the server timeout.
 * When it fires, stream_deadline() decides again with the facts of then. */
static void chan_splice_client_blocked(struct stream *s)
{
	uint64_t due = s->cli_act_ms + fe_to(s)->client_ms;

	if (!s->task.expire_ms || s->task.expire_ms > due)
		task_schedule(&s->task, due);
}

int chan_splice_tx(struct stream *s, struct chan *ch, struct mux_ep *ep)
{
	struct pipe_pair *p = ch->pipe;
	size_t n = 0;

	if (!ep || (ep->flags & EP_CONNECTING))
		return 0;
	if (p->data) {
		n = conn_splice_out(conn_of_ep(ep), p, ch->body.mode == H1_BODY_LENGTH && !ch->body.done);
		CNT_ADD(s->tc, spliced_bytes, n);
		st_note_sent(s, ep, n);
		if (p->data && ep == s->cep && !(ep->flags & (EP_WR_READY | EP_ERROR)))
			chan_splice_client_blocked(s);
	}
	if (ep->flags & EP_ERROR)
		return 1;
	if (!ch->body.done || p->data || !b_empty(&ch->buf))
		return 0;
	chan_splice_drop(s, ch);
	ch->st = CH_DONE;
	return 1;
}

void chan_splice_drop(struct stream *s, struct chan *ch)
{
	pipe_put(s->tc, ch->pipe);
	ch->pipe = NULL;
}

void chan_splice_srv_eof(struct stream *s)
{
	struct chan *ch = &s->res;

	if (ch->st != CH_SPLICE || ch->body.done || !s->sep || !(s->sep->flags & EP_RD_EOF))
		return;
	s->cli_close = 1;
	s->srv_keepalive = 0;
	if (h1_body_eof(&ch->body) == 0)
		return; /* close-delimited: that was its end */
	/* truncated: forward what we have, then close */
	stream_log_term(s, LOG_TC_SRV_ABORT);
	ch->body.done = 1;
}

/* h2_ep.c - an HTTP/2 stream seen as a mux endpoint, in either role: the
 * message received (the request in server role, the response in client
 * role) is given in HTTP/1.1 wire format (rcv_buf); the HTTP/1.1 message
 * sent is turned into HEADERS and DATA frames straight from the stream's
 * buffer (snd_buf). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "mux/h2_int.h"

/* ---- readiness ---- */

/* Tells the engine that <s> failed (reset, connection gone), unless it
 * ended normally or the engine already let it go. */
void h2s_set_error(struct h2s *s)
{
	if ((s->flags & (H2S_GIVEN | H2S_RELEASED)) != H2S_GIVEN)
		return;
	if ((s->flags & (H2S_TX_DONE | H2S_RX_EOS | H2S_CLOSED)) ==
	    (H2S_TX_DONE | H2S_RX_EOS | H2S_CLOSED))
		return;  /* ended normally before the connection went */
	s->ep.flags |= EP_ERROR;
	mux_ep_wake(&s->ep, SCHED_R_HUP | SCHED_R_READ | SCHED_R_WRITE);
}

/* Wakes <s> for sending if it waits for room and room exists: windows
 * open and no output stuck in front of nghttp2. */
int h2s_wake_tx(struct h2s *s)
{
	struct h2c *c = s->c;

	if (!(s->flags & H2S_TX_BLOCKED) || (s->flags & H2S_RELEASED) || !c->sess)
		return 0;
	if (c->out_len)
		return 0;
	if (nghttp2_session_get_stream_remote_window_size(c->sess, s->id) <= 0 ||
	    nghttp2_session_get_remote_window_size(c->sess) <= 0)
		return 0;
	s->flags &= ~H2S_TX_BLOCKED;
	s->ep.flags |= EP_WR_READY;
	mux_ep_wake(&s->ep, SCHED_R_WRITE);
	return 1;
}

/* ---- receiving side (the request in server role, the response in client role) ---- */

/* Copies up to <n> bytes of <src> into <b> without passing <limit> bytes.
 * Returns how many. */
static size_t h2_give(struct buf *b, size_t limit, const void *src, size_t n)
{
	size_t room = b_data(b) < limit ? limit - b_data(b) : 0;

	return b_putblk(b, src, n < room ? n : room);
}

/* Stages chunk framing <str> to be given before anything else. */
static void h2s_stage(struct h2s *s, const char *str)
{
	size_t n = strlen(str);

	memcpy(s->rx_fr, str, n);
	s->rx_fr_len = (uint8_t)n;
	s->rx_fr_off = 0;
}

/* Returns the number of stashed payload bytes <s> has not taken yet. */
static size_t h2s_stashed(const struct h2s *s)
{
	return s->rx_stash.len - s->rx_stash_off;
}

/* Returns non-zero when <s> has request bytes left to give now. */
static int h2s_rx_has_more(const struct h2s *s)
{
	const struct h2c *c = s->c;

	return s->rx_head || s->rx_fr_off < s->rx_fr_len || h2s_stashed(s) ||
	       (c->rx_s == s && c->rx_len) ||
	       ((s->flags & (H2S_RX_EOS | H2S_RX_CHUNKED | H2S_RX_LAST)) ==
		(H2S_RX_EOS | H2S_RX_CHUNKED));
}

/* Copies <n> payload bytes at <p> for <s> to the end of its stash. The
 * connection window reopens at once while the connection's stash is small
 * (so one stream that does not read cannot stop the others' DATA), later
 * only when <s> takes them; the stream window always waits for that, which
 * bounds the stash of each stream. Returns 0, or -1 when out of memory (the
 * accounted allocator then flags the connection for ENHANCE_YOUR_CALM). */
int h2s_rx_stash(struct h2s *s, const uint8_t *p, size_t n)
{
	struct h2c *c = s->c;
	size_t left = h2s_stashed(s);

	if (s->rx_stash_off) {
		/* what was taken goes, so the stash never outgrows the window */
		memmove(s->rx_stash.p, s->rx_stash.p + s->rx_stash_off, left);
		s->rx_stash.len = left;
		s->rx_stash_off = 0;
	}
	if (h2_sb_add_exact(c, &s->rx_stash, p, n) < 0)
		return -1;
	c->stash_total += n;
	if (c->stash_total <= c->stash_free && c->sess)
		(void)nghttp2_session_consume_connection(c->sess, n);
	else
		s->rx_conn_owed += n;
	return 0;
}

/* Accounts <n> stashed bytes that <s> took: reopens its stream window and
 * what it still owed of the connection window, and frees an empty stash. */
static void h2s_rx_stash_took(struct h2s *s, size_t n)
{
	struct h2c *c = s->c;
	size_t owed = n < s->rx_conn_owed ? n : s->rx_conn_owed;

	s->rx_stash_off += n;
	c->stash_total -= n;
	s->rx_conn_owed -= owed;
	if (c->sess) {
		(void)nghttp2_session_consume_stream(c->sess, s->id, n);
		if (owed)
			(void)nghttp2_session_consume_connection(c->sess, owed);
	}
	if (!h2s_stashed(s)) {
		h2_sb_free(c, &s->rx_stash);
		s->rx_stash_off = 0;
	}
}

/* Drops the stash of <s> (nobody will read it), reopening the connection
 * window it still held. */
void h2s_rx_stash_drop(struct h2s *s)
{
	struct h2c *c = s->c;

	c->stash_total -= h2s_stashed(s);
	if (c->sess && s->rx_conn_owed)
		(void)nghttp2_session_consume_connection(c->sess, s->rx_conn_owed);
	s->rx_conn_owed = 0;
	h2_sb_free(c, &s->rx_stash);
	s->rx_stash_off = 0;
}

/* Gives the request in HTTP/1.1 wire format: the synthesized head, then
 * the DATA payload the demux paused on (chunk-framed when the client gave
 * no content-length), reopening the window for what was copied. */
static size_t h2_rcv_buf(struct mux_ep *ep, struct buf *b, size_t limit)
{
	struct h2s *s = (struct h2s *)ep;
	struct h2c *c = s->c;
	size_t total = 0, n, avail;
	const uint8_t *src;
	int consumed = 0, from_stash;

	h2c_enter(c);
	if (limit > b->size)
		limit = b->size;
	if (s->rx_head) {
		n = h2_give(b, limit, s->rx_head + s->rx_head_off, s->rx_head_len - s->rx_head_off);
		s->rx_head_off += n;
		total += n;
		if (s->rx_head_off < s->rx_head_len)
			goto out;
		h2_mem_free(c, s->rx_head);
		s->rx_head = NULL;
		/* in client role interim 1xx heads come before the final one */
		if (!(c->flags & H2C_CLIENT) || (s->flags & H2S_RX_FINAL))
			s->flags |= H2S_HEAD_DONE;
	}
	for (;;) {
		if (s->rx_fr_off < s->rx_fr_len) {
			n = h2_give(b, limit, s->rx_fr + s->rx_fr_off, s->rx_fr_len - s->rx_fr_off);
			s->rx_fr_off += n;
			total += n;
			if (s->rx_fr_off < s->rx_fr_len)
				break;
		}
		/* payload: the stash first (it is older), else the one the
		 * demux paused on, which then exists only with an empty stash */
		avail = h2s_stashed(s);
		from_stash = avail != 0;
		src = from_stash ? (const uint8_t *)s->rx_stash.p + s->rx_stash_off : c->rx_ptr;
		if (!from_stash && c->rx_s == s)
			avail = c->rx_len;
		if (avail) {
			if ((s->flags & (H2S_RX_CHUNKED | H2S_RX_INCHUNK)) == H2S_RX_CHUNKED) {
				char hdr[24];

				snprintf(hdr, sizeof(hdr), "%zx\r\n", avail);
				h2s_stage(s, hdr);
				s->flags |= H2S_RX_INCHUNK;
				s->rx_ck_left = avail;
				continue;
			}
			if ((s->flags & H2S_RX_CHUNKED) && avail > s->rx_ck_left)
				avail = s->rx_ck_left;
			n = h2_give(b, limit, src, avail);
			if (!n)
				break;
			total += n;
			consumed = 1;
			if (from_stash) {
				h2s_rx_stash_took(s, n);
			} else {
				c->rx_ptr += n;
				c->rx_len -= n;
				if (c->sess)
					(void)nghttp2_session_consume(c->sess, s->id, n);
				if (!c->rx_len)
					c->rx_s = NULL;  /* the demux may go on */
			}
			if (s->flags & H2S_RX_CHUNKED) {
				s->rx_ck_left -= n;
				if (!s->rx_ck_left) {
					s->flags &= ~H2S_RX_INCHUNK;
					h2s_stage(s, "\r\n");
				}
			}
			continue;
		}
		if ((s->flags & (H2S_RX_EOS | H2S_RX_CHUNKED | H2S_RX_LAST)) ==
		    (H2S_RX_EOS | H2S_RX_CHUNKED)) {
			h2s_stage(s, "0\r\n\r\n");
			s->flags |= H2S_RX_LAST;
			continue;
		}
		break;
	}
out:
	if (!h2s_rx_has_more(s)) {
		ep->flags &= ~EP_RD_READY;
		if ((s->flags & (H2S_RX_EOS | H2S_HEAD_DONE)) == (H2S_RX_EOS | H2S_HEAD_DONE))
			ep->flags |= EP_RD_EOF;
	}
	if (consumed)
		h2c_wake(c);  /* resume the demux, send WINDOW_UPDATE */
	h2c_leave(c);
	return total;
}

/* ---- sending side (the response in server role, the request in client role) ---- */

/* Returns non-zero for a header HTTP/2 forbids (hop-by-hop in HTTP/1.1). */
int h2_hop_by_hop(const char *n, size_t nl)
{
	static const char *const names[] = {
		"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == nl && strncasecmp(names[i], n, nl) == 0)
			return 1;
	return 0;
}

/* Lowercases the <nl> bytes of header name <n> in place. */
void h2_lower(char *n, size_t nl)
{
	size_t k;

	for (k = 0; k < nl; k++)
		n[k] = (char)tolower((unsigned char)n[k]);
}

/* Submits the final head <nva>/<nb> of the message <s> sends (a response
 * in server role, a request in client role), with a data provider reading
 * the body from the stream's buffer unless <body> says there is none
 * (END_STREAM then goes on the HEADERS). Returns 0 or -1. */
int h2s_submit_msg(struct h2s *s, const nghttp2_nv *nva, size_t nb, const struct h1_body *body,
		   uint64_t content_length)
{
	struct h2c *c = s->c;
	nghttp2_data_provider prd = { .source.ptr = s, .read_callback = h2s_data_read };
	int has_body = !body->done && body->mode != H1_BODY_NONE;
	int rv;

	if (has_body) {
		s->tx_mode = body->mode;
		s->tx_left = body->mode == H1_BODY_LENGTH ? content_length : 0;
		s->tx_ck = *body;
	}
	if (c->flags & H2C_CLIENT) {
		rv = nghttp2_submit_request(c->sess, NULL, nva, nb, has_body ? &prd : NULL, s);
		if (rv > 0)
			s->id = rv;
	} else {
		rv = nghttp2_submit_response(c->sess, s->id, nva, nb, has_body ? &prd : NULL);
	}
	if (rv < 0)
		return -1;
	s->flags |= H2S_TX_HEAD | (has_body ? H2S_TX_DATA : H2S_TX_DONE);
	return 0;
}

/* Submits the response head of <m> found at <area> (headers lowercased in
 * place, hop-by-hop ones dropped). Interim 1xx heads go as HEADERS without
 * END_STREAM; a final head gets a data provider unless it has no body.
 * Returns 0 or -1. */
static int h2s_submit_head(struct h2s *s, struct h1_msg *m, char *area)
{
	struct h2c *c = s->c;
	nghttp2_nv nva[H1_MAX_HDRS + 1];
	char status[4];
	struct h1_body body;
	size_t nb = 0;
	unsigned i;

	if (m->status == 101 || m->status < 100 || m->status > 999)
		return -1;
	/* three digits, checked above: no formatted print per response */
	status[0] = (char)('0' + m->status / 100);
	status[1] = (char)('0' + m->status / 10 % 10);
	status[2] = (char)('0' + m->status % 10);
	status[3] = 0;
	nva[nb++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE };
	for (i = 0; i < m->nb_hdrs; i++) {
		char *n = area + m->hdrs[i].name.ofs;
		size_t nl = m->hdrs[i].name.len;

		if (h2_hop_by_hop(n, nl))
			continue;
		h2_lower(n, nl);
		nva[nb++] = (nghttp2_nv){ (uint8_t *)n, (uint8_t *)area + m->hdrs[i].value.ofs,
					  nl, m->hdrs[i].value.len, NGHTTP2_NV_FLAG_NONE };
	}
	if (m->status < 200)
		return nghttp2_submit_headers(c->sess, NGHTTP2_FLAG_NONE, s->id, NULL, nva, nb, NULL) < 0 ? -1 : 0;
	if (h1_body_init(&body, m, s->meth) < 0)
		return -1;
	return h2s_submit_msg(s, nva, nb, &body, m->content_length);
}

/* Takes one head from the front of <b> (at most <max> bytes): a response
 * in server role, the request in client role. Returns its length, 0 when
 * it is not complete yet, or -1 when it is bad or refused. */
static long h2s_take_head(struct h2s *s, struct buf *b, size_t max)
{
	int client = !!(s->c->flags & H2C_CLIENT);
	struct h1_msg m;
	int r;

	b_realign(b);
	r = h1_parse_head(b_head(b), max, client, b->size, &m);
	if (r == H1_NEED_MORE)
		return b_full(b) ? -1 : 0;
	if (r < 0)
		return -1;
	if ((client ? h2s_submit_request(s, &m, b_head(b)) : h2s_submit_head(s, &m, b_head(b))) < 0)
		return -1;
	b_del(b, (size_t)r);
	return r;
}

/* Consumes chunk framing from <b> (within the budget) until payload bytes
 * come, the body ends, or the bytes run out. The framing is read by the
 * HTTP/1 body decoder (h1_chunk_framing), so that a chunked message is
 * accepted or refused the same way whichever side it leaves on. Trailers
 * are dropped. Returns 0, or -1 when the framing is bad. */
static int h2s_ck_skip(struct h2s *s, struct buf *b)
{
	while (s->tx_budget && b_data(b) && !s->tx_ck.done && !h1_chunk_data_left(&s->tx_ck)) {
		size_t n = b_contig_data(b);
		long r;

		if (n > s->tx_budget)
			n = s->tx_budget;
		r = h1_chunk_framing(&s->tx_ck, b_head(b), n);
		if (r < 0)
			return -1;
		b_del(b, (size_t)r);
		s->tx_budget -= (size_t)r;
		s->tx_taken += (size_t)r;
		if ((size_t)r < n)
			break;  /* chunk data or the end of the message is next */
	}
	return 0;
}

/* Moves <n> payload bytes from the stream's buffer into the frame at <out>. */
static void h2s_tx_copy(struct h2s *s, uint8_t *out, size_t n)
{
	b_peek(s->tx_src, 0, (char *)out, n);
	b_del(s->tx_src, n);
	s->tx_budget -= n;
	s->tx_taken += n;
}

/* DATA payloads below this size are copied by nghttp2 rather than written
 * by h2s_send_data when the mux buffer has no room for them as they are. */
#define H2S_NO_COPY_MIN 1024

/* Decides whether the <*k> payload bytes about to leave for <s> are
 * written by h2s_send_data straight from the stream's buffer rather than
 * copied by nghttp2 (then copied again into the mux buffer): <*k> may be
 * cut down to the room the mux buffer keeps for them. Returns non-zero
 * for that, 0 when nghttp2 must copy them (no mux buffer, or too little
 * room for a frame worth it). */
static int h2s_tx_no_copy(struct h2s *s, size_t *k)
{
	size_t room;

	if (!*k)
		return 0;
	room = h2c_data_room(s->c, *k);
	if (room >= *k)
		return 1;
	if (room < H2S_NO_COPY_MIN)
		return 0;
	*k = room;
	return 1;
}

/* nghttp2 sends a DATA frame of <s> whose payload h2s_data_read left in the
 * stream's buffer (NGHTTP2_DATA_FLAG_NO_COPY): called within the same
 * nghttp2_session_mem_send() as that read, so still inside snd_buf.
 * Returns 0, or NGHTTP2_ERR_CALLBACK_FAILURE when the socket failed. */
int h2s_send_data(nghttp2_session *sess, nghttp2_frame *frame, const uint8_t *framehd,
		  size_t length, nghttp2_data_source *src, void *user)
{
	struct h2s *s = src->ptr;

	(void)sess;
	(void)frame;  /* no padding: we set no padding callback */
	(void)user;
	if (!s->tx_src || h2c_send_data(s->c, framehd, s->tx_src, length) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->tx_budget -= length;
	s->tx_taken += length;
	return 0;
}

/* nghttp2 wants DATA payload for stream <id>: copies it straight from the
 * stream's buffer, which is only reachable inside snd_buf; elsewhere the
 * stream is deferred (a close-delimited body that was shut ends here). */
ssize_t h2s_data_read(nghttp2_session *sess, int32_t id, uint8_t *out, size_t len,
		      uint32_t *data_flags, nghttp2_data_source *src, void *user)
{
	struct h2s *s = src->ptr;
	struct buf *b = s->tx_src;
	size_t n = 0, k;

	if ((s->flags & (H2S_RELEASED | H2S_TX_SHUT)) == H2S_RELEASED)
		return NGHTTP2_ERR_DEFERRED;
	if (b && s->tx_mode == H1_BODY_CHUNKED) {
		while (n < len) {
			uint64_t left;

			if (h2s_ck_skip(s, b) < 0)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			left = h1_chunk_data_left(&s->tx_ck);
			k = len - n;
			if (k > left)
				k = (size_t)left;
			if (k > s->tx_budget)
				k = s->tx_budget;
			if (k > b_data(b))
				k = b_data(b);
			if (!k)
				break;
			h2s_tx_copy(s, out + n, k);
			n += k;
			h1_chunk_data_took(&s->tx_ck, k);
		}
		/* may reach the last chunk in this call */
		if (h2s_ck_skip(s, b) < 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	} else if (b) {
		k = len < s->tx_budget ? len : s->tx_budget;
		if (k > b_data(b))
			k = b_data(b);
		if (s->tx_mode == H1_BODY_LENGTH && k > s->tx_left)
			k = (size_t)s->tx_left;
		if (h2s_tx_no_copy(s, &k))
			*data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
		else
			h2s_tx_copy(s, out, k);
		n = k;
		if (s->tx_mode == H1_BODY_LENGTH)
			s->tx_left -= k;
	}
	if ((s->tx_mode == H1_BODY_LENGTH && !s->tx_left) ||
	    (s->tx_mode == H1_BODY_CHUNKED && s->tx_ck.done) ||
	    (s->tx_mode == H1_BODY_CLOSE && (s->flags & H2S_TX_SHUT) && (!b || b_data(b) == n))) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		s->flags |= H2S_TX_DONE;
		return (ssize_t)n;
	}
	if (s->flags & H2S_TX_SHUT)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  /* truncated: reset */
	return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}

/* Takes the HTTP/1.1 message sent (the response in server role, the
 * request in client role) from <b>: heads become HEADERS, body bytes leave
 * in DATA frames as far as windows and the mux buffer allow. What does not
 * fit stays in <b> and EP_WR_READY is cleared until there is room
 * (WINDOW_UPDATE, output drained). Bytes past the end of the message are
 * never taken. */
static size_t h2_snd_buf(struct mux_ep *ep, struct buf *b, size_t max)
{
	struct h2s *s = (struct h2s *)ep;
	struct h2c *c = s->c;
	size_t taken = 0;

	h2c_enter(c);
	if (max > b_data(b))
		max = b_data(b);
	if (c->state == H2C_CLOSED || (ep->flags & EP_ERROR) || (s->flags & (H2S_CLOSED | H2S_TX_DONE)))
		goto out;
	if (c->state >= H2C_DRAINING && !(s->flags & H2S_TX_HEAD)) {
		/* client role: no new request may start any more */
		h2s_set_error(s);
		goto out;
	}
	while (!(s->flags & H2S_TX_HEAD) && max) {
		long r = h2s_take_head(s, b, max);

		if (r <= 0) {
			if (r < 0) {
				(void)nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id,
								NGHTTP2_INTERNAL_ERROR);
				s->ep.flags |= EP_ERROR;
			}
			goto send;
		}
		taken += (size_t)r;
		max -= (size_t)r;
	}
	if ((s->flags & (H2S_TX_DATA | H2S_TX_DONE)) == H2S_TX_DATA && max) {
		s->tx_src = b;
		s->tx_budget = max;
		s->tx_taken = 0;
		(void)nghttp2_session_resume_data(c->sess, s->id);
		(void)h2c_stage(c);  /* the payload is taken now, sent later */
		s->tx_src = NULL;
		taken += s->tx_taken;
		if (!(s->flags & H2S_TX_DONE) && s->tx_taken < max) {
			ep->flags &= ~EP_WR_READY;
			s->flags |= H2S_TX_BLOCKED;
		}
	}
send:
	h2c_after_stream(c);
out:
	h2c_leave(c);
	return taken;
}

/* The stream sent everything: in server role a close-delimited body ends
 * here, a body that is not complete is reset, a response never begun is
 * reset. In client role the request's own framing ends it: nothing to do. */
static void h2_shut_wr(struct mux_ep *ep)
{
	struct h2s *s = (struct h2s *)ep;
	struct h2c *c = s->c;

	if (ep->flags & EP_SHUT_WR)
		return;
	ep->flags |= EP_SHUT_WR;
	if (c->flags & H2C_CLIENT)
		return;
	s->flags |= H2S_TX_SHUT;
	if (c->state == H2C_CLOSED || (s->flags & (H2S_CLOSED | H2S_TX_DONE)))
		return;
	h2c_enter(c);
	if (!(s->flags & H2S_TX_HEAD))
		(void)nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
	else
		(void)nghttp2_session_resume_data(c->sess, s->id);
	h2c_after_stream(c);
	h2c_leave(c);
}

/* Returns non-zero when the stream gave its whole response (the last
 * frame may still have to leave). */
static int h2s_tx_complete(const struct h2s *s)
{
	return (s->flags & H2S_TX_DONE) ||
	       ((s->flags & (H2S_TX_HEAD | H2S_TX_SHUT)) == (H2S_TX_HEAD | H2S_TX_SHUT) &&
		s->tx_mode == H1_BODY_CLOSE);
}

/* The engine is done with the stream. Server role: an unfinished response
 * is reset (CANCEL); a finished one leaves first, and if the request body
 * is still coming, RST_STREAM(NO_ERROR) follows our END_STREAM
 * (cb_frame_send) to stop it. Client role: a stream not finished both ways
 * is reset (CANCEL); one whose request never started is freed at once. The
 * state is freed once nghttp2 closed the stream. */
static void h2_release(struct mux_ep *ep)
{
	struct h2s *s = (struct h2s *)ep;
	struct h2c *c = s->c;
	int client = !!(c->flags & H2C_CLIENT);

	h2c_enter(c);
	s->flags |= H2S_RELEASED;
	s->ep.owner = NULL;
	c->nb_held--;
	if (c->state == H2C_CLOSED || (s->flags & H2S_CLOSED) || (client && !s->id)) {
		h2s_unlink_free(s);
		goto out;
	}
	if (c->rx_s == s)
		h2c_rx_drop(c);
	h2s_rx_stash_drop(s);
	h2_mem_free(c, s->rx_head);
	s->rx_head = NULL;
	h2s_forget(s);
	if (client) {
		if ((s->flags & (H2S_TX_DONE | H2S_RX_EOS)) != (H2S_TX_DONE | H2S_RX_EOS))
			(void)nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
	} else if (!h2s_tx_complete(s))
		(void)nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
	else if ((s->flags & (H2S_RX_EOS | H2S_TX_ENDSENT)) == H2S_TX_ENDSENT)
		(void)nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	h2c_wake(c);
out:
	h2c_leave(c);
}

const struct mux_ops h2_ep_ops = {
	.name    = "h2",
	.rcv_buf = h2_rcv_buf,
	.snd_buf = h2_snd_buf,
	.shut_wr = h2_shut_wr,
	.release = h2_release,
};

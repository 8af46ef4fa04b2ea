/* h2_cb.c - nghttp2 callbacks of the HTTP/2 mux: in server role request
 * streams are born here and their HEADERS become an HTTP/1.1 request head
 * (in client role response HEADERS go to h2_client.c); in both roles DATA
 * payloads are handed over in place, and frame events wake the streams
 * concerned. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "mux/h2_int.h"

/* Returns non-zero when the <nl> bytes at <n> spell the C string <s>. */
int h2_is(const uint8_t *n, size_t nl, const char *s)
{
	return nl == strlen(s) && memcmp(n, s, nl) == 0;
}

/* Returns the stream state attached to stream <id>, or NULL. */
static struct h2s *h2_stream(nghttp2_session *sess, int32_t id)
{
	return nghttp2_session_get_stream_user_data(sess, id);
}

/* Frees what the head being received of <s> had collected. */
void h2s_forget(struct h2s *s)
{
	struct h2c *c = s->c;

	h2_sb_free(c, &s->method);
	h2_sb_free(c, &s->path);
	h2_sb_free(c, &s->auth);
	h2_sb_free(c, &s->hdrs);
	h2_sb_free(c, &s->cookie);
}

/* Resets <s> with <code> and forgets what its head had collected; the
 * stream is freed when nghttp2 closes it. Returns 0 (a callback result). */
static int h2s_reject(struct h2s *s, uint32_t code)
{
	struct h2c *c = s->c;

	s->flags |= H2S_BAD;
	h2s_forget(s);
	if (nghttp2_submit_rst_stream(c->sess, NGHTTP2_FLAG_NONE, s->id, code) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* Server role: a client's HEADERS names stream <id>; a higher odd id
 * moves the window of recent streams whose resets are remembered. */
static void h2c_note_headers(struct h2c *c, int32_t id)
{
	uint32_t step;

	if (id <= c->hdr_last || !(id & 1))
		return;
	step = (uint32_t)(id - c->hdr_last) / 2;
	c->rst_bits = step >= 64 ? 0 : c->rst_bits << step;
	c->hdr_last = id;
}

/* Server role: we sent RST_STREAM on stream <id>; remembers it. */
static void h2c_note_reset(struct h2c *c, int32_t id)
{
	uint32_t back;

	if (id <= 0 || id > c->hdr_last || !(id & 1))
		return;  /* not a stream the client opened */
	back = (uint32_t)(c->hdr_last - id) / 2;
	if (back < 64) {
		c->rst_bits |= (uint64_t)1 << back;
		return;
	}
	c->rst_far[c->rst_next] = id;
	c->rst_next = (uint8_t)((c->rst_next + 1) % H2C_RST_FAR);
}

/* Returns non-zero when <c> remembers resetting stream <id> (<= hdr_last). */
static int h2c_was_reset(const struct h2c *c, int32_t id)
{
	uint32_t back = (uint32_t)(c->hdr_last - id) / 2;

	if (back < 64)
		return (int)((c->rst_bits >> back) & 1);
	for (unsigned i = 0; i < H2C_RST_FAR; i++)
		if (c->rst_far[i] == id)
			return 1;
	return 0;
}

/* Returns non-zero when a HEADERS frame on <id>, received in server role,
 * is a connection error: it would open a stream numerically lower than one
 * the client already opened (RFC 9113 5.1.1, PROTOCOL_ERROR; nghttp2 1.52
 * ignores such a frame silently), or it comes on a stream closed after the
 * client's END_STREAM (5.1, STREAM_CLOSED; nghttp2 forgets closed streams,
 * we ask it to, so that an idle connection keeps no stream state). A
 * HEADERS on a stream we reset is not: a client may send trailers before
 * it sees our RST_STREAM, and RFC 9113 5.1 asks us to ignore them, which
 * nghttp2 does for an id it does not know (the header block still goes
 * through the HPACK decoder; ignored DATA reopens the connection window).
 * A stream nghttp2 still knows is left to it (open ones, and idle ones a
 * PRIORITY named, which are an error). Known limit: the resets remembered
 * are those of the last 64 streams the client opened, plus the last
 * H2C_RST_FAR older ones: trailers racing the reset of a stream older than
 * that end the connection. */
static int h2_lower_stream_id(const struct h2c *c, nghttp2_session *sess, int32_t id)
{
	nghttp2_stream *st;

	if (id <= 0 || id > c->hdr_last)
		return 0;
	st = nghttp2_session_find_stream(sess, id);
	if (st)
		return nghttp2_stream_get_state(st) == NGHTTP2_STREAM_STATE_IDLE;
	return !(id & 1) || !h2c_was_reset(c, id);
}

/* Sees every frame header before nghttp2 handles the frame: bounds header
 * blocks (HEADERS plus its CONTINUATIONs may not exceed the header list
 * size we announced by more than a frame; HPACK never makes a block much
 * larger than the list it encodes) and, in server role, ends the session
 * with PROTOCOL_ERROR when a HEADERS opens a stream below the highest one
 * opened (h2c_recv_failed turns the failure into that GOAWAY). */
static int cb_begin_frame(nghttp2_session *sess, const nghttp2_frame_hd *hd, void *user)
{
	struct h2c *c = user;

	if (hd->type == NGHTTP2_HEADERS) {
		if (!(c->flags & H2C_CLIENT)) {
			if (h2_lower_stream_id(c, sess, hd->stream_id))
				return NGHTTP2_ERR_CALLBACK_FAILURE;
			h2c_note_headers(c, hd->stream_id);
		}
		c->hblock = hd->length;
	} else if (hd->type == NGHTTP2_CONTINUATION) {
		c->hblock += hd->length;
		if (c->hblock > (size_t)c->max_hdr_list + 16384) {
			c->flags |= H2C_CALM;
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
	}
	return 0;
}

/* A HEADERS starts: in server role a request one creates the stream
 * state; in client role a response head starts on its stream. */
static int cb_begin_headers(nghttp2_session *sess, const nghttp2_frame *frame, void *user)
{
	struct h2c *c = user;
	struct h2s *s;

	if (c->flags & H2C_CLIENT) {
		s = h2_stream(sess, frame->hd.stream_id);
		if (s && frame->hd.type == NGHTTP2_HEADERS && !(s->flags & (H2S_BAD | H2S_RX_FINAL)))
			h2s_resp_begin(s);
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = h2_mem_alloc(c, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->id = frame->hd.stream_id;
	s->ep.ops = &h2_ep_ops;
	s->meth = H1_M_OTHER;
	if (nghttp2_session_set_stream_user_data(sess, s->id, s) < 0) {
		h2_mem_free(c, s);
		return 0;
	}
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->nb_streams++;
	return 0;
}

/* Returns non-zero for the headers RFC 9113 8.2.2 forbids in HTTP/2. */
static int h2_conn_specific(const uint8_t *n, size_t nl)
{
	return h2_is(n, nl, "connection") || h2_is(n, nl, "keep-alive") ||
	       h2_is(n, nl, "proxy-connection") || h2_is(n, nl, "transfer-encoding") ||
	       h2_is(n, nl, "upgrade");
}

/* Stores one pseudo-header of <s>. Returns 0, or -1 for an unknown one. */
static int h2s_pseudo(struct h2s *s, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl)
{
	struct h2_sb *sb;

	if (h2_is(n, nl, ":method"))
		sb = &s->method;
	else if (h2_is(n, nl, ":path"))
		sb = &s->path;
	else if (h2_is(n, nl, ":authority"))
		sb = &s->auth;
	else if (h2_is(n, nl, ":scheme"))
		return 0;
	else
		return -1;
	if (sb->len)
		return -1;
	return h2_sb_add(s->c, sb, v, vl) < 0 ? -2 : 0;
}

/* One header field of a request: pseudo-headers are kept aside, regular
 * ones appended as HTTP/1.1 lines, cookies merged (RFC 9113 8.2.3).
 * Trailers are dropped. */
static int cb_header(nghttp2_session *sess, const nghttp2_frame *frame, const uint8_t *n,
		     size_t nl, const uint8_t *v, size_t vl, uint8_t flags, void *user)
{
	struct h2c *c = user;
	struct h2s *s = h2_stream(sess, frame->hd.stream_id);
	int rv = 0;

	if (s && (c->flags & H2C_CLIENT)) {
		if (frame->hd.type != NGHTTP2_HEADERS || (s->flags & (H2S_BAD | H2S_RX_INHEAD)) != H2S_RX_INHEAD)
			return 0;  /* trailers are dropped */
		s->hdr_bytes += nl + vl + 32;
		if (s->hdr_bytes > c->max_hdr_list)
			return h2s_reject(s, NGHTTP2_ENHANCE_YOUR_CALM);
		return h2s_resp_header(s, n, nl, v, vl) < 0 ? h2s_reject(s, NGHTTP2_INTERNAL_ERROR) : 0;
	}
	if (!s || frame->headers.cat != NGHTTP2_HCAT_REQUEST || (s->flags & (H2S_BAD | H2S_GIVEN)))
		return 0;
	s->hdr_bytes += nl + vl + 32;
	if (s->hdr_bytes > c->max_hdr_list)
		return h2s_reject(s, NGHTTP2_ENHANCE_YOUR_CALM);
	if (nl && n[0] == ':') {
		rv = h2s_pseudo(s, n, nl, v, vl);
		if (rv == -1)
			return h2s_reject(s, NGHTTP2_PROTOCOL_ERROR);
	} else if (h2_conn_specific(n, nl) || (h2_is(n, nl, "te") && !h2_is(v, vl, "trailers"))) {
		return h2s_reject(s, NGHTTP2_PROTOCOL_ERROR);
	} else if (h2_is(n, nl, "te")) {
		return 0;  /* "te: trailers" is hop-by-hop in HTTP/1.1 */
	} else if (h2_is(n, nl, "cookie")) {
		if (s->cookie.len)
			rv = h2_sb_add(c, &s->cookie, "; ", 2);
		if (!rv)
			rv = h2_sb_add(c, &s->cookie, v, vl);
	} else {
		if (h2_is(n, nl, "host")) {
			/* RFC 9113 8.3.1: a host that names another authority
			 * makes the request malformed; which of the two would
			 * route it is exactly what peers disagree on. Pseudo-
			 * headers come first (nghttp2 enforces it), so :authority
			 * is known here. */
			if (s->auth.len && (vl != s->auth.len || strncasecmp((const char *)v, s->auth.p, vl)))
				return h2s_reject(s, NGHTTP2_PROTOCOL_ERROR);
			s->flags |= H2S_HAS_HOST;
		} else if (h2_is(n, nl, "content-length"))
			s->flags |= H2S_HAS_CL;
		if (h2_sb_add(c, &s->hdrs, n, nl) || h2_sb_add(c, &s->hdrs, ": ", 2) ||
		    h2_sb_add(c, &s->hdrs, v, vl) || h2_sb_add(c, &s->hdrs, "\r\n", 2))
			rv = -1;
	}
	return rv ? h2s_reject(s, NGHTTP2_INTERNAL_ERROR) : 0;
}

/* Copies <n> bytes to <p>; returns the position after them. */
char *h2_put(char *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

/* Builds the HTTP/1.1 request head of <s> from what its HEADERS gave:
 * request line, Host from :authority (unless a host header exists), the
 * headers, and the body framing (the client's content-length, or chunked
 * when a body follows without one). Returns 0 or -1 (out of memory, or no
 * method/target). */
static int h2s_compose_head(struct h2s *s)
{
	struct h2c *c = s->c;
	struct h2_sb *target;
	int add_host, chunked;
	size_t len;
	char *p;

	if (!s->method.len)
		return -1;
	s->meth = h1_meth_lookup(s->method.p, s->method.len);
	target = s->meth == H1_M_CONNECT ? &s->auth : &s->path;
	if (!target->len)
		return -1;
	add_host = s->auth.len && !(s->flags & H2S_HAS_HOST);
	chunked = !(s->flags & (H2S_RX_EOS | H2S_HAS_CL));
	len = s->method.len + 1 + target->len + sizeof(" HTTP/1.1\r\n") - 1 +
	      (add_host ? sizeof("host: \r\n") - 1 + s->auth.len : 0) + s->hdrs.len +
	      (s->cookie.len ? sizeof("cookie: \r\n") - 1 + s->cookie.len : 0) +
	      (chunked ? sizeof("transfer-encoding: chunked\r\n") - 1 : 0) + 2;
	s->rx_head = h2_mem_alloc(c, len);
	if (!s->rx_head)
		return -1;
	p = h2_put(s->rx_head, s->method.p, s->method.len);
	p = h2_put(p, " ", 1);
	p = h2_put(p, target->p, target->len);
	p = h2_put(p, " HTTP/1.1\r\n", 11);
	if (add_host) {
		p = h2_put(p, "host: ", 6);
		p = h2_put(p, s->auth.p, s->auth.len);
		p = h2_put(p, "\r\n", 2);
	}
	if (s->hdrs.len)
		p = h2_put(p, s->hdrs.p, s->hdrs.len);
	if (s->cookie.len) {
		p = h2_put(p, "cookie: ", 8);
		p = h2_put(p, s->cookie.p, s->cookie.len);
		p = h2_put(p, "\r\n", 2);
	}
	if (chunked) {
		p = h2_put(p, "transfer-encoding: chunked\r\n", 28);
		s->flags |= H2S_RX_CHUNKED;
	}
	p = h2_put(p, "\r\n", 2);
	s->rx_head_len = (size_t)(p - s->rx_head);
	s->rx_head_off = 0;
	h2_sb_free(c, &s->method);
	h2_sb_free(c, &s->path);
	h2_sb_free(c, &s->auth);
	h2_sb_free(c, &s->hdrs);
	h2_sb_free(c, &s->cookie);
	return 0;
}

/* The request head is complete: composes it and hands the stream to the
 * engine, or refuses it. */
static int h2s_give(struct h2s *s)
{
	struct h2c *c = s->c;

	/* the target must be one the HTTP/1 side would accept too: the same
	 * grammar on both sides, or a :path could pass here that a request
	 * line may not carry */
	if (s->method.len && (s->meth = h1_meth_lookup(s->method.p, s->method.len)) != H1_M_CONNECT &&
	    !h1_target_ok(s->meth, s->path.p, s->path.len))
		return h2s_reject(s, NGHTTP2_PROTOCOL_ERROR);
	if (h2s_compose_head(s) < 0)
		return h2s_reject(s, NGHTTP2_INTERNAL_ERROR);
	s->ep.flags = h2c_ep_flags(c) | EP_WR_READY | EP_RD_READY;
	s->ep.owner = NULL;
	if (!c->cb.new_stream || c->cb.new_stream(c->cb_ctx, &s->ep) < 0)
		return h2s_reject(s, NGHTTP2_REFUSED_STREAM);
	s->flags |= H2S_GIVEN;
	c->nb_held++;
	c->st.streams_opened++;
	mux_ep_wake(&s->ep, SCHED_R_READ);
	return 0;
}

/* END_STREAM arrived for <s>: its stream may now receive the end. */
static void h2s_rx_eos(struct h2s *s)
{
	s->flags |= H2S_RX_EOS;
	if ((s->flags & (H2S_GIVEN | H2S_RELEASED)) == H2S_GIVEN) {
		s->ep.flags |= EP_RD_READY;
		mux_ep_wake(&s->ep, SCHED_R_READ);
	}
}

/* A whole frame was received. */
static int cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *frame, void *user)
{
	struct h2c *c = user;
	struct h2s *s;
	int eos = !!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM);

	c->st.frames_in++;
	if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)
		c->st.stream_frames_in++;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		s = h2_stream(sess, frame->hd.stream_id);
		if (!s || (s->flags & H2S_BAD))
			break;
		if (s->flags & H2S_RX_INHEAD) {
			if (h2s_resp_head_done(s, eos) < 0)
				return h2s_reject(s, NGHTTP2_INTERNAL_ERROR);
		} else if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && !(s->flags & H2S_GIVEN)) {
			if (eos)
				s->flags |= H2S_RX_EOS;
			return h2s_give(s);
		}
		if (eos)
			h2s_rx_eos(s);
		break;
	case NGHTTP2_DATA:
		s = h2_stream(sess, frame->hd.stream_id);
		if (s && eos)
			h2s_rx_eos(s);
		break;
	case NGHTTP2_WINDOW_UPDATE:
		if (frame->hd.stream_id == 0) {
			h2c_wake_tx_all(c);
		} else {
			s = h2_stream(sess, frame->hd.stream_id);
			if (s)
				h2s_wake_tx(s);
		}
		break;
	case NGHTTP2_SETTINGS:
		if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
			h2c_wake_tx_all(c);  /* the initial window may have grown */
		break;
	case NGHTTP2_GOAWAY:
		c->st.goaway_recv++;
		if (c->flags & H2C_CLIENT)
			h2c_goaway_received(c);
		break;
	case NGHTTP2_RST_STREAM:
		c->st.streams_reset++;
		break;
	default:
		break;
	}
	return 0;
}

/* A piece of DATA payload: it stays where it is (in the demux buffer) and
 * the demux pauses until the stream took it, or for one turn at most, after
 * which h2c_recv stashes it; payload behind a stash joins it at once. The
 * stream window reopens only for bytes the stream took. Payload for a
 * stream nobody reads, or for a response that cannot have a body, is
 * dropped and its window reopened. */
static int cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	struct h2c *c = user;
	struct h2s *s = h2_stream(sess, id);

	if (!s || (s->flags & (H2S_GIVEN | H2S_RELEASED | H2S_BAD | H2S_RX_NOBODY)) != H2S_GIVEN) {
		(void)nghttp2_session_consume(sess, id, len);
		return 0;
	}
	if (!len)
		return 0;
	if (s->rx_stash.len > s->rx_stash_off) {
		/* older bytes of this stream wait in its stash: these go behind */
		if (h2s_rx_stash(s, data, len) < 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		s->ep.flags |= EP_RD_READY;
		mux_ep_wake(&s->ep, SCHED_R_READ);
		return 0;
	}
	c->rx_s = s;
	c->rx_ptr = data;
	c->rx_len = len;
	s->ep.flags |= EP_RD_READY;
	mux_ep_wake(&s->ep, SCHED_R_READ);
	return NGHTTP2_ERR_PAUSE;
}

/* nghttp2 closed a stream: free it if the engine is done with it, else tell
 * the engine when it did not end normally. */
static int cb_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *user)
{
	struct h2c *c = user;
	struct h2s *s = h2_stream(sess, id);

	if (!s)
		return 0;
	h2s_closed(s);
	if (c->rx_s == s)
		h2c_rx_drop(c);
	if ((s->flags & (H2S_GIVEN | H2S_RELEASED)) != H2S_GIVEN) {
		h2s_unlink_free(s);
		return 0;
	}
	if ((s->flags & (H2S_TX_DONE | H2S_RX_EOS)) != (H2S_TX_DONE | H2S_RX_EOS))
		h2s_set_error(s);
	return 0;
}

/* Counts what we sent; in server role, after the END_STREAM of a released
 * stream whose request body is still coming, asks the client to stop
 * sending it; in client role, a request body may follow once its HEADERS
 * left (they may have waited for a free stream slot). */
static int cb_frame_send(nghttp2_session *sess, const nghttp2_frame *frame, void *user)
{
	struct h2c *c = user;
	struct h2s *s;

	c->st.frames_out++;
	if (frame->hd.type == NGHTTP2_HEADERS && (c->flags & H2C_CLIENT) &&
	    (s = h2_stream(sess, frame->hd.stream_id)) != NULL)
		(void)h2s_wake_tx(s);
	if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
	    (s = h2_stream(sess, frame->hd.stream_id)) != NULL) {
		s->flags |= H2S_TX_ENDSENT;
		if ((s->flags & (H2S_RELEASED | H2S_RX_EOS | H2S_CLOSED)) == H2S_RELEASED &&
		    !(c->flags & H2C_CLIENT))
			(void)nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	}
	if (frame->hd.type == NGHTTP2_GOAWAY)
		c->st.goaway_sent++;
	else if (frame->hd.type == NGHTTP2_RST_STREAM) {
		c->st.streams_reset++;
		if (!(c->flags & H2C_CLIENT))
			h2c_note_reset(c, frame->hd.stream_id);
	}
	return 0;
}

void h2_cb_setup(nghttp2_session_callbacks *cbs)
{
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, cb_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, cb_frame_send);
	nghttp2_session_callbacks_set_send_data_callback(cbs, h2s_send_data);
}

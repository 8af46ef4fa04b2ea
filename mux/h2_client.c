/* h2_client.c - the client role of the HTTP/2 mux: request streams opened
 * by the engine, the HTTP/1.1 request head they send turned into HEADERS,
 * the response HEADERS turned back into an HTTP/1.1 response head, and the
 * connection's connect / GOAWAY / stream-slot bookkeeping. Bodies go
 * through the same paths as in server role (h2_ep.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "mux/h2_int.h"

/* Returns non-zero when no new request stream may start on <c>: it drains
 * or ends, or is about to (an error cause or an abort is pending). */
static int h2c_no_new(const struct h2c *c)
{
	return c->state >= H2C_DRAINING ||
	       (c->flags & (H2C_CALM | H2C_ABORT_REQ | H2C_FATAL | H2C_SOCK_ERR | H2C_RD_EOF));
}

/* ---- connection ---- */

unsigned h2c_open_room(const struct h2c *c)
{
	uint32_t max;

	if (!(c->flags & H2C_CLIENT) || h2c_no_new(c) || !c->sess)
		return 0;
	max = nghttp2_session_get_remote_settings(c->sess, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	return max > c->nb_open ? max - c->nb_open : 0;
}

unsigned h2c_nb_streams(const struct h2c *c)
{
	return c->nb_held;
}

struct mux_ep *h2c_open_stream(struct h2c *c)
{
	struct h2s *s;

	if (!(c->flags & H2C_CLIENT)) {
		errno = EINVAL;
		return NULL;
	}
	if (h2c_no_new(c)) {
		errno = ENOTCONN;
		return NULL;
	}
	if (!h2c_open_room(c)) {
		errno = EAGAIN;
		return NULL;
	}
	s = h2_mem_alloc(c, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->ep.ops = &h2_ep_ops;
	s->ep.flags = h2c_ep_flags(c) | ((c->flags & H2C_SOCK_PENDING) ? EP_CONNECTING : EP_WR_READY);
	s->meth = H1_M_OTHER;
	s->flags = H2S_GIVEN | H2S_SLOT;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->nb_streams++;
	c->nb_open++;
	c->nb_held++;
	c->st.streams_opened++;
	return &s->ep;
}

/* connect() succeeded: streams opened meanwhile may send. */
void h2c_connected(struct h2c *c)
{
	struct h2s *s;

	for (s = c->streams; s; s = s->next) {
		if (!(s->ep.flags & EP_CONNECTING))
			continue;
		s->ep.flags = (s->ep.flags & ~EP_CONNECTING) | EP_WR_READY;
		mux_ep_wake(&s->ep, SCHED_R_WRITE);
	}
}

/* The server sent GOAWAY: no new stream. Those nghttp2 knows and the
 * server will not process are closed by nghttp2 itself (REFUSED_STREAM);
 * those whose request did not start yet fail here. */
void h2c_goaway_received(struct h2c *c)
{
	struct h2s *s;

	h2c_advance(c, H2C_DRAINING);
	for (s = c->streams; s; s = s->next)
		if (!s->id)
			h2s_set_error(s);
}

/* nghttp2 is done with <s> (or it never reached nghttp2): it no longer
 * takes one of the server's stream slots. */
void h2s_closed(struct h2s *s)
{
	s->flags |= H2S_CLOSED;
	if (s->flags & H2S_SLOT) {
		s->flags &= ~H2S_SLOT;
		s->c->nb_open--;
	}
}

/* ---- request head: HTTP/1.1 to HEADERS ---- */

/* Returns non-zero when the <nl> bytes at <n> are the header name <name>,
 * in any case. */
static int h2_name_is(const char *n, size_t nl, const char *name)
{
	return strlen(name) == nl && strncasecmp(n, name, nl) == 0;
}

/* Returns non-zero when a Connection header of <m> (at <area>) names the
 * header <n>/<nl>: such a header is hop-by-hop. */
static int h2_conn_names(const struct h1_msg *m, const char *area, const char *n, size_t nl)
{
	int i;

	for (i = h1_find_hdr(m, area, "connection", 0); i >= 0;
	     i = h1_find_hdr(m, area, "connection", i + 1)) {
		const char *v = area + m->hdrs[i].value.ofs;
		const char *end = v + m->hdrs[i].value.len;

		while (v < end) {
			const char *tok;

			while (v < end && (*v == ',' || *v == ' ' || *v == '\t'))
				v++;
			tok = v;
			while (v < end && *v != ',' && *v != ' ' && *v != '\t')
				v++;
			if ((size_t)(v - tok) == nl && strncasecmp(tok, n, nl) == 0)
				return 1;
		}
	}
	return 0;
}

/* The parts of a request target in HTTP/2 terms. */
struct h2_target {
	const char *auth, *path;
	size_t auth_len, path_len;
	int path_needs_slash;    /* the path starts with '?': a '/' goes in front */
};

/* Splits the request target <uri>/<len> of a <meth> request: origin-form
 * is the path; "*" only for OPTIONS; absolute-form gives the authority
 * (without user info) and the path ("/" when empty). Returns 0, or -1 for
 * a target HTTP/2 cannot carry. */
static int h2_split_target(enum h1_meth meth, const char *uri, size_t len, struct h2_target *t)
{
	const char *p, *end = uri + len, *a, *at;

	memset(t, 0, sizeof(*t));
	if (!len)
		return -1;
	if (uri[0] == '/') {
		t->path = uri;
		t->path_len = len;
		return 0;
	}
	if (len == 1 && uri[0] == '*') {
		if (meth != H1_M_OPTIONS)
			return -1;
		t->path = uri;
		t->path_len = 1;
		return 0;
	}
	p = memchr(uri, ':', len);
	if (!p || end - p < 3 || p[1] != '/' || p[2] != '/')
		return -1;
	a = p + 3;
	for (p = a; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
		;
	for (at = p; at > a && at[-1] != '@'; at--)
		;
	t->auth = at;
	t->auth_len = (size_t)(p - at);
	if (p < end && *p == '#')
		p = end;  /* a fragment is not sent */
	if (p == end) {
		t->path = "/";
		t->path_len = 1;
	} else {
		const char *hash = memchr(p, '#', (size_t)(end - p));

		t->path = p;
		t->path_len = (size_t)((hash ? hash : end) - p);
		t->path_needs_slash = *p == '?';
	}
	return 0;
}

#define H2_NV(n, nl, v, vl) \
	((nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE })

/* Appends to <nva> the headers of <m> (at <area>) that HTTP/2 carries:
 * names lowercased in place; Host (it became :authority), Connection and
 * the headers it names, and the other hop-by-hop ones dropped; TE kept
 * only as "te: trailers". Returns the new count. */
static size_t h2_req_fields(const struct h1_msg *m, char *area, nghttp2_nv *nva, size_t nb)
{
	unsigned i;

	for (i = 0; i < m->nb_hdrs; i++) {
		char *n = area + m->hdrs[i].name.ofs;
		char *v = area + m->hdrs[i].value.ofs;
		size_t nl = m->hdrs[i].name.len, vl = m->hdrs[i].value.len;

		if (h2_name_is(n, nl, "te")) {
			if (h2_name_is(v, vl, "trailers"))
				nva[nb++] = H2_NV("te", 2, "trailers", 8);
			continue;
		}
		if (h2_name_is(n, nl, "host") || h2_hop_by_hop(n, nl))
			continue;
		if (!h2_name_is(n, nl, "content-length") && h2_conn_names(m, area, n, nl))
			continue;
		h2_lower(n, nl);
		nva[nb++] = H2_NV(n, nl, v, vl);
	}
	return nb;
}

/* Submits the request head <m> found at <area> for <s>: pseudo-headers
 * from the request line and Host, then the end-to-end headers; the body
 * follows per the HTTP/1.1 framing of the head. CONNECT is refused.
 * Returns 0 or -1. */
int h2s_submit_request(struct h2s *s, struct h1_msg *m, char *area)
{
	struct h2c *c = s->c;
	nghttp2_nv nva[H1_MAX_HDRS + 4];
	struct h2_target t;
	struct h2_sb path = { 0 };
	struct h1_body body;
	size_t nb = 0;
	int host, rv;

	if (m->meth == H1_M_CONNECT || h1_body_init(&body, m, m->meth) < 0 ||
	    h2_split_target(m->meth, area + m->uri.ofs, m->uri.len, &t) < 0)
		return -1;
	s->meth = m->meth;
	if (!t.auth && (host = h1_find_hdr(m, area, "host", 0)) >= 0) {
		t.auth = area + m->hdrs[host].value.ofs;
		t.auth_len = m->hdrs[host].value.len;
	}
	if (t.path_needs_slash) {
		if (h2_sb_add(c, &path, "/", 1) < 0 || h2_sb_add(c, &path, t.path, t.path_len) < 0) {
			h2_sb_free(c, &path);
			return -1;
		}
		t.path = path.p;
		t.path_len = path.len;
	}
	nva[nb++] = H2_NV(":method", 7, area + m->method.ofs, m->method.len);
	nva[nb++] = H2_NV(":scheme", 7, "http", 4);
	if (t.auth_len)
		nva[nb++] = H2_NV(":authority", 10, t.auth, t.auth_len);
	nva[nb++] = H2_NV(":path", 5, t.path, t.path_len);
	nb = h2_req_fields(m, area, nva, nb);
	rv = h2s_submit_msg(s, nva, nb, &body, m->content_length);  /* nghttp2 copies nva */
	h2_sb_free(c, &path);
	return rv;
}

/* ---- response head: HEADERS to HTTP/1.1 ---- */

/* A response head block starts on <s> (an interim or the final one). */
void h2s_resp_begin(struct h2s *s)
{
	s->flags = (s->flags | H2S_RX_INHEAD) & ~H2S_HAS_CL;
	s->status = 0;
	s->hdr_bytes = 0;
	h2_sb_free(s->c, &s->hdrs);
}

/* One field of a response head of <s>: :status kept aside, the others
 * appended as HTTP/1.1 lines with their names as received (nghttp2 has
 * checked them: lowercase, no connection-specific ones). Returns 0, or -1
 * when out of memory. */
int h2s_resp_header(struct h2s *s, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl)
{
	struct h2c *c = s->c;

	if (nl && n[0] == ':') {
		if (h2_is(n, nl, ":status") && vl == 3)
			s->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
		return 0;
	}
	if (h2_is(n, nl, "content-length"))
		s->flags |= H2S_HAS_CL;
	if (h2_sb_add(c, &s->hdrs, n, nl) || h2_sb_add(c, &s->hdrs, ": ", 2) ||
	    h2_sb_add(c, &s->hdrs, v, vl) || h2_sb_add(c, &s->hdrs, "\r\n", 2))
		return -1;
	return 0;
}

/* Returns the framing header the HTTP/1.1 response head of <s> needs (""
 * for none): its content-length is kept; without one, a body is given
 * chunk-framed, or announced empty when END_STREAM came with the head
 * (<eos>). A response that cannot have a body gets none. Sets the
 * receiving flags to match. */
static const char *h2s_resp_framing(struct h2s *s, int eos)
{
	if (s->status < 200)
		return "";
	s->flags |= H2S_RX_FINAL;
	if (s->meth == H1_M_HEAD || s->status == 204 || s->status == 304) {
		s->flags |= H2S_RX_NOBODY;
		return "";
	}
	if (s->flags & H2S_HAS_CL)
		return "";
	if (eos)
		return "content-length: 0\r\n";
	s->flags |= H2S_RX_CHUNKED;
	return "transfer-encoding: chunked\r\n";
}

/* A response head block of <s> ended (<eos>: END_STREAM came with it):
 * appends its HTTP/1.1 form to what the stream has not taken yet (an
 * interim 1xx head may still be there) and makes it readable. Returns 0,
 * or -1 (out of memory, bad status). */
int h2s_resp_head_done(struct h2s *s, int eos)
{
	struct h2c *c = s->c;
	size_t left = s->rx_head ? s->rx_head_len - s->rx_head_off : 0;
	const char *framing;
	char line[64];
	size_t ll, len;
	char *head, *p;

	s->flags &= ~H2S_RX_INHEAD;
	if (s->status < 100 || s->status > 999 || s->status == 101)
		return -1;
	framing = h2s_resp_framing(s, eos);
	ll = (size_t)snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", s->status, h1_reason(s->status));
	if (ll >= sizeof(line))
		return -1;
	len = left + ll + s->hdrs.len + strlen(framing) + 2;
	head = h2_mem_alloc(c, len);
	if (!head)
		return -1;
	p = head;
	if (left)
		p = h2_put(p, s->rx_head + s->rx_head_off, left);
	p = h2_put(p, line, ll);
	if (s->hdrs.len)
		p = h2_put(p, s->hdrs.p, s->hdrs.len);
	p = h2_put(p, framing, strlen(framing));
	(void)h2_put(p, "\r\n", 2);
	h2_mem_free(c, s->rx_head);
	h2_sb_free(c, &s->hdrs);
	s->rx_head = head;
	s->rx_head_len = len;
	s->rx_head_off = 0;
	if ((s->flags & (H2S_GIVEN | H2S_RELEASED)) == H2S_GIVEN) {
		s->ep.flags |= EP_RD_READY;
		mux_ep_wake(&s->ep, SCHED_R_READ);
	}
	return 0;
}

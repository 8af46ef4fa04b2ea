/* stats_applet.c - the stats page as an applet: a stream endpoint served
 * by code instead of a server.
 *
 * It renders one piece of the page at a time into the stream's response
 * buffer, which it takes at response level; when the pool refuses, it
 * waits for a hand-off like any receiver and resumes then. It never
 * spins and never blocks its thread.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "engine/client/stream_int.h"

/* Returns the length of path <path> when the URI at u[0..len) is that
 * path, alone or followed by a query ('?') or HAProxy's ';' options; else 0. */
static size_t stats_path_is(const char *path, const char *u, size_t len)
{
	size_t n = path ? strlen(path) : 0;

	if (!n || len < n || memcmp(u, path, n) != 0)
		return 0;
	return (len == n || u[n] == '?' || u[n] == ';') ? n : 0;
}

/* Returns non-zero when the value of header <name> of <m> contains <word>. */
static int stats_hdr_has(const struct h1_msg *m, const char *base, const char *name, const char *word)
{
	size_t wl = strlen(word);

	for (int i = h1_find_hdr(m, base, name, 0); i >= 0; i = h1_find_hdr(m, base, name, i + 1)) {
		const char *v = base + m->hdrs[i].value.ofs;
		size_t vl = m->hdrs[i].value.len;

		for (size_t k = 0; k + wl <= vl; k++)
			if (strncasecmp(v + k, word, wl) == 0)
				return 1;
	}
	return 0;
}

/* Returns non-zero when the request carries one of the Authorization
 * values `stats auth` accepts (whole values: "Basic" and the base64 of
 * USER:PASS, compared without decoding anything). */
static int stats_auth_ok(const struct cfg_frontend *fc, const struct h1_msg *m, const char *base)
{
	int i = h1_find_hdr(m, base, "authorization", 0);
	const char *v, *line;
	size_t vl;

	if (i < 0)
		return 0;
	v = base + m->hdrs[i].value.ofs;
	vl = m->hdrs[i].value.len;
	for (line = fc->stats_auth; *line; ) {
		const char *end = strchr(line, '\n');
		size_t ll = end ? (size_t)(end - line) : strlen(line);

		/* the scheme is case-insensitive, the credentials are not */
		if (ll == vl && strncasecmp(v, line, 6) == 0 && memcmp(v + 6, line + 6, ll - 6) == 0)
			return 1;
		if (!end)
			break;
		line = end + 1;
	}
	return 0;
}

enum statspage_fmt stream_stats_prom_fmt(const struct h1_msg *m, const char *base)
{
	struct statspage_accept acc = { -1, -1 };

	for (int i = h1_find_hdr(m, base, "accept", 0); i >= 0; i = h1_find_hdr(m, base, "accept", i + 1))
		statspage_accept_scan(base + m->hdrs[i].value.ofs, m->hdrs[i].value.len, &acc);
	/* OpenMetrics when asked for and not weighed below the text format;
	 * text 0.0.4 otherwise, which every Prometheus reads */
	return acc.q_om > 0 && acc.q_om >= acc.q_text ? STATSPAGE_OPENMETRICS : STATSPAGE_PROM;
}

enum stats_match stream_stats_match(struct stream *s, const struct h1_msg *m, const char *base)
{
	const struct cfg_frontend *fc = s->fe->cfg;
	const char *u = base + m->uri.ofs;
	int post = 0;
	size_t n;

	s->stats_admin = 0;
	s->stats_post = STATS_POST_NONE;
	if (!fc->stats_enabled)
		return STATS_NONE;
	if (stats_path_is(fc->stats_prom_uri, u, m->uri.len)) {
		s->stats_fmt = stream_stats_prom_fmt(m, base);
	} else if ((n = stats_path_is(fc->stats_uri, u, m->uri.len))) {
		enum statspage_fmt dflt = stats_hdr_has(m, base, "accept", "application/json") ?
					  STATSPAGE_JSON : STATSPAGE_HTML;

		s->stats_fmt = statspage_fmt_parse(u + n, m->uri.len - n, dflt);
		if (s->stats_fmt == STATSPAGE_PROM)
			s->stats_fmt = stream_stats_prom_fmt(m, base);
		post = m->meth == H1_M_POST;
		/* the page a POST redirected to says what it did */
		s->stats_shown = post ? STATS_POST_NONE : stats_post_parse_name(u + n, m->uri.len - n);
	} else {
		return STATS_NONE;
	}
	if (fc->stats_auth && !stats_auth_ok(fc, m, base))
		return STATS_DENIED;
	s->stats_admin = stats_admin_allowed(s, m, base);
	if (post) {
		/* the head is at the start of the request buffer, its body
		 * (whole: stream_stats_body_pending()) right after it */
		if (!s->stats_admin)
			return STATS_FORBIDDEN;
		s->stats_post = stream_stats_post(s, m, base, b_data(&s->req.buf));
	}
	return STATS_PAGE;
}

/* Takes the snapshot of a stats request. It is taken before the first
 * buffer of its answer, so that a quiet proxy shows 0 buffers in use.
 * Returns 0, or -1 without memory. */
int stream_stats_render(struct stream *s)
{
	if (s->stats_post)
		return 0; /* a redirect: no page */
	if (!s->sp) {
		s->sp = statspage_collect(s->tc->eng, s->fe->cfg->stats_refresh_ms / 1000);
		/* only the HTML page draws the charts */
		if (s->sp && s->stats_fmt == STATSPAGE_HTML) {
			statspage_collect_points(s->tc->eng, s->sp);
			s->sp->admin = s->stats_admin;
			s->sp->uri = s->fe->cfg->stats_uri;
			s->sp->admin_result = stats_post_name(s->stats_shown);
		}
	}
	return s->sp ? 0 : -1;
}

/* Room kept in a buffer for a chunk's framing: an 8-digit size line, the
 * CRLF after the data and the last chunk. */
#define STATS_FRAMING 24

/* The stats applet: renders the next piece of the page at the tail of the
 * response buffer (which holds only bytes to forward), as one chunk for
 * HTTP/1.1 or raw for a close-delimited HTTP/1.0 answer, and ends the
 * message after the last piece. Returns 1 if it added bytes, 0 when it has
 * nothing to do or waits for a buffer. */
int stream_stats_fill(struct stream *s)
{
	struct buf *b = &s->res.buf;
	size_t start, n, len;
	int chunked = s->req_version >= 11;

	if (!s->sp || s->res.fwd != b_data(b) || (s->res.fwd && b->head))
		return 0;
	if (!chan_get_buf(s, &s->res))
		return 0;
	if (b_empty(b))
		b_reset(b);
	start = b_data(b);
	if (b->size - start <= STATS_FRAMING)
		return 0;
	if (chunked) {
		char line[24];

		n = statspage_render(s->stats_fmt, s->sp, &s->sp_cur, b->area + start + 10,
				     b->size - start - STATS_FRAMING);
		len = 0;
		if (n) {
			/* a zero-padded size: the line's width is known before the data */
			snprintf(line, sizeof(line), "%08zx\r\n", n);
			memcpy(b->area + start, line, 10);
			memcpy(b->area + start + 10 + n, "\r\n", 2);
			len = n + 12;
		}
		if (s->sp_cur.done) {
			memcpy(b->area + start + len, "0\r\n\r\n", 5);
			len += 5;
		}
	} else {
		len = statspage_render(s->stats_fmt, s->sp, &s->sp_cur, b->area + start, b->size - start);
	}
	b->data = start + len;
	s->res.fwd = b->data;
	s->moved += len;
	if (s->sp_cur.done) {
		statspage_free(s->sp);
		s->sp = NULL;
		s->res.st = CH_DONE;
	}
	return len != 0;
}

/* Lets the <hlen> bytes of head just written into the response buffer
 * leave, moves the response to <next> and counts the answer as <status>. */
static void stats_head_written(struct stream *s, size_t hlen, enum ch_state next, int status)
{
	b_add(&s->res.buf, hlen);
	s->res.fwd = hlen;
	s->res.st = next;
	s->rsp_started = 1;
	s->log_status = status;
	CNT_INC(s->tc, rsp_by_class[status / 100]);
}

/* Writes the head of the stats answer into the response buffer that
 * stream_reply() obtained, and the first piece of the page. Returns 0. */
int stream_stats_answer(struct stream *s)
{
	int hlen;

	if (s->stats_post) {
		/* an admin POST: back to the page, which shows the result;
		 * the connection closes (its body is not read past the form) */
		s->cli_close = 1;
		b_reset(&s->res.buf);
		hlen = snprintf(b_tail(&s->res.buf), b_room(&s->res.buf),
				"HTTP/1.%d 303 See Other\r\nLocation: %s;st=%s\r\nContent-Length: 0\r\n"
				"Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
				s->req_version >= 11, s->fe->cfg->stats_uri, stats_post_name(s->stats_post));
		if (hlen < 0 || (size_t)hlen >= b_room(&s->res.buf))
			return -1;
		stats_head_written(s, (size_t)hlen, CH_DONE, 303);
		return 0;
	}

	if (s->req_version < 11)
		s->cli_close = 1; /* the page ends with the connection */
	b_reset(&s->res.buf);
	hlen = snprintf(b_tail(&s->res.buf), b_room(&s->res.buf),
			"HTTP/1.%d 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n%s%s\r\n",
			s->req_version >= 11, statspage_content_type(s->stats_fmt),
			s->req_version >= 11 ? "Transfer-Encoding: chunked\r\n" : "",
			s->cli_close ? "Connection: close\r\n" : "");
	stats_head_written(s, (size_t)hlen, CH_BODY, 200);
	(void)stream_stats_fill(s);
	return 0;
}

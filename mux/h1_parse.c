/* h1_parse.c - HTTP/1.x message head parser (RFC 9112).
 *
 * One pass over the bytes: the start line, then one header line at a time,
 * each checked against the byte classes of h1_int.h. The headers that decide
 * framing and connection reuse (Content-Length, Transfer-Encoding,
 * Connection, Host, Expect, Upgrade) are interpreted as they are met; rules
 * that need the whole head (CL against TE, Host required) run at the end.
 * A head that stops short is parsed again from the start on the next call:
 * heads are small, and h1_head_end() spares the work until one is complete.
 */
#include <string.h>
#include "mux/h1.h"
#include "mux/h1_int.h"

/* Byte classes, indexed by byte value; see H1_C_* in h1_int.h. */
const uint8_t h1_ctype[256] = {
	/* 0x00 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 0x10 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 0x20 */ 0x12, 0x07, 0x06, 0x03, 0x07, 0x07, 0x07, 0x07, 0x06, 0x06, 0x07, 0x07, 0x06, 0x07, 0x07, 0x06,
	/* 0x30 */ 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	/* 0x40 */ 0x06, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	/* 0x50 */ 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x06, 0x06, 0x06, 0x07, 0x07,
	/* 0x60 */ 0x07, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	/* 0x70 */ 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x06, 0x07, 0x06, 0x07, 0x00,
	/* 0x80 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	/* 0x90 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	/* 0xa0 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	/* 0xb0 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	/* 0xc0 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	/* 0xd0 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	/* 0xe0 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	/* 0xf0 */ 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
};

/* State of one parse; everything here lives for a single call. */
struct h1_parser {
	const char *p;
	uint32_t end;             /* bytes this parse may look at */
	struct h1_msg *m;
	int in_start_line;        /* a missing line end here means 414, not 431 */
	unsigned hosts;
	int clen_seen;
	int te_chunked;           /* "chunked" met in Transfer-Encoding */
	int upgrade_hdr;          /* an Upgrade header is present */
	int conn_upgrade;         /* Connection lists "upgrade" */
	int expect_100;
};

/* Records where and why the parse failed. Returns <err>. */
static int h1_fail(struct h1_parser *ps, uint32_t ofs, int err)
{
	ps->m->err_ofs = ofs;
	return err;
}

/* Expects a line end at p[i]: CRLF or a bare LF. Returns the offset after
 * it, H1_NEED_MORE when the data stops inside it, or H1_ERR_BAD. */
static int h1_eol(struct h1_parser *ps, uint32_t i)
{
	if (i >= ps->end)
		return H1_NEED_MORE;
	if (ps->p[i] == '\n')
		return (int)i + 1;
	if (ps->p[i] == '\r') {
		if (i + 1 >= ps->end)
			return H1_NEED_MORE;
		if (ps->p[i + 1] == '\n')
			return (int)i + 2;
		return h1_fail(ps, i + 1, H1_ERR_BAD);
	}
	return h1_fail(ps, i, H1_ERR_BAD);
}

/* Returns the span of bytes [ofs, end). */
static inline struct h1_span h1_span_of(uint32_t ofs, uint32_t end)
{
	return (struct h1_span){ .ofs = ofs, .len = end - ofs };
}

/* Parses "HTTP/x.y" at p[i]. Returns the offset after it and sets
 * m->version, or H1_NEED_MORE, H1_ERR_BAD, or H1_ERR_NOT_IMPL for a
 * well-formed version this parser does not speak. HTTP/1.2 and later minor
 * versions are handled as 1.1, as RFC 9110 section 2.5 asks. */
static int h1_parse_version(struct h1_parser *ps, uint32_t i)
{
	static const char prefix[] = "HTTP/";
	const char *p = ps->p;
	uint32_t k;

	/* check what has arrived so that junk fails before the line ends */
	for (k = 0; k < 5 && i + k < ps->end; k++)
		if (p[i + k] != prefix[k])
			return h1_fail(ps, i + k, H1_ERR_BAD);
	if (ps->end - i < 8)
		return H1_NEED_MORE;
	if ((unsigned)(p[i + 5] - '0') > 9 || p[i + 6] != '.' || (unsigned)(p[i + 7] - '0') > 9)
		return h1_fail(ps, i + 5, H1_ERR_BAD);
	if (p[i + 5] != '1') {
		ps->m->err_status = ps->m->is_request ? 505 : 502;
		return h1_fail(ps, i + 5, H1_ERR_NOT_IMPL);
	}
	ps->m->version = p[i + 7] == '0' ? 10 : 11;
	return (int)i + 8;
}

/* Returns non-zero when the request target t[0..len) has a form its method
 * allows (RFC 9112 3.2): origin-form ("/path?query") for every method,
 * absolute-form ("scheme://authority/...") too, authority-form
 * ("host:port") only for CONNECT, asterisk-form ("*") only for OPTIONS.
 * Anything else would be read differently by the next hop. */
static int h1_target_form_ok(struct h1_msg *m, const char *t, size_t len)
{
	size_t i = 0;

	if (t[0] == '/')
		return 1;
	if (len == 1 && t[0] == '*')
		return m->meth == H1_M_OPTIONS;
	if (m->meth == H1_M_CONNECT)
		return 1;
	/* a scheme: a letter, then letters, digits, '+', '-' or '.' */
	while (i < len && ((unsigned)((t[i] | 0x20) - 'a') < 26u || (unsigned)(t[i] - '0') < 10u ||
			   t[i] == '+' || t[i] == '-' || t[i] == '.'))
		i++;
	if (!i || (unsigned)((t[0] | 0x20) - 'a') >= 26u || len - i <= 3 ||
	    memcmp(t + i, "://", 3) != 0 || t[i + 3] == '/')
		return 0;
	m->flags |= H1_F_ABS_FORM;
	return 1;
}

/* Parses "method SP request-target SP HTTP-version EOL" at p[i]. Returns the
 * offset of the first header line, H1_NEED_MORE, or an error. */
static int h1_parse_request_line(struct h1_parser *ps, uint32_t i)
{
	const char *p = ps->p;
	struct h1_msg *m = ps->m;
	uint32_t start = i;
	int r;

	while (i < ps->end && h1_is(p[i], H1_C_TCHAR))
		i++;
	if (i == ps->end)
		return H1_NEED_MORE;
	if (i == start || p[i] != ' ')
		return h1_fail(ps, i, H1_ERR_BAD);
	m->method = h1_span_of(start, i);
	m->meth = h1_meth_lookup(p + start, i - start);

	start = ++i;
	i = h1_skip_uri_words(p, i, ps->end);
	while (i < ps->end && h1_is(p[i], H1_C_URI))
		i++;
	if (i == ps->end)
		return H1_NEED_MORE;
	if (i == start || p[i] != ' ')
		return h1_fail(ps, i, H1_ERR_BAD);
	m->uri = h1_span_of(start, i);
	if (!h1_target_form_ok(m, p + start, i - start))
		return h1_fail(ps, start, H1_ERR_BAD);

	r = h1_parse_version(ps, i + 1);
	if (r <= 0)
		return r;
	return h1_eol(ps, (uint32_t)r);
}

/* Parses "HTTP-version SP 3DIGIT [SP reason] EOL" at p[i]. A status line
 * without the space before an empty reason is accepted. Returns the offset
 * of the first header line, H1_NEED_MORE, or an error. */
static int h1_parse_status_line(struct h1_parser *ps, uint32_t i)
{
	const char *p = ps->p;
	struct h1_msg *m = ps->m;
	uint32_t start;
	int r, k, status = 0;

	r = h1_parse_version(ps, i);
	if (r <= 0)
		return r;
	i = (uint32_t)r;
	if (i >= ps->end)
		return H1_NEED_MORE;
	if (p[i] != ' ')
		return h1_fail(ps, i, H1_ERR_BAD);
	i++;
	for (k = 0; k < 3; k++, i++) {
		if (i >= ps->end)
			return H1_NEED_MORE;
		if ((unsigned)(p[i] - '0') > 9)
			return h1_fail(ps, i, H1_ERR_BAD);
		status = status * 10 + (p[i] - '0');
	}
	if (status < 100 || status > 599)
		return h1_fail(ps, i - 3, H1_ERR_BAD);
	m->status = status;
	m->reason = h1_span_of(i, i);
	if (i >= ps->end)
		return H1_NEED_MORE;
	if (p[i] == ' ') {
		start = ++i;
		while (i < ps->end && h1_is(p[i], H1_C_VALUE))
			i++;
		m->reason = h1_span_of(start, i);
	}
	return h1_eol(ps, i);
}

/* Interprets one Content-Length value: a list of identical decimal numbers,
 * which must also match any earlier Content-Length. Returns 0 or an error. */
static int h1_on_content_length(struct h1_parser *ps, const struct h1_hdr *h)
{
	const char *p = ps->p;
	struct h1_msg *m = ps->m;
	uint32_t pos = h->value.ofs, end = h->value.ofs + h->value.len, eofs, elen, k;

	while (h1_list_next(p, &pos, end, &eofs, &elen)) {
		uint64_t v = 0;

		if (!elen)
			return h1_fail(ps, eofs, H1_ERR_BAD);
		for (k = 0; k < elen; k++) {
			unsigned d = (unsigned)(p[eofs + k] - '0');

			if (d > 9 || v > (H1_SIZE_MAX - d) / 10)
				return h1_fail(ps, eofs + k, H1_ERR_BAD);
			v = v * 10 + d;
		}
		if (ps->clen_seen) {
			if (v != m->content_length)
				return h1_fail(ps, eofs, H1_ERR_BAD);
			m->flags |= H1_F_CLEN_DUP;
		}
		ps->clen_seen = 1;
		m->content_length = v;
	}
	return 0;
}

/* Interprets one Transfer-Encoding value. Codings are plain tokens (no
 * parameters); chunked may appear once and only last, unknown codings are
 * not implemented. Returns 0 or an error. */
static int h1_on_transfer_encoding(struct h1_parser *ps, const struct h1_hdr *h)
{
	const char *p = ps->p;
	uint32_t pos = h->value.ofs, end = h->value.ofs + h->value.len, eofs, elen;

	ps->m->flags |= H1_F_TE;
	while (h1_list_next(p, &pos, end, &eofs, &elen)) {
		const char *e = p + eofs;

		if (!elen || !h1_all_tchar(e, elen) || ps->te_chunked)
			return h1_fail(ps, eofs, H1_ERR_BAD);
		if (H1_IS(e, elen, "chunked"))
			ps->te_chunked = 1;
		else if (!H1_IS(e, elen, "gzip") && !H1_IS(e, elen, "deflate") &&
		         !H1_IS(e, elen, "compress") && !H1_IS(e, elen, "x-gzip") &&
		         !H1_IS(e, elen, "x-compress")) {
			ps->m->err_status = ps->m->is_request ? 501 : 502;
			return h1_fail(ps, eofs, H1_ERR_NOT_IMPL);
		}
	}
	return 0;
}

/* Interprets one Connection value: close, keep-alive and upgrade set flags,
 * other tokens name headers the rewrite drops. Returns 0 or an error. */
static int h1_on_connection(struct h1_parser *ps, const struct h1_hdr *h)
{
	const char *p = ps->p;
	uint32_t pos = h->value.ofs, end = h->value.ofs + h->value.len, eofs, elen;

	while (h1_list_next(p, &pos, end, &eofs, &elen)) {
		const char *e = p + eofs;

		if (!elen)
			continue;
		if (!h1_all_tchar(e, elen))
			return h1_fail(ps, eofs, H1_ERR_BAD);
		if (H1_IS(e, elen, "close"))
			ps->m->flags |= H1_F_CONN_CLOSE;
		else if (H1_IS(e, elen, "keep-alive"))
			ps->m->flags |= H1_F_CONN_KA;
		else if (H1_IS(e, elen, "upgrade"))
			ps->conn_upgrade = 1;
		else
			ps->m->flags |= H1_F_CONN_OTHER;
	}
	return 0;
}

/* Interprets the header just stored if it is one that matters to framing or
 * connection handling. Returns 0 or an error. */
static int h1_on_header(struct h1_parser *ps, const struct h1_hdr *h)
{
	const char *n = ps->p + h->name.ofs;

	switch (h->name.len) {
	case 4:
		if (H1_IS(n, 4, "host") && ++ps->hosts > 1)
			return h1_fail(ps, h->name.ofs, H1_ERR_BAD);
		break;
	case 6:
		if (H1_IS(n, 6, "expect") && H1_IS(ps->p + h->value.ofs, h->value.len, "100-continue"))
			ps->expect_100 = 1;
		break;
	case 7:
		if (H1_IS(n, 7, "upgrade"))
			ps->upgrade_hdr = 1;
		break;
	case 10:
		if (H1_IS(n, 10, "connection"))
			return h1_on_connection(ps, h);
		break;
	case 14:
		if (H1_IS(n, 14, "content-length"))
			return h1_on_content_length(ps, h);
		break;
	case 17:
		if (H1_IS(n, 17, "transfer-encoding"))
			return h1_on_transfer_encoding(ps, h);
		break;
	}
	return 0;
}

/* Applies the rules that need the whole head, at offset <end_ofs> (the
 * empty line). Returns 0 or an error. */
static int h1_finish(struct h1_parser *ps, uint32_t end_ofs)
{
	struct h1_msg *m = ps->m;

	if (m->flags & H1_F_TE) {
		/* RFC 9112 6.1: an HTTP/1.0 message with TE has faulty framing */
		if (m->version < 11)
			return h1_fail(ps, end_ofs, H1_ERR_BAD);
		if (m->is_request) {
			/* both lengths, or a body whose end cannot be found: smuggling */
			if (ps->clen_seen || !ps->te_chunked)
				return h1_fail(ps, end_ofs, H1_ERR_BAD);
		} else {
			/* TE overrides CL; the rewrite drops the CL header */
			ps->clen_seen = 0;
			m->content_length = 0;
		}
		if (ps->te_chunked)
			m->flags |= H1_F_CHUNKED;
	}
	if (ps->clen_seen)
		m->flags |= H1_F_CLEN;
	else
		m->flags &= ~H1_F_CLEN_DUP;
	if (ps->hosts)
		m->flags |= H1_F_HOST;
	else if (m->is_request && m->version >= 11)
		return h1_fail(ps, end_ofs, H1_ERR_BAD);
	/* Upgrade and 100-continue mean nothing in HTTP/1.0 (RFC 9110 7.8, 10.1.1) */
	if (m->version >= 11) {
		if (ps->conn_upgrade && ps->upgrade_hdr)
			m->flags |= H1_F_UPGRADE;
		if (ps->expect_100 && m->is_request)
			m->flags |= H1_F_EXPECT_100;
	}
	return 0;
}

/* Parses header lines from p[i] up to and including the empty line, then
 * applies the whole-head rules. Returns the head length, H1_NEED_MORE, or
 * an error. */
static int h1_parse_headers(struct h1_parser *ps, uint32_t i)
{
	const char *p = ps->p;
	struct h1_msg *m = ps->m;

	for (;;) {
		struct h1_hdr *h;
		uint32_t start, vend;
		int r;

		if (i >= ps->end)
			return H1_NEED_MORE;
		if (p[i] == '\r' || p[i] == '\n') {
			r = h1_eol(ps, i);
			if (r <= 0)
				return r;
			return h1_finish(ps, i) < 0 ? H1_ERR_BAD : r;
		}
		if (m->nb_hdrs >= H1_MAX_HDRS - 1) {
			m->err_status = m->is_request ? 431 : 502;
			return h1_fail(ps, i, H1_ERR_TOO_LARGE);
		}

		/* field-name ":" with nothing in between; a leading SP/HT
		 * (obs-fold, or space before the first header) fails here */
		start = i;
		while (i < ps->end && h1_is(p[i], H1_C_TCHAR))
			i++;
		if (i == ps->end)
			return H1_NEED_MORE;
		if (i == start || p[i] != ':')
			return h1_fail(ps, i, H1_ERR_BAD);
		h = &m->hdrs[m->nb_hdrs];
		h->name = h1_span_of(start, i);

		i++;
		while (i < ps->end && h1_is(p[i], H1_C_OWS))
			i++;
		start = i;
		i = h1_skip_words(p, i, ps->end, 0x20);
		while (i < ps->end && h1_is(p[i], H1_C_VALUE))
			i++;
		for (vend = i; vend > start && h1_is(p[vend - 1], H1_C_OWS); vend--)
			;
		r = h1_eol(ps, i);   /* also rejects NUL, bare CR and other CTLs */
		if (r <= 0)
			return r;
		h->value = h1_span_of(start, vend);
		m->nb_hdrs++;
		i = (uint32_t)r;
		r = h1_on_header(ps, h);
		if (r < 0)
			return r;
	}
}

/* Returns the status the engine should answer with for error <err>. */
static int h1_err_status(const struct h1_parser *ps, int err)
{
	if (!ps->m->is_request)
		return 502;
	switch (err) {
	case H1_ERR_TOO_LARGE: return ps->in_start_line ? 414 : 431;
	case H1_ERR_NOT_IMPL:  return 501;
	default:               return 400;
	}
}

int h1_parse_head(const char *p, size_t len, int is_request, size_t max_head, struct h1_msg *m)
{
	size_t limit = max_head < H1_HEAD_LIMIT ? max_head : H1_HEAD_LIMIT;
	struct h1_parser ps = {
		.p = p, .end = (uint32_t)(len < limit ? len : limit), .m = m,
		.in_start_line = 1,
	};
	uint32_t i = 0;
	int r;

	m->is_request = is_request;
	m->meth = H1_M_OTHER;
	m->method = m->uri = m->reason = (struct h1_span){ 0, 0 };
	m->status = 0;
	m->version = 0;
	m->flags = 0;
	m->content_length = 0;
	m->head_len = 0;
	m->err_ofs = 0;
	m->err_status = 0;
	m->nb_hdrs = 0;

	/* RFC 9112 2.2: empty lines before a request line are ignored */
	r = 1;
	while (is_request && i < ps.end && r > 0) {
		if (p[i] != '\r' && p[i] != '\n')
			break;
		r = h1_eol(&ps, i);
		if (r > 0)
			i = (uint32_t)r;
	}
	if (r > 0)
		r = is_request ? h1_parse_request_line(&ps, i) : h1_parse_status_line(&ps, i);
	if (r > 0) {
		ps.in_start_line = 0;
		r = h1_parse_headers(&ps, (uint32_t)r);
	}
	if (r == H1_NEED_MORE && len >= limit) {
		m->err_ofs = ps.end;
		r = H1_ERR_TOO_LARGE;
	}
	if (r < 0) {
		if (!m->err_status)
			m->err_status = h1_err_status(&ps, r);
		return r;
	}
	m->head_len = (uint32_t)r;
	return r;
}

size_t h1_head_end(const char *p, size_t len, size_t *resume)
{
	size_t s = 0, i;

	/* skip the empty lines a request may start with */
	while (s < len) {
		if (p[s] == '\n')
			s++;
		else if (p[s] == '\r' && s + 1 < len && p[s + 1] == '\n')
			s += 2;
		else
			break;
	}
	/* from s on, every LF ends a non-empty line until the empty one */
	i = *resume > s ? *resume : s;
	while (i < len) {
		const char *lf = memchr(p + i, '\n', len - i);
		size_t k;

		if (!lf)
			break;
		k = (size_t)(lf - p);
		if (k + 1 < len && p[k + 1] == '\n')
			return k + 2;
		if (k + 2 < len && p[k + 1] == '\r' && p[k + 2] == '\n')
			return k + 3;
		if (k + 1 == len || (k + 2 == len && p[k + 1] == '\r')) {
			*resume = k;    /* look at this LF again with more data */
			return 0;
		}
		i = k + 1;
	}
	*resume = len;
	return 0;
}

enum h1_meth h1_meth_lookup(const char *s, size_t len)
{
	switch (len) {
	case 3:
		if (!memcmp(s, "GET", 3)) return H1_M_GET;
		if (!memcmp(s, "PUT", 3)) return H1_M_PUT;
		break;
	case 4:
		if (!memcmp(s, "POST", 4)) return H1_M_POST;
		if (!memcmp(s, "HEAD", 4)) return H1_M_HEAD;
		break;
	case 5:
		if (!memcmp(s, "PATCH", 5)) return H1_M_PATCH;
		if (!memcmp(s, "TRACE", 5)) return H1_M_TRACE;
		break;
	case 6:
		if (!memcmp(s, "DELETE", 6)) return H1_M_DELETE;
		break;
	case 7:
		if (!memcmp(s, "OPTIONS", 7)) return H1_M_OPTIONS;
		if (!memcmp(s, "CONNECT", 7)) return H1_M_CONNECT;
		break;
	}
	return H1_M_OTHER;
}

int h1_find_hdr(const struct h1_msg *m, const char *msg, const char *name, int from)
{
	size_t n = strlen(name);
	unsigned i;

	for (i = from > 0 ? (unsigned)from : 0; i < m->nb_hdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		if (h->name.len == n && h1_ieq(msg + h->name.ofs, name, n))
			return (int)i;
	}
	return -1;
}

int h1_wants_close(const struct h1_msg *m)
{
	if (m->flags & H1_F_CONN_CLOSE)
		return 1;
	return m->version < 11 && !(m->flags & H1_F_CONN_KA);
}

int h1_list_covers(const char *offered, size_t olen, const char *chosen, size_t clen)
{
	uint32_t pos = 0, eofs, elen, n = 0;

	if (olen > H1_HEAD_LIMIT || clen > H1_HEAD_LIMIT)
		return 0;
	while (h1_list_next(chosen, &pos, (uint32_t)clen, &eofs, &elen)) {
		uint32_t opos = 0, oofs, olen2;
		int found = 0;

		if (!elen)
			continue;
		n++;
		while (!found && h1_list_next(offered, &opos, (uint32_t)olen, &oofs, &olen2))
			found = olen2 == elen && h1_ieq(offered + oofs, chosen + eofs, elen);
		if (!found)
			return 0;
	}
	return n > 0;
}

/* ohttp.c - request head parsing and chunked body decoding for the origin. */
#include "ohttp.h"

#include <string.h>
#include <strings.h>

/* Returns true for the characters RFC 9110 allows in a token. */
static bool ohttp_is_tchar(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return true;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Returns the value of hex digit <c>, or -1 when it is not one. */
static int ohttp_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Returns true when <s>/<len> equals the NUL-terminated <lit>, ignoring
 * ASCII case. */
static bool ohttp_ieq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* Trims spaces and tabs on both sides of <*s>/<*len>. */
static void ohttp_trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

size_t ohttp_skip_blank(const char *buf, size_t len)
{
	size_t n = 0;
	while (n < len && (buf[n] == '\r' || buf[n] == '\n'))
		n++;
	return n;
}

size_t ohttp_head_end(const char *buf, size_t len, size_t *scanned)
{
	size_t pos = *scanned;

	while (pos < len) {
		const char *lf = memchr(buf + pos, '\n', len - pos);
		if (!lf) {
			*scanned = len;
			return 0;
		}
		size_t i = (size_t)(lf - buf);
		/* a blank line is LF LF or LF CR LF; decide once the bytes are in */
		if (i + 1 >= len || (buf[i + 1] == '\r' && i + 2 >= len)) {
			*scanned = i;
			return 0;
		}
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
		pos = i + 1;
	}
	*scanned = pos;
	return 0;
}

bool ohttp_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* Returns the length of the line at <p> (before its LF, CR stripped) and
 * stores in <*next> where the following line starts. <end> is the end of
 * the head, which always ends with LF. */
static size_t ohttp_line(const char *p, const char *end, const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	size_t len;

	if (!lf)
		lf = end;
	len = (size_t)(lf - p);
	*next = lf < end ? lf + 1 : end;
	if (len && p[len - 1] == '\r')
		len--;
	return len;
}

/* Parses "METHOD SP target SP HTTP/1.x". Returns 0 or a status code. */
static int ohttp_parse_request_line(const char *p, size_t len, struct ohttp_req *req)
{
	const char *end = p + len, *sp;
	size_t mlen, tlen;

	sp = memchr(p, ' ', len);
	if (!sp || sp == p)
		return 400;
	mlen = (size_t)(sp - p);
	for (size_t i = 0; i < mlen; i++)
		if (!ohttp_is_tchar((unsigned char)p[i]))
			return 400;
	if (mlen == 3 && memcmp(p, "GET", 3) == 0)
		req->method = OHTTP_GET;
	else if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
		req->method = OHTTP_HEAD;
	else if (mlen == 4 && memcmp(p, "POST", 4) == 0)
		req->method = OHTTP_POST;
	else if (mlen == 3 && memcmp(p, "PUT", 3) == 0)
		req->method = OHTTP_PUT;
	else
		req->method = OHTTP_OTHER;

	const char *target = sp + 1;
	sp = memchr(target, ' ', (size_t)(end - target));
	if (!sp || sp == target)
		return 400;
	tlen = (size_t)(sp - target);
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= ' ' || target[i] == 0x7f)
			return 400;

	const char *version = sp + 1;
	size_t vlen = (size_t)(end - version);
	if (vlen == 8 && memcmp(version, "HTTP/1.", 7) == 0 &&
	    (version[7] == '0' || version[7] == '1'))
		req->minor = version[7] - '0';
	else if (vlen >= 5 && memcmp(version, "HTTP/", 5) == 0)
		return 505;
	else
		return 400;

	const char *q = memchr(target, '?', tlen);
	req->path = target;
	req->path_len = q ? (size_t)(q - target) : tlen;
	req->query = q ? q + 1 : NULL;
	req->query_len = q ? tlen - req->path_len - 1 : 0;
	return 0;
}

/* Applies the comma-separated tokens of a Connection header. */
static void ohttp_apply_connection(const char *v, size_t len, struct ohttp_req *req)
{
	while (len) {
		const char *comma = memchr(v, ',', len);
		size_t tlen = comma ? (size_t)(comma - v) : len;
		const char *tok = v;
		size_t toklen = tlen;

		ohttp_trim(&tok, &toklen);
		if (ohttp_ieq(tok, toklen, "close"))
			req->conn_close = true;
		else if (ohttp_ieq(tok, toklen, "keep-alive"))
			req->conn_keep_alive = true;
		if (!comma)
			break;
		v += tlen + 1;
		len -= tlen + 1;
	}
}

/* Applies one header field. Returns 0 or a status code. */
static int ohttp_apply_header(const char *name, size_t nlen, const char *v, size_t vlen,
			      struct ohttp_req *req)
{
	if (ohttp_ieq(name, nlen, "content-length")) {
		uint64_t n;
		if (!ohttp_parse_u64(v, vlen, UINT64_C(1) << 50, &n))
			return 400;
		if (req->has_length && n != req->content_length)
			return 400;
		req->has_length = true;
		req->content_length = n;
	} else if (ohttp_ieq(name, nlen, "transfer-encoding")) {
		if (req->chunked || !ohttp_ieq(v, vlen, "chunked"))
			return 501;
		req->chunked = true;
	} else if (ohttp_ieq(name, nlen, "connection")) {
		ohttp_apply_connection(v, vlen, req);
	} else if (ohttp_ieq(name, nlen, "expect")) {
		if (ohttp_ieq(v, vlen, "100-continue"))
			req->expect_continue = true;
	}
	return 0;
}

/* Parses one "name: value" line. Returns 0 or a status code. */
static int ohttp_parse_header_line(const char *p, size_t len, struct ohttp_req *req)
{
	const char *colon;
	size_t nlen;

	/* obsolete line folding is refused, as RFC 9112 lets a server do */
	if (p[0] == ' ' || p[0] == '\t')
		return 400;
	colon = memchr(p, ':', len);
	if (!colon || colon == p)
		return 400;
	nlen = (size_t)(colon - p);
	for (size_t i = 0; i < nlen; i++)
		if (!ohttp_is_tchar((unsigned char)p[i]))
			return 400;

	const char *v = colon + 1;
	size_t vlen = len - nlen - 1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return 400;
	}
	ohttp_trim(&v, &vlen);
	return ohttp_apply_header(p, nlen, v, vlen, req);
}

int ohttp_parse_head(const char *head, size_t len, struct ohttp_req *req)
{
	const char *end = head + len, *p = head, *next;
	size_t llen;
	int status;

	memset(req, 0, sizeof(*req));
	llen = ohttp_line(p, end, &next);
	status = ohttp_parse_request_line(p, llen, req);
	if (status)
		return status;
	for (p = next; p < end; p = next) {
		llen = ohttp_line(p, end, &next);
		if (llen == 0)
			break;
		status = ohttp_parse_header_line(p, llen, req);
		if (status)
			return status;
	}
	if (req->chunked && req->has_length)
		return 400;
	return 0;
}

void ohttp_chunked_init(struct ohttp_chunked *d)
{
	d->state = OHTTP_CH_SIZE;
	d->left = 0;
	d->digits = 0;
}

/* Ends a size line: moves to the data or, for the last chunk, to the
 * trailers. Returns false when the line had no digits. */
static bool ohttp_chunked_size_done(struct ohttp_chunked *d)
{
	if (d->digits == 0)
		return false;
	d->digits = 0;
	d->state = d->left ? OHTTP_CH_DATA : OHTTP_CH_TRAILER;
	return true;
}

/* Advances <d> over the framing byte <c>. Returns false on an error. */
static bool ohttp_chunked_byte(struct ohttp_chunked *d, unsigned char c)
{
	int hex;

	switch (d->state) {
	case OHTTP_CH_SIZE:
		hex = ohttp_hex_value(c);
		if (hex >= 0) {
			/* 15 digits keep the size far below overflow */
			if (++d->digits > 15)
				return false;
			d->left = d->left * 16 + (uint64_t)hex;
			return true;
		}
		if (c == ';' || c == ' ' || c == '\t') {
			d->state = OHTTP_CH_EXT;
			return d->digits > 0;
		}
		if (c == '\r') {
			d->state = OHTTP_CH_SIZE_LF;
			return d->digits > 0;
		}
		if (c == '\n')
			return ohttp_chunked_size_done(d);
		return false;
	case OHTTP_CH_EXT:
		if (c == '\n')
			return ohttp_chunked_size_done(d);
		return true;
	case OHTTP_CH_SIZE_LF:
		return c == '\n' && ohttp_chunked_size_done(d);
	case OHTTP_CH_DATA_CR:
		if (c == '\r') {
			d->state = OHTTP_CH_DATA_LF;
			return true;
		}
		if (c != '\n')
			return false;
		d->state = OHTTP_CH_SIZE;
		return true;
	case OHTTP_CH_DATA_LF:
		d->state = OHTTP_CH_SIZE;
		return c == '\n';
	case OHTTP_CH_TRAILER:
		if (c == '\r')
			d->state = OHTTP_CH_FINAL_LF;
		else if (c == '\n')
			d->state = OHTTP_CH_DONE;
		else
			d->state = OHTTP_CH_TRAILER_LINE;
		return true;
	case OHTTP_CH_TRAILER_LINE:
		if (c == '\n')
			d->state = OHTTP_CH_TRAILER;
		return true;
	case OHTTP_CH_FINAL_LF:
		d->state = OHTTP_CH_DONE;
		return c == '\n';
	case OHTTP_CH_DATA:
	case OHTTP_CH_DONE:
		break;
	}
	return false;
}

ssize_t ohttp_chunked_frame(struct ohttp_chunked *d, const char *in, size_t len)
{
	size_t n = 0;

	while (n < len && d->state != OHTTP_CH_DATA && d->state != OHTTP_CH_DONE) {
		if (!ohttp_chunked_byte(d, (unsigned char)in[n]))
			return -1;
		n++;
	}
	return (ssize_t)n;
}

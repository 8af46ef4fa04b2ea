/* h1_rewrite.c - in-place rewriting of a parsed HTTP/1.x head.
 *
 * The head is written again, canonically, into a scratch area: start line,
 * the headers that survive, the headers the proxy adds, the empty line.
 * Then the bytes that followed the old head move to their new place and the
 * new head is copied over the old one. Only one buffer per direction exists
 * (taking a second one while holding the first could deadlock the pool), so
 * the scratch area is the caller's per-thread space, never a pool buffer.
 * Nothing is modified until the new head is known to fit.
 */
#include <string.h>
#include "mux/h1.h"
#include "mux/h1_int.h"

/* The new head being built. Writes past the room, or headers past
 * H1_MAX_HDRS, set <full> and are dropped; the caller checks it once. */
struct h1_build {
	char *p;
	uint32_t len, room;
	int full;
	unsigned nb;
	struct h1_hdr hdrs[H1_MAX_HDRS];
};

/* Appends <n> bytes at <s>. */
static void h1_put(struct h1_build *bd, const char *s, size_t n)
{
	if (bd->full || n > bd->room - bd->len) {
		bd->full = 1;
		return;
	}
	memcpy(bd->p + bd->len, s, n);
	bd->len += (uint32_t)n;
}

#define H1_PUT_LIT(bd, lit) h1_put((bd), (lit), sizeof(lit) - 1)

/* Appends <n> bytes at <s> and returns where they landed in the new head. */
static struct h1_span h1_put_span(struct h1_build *bd, const char *s, size_t n)
{
	struct h1_span sp = { .ofs = bd->len, .len = (uint32_t)n };

	h1_put(bd, s, n);
	return sp;
}

/* Appends the header line "name: value" CRLF and records its spans. */
static void h1_put_hdr(struct h1_build *bd, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
	struct h1_hdr h;

	if (bd->nb >= H1_MAX_HDRS) {
		bd->full = 1;
		return;
	}
	h.name = h1_put_span(bd, name, nlen);
	H1_PUT_LIT(bd, ": ");
	h.value = h1_put_span(bd, value, vlen);
	H1_PUT_LIT(bd, "\r\n");
	bd->hdrs[bd->nb++] = h;
}

/* Writes <v> in decimal at the end of dst[0..20). Returns the first digit. */
static char *h1_u64_digits(uint64_t v, char dst[20])
{
	char *d = dst + 20;

	do {
		*--d = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return d;
}

/* Returns non-zero when a Connection header of <m> lists the header name
 * name[0..nlen), which makes that header hop-by-hop (RFC 9110 7.6.1). */
static int h1_named_by_connection(const struct h1_msg *m, const char *area,
                                  const char *name, uint32_t nlen)
{
	unsigned i;

	for (i = 0; i < m->nb_hdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];
		uint32_t pos = h->value.ofs, end = h->value.ofs + h->value.len, eofs, elen;

		if (!H1_IS(area + h->name.ofs, h->name.len, "connection"))
			continue;
		while (h1_list_next(area, &pos, end, &eofs, &elen))
			if (elen == nlen && h1_ieq(area + eofs, name, nlen))
				return 1;
	}
	return 0;
}

enum h1_fate { H1_KEEP, H1_DROP, H1_ONE_CLEN };

/* Returns what becomes of header <h> when the head is forwarded. Framing
 * headers and Host are kept even if Connection names them: letting a client
 * strip them would make this hop and the next disagree on the message. */
static enum h1_fate h1_hdr_fate(const struct h1_msg *m, const char *area, const struct h1_hdr *h)
{
	const char *n = area + h->name.ofs;
	uint32_t len = h->name.len;

	switch (len) {
	case 2:
		if (H1_IS(n, len, "te"))
			return H1_DROP;
		break;
	case 4:
		/* a proxy replaces the Host of an absolute-form request with
		 * the target's authority (RFC 9112 3.2.2): the two could name
		 * different sites, and the next hop would believe the Host */
		if (H1_IS(n, len, "host"))
			return (m->flags & H1_F_ABS_FORM) ? H1_DROP : H1_KEEP;
		break;
	case 6:
		/* ignored in HTTP/1.0 (RFC 9110 10.1.1): it must not come
		 * alive if the request goes on as HTTP/1.1 */
		if (m->is_request && m->version < 11 && H1_IS(n, len, "expect"))
			return H1_DROP;
		break;
	case 7:
		if (H1_IS(n, len, "trailer"))
			return H1_DROP;
		if (H1_IS(n, len, "upgrade"))
			return (m->flags & H1_F_UPGRADE) ? H1_KEEP : H1_DROP;
		break;
	case 10:
		if (H1_IS(n, len, "connection") || H1_IS(n, len, "keep-alive"))
			return H1_DROP;
		break;
	case 14:
		if (H1_IS(n, len, "content-length")) {
			if (m->flags & H1_F_TE)
				return H1_DROP;   /* RFC 9112 6.3: TE overrides it */
			return (m->flags & H1_F_CLEN_DUP) ? H1_ONE_CLEN : H1_KEEP;
		}
		break;
	case 16:
		if (H1_IS(n, len, "proxy-connection"))
			return H1_DROP;
		break;
	case 17:
		if (H1_IS(n, len, "transfer-encoding"))
			return H1_KEEP;
		break;
	}
	if ((m->flags & H1_F_CONN_OTHER) && h1_named_by_connection(m, area, n, len))
		return H1_DROP;
	return H1_KEEP;
}

/* Returns the length of <s> if it can be a header value (no CR, LF, NUL or
 * other control byte: a stray CRLF would inject headers), else -1. */
static long h1_value_len(const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i < n; i++)
		if (!h1_is(s[i], H1_C_VALUE))
			return -1;
	return (long)n;
}

/* Where the parts of the new start line landed. */
struct h1_start_spans {
	struct h1_span method, uri, reason;
};

/* Writes the start line of <m>, with HTTP version <version>, and records
 * its spans in <out>. */
static void h1_put_start_line(struct h1_build *bd, const struct h1_msg *m, const char *area,
                              int version, struct h1_start_spans *out)
{
	const char *ver = version >= 11 ? "HTTP/1.1" : "HTTP/1.0";

	if (m->is_request) {
		out->method = h1_put_span(bd, area + m->method.ofs, m->method.len);
		H1_PUT_LIT(bd, " ");
		out->uri = h1_put_span(bd, area + m->uri.ofs, m->uri.len);
		H1_PUT_LIT(bd, " ");
		h1_put(bd, ver, 8);
	} else {
		char st[5] = { ' ', (char)('0' + m->status / 100 % 10),
		               (char)('0' + m->status / 10 % 10), (char)('0' + m->status % 10), ' ' };

		h1_put(bd, ver, 8);
		h1_put(bd, st, sizeof(st));
		out->reason = h1_put_span(bd, area + m->reason.ofs, m->reason.len);
	}
	H1_PUT_LIT(bd, "\r\n");
}

/* Returns non-zero when <c> may appear in a URI scheme (RFC 3986 3.1). */
static inline int h1_is_scheme_char(unsigned char c)
{
	return (unsigned)((c | 0x20) - 'a') < 26u || (unsigned)(c - '0') < 10u ||
	       c == '+' || c == '-' || c == '.';
}

/* Finds the authority of request target uri[0..len): all of it for CONNECT,
 * "host:port" of an absolute-form "scheme://[userinfo@]host:port/path".
 * Returns its length (0 when there is none) and its start in *auth. */
static size_t h1_uri_authority(const struct h1_msg *m, const char *uri, size_t len,
                               const char **auth)
{
	size_t i = 0, start, end;

	*auth = uri;
	if (m->meth == H1_M_CONNECT)
		return len;
	while (i < len && h1_is_scheme_char((unsigned char)uri[i]))
		i++;
	if (!i || len - i < 3 || memcmp(uri + i, "://", 3) != 0)
		return 0;
	start = end = i + 3;
	while (end < len && uri[end] != '/' && uri[end] != '?' && uri[end] != '#') {
		if (uri[end] == '@')
			start = end + 1;
		end++;
	}
	*auth = uri + start;
	return end - start;
}

/* Writes the Host header an HTTP/1.1 request must carry (RFC 9112 3.2) when
 * a request that had none goes on as HTTP/1.1: the target's authority, or
 * an empty value. Returns H1_F_HOST. */
static unsigned h1_put_host(struct h1_build *bd, const struct h1_msg *m, const char *area)
{
	const char *auth;
	size_t alen = h1_uri_authority(m, area + m->uri.ofs, m->uri.len, &auth);

	h1_put_hdr(bd, "Host", 4, auth, alen);
	return H1_F_HOST;
}

/* Writes the headers of <m> that survive the hop, in their order. Returns
 * the flags of <m> that no longer hold because their header was dropped. */
static unsigned h1_put_kept_headers(struct h1_build *bd, const struct h1_msg *m, const char *area)
{
	unsigned lost = 0;
	int clen_done = 0;
	unsigned i;

	for (i = 0; i < m->nb_hdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];
		char digits[20];
		const char *d;

		switch (h1_hdr_fate(m, area, h)) {
		case H1_DROP:
			if (H1_IS(area + h->name.ofs, h->name.len, "expect"))
				lost |= H1_F_EXPECT_100;
			break;
		case H1_ONE_CLEN:
			/* "Content-Length: 5, 5" or twice the same: say it once */
			if (clen_done)
				break;
			clen_done = 1;
			d = h1_u64_digits(m->content_length, digits);
			h1_put_hdr(bd, area + h->name.ofs, h->name.len, d, (size_t)(digits + 20 - d));
			break;
		case H1_KEEP:
			h1_put_hdr(bd, area + h->name.ofs, h->name.len,
			           area + h->value.ofs, h->value.len);
			break;
		}
	}
	return lost;
}

/* Writes the one Connection header the proxy sends, if any is needed.
 * Returns the H1_F_CONN_* flags it stands for. */
static unsigned h1_put_connection(struct h1_build *bd, const struct h1_msg *m,
                                  const struct h1_rewrite *rw)
{
	int upgrade = !!(m->flags & H1_F_UPGRADE);

	if (rw->add_conn_close) {
		if (upgrade)
			h1_put_hdr(bd, "Connection", 10, "close, upgrade", 14);
		else
			h1_put_hdr(bd, "Connection", 10, "close", 5);
		return H1_F_CONN_CLOSE;
	}
	if (rw->add_conn_keepalive) {
		if (upgrade)
			h1_put_hdr(bd, "Connection", 10, "keep-alive, upgrade", 19);
		else
			h1_put_hdr(bd, "Connection", 10, "keep-alive", 10);
		return H1_F_CONN_KA;
	}
	if (upgrade)
		h1_put_hdr(bd, "Connection", 10, "upgrade", 7);
	return 0;
}

int h1_rewrite_head(struct h1_msg *m, char *area, size_t area_size, size_t tail_len,
                    const struct h1_rewrite *rw, char *scratch, size_t scratch_size)
{
	struct h1_build bd;   /* not zeroed whole: its header array is 1.6 kB */
	struct h1_start_spans spans = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	int version = (rw->force_version_11 || m->version >= 11) ? 11 : 10;
	const char *xff = m->is_request ? rw->xff : NULL;
	long xff_len = 0, via_len = 0;
	unsigned added = 0, lost;

	if (m->head_len > area_size || tail_len > area_size - m->head_len)
		return H1_ERR_BAD;
	bd.p = scratch;
	bd.len = 0;
	bd.room = (uint32_t)(scratch_size < H1_HEAD_LIMIT ? scratch_size : H1_HEAD_LIMIT);
	bd.full = 0;
	bd.nb = 0;
	if (xff && (xff_len = h1_value_len(xff)) < 0)
		return H1_ERR_BAD;
	if (rw->via && (via_len = h1_value_len(rw->via)) < 0)
		return H1_ERR_BAD;

	h1_put_start_line(&bd, m, area, version, &spans);
	if (m->is_request && (m->flags & H1_F_ABS_FORM || (version >= 11 && !(m->flags & H1_F_HOST))))
		added |= h1_put_host(&bd, m, area);
	lost = h1_put_kept_headers(&bd, m, area);
	added |= h1_put_connection(&bd, m, rw);
	if (xff)
		h1_put_hdr(&bd, "X-Forwarded-For", 15, xff, (size_t)xff_len);
	if (rw->via)
		h1_put_hdr(&bd, "Via", 3, rw->via, (size_t)via_len);
	H1_PUT_LIT(&bd, "\r\n");

	if (bd.full || bd.len + tail_len > area_size)
		return H1_ERR_TOO_LARGE;

	memmove(area + bd.len, area + m->head_len, tail_len);
	memcpy(area, scratch, bd.len);

	m->method = spans.method;
	m->uri = spans.uri;
	m->reason = spans.reason;
	m->version = version;
	m->flags &= ~(lost | H1_F_CONN_CLOSE | H1_F_CONN_KA | H1_F_CONN_OTHER | H1_F_CLEN_DUP);
	m->flags |= added;
	m->nb_hdrs = bd.nb;
	memcpy(m->hdrs, bd.hdrs, bd.nb * sizeof(bd.hdrs[0]));
	m->head_len = bd.len;
	return (int)bd.len;
}

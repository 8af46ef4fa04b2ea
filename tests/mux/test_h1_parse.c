/* test_h1_parse.c - HTTP/1 head parser: every grammar and semantic rule of
 * h1.h has a case here, valid and invalid, and every valid head is also
 * fed in every prefix to check the need-more path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "tests/mux/h1_testutil.h"

/* Checks that every strict prefix of a valid head asks for more bytes, and
 * that the whole of it parses to <len>. */
static void expect_prefixes_need_more(const char *s, size_t len, int is_request)
{
	struct h1_msg m;
	size_t n;

	for (n = 0; n < len; n++)
		cr_assert_eq(h1_parse_head(s, n, is_request, TEST_MAX_HEAD, &m), H1_NEED_MORE,
		             "prefix %zu of %zu: %.*s", n, len, (int)len, s);
	cr_assert_eq(h1_parse_head(s, len, is_request, TEST_MAX_HEAD, &m), (int)len);
}

/* Checks that <s> fails with <err> as a whole, and that no prefix of it
 * parses as complete (a prefix may need more or fail the same way). */
static void expect_error(const char *s, size_t len, int is_request, int err)
{
	struct h1_msg m;
	size_t n;
	int r;

	r = h1_parse_head(s, len, is_request, TEST_MAX_HEAD, &m);
	cr_expect_eq(r, err, "got %d, want %d for: %.*s", r, err, (int)len, s);
	for (n = 0; n < len; n++) {
		r = h1_parse_head(s, n, is_request, TEST_MAX_HEAD, &m);
		cr_expect(r == H1_NEED_MORE || r == err, "prefix %zu gave %d for: %.*s", n, r, (int)len, s);
	}
}

/* ---- request line ---- */

Test(h1_parse, simple_get)
{
	static const char s[] = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(s, sizeof(s) - 1, &m), (int)sizeof(s) - 1);
	cr_expect_eq(m.is_request, 1);
	cr_expect_eq(m.meth, H1_M_GET);
	cr_expect(span_is(s, m.method, "GET"));
	cr_expect(span_is(s, m.uri, "/index.html?q=1"));
	cr_expect_eq(m.version, 11);
	cr_expect_eq(m.head_len, sizeof(s) - 1);
	cr_expect_eq(m.nb_hdrs, 1);
	cr_expect(span_is(s, m.hdrs[0].name, "Host"));
	cr_expect(span_is(s, m.hdrs[0].value, "example.com"));
	cr_expect_eq(m.flags, H1_F_HOST);
	cr_expect_eq(h1_wants_close(&m), 0);
	expect_prefixes_need_more(s, sizeof(s) - 1, 1);
}

Test(h1_parse, methods)
{
	static const struct { const char *name; enum h1_meth meth; } tab[] = {
		{ "GET", H1_M_GET }, { "HEAD", H1_M_HEAD }, { "POST", H1_M_POST },
		{ "PUT", H1_M_PUT }, { "DELETE", H1_M_DELETE }, { "OPTIONS", H1_M_OPTIONS },
		{ "CONNECT", H1_M_CONNECT }, { "TRACE", H1_M_TRACE }, { "PATCH", H1_M_PATCH },
		{ "PROPFIND", H1_M_OTHER }, { "get", H1_M_OTHER }, { "X-MY.METHOD~", H1_M_OTHER },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char s[128];
		struct h1_msg m;
		int n = snprintf(s, sizeof(s), "%s / HTTP/1.1\r\nHost: h\r\n\r\n", tab[i].name);

		cr_assert_eq(parse_req(s, (size_t)n, &m), n, "%s", tab[i].name);
		cr_expect_eq(m.meth, tab[i].meth, "%s", tab[i].name);
		cr_expect(span_is(s, m.method, tab[i].name));
	}
}

Test(h1_parse, leading_empty_lines_and_bare_lf)
{
	static const char crlf[] = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char lf[] = "\n\nGET / HTTP/1.0\nX: y\n\n";
	static const char mixed[] = "GET / HTTP/1.1\nHost: a\r\nB: c\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(crlf, sizeof(crlf) - 1, &m), (int)sizeof(crlf) - 1);
	cr_expect(span_is(crlf, m.method, "GET"));
	cr_expect_eq(m.method.ofs, 2);
	expect_prefixes_need_more(crlf, sizeof(crlf) - 1, 1);

	cr_assert_eq(parse_req(lf, sizeof(lf) - 1, &m), (int)sizeof(lf) - 1);
	cr_expect_eq(m.version, 10);
	cr_expect(hdr_is(&m, lf, "x", "y"));
	expect_prefixes_need_more(lf, sizeof(lf) - 1, 1);

	cr_assert_eq(parse_req(mixed, sizeof(mixed) - 1, &m), (int)sizeof(mixed) - 1);
	cr_expect_eq(m.nb_hdrs, 2);
	cr_expect(hdr_is(&m, mixed, "b", "c"));
	expect_prefixes_need_more(mixed, sizeof(mixed) - 1, 1);
}

Test(h1_parse, versions)
{
	struct h1_msg m;
	static const char v12[] = "GET / HTTP/1.2\r\nHost: a\r\n\r\n";

	/* a higher minor version is handled as the highest we speak */
	cr_assert_eq(parse_req(v12, sizeof(v12) - 1, &m), (int)sizeof(v12) - 1);
	cr_expect_eq(m.version, 11);

	cr_expect_eq(parse_req("GET / HTTP/2.0\r\n\r\n", 18, &m), H1_ERR_NOT_IMPL);
	cr_expect_eq(m.err_status, 505);
	cr_expect_eq(parse_req("GET / HTTP/0.9\r\n\r\n", 18, &m), H1_ERR_NOT_IMPL);
	cr_expect_eq(parse_rsp("HTTP/2.0 200 OK\r\n\r\n", 19, &m), H1_ERR_NOT_IMPL);
	cr_expect_eq(m.err_status, 502);
}

Test(h1_parse, bad_requests)
{
	static const struct tstr bad[] = {
		S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),          /* two spaces */
		S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"),
		S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),          /* trailing space */
		S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"),          /* leading space */
		S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
		S("GET / http/1.1\r\nHost: a\r\n\r\n"),
		S("GET / HTTP/1.x\r\nHost: a\r\n\r\n"),
		S("GET / HTTP/11\r\nHost: a\r\n\r\n"),
		S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"),
		S("GET / HTTP/1.1\rHost: a\r\n\r\n"),            /* bare CR */
		S("GET /a\x01z HTTP/1.1\r\nHost: a\r\n\r\n"),    /* CTL in target */
		S("GET /a\x7fz HTTP/1.1\r\nHost: a\r\n\r\n"),    /* DEL in target */
		S("GET /a\0z HTTP/1.1\r\nHost: a\r\n\r\n"),
		S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),          /* not a token */
		S(" / HTTP/1.1\r\nHost: a\r\n\r\n"),             /* empty method */
		S("GET HTTP/1.1\r\nHost: a\r\n\r\n"),            /* no target */
		S("GET /\r\nHost: a\r\n\r\n"),                   /* HTTP/0.9 style */
		S("HTTP/1.1 200 OK\r\n\r\n"),                    /* a response */
		S("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), /* a TLS hello */
		S("GET /0123456789abcdef0123456789\x01" "bcdef HTTP/1.1\r\nHost: a\r\n\r\n"),
		S("GET /0123456789abcdef0123456789\tbcdef HTTP/1.1\r\nHost: a\r\n\r\n"),
		S("GET /0123456789abcdef012345678\x7f" "abcdef HTTP/1.1\r\nHost: a\r\n\r\n"),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].s, bad[i].len, 1, H1_ERR_BAD);
}

/* ---- header fields ---- */

Test(h1_parse, header_values_trimmed)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost:a\r\nX-A:   one two \t\r\nX-Empty:\r\n"
	                        "X-Blank:   \r\nX-Obs: caf\xc3\xa9\r\nX-Tab:\tv\tw\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(s, sizeof(s) - 1, &m), (int)sizeof(s) - 1);
	cr_expect_eq(m.nb_hdrs, 6);
	cr_expect(hdr_is(&m, s, "host", "a"));
	cr_expect(hdr_is(&m, s, "X-A", "one two"));
	cr_expect(hdr_is(&m, s, "x-empty", ""));
	cr_expect(hdr_is(&m, s, "x-blank", ""));
	cr_expect(hdr_is(&m, s, "X-OBS", "caf\xc3\xa9"));
	cr_expect(hdr_is(&m, s, "x-tab", "v\tw"));
	expect_prefixes_need_more(s, sizeof(s) - 1, 1);
}

Test(h1_parse, long_values_at_every_alignment)
{
	char s[256];
	size_t shift;

	/* a value with obs-text, HT and SP placed across word boundaries */
	for (shift = 0; shift < 16; shift++) {
		struct h1_msg m;
		char want[64];
		int n;

		snprintf(want, sizeof(want), "%.*s\xc3\xa9t\t\xff" "e zzzzzzzzzzzzzzzzzzz~", (int)shift, "abcdefghijklmnop");
		n = snprintf(s, sizeof(s), "GET /%.*s%s HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n",
		             (int)shift, "abcdefghijklmnop", "/long/path/with/no-obs-text?and=query", want);
		cr_assert_eq(parse_req(s, (size_t)n, &m), n, "shift %zu", shift);
		cr_expect(hdr_is(&m, s, "x", want), "shift %zu", shift);
		cr_expect_eq(m.uri.len, 1 + shift + strlen("/long/path/with/no-obs-text?and=query"), "shift %zu", shift);
		/* obs-text and '#' have no place in a request target, wherever
		 * they fall in the word-at-a-time scan */
		for (const char *bad = "\x80#"; *bad; bad++) {
			n = snprintf(s, sizeof(s), "GET /%.*s/long/path/with/%cin-it?and=query HTTP/1.1\r\nHost: a\r\n\r\n",
			             (int)shift, "abcdefghijklmnop", *bad);
			cr_expect_eq(parse_req(s, (size_t)n, &m), H1_ERR_BAD, "shift %zu, byte %02x", shift,
				     (unsigned char)*bad);
		}
	}
}

Test(h1_parse, bad_headers)
{
	static const struct tstr bad[] = {
		S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),          /* space before colon */
		S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"),  /* obs-fold */
		S("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"),
		S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"),          /* space before first header */
		S("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), /* NUL in value */
		S("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), /* CR in value */
		S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\n: novalue\r\n\r\n"), /* empty name */
		S("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX\0: z\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n"),         /* CR then junk */
		/* long values go 8 bytes at a time: bad bytes deep inside */
		S("GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef0123\x01zzzzzzzzzzzzzzzz\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef012\x7fzzzzzzzzzzzzzzzz\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef01\0zzzzzzzzzzzzzzzz\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef0\rzzzzzzzzzzzzzzzz\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef\x1fzzzzzzzzzzzzzzzz\r\n\r\n"),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].s, bad[i].len, 1, H1_ERR_BAD);
}

/* Builds a request with <n> headers besides Host into <s>. Returns its length. */
static size_t many_headers(char *s, size_t room, unsigned n)
{
	size_t len = (size_t)snprintf(s, room, "GET / HTTP/1.1\r\nHost: h\r\n");
	unsigned i;

	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, room - len, "X-H%u: %u\r\n", i, i);
	len += (size_t)snprintf(s + len, room - len, "\r\n");
	return len;
}

Test(h1_parse, header_count_limit)
{
	char s[4096];
	struct h1_msg m;
	size_t len;

	len = many_headers(s, sizeof(s), H1_MAX_HDRS - 2);    /* 100 with Host */
	cr_assert_eq(parse_req(s, len, &m), (int)len);
	cr_expect_eq(m.nb_hdrs, H1_MAX_HDRS - 1);
	cr_expect(hdr_is(&m, s, "x-h98", "98"));

	len = many_headers(s, sizeof(s), H1_MAX_HDRS - 1);    /* one too many */
	cr_expect_eq(parse_req(s, len, &m), H1_ERR_TOO_LARGE);
	cr_expect_eq(m.err_status, 431);
}

Test(h1_parse, max_head)
{
	static const char s[] = "GET /some/path HTTP/1.1\r\nHost: example.com\r\n\r\n";
	size_t len = sizeof(s) - 1;
	struct h1_msg m;

	/* complete exactly at the limit: fine */
	cr_expect_eq(h1_parse_head(s, len, 1, len, &m), (int)len);
	/* more data than the limit but the head fits: fine */
	cr_expect_eq(h1_parse_head(s, len, 1, len + 10, &m), (int)len);
	/* limit reached without a complete head */
	cr_expect_eq(h1_parse_head(s, len - 1, 1, len - 1, &m), H1_ERR_TOO_LARGE);
	cr_expect_eq(m.err_status, 431);
	cr_expect_eq(h1_parse_head(s, len, 1, len - 1, &m), H1_ERR_TOO_LARGE);
	/* below the limit: need more */
	cr_expect_eq(h1_parse_head(s, len - 1, 1, len, &m), H1_NEED_MORE);
	/* the request line itself is too long: 414 */
	cr_expect_eq(h1_parse_head(s, 12, 1, 12, &m), H1_ERR_TOO_LARGE);
	cr_expect_eq(m.err_status, 414);
	/* a response too long is the server's fault: 502 */
	cr_expect_eq(h1_parse_head("HTTP/1.1 200 OK\r\nA: b\r\n", 23, 0, 20, &m), H1_ERR_TOO_LARGE);
	cr_expect_eq(m.err_status, 502);
	cr_expect_eq(h1_parse_head(s, len, 1, 0, &m), H1_ERR_TOO_LARGE);
}

Test(h1_parse, error_offset_and_status)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(s, sizeof(s) - 1, &m), H1_ERR_BAD);
	cr_expect_eq(m.err_ofs, 28, "err_ofs %u", m.err_ofs);   /* the space */
	cr_expect_eq(m.err_status, 400);
	cr_assert_eq(parse_rsp("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 32, &m), H1_ERR_BAD);
	cr_expect_eq(m.err_status, 502);
}

/* ---- Content-Length ---- */

Test(h1_parse, content_length_valid)
{
	static const char one[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n";
	static const char list[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42 , 42\r\n\r\n";
	static const char twice[] = "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 42\r\nCONTENT-LENGTH: 042\r\n\r\n";
	static const char zero[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
	static const char big[] = "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(one, sizeof(one) - 1, &m), (int)sizeof(one) - 1);
	cr_expect_eq(m.flags & (H1_F_CLEN | H1_F_CLEN_DUP), H1_F_CLEN);
	cr_expect_eq(m.content_length, 42);
	cr_assert_eq(parse_req(list, sizeof(list) - 1, &m), (int)sizeof(list) - 1);
	cr_expect_eq(m.flags & (H1_F_CLEN | H1_F_CLEN_DUP), H1_F_CLEN | H1_F_CLEN_DUP);
	cr_expect_eq(m.content_length, 42);
	cr_assert_eq(parse_req(twice, sizeof(twice) - 1, &m), (int)sizeof(twice) - 1);
	cr_expect_eq(m.flags & (H1_F_CLEN | H1_F_CLEN_DUP), H1_F_CLEN | H1_F_CLEN_DUP);
	cr_expect_eq(m.content_length, 42);
	cr_assert_eq(parse_req(zero, sizeof(zero) - 1, &m), (int)sizeof(zero) - 1);
	cr_expect(m.flags & H1_F_CLEN);
	cr_expect_eq(m.content_length, 0);
	cr_assert_eq(parse_rsp(big, sizeof(big) - 1, &m), (int)sizeof(big) - 1);   /* 2^62 */
	cr_expect_eq(m.content_length, UINT64_C(1) << 62);
}

Test(h1_parse, content_length_invalid)
{
	static const struct tstr bad[] = {
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387905\r\n\r\n"),
		S("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n"),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].s, bad[i].len, bad[i].s[0] != 'H', H1_ERR_BAD);
}

/* ---- Transfer-Encoding ---- */

Test(h1_parse, transfer_encoding_valid)
{
	static const char req[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n";
	static const char req2[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char rsp_both[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char rsp_gzip[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(req, sizeof(req) - 1, &m), (int)sizeof(req) - 1);
	cr_expect_eq(m.flags & (H1_F_TE | H1_F_CHUNKED | H1_F_CLEN), H1_F_TE | H1_F_CHUNKED);
	cr_assert_eq(parse_req(req2, sizeof(req2) - 1, &m), (int)sizeof(req2) - 1);
	cr_expect_eq(m.flags & (H1_F_TE | H1_F_CHUNKED), H1_F_TE | H1_F_CHUNKED);
	/* in a response TE wins over CL */
	cr_assert_eq(parse_rsp(rsp_both, sizeof(rsp_both) - 1, &m), (int)sizeof(rsp_both) - 1);
	cr_expect_eq(m.flags & (H1_F_TE | H1_F_CHUNKED | H1_F_CLEN), H1_F_TE | H1_F_CHUNKED);
	cr_expect_eq(m.content_length, 0);
	/* a response not ending in chunked is close-delimited, not an error */
	cr_assert_eq(parse_rsp(rsp_gzip, sizeof(rsp_gzip) - 1, &m), (int)sizeof(rsp_gzip) - 1);
	cr_expect_eq(m.flags & (H1_F_TE | H1_F_CHUNKED), H1_F_TE);
}

Test(h1_parse, transfer_encoding_invalid)
{
	static const struct tstr bad[] = {
		/* both framings in a request: request smuggling */
		S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
		/* last coding not chunked */
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
		/* chunked twice */
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
		/* HTTP/1.0 with TE */
		S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
		S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
		/* odd list syntax */
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"),
		S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
	};
	static const struct tstr unknown[] = {
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n"),
		S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"),
		S("HTTP/1.1 200 OK\r\nTransfer-Encoding: zstd\r\n\r\n"),
	};
	struct h1_msg m;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].s, bad[i].len, bad[i].s[0] != 'H', H1_ERR_BAD);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		expect_error(unknown[i].s, unknown[i].len, unknown[i].s[0] != 'H', H1_ERR_NOT_IMPL);
	cr_expect_eq(parse_req(unknown[0].s, unknown[0].len, &m), H1_ERR_NOT_IMPL);
	cr_expect_eq(m.err_status, 501);
}

/* ---- Host, Connection, Expect, Upgrade ---- */

Test(h1_parse, host_rules)
{
	static const struct tstr bad[] = {
		S("GET / HTTP/1.1\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
		S("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
		S("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
	};
	static const char v10[] = "GET / HTTP/1.0\r\n\r\n";
	static const char empty[] = "GET / HTTP/1.1\r\nHost:\r\n\r\n";
	struct h1_msg m;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].s, bad[i].len, 1, H1_ERR_BAD);
	cr_assert_eq(parse_req(v10, sizeof(v10) - 1, &m), (int)sizeof(v10) - 1);
	cr_expect_eq(m.flags & H1_F_HOST, 0);
	cr_assert_eq(parse_req(empty, sizeof(empty) - 1, &m), (int)sizeof(empty) - 1);
	cr_expect(m.flags & H1_F_HOST);
}

Test(h1_parse, connection_tokens)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, , UPGRADE, X-Foo\r\n"
	                        "Upgrade: websocket\r\nConnection: close\r\n\r\n";
	static const char bad[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close foo\r\n\r\n";
	static const char upg10[] = "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
	static const char noupg[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(s, sizeof(s) - 1, &m), (int)sizeof(s) - 1);
	cr_expect_eq(m.flags & (H1_F_CONN_CLOSE | H1_F_CONN_KA | H1_F_UPGRADE | H1_F_CONN_OTHER),
	             H1_F_CONN_CLOSE | H1_F_CONN_KA | H1_F_UPGRADE | H1_F_CONN_OTHER);
	cr_expect_eq(h1_wants_close(&m), 1);
	expect_error(bad, sizeof(bad) - 1, 1, H1_ERR_BAD);
	/* Upgrade means nothing in HTTP/1.0, nor without the Connection token */
	cr_assert_eq(parse_req(upg10, sizeof(upg10) - 1, &m), (int)sizeof(upg10) - 1);
	cr_expect_eq(m.flags & H1_F_UPGRADE, 0);
	cr_assert_eq(parse_req(noupg, sizeof(noupg) - 1, &m), (int)sizeof(noupg) - 1);
	cr_expect_eq(m.flags & H1_F_UPGRADE, 0);
}

Test(h1_parse, wants_close)
{
	static const struct { const char *s; int close; } tab[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", 1 },
		{ "HTTP/1.0 200 OK\r\n\r\n", 1 },
		{ "HTTP/1.1 200 OK\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nConnection: CLOSE\r\n\r\n", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct h1_msg m;
		size_t len = strlen(tab[i].s);

		cr_assert_eq(h1_parse_head(tab[i].s, len, tab[i].s[0] != 'H', TEST_MAX_HEAD, &m), (int)len);
		cr_expect_eq(h1_wants_close(&m), tab[i].close, "%s", tab[i].s);
	}
}

Test(h1_parse, expect_100)
{
	static const char s11[] = "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
	static const char s10[] = "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
	static const char other[] = "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(s11, sizeof(s11) - 1, &m), (int)sizeof(s11) - 1);
	cr_expect(m.flags & H1_F_EXPECT_100);
	cr_assert_eq(parse_req(s10, sizeof(s10) - 1, &m), (int)sizeof(s10) - 1);
	cr_expect_eq(m.flags & H1_F_EXPECT_100, 0);
	cr_assert_eq(parse_req(other, sizeof(other) - 1, &m), (int)sizeof(other) - 1);
	cr_expect_eq(m.flags & H1_F_EXPECT_100, 0);
}

/* ---- status line ---- */

Test(h1_parse, status_lines)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char nosp[] = "HTTP/1.1 200\r\n\r\n";
	static const char empty[] = "HTTP/1.1 204 \r\n\r\n";
	static const char v10[] = "HTTP/1.0 404 Not  Found  \r\nServer: x\r\n\r\n";
	static const char lf[] = "HTTP/1.1 100 Continue\n\n";
	struct h1_msg m;

	cr_assert_eq(parse_rsp(ok, sizeof(ok) - 1, &m), (int)sizeof(ok) - 1);
	cr_expect_eq(m.is_request, 0);
	cr_expect_eq(m.status, 200);
	cr_expect(span_is(ok, m.reason, "OK"));
	expect_prefixes_need_more(ok, sizeof(ok) - 1, 0);
	cr_assert_eq(parse_rsp(nosp, sizeof(nosp) - 1, &m), (int)sizeof(nosp) - 1);
	cr_expect_eq(m.status, 200);
	cr_expect_eq(m.reason.len, 0);
	expect_prefixes_need_more(nosp, sizeof(nosp) - 1, 0);
	cr_assert_eq(parse_rsp(empty, sizeof(empty) - 1, &m), (int)sizeof(empty) - 1);
	cr_expect_eq(m.status, 204);
	cr_expect_eq(m.reason.len, 0);
	cr_assert_eq(parse_rsp(v10, sizeof(v10) - 1, &m), (int)sizeof(v10) - 1);
	cr_expect_eq(m.version, 10);
	cr_expect(span_is(v10, m.reason, "Not  Found  "));
	cr_assert_eq(parse_rsp(lf, sizeof(lf) - 1, &m), (int)sizeof(lf) - 1);
	cr_expect_eq(m.status, 100);
}

Test(h1_parse, bad_status_lines)
{
	static const struct tstr bad[] = {
		S("HTTP/1.1 20 OK\r\n\r\n"),
		S("HTTP/1.1 2000 OK\r\n\r\n"),
		S("HTTP/1.1 099 Low\r\n\r\n"),
		S("HTTP/1.1 600 High\r\n\r\n"),
		S("HTTP/1.1  200 OK\r\n\r\n"),
		S("HTTP/1.1 200 OK\x01\r\n\r\n"),
		S("HTTP/1.1 200X\r\n\r\n"),
		S("HTTP/1.1 abc OK\r\n\r\n"),
		S("http/1.1 200 OK\r\n\r\n"),
		S("HTTP/1.1\r\n\r\n"),
		S("\r\nHTTP/1.1 200 OK\r\n\r\n"),  /* empty lines only before requests */
		S("HTTP/1.1 200 OK\r\nA : b\r\n\r\n"),
		S("GET / HTTP/1.1\r\n\r\n"),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].s, bad[i].len, 0, H1_ERR_BAD);
}

/* ---- whole messages ---- */

Test(h1_parse, browser_request)
{
	static const char s[] =
		"GET /search?q=http%2F1.1+parser&lang=en HTTP/1.1\r\n"
		"Host: www.example.org\r\n"
		"Connection: keep-alive\r\n"
		"sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
		"sec-ch-ua-mobile: ?0\r\n"
		"sec-ch-ua-platform: \"Linux\"\r\n"
		"Upgrade-Insecure-Requests: 1\r\n"
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n"
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
		"Sec-Fetch-Site: same-origin\r\n"
		"Sec-Fetch-Mode: navigate\r\n"
		"Sec-Fetch-User: ?1\r\n"
		"Sec-Fetch-Dest: document\r\n"
		"Referer: https://www.example.org/\r\n"
		"Accept-Encoding: gzip, deflate, br, zstd\r\n"
		"Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
		"Cookie: session=abc123; theme=dark; _ga=GA1.2.3.4\r\n"
		"\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(s, sizeof(s) - 1, &m), (int)sizeof(s) - 1);
	cr_expect_eq(m.meth, H1_M_GET);
	cr_expect(span_is(s, m.uri, "/search?q=http%2F1.1+parser&lang=en"));
	cr_expect_eq(m.nb_hdrs, 16);
	cr_expect_eq(m.flags, H1_F_HOST | H1_F_CONN_KA);
	cr_expect(hdr_is(&m, s, "cookie", "session=abc123; theme=dark; _ga=GA1.2.3.4"));
	cr_expect(hdr_is(&m, s, "USER-AGENT",
	                 "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"));
	cr_expect_eq(h1_find_hdr(&m, s, "Sec-Fetch-Site", 0), 8);
	cr_expect_eq(h1_find_hdr(&m, s, "Sec-Fetch-Site", 8), 8);
	cr_expect_eq(h1_find_hdr(&m, s, "Sec-Fetch-Site", 9), -1);
	cr_expect_eq(h1_find_hdr(&m, s, "Sec-Fetch", 0), -1);
	cr_expect_eq(h1_find_hdr(&m, s, "x-missing", 0), -1);
	expect_prefixes_need_more(s, sizeof(s) - 1, 1);
}

Test(h1_parse, find_hdr_repeated)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-b: 2\r\nX-a: 3\r\n\r\n";
	struct h1_msg m;
	int i;

	cr_assert_eq(parse_req(s, sizeof(s) - 1, &m), (int)sizeof(s) - 1);
	i = h1_find_hdr(&m, s, "x-a", 0);
	cr_expect_eq(i, 1);
	i = h1_find_hdr(&m, s, "x-a", i + 1);
	cr_expect_eq(i, 3);
	cr_expect(span_is(s, m.hdrs[3].value, "3"));
	cr_expect_eq(h1_find_hdr(&m, s, "x-a", i + 1), -1);
	cr_expect_eq(h1_find_hdr(&m, s, "x-a", -5), 1);
}

Test(h1_parse, pipelined_requests)
{
	static const char s[] =
		"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
		"\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t len = sizeof(s) - 1, pos = 0;
	struct h1_msg m;
	struct h1_body b;
	int r;

	r = parse_req(s, len, &m);
	cr_assert_eq(r, 28);
	cr_expect(span_is(s, m.uri, "/1"));
	pos += (size_t)r;

	r = parse_req(s + pos, len - pos, &m);
	cr_assert_gt(r, 0);
	cr_expect(span_is(s + pos, m.uri, "/2"));
	pos += (size_t)r;
	cr_assert_eq(h1_body_init(&b, &m, H1_M_OTHER), 0);
	cr_assert_eq(h1_body_scan(&b, s + pos, len - pos), 5);
	cr_expect(b.done);
	pos += 5;

	/* the stray CRLF after a body is an empty line before the next request */
	r = parse_req(s + pos, len - pos, &m);
	cr_assert_eq((size_t)r, len - pos);
	cr_expect(span_is(s + pos, m.uri, "/3"));
}

/* ---- h1_head_end ---- */

Test(h1_parse, head_end_matches_parse)
{
	static const char *const heads[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY",
		"\r\n\nGET / HTTP/1.1\nHost: a\n\nBODY",
		"HTTP/1.1 200 OK\r\nA: b\r\nC: d\n\r\nxyz",
		"GET / HTTP/1.0\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		const char *s = heads[i];
		size_t len = strlen(s), n, resume = 0, end = 0, whole;
		struct h1_msg m;
		int r = h1_parse_head(s, len, s[0] != 'H', TEST_MAX_HEAD, &m);

		cr_assert_gt(r, 0, "%s", s);
		whole = 0;
		cr_expect_eq(h1_head_end(s, len, &whole), (size_t)r);
		/* one byte more per call, resuming each time */
		for (n = 0; n <= len && !end; n++) {
			end = h1_head_end(s, n, &resume);
			if (!end)
				cr_expect_lt(n, (size_t)r, "no end found at %zu for %s", n, s);
		}
		cr_expect_eq(end, (size_t)r, "%s", s);
		cr_expect_eq(n, (size_t)r + 1);
	}
}

/* The scanner resumes: a call never looks again at bytes before the point
 * the previous one stopped (bar the last line end, which may be the start
 * of the empty line). Bytes already scanned are changed under it into an
 * empty line: a scanner that restarted from the start would find that,
 * and a trickled head would cost a full scan per read. */
Test(h1_parse, head_end_resumes_where_it_stopped)
{
	char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: pppppppppppppppp\r\nB: c\r\n\r\n";
	size_t len = strlen(s), resume = 0, n;

	/* byte by byte up to just before the end: the resume point follows
	 * the data, never more than the last CR LF behind it */
	for (n = 0; n < len - 1; n++) {
		cr_assert_eq(h1_head_end(s, n, &resume), 0, "end found early at %zu", n);
		cr_assert_leq(resume, n);
		cr_assert_geq(resume + 2, n, "resume %zu lags behind %zu bytes", resume, n);
	}
	/* poison what was scanned with an empty line: not looked at again */
	memcpy(s + 16, "\n\n", 2);
	cr_assert_eq(h1_head_end(s, len - 1, &resume), 0);
	cr_assert_eq(h1_head_end(s, len, &resume), len);
	/* a scan from the start sees the poison, as it should */
	resume = 0;
	cr_assert_eq(h1_head_end(s, len, &resume), 17);
}

/* A 101 may only switch to protocols the request offered. */
Test(h1_list, covers)
{
	cr_assert(h1_list_covers("websocket", 9, "WebSocket", 9));
	cr_assert(h1_list_covers("h2c, websocket", 14, "websocket", 9));
	cr_assert(h1_list_covers("a, b", 4, "b ,a", 4));
	cr_assert_not(h1_list_covers("websocket", 9, "h2c", 3));
	cr_assert_not(h1_list_covers("websocket", 9, "websocket, h2c", 14));
	cr_assert_not(h1_list_covers("websocket", 9, "", 0));
	cr_assert_not(h1_list_covers("websocket", 9, " , ", 3));
	cr_assert_not(h1_list_covers("", 0, "websocket", 9));
	cr_assert_not(h1_list_covers("websockets", 10, "websocket", 9));
}

/* The request target forms of RFC 9112 3.2, each for the methods that may
 * use it; anything else is a 400, since the next hop could read it another
 * way. */
Test(h1_parse, target_forms)
{
	static const struct { const char *line; int ok; } tab[] = {
		{ "GET /a?b HTTP/1.1", 1 },
		{ "GET http://other/a HTTP/1.1", 1 },
		{ "GET https://u@other:8443 HTTP/1.1", 1 },
		{ "OPTIONS * HTTP/1.1", 1 },
		{ "CONNECT h:443 HTTP/1.1", 1 },
		{ "GET * HTTP/1.1", 0 },
		{ "GET t:80 HTTP/1.1", 0 },
		{ "GET a HTTP/1.1", 0 },
		{ "GET http:/a HTTP/1.1", 0 },
		{ "GET http:///a HTTP/1.1", 0 },
		{ "GET 1http://a/ HTTP/1.1", 0 },
		{ "GET /a#f HTTP/1.1", 0 },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char s[128];
		struct h1_msg m;
		int n = snprintf(s, sizeof(s), "%s\r\nHost: t\r\n\r\n", tab[i].line);
		int r = parse_req(s, (size_t)n, &m);

		if (tab[i].ok)
			cr_expect_eq(r, n, "%s: %d", tab[i].line, r);
		else
			cr_expect_eq(r, H1_ERR_BAD, "%s: %d", tab[i].line, r);
	}
}

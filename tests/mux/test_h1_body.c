/* test_h1_body.c - HTTP/1 body framing: modes chosen from heads, lengths,
 * chunked bodies fed in every split, framing errors, and the ring variant. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "tests/mux/h1_testutil.h"

/* A chunked body with extensions (quoted too), upper and lower case hex,
 * blanks before an extension, and trailers; then the next message. */
static const char chunked_msg[] =
	"4;name=value;q=\"a;b\"\r\nWiki\r\n"
	"5 ;x\r\npedia\r\n"
	"E\r\n in\r\n\r\nchunks.\r\n"
	"0a\r\n0123456789\r\n"
	"0;last\r\n"
	"X-Trailer: v1\r\n"
	"Checksum:\tabc \r\n"
	"\r\n";
static const char next_msg[] = "GET /next HTTP/1.1\r\n";

/* Sets <b> up for a chunked request body. */
static void chunked_body(struct h1_body *b)
{
	static const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct h1_msg m;

	cr_assert_eq(parse_req(head, sizeof(head) - 1, &m), (int)sizeof(head) - 1);
	cr_assert_eq(h1_body_init(b, &m, H1_M_OTHER), 0);
	cr_assert_eq(b->mode, H1_BODY_CHUNKED);
	cr_assert_eq(b->done, 0);
}

/* Returns the whole test input: the chunked message then the next one. */
static size_t chunked_input(char *dst, size_t room)
{
	size_t a = sizeof(chunked_msg) - 1, b = sizeof(next_msg) - 1;

	cr_assert_leq(a + b, room);
	memcpy(dst, chunked_msg, a);
	memcpy(dst + a, next_msg, b);
	return a + b;
}

/* Feeds p[0..len) to <b> in pieces cut at <cuts> (sorted, <= len).
 * Returns the bytes claimed, or a negative error. */
static long feed(struct h1_body *b, const char *p, size_t len, const size_t *cuts, size_t ncuts)
{
	size_t from = 0, k;
	long total = 0;

	for (k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : len;
		long r = h1_body_scan(b, p + from, to - from);

		if (r < 0)
			return r;
		cr_assert_leq((size_t)r, to - from);
		total += r;
		if (b->done)
			break;
		cr_assert_eq((size_t)r, to - from, "an unfinished body must take all it is given");
		from = to;
	}
	return total;
}

Test(h1_body, chunked_whole)
{
	char in[512];
	size_t len = chunked_input(in, sizeof(in));
	struct h1_body b;

	chunked_body(&b);
	cr_assert_eq(h1_body_scan(&b, in, len), (long)sizeof(chunked_msg) - 1);
	cr_expect(b.done);
	cr_expect_eq(b.total, sizeof(chunked_msg) - 1);
	/* once done, nothing more belongs to it */
	cr_expect_eq(h1_body_scan(&b, in, len), 0);
}

Test(h1_body, chunked_every_split)
{
	char in[512];
	size_t len = chunked_input(in, sizeof(in)), s;

	for (s = 0; s <= len; s++) {
		struct h1_body b;

		chunked_body(&b);
		cr_assert_eq(feed(&b, in, len, &s, 1), (long)sizeof(chunked_msg) - 1, "split at %zu", s);
		cr_assert(b.done, "split at %zu", s);
	}
}

Test(h1_body, chunked_every_two_splits)
{
	char in[512];
	size_t len = chunked_input(in, sizeof(in)), cuts[2];

	for (cuts[0] = 0; cuts[0] <= len; cuts[0]++)
		for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
			struct h1_body b;

			chunked_body(&b);
			cr_assert_eq(feed(&b, in, len, cuts, 2), (long)sizeof(chunked_msg) - 1,
			             "splits at %zu %zu", cuts[0], cuts[1]);
			cr_assert(b.done);
		}
}

Test(h1_body, chunked_byte_by_byte)
{
	char in[512];
	size_t len = chunked_input(in, sizeof(in)), i;
	struct h1_body b;
	long total = 0;

	chunked_body(&b);
	for (i = 0; i < len && !b.done; i++) {
		long r = h1_body_scan(&b, in + i, 1);

		cr_assert_eq(r, 1, "byte %zu", i);
		total += r;
		cr_assert_eq(b.done, i == sizeof(chunked_msg) - 2, "byte %zu", i);
	}
	cr_expect_eq(total, (long)sizeof(chunked_msg) - 1);
	cr_expect_eq(h1_body_scan(&b, in + i, len - i), 0);
}

Test(h1_body, chunked_minimal_and_big_size)
{
	static const char last[] = "0\r\n\r\nX";
	static const char big[] = "4000000000000000\r\nabc";
	struct h1_body b;

	chunked_body(&b);
	cr_expect_eq(h1_body_scan(&b, last, sizeof(last) - 1), 5);
	cr_expect(b.done);

	/* 2^62 is the largest size taken */
	chunked_body(&b);
	cr_expect_eq(h1_body_scan(&b, big, sizeof(big) - 1), (long)sizeof(big) - 1);
	cr_expect_eq(b.left, (UINT64_C(1) << 62) - 3);
	cr_expect_eq(b.done, 0);
}

Test(h1_body, chunked_errors)
{
	static const struct tstr bad[] = {
		S("g\r\n"),                     /* not hex */
		S("\r\n"),                      /* no size */
		S("-1\r\n"),
		S(" 5\r\nhello\r\n"),           /* blank before the size */
		S("0x5\r\nhello\r\n"),
		S("5\nhello\r\n"),              /* bare LF after the size */
		S("5\r\rhello\r\n"),
		S("5\r\nhelloX\r\n"),           /* data longer than the size */
		S("5\r\nhello\n0\r\n\r\n"),     /* bare LF after the data */
		S("5\r\nhello\r0\r\n\r\n"),
		S("5 x\r\nhello\r\n"),          /* junk after blanks */
		S("5;a\nb\r\nhello\r\n"),       /* LF inside an extension */
		S("5;a\0b\r\nhello\r\n"),       /* NUL inside an extension */
		S("4000000000000001\r\n"),      /* over 2^62 */
		S("FFFFFFFFFFFFFFFF\r\n"),
		S("10000000000000000\r\n"),     /* 17 digits: would overflow 64 bits */
		S("00000000000000005\r\n"),     /* 17 digits, padding */
		S("0\r\n\n"),                   /* bare LF ending */
		S("0\r\nX: y\n\r\n"),           /* bare LF in a trailer */
		S("0\r\n folded\r\n\r\n"),      /* obs-fold in trailers */
		S("0\r\nX Y: z\r\n\r\n"),       /* bad trailer name */
		S("0\r\nNoColon\r\n\r\n"),
		S("0\r\nX: a\x01\r\n\r\n"),
		S("0\r\n\rX"),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct h1_body b;
		size_t n;

		chunked_body(&b);
		cr_expect_eq(h1_body_scan(&b, bad[i].s, bad[i].len), H1_ERR_BAD, "case %zu", i);
		/* the error sticks */
		cr_expect_eq(h1_body_scan(&b, "0\r\n\r\n", 5), H1_ERR_BAD, "case %zu", i);
		cr_expect_eq(h1_body_eof(&b), H1_ERR_BAD);

		/* and it is found the same way one byte at a time */
		chunked_body(&b);
		for (n = 0; n < bad[i].len; n++) {
			long r = h1_body_scan(&b, bad[i].s + n, 1);

			if (r < 0)
				break;
			cr_assert_eq(r, 1);
		}
		cr_expect_lt(n, bad[i].len, "case %zu: no error byte by byte", i);
	}
}

Test(h1_body, content_length)
{
	static const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
	static const char zero[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
	struct h1_msg m;
	struct h1_body b;

	cr_assert_gt(parse_req(head, sizeof(head) - 1, &m), 0);
	cr_assert_eq(h1_body_init(&b, &m, H1_M_OTHER), 0);
	cr_expect_eq(b.mode, H1_BODY_LENGTH);
	cr_expect_eq(h1_body_scan(&b, "0123", 4), 4);
	cr_expect_eq(b.done, 0);
	cr_expect_eq(h1_body_scan(&b, "456789GET /", 11), 6);
	cr_expect(b.done);
	cr_expect_eq(b.total, 10);
	cr_expect_eq(h1_body_scan(&b, "x", 1), 0);

	cr_assert_gt(parse_req(zero, sizeof(zero) - 1, &m), 0);
	cr_assert_eq(h1_body_init(&b, &m, H1_M_OTHER), 0);
	cr_expect(b.done);
	cr_expect_eq(h1_body_scan(&b, "GET /", 5), 0);
	cr_expect_eq(h1_body_eof(&b), 0);
}

Test(h1_body, request_without_length)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct h1_msg m;
	struct h1_body b;

	cr_assert_gt(parse_req(head, sizeof(head) - 1, &m), 0);
	cr_assert_eq(h1_body_init(&b, &m, H1_M_OTHER), 0);
	cr_expect_eq(b.mode, H1_BODY_NONE);
	cr_expect(b.done);
	cr_expect_eq(h1_body_scan(&b, "GET", 3), 0);
}

Test(h1_body, request_bad_framing_flags)
{
	struct h1_msg m = { .is_request = 1, .version = 11, .flags = H1_F_TE };
	struct h1_body b;

	/* a request built by hand with TE not ending in chunked */
	cr_expect_eq(h1_body_init(&b, &m, H1_M_OTHER), H1_ERR_BAD);
	m.flags = H1_F_TE | H1_F_CHUNKED | H1_F_CLEN;
	cr_expect_eq(h1_body_init(&b, &m, H1_M_OTHER), H1_ERR_BAD);
}

/* Parses response head <s> and sets <b> up for it, <req> being the request
 * method. */
static void rsp_body(const char *s, enum h1_meth req, struct h1_body *b)
{
	struct h1_msg m;
	size_t len = strlen(s);

	cr_assert_eq(parse_rsp(s, len, &m), (int)len, "%s", s);
	cr_assert_eq(h1_body_init(b, &m, req), 0, "%s", s);
}

Test(h1_body, responses_without_body)
{
	static const struct { const char *s; enum h1_meth req; } tab[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", H1_M_HEAD },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H1_M_HEAD },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", H1_M_GET },
		{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", H1_M_GET },
		{ "HTTP/1.1 100 Continue\r\n\r\n", H1_M_POST },
		{ "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", H1_M_GET },
		{ "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", H1_M_GET },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct h1_body b;

		rsp_body(tab[i].s, tab[i].req, &b);
		cr_expect_eq(b.mode, H1_BODY_NONE, "%s", tab[i].s);
		cr_expect(b.done, "%s", tab[i].s);
		cr_expect_eq(h1_body_scan(&b, "HTTP/1.1 200", 12), 0);
	}
}

Test(h1_body, responses_close_delimited)
{
	static const struct { const char *s; enum h1_meth req; } tab[] = {
		{ "HTTP/1.1 200 OK\r\n\r\n", H1_M_GET },
		{ "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", H1_M_GET },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", H1_M_GET },
		{ "HTTP/1.1 200 Connection established\r\n\r\n", H1_M_CONNECT },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", H1_M_CONNECT },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct h1_body b;

		rsp_body(tab[i].s, tab[i].req, &b);
		cr_expect_eq(b.mode, H1_BODY_CLOSE, "%s", tab[i].s);
		cr_expect_eq(h1_body_scan(&b, "abcdef", 6), 6);
		cr_expect_eq(h1_body_scan(&b, "\r\n0\r\n\r\n", 7), 7);
		cr_expect_eq(b.done, 0);
		cr_expect_eq(b.total, 13);
		cr_expect_eq(h1_body_eof(&b), 0);
		cr_expect(b.done);
	}
}

Test(h1_body, responses_framed)
{
	struct h1_body b;

	/* a CONNECT refused has a normal body */
	rsp_body("HTTP/1.1 407 Auth\r\nContent-Length: 3\r\n\r\n", H1_M_CONNECT, &b);
	cr_expect_eq(b.mode, H1_BODY_LENGTH);
	rsp_body("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", H1_M_GET, &b);
	cr_expect_eq(b.mode, H1_BODY_CHUNKED);
	cr_expect_eq(h1_body_scan(&b, "3\r\nabc\r\n0\r\n\r\nHTTP", 17), 13);
	cr_expect(b.done);
	/* truncated bodies are errors at EOF */
	rsp_body("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", H1_M_GET, &b);
	cr_expect_eq(h1_body_scan(&b, "ab", 2), 2);
	cr_expect_eq(h1_body_eof(&b), H1_ERR_BAD);
	rsp_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H1_M_GET, &b);
	cr_expect_eq(h1_body_scan(&b, "3\r\nabc\r\n", 8), 8);
	cr_expect_eq(h1_body_eof(&b), H1_ERR_BAD);
}

Test(h1_body, scan_buf_wrapped)
{
	char in[512], area[256];
	size_t len = chunked_input(in, sizeof(in)), head;

	cr_assert_leq(len + 8, sizeof(area));
	/* place the input at every head offset, so it wraps at every point */
	for (head = 0; head < sizeof(area); head++) {
		struct buf buf = { .area = area, .size = sizeof(area), .head = head, .data = 0 };
		struct h1_body b;
		size_t skip;

		memset(area, '#', sizeof(area));
		/* 3 bytes of something else first, scanned from ofs 3 */
		cr_assert_eq(b_putblk(&buf, "XYZ", 3), 3);
		cr_assert_eq(b_putblk(&buf, in, len), len);
		chunked_body(&b);
		cr_assert_eq(h1_body_scan_buf(&b, &buf, 3), (long)sizeof(chunked_msg) - 1, "head %zu", head);
		cr_assert(b.done);

		/* in two calls, the first ending mid-message */
		chunked_body(&b);
		skip = buf.data - 3 - (sizeof(next_msg) - 1) - 20;
		buf.data -= sizeof(next_msg) - 1 + 20;
		cr_assert_eq(h1_body_scan_buf(&b, &buf, 3), (long)skip);
		cr_assert_eq(b.done, 0);
		buf.data += sizeof(next_msg) - 1 + 20;
		cr_assert_eq(h1_body_scan_buf(&b, &buf, 3 + skip), 20);
		cr_assert(b.done);
		cr_expect_eq(h1_body_scan_buf(&b, &buf, buf.data), 0);
	}
}

Test(h1_body, scan_buf_error_and_empty)
{
	char area[16];
	struct buf buf = { .area = area, .size = sizeof(area), .head = 12, .data = 0 };
	struct h1_body b;

	cr_assert_eq(b_putblk(&buf, "5\r\nhelloX\r\n", 11), 11);   /* wraps after 4 bytes */
	chunked_body(&b);
	cr_expect_eq(h1_body_scan_buf(&b, &buf, 0), H1_ERR_BAD);
	chunked_body(&b);
	cr_expect_eq(h1_body_scan_buf(&b, &buf, 11), 0);
	cr_expect_eq(h1_body_scan_buf(&b, &buf, 12), 0);
	cr_expect_eq(b.done, 0);
}

/* test_chunk_grammar.c - one grammar for chunked bodies: the same table
 * of chunk framings goes through the HTTP/1 body framing (h1_body_scan,
 * what the proxy forwards verbatim) and through the HTTP/2 mux, which
 * decodes a chunked HTTP/1.1 message into DATA frames. Both must accept
 * and reject exactly the same framings, or a body could end in one place
 * for one peer and somewhere else for another. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mux/h1.h"
#include "tests/mux/h2_harness.h"

struct framing {
	const char *name;
	const char *body;     /* the chunked body, framing included */
	const char *payload;  /* what it carries, or NULL when it must be rejected */
};

static const struct framing table[] = {
	{ "valid",              "5\r\nhello\r\n0\r\n\r\n", "hello" },
	{ "two chunks",         "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde" },
	{ "upper-case hex",     "A\r\n0123456789\r\n0\r\n\r\n", "0123456789" },
	{ "bare LF after size", "5\nhello\r\n0\r\n\r\n", NULL },
	{ "bare LF after data", "5\r\nhello\n0\r\n\r\n", NULL },
	{ "bare LF at the end", "5\r\nhello\r\n0\r\n\n", NULL },
	{ "bare LF, last chunk","5\r\nhello\r\n0\n\r\n", NULL },
	{ "16 hex digits",      "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello" },
	{ "17 hex digits",      "00000000000000005\r\nhello\r\n0\r\n\r\n", NULL },
	{ "size overflow",      "8000000000000000\r\nhello\r\n0\r\n\r\n", NULL },
	{ "size past 2^64",     "10000000000000005\r\nhello\r\n0\r\n\r\n", NULL },
	{ "extension",          "5;ext=1\r\nhello\r\n0;last\r\n\r\n", "hello" },
	{ "quoted extension",   "5 ;e=\"q v\"\r\nhello\r\n0\r\n\r\n", "hello" },
	{ "junk after size",    "5 x\r\nhello\r\n0\r\n\r\n", NULL },
	{ "control in ext",     "5;e\x01\r\nhello\r\n0\r\n\r\n", NULL },
	{ "trailer",            "5\r\nhello\r\n0\r\nx-t: 1\r\nx-u: 2\r\n\r\n", "hello" },
	{ "folded trailer",     "5\r\nhello\r\n0\r\n x-t: 1\r\n\r\n", NULL },
	{ "trailer no colon",   "5\r\nhello\r\n0\r\nx-t\r\n\r\n", NULL },
	{ "trailer bare LF",    "5\r\nhello\r\n0\r\nx-t: 1\n\r\n", NULL },
	{ "not hex",            "x\r\nhello\r\n0\r\n\r\n", NULL },
	{ "empty size",         "\r\nhello\r\n0\r\n\r\n", NULL },
	{ "0x prefix",          "0x5\r\nhello\r\n0\r\n\r\n", NULL },
	{ "negative",           "-5\r\nhello\r\n0\r\n\r\n", NULL },
	{ "data too long",      "5\r\nhelloX\r\n0\r\n\r\n", NULL },
};
#define NB (sizeof(table) / sizeof(table[0]))

static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/* The HTTP/1 verdict: the body is accepted when the framing consumes all
 * of it and says the message ended; fed whole, then byte by byte (the
 * answer must not depend on the split). */
static int h1_accepts(const char *body)
{
	struct h1_msg m;
	struct h1_body b, b1;
	size_t len = strlen(body), i;
	long r;
	int whole, bytewise = 1;

	cr_assert_gt(h1_parse_head(head, sizeof(head) - 1, 0, 4096, &m), 0);
	cr_assert_eq(h1_body_init(&b, &m, H1_M_GET), 0);
	b1 = b;
	r = h1_body_scan(&b, body, len);
	whole = r == (long)len && b.done;
	for (i = 0; i < len; i++) {
		r = h1_body_scan(&b1, body + i, 1);
		if (r != 1) {
			bytewise = 0;
			break;
		}
	}
	bytewise = bytewise && b1.done;
	cr_expect_eq(whole, bytewise, "h1 split changes the verdict on %s", body);
	return whole;
}

/* The HTTP/1 decoder the HTTP/2 side uses: decodes <body> into <out>
 * (room enough) with h1_chunk_framing() and friends, fed <step> bytes at a
 * time. Returns the payload length, or -1 when rejected or not ended. */
static long h1_decode(const char *body, size_t step, char *out)
{
	struct h1_msg m;
	struct h1_body b;
	size_t len = strlen(body), pos = 0, o = 0;

	cr_assert_gt(h1_parse_head(head, sizeof(head) - 1, 0, 4096, &m), 0);
	cr_assert_eq(h1_body_init(&b, &m, H1_M_GET), 0);
	while (pos < len && !b.done) {
		uint64_t k = h1_chunk_data_left(&b);
		size_t n = len - pos < step ? len - pos : step;

		if (k) {
			if (k > n)
				k = n;
			memcpy(out + o, body + pos, (size_t)k);
			o += (size_t)k;
			pos += (size_t)k;
			h1_chunk_data_took(&b, k);
			continue;
		}
		long r = h1_chunk_framing(&b, body + pos, n);

		if (r < 0)
			return -1;
		pos += (size_t)r;
	}
	return b.done && pos == len ? (long)o : -1;
}

Test(chunk_grammar, table_is_right_for_h1, .description = "the HTTP/1 framing gives each row's verdict")
{
	char out[256];

	for (size_t i = 0; i < NB; i++) {
		const struct framing *f = &table[i];

		cr_expect_eq(h1_accepts(f->body), f->payload != NULL, "h1 on \"%s\"", f->name);
		for (size_t step = 1; step <= 64; step *= 4) {
			long n = h1_decode(f->body, step, out);

			if (!f->payload) {
				cr_expect_lt(n, 0, "h1 decoder accepted \"%s\" (step %zu)", f->name, step);
				continue;
			}
			cr_expect_eq(n, (long)strlen(f->payload), "h1 decoder on \"%s\" (step %zu): %ld",
				     f->name, step, n);
			if (n == (long)strlen(f->payload))
				cr_expect_eq(memcmp(out, f->payload, (size_t)n), 0, "payload of \"%s\"", f->name);
		}
	}
}

Test(chunk_grammar, h2_agrees_with_h1, .timeout = 30,
     .description = "every framing through the HTTP/2 mux: same verdict as HTTP/1, same payload")
{
	static char resp[NB][512];
	static const char *raw[NB];
	struct h2h_opts o = { 0 };
	struct h2h *h;
	struct cli c;
	char path[32];
	int idx[NB];

	for (size_t i = 0; i < NB; i++) {
		snprintf(resp[i], sizeof(resp[i]), "%s%s", head, table[i].body);
		raw[i] = resp[i];
	}
	o.raw = raw;
	o.nb_raw = NB;
	h = h2h_start(&o);
	cr_assert_not_null(h);
	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	for (size_t i = 0; i < NB; i++) {
		snprintf(path, sizeof(path), "/raw/%zu", i);
		idx[i] = cli_request(&c, "GET", path, 0, 0);
		cr_assert_geq(idx[i], 0);
	}
	cr_expect_eq(cli_run(&c, 5000), 0, "streams not closed");
	for (size_t i = 0; i < NB; i++) {
		const struct framing *f = &table[i];
		const struct cli_stream *cs = &c.st[idx[i]];
		int h2_ok = cs->closed && cs->err == 0 && cs->status == 200;
		int h1_ok = h1_accepts(f->body);

		cr_expect_eq(h2_ok, h1_ok, "\"%s\": HTTP/2 side %s, HTTP/1 side %s (status %d, error %u)",
			     f->name, h2_ok ? "accepts" : "rejects", h1_ok ? "accepts" : "rejects",
			     cs->status, cs->err);
		if (h2_ok && f->payload) {
			uint32_t fnv = h2h_fnv(2166136261u, (const uint8_t *)f->payload, strlen(f->payload));

			cr_expect_eq(cs->bytes, strlen(f->payload), "\"%s\": %llu payload bytes", f->name,
				     (unsigned long long)cs->bytes);
			cr_expect_eq(cs->fnv, fnv, "\"%s\": payload differs", f->name);
		}
	}
	cr_expect_not(c.goaway, "a bad framing closed the connection");
	cli_free(&c);
	cr_expect_eq(h2h_stop(h), 0, "buffers left in use at the end");
}

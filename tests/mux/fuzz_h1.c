/* fuzz_h1.c - random mutations of valid HTTP/1 messages fed to the parser,
 * the body scanner and the rewriter.
 *
 * A plain program (no Criterion) so that it runs under every sanitizer;
 * deterministic (fixed seed) and bounded. Beyond "no crash", it checks
 * properties that must hold for any input:
 *   - results stay within their documented range and spans inside the head;
 *   - h1_head_end() finds the same end as a successful parse;
 *   - a body scanned whole or in random pieces ends at the same byte;
 *   - a rewritten head parses again to exactly what the rewrite reported,
 *     and the bytes after it are kept.
 * Usage: fuzz_h1 [iterations [seed]]. Exits non-zero on the first failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mux/h1.h"

#define MAX_INPUT 2048
#define AREA_SIZE 4096

static const struct seed {
	int is_request;
	const char *text;
} seeds[] = {
	{ 1, "GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n" },
	{ 1, "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world"
	     "GET /next HTTP/1.1\r\nHost: a\r\n\r\n" },
	{ 1, "PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n"
	     "4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 1\r\n\r\n" },
	{ 1, "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Hop\r\nX-Hop: 1\r\nUpgrade: websocket\r\n"
	     "Keep-Alive: 5\r\nTE: trailers\r\n\r\n" },
	{ 1, "\r\nGET http://user@origin.example:8080/p?q HTTP/1.0\r\nConnection: keep-alive\r\n"
	     "Expect: 100-continue\r\n\r\n" },
	{ 1, "CONNECT origin.example:443 HTTP/1.0\r\n\r\n" },
	{ 1, "GET /a/rather/long/path/to/exercise/word/scans?with=query&and=more HTTP/1.1\r\n"
	     "Host: a\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0\r\n"
	     "Cookie: a=0123456789abcdef0123456789abcdef; b=\xc3\xa9\t tab\r\n\r\n" },
	{ 1, "GET / HTTP/1.1\nHost: a\nContent-Length: 2, 2\nContent-Length: 2\n\nokGET" },
	{ 0, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n" },
	{ 0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
	     "a\r\n0123456789\r\n0\r\n\r\n" },
	{ 0, "HTTP/1.0 200\r\nConnection: keep-alive\r\n\r\nuntil close" },
	{ 0, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n" },
	{ 0, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n" },
};

/* Fragments that steer mutations towards the interesting grammar. */
static const char *const frags[] = {
	"\r\n", "\n", "\r", " ", "\t", ":", ",", ";", "\"", "0", "ffff", "FFFFFFFFFFFFFFFFF",
	"chunked", "Transfer-Encoding: chunked\r\n", "Content-Length: 7\r\n", "Content-Length: 0\r\n",
	"Connection: close, content-length, host, expect\r\n", "Host: x\r\n", "0\r\n\r\n",
	"HTTP/1.1", "HTTP/1.0", " HTTP/1.1\r\n", "\r\n\r\n", "Upgrade: h2c\r\n", "Connection: upgrade\r\n",
	"Expect: 100-continue\r\n", "X: a\r\n b\r\n", "9999999999999999999999", "\x00", "\x80", "\x7f",
};

static uint64_t rng_state;

/* Returns the next pseudo-random number (xorshift64*). */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* Returns a number in [0, n). */
static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static unsigned long failures;

#define CHECK(cond, ...) do {                                               \
	if (!(cond)) {                                                      \
		fprintf(stderr, "fuzz_h1: %s:%d: check failed: %s: ",          \
		        __FILE__, __LINE__, #cond);                             \
		fprintf(stderr, __VA_ARGS__);                                   \
		fputc('\n', stderr);                                            \
		failures++;                                                     \
		return;                                                         \
	}                                                                   \
} while (0)

/* Inserts <n> bytes at <pos> of buf[0..*len), within MAX_INPUT. */
static void insert(char *buf, size_t *len, size_t pos, const char *s, size_t n)
{
	if (*len + n > MAX_INPUT)
		return;
	memmove(buf + pos + n, buf + pos, *len - pos);
	memcpy(buf + pos, s, n);
	*len += n;
}

/* Applies one random mutation to buf[0..*len). */
static void mutate(char *buf, size_t *len)
{
	size_t pos = rnd_below(*len + 1), n;
	char c;

	switch (rnd_below(7)) {
	case 0: /* random byte */
		if (pos < *len)
			buf[pos] = (char)rnd();
		break;
	case 1: /* a grammar fragment */
		n = rnd_below(sizeof(frags) / sizeof(frags[0]));
		insert(buf, len, pos, frags[n], strlen(frags[n]) ? strlen(frags[n]) : 1);
		break;
	case 2: /* delete a few bytes */
		n = rnd_below(4) + 1;
		if (pos + n <= *len) {
			memmove(buf + pos, buf + pos + n, *len - pos - n);
			*len -= n;
		}
		break;
	case 3: /* duplicate a range elsewhere */
		n = rnd_below(32);
		if (pos + n <= *len) {
			char tmp[32];

			memcpy(tmp, buf + pos, n);
			insert(buf, len, rnd_below(*len + 1), tmp, n);
		}
		break;
	case 4: /* truncate */
		*len = pos;
		break;
	case 5: /* change case of a letter */
		if (pos < *len && ((buf[pos] | 0x20) >= 'a' && (buf[pos] | 0x20) <= 'z'))
			buf[pos] ^= 0x20;
		break;
	default: /* a random byte inserted */
		c = (char)rnd();
		insert(buf, len, pos, &c, 1);
		break;
	}
}

/* Checks the spans of a parsed head against its length. */
static void check_msg(const struct h1_msg *m, const char *p, int hl)
{
	unsigned i;

	CHECK(m->head_len == (uint32_t)hl, "head_len %u vs %d", m->head_len, hl);
	CHECK(m->nb_hdrs < H1_MAX_HDRS, "%u headers", m->nb_hdrs);
	CHECK(m->version == 10 || m->version == 11, "version %d", m->version);
	if (m->is_request) {
		CHECK(m->method.len > 0 && m->method.ofs + m->method.len < (uint32_t)hl, "method");
		CHECK(m->uri.len > 0 && m->uri.ofs + m->uri.len < (uint32_t)hl, "uri");
	} else {
		CHECK(m->status >= 100 && m->status <= 599, "status %d", m->status);
		CHECK(m->reason.ofs + m->reason.len < (uint32_t)hl, "reason");
	}
	for (i = 0; i < m->nb_hdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];
		uint32_t k;

		CHECK(h->name.len > 0 && h->name.ofs + h->name.len < (uint32_t)hl, "name %u", i);
		CHECK(h->value.ofs + h->value.len < (uint32_t)hl, "value %u", i);
		CHECK(p[h->name.ofs + h->name.len] == ':', "no colon after name %u", i);
		for (k = 0; k < h->value.len; k++) {
			unsigned char c = (unsigned char)p[h->value.ofs + k];

			CHECK((c >= 0x20 || c == '\t') && c != 0x7f, "control byte in value %u", i);
		}
	}
	if (m->is_request) {
		uint32_t k;

		for (k = 0; k < m->uri.len; k++) {
			unsigned char c = (unsigned char)p[m->uri.ofs + k];

			CHECK(c > 0x20 && c != 0x7f, "control byte or space in the target");
		}
	}
	if ((m->flags & H1_F_CLEN) && m->is_request)
		CHECK(!(m->flags & H1_F_TE), "CL and TE in a request");
	if (m->flags & H1_F_CHUNKED)
		CHECK(m->flags & H1_F_TE, "chunked without TE");
}

/* Scans body bytes p[0..len) whole, then in random pieces, and checks that
 * both ways end at the same byte with the same outcome. */
static void check_body(const struct h1_msg *m, enum h1_meth req_meth, const char *p, size_t len)
{
	struct h1_body whole, parts;
	long rw, rp = 0;
	size_t from = 0;

	if (h1_body_init(&whole, m, req_meth) < 0)
		return;
	CHECK(h1_body_init(&parts, m, req_meth) == 0, "init differs");
	rw = h1_body_scan(&whole, p, len);
	CHECK(rw >= H1_ERR_BAD && rw <= (long)len, "scan %ld of %zu", rw, len);
	while (from < len) {
		size_t n = rnd_below(len - from) + 1;
		long r = h1_body_scan(&parts, p + from, n);

		CHECK(r >= H1_ERR_BAD && r <= (long)n, "piece %ld of %zu", r, n);
		if (r < 0) {
			rp = r;
			break;
		}
		rp += r;
		if ((size_t)r < n || parts.done)
			break;
		from += n;
	}
	CHECK(rw == rp, "whole %ld vs pieces %ld", rw, rp);
	if (rw >= 0) {
		CHECK(whole.done == parts.done, "done %d vs %d", whole.done, parts.done);
		CHECK(whole.total == (uint64_t)rw, "total %llu vs %ld", (unsigned long long)whole.total, rw);
		if (rw < (long)len)
			CHECK(whole.done, "stopped early without being done");
	}
}

/* Rewrites the parsed head in place and checks the result parses again to
 * the same description and that the tail is intact. */
static void check_rewrite(const struct h1_msg *parsed, const char *in, size_t len)
{
	static const char *const addrs[] = { "192.0.2.1", "2001:db8::7", "1.2.3.4, 5.6.7.8" };
	char area[AREA_SIZE], scratch[AREA_SIZE];
	struct h1_rewrite rw = {
		.add_conn_close = (int)rnd_below(2),
		.add_conn_keepalive = (int)rnd_below(2),
		.xff = rnd_below(2) ? addrs[rnd_below(3)] : NULL,
		.via = rnd_below(2) ? "1.1 sluice" : NULL,
		.force_version_11 = (int)rnd_below(2),
	};
	size_t area_size = rnd_below(4) ? AREA_SIZE : len + rnd_below(64);
	size_t scratch_size = rnd_below(4) ? AREA_SIZE : rnd_below(len + 128);
	size_t tail = len - parsed->head_len;
	struct h1_msg m = *parsed, again;
	int r, r2;
	unsigned i;

	if (area_size > AREA_SIZE)
		area_size = AREA_SIZE;
	if (area_size < len)
		area_size = len;
	memcpy(area, in, len);
	r = h1_rewrite_head(&m, area, area_size, tail, &rw, scratch, scratch_size);
	CHECK(r == H1_ERR_TOO_LARGE || r > 0, "rewrite returned %d", r);
	if (r < 0) {
		CHECK(!memcmp(area, in, len), "area changed by a failed rewrite");
		return;
	}
	CHECK((size_t)r + tail <= area_size, "rewrite overflows the area");
	CHECK(m.head_len == (uint32_t)r, "head_len %u vs %d", m.head_len, r);
	CHECK(!memcmp(area + r, in + parsed->head_len, tail), "tail changed");
	r2 = h1_parse_head(area, (size_t)r, m.is_request, AREA_SIZE, &again);
	CHECK(r2 == r, "rewritten head parses to %d, not %d: %.*s", r2, r, r, area);
	CHECK(again.flags == m.flags, "flags %#x vs %#x: %.*s", again.flags, m.flags, r, area);
	CHECK(again.nb_hdrs == m.nb_hdrs, "%u headers vs %u", again.nb_hdrs, m.nb_hdrs);
	CHECK(again.version == m.version, "version");
	CHECK(again.content_length == m.content_length, "content_length");
	for (i = 0; i < m.nb_hdrs; i++)
		CHECK(!memcmp(&again.hdrs[i], &m.hdrs[i], sizeof(m.hdrs[i])), "header %u spans", i);
}

/* Runs all checks on input p[0..len). */
static void check_input(const char *p, size_t len, int is_request)
{
	static const enum h1_meth req_meths[] = { H1_M_GET, H1_M_HEAD, H1_M_CONNECT, H1_M_POST };
	size_t max_head = rnd_below(8) ? 8192 : rnd_below(len + 64);
	struct h1_msg m;
	size_t resume = 0, end;
	int r;

	r = h1_parse_head(p, len, is_request, max_head, &m);
	CHECK(r >= H1_ERR_NOT_IMPL, "parse returned %d", r);
	CHECK(r <= 0 || ((size_t)r <= len && (size_t)r <= max_head), "head %d of %zu", r, len);
	CHECK(r != H1_NEED_MORE || len < max_head, "need more with %zu >= %zu", len, max_head);
	if (r < 0) {
		CHECK(m.err_status >= 400 && m.err_status <= 505, "err_status %d", m.err_status);
		CHECK(m.err_ofs <= len, "err_ofs %u", m.err_ofs);
		return;
	}
	if (r == 0)
		return;
	check_msg(&m, p, r);
	if (failures)
		return;
	end = h1_head_end(p, len, &resume);
	CHECK(end == (size_t)r, "head_end %zu vs parse %d", end, r);
	CHECK(h1_parse_head(p, (size_t)r - 1, is_request, max_head, &m) == H1_NEED_MORE,
	      "a head minus one byte is complete");
	r = h1_parse_head(p, len, is_request, max_head, &m);
	check_body(&m, req_meths[rnd_below(4)], p + r, len - (size_t)r);
	if (!failures)
		check_rewrite(&m, p, len);
}

int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	unsigned long i, valid = 0;
	char buf[MAX_INPUT];

	rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : UINT64_C(0x5eed5eed);
	if (!rng_state)
		rng_state = 1;

	for (i = 0; i < iters && !failures; i++) {
		const struct seed *s = &seeds[rnd_below(sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(s->text), k, nmut = rnd_below(4);
		struct h1_msg m;

		memcpy(buf, s->text, len);
		/* a quarter of the inputs stay valid, to reach the deep checks */
		for (k = 0; k < nmut; k++)
			mutate(buf, &len);
		check_input(buf, len, s->is_request);
		if (h1_parse_head(buf, len, s->is_request, 8192, &m) > 0)
			valid++;
	}
	printf("fuzz_h1: %lu inputs, %lu with a valid head, %lu failures\n", i, valid, failures);
	return failures ? 1 : 0;
}

/* origin_selftest.c - unit checks of the origin's pure parts: SHA-256,
 * the body pattern, head and chunked parsing, routing. A plain program
 * (no Criterion) so that it runs in every build, sanitizers included;
 * exit status 0 when every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ohttp.h"
#include "opattern.h"
#include "oroute.h"
#include "sha256.h"

struct selftest {
	int checks;
	int failures;
};

#define CHECK(t, cond) selftest_check((t), (cond), #cond, __FILE__, __LINE__)

/* Records one check; prints it when it failed. */
static void selftest_check(struct selftest *t, int ok, const char *what, const char *file, int line)
{
	t->checks++;
	if (!ok) {
		t->failures++;
		fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	}
}

/* Returns the hex digest of <len> bytes at <data> fed in pieces of <step>. */
static void selftest_sha(const void *data, size_t len, size_t step, char hex[SHA256_HEX_LEN + 1])
{
	struct sha256 ctx;
	uint8_t digest[SHA256_DIGEST_LEN];
	const char *p = data;

	sha256_init(&ctx);
	for (size_t off = 0; off < len; off += step)
		sha256_update(&ctx, p + off, len - off < step ? len - off : step);
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
}

static void test_sha256(struct selftest *t)
{
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char hex[SHA256_HEX_LEN + 1];
	size_t million = 1000000;
	char *a = malloc(million);

	selftest_sha("", 0, 1, hex);
	CHECK(t, !strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	selftest_sha("abc", 3, 1, hex);
	CHECK(t, !strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	for (size_t step = 1; step <= 64; step += 21) {
		selftest_sha(two_blocks, strlen(two_blocks), step, hex);
		CHECK(t, !strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
	}
	if (!a) {
		CHECK(t, a != NULL);
		return;
	}
	memset(a, 'a', million);
	selftest_sha(a, million, 4099, hex);
	CHECK(t, !strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
	free(a);
}

static void test_pattern(struct selftest *t)
{
	static const char alphabet[] = OPATTERN_ALPHABET;
	static const uint64_t offsets[] = { 0, 1, 60, 61, 65535, 1000003, UINT64_C(1) << 40 };

	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		size_t avail, bad = 0;
		const char *p = opattern_at(offsets[i], &avail);

		CHECK(t, avail >= 65536 - OPATTERN_PERIOD);
		for (size_t j = 0; j < avail; j++)
			bad += p[j] != alphabet[(offsets[i] + j) % OPATTERN_PERIOD];
		CHECK(t, bad == 0);
	}
}

static void test_head_end(struct selftest *t)
{
	static const char crlf[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
	static const char lf[] = "GET / HTTP/1.1\nHost: x\n\nNEXT";
	size_t scanned = 0, end = 0, len;

	/* fed one byte at a time, the end shows up exactly with its last byte */
	len = strlen(crlf) - 4;
	for (size_t n = 1; n <= len && !end; n++) {
		end = ohttp_head_end(crlf, n, &scanned);
		CHECK(t, end == 0 || n == len);
	}
	CHECK(t, end == len);
	scanned = 0;
	CHECK(t, ohttp_head_end(lf, strlen(lf), &scanned) == strlen(lf) - 4);
	scanned = 0;
	CHECK(t, ohttp_head_end("GET / HTTP/1.1\r\nHost", 20, &scanned) == 0);
	CHECK(t, ohttp_skip_blank("\r\n\nGET", 6) == 3);
}

/* Returns the status ohttp_parse_head gives to the NUL-terminated head. */
static int selftest_parse(const char *head, struct ohttp_req *req)
{
	return ohttp_parse_head(head, strlen(head), req);
}

static void test_parse_head(struct selftest *t)
{
	struct ohttp_req r;

	CHECK(t, selftest_parse("POST /echo?a=1 HTTP/1.1\r\nContent-Length:  12 \r\n"
				"Connection: Keep-Alive, close\r\nExpect: 100-Continue\r\n\r\n", &r) == 0);
	CHECK(t, r.method == OHTTP_POST && r.minor == 1);
	CHECK(t, r.path_len == 5 && !memcmp(r.path, "/echo", 5));
	CHECK(t, r.query_len == 3 && !memcmp(r.query, "a=1", 3));
	CHECK(t, r.has_length && r.content_length == 12 && !r.chunked);
	CHECK(t, r.conn_close && r.conn_keep_alive && r.expect_continue);

	CHECK(t, selftest_parse("GET / HTTP/1.0\nTransfer-Encoding: CHUNKED\n\n", &r) == 0);
	CHECK(t, r.method == OHTTP_GET && r.minor == 0 && r.chunked && r.query == NULL);

	CHECK(t, selftest_parse("GET / HTTP/2.0\r\n\r\n", &r) == 505);
	CHECK(t, selftest_parse("GET  / HTTP/1.1\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET /\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("G(T / HTTP/1.1\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\n folded\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nX: a\001b\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", &r) == 0);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", &r) == 400);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &r) == 501);
	CHECK(t, selftest_parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
				"Content-Length: 3\r\n\r\n", &r) == 400);
}

/* Decodes <wire> handing the decoder <step> bytes at a time. Returns the
 * number of data bytes copied to <out>, or -1 on a framing error, -2 when
 * the body did not end; <*used> receives the bytes consumed. */
static long selftest_dechunk(const char *wire, size_t len, size_t step, char *out, size_t *used)
{
	struct ohttp_chunked d;
	size_t pos = 0, got = 0, limit = 0;

	ohttp_chunked_init(&d);
	while (!ohttp_chunked_done(&d)) {
		if (pos == limit) {
			if (limit == len)
				return -2;
			limit = limit + step < len ? limit + step : len;
		}
		size_t n = ohttp_chunked_avail(&d, limit - pos);
		if (n) {
			memcpy(out + got, wire + pos, n);
			got += n;
			ohttp_chunked_took(&d, n);
			pos += n;
			continue;
		}
		ssize_t r = ohttp_chunked_frame(&d, wire + pos, limit - pos);
		if (r < 0)
			return -1;
		pos += (size_t)r;
	}
	*used = pos;
	return (long)got;
}

static void test_chunked(struct selftest *t)
{
	static const char wire[] = "5;name=v\r\nhello\r\na\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
	char out[64];
	size_t used;

	for (size_t step = 1; step <= sizeof(wire); step++) {
		long got = selftest_dechunk(wire, sizeof(wire) - 1, step, out, &used);
		CHECK(t, got == 15 && !memcmp(out, "hello0123456789", 15) && used == sizeof(wire) - 5);
	}
	CHECK(t, selftest_dechunk("0\n\n", 3, 1, out, &used) == 0 && used == 3);
	CHECK(t, selftest_dechunk("zz\r\n", 4, 4, out, &used) == -1);
	CHECK(t, selftest_dechunk(";x\r\n", 4, 4, out, &used) == -1);
	CHECK(t, selftest_dechunk("3\r\nabcX\r\n0\r\n\r\n", 14, 3, out, &used) == -1);
	CHECK(t, selftest_dechunk("1000000000000000\r\n", 18, 18, out, &used) == -1);
	CHECK(t, selftest_dechunk("3\r\nab", 5, 5, out, &used) == -2);
}

/* Routes the request line of <head> into <m>. */
static void selftest_route(const char *head, struct oroute_match *m)
{
	struct ohttp_req req;

	if (selftest_parse(head, &req) != 0) {
		m->route = OROUTE_ERROR;
		m->status = -1;
		return;
	}
	oroute_match(&req, m);
}

static void test_routes(struct selftest *t)
{
	struct oroute_match m;

	selftest_route("GET /size/1048576 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_SIZE && m.n == 1048576);
	selftest_route("GET /chunked/10?x=1&chunk=3 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_CHUNKED && m.n == 10 && m.chunk == 3);
	selftest_route("GET /chunked/10 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_CHUNKED && m.chunk == OROUTE_DEFAULT_CHUNK);
	selftest_route("GET /chunked/10?chunk=0 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_ERROR && m.status == 400);
	selftest_route("GET /delay/250 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_DELAY && m.n == 250);
	selftest_route("GET /status/204 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_STATUS && m.status == 204);
	selftest_route("GET /status/199 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_ERROR && m.status == 400);
	selftest_route("GET /size/-1 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_ERROR && m.status == 400);
	selftest_route("PUT /sha256 HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_SHA256);
	selftest_route("GET /echo HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_ERROR && m.status == 405);
	selftest_route("DELETE /headers HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_HEADERS);
	selftest_route("GET /never HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_NEVER);
	selftest_route("GET /closed HTTP/1.1\r\n\r\n", &m);
	CHECK(t, m.route == OROUTE_ERROR && m.status == 404);
	CHECK(t, !strcmp(oroute_reason(503), "Service Unavailable"));
}

int main(void)
{
	struct selftest t = { 0 };

	test_sha256(&t);
	test_pattern(&t);
	test_head_end(&t);
	test_parse_head(&t);
	test_chunked(&t);
	test_routes(&t);
	printf("origin selftest: %d checks, %d failed\n", t.checks, t.failures);
	return t.failures ? 1 : 0;
}

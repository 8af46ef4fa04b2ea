/* test_h2_conform.c - HTTP/2 server-role conformance of the mux against
 * RFC 9113: what a request may say about its authority, and which stream
 * identifiers a client may open (see h2_harness.h for the bench). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/mux/h2_harness.h"

TestSuite(h2_conform, .timeout = 30);

static struct h2h *start(void)
{
	struct h2h_opts o = { 0 };
	struct h2h *h = h2h_start(&o);

	cr_assert_not_null(h);
	return h;
}

static void stop(struct h2h *h)
{
	cr_expect_eq(h2h_stop(h), 0, "buffers left in use at the end");
}

#define NV(n, v) (nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

/* Submits GET <path> with :authority <auth> (none if NULL) and a host
 * header <host> (none if NULL). Returns the client stream index. */
static int get_with(struct cli *c, const char *path, const char *auth, const char *host)
{
	nghttp2_nv nva[5];
	size_t nb = 0;
	struct cli_stream *cs = &c->st[c->nb];
	int32_t id;

	memset(cs, 0, sizeof(*cs));
	cs->fnv = 2166136261u;
	nva[nb++] = NV(":method", "GET");
	nva[nb++] = NV(":scheme", "http");
	nva[nb++] = NV(":path", path);
	if (auth)
		nva[nb++] = NV(":authority", auth);
	if (host)
		nva[nb++] = NV("host", host);
	id = nghttp2_submit_request(c->sess, NULL, nva, nb, NULL, cs);
	cr_assert_gt(id, 0);
	cs->id = id;
	return (int)c->nb++;
}

/* Returns how many times <needle> occurs in <hay>. */
static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

Test(h2_conform, host_differs_from_authority,
     .description = "host and :authority that differ: the stream is refused, the connection lives")
{
	struct h2h *h = start();
	struct cli c;
	char *req = NULL;
	int bad, good;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	bad = get_with(&c, "/bad", "a.example", "b.example");
	good = get_with(&c, "/good", "a.example", NULL);
	cr_expect_eq(cli_run(&c, 3000), 0, "streams not closed");
	cr_expect(c.st[bad].closed);
	cr_expect(c.st[bad].err == NGHTTP2_PROTOCOL_ERROR || c.st[bad].status == 400,
		  "differing host accepted: status %d, error %u", c.st[bad].status, c.st[bad].err);
	cr_expect_lt(h2h_request(h, "GET /bad ", &req), 0, "the malformed request reached the engine");
	free(req);
	cr_expect_eq(c.st[good].err, 0);
	cr_expect_eq(c.st[good].status, 200, "the next stream got %d", c.st[good].status);
	cr_expect_not(c.goaway, "a stream error closed the connection");
	cli_free(&c);
	stop(h);
}

Test(h2_conform, host_agrees_with_authority,
     .description = "host and :authority that agree (case aside): forwarded, one Host line")
{
	struct h2h *h = start();
	struct cli c;
	char *req = NULL;
	int i;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	i = get_with(&c, "/same", "a.example:8080", "A.Example:8080");
	cr_expect_eq(cli_run(&c, 3000), 0, "stream not closed");
	cr_expect_eq(c.st[i].status, 200, "status %d error %u", c.st[i].status, c.st[i].err);
	cr_assert_gt(h2h_request(h, "GET /same ", &req), 0);
	cr_expect_eq(count(req, "host:") + count(req, "Host:"), 1, "request: %s", req);
	free(req);
	cli_free(&c);
	stop(h);
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* HEADERS on <sid>: GET / with :authority x (static table and literals
 * only), END_STREAM | END_HEADERS. Returns the frame's length. */
static size_t get_headers(uint8_t *p, uint32_t sid)
{
	size_t n = raw_frame_hd(p, 6, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS, sid);

	p[n++] = 0x82;  /* :method GET */
	p[n++] = 0x86;  /* :scheme http */
	p[n++] = 0x84;  /* :path / */
	p[n++] = 0x01;  /* :authority, literal without indexing */
	p[n++] = 0x01;
	p[n++] = 'x';
	return n;
}

Test(h2_conform, lower_stream_id_goaway,
     .description = "HEADERS opening stream 3 after stream 5: GOAWAY PROTOCOL_ERROR")
{
	struct h2h *h = start();
	uint8_t buf[256];
	size_t n;
	int eof;
	long code;

	memcpy(buf, preface, 24);
	n = 24 + raw_frame_hd(buf + 24, 0, NGHTTP2_SETTINGS, 0, 0);
	n += get_headers(buf + n, 5);
	cr_assert_eq(raw_write(h2h_fd(h), buf, n, 1000), n);
	for (int i = 0; i < 200 && h2h_streams_done(h) < 1; i++)
		usleep(5000);
	cr_assert_eq(h2h_streams_done(h), 1);
	(void)raw_read_goaway(h2h_fd(h), 100, &eof);  /* the response */
	n = get_headers(buf, 3);
	cr_assert_eq(raw_write(h2h_fd(h), buf, n, 1000), n);
	code = raw_read_goaway(h2h_fd(h), 3000, &eof);
	cr_expect_eq(code, NGHTTP2_PROTOCOL_ERROR, "GOAWAY code %ld", code);
	cr_expect(eof, "connection not closed");
	cr_expect_eq(h2h_streams_done(h) + h2h_streams_err(h), 1, "the lower stream reached the engine");
	stop(h);
}

Test(h2_conform, increasing_ids_with_gaps_ok,
     .description = "streams 1, 5, 9 (ids skipped upwards): all answered, no GOAWAY")
{
	struct h2h *h = start();
	uint8_t buf[256];
	size_t n;
	int eof;
	long code;

	memcpy(buf, preface, 24);
	n = 24 + raw_frame_hd(buf + 24, 0, NGHTTP2_SETTINGS, 0, 0);
	n += get_headers(buf + n, 1);
	n += get_headers(buf + n, 5);
	n += get_headers(buf + n, 9);
	cr_assert_eq(raw_write(h2h_fd(h), buf, n, 1000), n);
	for (int i = 0; i < 400 && h2h_streams_done(h) < 3; i++)
		usleep(5000);
	cr_expect_eq(h2h_streams_done(h), 3);
	code = raw_read_goaway(h2h_fd(h), 300, &eof);
	cr_expect_eq(code, -1, "GOAWAY code %ld", code);
	cr_expect_not(eof);
	stop(h);
}

Test(h2_conform, preface_check, .description = "h2_is_preface: prefixes, the whole preface, mismatches")
{
	int complete;

	cr_expect(h2_is_preface("", 0, &complete));
	cr_expect_not(complete);
	cr_expect(h2_is_preface("PRI * HT", 8, &complete));
	cr_expect_not(complete);
	cr_expect(h2_is_preface(preface, 24, &complete));
	cr_expect(complete);
	cr_expect(h2_is_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0", 27, &complete));
	cr_expect(complete);
	cr_expect_not(h2_is_preface("GET / HTTP/1.1\r\n", 16, &complete));
	cr_expect_not(h2_is_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\n", 23, &complete));
}

Test(h2_conform, stream_frames_count, .description = "stream_frames_in counts HEADERS and DATA, not PING or SETTINGS")
{
	struct h2h *h = start();
	struct cli c;
	struct h2c_stats st;
	int i;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	cli_pump(&c, 100);
	cr_assert_eq(nghttp2_submit_ping(c.sess, NGHTTP2_FLAG_NONE, NULL), 0);
	cli_pump(&c, 100);
	h2h_stats(h, &st);
	cr_expect_geq(st.frames_in, 3);
	cr_expect_eq(st.stream_frames_in, 0, "PING/SETTINGS counted as stream activity");
	i = cli_request(&c, "POST", "/cl/1", 100, 1);
	cr_expect_eq(cli_run(&c, 3000), 0);
	cr_expect_eq(c.st[i].status, 200);
	h2h_stats(h, &st);
	cr_expect_geq(st.stream_frames_in, 2, "HEADERS + DATA: %llu", (unsigned long long)st.stream_frames_in);
	cli_free(&c);
	stop(h);
}

Test(h2_conform, trailers_after_our_reset_ok,
     .description = "DATA and trailers on stream 1, reset by us, after stream 3 opened: no connection error")
{
	struct h2h *h = start();
	uint8_t buf[512];
	size_t n;
	int eof;
	long code;

	memcpy(buf, preface, 24);
	n = 24 + raw_frame_hd(buf + 24, 0, NGHTTP2_SETTINGS, 0, 0);
	/* POST / on stream 1 whose host differs from :authority: reset by us */
	n += raw_frame_hd(buf + n, 14, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1);
	memcpy(buf + n, "\x83\x86\x84\x01\x01x\x00\x04host\x01y", 14);  /* POST, http, /, x, host y */
	n += 14;
	n += get_headers(buf + n, 3);  /* a higher stream opens meanwhile */
	cr_assert_eq(raw_write(h2h_fd(h), buf, n, 1000), n);
	code = raw_read_goaway(h2h_fd(h), 200, &eof);  /* our RST_STREAM, the answer on 3 */
	cr_assert_eq(code, -1, "GOAWAY code %ld on the malformed request", code);
	cr_assert_not(eof);
	/* the client had sent its body and trailers before it saw the reset */
	n = raw_frame_hd(buf, 3, NGHTTP2_DATA, 0, 1);
	memcpy(buf + n, "abc", 3);
	n += 3;
	n += raw_frame_hd(buf + n, 7, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS, 1);
	memcpy(buf + n, "\x00\x03x-t\x01" "1", 7);
	n += 7;
	n += get_headers(buf + n, 5);
	cr_assert_eq(raw_write(h2h_fd(h), buf, n, 1000), n);
	for (int i = 0; i < 200 && h2h_streams_done(h) < 2; i++)
		usleep(5000);
	cr_expect_eq(h2h_streams_done(h), 2, "streams 3 and 5 not both answered");
	code = raw_read_goaway(h2h_fd(h), 300, &eof);
	cr_expect_eq(code, -1, "GOAWAY code %ld", code);
	cr_expect_not(eof);
	stop(h);
}

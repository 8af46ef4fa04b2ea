/* test_h2.c - the HTTP/2 mux against a real nghttp2 client over a
 * socketpair, with a real scheduler and pool (see h2_harness.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/mux/h2_harness.h"

static struct h2h *start_hold(uint64_t limit, uint64_t reserve, size_t cap, int hold)
{
	struct h2h_opts o = { .pool_limit = limit, .pool_reserve = reserve, .hold_all = hold };
	struct h2h *h;

	o.set.mem_cap = cap;
	h = h2h_start(&o);
	cr_assert_not_null(h);
	return h;
}

static struct h2h *start(uint64_t limit, uint64_t reserve, size_t cap)
{
	return start_hold(limit, reserve, cap, 0);
}

static void stop(struct h2h *h)
{
	cr_expect_eq(h2h_stop(h), 0, "buffers left in use at the end");
}

/* Waits up to 2 s for the closed callback. */
static int wait_closed(struct h2h *h)
{
	for (int i = 0; i < 400 && !h2h_closed(h); i++)
		usleep(5000);
	return h2h_closed(h);
}

/* Waits up to 2 s until <n> fake streams answered (they record the
 * request once their last snd_buf returned, which may be after the client
 * saw the end of the response). */
static unsigned wait_done(struct h2h *h, unsigned n)
{
	for (int i = 0; i < 400 && h2h_streams_done(h) < n; i++)
		usleep(5000);
	return h2h_streams_done(h);
}

/* Checks a finished response: status, body size and checksum, and that
 * hop-by-hop headers were dropped. */
static void check_body(struct cli *c, int i, uint64_t n)
{
	struct cli_stream *cs = &c->st[i];

	cr_expect(cs->closed, "stream %d not closed", cs->id);
	cr_expect_eq(cs->err, 0, "stream %d error %u", cs->id, cs->err);
	cr_expect_eq(cs->status, 200, "stream %d status %d", cs->id, cs->status);
	cr_expect_eq(cs->bytes, n, "stream %d: %llu bytes, want %llu", cs->id,
		     (unsigned long long)cs->bytes, (unsigned long long)n);
	cr_expect_eq(cs->fnv, h2h_pat_fnv(n), "stream %d checksum", cs->id);
	cr_expect_not_null(strstr(cs->hdrs, "x-test: yes\n"), "headers: %s", cs->hdrs);
	cr_expect_null(strstr(cs->hdrs, "connection"), "headers: %s", cs->hdrs);
	cr_expect_null(strstr(cs->hdrs, "keep-alive"), "headers: %s", cs->hdrs);
	cr_expect_null(strstr(cs->hdrs, "transfer-encoding"), "headers: %s", cs->hdrs);
}

/* Returns non-zero when <p>[0..n) is the pattern. */
static int is_pattern(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != h2h_pat(i))
			return 0;
	return 1;
}

TestSuite(h2, .timeout = 30);

Test(h2, settings_ping_idle_no_buffer, .description = "SETTINGS both ways, PING, idle holds no buffer")
{
	struct h2h *h = start(0, 0, 0);
	struct cli c;
	struct h2c_stats st;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	cli_pump(&c, 200);
	cr_expect_eq(nghttp2_session_get_remote_settings(c.sess, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100);
	cr_expect_eq(nghttp2_session_get_remote_settings(c.sess, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 65536);
	cr_assert_eq(nghttp2_submit_ping(c.sess, NGHTTP2_FLAG_NONE, NULL), 0);
	cli_pump(&c, 200);
	h2h_stats(h, &st);
	cr_expect_geq(st.frames_in, 3, "frames_in %llu", (unsigned long long)st.frames_in);
	cr_expect_geq(st.frames_out, 3, "frames_out %llu", (unsigned long long)st.frames_out);
	cr_expect_gt(st.mem_peak, 0);
	cr_log_info("idle connection: nghttp2 mem_peak %llu bytes", (unsigned long long)st.mem_peak);
	cr_expect_eq(h2h_wait_idle(h, 1000), 0, "an idle h2 connection holds a buffer");
	cr_expect_not(h2h_closed(h));
	cr_expect_not(c.eof);
	cli_free(&c);
	stop(h);
}

Test(h2, get_content_length, .description = "GET, Content-Length responses 0 B to 1 MB, request head")
{
	static const uint64_t sizes[] = { 0, 1, 100, 16384, 16385, 100000, 1 << 20 };
	struct h2h *h = start(0, 0, 0);
	struct cli c;
	char path[64], *req;
	size_t i;
	long n;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(path, sizeof(path), "/cl/%llu", (unsigned long long)sizes[i]);
		cr_assert_geq(cli_request(&c, "GET", path, 0, 0), 0);
	}
	cr_assert_eq(cli_run(&c, 10000), 0, "streams did not finish");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_body(&c, (int)i, sizes[i]);
	cr_assert_eq(wait_done(h, 7), 7);
	n = h2h_request(h, "GET /cl/100 ", &req);
	cr_assert_gt(n, 0);
	cr_expect_str_eq(req, "GET /cl/100 HTTP/1.1\r\nhost: example.test\r\nuser-agent: h2test\r\n"
			      "cookie: a=1; b=2\r\n\r\n");
	free(req);
	cr_expect_eq(h2h_wait_idle(h, 1000), 0, "idle connection holds buffers");
	cli_free(&c);
	stop(h);
}

Test(h2, framed_streams_over_a_transport, .description = "streams over a transport carry EP_SND_FRAMED")
{
	static const uint64_t sizes[] = { 16375, 16384, 100000 };
	struct h2h_opts o = { .xprt_passthrough = 1 };
	struct h2h *h = h2h_start(&o), *plain = start(0, 0, 0);
	struct cli c, cp;
	char path[64];

	cr_assert_not_null(h);
	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	cr_assert_eq(cli_init(&cp, h2h_fd(plain)), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(path, sizeof(path), "/cl/%llu", (unsigned long long)sizes[i]);
		cr_assert_geq(cli_request(&c, "GET", path, 0, 0), 0);
		cr_assert_geq(cli_request(&cp, "GET", path, 0, 0), 0);
	}
	cr_assert_eq(cli_run(&c, 10000), 0, "streams did not finish");
	cr_assert_eq(cli_run(&cp, 10000), 0, "streams did not finish");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		check_body(&c, (int)i, sizes[i]);
		check_body(&cp, (int)i, sizes[i]);
	}
	cr_expect_eq(h2h_framed_eps(h), 3, "every stream over the transport is framed");
	cr_expect_eq(h2h_framed_eps(plain), 0, "no stream on the bare socket is");
	cli_free(&c);
	cli_free(&cp);
	stop(h);
	stop(plain);
}

Test(h2, chunked_close_interim, .description = "chunked, close-delimited and 100-continue responses")
{
	static const char *paths[] = { "/ch/0", "/ch/1", "/ch/5000", "/ch/300000", "/ch/1048576",
				       "/close/0", "/close/70000", "/100/1234", "/other" };
	static const uint64_t sizes[] = { 0, 1, 5000, 300000, 1 << 20, 0, 70000, 1234, 5 };
	struct h2h *h = start(0, 0, 0);
	struct cli c;
	size_t i;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		cr_assert_geq(cli_request(&c, "GET", paths[i], 0, 0), 0);
	cr_assert_eq(cli_run(&c, 10000), 0, "streams did not finish");
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]) - 1; i++)
		check_body(&c, (int)i, sizes[i]);
	cr_expect_eq(c.st[7].interim, 1, "100 Continue not forwarded");
	cr_expect_eq(c.st[8].bytes, 5);
	cr_expect_eq(h2h_wait_idle(h, 1000), 0);
	cli_free(&c);
	stop(h);
}

Test(h2, post_bodies, .description = "POST with content-length, without (chunked), HEAD-less empty POST")
{
	static const uint64_t sizes[] = { 1, 1000, 70000, 300000 };
	struct h2h *h = start(0, 0, 0);
	struct cli c;
	uint8_t *body = malloc(400000);
	char path[64], *req;
	size_t i;
	long n;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "/cl/%zu?cl", i);
		cr_assert_geq(cli_request(&c, "POST", path, sizes[i], 1), 0);
		snprintf(path, sizeof(path), "/ch/%zu?te", i);
		cr_assert_geq(cli_request(&c, "POST", path, sizes[i], 0), 0);
	}
	cr_assert_geq(cli_request(&c, "POST", "/cl/7?empty", 0, 0), 0);
	cr_assert_eq(cli_run(&c, 15000), 0, "streams did not finish");
	cr_assert_eq(wait_done(h, 9), 9);
	for (i = 0; i < 4; i++) {
		char want[128];
		char *body_at;

		check_body(&c, (int)(2 * i), i);
		check_body(&c, (int)(2 * i + 1), i);
		snprintf(path, sizeof(path), "POST /cl/%zu?cl ", i);
		n = h2h_request(h, path, &req);
		cr_assert_gt(n, 0, "no request for %s", path);
		snprintf(want, sizeof(want), "content-length: %llu\r\n", (unsigned long long)sizes[i]);
		cr_assert_not_null(strstr(req, want), "head: %.200s", req);
		body_at = strstr(req, "\r\n\r\n");
		cr_assert_not_null(body_at);
		body_at += 4;
		cr_expect_eq((size_t)(n - (body_at - req)), sizes[i]);
		cr_expect(is_pattern((uint8_t *)body_at, sizes[i]));
		free(req);
		snprintf(path, sizeof(path), "POST /ch/%zu?te ", i);
		n = h2h_request(h, path, &req);
		cr_assert_gt(n, 0, "no request for %s", path);
		cr_assert_not_null(strstr(req, "transfer-encoding: chunked\r\n\r\n"), "head: %.200s", req);
		cr_expect_null(strstr(req, "content-length"));
		body_at = strstr(req, "\r\n\r\n") + 4;
		cr_expect_eq(h2h_dechunk(body_at, (size_t)(n - (body_at - req)), body), (long)sizes[i]);
		cr_expect(is_pattern(body, sizes[i]));
		free(req);
	}
	check_body(&c, 8, 7);
	n = h2h_request(h, "POST /cl/7?empty ", &req);
	cr_assert_gt(n, 0);
	cr_expect_null(strstr(req, "transfer-encoding"), "%s", req);
	free(req);
	cr_expect_eq(h2h_wait_idle(h, 1000), 0);
	free(body);
	cli_free(&c);
	stop(h);
}

Test(h2, hundred_streams, .description = "100 concurrent streams on one connection")
{
	struct h2h *h = start(0, 0, 0);
	struct cli c;
	char path[64];
	uint64_t sizes[100];
	int i;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	cli_pump(&c, 50);  /* take the server's SETTINGS first */
	for (i = 0; i < 100; i++) {
		sizes[i] = (uint64_t)(i * 997) % 60000;
		snprintf(path, sizeof(path), "/%s/%llu", i % 2 ? "ch" : "cl", (unsigned long long)sizes[i]);
		cr_assert_geq(cli_request(&c, i % 5 == 4 ? "POST" : "GET", path, i % 5 == 4 ? 3000 : 0, i % 2), 0);
	}
	cr_assert_eq(cli_run(&c, 20000), 0, "streams did not finish");
	for (i = 0; i < 100; i++)
		check_body(&c, i, sizes[i]);
	cr_expect_eq(wait_done(h, 100), 100);
	cr_expect_eq(h2h_wait_idle(h, 1000), 0);
	cli_free(&c);
	stop(h);
}

Test(h2, tiny_pool, .description = "pool limit 3, reserve 1: everything still completes")
{
	struct h2h *h = start(3, 1, 0);
	struct cli c;
	struct h2c_stats st;
	struct pool_stats ps;
	char path[64];
	int i;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	for (i = 0; i < 12; i++) {
		snprintf(path, sizeof(path), "/%s/%d", i % 2 ? "ch" : "cl", 50000 + i * 20000);
		cr_assert_geq(cli_request(&c, i % 4 == 3 ? "POST" : "GET", path, i % 4 == 3 ? 40000 : 0, i % 8 == 3), 0);
	}
	cr_assert_eq(cli_run(&c, 20000), 0, "streams did not finish");
	for (i = 0; i < 12; i++)
		check_body(&c, i, (uint64_t)(50000 + i * 20000));
	h2h_stats(h, &st);
	pool_stats(h2h_pool(h), -1u, &ps);
	cr_expect_leq(ps.peak_in_use, 3);
	cr_log_info("tiny pool: dbuf_waits %llu mbuf_waits %llu pool waits %llu",
		    (unsigned long long)st.dbuf_waits, (unsigned long long)st.mbuf_waits,
		    (unsigned long long)ps.waits_total);
	cr_expect_eq(h2h_wait_idle(h, 1000), 0);
	cli_free(&c);
	stop(h);
}

Test(h2, client_reset_stream, .description = "a client RST_STREAM errors one stream; others carry on")
{
	struct h2h *h = start(0, 0, 0);
	struct cli c;
	int held;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	held = cli_request(&c, "GET", "/hold", 0, 0);
	cr_assert_geq(held, 0);
	cli_pump(&c, 100);
	cr_assert_eq(nghttp2_submit_rst_stream(c.sess, NGHTTP2_FLAG_NONE, c.st[held].id, NGHTTP2_CANCEL), 0);
	cr_assert_geq(cli_request(&c, "GET", "/cl/20000", 0, 0), 0);
	cr_assert_eq(cli_run(&c, 5000), 0);
	check_body(&c, 1, 20000);
	for (int i = 0; i < 100 && h2h_streams_err(h) < 1; i++)
		cli_pump(&c, 10);
	cr_expect_eq(h2h_streams_err(h), 1, "the reset stream did not see EP_ERROR");
	cr_expect_not(h2h_closed(h));
	cli_free(&c);
	stop(h);
}

Test(h2, client_goes_away, .description = "client closes with streams held: streams get EP_ERROR, all freed")
{
	struct h2h *h = start(0, 0, 0);
	struct cli c;
	int i;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	for (i = 0; i < 5; i++)
		cr_assert_geq(cli_request(&c, "GET", "/hold", 0, 0), 0);
	cli_pump(&c, 100);
	cli_free(&c);
	h2h_close_client(h);  /* the client goes away */
	for (i = 0; i < 200 && (!h2h_closed(h) || h2h_streams_err(h) < 5); i++)
		usleep(10000);
	cr_expect(wait_closed(h));
	cr_expect_eq(h2h_streams_err(h), 5);
	stop(h);
}

Test(h2, h2c_shutdown_graceful, .description = "h2c_shutdown: GOAWAY(NO_ERROR), open stream finishes, then close")
{
	struct h2h *h = start(0, 0, 0);
	struct cli c;

	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	cr_assert_geq(cli_request(&c, "GET", "/ch/500000", 0, 0), 0);
	cli_pump(&c, 20);
	h2h_shutdown(h);
	cr_expect_eq(cli_run(&c, 5000), 0);
	cli_pump(&c, 1000);
	cr_expect(c.goaway, "no GOAWAY");
	cr_expect_eq(c.goaway_code, NGHTTP2_NO_ERROR);
	check_body(&c, 0, 500000);
	cr_expect(c.eof, "not closed after the last stream");
	cr_expect(wait_closed(h));
	cli_free(&c);
	stop(h);
}

/* ---- hostile input ---- */


static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

Test(h2, bad_preface, .description = "an HTTP/1.1 request instead of the preface: GOAWAY, close")
{
	struct h2h *h = start(0, 0, 0);
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	int eof;
	long code;

	cr_assert_eq(raw_write(h2h_fd(h), req, sizeof(req) - 1, 1000), sizeof(req) - 1);
	code = raw_read_goaway(h2h_fd(h), 3000, &eof);
	cr_expect(eof, "connection not closed");
	cr_expect_eq(code, NGHTTP2_PROTOCOL_ERROR, "GOAWAY code %ld", code);
	cr_expect(wait_closed(h));
	stop(h);
}

/* HEADERS on <sid>: GET / (static table only), END_STREAM | END_HEADERS. */
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

Test(h2, stream_id_reuse, .description = "a closed stream ID used again: GOAWAY PROTOCOL_ERROR")
{
	struct h2h *h = start(0, 0, 0);
	uint8_t buf[256];
	size_t n = 0;
	int eof;
	long code;

	memcpy(buf, preface, 24);
	n = 24 + raw_frame_hd(buf + 24, 0, NGHTTP2_SETTINGS, 0, 0);
	n += get_headers(buf + n, 1);
	cr_assert_eq(raw_write(h2h_fd(h), buf, n, 1000), n);
	for (int i = 0; i < 200 && h2h_streams_done(h) < 1; i++)
		usleep(5000);
	cr_assert_eq(h2h_streams_done(h), 1);
	(void)raw_read_goaway(h2h_fd(h), 100, &eof);  /* the response */
	n = get_headers(buf, 1);
	cr_assert_eq(raw_write(h2h_fd(h), buf, n, 1000), n);
	code = raw_read_goaway(h2h_fd(h), 3000, &eof);
	cr_expect(eof, "connection not closed");
	cr_expect(code == NGHTTP2_PROTOCOL_ERROR || code == NGHTTP2_STREAM_CLOSED, "GOAWAY code %ld", code);
	stop(h);
}

Test(h2, settings_flood, .description = "endless SETTINGS without reading the ACKs: closed, memory bounded")
{
	struct h2h *h = start(0, 0, 0);
	static uint8_t buf[9 * 4096];
	struct h2c_stats st;
	size_t i, sent = 0;
	int eof = 0;

	for (i = 0; i < 4096; i++)
		raw_frame_hd(buf + 9 * i, 0, NGHTTP2_SETTINGS, 0, 0);
	sent += raw_write(h2h_fd(h), preface, 24, 1000);
	for (i = 0; i < 200 && !h2h_closed(h); i++)
		sent += raw_write(h2h_fd(h), buf, sizeof(buf), 20);
	(void)raw_read_goaway(h2h_fd(h), 3000, &eof);
	cr_expect(eof, "connection not closed after %zu bytes of SETTINGS", sent);
	cr_expect(wait_closed(h));
	h2h_stats(h, &st);
	cr_log_info("settings flood: %zu bytes sent, mem_peak %llu", sent, (unsigned long long)st.mem_peak);
	cr_expect_leq(st.mem_peak, (1u << 20) * 3 / 2 + 65536);
	stop(h);
}

Test(h2, header_block_never_ends, .description = "HEADERS followed by endless CONTINUATION: closed")
{
	struct h2h *h = start(0, 0, 0);
	uint8_t buf[2048];
	size_t n, i, sent = 0;
	int eof;

	memcpy(buf, preface, 24);
	n = 24 + raw_frame_hd(buf + 24, 0, NGHTTP2_SETTINGS, 0, 0);
	n += raw_frame_hd(buf + n, 3, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1);
	buf[n++] = 0x82;
	buf[n++] = 0x86;
	buf[n++] = 0x84;
	sent += raw_write(h2h_fd(h), buf, n, 1000);
	/* CONTINUATIONs each carrying "x-a: aaa..." literal without indexing */
	n = raw_frame_hd(buf, 1000, NGHTTP2_CONTINUATION, 0, 1);
	buf[n++] = 0x00;
	buf[n++] = 3;
	memcpy(buf + n, "x-a", 3);
	n += 3;
	buf[n++] = 0x7f;  /* value length 127 + 868 = 995 */
	buf[n++] = 0xe4;
	buf[n++] = 0x06;
	memset(buf + n, 'a', 995 - 3);
	n = 9 + 1000;
	for (i = 0; i < 2000 && !h2h_closed(h); i++)
		sent += raw_write(h2h_fd(h), buf, n, 20);
	(void)raw_read_goaway(h2h_fd(h), 3000, &eof);
	cr_expect(eof, "connection not closed after %zu bytes", sent);
	cr_expect(wait_closed(h));
	cr_expect_eq(h2h_streams_done(h) + h2h_streams_err(h), 0, "the endless request reached the engine");
	stop(h);
}

Test(h2, mem_cap_calm, .description = "past mem_cap: GOAWAY ENHANCE_YOUR_CALM")
{
	struct h2h *h = start_hold(0, 0, 256 * 1024, 1);
	struct cli c;
	struct h2c_stats st;
	static char big[8000];
	nghttp2_nv nva[5];
	int i;

	memset(big, 'v', sizeof(big) - 1);
	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	cli_pump(&c, 50);
	for (i = 0; i < 60; i++) {
		char name[16];

		snprintf(name, sizeof(name), "x-big-%d", i);
		nva[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 };
		nva[1] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 };
		nva[2] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)"/hold", 5, 5, 0 };
		nva[3] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0 };
		nva[4] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)big, strlen(name), sizeof(big) - 1,
				       NGHTTP2_NV_FLAG_NO_INDEX };
		cr_assert_gt(nghttp2_submit_request(c.sess, NULL, nva, 5, NULL, NULL), 0);
	}
	cli_pump(&c, 2000);
	cr_expect(c.goaway, "no GOAWAY");
	cr_expect_eq(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM, "GOAWAY code %u", c.goaway_code);
	cr_expect(c.eof, "not closed");
	h2h_stats(h, &st);
	cr_expect_eq(st.calm_kills, 1);
	cr_expect_leq(st.mem_peak, 256 * 1024 * 3 / 2 + 65536);
	cr_log_info("mem cap: mem_peak %llu", (unsigned long long)st.mem_peak);
	cli_free(&c);
	stop(h);
}

/* Runs one GET on a connection started with <encoder_table> as the mux's
 * encoder_table_size and returns the size of the client's HPACK decoder
 * table afterwards: what our encoder put in its dynamic table. */
static size_t encoder_table_after_get(uint32_t encoder_table)
{
	struct h2h_opts o = { .set.encoder_table_size = encoder_table };
	struct h2h *h = h2h_start(&o);
	struct cli c;
	size_t used;
	int i;

	cr_assert_not_null(h);
	cr_assert_eq(cli_init(&c, h2h_fd(h)), 0);
	i = cli_request(&c, "GET", "/cl/10", 0, 1);
	cr_assert_eq(cli_run(&c, 3000), 0);
	cr_expect_eq(c.st[i].status, 200);
	used = nghttp2_session_get_hd_inflate_dynamic_table_size(c.sess);
	cli_free(&c);
	stop(h);
	return used;
}

Test(h2, encoder_table_off_by_default,
     .description = "our HPACK encoder keeps no dynamic table unless encoder_table_size allows one")
{
	cr_expect_eq(encoder_table_after_get(0), 0, "default: response fields indexed");
	cr_expect_gt(encoder_table_after_get(4096), 0, "4096: nothing indexed");
}

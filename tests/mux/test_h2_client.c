/* test_h2_client.c - the client role of the HTTP/2 mux (h2c_new_client)
 * against our own server-role h2c and against a raw nghttp2 server, with a
 * real scheduler and pool (see h2c_harness.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tests/mux/h2c_harness.h"

TestSuite(h2client, .timeout = 30);

/* ---- helpers ---- */

static struct h2ch *start_client(int fd, uint64_t limit, uint64_t reserve)
{
	struct h2ch_opts o = { .pool_limit = limit, .pool_reserve = reserve };
	struct h2ch *h = h2ch_start(&o, fd);

	cr_assert_not_null(h);
	return h;
}

/* Our server-role h2c on one end of a socketpair, the client on the other. */
static struct h2ch *start_pair(struct h2h **srvh, uint64_t limit, uint64_t reserve)
{
	struct h2h_opts so = { 0 };

	*srvh = h2h_start(&so);
	cr_assert_not_null(*srvh);
	return start_client(h2h_take_fd(*srvh), limit, reserve);
}

/* A raw nghttp2 server on one end of a socketpair, the client on the other. */
static struct h2ch *start_raw(struct srv *s, uint32_t max_streams, uint64_t limit, uint64_t reserve)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(srv_init(s, sv[1], max_streams), 0);
	return start_client(sv[0], limit, reserve);
}

struct until {
	struct h2ch *h;
	unsigned n;
};

static int srv_until_ended(struct srv *s, void *arg)
{
	struct until *u = arg;

	return h2ch_ended(u->h) >= u->n;
}

/* Graceful end: h2c_shutdown, closed callback, nghttp2 memory accounted
 * back to 0, no pool buffer left. <s> (may be NULL) is pumped meanwhile. */
static void finish(struct h2ch *h, struct srv *s)
{
	h2ch_shutdown(h);
	for (int i = 0; i < 300 && !h2ch_closed(h); i++) {
		if (s)
			srv_pump(s, 10, NULL, NULL);
		else
			usleep(10000);
	}
	cr_expect(h2ch_closed(h), "the client connection did not close after h2c_shutdown");
	cr_expect_eq(h2ch_mem_at_close(h), 0, "accounted memory left at close: %ld", h2ch_mem_at_close(h));
	cr_expect_eq(h2ch_stop(h), 0, "client pool buffers left in use");
}

/* Waits (pumping <s> if given) until <n> requests ended. */
static unsigned run_until(struct h2ch *h, struct srv *s, unsigned n, int ms)
{
	struct until u = { h, n };

	if (!s)
		return h2ch_wait(h, n, ms);
	srv_pump(s, ms, srv_until_ended, &u);
	return h2ch_ended(h);
}

static struct h2ch_res result(struct h2ch *h, int i)
{
	struct h2ch_res r;

	h2ch_result(h, i, &r);
	return r;
}

/* Checks a 200 response with a pattern body of <n> bytes, framed with
 * content-length (<chunked> 0) or chunked (1). */
static void check_ok(struct h2ch *h, int i, uint64_t n, int chunked)
{
	struct h2ch_res r = result(h, i);

	cr_expect_eq(r.state, H2CH_DONE, "request %d: state %d", i, r.state);
	cr_expect_eq(r.status, 200, "request %d: status %d", i, r.status);
	cr_expect_not(r.bad_framing, "request %d: bad framing: %s", i, r.head);
	cr_expect_eq(r.chunked, chunked, "request %d: head %s", i, r.head);
	cr_expect_eq(r.has_cl, !chunked, "request %d: head %s", i, r.head);
	cr_expect_eq(r.body_len, n, "request %d: %llu bytes, want %llu", i,
		     (unsigned long long)r.body_len, (unsigned long long)n);
	cr_expect_eq(r.fnv, h2h_pat_fnv(n), "request %d: checksum", i);
	cr_expect(r.req_done, "request %d: request not fully taken", i);
}

static int submit(struct h2ch *h, const char *method, const char *path, int body, uint64_t len)
{
	struct h2ch_req r = { .method = method, .path = path, .body = body, .body_len = len };
	int i = h2ch_submit(h, &r);

	cr_assert_geq(i, 0);
	return i;
}

/* ---- against our own server-role h2c ---- */

Test(h2client, own_get, .description = "GET through our own h2 server: CL, chunked and close-delimited bodies")
{
	static const char *paths[] = { "/cl/0", "/cl/1", "/cl/100", "/cl/1048576", "/ch/5000",
				       "/ch/300000", "/close/70000", "/close/0" };
	static const uint64_t sizes[] = { 0, 1, 100, 1 << 20, 5000, 300000, 70000, 0 };
	struct h2h *sh;
	struct h2ch *h = start_pair(&sh, 0, 0);
	struct h2c_stats st;
	char *req;
	long n;
	unsigned i;

	for (i = 0; i < 8; i++)
		submit(h, "GET", paths[i], H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, NULL, 8, 10000), 8);
	for (i = 0; i < 8; i++)
		check_ok(h, (int)i, sizes[i], i >= 4);
	cr_expect_not_null(strstr(result(h, 2).head, "x-test: yes\r\n"), "%s", result(h, 2).head);
	cr_expect_null(strstr(result(h, 2).head, "keep-alive"), "%s", result(h, 2).head);
	cr_expect_not_null(strstr(result(h, 4).head, "transfer-encoding: chunked\r\n"));
	n = h2h_request(sh, "GET /cl/100 ", &req);
	cr_assert_gt(n, 0);
	cr_expect_str_eq(req, "GET /cl/100 HTTP/1.1\r\nhost: origin.test\r\nuser-agent: h2ctest\r\n\r\n");
	free(req);
	h2ch_stats(h, &st);
	cr_expect_eq(st.streams_opened, 8);
	cr_expect_eq(h2ch_wait_idle(h, 1000), 0, "an idle client connection holds a buffer");
	finish(h, NULL);
	cr_expect_eq(h2h_stop(sh), 0);
}

Test(h2client, own_post_bodies, .description = "POST 1 MB with Content-Length and chunked, checksummed at the server")
{
	static const uint64_t sizes[] = { 1, 70000, 1 << 20 };
	struct h2h *sh;
	struct h2ch *h = start_pair(&sh, 0, 0);
	uint8_t *body = malloc((1 << 20) + 100);
	char path[64], want[64], *req, *at;
	unsigned i;
	long n;

	cr_assert_not_null(body);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/cl/%u?cl", i);
		submit(h, "POST", path, H2CH_CL, sizes[i]);
		snprintf(path, sizeof(path), "/cl/%u?te", i);
		submit(h, "PUT", path, H2CH_CHUNKED, sizes[i]);
	}
	cr_assert_eq(run_until(h, NULL, 6, 15000), 6);
	cr_assert_eq(h2h_wait_idle(sh, 2000), 0);
	for (i = 0; i < 3; i++) {
		check_ok(h, (int)(2 * i), i, 0);
		check_ok(h, (int)(2 * i + 1), i, 0);
		snprintf(path, sizeof(path), "POST /cl/%u?cl ", i);
		n = h2h_request(sh, path, &req);
		cr_assert_gt(n, 0, "no request %s", path);
		snprintf(want, sizeof(want), "content-length: %llu\r\n", (unsigned long long)sizes[i]);
		cr_expect_not_null(strstr(req, want), "%.300s", req);
		at = strstr(req, "\r\n\r\n") + 4;
		cr_expect_eq((uint64_t)(n - (at - req)), sizes[i]);
		cr_expect_eq(h2h_fnv(2166136261u, (uint8_t *)at, sizes[i]), h2h_pat_fnv(sizes[i]));
		free(req);
		snprintf(path, sizeof(path), "PUT /cl/%u?te ", i);
		n = h2h_request(sh, path, &req);
		cr_assert_gt(n, 0, "no request %s", path);
		/* no length reached the server: it gives the body chunked again */
		cr_expect_not_null(strstr(req, "transfer-encoding: chunked\r\n"), "%.300s", req);
		cr_expect_null(strstr(req, "content-length"), "%.300s", req);
		at = strstr(req, "\r\n\r\n") + 4;
		cr_expect_eq(h2h_dechunk(at, (size_t)(n - (at - req)), body), (long)sizes[i]);
		cr_expect_eq(h2h_fnv(2166136261u, body, sizes[i]), h2h_pat_fnv(sizes[i]));
		free(req);
	}
	free(body);
	finish(h, NULL);
	cr_expect_eq(h2h_stop(sh), 0);
}

Test(h2client, own_head_204_interim, .description = "HEAD and 204 give no framing; 100 Continue comes first")
{
	struct h2h *sh;
	struct h2ch *h = start_pair(&sh, 0, 0);
	struct h2ch_res r;

	submit(h, "HEAD", "/cl/100", H2CH_NOBODY, 0);
	submit(h, "GET", "/204", H2CH_NOBODY, 0);
	submit(h, "GET", "/100/1234", H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, NULL, 3, 5000), 3);
	r = result(h, 0);
	cr_expect_eq(r.state, H2CH_DONE);
	cr_expect_eq(r.status, 200);
	cr_expect_not_null(strstr(r.head, "content-length: 100\r\n"), "%s", r.head);
	cr_expect_null(strstr(r.head, "transfer-encoding"), "%s", r.head);
	cr_expect_eq(r.body_len, 0);
	r = result(h, 1);
	cr_expect_eq(r.state, H2CH_DONE);
	cr_expect_eq(r.status, 204);
	cr_expect_null(strstr(r.head, "transfer-encoding"), "%s", r.head);
	cr_expect_null(strstr(r.head, "content-length"), "%s", r.head);
	cr_expect_eq(r.body_len, 0);
	r = result(h, 2);
	cr_expect_eq(r.interim, 1, "the 100 Continue head was not given");
	check_ok(h, 2, 1234, 0);
	finish(h, NULL);
	cr_expect_eq(h2h_stop(sh), 0);
}

Test(h2client, own_tiny_pool, .description = "client pool limit 3, reserve 1: 50 requests complete")
{
	struct h2h *sh;
	struct h2ch *h = start_pair(&sh, 3, 1);
	char path[64];
	unsigned i;

	for (i = 0; i < 50; i++) {
		snprintf(path, sizeof(path), "/%s/%u", i % 2 ? "ch" : "cl", 1000 + i * 1500);
		submit(h, i % 3 == 2 ? "POST" : "GET", path, i % 3 == 2 ? (i % 2 ? H2CH_CHUNKED : H2CH_CL) : H2CH_NOBODY,
		       i % 3 == 2 ? 40000 : 0);
	}
	cr_assert_eq(run_until(h, NULL, 50, 20000), 50);
	for (i = 0; i < 50; i++)
		check_ok(h, (int)i, 1000 + i * 1500, i % 2);
	cr_expect_eq(h2ch_wait_idle(h, 1000), 0);
	finish(h, NULL);
	cr_expect_eq(h2h_stop(sh), 0);
}

Test(h2client, own_tail_not_taken, .description = "bytes after the request message are never taken")
{
	struct h2h *sh;
	struct h2ch *h = start_pair(&sh, 0, 0);
	struct h2ch_req r[] = {
		{ .method = "GET", .path = "/cl/10", .tail = "GET /next HTTP/1.1\r\n\r\n" },
		{ .method = "POST", .path = "/cl/11", .body = H2CH_CL, .body_len = 30000, .tail = "XYZ" },
		{ .method = "POST", .path = "/cl/12", .body = H2CH_CHUNKED, .body_len = 20000, .tail = "0\r\n\r\n" },
	};

	for (unsigned i = 0; i < 3; i++)
		cr_assert_geq(h2ch_submit(h, &r[i]), 0);
	cr_assert_eq(run_until(h, NULL, 3, 5000), 3);
	for (unsigned i = 0; i < 3; i++) {
		check_ok(h, (int)i, 10 + i, 0);
		cr_expect_eq(result(h, (int)i).tail_left, strlen(r[i].tail), "request %u: tail taken", i);
	}
	finish(h, NULL);
	cr_expect_eq(h2h_stop(sh), 0);
}

/* ---- against a raw nghttp2 server ---- */

Test(h2client, raw_responses, .description = "raw server: CL, no CL (chunked), empty, HEAD, 204, 1xx")
{
	static const char *paths[] = { "/cl/0", "/cl/70000", "/nocl/0", "/nocl/1", "/nocl/300000", "/x", "/100/10" };
	static const uint64_t sizes[] = { 0, 70000, 0, 1, 300000, 0, 10 };
	static const int chunked[] = { 0, 0, 1, 1, 1, 0, 0 };
	struct srv s;
	struct h2ch *h = start_raw(&s, 100, 0, 0);
	struct h2ch_res r;
	unsigned i;

	for (i = 0; i < 7; i++)
		submit(h, "GET", paths[i], H2CH_NOBODY, 0);
	submit(h, "HEAD", "/cl/5", H2CH_NOBODY, 0);
	submit(h, "GET", "/204", H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, &s, 9, 10000), 9);
	for (i = 0; i < 7; i++)
		check_ok(h, (int)i, sizes[i], chunked[i]);
	cr_expect_eq(result(h, 6).interim, 1);
	r = result(h, 7);
	cr_expect_eq(r.status, 200);
	cr_expect_not_null(strstr(r.head, "content-length: 1234\r\n"), "%s", r.head);
	cr_expect_eq(r.body_len, 0);
	cr_expect_not(r.chunked);
	r = result(h, 8);
	cr_expect_eq(r.status, 204);
	cr_expect_not(r.chunked);
	cr_expect_not(r.has_cl);
	cr_expect_eq(r.body_len, 0);
	cr_expect_str_eq(r.head, "HTTP/1.1 204 No Content\r\nx-srv: raw\r\n\r\n");
	/* what the server saw */
	cr_assert_not_null(srv_find(&s, "/cl/0"));
	cr_expect_str_eq(srv_find(&s, "/cl/0")->method, "GET");
	cr_expect_str_eq(srv_find(&s, "/cl/0")->authority, "origin.test");
	cr_expect_str_eq(srv_find(&s, "/cl/0")->hdrs, "user-agent: h2ctest\n");
	finish(h, &s);
	srv_free(&s);
}

Test(h2client, raw_request_heads, .description = "raw server: targets, authority, hop-by-hop headers dropped")
{
	struct srv s;
	struct h2ch *h = start_raw(&s, 100, 0, 0);
	struct h2ch_req r[] = {
		{ .method = "GET", .path = "http://abs.test:8080/p?q=1" },
		{ .method = "GET", .path = "http://user@abs2.test?only=query" },
		{ .method = "OPTIONS", .path = "*" },
		{ .method = "GET", .path = "/hop", .extra = "Connection: close, X-Drop\r\nX-Drop: 1\r\n"
			"Keep-Alive: timeout=5\r\nProxy-Connection: x\r\nUpgrade: foo\r\nTE: trailers\r\n"
			"X-Keep: Yes\r\nCookie: a=1\r\n" },
		{ .method = "GET", .path = "/te", .extra = "TE: gzip\r\n" },
		{ .method = "CONNECT", .path = "abs.test:443" },
		{ .method = "GET", .path = "/nohost", .no_host = 1 },  /* our H1 parser refuses it */
	};
	struct srv_stream *st;
	unsigned i;

	for (i = 0; i < 7; i++)
		cr_assert_geq(h2ch_submit(h, &r[i]), 0);
	cr_assert_eq(run_until(h, &s, 7, 5000), 7);
	for (i = 0; i < 7; i++)
		cr_expect_eq(result(h, (int)i).state, i >= 5 ? H2CH_ERROR : H2CH_DONE, "request %u", i);
	st = srv_find(&s, "/p?q=1");
	cr_assert_not_null(st);
	cr_expect_str_eq(st->authority, "abs.test:8080");
	st = srv_find(&s, "/?only=query");
	cr_assert_not_null(st);
	cr_expect_str_eq(st->authority, "abs2.test");
	st = srv_find(&s, "*");
	cr_assert_not_null(st);
	cr_expect_str_eq(st->method, "OPTIONS");
	st = srv_find(&s, "/hop");
	cr_assert_not_null(st);
	cr_expect_str_eq(st->hdrs, "user-agent: h2ctest\nte: trailers\nx-keep: Yes\ncookie: a=1\n");
	st = srv_find(&s, "/te");
	cr_assert_not_null(st);
	cr_expect_str_eq(st->hdrs, "user-agent: h2ctest\n");
	cr_expect_eq(s.nb, 5, "CONNECT or a head without Host reached the server");
	finish(h, &s);
	srv_free(&s);
}

Test(h2client, raw_post_echo, .description = "raw server: 1 MB request bodies, CL and chunked, checksummed")
{
	struct srv s;
	struct h2ch *h = start_raw(&s, 100, 0, 0);
	char want[64];
	unsigned i;

	submit(h, "POST", "/echo", H2CH_CL, 1 << 20);
	submit(h, "POST", "/echo", H2CH_CHUNKED, 1 << 20);
	submit(h, "POST", "/echo", H2CH_CHUNKED, 0);
	submit(h, "POST", "/echo", H2CH_CL, 0);
	cr_assert_eq(run_until(h, &s, 4, 15000), 4);
	for (i = 0; i < 4; i++) {
		struct h2ch_res r = result(h, (int)i);
		uint64_t n = i < 2 ? 1 << 20 : 0;

		cr_expect_eq(r.state, H2CH_DONE, "request %u", i);
		snprintf(want, sizeof(want), "x-len: %llu\r\n", (unsigned long long)n);
		cr_expect_not_null(strstr(r.head, want), "request %u: %s", i, r.head);
		snprintf(want, sizeof(want), "x-fnv: %u\r\n", h2h_pat_fnv(n));
		cr_expect_not_null(strstr(r.head, want), "request %u: %s", i, r.head);
	}
	finish(h, &s);
	srv_free(&s);
}

Test(h2client, raw_200_streams, .description = "200 requests, server allows 100 at once: open_room honoured")
{
	struct srv s;
	struct h2ch *h = start_raw(&s, 100, 0, 0);
	char path[64];
	unsigned i;

	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/%s/%u", i % 2 ? "nocl" : "cl", (i * 997) % 20000);
		submit(h, "GET", path, H2CH_NOBODY, 0);
	}
	cr_assert_eq(run_until(h, &s, 200, 20000), 200);
	for (i = 0; i < 200; i++)
		check_ok(h, (int)i, (i * 997) % 20000, i % 2);
	cr_expect_leq(s.peak_open, 100, "server saw %u streams at once", s.peak_open);
	cr_expect_geq(h2ch_max_held(h), 50, "streams did not run concurrently: %u", h2ch_max_held(h));
	cr_log_info("200 streams: peak %u at the server, %u held", s.peak_open, h2ch_max_held(h));
	finish(h, &s);
	srv_free(&s);
}

static int srv_until_held(struct srv *s, void *arg)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->nb; i++)
		n += s->st[i].ended;
	return n >= *(unsigned *)arg;
}

Test(h2client, raw_room_limit, .description = "room 0 at the server's limit: open_stream refused with EAGAIN")
{
	struct srv s;
	struct h2ch *h = start_raw(&s, 3, 0, 0);
	struct h2ch_req r = { .method = "GET", .path = "/cl/10" };
	unsigned three = 3;
	int err = 0, i;

	s.hold_all = 1;
	for (i = 0; i < 3; i++)
		submit(h, "GET", "/cl/10", H2CH_NOBODY, 0);
	srv_pump(&s, 3000, srv_until_held, &three);
	srv_pump(&s, 50, NULL, NULL);
	cr_expect_eq(h2ch_room(h), 0);
	cr_expect_lt(h2ch_open_now(h, &r, &err), 0);
	cr_expect_eq(err, EAGAIN);
	s.hold_all = 0;
	srv_release_held(&s, 1000);
	cr_assert_eq(run_until(h, &s, 4, 5000), 4);
	for (i = 0; i < 3; i++)
		check_ok(h, i, 10, 0);
	srv_pump(&s, 50, NULL, NULL);
	cr_expect_eq(h2ch_room(h), 3);
	finish(h, &s);
	srv_free(&s);
}

Test(h2client, raw_rst_one_stream, .description = "server RST_STREAM on one stream: only that one errors")
{
	struct srv s;
	struct h2ch *h = start_raw(&s, 100, 0, 0);
	struct h2c_stats st;
	int i;

	submit(h, "GET", "/cl/20000", H2CH_NOBODY, 0);
	submit(h, "GET", "/rst", H2CH_NOBODY, 0);
	submit(h, "POST", "/cl/30000", H2CH_CL, 100000);
	submit(h, "GET", "/nocl/5000", H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, &s, 4, 5000), 4);
	cr_expect_eq(result(h, 1).state, H2CH_ERROR);
	check_ok(h, 0, 20000, 0);
	check_ok(h, 2, 30000, 0);
	check_ok(h, 3, 5000, 1);
	h2ch_stats(h, &st);
	cr_expect_geq(st.streams_reset, 1);
	cr_expect_not(h2ch_closed(h));
	for (i = 0; i < 3; i++)
		submit(h, "GET", "/cl/10", H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, &s, 7, 5000), 7, "the connection did not carry on");
	finish(h, &s);
	srv_free(&s);
}

static int srv_until_closed(struct srv *s, void *arg)
{
	return h2ch_closed(arg);
}

Test(h2client, raw_goaway, .description = "server GOAWAY: open_room 0, lower streams finish, higher fail, close")
{
	struct srv s;
	struct h2ch *h = start_raw(&s, 100, 0, 0);
	struct h2ch_req r = { .method = "GET", .path = "/cl/10" };
	struct h2c_stats st;
	unsigned six = 6;
	int err = 0, i, ok = 0, bad = 0;
	char path[32];

	s.hold_all = 1;
	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/cl/%d", 100 + i);
		submit(h, "GET", path, H2CH_NOBODY, 0);
	}
	srv_pump(&s, 3000, srv_until_held, &six);
	cr_assert_eq(s.nb, 6);
	cr_assert_eq(nghttp2_submit_goaway(s.sess, NGHTTP2_FLAG_NONE, s.st[2].id, NGHTTP2_NO_ERROR, NULL, 0), 0);
	srv_pump(&s, 100, NULL, NULL);
	cr_expect_eq(h2ch_room(h), 0, "room after GOAWAY");
	cr_expect_lt(h2ch_open_now(h, &r, &err), 0);
	cr_expect_eq(err, ENOTCONN);
	srv_release_held(&s, s.st[2].id);
	srv_pump(&s, 3000, srv_until_closed, h);
	for (i = 0; i < 100 && !h2ch_closed(h); i++)
		usleep(5000);  /* the socket closes just before the callback runs */
	if (!h2ch_closed(h))
		h2ch_dump(h);
	cr_expect(h2ch_closed(h), "the connection did not close once its streams finished");
	cr_assert_eq(h2ch_wait(h, 7, 1000), 7);
	for (i = 0; i < 6; i++) {
		struct h2ch_res res = result(h, i);
		int32_t id = 0;

		snprintf(path, sizeof(path), "/cl/%d", 100 + i);
		id = srv_find(&s, path)->id;
		if (id <= s.st[2].id) {
			check_ok(h, i, (uint64_t)(100 + i), 0);
			ok++;
		} else {
			cr_expect_eq(res.state, H2CH_ERROR, "stream %d above last-stream-id", id);
			bad++;
		}
	}
	cr_expect_eq(ok, 3);
	cr_expect_eq(bad, 3);
	h2ch_stats(h, &st);
	cr_expect_eq(st.goaway_recv, 1);
	cr_expect_eq(h2ch_stop(h), 0);
	srv_free(&s);
}

/* ---- connecting ---- */

/* Returns a port on 127.0.0.1 nobody listens on (bound then closed). */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Starts a non-blocking connect to 127.0.0.1:<port>. Returns the socket,
 * or -1 when connect failed at once (errno kept). */
static int start_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

Test(h2client, connect_refused, .description = "connect to a closed port: the stream gets EP_ERROR, closed")
{
	struct h2ch_req r = { .method = "GET", .path = "/cl/10" };
	struct h2ch_opts o = { .first = &r };
	int fd = start_connect(closed_port());
	struct h2ch *h;

	if (fd < 0)
		cr_skip_test("connect() failed at once (errno %d): nothing to wait for", errno);
	h = h2ch_start(&o, fd);
	cr_assert_not_null(h);
	cr_assert_eq(h2ch_wait(h, 1, 3000), 1);
	cr_expect(result(h, 0).was_connecting, "EP_CONNECTING not set while connecting");
	cr_expect_eq(result(h, 0).state, H2CH_ERROR);
	for (int i = 0; i < 200 && !h2ch_closed(h); i++)
		usleep(5000);
	cr_expect(h2ch_closed(h));
	cr_expect_eq(h2ch_room(h), 0);
	cr_expect_eq(h2ch_stop(h), 0);
}

Test(h2client, connect_tcp_then_get, .description = "TCP connect in progress: streams wait, then run")
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cfd, afd;
	struct h2ch_req r = { .method = "POST", .path = "/echo", .body = H2CH_CL, .body_len = 200000 };
	struct h2ch_opts o = { .first = &r };
	struct h2ch *h;
	struct srv s;

	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	cfd = start_connect(ntohs(a.sin_port));
	cr_assert_geq(cfd, 0);
	h = h2ch_start(&o, cfd);
	cr_assert_not_null(h);
	submit(h, "GET", "/nocl/100000", H2CH_NOBODY, 0);
	afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	cr_assert_geq(afd, 0);
	close(lfd);
	cr_assert_eq(srv_init(&s, afd, 100), 0);
	cr_assert_eq(run_until(h, &s, 2, 5000), 2);
	cr_expect_eq(result(h, 0).state, H2CH_DONE);
	cr_expect(result(h, 0).was_connecting, "EP_CONNECTING not set while connecting");
	cr_expect_not_null(strstr(result(h, 0).head, "x-len: 200000\r\n"), "%s", result(h, 0).head);
	check_ok(h, 1, 100000, 1);
	finish(h, &s);
	srv_free(&s);
}

Test(h2client, raw_release_early, .description = "released before the response ended: RST_STREAM(CANCEL), others go on")
{
	struct srv s;
	struct h2ch *h = start_raw(&s, 100, 0, 0);
	struct h2ch_req r = { .method = "GET", .path = "/nocl/1048576", .abandon = 1 };
	struct srv_stream *st;

	cr_assert_eq(h2ch_submit(h, &r), 0);
	submit(h, "GET", "/cl/50000", H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, &s, 2, 5000), 2);
	cr_expect_eq(result(h, 0).state, H2CH_ABANDONED);
	check_ok(h, 1, 50000, 0);
	for (int i = 0; i < 100 && !srv_find(&s, "/nocl/1048576")->closed; i++)
		srv_pump(&s, 10, NULL, NULL);
	st = srv_find(&s, "/nocl/1048576");
	cr_expect(st->closed);
	cr_expect_eq(st->close_code, NGHTTP2_CANCEL);
	submit(h, "GET", "/cl/10", H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, &s, 3, 5000), 3);
	check_ok(h, 2, 10, 0);
	finish(h, &s);
	srv_free(&s);
}

Test(h2client, raw_header_limit, .description = "a response header list over max_header_list_size: that stream errors")
{
	struct srv s;
	int sv[2];
	struct h2ch_opts o = { .set.max_header_list_size = 4096 };
	struct h2ch *h;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(srv_init(&s, sv[1], 100), 0);
	h = h2ch_start(&o, sv[0]);
	cr_assert_not_null(h);
	submit(h, "GET", "/bighdr", H2CH_NOBODY, 0);
	submit(h, "GET", "/cl/1000", H2CH_NOBODY, 0);
	cr_assert_eq(run_until(h, &s, 2, 5000), 2);
	cr_expect_eq(result(h, 0).state, H2CH_ERROR);
	check_ok(h, 1, 1000, 0);
	finish(h, &s);
	srv_free(&s);
}

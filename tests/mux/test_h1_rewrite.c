/* test_h1_rewrite.c - in-place head rewriting and the proxy's own error
 * responses. A rewritten head must be exactly what is expected, parse again
 * to what h1_rewrite_head() left in the struct, and keep the bytes after it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include "tests/mux/h1_testutil.h"

#define AREA 1024

/* Copies <head> then <tail> into <area>, parses the head (as a request if
 * <is_request>) and rewrites it with <rw> into a scratch of <scratch_size>
 * bytes (at most AREA), in an area of <area_size> bytes. Returns what
 * h1_rewrite_head() returns. */
static int rewrite(char *area, size_t area_size, const char *head, const char *tail,
                   int is_request, const struct h1_rewrite *rw, size_t scratch_size,
                   struct h1_msg *m)
{
	char scratch[AREA];
	size_t hl = strlen(head), tl = strlen(tail);

	cr_assert_leq(hl + tl, area_size);
	cr_assert_leq(scratch_size, sizeof(scratch));
	memcpy(area, head, hl);
	memcpy(area + hl, tail, tl);
	cr_assert_eq(h1_parse_head(area, hl + tl, is_request, TEST_MAX_HEAD, m), (int)hl, "%s", head);
	return h1_rewrite_head(m, area, area_size, tl, rw, scratch, scratch_size);
}

/* Checks that the new head in <area> is <want>, followed by <tail>, and that
 * parsing it again gives the spans and flags left in <m>. */
static void check_result(const char *area, int r, const char *want, const char *tail,
                         const struct h1_msg *m)
{
	size_t wl = strlen(want);
	struct h1_msg again;
	unsigned i;

	cr_assert_eq(r, (int)wl, "got %d want %zu:\n%.*s", r, wl, r > 0 ? r : 0, area);
	cr_assert(!memcmp(area, want, wl), "got:\n%.*s\nwant:\n%s", (int)wl, area, want);
	cr_assert(!memcmp(area + wl, tail, strlen(tail)), "tail lost");
	cr_assert_eq(m->head_len, wl);

	cr_assert_eq(h1_parse_head(area, wl, m->is_request, TEST_MAX_HEAD, &again), (int)wl);
	cr_expect_eq(again.flags, m->flags, "flags %#x vs %#x", again.flags, m->flags);
	cr_expect_eq(again.version, m->version);
	cr_expect_eq(again.nb_hdrs, m->nb_hdrs);
	cr_expect(!memcmp(&again.method, &m->method, sizeof(m->method)));
	cr_expect(!memcmp(&again.uri, &m->uri, sizeof(m->uri)));
	cr_expect(!memcmp(&again.reason, &m->reason, sizeof(m->reason)));
	for (i = 0; i < m->nb_hdrs && i < again.nb_hdrs; i++)
		cr_expect(!memcmp(&again.hdrs[i], &m->hdrs[i], sizeof(m->hdrs[i])), "header %u", i);
}

Test(h1_rewrite, hop_by_hop_removed)
{
	static const char head[] =
		"POST /upload HTTP/1.1\r\n"
		"Host: origin.example\r\n"
		"Connection: keep-alive, X-Private, content-length, HOST\r\n"
		"Keep-Alive: timeout=5\r\n"
		"x-private: secret\r\n"
		"Proxy-Connection: keep-alive\r\n"
		"TE: trailers\r\n"
		"Trailer: X-Sum\r\n"
		"Upgrade: h2c\r\n"
		"Content-Length: 5\r\n"
		"Accept:*/*\r\n"
		"\r\n";
	static const char tail[] = "helloGET /next HTTP/1.1\r\nHost: o\r\n\r\n";
	static const char want[] =
		"POST /upload HTTP/1.1\r\n"
		"Host: origin.example\r\n"
		"Content-Length: 5\r\n"
		"Accept: */*\r\n"
		"Connection: close\r\n"
		"X-Forwarded-For: 192.0.2.7\r\n"
		"Via: 1.1 sluice\r\n"
		"\r\n";
	struct h1_rewrite rw = { .add_conn_close = 1, .xff = "192.0.2.7", .via = "1.1 sluice" };
	char area[AREA];
	struct h1_msg m;
	int r;

	r = rewrite(area, sizeof(area), head, tail, 1, &rw, AREA, &m);
	check_result(area, r, want, tail, &m);
	cr_expect_eq(m.flags & (H1_F_CONN_CLOSE | H1_F_CONN_KA | H1_F_CONN_OTHER), H1_F_CONN_CLOSE);
	cr_expect(m.flags & H1_F_CLEN);
	cr_expect_eq(m.content_length, 5);
	cr_expect(hdr_is(&m, area, "x-forwarded-for", "192.0.2.7"));
	cr_expect(span_is(area, m.uri, "/upload"));
}

Test(h1_rewrite, nothing_added)
{
	static const char head[] = "GET / HTTP/1.1\nHost: a\nX-A:  b  \n\n";
	static const char want[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n";
	struct h1_rewrite rw = { 0 };
	char area[AREA];
	struct h1_msg m;
	int r;

	/* bare LF ends and odd spacing come out canonical */
	r = rewrite(area, sizeof(area), head, "", 1, &rw, AREA, &m);
	check_result(area, r, want, "", &m);
}

Test(h1_rewrite, leading_empty_line_dropped_and_version)
{
	static const char head[] = "\r\nGET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	/* an HTTP/1.1 request must have a Host, empty without an authority */
	static const char want[] = "GET /x HTTP/1.1\r\nHost: \r\nConnection: keep-alive\r\n\r\n";
	static const char want10[] = "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	struct h1_rewrite rw = { .add_conn_keepalive = 1, .force_version_11 = 1 };
	char area[AREA];
	struct h1_msg m;
	int r;

	r = rewrite(area, sizeof(area), head, "tail", 1, &rw, AREA, &m);
	check_result(area, r, want, "tail", &m);
	cr_expect_eq(m.version, 11);
	rw.force_version_11 = 0;
	r = rewrite(area, sizeof(area), head, "tail", 1, &rw, AREA, &m);
	check_result(area, r, want10, "tail", &m);
	cr_expect_eq(m.version, 10);
	cr_expect_eq(h1_wants_close(&m), 0);
}

Test(h1_rewrite, http10_goes_on_as_11)
{
	static const char abs_uri[] = "GET http://joe@origin.example:8080/a?b HTTP/1.0\r\nExpect: 100-continue\r\nX: y\r\n\r\n";
	static const char abs_want[] = "GET http://joe@origin.example:8080/a?b HTTP/1.1\r\nHost: origin.example:8080\r\nX: y\r\n\r\n";
	static const char conn[] = "CONNECT origin.example:443 HTTP/1.0\r\n\r\n";
	static const char conn_want[] = "CONNECT origin.example:443 HTTP/1.1\r\nHost: origin.example:443\r\n\r\n";
	static const char has_host[] = "GET / HTTP/1.0\r\nHost: h\r\n\r\n";
	static const char has_host_want[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	struct h1_rewrite rw = { .force_version_11 = 1 };
	char area[AREA];
	struct h1_msg m;
	int r;

	/* Host from the authority; Expect dropped: it was meaningless in 1.0 */
	r = rewrite(area, sizeof(area), abs_uri, "", 1, &rw, AREA, &m);
	check_result(area, r, abs_want, "", &m);
	r = rewrite(area, sizeof(area), conn, "", 1, &rw, AREA, &m);
	check_result(area, r, conn_want, "", &m);
	r = rewrite(area, sizeof(area), has_host, "", 1, &rw, AREA, &m);
	check_result(area, r, has_host_want, "", &m);
}

Test(h1_rewrite, expect_named_by_connection)
{
	static const char head[] = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nConnection: expect\r\n\r\n";
	static const char want[] = "PUT / HTTP/1.1\r\nHost: a\r\n\r\n";
	char area[AREA];
	struct h1_msg m;
	int r;

	r = rewrite(area, sizeof(area), head, "", 1, &(struct h1_rewrite){ 0 }, AREA, &m);
	check_result(area, r, want, "", &m);
	cr_expect_eq(m.flags & H1_F_EXPECT_100, 0);
}

Test(h1_rewrite, upgrade_kept_or_refused)
{
	static const char head[] =
		"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	static const char want[] =
		"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: upgrade\r\n\r\n";
	static const char want_refused[] =
		"GET /chat HTTP/1.1\r\nHost: a\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	char area[AREA], scratch[AREA];
	struct h1_rewrite rw = { 0 };
	struct h1_msg m;
	int r;

	r = rewrite(area, sizeof(area), head, "", 1, &rw, AREA, &m);
	check_result(area, r, want, "", &m);
	cr_expect(m.flags & H1_F_UPGRADE);

	/* the engine refuses by clearing the flag before the rewrite */
	memcpy(area, head, sizeof(head) - 1);
	cr_assert_eq(parse_req(area, sizeof(head) - 1, &m), (int)sizeof(head) - 1);
	m.flags &= ~H1_F_UPGRADE;
	r = h1_rewrite_head(&m, area, sizeof(area), 0, &rw, scratch, sizeof(scratch));
	check_result(area, r, want_refused, "", &m);
}

Test(h1_rewrite, content_length_normalized)
{
	static const char head[] = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nX: y\r\ncontent-length: 03\r\n\r\n";
	static const char want[] = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX: y\r\n\r\n";
	static const char rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char rsp_want[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.1 s\r\n\r\n";
	struct h1_rewrite rw = { .xff = "ignored in responses", .via = "1.1 s" };
	char area[AREA];
	struct h1_msg m;
	int r;

	r = rewrite(area, sizeof(area), head, "abc", 1, &(struct h1_rewrite){ 0 }, AREA, &m);
	check_result(area, r, want, "abc", &m);
	cr_expect_eq(m.flags & H1_F_CLEN_DUP, 0);
	/* TE overrides CL: the CL header goes (RFC 9112 6.3) */
	r = rewrite(area, sizeof(area), rsp, "3\r\nabc\r\n", 0, &rw, AREA, &m);
	check_result(area, r, rsp_want, "3\r\nabc\r\n", &m);
}

Test(h1_rewrite, response_start_line)
{
	static const char head[] = "HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\n";
	static const char want[] = "HTTP/1.1 404 Not Found\r\nServer: x\r\nConnection: close\r\n\r\n";
	static const char empty[] = "HTTP/1.1 200\r\n\r\n";
	static const char empty_want[] = "HTTP/1.1 200 \r\n\r\n";
	struct h1_rewrite rw = { .add_conn_close = 1, .force_version_11 = 1 };
	char area[AREA];
	struct h1_msg m;
	int r;

	r = rewrite(area, sizeof(area), head, "body", 0, &rw, AREA, &m);
	check_result(area, r, want, "body", &m);
	cr_expect_eq(m.status, 404);
	r = rewrite(area, sizeof(area), empty, "", 0, &(struct h1_rewrite){ 0 }, AREA, &m);
	check_result(area, r, empty_want, "", &m);
}

Test(h1_rewrite, growth_moves_tail)
{
	/* the new head is longer than the old one: the tail moves right */
	static const char head[] = "GET / HTTP/1.1\nHost:a\n\n";
	static const char want[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 2001:db8::1\r\n\r\n";
	char tail[300];
	struct h1_rewrite rw = { .xff = "2001:db8::1" };
	char area[AREA];
	struct h1_msg m;
	size_t i;
	int r;

	for (i = 0; i < sizeof(tail) - 1; i++)
		tail[i] = (char)('a' + i % 26);
	tail[sizeof(tail) - 1] = 0;
	r = rewrite(area, sizeof(area), head, tail, 1, &rw, AREA, &m);
	check_result(area, r, want, tail, &m);
}

Test(h1_rewrite, too_large_leaves_area_untouched)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char tail[] = "0123456789";
	static const char want[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	struct h1_rewrite rw = { .add_conn_close = 1 };
	size_t need = sizeof(want) - 1 + sizeof(tail) - 1, hl = sizeof(head) - 1;
	char area[AREA], before[AREA];
	struct h1_msg m, m_before;
	int r;

	/* an area one byte short of the new head plus the tail */
	r = rewrite(area, need - 1, head, tail, 1, &rw, AREA, &m);
	cr_expect_eq(r, H1_ERR_TOO_LARGE);
	cr_expect(!memcmp(area, head, hl) && !memcmp(area + hl, tail, sizeof(tail) - 1));
	cr_expect_eq(m.head_len, hl);
	/* exactly enough */
	r = rewrite(area, need, head, tail, 1, &rw, AREA, &m);
	check_result(area, r, want, tail, &m);

	/* a scratch too small */
	memcpy(area, head, hl);
	memcpy(area + hl, tail, sizeof(tail) - 1);
	cr_assert_eq(parse_req(area, hl, &m), (int)hl);
	memcpy(before, area, sizeof(area));
	memcpy(&m_before, &m, sizeof(m));
	r = rewrite(area, sizeof(area), head, tail, 1, &rw, sizeof(want) - 2, &m);
	cr_expect_eq(r, H1_ERR_TOO_LARGE);
	cr_expect(!memcmp(area, before, hl + sizeof(tail) - 1));
	cr_expect(!memcmp(&m, &m_before, sizeof(m)));
	r = rewrite(area, sizeof(area), head, tail, 1, &rw, sizeof(want) - 1, &m);
	check_result(area, r, want, tail, &m);
}

Test(h1_rewrite, too_many_headers)
{
	char head[4096], area[4096], scratch[4096];
	struct h1_rewrite rw = { .add_conn_close = 1, .xff = "1.2.3.4", .via = "1.1 s" };
	struct h1_msg m;
	size_t len = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: h\r\n");
	unsigned i;

	for (i = 0; i < H1_MAX_HDRS - 2; i++)
		len += (size_t)snprintf(head + len, sizeof(head) - len, "X-%u: v\r\n", i);
	len += (size_t)snprintf(head + len, sizeof(head) - len, "\r\n");
	memcpy(area, head, len);
	cr_assert_eq(parse_req(area, len, &m), (int)len);
	cr_assert_eq(m.nb_hdrs, H1_MAX_HDRS - 1);
	/* 100 headers + 3 added do not fit in the header array */
	cr_expect_eq(h1_rewrite_head(&m, area, sizeof(area), 0, &rw, scratch, sizeof(scratch)), H1_ERR_TOO_LARGE);
	cr_expect(!memcmp(area, head, len));
	/* one added does */
	rw = (struct h1_rewrite){ .add_conn_close = 1 };
	cr_expect_gt(h1_rewrite_head(&m, area, sizeof(area), 0, &rw, scratch, sizeof(scratch)), 0);
	cr_expect_eq(m.nb_hdrs, H1_MAX_HDRS);
}

Test(h1_rewrite, injected_values_refused)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	char area[AREA];
	struct h1_msg m;

	cr_expect_eq(rewrite(area, sizeof(area), head, "", 1,
	                     &(struct h1_rewrite){ .xff = "1.2.3.4\r\nX-Admin: 1" }, AREA, &m), H1_ERR_BAD);
	cr_expect_eq(rewrite(area, sizeof(area), head, "", 1,
	                     &(struct h1_rewrite){ .via = "1.1 a\nb" }, AREA, &m), H1_ERR_BAD);
	cr_expect(!memcmp(area, head, sizeof(head) - 1));
	/* a tail that does not fit in the area to begin with */
	cr_assert_eq(parse_req(area, sizeof(head) - 1, &m), (int)sizeof(head) - 1);
	cr_expect_eq(h1_rewrite_head(&m, area, sizeof(head) + 3, 5, &(struct h1_rewrite){ 0 },
	                             area + 512, 512), H1_ERR_BAD);
}

/* ---- error responses ---- */

Test(h1_reply, errors_parse_back)
{
	static const int codes[] = { 400, 408, 413, 414, 431, 500, 501, 502, 503, 504, 505 };
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char out[1024];
		size_t len = h1_make_error(codes[i], out, sizeof(out)), n;
		struct h1_msg m;
		struct h1_body b;
		int hl;

		cr_assert_gt(len, 0, "%d", codes[i]);
		hl = parse_rsp(out, len, &m);
		cr_assert_gt(hl, 0, "%d: %.*s", codes[i], (int)len, out);
		cr_expect_eq(m.status, codes[i]);
		cr_expect(span_is(out, m.reason, h1_reason(codes[i])));
		cr_expect_eq(m.version, 11);
		cr_expect(m.flags & H1_F_CONN_CLOSE);
		cr_expect(h1_wants_close(&m));
		cr_expect(hdr_is(&m, out, "content-type", "text/html"));
		cr_assert(m.flags & H1_F_CLEN);
		cr_expect_eq(m.content_length, len - (size_t)hl);
		cr_assert_eq(h1_body_init(&b, &m, H1_M_GET), 0);
		cr_expect_eq(h1_body_scan(&b, out + hl, len - (size_t)hl), (long)(len - (size_t)hl));
		cr_expect(b.done);

		/* every smaller room fails cleanly, the exact room works */
		for (n = 0; n < len; n++)
			cr_expect_eq(h1_make_error(codes[i], out, n), 0);
		cr_expect_eq(h1_make_error(codes[i], out, len), len);
	}
	cr_expect_eq(h1_make_error(200, (char[512]){ 0 }, 512), 0);
	cr_expect_eq(h1_make_error(302, (char[512]){ 0 }, 512), 0);
}

Test(h1_reply, reasons)
{
	cr_expect_str_eq(h1_reason(200), "OK");
	cr_expect_str_eq(h1_reason(404), "Not Found");
	cr_expect_str_eq(h1_reason(431), "Request Header Fields Too Large");
	cr_expect_str_eq(h1_reason(504), "Gateway Timeout");
	cr_expect_str_eq(h1_reason(299), "Unknown");
}

/* An absolute-form request: the Host the next hop sees is the target's
 * authority, never a different Host the client also sent (RFC 9112 3.2.2),
 * and one is added when none came. */
Test(h1_rewrite, absolute_form_host_replaced)
{
	static const char head[] = "GET http://u@other:8080/a?b HTTP/1.1\r\nHost: t\r\nX: 1\r\n\r\n";
	static const char want[] = "GET http://u@other:8080/a?b HTTP/1.1\r\nHost: other:8080\r\nX: 1\r\n\r\n";
	static const char head10[] = "GET http://other/ HTTP/1.0\r\n\r\n";
	static const char want10[] = "GET http://other/ HTTP/1.0\r\nHost: other\r\n\r\n";
	struct h1_rewrite rw = { 0 };
	char area[AREA];
	struct h1_msg m;
	int r;

	r = rewrite(area, sizeof(area), head, "", 1, &rw, AREA, &m);
	check_result(area, r, want, "", &m);
	r = rewrite(area, sizeof(area), head10, "", 1, &rw, AREA, &m);
	check_result(area, r, want10, "", &m);
}

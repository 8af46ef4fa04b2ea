/* test_hostapi.c - the request view and the request hook's calls
 * (engine/client/hostapi.c) over a head parsed by mux/h1, in a stream,
 * thread and engine built by hand: reads, header edits through the rules'
 * in-place rewrite and their tune.maxrewrite bound, direct answers, the
 * hook's verdicts, and the completion record made of the log's fields.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "engine/client/hostapi.h"
#include "engine/client/stream_int.h"

#define BUFSZ 16384

/* A stream on a thread of an engine, enough for the host API. */
struct fixture {
	struct cfg cfg;
	struct cfg_frontend fec;
	struct frontend fe;
	struct engine eng;
	struct thr_ctx tc;
	struct stream s;
	struct h1_msg m;
	struct buf b;
	char area[BUFSZ];
};

static struct fixture *fx_new(const char *req, size_t maxrewrite)
{
	struct fixture *f = calloc(1, sizeof(*f));

	cr_assert(f);
	f->cfg.g.bufsize = BUFSZ;
	f->cfg.g.maxrewrite = maxrewrite;
	f->fec.name = "web";
	f->fe.cfg = &f->fec;
	f->eng.cfg = &f->cfg;
	f->tc.eng = &f->eng;
	f->tc.trash = malloc(BUFSZ);
	f->s.tc = &f->tc;
	f->s.fe = &f->fe;
	strcpy(f->s.cli_addr, "192.0.2.7");
	f->s.cli_port = 4242;
	f->b = (struct buf){ .area = f->area, .size = BUFSZ, .data = strlen(req) };
	memcpy(f->area, req, strlen(req));
	cr_assert(h1_parse_head(f->area, strlen(req), 1, BUFSZ, &f->m) > 0);
	return f;
}

static void fx_free(struct fixture *f)
{
	free(f->tc.trash);
	free(f->s.reply_msg);
	free(f);
}

static struct sluice_req view(struct fixture *f)
{
	return (struct sluice_req){ .s = &f->s, .m = &f->m, .b = &f->b, .head0 = f->m.head_len, .svc_idx = -1 };
}

static int str_eq(struct sluice_str s, const char *lit)
{
	return s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len);
}

static const char REQ[] = "GET /api/v1/items?id=3&x=y HTTP/1.1\r\nHost: shop.example\r\n"
			  "Accept: */*\r\nX-Tag: a\r\nX-Tag: b\r\n\r\n";

Test(hostapi, view_reads_the_head)
{
	struct fixture *f = fx_new(REQ, 1024);
	struct sluice_req r = view(f);
	struct sluice_str n, v;
	int i;

	cr_expect(str_eq(sluice_req_method(&r), "GET"));
	cr_expect(str_eq(sluice_req_path(&r), "/api/v1/items"));
	cr_expect(str_eq(sluice_req_query(&r), "id=3&x=y"));
	cr_expect(str_eq(sluice_req_uri(&r), "/api/v1/items?id=3&x=y"));
	cr_expect_eq(sluice_req_http_version(&r), 20, "no connection of its own: an HTTP/2 stream");
	cr_expect_str_eq(sluice_req_client_addr(&r), "192.0.2.7");
	cr_expect_eq(sluice_req_client_port(&r), 4242);
	cr_expect_str_eq(sluice_req_frontend(&r), "web");
	cr_expect_eq(sluice_req_header(&r, "HOST", 0, &v), 0);
	cr_expect(str_eq(v, "shop.example"));
	i = sluice_req_header(&r, "x-tag", 0, &v);
	cr_expect(i > 0 && str_eq(v, "a"));
	i = sluice_req_header(&r, "x-tag", i + 1, &v);
	cr_expect(i > 0 && str_eq(v, "b"));
	cr_expect_eq(sluice_req_header(&r, "x-tag", i + 1, &v), -1);
	cr_expect_eq(sluice_req_header_count(&r), 4);
	cr_expect_eq(sluice_req_header_at(&r, 1, &n, &v), 0);
	cr_expect(str_eq(n, "Accept") && str_eq(v, "*/*"));
	cr_expect_eq(sluice_req_header_at(&r, 4, &n, &v), -1);
	fx_free(f);
}

Test(hostapi, query_of_absolute_form_and_none)
{
	struct fixture *f = fx_new("GET http://a.example/p HTTP/1.1\r\nHost: a.example\r\n\r\n", 1024);
	struct sluice_req r = view(f);

	cr_expect(str_eq(sluice_req_path(&r), "/p"));
	cr_expect_eq(sluice_req_query(&r).len, 0);
	fx_free(f);
}

Test(hostapi, edits_rewrite_in_place_and_the_view_follows)
{
	struct fixture *f = fx_new(REQ, 1024);
	struct sluice_req r = view(f);
	struct sluice_str v;

	cr_assert_eq(sluice_req_set_header(&r, "X-Tag", "one"), SLUICE_OK);
	cr_expect_eq(sluice_req_header(&r, "x-tag", 0, &v) >= 0, 1);
	cr_expect(str_eq(v, "one"));
	cr_expect_eq(sluice_req_header(&r, "x-tag", sluice_req_header(&r, "x-tag", 0, NULL) + 1, NULL), -1,
		     "set replaces every header of that name");
	cr_assert_eq(sluice_req_add_header(&r, "X-New", "v w"), SLUICE_OK);
	cr_assert_eq(sluice_req_del_header(&r, "accept"), SLUICE_OK);
	cr_expect_eq(sluice_req_header(&r, "accept", 0, NULL), -1);
	cr_expect_eq(f->b.data, f->m.head_len, "the head is all the buffer holds, in place");
	cr_expect(strstr(f->area, "X-New: v w\r\n") != NULL);
	cr_expect(str_eq(sluice_req_path(&r), "/api/v1/items"));
	fx_free(f);
}

Test(hostapi, invalid_edits_are_refused)
{
	struct fixture *f = fx_new(REQ, 1024);
	struct sluice_req r = view(f);

	cr_expect_eq(sluice_req_set_header(&r, "Content-Length", "1"), SLUICE_E_INVALID);
	cr_expect_eq(sluice_req_set_header(&r, "transfer-encoding", "x"), SLUICE_E_INVALID);
	cr_expect_eq(sluice_req_set_header(&r, "Connection", "close"), SLUICE_E_INVALID);
	cr_expect_eq(sluice_req_set_header(&r, "Bad Name", "x"), SLUICE_E_INVALID);
	cr_expect_eq(sluice_req_set_header(&r, "", "x"), SLUICE_E_INVALID);
	cr_expect_eq(sluice_req_set_header(&r, "X-A", "a\r\nX-Smuggled: 1"), SLUICE_E_INVALID);
	cr_expect_eq(sluice_req_add_header(&r, "X-A", "tab\tok"), SLUICE_OK);
	cr_expect_eq(r.failed, 0);
	fx_free(f);
}

Test(hostapi, growth_beyond_half_maxrewrite_fails_the_request)
{
	struct fixture *f = fx_new(REQ, 1024);
	struct sluice_req r = view(f);
	char big[600];

	memset(big, 'g', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_expect_eq(sluice_req_add_header(&r, "X-Big", big), SLUICE_E_NOROOM);
	cr_expect_eq(r.failed, 1);
	/* once failed, nothing else is done to the request */
	cr_expect_eq(sluice_req_add_header(&r, "X-Small", "s"), SLUICE_E_NOROOM);
	fx_free(f);
}

Test(hostapi, answer_is_a_whole_http1_message)
{
	struct fixture *f = fx_new(REQ, 1024);
	struct sluice_req r = view(f);
	struct sluice_header h[] = { { "Content-Type", "text/plain" } };
	static const char want[] = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
				   "Content-Length: 2\r\nConnection: close\r\n\r\nno";

	cr_expect_eq(sluice_req_answer(&r, 99, NULL, 0, NULL, 0), SLUICE_E_INVALID);
	cr_expect_eq(sluice_req_answer(&r, 403, (struct sluice_header[]){ { "Content-Length", "1" } }, 1, "no", 2),
		     SLUICE_E_INVALID);
	cr_assert_eq(sluice_req_answer(&r, 403, h, 1, "no", 2), SLUICE_OK);
	cr_expect_eq(f->s.reply_len, sizeof(want) - 1);
	cr_expect(!memcmp(f->s.reply_msg, want, sizeof(want) - 1));
	cr_expect_eq(f->s.rule_status, 403);
	cr_expect_eq(sluice_req_set_header(&r, "X-A", "b"), SLUICE_E_STATE, "answered: no more edits");
	fx_free(f);
}

/* ---- the hook's verdicts, as the stream sees them ---- */

static enum sluice_verdict hook_answer(struct sluice_req *r, void *arg)
{
	(void)arg;
	(void)sluice_req_answer(r, 200, NULL, 0, "hi", 2);
	return SLUICE_ANSWER;
}

static enum sluice_verdict hook_answer_then_pass(struct sluice_req *r, void *arg)
{
	(void)arg;
	(void)sluice_req_answer(r, 403, NULL, 0, "no", 2);
	return SLUICE_PASS;
}

static enum sluice_verdict hook_lies(struct sluice_req *r, void *arg)
{
	(void)r;
	return (enum sluice_verdict)(intptr_t)arg; /* claims what it did not prepare */
}

static enum sluice_verdict hook_grows(struct sluice_req *r, void *arg)
{
	static char big[2048];

	(void)arg;
	memset(big, 'g', sizeof(big) - 1);
	(void)sluice_req_add_header(r, "X-Big", big);
	return SLUICE_PASS; /* ignored: the failed edit wins */
}

static enum sluice_verdict hook_backend(struct sluice_req *r, void *arg)
{
	(void)arg;
	return sluice_req_use_backend(r, "nope") == SLUICE_E_NOTFOUND ? SLUICE_PASS : SLUICE_ANSWER;
}

Test(hostapi, verdicts)
{
	struct fixture *f = fx_new(REQ, 1024);

	cr_expect_eq(hostapi_request(&f->s, &f->m, &f->b), HOST_PASS, "no hook: pass");
	f->eng.host.req_fn = hook_answer;
	cr_expect_eq(hostapi_request(&f->s, &f->m, &f->b), HOST_ANSWER);
	cr_expect_eq(f->s.rule_status, 200);
	f->eng.host.req_fn = hook_answer_then_pass;
	cr_expect_eq(hostapi_request(&f->s, &f->m, &f->b), HOST_PASS);
	cr_expect_null(f->s.reply_msg, "an answer not chosen must not answer a later error");
	f->eng.host.req_fn = hook_lies;
	f->eng.host.req_arg = (void *)(intptr_t)SLUICE_SERVICE;
	cr_expect_eq(hostapi_request(&f->s, &f->m, &f->b), HOST_FAIL);
	f->eng.host.req_arg = (void *)(intptr_t)42;
	cr_expect_eq(hostapi_request(&f->s, &f->m, &f->b), HOST_FAIL, "not a verdict: 500");
	f->eng.host.req_fn = hook_grows;
	cr_expect_eq(hostapi_request(&f->s, &f->m, &f->b), HOST_FAIL);
	fx_free(f);
	f = fx_new(REQ, 1024);
	f->eng.host.req_fn = hook_backend;
	cr_expect_eq(hostapi_request(&f->s, &f->m, &f->b), HOST_PASS);
	fx_free(f);
}

/* ---- completion ---- */

static struct sluice_log got;
static char got_uri[64];

static void on_done(const struct sluice_log *l, void *arg)
{
	got = *l;
	snprintf(got_uri, sizeof(got_uri), "%.*s", (int)l->uri_len, l->uri);
	*(int *)arg += 1;
}

Test(hostapi, completion_gets_every_log_field)
{
	struct fixture *f = fx_new(REQ, 1024);
	int calls = 0;
	struct log_rec r = {
		.client_addr = "192.0.2.7", .client_port = 4242, .start_ms = 1234, .frontend = "web",
		.backend = "api", .server = "a1", .status = 503, .bytes_in = 10, .bytes_out = 20,
		.tq_ms = 1, .tw_ms = 2, .tc_ms = 3, .tr_ms = -1, .tt_ms = 9,
		.cause = LOG_TC_RESOURCE, .state = LOG_TS_QUEUE,
		.method = "GET /x", .method_len = 3, .uri = "/x", .uri_len = 2,
	};

	hostapi_complete(&f->s, &r);
	cr_expect_eq(calls, 0, "no hook, no call");
	f->eng.host.done_fn = on_done;
	f->eng.host.done_arg = &calls;
	hostapi_complete(&f->s, &r);
	cr_assert_eq(calls, 1);
	cr_expect_str_eq(got.term, "RQ");
	cr_expect_eq(got.status, 503);
	cr_expect_eq(got.bytes_out, 20);
	cr_expect_eq(got.tw_ms, 2);
	cr_expect_eq(got.tr_ms, -1);
	cr_expect_eq(got.start_ms, 1234);
	cr_expect_str_eq(got.server, "a1");
	cr_expect_str_eq(got_uri, "/x");
	fx_free(f);
}

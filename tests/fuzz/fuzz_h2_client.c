/* fuzz_h2_client.c - fuzz target: the HTTP/2 mux in client role, fed raw
 * server bytes through its socket.
 *
 * Each input gets a fresh harness (tests/mux/h2c_harness.h): scheduler
 * thread, pool, a client-role h2c on one end of a socketpair with four
 * requests queued (stream 1 GET /a; 3 POST /b, Content-Length body; 5 HEAD
 * /c; 7 PUT /d, chunked body; the bodies are followed by bytes that belong
 * to no request). The input is what the server sends: it is written to the
 * other end in pieces while the requests are read and dropped, then that
 * end closes. Pool configuration and settings are drawn from the input.
 * Checked for every input:
 *   - the connection closes once its peer is gone and every request ends
 *     (answered, errored, or never opened);
 *   - an answered request got one final HTTP/1.1 response that the HTTP/1
 *     parser accepts and whose framing matches the body given
 *     (h2ch_res.bad_framing), with a status of 200..599;
 *   - the bytes after a request that was sent in full were never taken;
 *   - every pool buffer is back once the connection is torn down, and the
 *     counters are consistent (h2fz_check_stats).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tests/fuzz/h2_check.h"
#include "tests/mux/h2c_harness.h"

static const struct h2ch_req h2fz_reqs[] = {
	{ .method = "GET", .path = "/a" },
	{ .method = "POST", .path = "/b", .body_len = 100, .body = H2CH_CL,
	  .tail = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" },
	{ .method = "HEAD", .path = "/c" },
	{ .method = "PUT", .path = "/d", .body_len = 50, .body = H2CH_CHUNKED, .tail = "X" },
};
#define H2FZ_NB_REQS (sizeof(h2fz_reqs) / sizeof(h2fz_reqs[0]))

/* Drops what the client sends and lets the scheduler run until the
 * connection stops changing for two rounds, or a bound. */
static void h2fz_settle(struct h2ch *h, int fd)
{
	struct h2c_stats prev = { 0 }, st;
	unsigned prev_end = 0, end, stable = 0;

	for (int i = 0; i < 200 && stable < 2; i++) {
		long n = h2fz_drain(fd);

		h2ch_stats(h, &st);  /* a round trip through the scheduler thread */
		end = h2ch_ended(h);
		if (n <= 0 && st.frames_in == prev.frames_in && st.frames_out == prev.frames_out &&
		    end == prev_end)
			stable++;
		else
			stable = 0;
		if (n < 0 || h2ch_closed(h) || end == H2FZ_NB_REQS)
			break;
		prev = st;
		prev_end = end;
	}
}

/* Checks the outcome of request <i>. */
static void h2fz_check_result(struct h2ch *h, unsigned i)
{
	const struct h2ch_req *r = &h2fz_reqs[i];
	size_t tail_len = r->tail ? strlen(r->tail) : 0;
	struct h2ch_res res;

	h2ch_result(h, (int)i, &res);
	FZ_CHECK(res.state != H2CH_PENDING, "request %u never ended", i);
	if (res.state != H2CH_DONE)
		return;
	/* A head the HTTP/1 parser refuses (status 0 here: e.g. a :status out
	 * of 100..599, which nghttp2 lets through) makes the engine answer 502:
	 * failing closed is fine. A head that parses but frames the body
	 * differently from what was given is not. */
	FZ_CHECK(!res.bad_framing || res.status == 0,
	         "request %u: the response's framing does not match its body: %s", i, res.head);
	if (res.status == 0)
		return;
	FZ_CHECK(res.status >= 200 && res.status <= 599, "request %u: final status %d", i, res.status);
	if (res.req_done)
		FZ_CHECK(res.tail_left == tail_len, "request %u: %zu of %zu bytes after it were taken", i,
		         tail_len - res.tail_left, tail_len);
	h2fz_check_h1(res.head, strlen(res.head), 0, 0, !strcmp(r->method, "HEAD") ? 1 : 0);
}

/* libFuzzer entry: one input is what a server sends on one connection. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2ch_opts o = { 0 };
	struct h2c_stats st;
	struct fz_rng rng;
	struct h2ch *h;
	unsigned i;
	long in_use;
	int sv[2];

	if (size > 65536)
		return 0;
	fz_rng_init(&rng, data, size);
	if (fz_below(&rng, 2)) {
		o.pool_limit = 3 + fz_below(&rng, 6);
		o.pool_reserve = fz_below(&rng, 3);
	}
	if (!fz_below(&rng, 4)) {
		o.set.initial_window_size = (uint32_t)fz_below(&rng, 100000);
		o.set.mem_cap = 32768 + fz_below(&rng, 65536);
	}
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
	         "socketpair failed");
	h = h2ch_start(&o, sv[0]);
	FZ_CHECK(h != NULL, "harness start failed");
	/* until the socket is seen connected the room is 0 and the dispatcher
	 * polls every 5 ms: submit once it is, so that the streams open at once
	 * and the input meets them */
	for (int ms = 0; !h2ch_room(h) && ms < H2FZ_WAIT_MS * 10; ms++)
		usleep(100);
	for (i = 0; i < H2FZ_NB_REQS; i++)
		FZ_CHECK(h2ch_submit(h, &h2fz_reqs[i]) == (int)i, "submit %u failed", i);
	for (int ms = 0; h2ch_max_held(h) < H2FZ_NB_REQS && ms < H2FZ_WAIT_MS * 10; ms++)
		usleep(100);
	h2fz_write(sv[1], data, size, &rng);
	h2fz_settle(h, sv[1]);
	close(sv[1]);

	for (int t = 0; !h2ch_closed(h) && t < H2FZ_WAIT_MS * 10; t++)
		usleep(100);  /* short steps: most inputs close within a few */
	FZ_CHECK(h2ch_closed(h), "the connection outlived its peer");
	FZ_CHECK(h2ch_wait(h, H2FZ_NB_REQS, H2FZ_WAIT_MS) == H2FZ_NB_REQS, "%u of %zu requests ended",
	         h2ch_ended(h), H2FZ_NB_REQS);
	for (i = 0; i < H2FZ_NB_REQS; i++)
		h2fz_check_result(h, i);
	h2ch_stats(h, &st);
	h2fz_check_stats(&st, o.set.mem_cap);
	if (getenv("H2FZ_VERBOSE")) {  /* what an input reached, when writing seeds */
		for (i = 0; i < H2FZ_NB_REQS; i++) {
			struct h2ch_res res;

			h2ch_result(h, (int)i, &res);
			fprintf(stderr, "h2_client: request %u state %d status %d body %llu\n", i,
			        res.state, res.status, (unsigned long long)res.body_len);
		}
		fprintf(stderr, "h2_client: frames in %llu out %llu, resets %llu\n",
		        (unsigned long long)st.frames_in, (unsigned long long)st.frames_out,
		        (unsigned long long)st.streams_reset);
	}
	in_use = h2ch_stop(h);
	FZ_CHECK(in_use == 0, "%ld pool buffers not given back", in_use);
	return 0;
}

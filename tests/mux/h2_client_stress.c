/* h2_client_stress.c - the client role of the HTTP/2 mux against our own
 * server role, each on its own scheduler thread: many requests (GET and
 * POST, Content-Length and chunked both ways, up to 256 KiB) over one
 * connection, several rounds, small pool limits in the last round. A plain
 * program so that the TSan build runs it: returns non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/mux/h2c_harness.h"

#define NREQ 150

static int fails;

#define CHECK(cond, ...) do { if (!(cond)) { fails++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* One connection with NREQ requests. */
static void round_run(unsigned seed, uint64_t limit, uint64_t reserve)
{
	struct h2h_opts so = { .pool_limit = limit, .pool_reserve = reserve };
	struct h2ch_opts co = { .pool_limit = limit, .pool_reserve = reserve };
	struct h2h *sh = h2h_start(&so);
	struct h2ch *h;
	uint64_t sizes[NREQ];
	char path[64];
	int i;

	CHECK(sh != NULL, "server start");
	if (!sh)
		return;
	h = h2ch_start(&co, h2h_take_fd(sh));
	CHECK(h != NULL, "client start");
	if (!h) {
		h2h_stop(sh);
		return;
	}
	for (i = 0; i < NREQ; i++) {
		int post = (i + (int)seed) % 3 == 0;
		struct h2ch_req r = { .method = post ? "POST" : "GET", .path = path,
				      .body = post ? (i % 2 ? H2CH_CHUNKED : H2CH_CL) : H2CH_NOBODY,
				      .body_len = post ? 5000u + (unsigned)i * 300u : 0 };

		sizes[i] = ((uint64_t)(i + 1) * 7919u * (seed + 1)) % (256 * 1024);
		snprintf(path, sizeof(path), "/%s/%llu", (i + (int)seed) % 2 ? "ch" : "cl",
			 (unsigned long long)sizes[i]);
		CHECK(h2ch_submit(h, &r) == i, "submit");
	}
	if (h2ch_wait(h, NREQ, 20000) != NREQ) {
		CHECK(0, "round %u: requests did not finish", seed);
		h2ch_dump(h);
		h2h_dump(sh);
	}
	for (i = 0; i < NREQ; i++) {
		struct h2ch_res r;

		h2ch_result(h, i, &r);
		CHECK(r.state == H2CH_DONE && r.status == 200 && !r.bad_framing && r.req_done,
		      "request %d: state %d status %d framing %d sent %d", i, r.state, r.status,
		      r.bad_framing, r.req_done);
		CHECK(r.body_len == sizes[i] && r.fnv == h2h_pat_fnv(sizes[i]), "request %d: %llu bytes of %llu",
		      i, (unsigned long long)r.body_len, (unsigned long long)sizes[i]);
	}
	CHECK(h2ch_wait_idle(h, 2000) == 0, "buffers held by an idle client connection");
	h2ch_shutdown(h);
	for (i = 0; i < 200 && !h2ch_closed(h); i++)
		h2ch_wait(h, NREQ + 1, 10);
	CHECK(h2ch_closed(h), "h2c_shutdown did not close");
	CHECK(h2ch_mem_at_close(h) == 0, "accounted memory left: %ld", h2ch_mem_at_close(h));
	CHECK(h2ch_stop(h) == 0, "client buffers left");
	CHECK(h2h_stop(sh) == 0, "server buffers left");
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 3;

	for (unsigned r = 0; r < rounds; r++)
		round_run(r, r == rounds - 1 ? 4 : 0, r == rounds - 1 ? 1 : 0);
	printf("h2_client_stress: %u rounds, %d failures\n", rounds, fails);
	return fails != 0;
}

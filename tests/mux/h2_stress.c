/* h2_stress.c - many concurrent streams (GET and POST, Content-Length and
 * chunked, up to 256 KiB) over one HTTP/2 connection, several rounds, with a
 * small pool limit in the last round. A plain program so that the TSan
 * build runs it: returns non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/mux/h2_harness.h"

#define NSTREAMS 60

static int fails;

#define CHECK(cond, ...) do { if (!(cond)) { fails++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* One connection with NSTREAMS streams. */
static void round_run(unsigned seed, uint64_t limit, uint64_t reserve)
{
	struct h2h_opts o = { .pool_limit = limit, .pool_reserve = reserve };
	struct h2h *h = h2h_start(&o);
	struct cli c;
	uint64_t sizes[NSTREAMS];
	char path[64];
	int i;

	CHECK(h != NULL, "start");
	if (!h)
		return;
	CHECK(cli_init(&c, h2h_fd(h)) == 0, "client");
	for (i = 0; i < NSTREAMS; i++) {
		int post = (i + (int)seed) % 3 == 0;

		sizes[i] = ((uint64_t)(i + 1) * 7919u * (seed + 1)) % (256 * 1024);
		snprintf(path, sizeof(path), "/%s/%llu", (i + (int)seed) % 2 ? "ch" : "cl",
			 (unsigned long long)sizes[i]);
		CHECK(cli_request(&c, post ? "POST" : "GET", path, post ? 5000u + (unsigned)i * 100u : 0, i % 2) >= 0,
		      "submit");
	}
	if (cli_run(&c, 20000) != 0) {
		CHECK(0, "round %u: streams did not finish", seed);
		h2h_dump(h);
	}
	for (i = 0; i < NSTREAMS; i++) {
		struct cli_stream *cs = &c.st[i];

		CHECK(cs->closed && !cs->err && cs->status == 200, "stream %d: closed %d err %u status %d",
		      cs->id, cs->closed, cs->err, cs->status);
		CHECK(cs->bytes == sizes[i] && cs->fnv == h2h_pat_fnv(sizes[i]), "stream %d: %llu bytes of %llu",
		      cs->id, (unsigned long long)cs->bytes, (unsigned long long)sizes[i]);
	}
	CHECK(h2h_wait_idle(h, 2000) == 0, "buffers held by an idle connection");
	cli_free(&c);
	CHECK(h2h_stop(h) == 0, "buffers left");
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 3;

	for (unsigned r = 0; r < rounds; r++)
		round_run(r, r == rounds - 1 ? 3 : 0, r == rounds - 1 ? 1 : 0);
	printf("h2_stress: %u rounds, %d failures\n", rounds, fails);
	return fails != 0;
}

/* fuzz_h2_server.c - fuzz target: the HTTP/2 mux in server role, fed raw
 * client bytes through its socket.
 *
 * Each input gets a fresh harness (tests/mux/h2_harness.h): scheduler
 * thread, pool, an h2c on one end of a socketpair and fake engine streams
 * that answer by path (/cl/N, /ch/N, /close/N, /100/N, /204, /hold). The
 * input is written to the other end in pieces while the output is read and
 * dropped; once the connection is quiet the client end closes. The pool
 * configuration (limit, reserve, block size) and the mux settings are drawn
 * from the input, so tight pools are fuzzed too. Checked for every input:
 *   - the connection closes (closed callback) once its peer is gone, and
 *     every stream handed to the engine ends (answered or errored);
 *   - every pool buffer is back once the connection is torn down;
 *   - the counters are consistent (h2fz_check_stats);
 *   - every request a stream read is one HTTP/1.1 message that the HTTP/1
 *     parser accepts and whose framing ends where the bytes end
 *     (h2fz_check_h1): no header injection, no framing mismatch;
 *   - ASan/UBSan/LSan see nothing.
 */
#include <stdlib.h>
#include <unistd.h>
#include "tests/fuzz/h2_check.h"
#include "tests/mux/h2_harness.h"

/* Drops output and lets the scheduler run until the connection stops
 * changing (frames, streams finished) for two rounds, or a bound. */
static void h2fz_settle(struct h2h *h, int fd)
{
	struct h2c_stats prev = { 0 }, st;
	unsigned prev_fin = 0, fin, stable = 0;

	for (int i = 0; i < 200 && stable < 2; i++) {
		long n = h2fz_drain(fd);

		h2h_stats(h, &st);  /* a round trip through the scheduler thread */
		fin = h2h_streams_done(h) + h2h_streams_err(h);
		if (n <= 0 && st.frames_in == prev.frames_in && st.frames_out == prev.frames_out &&
		    fin == prev_fin)
			stable++;
		else
			stable = 0;
		if (n < 0 || h2h_closed(h))
			break;
		prev = st;
		prev_fin = fin;
	}
}

/* Checks the first recorded request of each common method. */
static void h2fz_check_requests(struct h2h *h)
{
	static const char *const prefixes[] = { "GET ", "HEAD ", "POST ", "PUT ", "OPTIONS ", "" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		char *req = NULL;
		long len = h2h_request(h, prefixes[i], &req);

		if (len >= 0)
			h2fz_check_h1(req, (size_t)len, 1, 0, 0);
		free(req);
	}
}

/* libFuzzer entry: one input is what a client sends on one connection. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2h_opts o = { 0 };
	struct h2c_stats st;
	struct fz_rng rng;
	struct h2h *h;
	unsigned fin = 0;
	long in_use;
	int fd;

	if (size > 65536)
		return 0;
	fz_rng_init(&rng, data, size);
	if (fz_below(&rng, 2)) {
		o.pool_limit = 3 + fz_below(&rng, 6);
		o.pool_reserve = fz_below(&rng, 3);
	}
	o.bufsize = fz_below(&rng, 4) ? 0 : 4096;
	if (!fz_below(&rng, 4)) {
		o.set.max_concurrent_streams = 1 + (uint32_t)fz_below(&rng, 4);
		o.set.initial_window_size = (uint32_t)fz_below(&rng, 100000);
		o.set.mem_cap = 32768 + fz_below(&rng, 65536);
	}
	h = h2h_start(&o);
	FZ_CHECK(h != NULL, "harness start failed");
	fd = h2h_fd(h);
	h2fz_write(fd, data, size, &rng);
	h2fz_settle(h, fd);
	h2h_close_client(h);

	for (int t = 0; !h2h_closed(h) && t < H2FZ_WAIT_MS * 10; t++)
		usleep(100);  /* short steps: most inputs close within a few */
	FZ_CHECK(h2h_closed(h), "the connection outlived its peer");
	h2h_stats(h, &st);
	for (int t = 0; t < H2FZ_WAIT_MS * 10; t++) {
		fin = h2h_streams_done(h) + h2h_streams_err(h);
		if (fin >= st.streams_opened)
			break;
		usleep(100);
	}
	FZ_CHECK(fin == st.streams_opened, "%u of %llu streams ended", fin,
	         (unsigned long long)st.streams_opened);
	h2fz_check_stats(&st, o.set.mem_cap);
	h2fz_check_requests(h);
	if (getenv("H2FZ_VERBOSE"))  /* what an input reached, when writing seeds */
		fprintf(stderr, "h2_server: frames in %llu out %llu, streams %llu (done %u), resets %llu, "
		        "goaway sent %llu\n", (unsigned long long)st.frames_in,
		        (unsigned long long)st.frames_out, (unsigned long long)st.streams_opened,
		        h2h_streams_done(h), (unsigned long long)st.streams_reset,
		        (unsigned long long)st.goaway_sent);
	in_use = h2h_stop(h);
	FZ_CHECK(in_use == 0, "%ld pool buffers not given back", in_use);
	return 0;
}

/* test_h2_bufwait.c - buffer discipline of the HTTP/2 mux: the demux's
 * wait for a buffer follows the level the connection needs it at, and the
 * heap a connection holds outside the pool is bounded and counted.
 *
 * The demux of a server-role connection asks for its buffer at request
 * level while no stream waits for what it reads, and at response level
 * (which may use the reserve) once a stream does: one that took its
 * request head and waits for the body, or one that blocked on a closed
 * window and waits for a WINDOW_UPDATE. Each test makes the demux wait at
 * request level (a pool of 3 blocks, reserve 1, two blocks held outside),
 * with the peer's next frame already in the socket, then lets a stream
 * raise the level and checks that the connection goes on reading.
 *
 * A plain program rather than a Criterion suite: it runs a live scheduler
 * thread, and plain programs run in the TSan build too.
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/mux/h2_harness.h"

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		failures++; \
	} \
} while (0)

/* Returns non-zero when <p>[0..n) is the start of the body pattern. */
static int is_pattern(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != h2h_pat(i))
			return 0;
	return 1;
}

/* Waits up to 2 s until the demux of <h> has waited <n> times. */
static int wait_dbuf_waits(struct h2h *h, uint64_t n)
{
	struct h2c_stats st;

	for (int i = 0; i < 400; i++) {
		h2h_stats(h, &st);
		if (st.dbuf_waits >= n)
			return 1;
		usleep(5000);
	}
	return 0;
}

/* Waits up to 2 s until <n> streams were opened on <h>. */
static int wait_opened(struct h2h *h, uint64_t n)
{
	struct h2c_stats st;

	for (int i = 0; i < 400; i++) {
		h2h_stats(h, &st);
		if (st.streams_opened >= n)
			return 1;
		usleep(5000);
	}
	return 0;
}

/* A request body held back until <go> is set: the HEADERS leave alone. */
struct held_body {
	int go;
	size_t len, sent;
};

static ssize_t held_body_read(nghttp2_session *sess, int32_t id, uint8_t *out, size_t len,
			      uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct held_body *hb = src->ptr;
	size_t n = hb->len - hb->sent;

	(void)sess;
	(void)id;
	(void)user;
	if (!hb->go)
		return NGHTTP2_ERR_DEFERRED;
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++)
		out[i] = h2h_pat(hb->sent + i);
	hb->sent += n;
	if (hb->sent == hb->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

/* Starts a connection whose fake streams wait for h2h_resume(), on a pool
 * where request level is refused once two blocks are held. */
static struct h2h *start_deferred(void)
{
	struct h2h_opts o = { .pool_limit = 3, .pool_reserve = 1, .defer = 1 };

	return h2h_start(&o);
}

/* A stream takes its request head while the body's DATA waits in the
 * socket and the demux waits at request level: the level must rise and
 * the connection read the body. */
static void test_head_taken(void)
{
	struct h2h *h = start_deferred();
	struct held_body hb = { .len = 10 };
	nghttp2_data_provider prd = { .source.ptr = &hb, .read_callback = held_body_read };
	nghttp2_nv nva[] = {
		NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/x"),
		NV(":authority", "example.test"), NV("content-length", "10"),
	};
	struct cli c;
	struct cli_stream *cs;
	char *req = NULL;
	long len;

	if (!h) {
		CHECK(0, "harness did not start");
		return;
	}
	CHECK(cli_init(&c, h2h_fd(h)) == 0, "client");
	cs = &c.st[c.nb++];
	memset(cs, 0, sizeof(*cs));
	cs->fnv = 2166136261u;
	cs->id = nghttp2_submit_request(c.sess, NULL, nva, sizeof(nva) / sizeof(nva[0]), &prd, cs);
	CHECK(cs->id > 0, "submit");
	cli_pump(&c, 50);  /* SETTINGS and the HEADERS leave; the body is held */
	CHECK(wait_opened(h, 1), "the request stream was not opened");

	/* request level is refused from now on; the body's DATA waits */
	CHECK(h2h_hold_blocks(h, 2) == 2, "could not hold two blocks");
	hb.go = 1;
	CHECK(nghttp2_session_resume_data(c.sess, cs->id) == 0, "resume");
	cli_pump(&c, 50);
	CHECK(wait_dbuf_waits(h, 1), "the demux did not wait for a buffer");

	/* the stream takes its head: it now waits for the body in the socket */
	h2h_resume(h);
	CHECK(cli_run(&c, 2000) == 0, "the response did not come: the demux stopped reading");
	if (cs->status != 200)
		h2h_dump(h);
	CHECK(cs->status == 200, "status %d", cs->status);
	CHECK(cs->bytes == 5, "%llu response bytes", (unsigned long long)cs->bytes);
	for (int i = 0; i < 400 && h2h_streams_done(h) < 1; i++)
		usleep(5000);
	len = h2h_request(h, "POST /x ", &req);
	CHECK(len > 10 && req && is_pattern((const uint8_t *)req + len - 10, 10),
	      "the body was not received whole (%ld bytes)", len);
	free(req);
	h2h_drop_blocks(h);
	cli_free(&c);
	CHECK(h2h_stop(h) == 0, "buffers left in use");
}

/* A stream blocks on a closed stream window (nothing staged) while the
 * WINDOW_UPDATE that opens it waits in the socket and the demux waits at
 * request level: the level must rise and the connection read it. */
static void test_window_blocked(void)
{
	struct h2h *h = start_deferred();
	nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0 } };
	uint8_t wu[13];
	struct h2c_stats st;
	uint64_t frames_in;
	struct cli c;
	struct cli_stream *cs;
	int i;

	if (!h) {
		CHECK(0, "harness did not start");
		return;
	}
	CHECK(cli_init(&c, h2h_fd(h)) == 0, "client");
	CHECK(nghttp2_submit_settings(c.sess, NGHTTP2_FLAG_NONE, iv, 1) == 0, "settings");
	i = cli_request(&c, "GET", "/cl/100", 0, 0);
	CHECK(i == 0, "request");
	cs = &c.st[0];
	cli_pump(&c, 50);
	CHECK(wait_opened(h, 1), "the request stream was not opened");

	/* request level is refused from now on; the WINDOW_UPDATE waits */
	CHECK(h2h_hold_blocks(h, 2) == 2, "could not hold two blocks");
	raw_frame_hd(wu, 4, NGHTTP2_WINDOW_UPDATE, 0, (uint32_t)cs->id);
	wu[9] = 0, wu[10] = 0, wu[11] = 0x10, wu[12] = 0;  /* 4096 */
	CHECK(raw_write(h2h_fd(h), wu, sizeof(wu), 500) == sizeof(wu), "raw write");
	CHECK(wait_dbuf_waits(h, 1), "the demux did not wait for a buffer");

	/* The stream answers: its body blocks on the closed window. The
	 * client reads nothing meanwhile: the socket becoming writable again
	 * as it reads the response head would wake the connection anyway. */
	h2h_stats(h, &st);
	frames_in = st.frames_in;
	h2h_resume(h);
	usleep(300 * 1000);
	h2h_stats(h, &st);
	CHECK(st.frames_in > frames_in, "the WINDOW_UPDATE was not read");
	CHECK(cli_run(&c, 2000) == 0, "the response did not end: the WINDOW_UPDATE was not read");
	if (cs->bytes != 100)
		h2h_dump(h);
	CHECK(cs->status == 200, "status %d", cs->status);
	CHECK(cs->bytes == 100, "%llu response bytes", (unsigned long long)cs->bytes);
	CHECK(cs->fnv == h2h_pat_fnv(100), "checksum");
	for (i = 0; i < 400 && h2h_streams_done(h) < 1; i++)
		usleep(5000);
	h2h_drop_blocks(h);
	cli_free(&c);
	CHECK(h2h_stop(h) == 0, "buffers left in use");
}

/* The heap a connection holds outside the pool is counted on the gauge it
 * was given (and nowhere else once it is gone) and bounded by max_heap:
 * a client piling up header blocks is cut off with ENHANCE_YOUR_CALM
 * before its connection holds more. */
static void test_heap_cap_gauge(void)
{
	static uint64_t gauge;
	struct h2h_opts o = { .hold_all = 1 };
	static char big[8000];
	struct h2c_stats st;
	nghttp2_nv nva[5];
	struct h2h *h;
	struct cli c;
	uint64_t g;
	int i;

	o.set.max_heap = 256 * 1024;
	o.set.heap_gauge = &gauge;
	h = h2h_start(&o);
	if (!h) {
		CHECK(0, "harness did not start");
		return;
	}
	CHECK(cli_init(&c, h2h_fd(h)) == 0, "client");
	cli_pump(&c, 50);
	h2h_stats(h, &st);
	g = __atomic_load_n(&gauge, __ATOMIC_RELAXED);
	CHECK(g > 0 && g == st.mem_now, "gauge %llu, connection holds %llu",
	      (unsigned long long)g, (unsigned long long)st.mem_now);

	memset(big, 'v', sizeof(big) - 1);
	for (i = 0; i < 60; i++) {
		char name[16];

		snprintf(name, sizeof(name), "x-big-%d", i);
		nva[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 };
		nva[1] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 };
		nva[2] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)"/hold", 5, 5, 0 };
		nva[3] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0 };
		nva[4] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)big, strlen(name), sizeof(big) - 1,
				       NGHTTP2_NV_FLAG_NO_INDEX };
		CHECK(nghttp2_submit_request(c.sess, NULL, nva, 5, NULL, NULL) > 0, "submit");
	}
	cli_pump(&c, 2000);
	CHECK(c.goaway && c.goaway_code == NGHTTP2_ENHANCE_YOUR_CALM, "GOAWAY %d code %u",
	      c.goaway, c.goaway_code);
	h2h_stats(h, &st);
	CHECK(st.calm_kills == 1, "calm kills %llu", (unsigned long long)st.calm_kills);
	CHECK(st.mem_peak <= 256 * 1024, "peak %llu past max_heap", (unsigned long long)st.mem_peak);
	CHECK(st.mem_peak > 256 * 1024 / 3 * 2, "peak %llu: the soft cap did not bite",
	      (unsigned long long)st.mem_peak);
	printf("heap cap 256 KiB: peak %llu bytes\n", (unsigned long long)st.mem_peak);
	cli_free(&c);
	CHECK(h2h_stop(h) == 0, "buffers left in use");
	g = __atomic_load_n(&gauge, __ATOMIC_RELAXED);
	CHECK(g == 0, "gauge %llu after the connection was freed", (unsigned long long)g);
}

int main(void)
{
	test_head_taken();
	test_window_blocked();
	test_heap_cap_gauge();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	else
		printf("test_h2_bufwait: all passed\n");
	return failures ? 1 : 0;
}

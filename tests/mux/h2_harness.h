/* h2_harness.h - test bench for the HTTP/2 mux: a real scheduler and pool,
 * an h2c on one end of a socketpair (fake engine streams answering canned
 * HTTP/1.1 responses on the scheduler thread), an nghttp2 client driven by
 * the test thread on the other end. Used by test_h2.c (Criterion) and
 * h2_stress.c (plain program, for TSan).
 *
 * Fake stream responses are chosen by the request path:
 *   /cl/N     200, Content-Length: N, pattern body
 *   /ch/N     200, chunked, pattern body in chunks of varying sizes
 *   /close/N  200, neither: body ends with shut_wr
 *   /100/N    100 Continue first, then as /cl/N
 *   /204      204, no body
 *   /hold     never read nor answered (until the connection dies)
 *   /raw/N    the bytes of h2h_opts.raw[N], verbatim
 *   other     200, Content-Length: 5, "hello"
 * A HEAD request gets the head only (Content-Length kept).
 * The body pattern byte at offset i is h2h_pat(i).
 */
#ifndef SLUICE_TESTS_H2_HARNESS_H
#define SLUICE_TESTS_H2_HARNESS_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>
#include "mux/h2.h"
#include "pool/pool.h"

struct h2h_opts {
	uint64_t pool_limit, pool_reserve;
	size_t   bufsize;            /* 0 = 16384 */
	struct h2_settings set;      /* zero fields = mux defaults */
	int      hold_all;           /* fake streams neither read nor answer */
	/* if set, a request for /raw/N (N < nb_raw) is answered with the
	 * bytes of raw[N] exactly as given (head and body, any framing) */
	const char *const *raw;
	unsigned nb_raw;
	int      defer;              /* fake streams do nothing until h2h_resume() */
	int      xprt_passthrough;   /* the mux speaks through a transport (as over
	                              * TLS) that only calls recv()/sendmsg() */
};

struct h2h;

/* Returns the pattern byte at offset <i>. */
static inline uint8_t h2h_pat(uint64_t i) { return (uint8_t)(i * 131u + (i >> 8) * 7u + 11u); }

/* FNV-1a over the pattern of <n> bytes, and the step function. */
uint32_t h2h_fnv(uint32_t h, const uint8_t *p, size_t n);
uint32_t h2h_pat_fnv(uint64_t n);

/* Monotonic clock in ms. */
uint64_t h2h_now_ms(void);

/* Bytes the nghttp2 peer of a test produced and its socket did not take
 * yet (the harnesses' client and server alike). */
struct h2h_out {
	uint8_t *buf;
	size_t   len, size;
};

/* Writes what <o> holds, then whatever <sess> produces, to <fd> until the
 * socket is full or nothing is left. Returns 0, or -1 when the socket
 * failed or nghttp2 did (then *<failed> is set). */
int h2h_flush(int fd, nghttp2_session *sess, struct h2h_out *o, int *failed);
/* Runs fn(ctx, arg) on scheduler thread <thr> and waits for it (bounded:
 * 5 s). Returns 0, or -1 when it did not run in time. */
struct sched_thread;
int h2h_run_on(struct sched_thread *thr, void (*fn)(void *ctx, void *arg), void *ctx, void *arg);

/* Starts scheduler, pool, socketpair, and the h2c on the scheduler
 * thread. Returns NULL on failure. */
struct h2h *h2h_start(const struct h2h_opts *o);
/* Client end of the socketpair (non-blocking); h2h_close_client closes it. */
int h2h_fd(struct h2h *h);
/* Hands the client end over to the caller (h2h no longer closes it). */
int h2h_take_fd(struct h2h *h);
void h2h_close_client(struct h2h *h);
/* Aborts the h2c if still open, stops everything, frees. Returns the
 * pool's in_use at the end (0 expected). */
long h2h_stop(struct h2h *h);

/* Lets the fake streams deferred by h2h_opts.defer run (on the scheduler
 * thread); streams opened afterwards run at once. */
void h2h_resume(struct h2h *h);
/* Takes <n> (at most 8) pool blocks on the scheduler thread and holds them
 * outside the connection, as other streams would. Returns how many it got. */
unsigned h2h_hold_blocks(struct h2h *h, unsigned n);
/* Gives the blocks of h2h_hold_blocks() back. */
void h2h_drop_blocks(struct h2h *h);

/* Calls h2c_shutdown() on the scheduler thread. */
void h2h_shutdown(struct h2h *h);

/* Server-side observations (thread-safe). */
int  h2h_closed(struct h2h *h);                    /* closed callback ran */
void h2h_stats(struct h2h *h, struct h2c_stats *out);  /* live or final */
unsigned h2h_framed_eps(struct h2h *h);             /* streams given with EP_SND_FRAMED */
int64_t h2h_pool_in_use(struct h2h *h);
struct pool *h2h_pool(struct h2h *h);
/* Copies the raw HTTP/1.1 request (head + body as rcv_buf gave it) whose
 * request line starts with <prefix> into a malloc'd string. Returns its
 * length, or -1 if none. */
long h2h_request(struct h2h *h, const char *prefix, char **out);
unsigned h2h_streams_done(struct h2h *h);          /* fake streams that answered fully */
unsigned h2h_streams_err(struct h2h *h);           /* fake streams that saw EP_ERROR */
/* Waits up to <ms> for pool in_use to reach 0. Returns the last value. */
int64_t h2h_wait_idle(struct h2h *h, int ms);

/* Prints the connection's and streams' state to stderr (diagnostics). */
void h2h_dump(struct h2h *h);

/* ---- HTTP/1.1 message generator (fake streams of both harnesses) ---- */

/* A head, then a pattern body of body_len bytes, raw or chunk-framed
 * (chunks of varying sizes, some with extensions, a trailer). */
struct h2h_gen {
	char     pend[1200];
	size_t   pend_len, pend_off;
	uint64_t body_len, body_gen, chunk_left;
	unsigned k;
	int      chunked, final_done;
};

/* Starts a message with head <head> (copied). */
void h2h_gen_init(struct h2h_gen *g, const char *head, uint64_t body_len, int chunked);
/* Appends the next bytes of the message to <b> until it is full. */
void h2h_gen_fill(struct h2h_gen *g, struct buf *b);
/* Returns non-zero once every byte of the message was generated. */
int h2h_gen_done(const struct h2h_gen *g);

/* Decodes the chunked body at <p>[0..len) (which must end with the last
 * chunk and an empty trailer section) into <out> (len bytes of room).
 * Returns the decoded length, or -1 when the framing is bad. */
long h2h_dechunk(const char *p, size_t len, uint8_t *out);

/* ---- client ---- */

struct cli_stream {
	int32_t  id;
	int      status;
	int      interim;          /* 1xx heads seen */
	uint64_t bytes;
	uint32_t fnv;
	int      closed;
	uint32_t err;              /* RST / close error code */
	char     hdrs[1024];       /* "name: value\n" of the final head */
	size_t   hdrs_len;
	uint64_t body_len, body_sent; /* request body */
};

struct cli {
	nghttp2_session *sess;
	int      fd;
	int      eof;              /* the server closed */
	int      goaway;
	uint32_t goaway_code;
	int      failed;           /* nghttp2 error on our side */
	struct h2h_out out;        /* bytes not written yet */
	struct cli_stream st[256];
	unsigned nb;
};

/* Creates a client on <fd>: preface and SETTINGS queued. 0 or -1. */
int cli_init(struct cli *c, int fd);
void cli_free(struct cli *c);
/* Submits a request; <body_len> > 0 sends a pattern body (with a
 * content-length header when <with_cl>). Returns the stream index or -1. */
int cli_request(struct cli *c, const char *method, const char *path, uint64_t body_len, int with_cl);
/* Pumps I/O until every submitted stream is closed, the server closed, or
 * <ms> passed. Returns 0 when all streams are closed. */
int cli_run(struct cli *c, int ms);
/* Pumps I/O for <ms> (or until EOF). */
void cli_pump(struct cli *c, int ms);

/* ---- raw bytes ---- */

/* Writes <n> bytes (non-blocking, retrying up to <ms>). Returns bytes written. */
size_t raw_write(int fd, const void *p, size_t n, int ms);
/* Appends a frame header to <p>. Returns 9. */
size_t raw_frame_hd(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid);
/* Reads until EOF or <ms>; returns the GOAWAY error code seen (or -1 if
 * none) and sets *eof when the server closed. */
long raw_read_goaway(int fd, int ms, int *eof);

#endif

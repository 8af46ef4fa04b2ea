/* h2c_harness.h - test bench for the client role of the HTTP/2 mux: a real
 * scheduler and pool, a client-role h2c on a socket, fake engine streams on
 * the scheduler thread that write HTTP/1.1 requests into their endpoints
 * and read the HTTP/1.1 responses back, and a dispatcher that opens them
 * only while h2c_open_room() allows. The peer is either our own server-role
 * h2c (h2_harness.h, on its own scheduler) or srv, a raw nghttp2 server
 * driven by the test thread (below). Used by test_h2_client.c.
 */
#ifndef SLUICE_TESTS_H2C_HARNESS_H
#define SLUICE_TESTS_H2C_HARNESS_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>
#include "mux/h2.h"
#include "tests/mux/h2_harness.h"

struct h2ch_req;
struct h2ch_opts {
	uint64_t pool_limit, pool_reserve;
	struct h2_settings set;      /* zero fields = mux defaults */
	const struct h2ch_req *first; /* if set: request 0, opened right after h2c_new_client */
};

/* One request for a fake client stream. */
enum { H2CH_NOBODY, H2CH_CL, H2CH_CHUNKED };
struct h2ch_req {
	const char *method, *path;   /* request line (path as sent: origin or absolute form) */
	const char *extra;           /* more header lines ("Name: v\r\n"...), or NULL */
	uint64_t body_len;           /* pattern body */
	int body;                    /* H2CH_* framing of the body */
	const char *tail;            /* bytes placed after the request, never to be taken */
	int no_host;                 /* leave the Host header out */
	int abandon;                 /* release the endpoint once response bytes came */
};

/* What a fake client stream saw, filled once it ended. */
enum { H2CH_PENDING, H2CH_DONE, H2CH_ERROR, H2CH_OPEN_FAILED, H2CH_ABANDONED };
struct h2ch_res {
	int      state;              /* H2CH_* */
	int      status;             /* final status */
	int      interim;            /* 1xx heads before it */
	int      chunked, has_cl, bad_framing;
	uint64_t body_len;           /* decoded body */
	uint32_t fnv;                /* FNV-1a of the decoded body */
	char     head[2048];         /* the final head as given, NUL-terminated */
	size_t   tail_left;          /* bytes left in the buffer after the request */
	int      req_done;           /* every request byte was taken */
	int      was_connecting;     /* the endpoint had EP_CONNECTING when opened */
};

struct h2ch;

/* Starts scheduler, pool and the client h2c on <fd> (taken over). NULL on
 * failure. */
struct h2ch *h2ch_start(const struct h2ch_opts *o, int fd);
/* Queues a request; the dispatcher opens its stream when room allows.
 * Returns its index, or -1. */
int h2ch_submit(struct h2ch *h, const struct h2ch_req *r);
/* Opens a stream right now, bypassing the room check, and gives it request
 * <r>. Returns its index, or -1 with *err = errno of h2c_open_stream. */
int h2ch_open_now(struct h2ch *h, const struct h2ch_req *r, int *err);
/* Number of requests that ended (done, error, or could not open). */
unsigned h2ch_ended(struct h2ch *h);
/* Copies the result of request <i>. */
void h2ch_result(struct h2ch *h, int i, struct h2ch_res *out);
/* Highest number of streams held at once (h2c_nb_streams). */
unsigned h2ch_max_held(struct h2ch *h);
/* h2c_open_room() now (0 once closed). */
unsigned h2ch_room(struct h2ch *h);
/* Connection closed (closed callback ran). */
int h2ch_closed(struct h2ch *h);
/* Live or final counters. */
void h2ch_stats(struct h2ch *h, struct h2c_stats *out);
/* Accounted bytes the connection held when its closed callback ran, or -1
 * if it did not run yet. */
long h2ch_mem_at_close(struct h2ch *h);
/* Calls h2c_shutdown() on the scheduler thread. */
void h2ch_shutdown(struct h2ch *h);
/* Waits up to <ms> for <n> requests to end (no pumping). Returns h2ch_ended. */
unsigned h2ch_wait(struct h2ch *h, unsigned n, int ms);
/* Waits up to <ms> for pool in_use to reach 0. Returns the last value. */
int64_t h2ch_wait_idle(struct h2ch *h, int ms);
/* Aborts the connection if open, stops everything, frees. Returns the
 * pool's in_use at the end (0 expected). */
long h2ch_stop(struct h2ch *h);

/* Prints the client connection's and streams' state to stderr. */
void h2ch_dump(struct h2ch *h);

/* ---- srv: a raw nghttp2 server driven by the test thread ----
 * Answers once the request ended, by path:
 *   /cl/N    200, content-length N, pattern body
 *   /nocl/N  200 without content-length, pattern body
 *   /100/N   100 Continue first, then as /cl/N
 *   /204     204 without body
 *   /rst     RST_STREAM(INTERNAL_ERROR)
 *   /hold    nothing until srv_release_held()
 *   /echo    200, content-length 0, x-len and x-fnv of the request body
 *   /bighdr  200 with a 8000-byte x-big header
 * a HEAD request gets 200 with content-length 1234 and no DATA. */
struct srv_stream {
	int32_t  id;
	char     method[16], path[256], authority[256];
	char     hdrs[1024];          /* regular fields as "name: value\n" */
	uint64_t body_len;
	uint32_t fnv;
	int      ended, answered, closed;
	uint32_t close_code;
	uint64_t resp_len, resp_sent;
};

struct srv {
	nghttp2_session *sess;
	int      fd, eof, failed;
	struct h2h_out out;           /* bytes not written yet */
	struct srv_stream st[512];
	unsigned nb, open, peak_open;
	int      hold_all;            /* answer nothing until srv_release_held() */
};

/* Creates a server on <fd> announcing <max_streams> concurrent streams.
 * Returns 0 or -1. */
int  srv_init(struct srv *s, int fd, uint32_t max_streams);
void srv_free(struct srv *s);
/* Pumps I/O for up to <ms>, returning early once <stop>(s, arg) is true
 * (stop may be NULL). */
void srv_pump(struct srv *s, int ms, int (*stop)(struct srv *s, void *arg), void *arg);
/* Answers the held streams whose id is at most <max_id>. */
void srv_release_held(struct srv *s, int32_t max_id);
/* Returns the stream record with path <path>, or NULL. */
struct srv_stream *srv_find(struct srv *s, const char *path);

#endif

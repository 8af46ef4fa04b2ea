/* h2front.c - HTTP/2 client connections (see h2front.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/client/h2front.h"
#include "engine/core/h2cfg.h"
#include "engine/client/stream.h"
#include "engine/core/conn.h"
#include "engine/core/tls.h"
#include "mux/h2.h"

struct h2front {
	struct thr_ctx *tc;
	struct frontend *fe;
	struct h2c *h2c;          /* NULL once closed */
	struct task *idle;        /* closes a connection silent for `timeout client`,
	                           * and gives back its output buffer when quiet */
	uint64_t idle_at;         /* when the client timeout check runs next */
	/* flags as bytes: with ints the struct took jemalloc's 160-byte
	 * class, with bytes the 128-byte one, on every HTTP/2 connection */
	uint8_t trim_due;         /* frames were sent since the last trim */
	uint8_t creating;         /* inside h2c_new() or h2c_shutdown(): freeing is deferred */
	uint8_t closed_early;     /* the mux closed it during h2c_new() */
	uint8_t shut_asked;       /* the idle timer already sent a GOAWAY */
	uint64_t last_frames_in;
	uint64_t last_stream_frames; /* stream_frames_in at the last idle check */
	struct eng_list link;     /* in tc->h2fronts */
	char peer[48];
};

/* How long a connection stays quiet before nghttp2's output buffer pages
 * go back to the system: long enough that a client sending requests one
 * after the other never pays the madvise and the page faults per request,
 * short enough that idle connections hold no such page soon. */
#define H2FRONT_TRIM_MS 1000

/* Makes the idle task also try a trim soon (once per busy period: a
 * connection that stays busy re-arms nothing). */
static void h2front_trim_arm(struct h2front *f)
{
	uint64_t at = tc_now(f->tc) + H2FRONT_TRIM_MS;

	if (f->trim_due)
		return;
	f->trim_due = 1;
	if (!f->idle_at)
		return; /* still starting: h2front_start() schedules the task */
	task_schedule(f->idle, at < f->idle_at ? at : f->idle_at);
}

/* new_stream callback: every HTTP/2 request becomes an engine stream. */
static int h2front_new_stream(void *ctx, struct mux_ep *ep)
{
	struct h2front *f = ctx;

	struct engine *e = f->tc->eng;
	uint32_t cap = e->cfg->g.max_streams;

	/* over maxstreams the stream is refused (REFUSED_STREAM), which
	 * tells the client that nothing was processed and a retry is safe */
	if (cap && __atomic_add_fetch(&e->h2_streams_cur, 1, __ATOMIC_RELAXED) > cap) {
		__atomic_sub_fetch(&e->h2_streams_cur, 1, __ATOMIC_RELAXED);
		CNT_INC(f->tc, h2_streams_refused);
		return -1;
	}
	/* counted live, so that a stall under load shows at once */
	CNT_INC(f->tc, h2_streams);
	h2front_trim_arm(f);
	if (stream_new_on_ep(f->tc, f->fe, ep, f->peer) < 0) {
		if (cap)
			__atomic_sub_fetch(&e->h2_streams_cur, 1, __ATOMIC_RELAXED);
		return -1;
	}
	return 0;
}

/* Adds the final counters of a connection to its thread's. */
static void h2front_count(struct h2front *f)
{
	struct h2c_stats st;

	h2c_get_stats(f->h2c, &st);
	eng_h2_count_closed(f->tc, &st);
}

/* Forgets a closed connection: counts it and frees its state. */
static void h2front_free(struct h2front *f)
{
	struct thr_ctx *tc = f->tc;

	eng_list_del(&f->link);
	task_kill(f->idle, 1);
	eng_conn_closed(tc, f->fe);
	CNT_INC(tc, h2_conn_closed);
	free(f);
}

/* closed callback: the connection is gone; forget it. */
static void h2front_closed(void *ctx)
{
	struct h2front *f = ctx;

	if (f->h2c)
		h2front_count(f);
	f->h2c = NULL;
	if (f->creating) {
		f->closed_early = 1;
		return;
	}
	h2front_free(f);
}

/* Returns non-zero when <f> did something during the last idle period:
 * received HEADERS or DATA, or, while a stream is open, any frame (the
 * WINDOW_UPDATEs of a long download). Without a stream, PING, SETTINGS and
 * WINDOW_UPDATE do not count, or a client pinging every few seconds would
 * hold an empty connection forever. */
static int h2front_active(const struct h2front *f, const struct h2c_stats *st)
{
	return st->stream_frames_in != f->last_stream_frames ||
	       (h2c_nb_streams(f->h2c) && st->frames_in != f->last_frames_in);
}

/* Gives back the output buffer of <f> if it is quiet, and schedules the
 * idle task: at the next client timeout check, or sooner while a trim is
 * still due (the connection was busy). */
static void h2front_trim(struct h2front *f)
{
	uint64_t now = tc_now(f->tc), next = f->idle_at;
	size_t released;

	if (f->trim_due && h2c_trim(f->h2c, &released) == 0) {
		f->trim_due = 0;
		CNT_ADD(f->tc, h2_trimmed_bytes, released);
	}
	if (f->trim_due && now + H2FRONT_TRIM_MS < next)
		next = now + H2FRONT_TRIM_MS;
	task_schedule(f->idle, next);
}

/* The idle period of <f>: `timeout client`, or at most ENG_RETIRE_IDLE_MS
 * once a reload retired its generation (see h2front_retire_all). */
static uint64_t h2front_period(const struct h2front *f, int *retiring)
{
	uint64_t ms = f->fe->cfg->t.client_ms;

	*retiring = eng_stopping(f->tc->eng) && !eng_closes_idle(f->tc->eng);
	return *retiring && ms > ENG_RETIRE_IDLE_MS ? ENG_RETIRE_IDLE_MS : ms;
}

/* Idle timer: a connection without stream activity for a whole client
 * timeout is asked to go away (open streams may still finish). The same
 * task trims the quiet connection's output buffer (h2front_trim). */
static void h2front_idle_cb(struct tasklet *t, unsigned reasons)
{
	struct h2front *f = t->ctx;
	struct h2c_stats st;
	int retiring;
	uint64_t period;

	if (!f->h2c)
		return;
	if (tc_now(f->tc) < f->idle_at) {
		h2front_trim(f);
		return;
	}
	period = h2front_period(f, &retiring);
	h2c_get_stats(f->h2c, &st);
	if (!h2front_active(f, &st)) {
		/* silent for a whole period: ask it to go away; silent for one
		 * more (a stream that never completes keeps it open): close */
		if (!retiring)
			CNT_INC(f->tc, timeouts_client);
		if (f->shut_asked) {
			h2c_abort(f->h2c, 0); /* runs closed(), which frees <f> */
			return;
		}
		f->shut_asked = 1;
		f->creating = 1; /* a connection without streams closes at once */
		h2c_shutdown(f->h2c);
		f->creating = 0;
		if (f->closed_early) {
			h2front_free(f);
			return;
		}
	}
	f->last_frames_in = st.frames_in;
	f->last_stream_frames = st.stream_frames_in;
	f->idle_at = tc_now(f->tc) + period;
	h2front_trim(f);
}

/* The mux's transport over a TLS session (see h2_transport in mux/h2.h). */
static ssize_t h2front_tls_recv(void *ctx, void *buf, size_t len)
{
	return tls_recv(ctx, buf, len);
}

static int h2front_tls_drained(void *ctx)
{
	return tls_recv_drained(ctx);
}

static ssize_t h2front_tls_sendv(void *ctx, const struct iovec *iov, int cnt)
{
	return tls_sendv(ctx, iov, cnt, 0);
}

static void h2front_tls_close(void *ctx)
{
	tls_shutdown(ctx);
	tls_free(ctx);
}

/* Starts an HTTP/2 connection on <fd>, over the TLS session <ssl> when not
 * NULL (then owned: freed on failure). Returns as h2front_accept. */
static int h2front_start(struct thr_ctx *tc, struct frontend *fe, int fd, const char *peer,
			 const char *pre, size_t pre_len, struct ssl_st *ssl)
{
	const struct cfg_global *g = &tc->eng->cfg->g;
	struct h2_settings set;
	static const struct h2_callbacks cbs = {
		.new_stream = h2front_new_stream,
		.closed = h2front_closed,
	};
	struct h2front *f = calloc(1, sizeof(*f));
	struct h2c *c;

	if (f)
		f->idle = malloc(sizeof(*f->idle));
	if (!f || !f->idle) {
		free(f);
		tls_free(ssl);
		close(fd);
		return -1;
	}
	eng_h2_settings(g, &set);
	set.heap_gauge = &tc->cnt.h2_heap_bytes;
	if (ssl)
		set.xprt = (struct h2_transport){ .ctx = ssl, .recv = h2front_tls_recv,
						  .drained = h2front_tls_drained,
						  .sendv = h2front_tls_sendv,
						  .close = h2front_tls_close };
	f->tc = tc;
	f->fe = fe;
	snprintf(f->peer, sizeof(f->peer), "%s", peer ? peer : "");
	task_init(f->idle, tc->thr, h2front_idle_cb, f);
	eng_list_append(&tc->h2fronts, &f->link);
	CNT_INC(tc, h2_conn_accepted);
	f->creating = 1;
	c = h2c_new(tc->thr, tc->pool_tid, tc->eng->pool, fd, pre, pre_len, &set, &cbs, f);
	f->creating = 0;
	if (!c) {
		tls_free(ssl);  /* the mux did not take it */
		close(fd);
		h2front_free(f);
		return 0; /* counted and closed like any connection */
	}
	if (f->closed_early) {
		h2front_free(f);
		return 0;
	}
	f->h2c = c;
	f->idle_at = tc_now(tc) + fe->cfg->t.client_ms;
	task_schedule(f->idle, f->idle_at);
	/* our SETTINGS and the first answers went through the buffer */
	h2front_trim_arm(f);
	return 0;
}

int h2front_accept(struct thr_ctx *tc, struct frontend *fe, int fd, const char *peer,
		   const char *pre, size_t pre_len)
{
	/* an HTTP/1 connection over TLS that saw the preface left its session */
	return h2front_start(tc, fe, fd, peer, pre, pre_len, conn_tls_take_released(fd));
}

int h2front_accept_peer(struct thr_ctx *tc, struct frontend *fe, int fd,
			const struct sockaddr_storage *peer)
{
	char addr[48];

	eng_addr_text(peer, addr, sizeof(addr));
	return h2front_accept(tc, fe, fd, addr, NULL, 0);
}

int h2front_accept_tls(struct thr_ctx *tc, struct frontend *fe, int fd,
		       const struct sockaddr_storage *peer, struct ssl_st *ssl)
{
	char addr[48];

	eng_addr_text(peer, addr, sizeof(addr));
	return h2front_start(tc, fe, fd, addr, NULL, 0, ssl);
}

void h2front_retire_all(struct thr_ctx *tc)
{
	for (struct eng_list *l = tc->h2fronts.next; l != &tc->h2fronts; l = l->next) {
		struct h2front *f = (struct h2front *)((char *)l - offsetof(struct h2front, link));

		if (f->h2c) {
			f->idle_at = tc_now(tc) + ENG_RETIRE_IDLE_MS;
			task_schedule(f->idle, f->idle_at);
		}
	}
}

void h2front_stop_all(struct thr_ctx *tc, int now)
{
	struct eng_list *l, *next;

	for (l = tc->h2fronts.next; l != &tc->h2fronts; l = next) {
		struct h2front *f = (struct h2front *)((char *)l - offsetof(struct h2front, link));

		next = l->next;
		if (!f->h2c)
			continue;
		if (now)
			h2c_abort(f->h2c, 0);
		else
			h2c_shutdown(f->h2c);
	}
}

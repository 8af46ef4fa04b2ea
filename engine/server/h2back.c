/* h2back.c - HTTP/2 server connections (see h2back.h). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "engine/server/backend.h"
#include "engine/core/conn.h"
#include "engine/server/h2back.h"
#include "engine/core/h2cfg.h"
#include "engine/core/tls.h"
#include "mux/h2.h"

struct h2back {
	struct thr_ctx *tc;
	struct server *srv;
	struct h2c *h2c;          /* NULL once closed */
	struct task *idle;        /* shuts a connection unused for `timeout server`,
	                           * and gives back pages while it is quiet */
	uint64_t idle_at;         /* when the unused-connection check runs next */
	int trim_due;             /* streams were opened since the last trim */
	int creating;             /* inside an h2c call that may close it: freeing is deferred */
	int closed_early;         /* the mux closed it during such a call */
	uint64_t last_opened;     /* streams opened when the idle timer last looked */
	struct eng_list link;     /* in tc->h2backs */
};

static inline struct h2back *h2back_of(struct eng_list *l)
{
	return (struct h2back *)((char *)l - offsetof(struct h2back, link));
}

/* Forgets a closed connection. */
static void h2back_free(struct h2back *b)
{
	CNT_INC(b->tc, h2_srv_conn_closed);
	eng_list_del(&b->link);
	task_kill(b->idle, 1);
	free(b);
}

/* closed callback: the connection is gone (the server closed it, it
 * failed, or it was shut); streams still holding endpoints saw EP_ERROR or
 * their end, and release them on their own. */
static void h2back_closed(void *ctx)
{
	struct h2back *b = ctx;
	struct h2c_stats st;

	h2c_get_stats(b->h2c, &st);
	eng_h2_count_closed(b->tc, &st);
	b->h2c = NULL;
	if (b->creating) {
		b->closed_early = 1;
		return;
	}
	h2back_free(b);
}

/* Runs the h2c call <call> on <b>, which may close it from inside.
 * Returns 0, or -1 when <b> was freed. */
static int h2back_guarded(struct h2back *b, void (*call)(struct h2c *))
{
	b->creating = 1;
	call(b->h2c);
	b->creating = 0;
	if (b->closed_early) {
		h2back_free(b);
		return -1;
	}
	return 0;
}

/* How long a server connection stays quiet before its pages go back (see
 * H2FRONT_TRIM_MS on the client side: the same trade-off). */
#define H2BACK_TRIM_MS 1000

/* Makes the idle task also try a trim soon, once per busy period. */
static void h2back_trim_arm(struct h2back *b)
{
	uint64_t at = tc_now(b->tc) + H2BACK_TRIM_MS;

	if (b->trim_due)
		return;
	b->trim_due = 1;
	if (!b->idle_at)
		return; /* still connecting: h2back_connect() schedules the task */
	task_schedule(b->idle, at < b->idle_at ? at : b->idle_at);
}

/* Gives back the pages of <b> that h2c_trim() may (nghttp2's output
 * buffer, its empty stream map) if it is quiet, and schedules the idle
 * task: at the next unused-connection check, or sooner while a trim is
 * still due (the connection was busy). */
static void h2back_trim(struct h2back *b)
{
	uint64_t now = tc_now(b->tc), next = b->idle_at;
	size_t released;

	if (b->trim_due && h2c_trim(b->h2c, &released) == 0) {
		b->trim_due = 0;
		CNT_ADD(b->tc, h2_trimmed_bytes, released);
	}
	if (b->trim_due && now + H2BACK_TRIM_MS < next)
		next = now + H2BACK_TRIM_MS;
	task_schedule(b->idle, next);
}

/* Idle timer: a connection that carries no stream and opened none for a
 * whole `timeout server` is asked to go away. Busy ones are left alone:
 * their streams have timers of their own. Between checks, the same task
 * trims the quiet connection (h2back_trim). */
static void h2back_idle_cb(struct tasklet *t, unsigned reasons)
{
	struct h2back *b = t->ctx;
	struct h2c_stats st;

	(void)reasons;
	if (!b->h2c)
		return;
	if (tc_now(b->tc) < b->idle_at) {
		h2back_trim(b);
		return;
	}
	h2c_get_stats(b->h2c, &st);
	if (h2c_nb_streams(b->h2c) == 0 && st.streams_opened == b->last_opened) {
		(void)h2back_guarded(b, h2c_shutdown);
		return;
	}
	b->last_opened = st.streams_opened;
	b->idle_at = tc_now(b->tc) + b->srv->be->cfg->t.server_ms;
	h2back_trim(b);
}

/* TLS under an HTTP/2 server connection (`server ... proto h2 ssl`): the
 * session and the thread whose counters its handshake feeds. */
struct h2back_tls {
	struct ssl_st *ssl;
	struct thr_ctx *tc;
};

/* The mux's handshake hook: a server that did not choose h2 by ALPN
 * cannot be spoken to in HTTP/2, which fails the connection like a bad
 * certificate would. */
static int h2back_tls_handshake(void *ctx)
{
	struct h2back_tls *t = ctx;
	enum tls_fail why = TLS_FAIL_PROTOCOL;
	int want_write = 0;
	int rc = tls_handshake(t->ssl, &want_write, &why);

	if (rc > 0 && !tls_alpn_h2(t->ssl)) {
		CNT_INC(t->tc, tls_srv_fail_other);
		return -1;
	}
	if (rc > 0)
		CNT_INC(t->tc, tls_srv_handshakes);
	if (rc > 0 && tls_resumed(t->ssl))
		CNT_INC(t->tc, tls_srv_resumed);
	else if (rc < 0 && why == TLS_FAIL_VERIFY)
		CNT_INC(t->tc, tls_srv_fail_verify);
	else if (rc < 0)
		CNT_INC(t->tc, tls_srv_fail_other);
	return rc;
}

static ssize_t h2back_tls_recv(void *ctx, void *buf, size_t len)
{
	return tls_recv(((struct h2back_tls *)ctx)->ssl, buf, len);
}

static int h2back_tls_drained(void *ctx)
{
	return tls_recv_drained(((struct h2back_tls *)ctx)->ssl);
}

static ssize_t h2back_tls_sendv(void *ctx, const struct iovec *iov, int cnt)
{
	return tls_sendv(((struct h2back_tls *)ctx)->ssl, iov, cnt, 0);
}

/* Frees the TLS state of a connection (the mux's close hook). */
static void h2back_tls_close(void *ctx)
{
	struct h2back_tls *t = ctx;

	tls_shutdown(t->ssl);
	tls_free(t->ssl);
	free(t);
}

/* Connects a new HTTP/2 connection to <srv>. Returns it, or NULL with
 * errno set. */
static struct h2back *h2back_connect(struct thr_ctx *tc, struct server *srv)
{
	static const struct h2_callbacks cbs = { .closed = h2back_closed };
	const struct cfg_server *cs = srv->cfg;
	struct h2_settings set;
	struct h2back *b = calloc(1, sizeof(*b));
	int inprogress, fd;

	if (b)
		b->idle = malloc(sizeof(*b->idle));
	if (!b || !b->idle) {
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	fd = conn_sock_connect((const struct sockaddr *)&cs->addr, cs->addrlen, &inprogress);
	if (fd < 0)
		goto fail;
	eng_h2_settings(&tc->eng->cfg->g, &set);
	set.heap_gauge = &tc->cnt.h2_heap_bytes;
	if (cs->tls) {
		struct h2back_tls *t = malloc(sizeof(*t));

		if (t)
			t->ssl = tls_connect_new(cs->tls, fd, tc->tid);
		if (!t || !t->ssl) {
			free(t);
			close(fd);
			errno = ENOMEM;
			goto fail;
		}
		t->tc = tc;
		set.xprt = (struct h2_transport){ .ctx = t, .handshake = h2back_tls_handshake,
						  .recv = h2back_tls_recv, .drained = h2back_tls_drained,
						  .sendv = h2back_tls_sendv,
						  .close = h2back_tls_close };
	}
	b->tc = tc;
	b->srv = srv;
	task_init(b->idle, tc->thr, h2back_idle_cb, b);
	eng_list_init(&b->link);
	b->creating = 1;
	b->h2c = h2c_new_client(tc->thr, tc->pool_tid, tc->eng->pool, fd, &set, &cbs, b);
	b->creating = 0;
	if (!b->h2c && !b->closed_early) {
		int err = errno;

		if (set.xprt.close)
			set.xprt.close(set.xprt.ctx);  /* the mux did not take it */
		close(fd);
		errno = err;
		goto fail;
	}
	eng_list_append(&tc->h2backs, &b->link);
	CNT_INC(tc, h2_srv_conn_opened);
	if (b->closed_early) {
		/* the mux gave up on it at once and owns the socket */
		h2back_free(b);
		errno = ECONNREFUSED;
		return NULL;
	}
	b->idle_at = tc_now(tc) + srv->be->cfg->t.server_ms;
	task_schedule(b->idle, b->idle_at);
	return b;
fail:
	free(b->idle);
	free(b);
	return NULL;
}

struct mux_ep *h2back_open(struct thr_ctx *tc, struct server *srv, int *reused)
{
	struct h2back *b = NULL;
	struct mux_ep *ep;

	*reused = 0;
	for (struct eng_list *l = tc->h2backs.next; l != &tc->h2backs; l = l->next) {
		struct h2back *x = h2back_of(l);

		if (x->srv == srv && x->h2c && h2c_open_room(x->h2c) > 0) {
			b = x;
			*reused = 1;
			break;
		}
	}
	if (!b)
		b = h2back_connect(tc, srv);
	if (!b)
		return NULL;
	ep = h2c_open_stream(b->h2c);
	if (ep) {
		CNT_INC(tc, h2_srv_streams);
		h2back_trim_arm(b);
	}
	if (!ep && !*reused && h2c_nb_streams(b->h2c) == 0) {
		/* a fresh connection that cannot even open one stream */
		int err = errno;

		(void)h2back_guarded(b, h2c_shutdown);
		errno = err;
	}
	return ep;
}

/* Hard close of one connection, in the shape h2back_guarded() calls. */
static void h2back_abort(struct h2c *c)
{
	h2c_abort(c, 0);
}

void h2back_stop_all(struct thr_ctx *tc, int now)
{
	struct eng_list *l, *next;

	for (l = tc->h2backs.next; l != &tc->h2backs; l = next) {
		struct h2back *b = h2back_of(l);

		next = l->next;
		if (b->h2c)
			(void)h2back_guarded(b, now ? h2back_abort : h2c_shutdown);
	}
}

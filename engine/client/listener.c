/* listener.c - accepting connections under maxconn (see listener.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "engine/client/h2front.h"
#include "engine/client/listener.h"
#include "engine/client/stream.h"
#include "engine/core/conn.h"
#include "engine/core/tls.h"

/* Connections accepted per listener wake-up before letting others run. */
#define ACCEPT_BURST 64

/* A connection of an `ssl` bind during its TLS handshake. */
struct tls_hs {
	struct tasklet tl;        /* first: tasklet_kill(&tl, 1) frees the whole */
	struct task *timer;       /* `timeout http-request` for the handshake */
	struct listener *l;
	struct ssl_st *ssl;
	int fd;
	int polls_out;            /* the poller reports output too (sched_fd_want_out) */
	struct eng_list link;     /* in l->handshakes */
	struct sockaddr_storage peer;
};

/* Forgets <hs>: unregisters its socket and frees its state; the socket
 * and the TLS session are the caller's from then on. */
static void tls_hs_detach(struct tls_hs *hs)
{
	(void)sched_fd_del(hs->l->tc->thr, hs->fd);
	eng_list_del(&hs->link);
	task_kill(hs->timer, 1);
	tasklet_kill(&hs->tl, 1);
}

/* Ends a handshake that will not complete: closes the connection, which
 * no longer counts toward maxconn. */
static void tls_hs_abort(struct tls_hs *hs)
{
	struct thr_ctx *tc = hs->l->tc;
	struct frontend *fe = hs->l->fe;
	struct ssl_st *ssl = hs->ssl;
	int fd = hs->fd;

	tls_hs_detach(hs);
	tls_free(ssl);
	close(fd);
	eng_conn_closed(tc, fe);
}

/* A completed handshake: hands the socket and its session to HTTP/2 when
 * ALPN chose h2, else to an HTTP/1 stream (which gets the session through
 * conn_tls_adopt_next: the stream knows nothing of TLS). */
static void tls_hs_done(struct tls_hs *hs)
{
	struct thr_ctx *tc = hs->l->tc;
	struct frontend *fe = hs->l->fe;
	struct ssl_st *ssl = hs->ssl;
	struct sockaddr_storage peer = hs->peer;
	int fd = hs->fd;
	int rc;

	if (tls_resumed(ssl))
		CNT_INC(tc, tls_resumed);
	else
		CNT_INC(tc, tls_full_handshakes);
	tls_hs_detach(hs);
	if (tls_alpn_h2(ssl)) {
		rc = h2front_accept_tls(tc, fe, fd, &peer, ssl);
	} else {
		conn_tls_adopt_next(ssl);
		rc = stream_accept(tc, fe, fd, &peer, h2front_accept);
		/* a stream that failed before its connection existed left it */
		tls_free(conn_tls_adopt_cancel());
	}
	if (rc < 0)
		eng_conn_closed(tc, fe);
}

/* The handshake's tasklet: socket readiness advances the handshake. The
 * edge-triggered poller reports again only once OpenSSL saw EAGAIN, which
 * is exactly when tls_handshake() says it waits. Any wake-up but a lone
 * write readiness may mean bytes to read (the first one, from
 * tls_hs_start, too); a lone write readiness (the socket's first, or its
 * buffer draining) lets the handshake write, not read. */
static void tls_hs_cb(struct tasklet *t, unsigned reasons)
{
	struct tls_hs *hs = t->ctx;
	enum tls_fail why = TLS_FAIL_PROTOCOL;
	int want_write = 0;
	int rc;

	if (reasons != SCHED_R_WRITE)
		tls_hs_readable(hs->ssl);
	rc = tls_handshake(hs->ssl, &want_write, &why);
	if (rc == 0) {
		/* registered for input only (see tls_hs_start); a flight
		 * bigger than the socket takes (rare) needs output too */
		if (!want_write || hs->polls_out)
			return;
		hs->polls_out = 1;
		if (sched_fd_want_out(&hs->tl, hs->fd) == 0)
			return;
		CNT_INC(hs->l->tc, tls_fail_resource);
		tls_hs_abort(hs);
		return;
	}
	if (rc > 0) {
		tls_hs_done(hs);
		return;
	}
	switch (why) {
	case TLS_FAIL_PLAIN_HTTP:
		CNT_INC(hs->l->tc, tls_fail_plain_http);
		break;
	case TLS_FAIL_CLOSED:
		CNT_INC(hs->l->tc, tls_fail_closed);
		break;
	default:
		CNT_INC(hs->l->tc, tls_fail_protocol);
		break;
	}
	tls_hs_abort(hs);
}

/* The handshake's timer: a client silent (or too slow) for the whole
 * `timeout http-request` is closed. */
static void tls_hs_timeout(struct tasklet *t, unsigned reasons)
{
	struct tls_hs *hs = t->ctx;

	(void)reasons;
	CNT_INC(hs->l->tc, tls_fail_timeout);
	tls_hs_abort(hs);
}

/* Starts the TLS handshake of the accepted socket <fd> on <l>. Returns 0,
 * or -1 with <fd> closed (the caller uncounts the connection). */
static int tls_hs_start(struct listener *l, int fd, const struct sockaddr_storage *peer)
{
	struct thr_ctx *tc = l->tc;
	struct tls_hs *hs = calloc(1, sizeof(*hs));

	if (hs) {
		hs->timer = malloc(sizeof(*hs->timer));
		hs->ssl = tls_accept_new(l->tls, fd);
	}
	if (!hs || !hs->timer || !hs->ssl) {
		if (hs) {
			free(hs->timer);
			tls_free(hs->ssl);
		}
		free(hs);
		CNT_INC(tc, tls_fail_resource);
		close(fd);
		return -1;
	}
	hs->l = l;
	hs->fd = fd;
	hs->peer = *peer;
	tasklet_init(&hs->tl, tc->thr, tls_hs_cb, hs);
	task_init(hs->timer, tc->thr, tls_hs_timeout, hs);
	/* input only: the socket's first write readiness would be a wake-up
	 * for nothing while the handshake waits for the client's answer */
	if (sched_fd_add_in(&hs->tl, fd) < 0) {
		task_kill(hs->timer, 1);
		tls_free(hs->ssl);
		free(hs);
		CNT_INC(tc, tls_fail_resource);
		close(fd);
		return -1;
	}
	eng_list_append(&l->handshakes, &hs->link);
	task_schedule(hs->timer, tc_now(tc) + l->fe->cfg->t.http_request_ms);
	/* the ClientHello is often there already */
	tasklet_wakeup(&hs->tl, SCHED_R_READ);
	return 0;
}

/* Closes the listening socket of <l> (stop accepting), and the connections
 * still in their handshake: they carry no request yet. */
void listener_close(struct listener *l)
{
	if (l->handshakes.next) {
		while (!eng_list_empty(&l->handshakes))
			tls_hs_abort(eng_list_entry(l->handshakes.next, struct tls_hs, link));
	}
	if (l->fd < 0)
		return;
	(void)sched_fd_del(l->tc->thr, l->fd);
	close(l->fd);
	l->fd = -1;
}

/* Returns non-zero when one more connection may be accepted on <fe>. */
static int eng_may_accept(struct engine *e, struct frontend *fe)
{
	return __atomic_load_n(&e->conn_cur, __ATOMIC_RELAXED) < e->cfg->g.maxconn &&
	       __atomic_load_n(&fe->conn_cur, __ATOMIC_RELAXED) < fe->maxconn;
}

/* Accepts up to <max> connections pending on <l>. Returns non-zero when
 * more may be pending. */
static int listener_accept_some(struct listener *l, int max)
{
	struct thr_ctx *tc = l->tc;
	struct engine *e = tc->eng;

	for (int i = 0; i < max && l->fd >= 0; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd;

		if (!eng_may_accept(e, l->fe)) {
			/* leave the rest in the backlog until a connection closes */
			if (!l->full) {
				l->full = 1;
				__atomic_fetch_add(&e->listeners_full, 1, __ATOMIC_RELAXED);
			}
			CNT_INC(tc, conn_refused_maxconn);
			return 0;
		}
		fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return 0; /* EAGAIN, or EMFILE and friends: the next event retries */
		}
		__atomic_fetch_add(&e->conn_cur, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&l->fe->conn_cur, 1, __ATOMIC_RELAXED);
		CNT_INC(tc, conn_accepted);
		if ((l->tls ? tls_hs_start(l, fd, &peer)
		     : l->proto_h2 ? h2front_accept_peer(tc, l->fe, fd, &peer)
				   : stream_accept(tc, l->fe, fd, &peer, h2front_accept)) < 0)
			eng_conn_closed(tc, l->fe);
	}
	return l->fd >= 0;
}

/* Accepts what is pending on <l>, up to a burst. */
static void listener_cb(struct tasklet *t, unsigned reasons)
{
	struct listener *l = t->ctx;

	(void)reasons;
	/* more may be pending: come back after the others had their turn */
	if (listener_accept_some(l, ACCEPT_BURST))
		tasklet_wakeup(&l->tl, SCHED_R_READ);
}

void listener_stop(struct listener *l, int keep_fd, int drain)
{
	if (l->fd < 0)
		return;
	(void)sched_fd_del(l->tc->thr, l->fd);
	if (!keep_fd) {
		/* bounded: a client connecting this fast is served by the
		 * other sockets of the address, if it has any left */
		if (drain)
			(void)listener_accept_some(l, 4096);
		close(l->fd);
	}
	l->fd = -1;
}

void listener_resume_all(struct thr_ctx *tc)
{
	for (unsigned i = 0; i < tc->nb_lis; i++) {
		struct listener *l = &tc->lis[i];

		if (l->full && eng_may_accept(tc->eng, l->fe)) {
			l->full = 0;
			__atomic_fetch_sub(&tc->eng->listeners_full, 1, __ATOMIC_RELAXED);
			tasklet_wakeup(&l->tl, SCHED_R_READ);
		}
	}
}

int listener_init(struct listener *l, struct thr_ctx *tc, struct frontend *fe, int fd,
		  const struct cfg_bind *b)
{
	l->fd = fd;
	l->proto_h2 = b->proto_h2;
	l->tls = b->tls;
	eng_list_init(&l->handshakes);
	l->fe = fe;
	l->tc = tc;
	tasklet_init(&l->tl, tc->thr, listener_cb, l);
	if (sched_fd_add(&l->tl, l->fd) < 0)
		return errno ? errno : EIO;
	return 0;
}

/* listener.c - accepting connections under maxconn (see listener.h). */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include "engine/client/h2front.h"
#include "engine/client/listener.h"
#include "engine/client/stream.h"

/* Connections accepted per listener wake-up before letting others run. */
#define ACCEPT_BURST 64

/* Closes the listening socket of <l> (stop accepting). */
void listener_close(struct listener *l)
{
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

/* Accepts what is pending on <l>, up to a burst. */
static void listener_cb(struct tasklet *t, unsigned reasons)
{
	struct listener *l = t->ctx;
	struct thr_ctx *tc = l->tc;
	struct engine *e = tc->eng;

	for (int i = 0; i < ACCEPT_BURST && l->fd >= 0; i++) {
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
			return;
		}
		fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or EMFILE and friends: the next event retries */
		}
		__atomic_fetch_add(&e->conn_cur, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&l->fe->conn_cur, 1, __ATOMIC_RELAXED);
		CNT_INC(tc, conn_accepted);
		if ((l->proto_h2 ? h2front_accept_peer(tc, l->fe, fd, &peer)
				 : stream_accept(tc, l->fe, fd, &peer, h2front_accept)) < 0)
			eng_conn_closed(tc, l->fe);
	}
	/* more may be pending: come back after the others had their turn */
	if (l->fd >= 0)
		tasklet_wakeup(&l->tl, SCHED_R_READ);
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

int listener_init(struct listener *l, struct thr_ctx *tc, struct frontend *fe, int fd, int proto_h2)
{
	l->fd = fd;
	l->proto_h2 = proto_h2;
	l->fe = fe;
	l->tc = tc;
	tasklet_init(&l->tl, tc->thr, listener_cb, l);
	if (sched_fd_add(&l->tl, l->fd) < 0)
		return errno ? errno : EIO;
	return 0;
}

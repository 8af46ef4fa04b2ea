/* srvconn.c - idle HTTP/1 server connections kept for reuse (see srvconn.h). */
#include "engine/server/srvconn.h"

/* Idle connections kept per server and thread; more are closed. */
#define SRVCONN_IDLE_MAX 256

/* Returns non-zero when <c> holds no byte past its last response and its
 * server did not close it. */
static int srvconn_clean(struct conn *c)
{
	if (c->ep.flags & (CF_RD_EOF | CF_ERROR | CF_RD_HUP))
		return 0;
	/* the flag may be stale (the last read filled the buffer exactly):
	 * only a peek tells */
	return !(c->ep.flags & CF_RD_READY) || conn_idle_alive(c);
}

/* Unlinks <c> from its idle list. */
static void srvconn_unlink(struct conn *c)
{
	eng_list_del(&c->idle_link);
	c->srv->idle[c->tc->tid].count--;
	c->ep.flags &= ~CF_IDLE;
}

/* Returns non-zero when the head <c> of <il> and the connection parked
 * before it both went idle since the poller last returned: one poll then
 * answers for both (and any fresher ones behind), where peeks cost one
 * system call per connection. A lone fresh one is cheaper to peek. */
static int srvconn_fresh_pair(struct srv_idle *il, struct conn *c)
{
	struct conn *next;

	if (c->idle_link.next == &il->list || !conn_idle_fresh(c))
		return 0;
	next = eng_list_entry(c->idle_link.next, struct conn, idle_link);
	return conn_idle_fresh(next);
}

struct conn *srvconn_take(struct thr_ctx *tc, struct server *srv)
{
	struct srv_idle *il = &srv->idle[tc->tid];

	while (!eng_list_empty(&il->list)) {
		struct conn *c = eng_list_entry(il->list.next, struct conn, idle_link);

		/* Bytes the poller has not reported yet would be read as this
		 * request's answer. If the poller has looked at the socket
		 * since the park and found nothing, only bytes that arrived
		 * during this loop turn can hide, sent more than a turn after
		 * the response ended. A connection parked in this very turn
		 * (a queued stream takes what its predecessor just released)
		 * is looked at: by a peek, or, when several such wait here
		 * (heavy load, where a turn parks dozens), by one poll of the
		 * whole thread that covers them all. A failed poll leaves the
		 * peek to look. No check closes the window: bytes may come
		 * right after it, and a check only shrinks it to the
		 * microseconds before the request leaves. A turn-sized window
		 * is what HAProxy and nginx keep. */
		if (srvconn_fresh_pair(il, c))
			(void)conn_poll_now(tc);
		srvconn_unlink(c);
		if (!(c->ep.flags & CF_RD_HUP) && (conn_idle_unchanged(c) || conn_idle_alive(c)))
			return c;
		CNT_INC(tc, srv_conn_unclean);
		conn_close(c);
	}
	return NULL;
}

void srvconn_park(struct thr_ctx *tc, struct conn *c)
{
	struct srv_idle *il = &c->srv->idle[tc->tid];

	if (!srvconn_clean(c)) {
		CNT_INC(tc, srv_conn_unclean);
		conn_close(c);
		return;
	}
	if (il->count >= SRVCONN_IDLE_MAX || eng_stopping(tc->eng)) {
		conn_close(c);
		return;
	}
	c->owner = NULL;
	c->ep.flags |= CF_IDLE;
	conn_idle_mark(c);
	eng_list_push(&il->list, &c->idle_link);
	il->count++;
}

void srvconn_idle_event(struct conn *c)
{
	if (conn_idle_alive(c))
		return;
	srvconn_unlink(c);
	conn_close(c);
}

void srvconn_close_all(struct thr_ctx *tc)
{
	struct engine *e = tc->eng;

	for (unsigned b = 0; b < e->nb_bes; b++) {
		struct backend *be = e->bes[b];

		unsigned nb = be_nb_srv(be);

		/* removed servers too: their idle connections stay on
		 * their threads until closed here or by the server */
		for (unsigned i = 0; i < nb; i++) {
			struct server *srv = __atomic_load_n(&be->srv[i], __ATOMIC_ACQUIRE);
			struct srv_idle *il = &srv->idle[tc->tid];

			while (!eng_list_empty(&il->list)) {
				struct conn *c = eng_list_entry(il->list.next, struct conn, idle_link);

				srvconn_unlink(c);
				conn_close(c);
			}
		}
	}
}

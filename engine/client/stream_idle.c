/* stream_idle.c - a keep-alive HTTP/1 client connection between requests.
 *
 * A stream costs about a kilobyte (two channels with their wait entries, a
 * queue entry, the log record, its I/O tasklet), which is the bulk of what
 * an idle keep-alive connection would otherwise keep. Once a transaction
 * ended cleanly and nothing of the next one has arrived, the stream is
 * freed and the connection is parked in a small holder that keeps only
 * what outlives a transaction: the client's address, the count of
 * transactions, the keep-alive timer and a place in the thread's list for
 * a stop. The next byte (or the client's close) makes a new stream on the
 * same connection, exactly as an accept would, and frees the holder.
 *
 * A TLS connection parks the same way: its SSL object stays with the
 * connection (keys, sequence numbers, the session: what a TLS connection
 * cannot give up while it lives) and OpenSSL holds no record buffer while
 * idle (SSL_MODE_RELEASE_BUFFERS). A connection's readiness flag is cleared
 * only when a read returned EAGAIN or tls_recv_drained() said the socket
 * is drained, which over TLS means OpenSSL holds no byte either (read-ahead
 * included); tls_idle_quiet() checks it again at parking time,
 * so that a change in the read loop cannot park a connection whose next
 * request already sits inside OpenSSL, where no socket event would ever
 * announce it.
 *
 * All of it runs on the connection's thread.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "engine/core/conn.h"
#include "engine/core/tls.h"
#include "engine/client/stream_int.h"

/* A stream that cannot be allocated again is retried this often, up to the
 * frontend's `timeout http-request` counted from the first failure: a
 * memory shortage delays the next request, it does not drop it. */
#define IDLE_RETRY_MS 10

struct cli_idle {
	/* The task comes first: the scheduler frees a killed task with
	 * free(), which therefore frees the whole holder. */
	struct task task;         /* the keep-alive timer, and retries */
	struct conn *c;
	struct frontend *fe;
	struct eng_list link;     /* in tc->idle_clis */
	uint64_t give_up_ms;      /* retrying a stream allocation: until when, else 0 */
	unsigned txn_count;
	unsigned cli_port;
	char cli_addr[INET6_ADDRSTRLEN];
};

/* Closes the parked connection of <h> quietly and frees <h>. */
static void idle_close(struct cli_idle *h)
{
	struct thr_ctx *tc = h->c->tc;

	conn_close(h->c);
	eng_conn_closed(tc, h->fe);
	CNT_ADD(tc, conn_idle_parked, (uint64_t)-1);
	eng_list_del(&h->link);
	task_kill(&h->task, 1);
}

/* Makes a new stream on the connection of <h>, which then runs its I/O as
 * an accepted connection's first event would, and frees <h>. Returns 0, or
 * -1 when the stream could not be allocated (<h> kept, nothing changed). */
static int idle_resume(struct cli_idle *h)
{
	struct thr_ctx *tc = h->c->tc;
	struct conn *c = h->c;

	if (stream_unpark(tc, h->fe, c, h->cli_addr, h->cli_port, h->txn_count) < 0)
		return -1;
	CNT_ADD(tc, conn_idle_parked, (uint64_t)-1);
	eng_list_del(&h->link);
	task_kill(&h->task, 1);
	return 0;
}

/* Retries a failed resume later, bounded by the request head's timeout. */
static void idle_retry(struct cli_idle *h)
{
	struct thr_ctx *tc = h->c->tc;

	if (!h->give_up_ms)
		h->give_up_ms = tc_now(tc) + h->fe->cfg->t.http_request_ms;
	if (tc_now(tc) >= h->give_up_ms) {
		idle_close(h);
		return;
	}
	task_schedule(&h->task, tc_now(tc) + IDLE_RETRY_MS);
}

/* Tasklet of a parked connection: the client sent something or closed. */
static void idle_conn_cb(struct tasklet *t, unsigned reasons)
{
	struct conn *c = t->ctx;
	struct cli_idle *h = c->owner;

	conn_update_ready(c, reasons);
	/* room to send says nothing of a next request; it comes, for one,
	 * right after a connection accepted unregistered is registered at
	 * its parking (see stream_cli_poll) */
	if (!(reasons & (SCHED_R_READ | SCHED_R_RDHUP | SCHED_R_HUP)))
		return;
	if (idle_resume(h) < 0)
		idle_retry(h);
}

/* Task of a parked connection: the keep-alive timeout, or a retry. */
static void idle_task_cb(struct tasklet *t, unsigned reasons)
{
	struct cli_idle *h = t->ctx;

	if (reasons & SCHED_R_STOP) {
		idle_close(h);
		return;
	}
	if (h->give_up_ms) {
		if (idle_resume(h) < 0)
			idle_retry(h);
		return;
	}
	if (reasons & SCHED_R_TIMER)
		idle_close(h); /* keep-alive timeout: close quietly */
}

/* Returns non-zero when stream <s> holds nothing but its client connection
 * and that connection is quiet: a kept-alive HTTP/1 connection between two
 * transactions, with no byte of the next request read or known ready (the
 * socket is edge-triggered: bytes already signalled would never be
 * signalled again to the holder). */
static int stream_idle_can_park(const struct stream *s)
{
	const struct conn *c = s->cli;

	return c && s->owns_conn && s->st == ST_REQ_HEAD && s->txn_count > 0 &&
	       !s->txn_active && !s->cli_close && !s->log_pending &&
	       b_is_null(&s->req.buf) && b_is_null(&s->res.buf) &&
	       pool_wait_state(&s->req.wait) == POOL_WAIT_IDLE &&
	       pool_wait_state(&s->res.wait) == POOL_WAIT_IDLE &&
	       !s->srv && !s->sep && !s->target && !s->sp && !s->reply_msg && !s->svc &&
	       !(c->ep.flags & (CF_RD_READY | CF_RD_EOF | CF_RD_HUP | CF_ERROR | CF_SHUT_WR)) &&
	       (!c->tls || tls_idle_quiet(c->tls)) &&
	       !eng_stopping(s->tc->eng);
}

int stream_idle_park(struct stream *s)
{
	struct thr_ctx *tc = s->tc;
	struct cli_idle *h;

	if (!stream_idle_can_park(s))
		return -1;
	h = malloc(sizeof(*h));
	if (!h)
		return -1; /* the stream simply stays */
	h->c = s->cli;
	h->fe = s->fe;
	h->give_up_ms = 0;
	h->txn_count = (unsigned)s->txn_count;
	h->cli_port = s->cli_port;
	memcpy(h->cli_addr, s->cli_addr, sizeof(h->cli_addr));
	task_init(&h->task, tc->thr, idle_task_cb, h);
	eng_list_append(&tc->idle_clis, &h->link);
	/* the keep-alive timer runs from the end of the last transaction,
	 * as it did in the stream */
	task_schedule(&h->task, s->cli_act_ms + fe_to(s)->http_keep_alive_ms);
	/* the connection's events now come here (one already queued included:
	 * it makes a new stream at once, which is what it needs) */
	h->c->owner = h;
	h->c->tl.fn = idle_conn_cb;
	/* the stream lets go of the connection without closing it */
	s->cli = NULL;
	s->cep = NULL;
	s->owns_conn = 0;
	CNT_INC(tc, streams_parked);
	CNT_INC(tc, conn_idle_parked);
	return 0;
}

void stream_idle_stop_all(struct thr_ctx *tc)
{
	struct eng_list *l, *next;

	for (l = tc->idle_clis.next; l != &tc->idle_clis; l = next) {
		struct cli_idle *h = (struct cli_idle *)((char *)l - offsetof(struct cli_idle, link));
		uint64_t at = tc_now(tc) + ENG_RETIRE_IDLE_MS;

		next = l->next;
		if (eng_closes_idle(tc->eng)) {
			idle_close(h);
		} else if (!h->give_up_ms && h->task.expire_ms > at) {
			/* a reload retired this generation: like an idle stream,
			 * the connection may still bring a request for a moment */
			task_schedule(&h->task, at);
		}
	}
}

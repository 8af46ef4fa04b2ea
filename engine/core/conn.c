/* conn.c - non-blocking sockets on the poller (see conn.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
#include "engine/core/conn.h"
#include "engine/core/ctx.h"
#include "engine/core/tls.h"

/* The TLS session the next conn_new() of this thread adopts (see
 * conn_tls_adopt_next), and the one the last conn_release_fd() let go of,
 * with its socket. Per thread: a connection lives on one thread. */
static __thread struct ssl_st *conn_tls_next;
static __thread struct ssl_st *conn_tls_released;
static __thread int conn_tls_released_fd = -1;

void conn_tls_adopt_next(struct ssl_st *tls)
{
	conn_tls_next = tls;
}

struct ssl_st *conn_tls_adopt_cancel(void)
{
	struct ssl_st *tls = conn_tls_next;

	conn_tls_next = NULL;
	return tls;
}

struct ssl_st *conn_tls_take_released(int fd)
{
	struct ssl_st *tls = NULL;

	if (conn_tls_released && conn_tls_released_fd == fd) {
		tls = conn_tls_released;
		conn_tls_released = NULL;
		conn_tls_released_fd = -1;
	}
	return tls;
}

/* Allocates and fills a connection on <fd>, unregistered. */
static struct conn *conn_alloc(struct thr_ctx *tc, int fd, tasklet_fn fn, void *owner)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	eng_list_init(&c->idle_link);
	c->ep.ops = &conn_h1_ops;
	c->owner = owner;
	c->tc = tc;
	/* TCP_NODELAY (small requests and responses leave at once) is set on
	 * the listening socket, which accepted ones inherit, and on outgoing
	 * sockets by conn_sock_connect */
	tasklet_init(&c->tl, tc->thr, fn, c);
	return c;
}

/* Gives <c> the TLS session conn_tls_adopt_next() left for it, if any.
 * Such a connection starts readable: its handshake may have read the first
 * request's records ahead, into OpenSSL, where the poller does not see
 * them. */
static void conn_adopt_tls(struct conn *c)
{
	c->tls = conn_tls_next;
	conn_tls_next = NULL;
	if (c->tls)
		c->ep.flags |= CF_RD_READY;
}

struct conn *conn_new(struct thr_ctx *tc, int fd, tasklet_fn fn, void *owner)
{
	struct conn *c = conn_alloc(tc, fd, fn, owner);

	if (!c)
		return NULL;
	/* adopted only once registered: a failure leaves it to the caller */
	if (sched_fd_add(&c->tl, fd) < 0) {
		free(c);
		return NULL;
	}
	conn_adopt_tls(c);
	return c;
}

struct conn *conn_new_unpolled(struct thr_ctx *tc, int fd, tasklet_fn fn, void *owner)
{
	struct conn *c = conn_alloc(tc, fd, fn, owner);

	if (!c)
		return NULL;
	c->unpolled = 1;
	c->ep.flags |= CF_RD_READY | CF_WR_READY;
	conn_adopt_tls(c);
	return c;
}

int conn_poll(struct conn *c)
{
	if (!c->unpolled)
		return 0;
	if (sched_fd_add(&c->tl, c->fd) < 0)
		return -1;
	c->unpolled = 0;
	CNT_INC(c->tc, conn_polled_late);
	return 0;
}

int conn_sock_connect(const struct sockaddr *addr, socklen_t len, int *inprogress)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	*inprogress = 0;
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, addr, len) < 0) {
		if (errno != EINPROGRESS) {
			int err = errno;

			close(fd);
			errno = err;
			return -1;
		}
		*inprogress = 1;
	}
	return fd;
}

struct conn *conn_connect(struct thr_ctx *tc, const struct sockaddr *addr, socklen_t len,
			  tasklet_fn fn, void *owner)
{
	int inprogress;
	int fd = conn_sock_connect(addr, len, &inprogress);
	struct conn *c;

	if (fd < 0)
		return NULL;
	c = conn_new(tc, fd, fn, owner);
	if (!c) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	if (inprogress)
		c->ep.flags |= CF_CONNECTING;
	else
		c->ep.flags |= CF_WR_READY;
	return c;
}

void conn_tls_client(struct conn *c, struct tls_srv *ts)
{
	c->tls_srv = ts;
	/* a connect that completed at once still owes its handshake, which
	 * conn_connect_check() runs while the connection is "connecting" */
	if (ts && !(c->ep.flags & CF_CONNECTING))
		c->ep.flags |= CF_CONNECTING | CF_WR_READY;
}

/* Advances the client handshake of <c> (connected, c->tls set). Returns as
 * conn_connect_check. OpenSSL waits only after a read or write met EAGAIN,
 * so the next poller event on the socket is the one to retry on. */
static enum conn_connect conn_tls_connect_step(struct conn *c)
{
	enum tls_fail why = TLS_FAIL_PROTOCOL;
	int want_write = 0;
	int rc = tls_handshake(c->tls, &want_write, &why);

	if (rc == 0)
		return CONN_CONNECTING;
	if (rc < 0) {
		c->ep.flags |= CF_ERROR;
		c->tls_verify_failed = why == TLS_FAIL_VERIFY;
		if (c->tls_verify_failed)
			CNT_INC(c->tc, tls_srv_fail_verify);
		else
			CNT_INC(c->tc, tls_srv_fail_other);
		errno = c->tls_verify_failed ? EPERM : EPROTO;
		return CONN_FAILED;
	}
	CNT_INC(c->tc, tls_srv_handshakes);
	if (tls_resumed(c->tls))
		CNT_INC(c->tc, tls_srv_resumed);
	c->ep.flags &= ~CF_CONNECTING;
	/* what the handshake left in the socket is for the stream to read */
	c->ep.flags |= CF_RD_READY | CF_WR_READY;
	return CONN_CONNECTED;
}

enum conn_connect conn_connect_check(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!(c->ep.flags & CF_CONNECTING))
		return CONN_CONNECTED;
	if (c->tls)
		return (c->ep.flags & CF_ERROR) ? CONN_FAILED : conn_tls_connect_step(c);
	if (!(c->ep.flags & (CF_WR_READY | CF_ERROR)))
		return CONN_CONNECTING;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return CONN_CONNECTING;
	if (err) {
		c->ep.flags |= CF_ERROR;
		errno = err;
		return CONN_FAILED;
	}
	if (c->tls_srv) {
		c->tls = tls_connect_new(c->tls_srv, c->fd, c->tc->tid);
		if (!c->tls) {
			c->ep.flags |= CF_ERROR;
			errno = ENOMEM;
			return CONN_FAILED;
		}
		return conn_tls_connect_step(c);
	}
	c->ep.flags &= ~CF_CONNECTING;
	return CONN_CONNECTED;
}

void conn_update_ready(struct conn *c, unsigned reasons)
{
	if (reasons & SCHED_R_READ)
		c->ep.flags |= CF_RD_READY;
	if (reasons & SCHED_R_WRITE)
		c->ep.flags |= CF_WR_READY;
	if (reasons & SCHED_R_HUP)
		c->ep.flags |= CF_RD_READY | CF_WR_READY | CF_RD_HUP;
	if (reasons & SCHED_R_RDHUP)
		c->ep.flags |= CF_RD_READY | CF_RD_HUP;
}

size_t conn_recv(struct conn *c, struct buf *b, size_t limit)
{
	size_t total = 0;

	while ((c->ep.flags & CF_RD_READY) && !(c->ep.flags & (CF_RD_EOF | CF_ERROR))) {
		size_t room = b_contig_space(b);
		ssize_t n;

		if (b_data(b) >= limit)
			break;
		if (room > limit - b_data(b))
			room = limit - b_data(b);
		if (!room)
			break;
		if (c->tls)
			n = tls_recv(c->tls, b_tail(b), room);
		else
			n = recv(c->fd, b_tail(b), room, 0);
		if (n > 0) {
			b_add(b, (size_t)n);
			total += (size_t)n;
			/* a short read means the socket is drained, which saves
			 * a syscall, unless the peer closed: then read on to EOF.
			 * Over TLS a read returns one record at most: OpenSSL
			 * tells whether it and the socket are drained. */
			if (!(c->ep.flags & CF_RD_HUP) &&
			    (c->tls ? tls_recv_drained(c->tls) : (size_t)n < room))
				c->ep.flags &= ~CF_RD_READY;
			continue;
		}
		if (n == 0) {
			c->ep.flags |= CF_RD_EOF;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->ep.flags &= ~CF_RD_READY;
		} else if (errno != EINTR) {
			c->ep.flags |= CF_ERROR;
		}
		if (n == 0 || errno != EINTR)
			break;
	}
	return total;
}

size_t conn_drain(struct conn *c, char *scratch, size_t size, size_t budget)
{
	size_t total = 0;

	while (total < budget && (c->ep.flags & CF_RD_READY) && !(c->ep.flags & (CF_RD_EOF | CF_ERROR))) {
		ssize_t n = c->tls ? tls_recv(c->tls, scratch, size) : recv(c->fd, scratch, size, 0);

		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n == 0)
			c->ep.flags |= CF_RD_EOF;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->ep.flags &= ~CF_RD_READY;
		else if (errno != EINTR)
			c->ep.flags |= CF_ERROR;
	}
	return total;
}

size_t conn_send(struct conn *c, struct buf *b, size_t max)
{
	size_t total = 0;

	if (max > b_data(b))
		max = b_data(b);
	while (total < max && (c->ep.flags & CF_WR_READY) && !(c->ep.flags & CF_ERROR)) {
		struct iovec iov[2];
		size_t want = max - total;
		size_t first = b_contig_data(b);
		int cnt = 1;
		ssize_t n;

		if (first > want)
			first = want;
		iov[0].iov_base = b_head(b);
		iov[0].iov_len = first;
		if (first < want) {
			iov[1].iov_base = b->area;
			iov[1].iov_len = want - first;
			cnt = 2;
		}
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		/* MSG_MORE while the message goes on: the kernel then sends
		 * full segments instead of one per 16 KiB buffer, which halves
		 * the loopback receive work on large objects. On the last bytes
		 * of a message only when the socket is shut or closed at once
		 * (the FIN pushes them): otherwise they would wait for the cork
		 * timer. Over TLS the same mark keeps the last record back.
		 * MSG_NOSIGNAL (the reason for send/sendmsg over write/writev)
		 * spares an embedding program SIGPIPE from a peer that left. */
		int flags = MSG_NOSIGNAL | ((c->ep.flags & EP_SND_MORE) ? MSG_MORE : 0);

		/* one segment goes by send(), which spares the kernel copying
		 * a msghdr and importing an iovec */
		if (c->tls)
			n = tls_sendv(c->tls, iov, cnt, flags & MSG_MORE);
		else if (cnt == 1)
			n = send(c->fd, iov[0].iov_base, iov[0].iov_len, flags);
		else
			n = sendmsg(c->fd, &mh, flags);
		if (n > 0) {
			b_del(b, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (conn_snd_classify(c, n) == CONN_SND_RETRY)
			continue;
		break;
	}
	return total;
}

void conn_shut_wr(struct conn *c)
{
	if (c->ep.flags & CF_SHUT_WR)
		return;
	c->ep.flags |= CF_SHUT_WR;
	if (c->tls)
		tls_shutdown(c->tls);  /* close_notify before the FIN */
	(void)shutdown(c->fd, SHUT_WR);
}

int conn_idle_alive(struct conn *c)
{
	char byte;
	ssize_t n;

	if (c->ep.flags & (CF_RD_EOF | CF_ERROR))
		return 0;
	if (c->tls) {
		if (!tls_idle_alive(c->tls))
			return 0;
	} else {
		n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return 0;
	}
	/* the socket is dry: whatever comes next is a new edge for the
	 * poller, so a stale "readable" need not cost another peek */
	c->ep.flags &= ~CF_RD_READY;
	return 1;
}

void conn_idle_mark(struct conn *c)
{
	c->idle_polls = (uint32_t)sched_polls(c->tc->thr);
}

int conn_idle_unchanged(const struct conn *c)
{
	/* the poller must have returned since: events it fetched are then
	 * wake-ups pending on the tasklet, or already turned into flags */
	if ((uint32_t)sched_polls(c->tc->thr) == c->idle_polls)
		return 0;
	if (c->unpolled || (c->ep.flags & (CF_RD_READY | CF_RD_EOF | CF_RD_HUP | CF_ERROR)))
		return 0;
	if (tasklet_pending(&c->tl) & (SCHED_R_READ | SCHED_R_HUP | SCHED_R_RDHUP))
		return 0;
	/* records OpenSSL read ahead are invisible to the poller */
	return !c->tls || tls_idle_quiet(c->tls);
}

int conn_idle_fresh(const struct conn *c)
{
	return (uint32_t)sched_polls(c->tc->thr) == c->idle_polls;
}

int conn_poll_now(struct thr_ctx *tc)
{
	return sched_poll_now(tc->thr);
}

int conn_release_fd(struct conn *c)
{
	int fd = c->fd;

	if (c->tls) {
		tls_free(conn_tls_released);
		conn_tls_released = c->tls;
		conn_tls_released_fd = fd;
		c->tls = NULL;
	}
	if (!c->unpolled)
		(void)sched_fd_del(c->tc->thr, fd);
	tasklet_kill(&c->tl, 1);
	return fd;
}

void conn_close(struct conn *c)
{
	/* No EPOLL_CTL_DEL: the descriptor is never duplicated, so closing
	 * it takes it out of the poller, one system call less per connection.
	 * Events already fetched for it meet a killed tasklet, as they would
	 * after a DEL. */
	if (c->tls) {
		tls_shutdown(c->tls);
		tls_free(c->tls);
	}
	close(c->fd);
	tasklet_kill(&c->tl, 1);
}

/* ---- the HTTP/1 endpoint: the socket itself ---- */

static size_t conn_ep_rcv(struct mux_ep *ep, struct buf *b, size_t limit)
{
	return conn_recv(conn_of_ep(ep), b, limit);
}

static size_t conn_ep_snd(struct mux_ep *ep, struct buf *b, size_t max)
{
	return conn_send(conn_of_ep(ep), b, max);
}

static void conn_ep_shut_wr(struct mux_ep *ep)
{
	conn_shut_wr(conn_of_ep(ep));
}

static void conn_ep_release(struct mux_ep *ep)
{
	conn_close(conn_of_ep(ep));
}

const struct mux_ops conn_h1_ops = {
	.name = "h1",
	.rcv_buf = conn_ep_rcv,
	.snd_buf = conn_ep_snd,
	.shut_wr = conn_ep_shut_wr,
	.release = conn_ep_release,
};

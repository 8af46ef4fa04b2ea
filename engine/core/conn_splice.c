/* conn_splice.c - a connection's body I/O through a kernel pipe (see
 * conn.h): the zero-copy counterpart of conn_recv()/conn_send(), kept in
 * its own file so that the buffer path in conn.c stays as it was. Plain
 * TCP only: the caller never splices a TLS connection (the kernel would
 * move ciphertext). */
#include <errno.h>
#include <fcntl.h>
#include "engine/core/conn.h"

size_t conn_splice_in(struct conn *c, struct pipe_pair *p, size_t max)
{
	size_t total = 0;

	while (total < max && (c->ep.flags & CF_RD_READY) && !(c->ep.flags & (CF_RD_EOF | CF_ERROR))) {
		size_t want = max - total;
		ssize_t n;

		if (want > pipe_room(p))
			want = pipe_room(p);
		if (!want)
			break;
		n = splice(c->fd, NULL, p->wr, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			p->data += (size_t)n;
			total += (size_t)n;
			continue;
		}
		if (n == 0) {
			c->ep.flags |= CF_RD_EOF;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* Either the socket is dry or the pipe is full (its
			 * pages, not its bytes, may run out first): the two
			 * cannot be told apart. With data in the pipe, assume
			 * full and keep the readiness: the next attempt after
			 * the pipe drained tells. An empty pipe means dry. */
			if (!p->data)
				c->ep.flags &= ~CF_RD_READY;
			break;
		}
		c->ep.flags |= CF_ERROR;
		break;
	}
	return total;
}

size_t conn_splice_out(struct conn *c, struct pipe_pair *p, int more)
{
	size_t total = 0;

	while (p->data && (c->ep.flags & CF_WR_READY) && !(c->ep.flags & CF_ERROR)) {
		/* SPLICE_F_MORE as MSG_MORE in conn_send(): full segments
		 * while the body goes on, never on its last bytes */
		ssize_t n = splice(p->rd, NULL, c->fd, NULL, p->data,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0));

		if (n > 0) {
			p->data -= (size_t)n;
			total += (size_t)n;
			continue;
		}
		if (conn_snd_classify(c, n) == CONN_SND_RETRY)
			continue;
		break;
	}
	return total;
}

/* oconn.c - the origin's per-connection request cycle. */
#include "oconn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "opattern.h"

/* Run-loop rounds before a busy connection yields to the others. */
#define OCONN_ROUNDS 32
/* writev() calls per flush, so one round stays short. */
#define OCONN_WRITES 4

static const char oconn_root_page[] =
	"This is the Sluice demo origin.\n"
	"Routes: / /size/N /chunked/N[?chunk=S] /echo /sha256 /delay/MS /never\n"
	"        /close /status/CODE /headers\n";

/* Returns true while pattern bytes remain to be written straight from the
 * pattern block (identity or close-delimited framing). */
static bool oconn_raw_pending(const struct oconn *c)
{
	return c->phase == OCONN_RESP && c->rq.framing != OCONN_OUT_CHUNKED &&
	       c->rq.gen_off < c->rq.gen_len;
}

/* Appends the status line and headers of a response. <length> is used with
 * OCONN_OUT_LENGTH framing; <extra> holds complete header lines or NULL. */
static void oconn_head(struct oconn *c, int status, const char *ctype, uint64_t length,
		       const char *extra)
{
	const struct oconn_req *rq = &c->rq;
	struct obuf *o = &c->out;

	obuf_printf(o, "HTTP/1.1 %d %s\r\nX-Origin: %s\r\n", status, oroute_reason(status),
		    c->w->cfg->name);
	if (ctype)
		obuf_printf(o, "Content-Type: %s\r\n", ctype);
	if (rq->framing == OCONN_OUT_CHUNKED)
		obuf_adds(o, "Transfer-Encoding: chunked\r\n");
	else if (rq->framing == OCONN_OUT_LENGTH && status != 204 && status != 304)
		obuf_printf(o, "Content-Length: %" PRIu64 "\r\n", length);
	if (!rq->keep_alive)
		obuf_adds(o, "Connection: close\r\n");
	else if (rq->http10)
		obuf_adds(o, "Connection: keep-alive\r\n");
	if (extra)
		obuf_adds(o, extra);
	obuf_add(o, "\r\n", 2);
}

/* Appends a complete response with a small text body. 204 and 304 carry no
 * body; HEAD gets the length of the body it does not get. */
static void oconn_simple(struct oconn *c, int status, const char *body, size_t len,
			 const char *extra)
{
	bool bodiless = status == 204 || status == 304;

	c->rq.framing = OCONN_OUT_LENGTH;
	oconn_head(c, status, bodiless ? NULL : "text/plain", len, extra);
	if (!bodiless && !c->rq.head_only)
		obuf_add(&c->out, body, len);
}

/* Appends a response whose body is formatted text. */
static void oconn_simplef(struct oconn *c, int status, const char *extra, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void oconn_simplef(struct oconn *c, int status, const char *extra, const char *fmt, ...)
{
	char body[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(body))
		n = sizeof(body) - 1;
	oconn_simple(c, status, body, (size_t)n, extra);
}

/* Appends <n> pattern bytes starting at body offset <ofs>. */
static void oconn_add_pattern(struct obuf *o, uint64_t ofs, size_t n)
{
	while (n) {
		size_t avail;
		const char *p = opattern_at(ofs, &avail);
		size_t take = avail < n ? avail : n;

		obuf_add(o, p, take);
		ofs += take;
		n -= take;
	}
}

/* Ends the current request: the next one may be parsed, or the connection
 * winds down. */
static void oconn_request_done(struct oconn *c)
{
	c->phase = c->rq.keep_alive ? OCONN_IDLE : OCONN_DRAIN;
	c->scanned = 0;
}

/* Arms the connection's timer to fire in <ms> (> 0) milliseconds. Returns
 * false when no timer could be set. */
static bool oconn_arm_timer(struct oconn *c, uint64_t ms)
{
	struct itimerspec its = { 0 };

	if (c->tfd < 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->timer_ev };

		c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (c->tfd < 0)
			return false;
		if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->tfd, &ev) < 0) {
			close(c->tfd);
			c->tfd = -1;
			return false;
		}
	}
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	return timerfd_settime(c->tfd, 0, &its, NULL) == 0;
}

/* Answers a request that could not be parsed and stops reading requests. */
static void oconn_refuse(struct oconn *c, int status)
{
	memset(&c->rq, 0, sizeof(c->rq));
	c->rq.keep_alive = false;
	oconn_simplef(c, status, NULL, "%d %s\n", status, oroute_reason(status));
	c->phase = OCONN_DRAIN;
}

/* Starts the echo response: its length is known unless the request body
 * is chunked, in which case the answer is chunked too (close-delimited for
 * HTTP/1.0) and the length follows as a trailer. */
static void oconn_start_echo(struct oconn *c, const struct ohttp_req *req)
{
	struct oconn_req *rq = &c->rq;
	char extra[96];

	if (rq->in == OCONN_IN_CHUNKED) {
		rq->framing = rq->http10 ? OCONN_OUT_CLOSE : OCONN_OUT_CHUNKED;
		if (rq->framing == OCONN_OUT_CLOSE)
			rq->keep_alive = false;
		oconn_head(c, 200, "application/octet-stream", 0,
			   rq->framing == OCONN_OUT_CHUNKED ? "Trailer: X-Request-Body-Length\r\n" : NULL);
		return;
	}
	uint64_t len = req->has_length ? req->content_length : 0;
	snprintf(extra, sizeof(extra), "X-Request-Body-Length: %" PRIu64 "\r\n", len);
	rq->framing = OCONN_OUT_LENGTH;
	oconn_head(c, 200, "application/octet-stream", len, extra);
}

/* Parses the complete head of <head_len> bytes at the read position and
 * sets the request up. */
static void oconn_begin(struct oconn *c, size_t head_len)
{
	const char *head = c->rbuf + c->rpos;
	struct oconn_req *rq = &c->rq;
	struct ohttp_req req;
	int status;

	atomic_fetch_add_explicit(&c->w->stats.requests, 1, memory_order_relaxed);
	status = ohttp_parse_head(head, head_len, &req);
	if (status) {
		c->rpos += head_len;
		oconn_refuse(c, status);
		return;
	}

	memset(rq, 0, sizeof(*rq));
	oroute_match(&req, &rq->route);
	rq->http10 = req.minor == 0;
	rq->head_only = req.method == OHTTP_HEAD;
	rq->keep_alive = rq->http10 ? req.conn_keep_alive && !req.conn_close : !req.conn_close;
	if (rq->route.route == OROUTE_CLOSE)
		rq->keep_alive = false;
	if (req.chunked) {
		rq->in = OCONN_IN_CHUNKED;
		ohttp_chunked_init(&rq->dec);
	} else if (req.has_length && req.content_length) {
		rq->in = OCONN_IN_LENGTH;
		rq->in_left = req.content_length;
	}

	if (req.expect_continue && rq->in != OCONN_IN_NONE && !rq->http10)
		obuf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	switch (rq->route.route) {
	case OROUTE_HEADERS:
		/* answered now: the head is about to leave the input buffer */
		oconn_simple(c, 200, head, head_len, NULL);
		break;
	case OROUTE_ECHO:
		oconn_start_echo(c, &req);
		break;
	case OROUTE_SHA256:
		sha256_init(&rq->sha);
		break;
	default:
		break;
	}
	c->rpos += head_len;
	c->phase = OCONN_BODY;
}

/* Passes up to <n> request body bytes at <p> to the route. Returns how
 * many it took (less than <n> when the echo has to wait for the socket). */
static size_t oconn_sink(struct oconn *c, const char *p, size_t n)
{
	struct oconn_req *rq = &c->rq;
	size_t pending = obuf_pending(&c->out);

	switch (rq->route.route) {
	case OROUTE_ECHO:
		if (pending >= OCONN_OUT_HIGH)
			return 0;
		if (n > OCONN_OUT_HIGH - pending)
			n = OCONN_OUT_HIGH - pending;
		if (rq->framing == OCONN_OUT_CHUNKED) {
			obuf_printf(&c->out, "%zx\r\n", n);
			obuf_add(&c->out, p, n);
			obuf_add(&c->out, "\r\n", 2);
		} else {
			obuf_add(&c->out, p, n);
		}
		break;
	case OROUTE_SHA256:
		sha256_update(&rq->sha, p, n);
		break;
	default:
		break;
	}
	rq->in_total += n;
	return n;
}

/* Gives the answer once the request body is complete. */
static void oconn_body_end(struct oconn *c)
{
	struct oconn_req *rq = &c->rq;
	const struct oroute_match *m = &rq->route;
	uint8_t digest[SHA256_DIGEST_LEN];
	char hex[SHA256_HEX_LEN + 1];

	switch (m->route) {
	case OROUTE_ECHO:
		if (rq->framing == OCONN_OUT_CHUNKED)
			obuf_printf(&c->out, "0\r\nX-Request-Body-Length: %" PRIu64 "\r\n\r\n",
				    rq->in_total);
		break;
	case OROUTE_SHA256:
		sha256_final(&rq->sha, digest);
		sha256_hex(digest, hex);
		oconn_simplef(c, 200, NULL, "%s %" PRIu64 "\n", hex, rq->in_total);
		break;
	case OROUTE_DELAY:
		if (m->n == 0) {
			oconn_simplef(c, 200, NULL, "delayed 0 ms\n");
			break;
		}
		if (!oconn_arm_timer(c, m->n)) {
			oconn_simplef(c, 500, NULL, "no timer\n");
			break;
		}
		c->phase = OCONN_WAIT;
		return;
	case OROUTE_NEVER:
		c->phase = OCONN_NEVER;
		return;
	case OROUTE_SIZE:
	case OROUTE_CHUNKED:
		if (m->route == OROUTE_SIZE)
			rq->framing = OCONN_OUT_LENGTH;
		else
			rq->framing = rq->http10 ? OCONN_OUT_CLOSE : OCONN_OUT_CHUNKED;
		if (rq->framing == OCONN_OUT_CLOSE)
			rq->keep_alive = false;
		oconn_head(c, 200, "application/octet-stream", m->n, NULL);
		rq->gen_off = 0;
		rq->gen_len = rq->head_only ? 0 : m->n;
		c->phase = OCONN_RESP;
		return;
	case OROUTE_ROOT:
		oconn_simple(c, 200, oconn_root_page, sizeof(oconn_root_page) - 1, NULL);
		break;
	case OROUTE_CLOSE:
		oconn_simplef(c, 200, NULL, "closing\n");
		break;
	case OROUTE_STATUS:
		oconn_simplef(c, m->status, NULL, "status %d\n", m->status);
		break;
	case OROUTE_ERROR:
		oconn_simplef(c, m->status, m->status == 405 ? "Allow: POST, PUT\r\n" : NULL,
			      "%d %s\n", m->status, oroute_reason(m->status));
		break;
	case OROUTE_HEADERS:
		break;
	}
	oconn_request_done(c);
}

/* Consumes request body bytes from the input buffer. Returns true when
 * something changed. */
static bool oconn_step_body(struct oconn *c)
{
	struct oconn_req *rq = &c->rq;
	bool progress = false;

	for (;;) {
		const char *in = c->rbuf + c->rpos;
		size_t len = c->rlen - c->rpos, n;

		if (rq->in == OCONN_IN_NONE ||
		    (rq->in == OCONN_IN_LENGTH && rq->in_left == 0) ||
		    (rq->in == OCONN_IN_CHUNKED && ohttp_chunked_done(&rq->dec))) {
			oconn_body_end(c);
			return true;
		}
		if (rq->in == OCONN_IN_LENGTH) {
			n = len < rq->in_left ? len : (size_t)rq->in_left;
			if (n == 0 || (n = oconn_sink(c, in, n)) == 0)
				break;
			rq->in_left -= n;
		} else if (rq->dec.state == OHTTP_CH_DATA) {
			n = ohttp_chunked_avail(&rq->dec, len);
			if (n == 0 || (n = oconn_sink(c, in, n)) == 0)
				break;
			ohttp_chunked_took(&rq->dec, n);
		} else {
			ssize_t r = ohttp_chunked_frame(&rq->dec, in, len);
			if (r < 0) {
				c->phase = OCONN_CLOSED;
				return true;
			}
			if (r == 0)
				break;
			n = (size_t)r;
		}
		c->rpos += n;
		progress = true;
	}
	/* a body cut short by the peer's FIN can never complete */
	if (c->peer_eof && c->rpos == c->rlen) {
		c->phase = OCONN_CLOSED;
		return true;
	}
	return progress;
}

/* Generates chunked pattern bytes, or notices the end of a raw one.
 * Returns true when something changed. */
static bool oconn_step_resp(struct oconn *c)
{
	struct oconn_req *rq = &c->rq;
	bool progress = false;

	if (rq->framing != OCONN_OUT_CHUNKED) {
		if (rq->gen_off < rq->gen_len)
			return false;
		oconn_request_done(c);
		return true;
	}
	while (rq->gen_off < rq->gen_len && obuf_pending(&c->out) < OCONN_OUT_HIGH) {
		uint64_t left = rq->gen_len - rq->gen_off;
		size_t n = left < rq->route.chunk ? (size_t)left : rq->route.chunk;

		obuf_printf(&c->out, "%zx\r\n", n);
		oconn_add_pattern(&c->out, rq->gen_off, n);
		obuf_add(&c->out, "\r\n", 2);
		rq->gen_off += n;
		progress = true;
	}
	if (rq->gen_off < rq->gen_len)
		return progress;
	if (!rq->head_only)
		obuf_add(&c->out, "0\r\n\r\n", 5);
	oconn_request_done(c);
	return true;
}

/* Looks for the next request head. Returns true when something changed. */
static bool oconn_step_idle(struct oconn *c)
{
	size_t skip = 0, end;

	/* answers pile up when a client pipelines without reading */
	if (obuf_pending(&c->out) >= OCONN_OUT_HIGH)
		return false;
	if (c->scanned == 0) {
		skip = ohttp_skip_blank(c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rpos += skip;
	}
	end = ohttp_head_end(c->rbuf + c->rpos, c->rlen - c->rpos, &c->scanned);
	if (end) {
		c->scanned = 0;
		oconn_begin(c, end);
		return true;
	}
	if (c->rlen - c->rpos == OCONN_RBUF_SIZE) {
		oconn_refuse(c, 431);
		return true;
	}
	if (c->peer_eof) {
		/* no complete request will come: what is left is dropped */
		c->phase = OCONN_DRAIN;
		return true;
	}
	return skip > 0;
}

/* Drops all buffered input. Returns true when there was some. */
static bool oconn_discard_input(struct oconn *c)
{
	bool had = c->rpos != c->rlen;

	c->rpos = c->rlen = 0;
	c->scanned = 0;
	return had;
}

/* Winds down after the last answer: once it is sent, half-closes and
 * lingers so that unread input does not turn our FIN into a reset that
 * could destroy the answer. Returns true when something changed. */
static bool oconn_step_drain(struct oconn *c)
{
	bool progress = oconn_discard_input(c);

	if (obuf_pending(&c->out))
		return progress;
	if (c->peer_eof) {
		c->phase = OCONN_CLOSED;
		return true;
	}
	if (shutdown(c->fd, SHUT_WR) < 0 || !oconn_arm_timer(c, OCONN_LINGER_MS)) {
		c->phase = OCONN_CLOSED;
		return true;
	}
	c->phase = OCONN_LINGER;
	return true;
}

/* Advances the request cycle by one step. Returns true when something
 * changed, so that the caller steps again. */
static bool oconn_step(struct oconn *c)
{
	switch (c->phase) {
	case OCONN_IDLE:
		return oconn_step_idle(c);
	case OCONN_BODY:
		return oconn_step_body(c);
	case OCONN_RESP:
		return oconn_step_resp(c);
	case OCONN_DRAIN:
		return oconn_step_drain(c);
	case OCONN_NEVER:
	case OCONN_LINGER:
		if (c->peer_eof) {
			c->phase = OCONN_CLOSED;
			return true;
		}
		return oconn_discard_input(c);
	case OCONN_WAIT:
	case OCONN_CLOSED:
		break;
	}
	return false;
}

/* Writes pending output: the output buffer, then pattern bytes straight
 * from the pattern block. Sets <*progress> when bytes went out. */
static void oconn_flush(struct oconn *c, bool *progress)
{
	for (int i = 0; i < OCONN_WRITES && c->can_write; i++) {
		struct iovec iov[2];
		size_t pending = obuf_pending(&c->out), want = 0;
		int n = 0;

		if (pending) {
			iov[n].iov_base = c->out.data + c->out.pos;
			iov[n++].iov_len = pending;
			want += pending;
		}
		if (oconn_raw_pending(c)) {
			uint64_t left = c->rq.gen_len - c->rq.gen_off;
			size_t avail;
			const char *p = opattern_at(c->rq.gen_off, &avail);

			iov[n].iov_base = (void *)p;
			iov[n++].iov_len = left < avail ? (size_t)left : avail;
			want += iov[n - 1].iov_len;
		}
		if (n == 0)
			return;

		ssize_t w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				c->can_write = false;
			else
				c->phase = OCONN_CLOSED;
			return;
		}
		*progress = true;
		size_t from_out = (size_t)w < pending ? (size_t)w : pending;
		obuf_sent(&c->out, from_out);
		c->rq.gen_off += (size_t)w - from_out;
		/* a short write means the send buffer is full: wait for EPOLLOUT */
		if ((size_t)w < want)
			c->can_write = false;
	}
}

/* Reads what fits into the input buffer. Sets <*progress> when bytes or
 * the peer's FIN came in. */
static void oconn_read(struct oconn *c, bool *progress)
{
	if (!c->can_read || c->peer_eof)
		return;
	if (c->rpos == c->rlen) {
		c->rpos = c->rlen = 0;
	} else if (c->rlen == OCONN_RBUF_SIZE && c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == OCONN_RBUF_SIZE)
		return;

	size_t room = OCONN_RBUF_SIZE - c->rlen;
	ssize_t n = read(c->fd, c->rbuf + c->rlen, room);
	if (n > 0) {
		c->rlen += (size_t)n;
		*progress = true;
		/* a short read emptied the socket; unless a FIN is already
		 * reported (it will not be reported again), wait for EPOLLIN */
		if ((size_t)n < room && !c->rdhup)
			c->can_read = false;
	} else if (n == 0) {
		c->peer_eof = true;
		*progress = true;
	} else if (errno == EINTR) {
		*progress = true;
	} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->can_read = false;
	} else {
		c->phase = OCONN_CLOSED;
	}
}

/* Moves the connection forward until it waits for the socket or a timer.
 * Releases it when it is done. */
static void oconn_run(struct oconn *c)
{
	int rounds;

	for (rounds = 0; rounds < OCONN_ROUNDS; rounds++) {
		bool progress = false;

		oconn_flush(c, &progress);
		while (c->phase != OCONN_CLOSED && oconn_step(c))
			progress = true;
		if (c->out.failed)
			c->phase = OCONN_CLOSED;
		if (c->phase == OCONN_CLOSED)
			break;
		oconn_read(c, &progress);
		if (c->phase == OCONN_CLOSED || !progress)
			break;
	}
	if (c->phase == OCONN_CLOSED)
		oconn_release(c);
	else if (rounds == OCONN_ROUNDS)
		oworker_set_ready(c->w, c);
}

struct oconn *oconn_new(struct oworker *w, int fd)
{
	struct oconn *c = malloc(sizeof(*c));
	struct epoll_event ev;

	if (!c) {
		close(fd);
		return NULL;
	}
	/* the input buffer needs no clearing: only the bytes read are used */
	memset(c, 0, offsetof(struct oconn, rbuf));
	c->sock_ev.kind = OEV_CONN;
	c->timer_ev.kind = OEV_TIMER;
	c->w = w;
	c->fd = fd;
	c->tfd = -1;
	c->phase = OCONN_IDLE;
	c->can_write = true;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = &c->sock_ev;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(c);
		return NULL;
	}
	return c;
}

void oconn_on_io(struct oconn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->can_read = true;
	if (events & (EPOLLRDHUP | EPOLLHUP))
		c->rdhup = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->can_write = true;
	oconn_run(c);
}

void oconn_on_timer(struct oconn *c)
{
	uint64_t expirations;

	if (c->fd < 0)
		return;
	/* clears the level-triggered readiness; the count does not matter */
	if (read(c->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN) {
		c->phase = OCONN_CLOSED;
	} else if (c->phase == OCONN_WAIT) {
		oconn_simplef(c, 200, NULL, "delayed %" PRIu64 " ms\n", c->rq.route.n);
		oconn_request_done(c);
	} else if (c->phase == OCONN_LINGER) {
		c->phase = OCONN_CLOSED;
	}
	oconn_run(c);
}

void oconn_resume(struct oconn *c)
{
	if (c->fd >= 0)
		oconn_run(c);
}

void oconn_release(struct oconn *c)
{
	close(c->fd);
	if (c->tfd >= 0)
		close(c->tfd);
	c->fd = c->tfd = -1;
	c->phase = OCONN_CLOSED;
	obuf_free(&c->out);
	oworker_conn_closed(c->w, c);
}

void oconn_free(struct oconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->tfd >= 0)
		close(c->tfd);
	obuf_free(&c->out);
	free(c);
}

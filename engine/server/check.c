/* check.c - health checks of servers (see check.h).
 *
 * A check is a task with one timer. Between checks the timer says when
 * the next one starts; during a check it is the check's deadline, so a
 * check waiting for a connection, a buffer or a status line always ends
 * on time. Socket events arrive through the connection's tasklet, buffer
 * hand-offs through the task (SCHED_R_BUFFER); both run on the check's
 * thread and drive the same step function.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/server/backend.h"
#include "engine/server/check.h"
#include "engine/core/conn.h"
#include "engine/core/ctx.h"

/* Bytes of the answer a check looks at: "HTTP/1.1 200" needs 12. */
#define CHK_RX_SIZE 64
/* Shortest delay before the next check, so a failing server is not hammered. */
#define CHK_MIN_GAP_MS 10

enum chk_step {
	CHK_IDLE = 0,   /* between checks */
	CHK_CONNECT,    /* connection in progress */
	CHK_WAIT_BUF,   /* connected, waiting for a buffer to write the request */
	CHK_SEND,       /* request being sent */
	CHK_RECV,       /* reading the status line */
};

struct check {
	struct task task;
	struct thr_ctx *tc;
	struct server *srv;
	struct pool *pool;
	struct conn *conn;
	struct buf buf;             /* pool buffer holding the request while it is sent */
	struct pool_wait wait;
	struct buf rx;              /* over rx_area: the start of the answer */
	char rx_area[CHK_RX_SIZE];
	enum chk_step step;
	uint64_t start_ms, deadline_ms, next_ms;
	unsigned inter_ms, timeout_ms;
	int stopped;

	/* Counters and state: written by the home thread only (relaxed
	 * load + store), read by check_read() from anywhere. */
	uint64_t n_ok, n_failed, n_buf_waits, n_deferred;
	uint64_t n_taken, n_released, n_changes, last_change_ms;
	int up, last_reason, last_status, last_errno;
	uint32_t last_duration_ms;
	unsigned consecutive;
};

/* Relaxed accessors for fields read by other threads. */
#define CHK_RD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define CHK_SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define CHK_INC(x)    CHK_SET(x, CHK_RD(x) + 1)

static const char *const reason_str[CHK_R_COUNT] = {
	[CHK_R_NONE]        = "no check yet",
	[CHK_R_L4_OK]       = "Layer4 check passed",
	[CHK_R_L7_OK]       = "Layer7 check passed",
	[CHK_R_L4_CONN]     = "Layer4 connection problem",
	[CHK_R_L4_TIMEOUT]  = "Layer4 timeout",
	[CHK_R_L7_TIMEOUT]  = "Layer7 timeout",
	[CHK_R_L7_STATUS]   = "Layer7 wrong status",
	[CHK_R_L7_RSP]      = "Layer7 invalid response",
	[CHK_R_L7_CLOSED]   = "Layer7 connection closed",
	[CHK_R_L6_RSP]      = "Layer6 invalid response",
	[CHK_R_SOCKET]      = "socket error",
	[CHK_R_INTERNAL]    = "internal error",
};

const char *check_reason_str(int reason)
{
	return reason >= 0 && reason < CHK_R_COUNT ? reason_str[reason] : "unknown";
}

static void check_task_cb(struct tasklet *t, unsigned reasons);
static void check_conn_cb(struct tasklet *t, unsigned reasons);
static void check_step(struct check *c);

static inline const struct cfg_backend *chk_be(const struct check *c) { return c->srv->be->cfg; }
static inline int chk_is_http(const struct check *c) { return chk_be(c)->chk_method != NULL; }

/* ---- the pool side ---- */

/* The pool's notify: runs on the releasing thread (just after the pool's
 * lock, before the entry counts as served) and only posts a wake-up to the
 * check's thread. The task lives until
 * check_free(), after every thread has ended, so the post is always safe. */
static void check_buf_notify(struct pool_wait *w)
{
	struct check *c = w->ctx;

	task_wakeup(&c->task, SCHED_R_BUFFER);
}

/* Gives back the request buffer and forgets any wait (passing on a buffer
 * handed over meanwhile). */
static void check_drop_buffer(struct check *c)
{
	pool_wait_cancel(c->pool, &c->wait);
	if (!b_is_null(&c->buf)) {
		pool_release(c->pool, c->tc->pool_tid, &c->buf);
		CHK_INC(c->n_released);
	}
}

/* Ends the attempt in progress, whatever its step: gives back its buffer
 * (or its place in the wait queue), closes its connection, and goes idle. */
static void check_end_attempt(struct check *c)
{
	check_drop_buffer(c);
	if (c->conn) {
		conn_close(c->conn);
		c->conn = NULL;
	}
	CHK_SET(c->step, CHK_IDLE);
}

/* Makes sure the check holds a buffer. Returns 1 if it does, 0 if it now
 * waits for one (the hand-off wakes the task). */
static int check_get_buffer(struct check *c)
{
	if (!b_is_null(&c->buf))
		return 1;
	if (pool_wait_take(c->pool, &c->wait, &c->buf)) {
		CHK_INC(c->n_taken);
		return 1;
	}
	if (pool_wait_state(&c->wait) != POOL_WAIT_IDLE)
		return 0;
	if (pool_alloc(c->pool, c->tc->pool_tid, POOL_CRIT_REQUEST, &c->buf) == 0) {
		CHK_INC(c->n_taken);
		return 1;
	}
	CHK_INC(c->n_buf_waits);
	(void)pool_wait_subscribe(c->pool, &c->wait);
	return 0;
}

/* ---- state changes ---- */

/* Returns the number of usable servers of <be> right now. */
static unsigned be_active_count(const struct backend *be)
{
	unsigned n = 0;

	unsigned nb = be_nb_srv(be);

	for (unsigned i = 0; i < nb; i++) {
		const struct server *s = __atomic_load_n(&be->srv[i], __ATOMIC_ACQUIRE);

		if (!__atomic_load_n(&s->down, __ATOMIC_RELAXED) && s->cfg->weight)
			n++;
	}
	return n;
}

/* Writes the reason of the last check of <c> into dst[0..size). */
static void check_reason_text(const struct check *c, char *dst, size_t size)
{
	int reason = c->last_reason;
	char ebuf[64];

	if (reason == CHK_R_L7_OK || reason == CHK_R_L7_STATUS)
		snprintf(dst, size, "%s, code: %d", check_reason_str(reason), c->last_status);
	else if ((reason == CHK_R_L4_CONN || reason == CHK_R_SOCKET) && c->last_errno)
		snprintf(dst, size, "%s: %s", check_reason_str(reason),
			 strerror_r(c->last_errno, ebuf, sizeof(ebuf))); /* GNU: returns the text */
	else if (reason == CHK_R_L6_RSP)
		snprintf(dst, size, "%s, info: %s", check_reason_str(reason),
			 c->last_errno == EPERM ? "SSL certificate verification failed"
						: "SSL handshake failure");
	else
		snprintf(dst, size, "%s", check_reason_str(reason));
}

/* Applies a transition of <c>'s server to <up> and says so on stderr. */
static void check_set_state(struct check *c, int up)
{
	struct server *srv = c->srv;
	char reason[128], line[512];
	int n;

	CHK_SET(c->up, up);
	CHK_INC(c->n_changes);
	CHK_SET(c->last_change_ms, tc_now(c->tc));
	__atomic_store_n(&srv->down, !up, __ATOMIC_RELEASE);
	if (up)
		be_server_up(srv);
	check_reason_text(c, reason, sizeof(reason));
	n = snprintf(line, sizeof(line), "sluice: server %s/%s is %s (%s), %u active servers %s\n",
		     chk_be(c)->name, srv->cfg->name, up ? "UP" : "DOWN", reason,
		     be_active_count(srv->be), up ? "online" : "left");
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Ends the running check as passed or failed for <reason>, frees what it
 * holds, applies rise/fall and arms the timer for the next one. */
static void check_finish(struct check *c, int ok, int reason)
{
	struct server *srv = c->srv;
	uint64_t now = tc_now(c->tc);

	check_end_attempt(c);
	CHK_SET(c->last_reason, reason);
	CHK_SET(c->last_duration_ms, (uint32_t)(now - c->start_ms));
	if (ok)
		CHK_INC(c->n_ok);
	else
		CHK_INC(c->n_failed);
	/* <consecutive> counts the results that contradict the current state
	 * (failures while UP, passes while DOWN); one that agrees resets it */
	if (c->up ? !ok : ok) {
		CHK_SET(c->consecutive, c->consecutive + 1);
		if (c->consecutive >= (c->up ? srv->cfg->fall : srv->cfg->rise)) {
			CHK_SET(c->consecutive, 0);
			check_set_state(c, !c->up);
		}
	} else {
		CHK_SET(c->consecutive, 0);
	}
	c->next_ms = c->start_ms + c->inter_ms;
	if (c->next_ms < now + CHK_MIN_GAP_MS)
		c->next_ms = now + CHK_MIN_GAP_MS;
	task_schedule(&c->task, c->next_ms);
}

/* Fails the running check for a system error <err>. */
static void check_fail_errno(struct check *c, int reason, int err)
{
	CHK_SET(c->last_errno, err);
	check_finish(c, 0, reason);
}

/* ---- one check ---- */

/* Starts a check: connects to the server. */
static void check_begin(struct check *c)
{
	const struct cfg_server *cs = c->srv->cfg;

	c->start_ms = tc_now(c->tc);
	c->deadline_ms = c->start_ms + c->timeout_ms;
	CHK_SET(c->last_status, 0);
	CHK_SET(c->last_errno, 0);
	c->rx = (struct buf){ .area = c->rx_area, .size = sizeof(c->rx_area) };
	CHK_SET(c->step, CHK_CONNECT);
	task_schedule(&c->task, c->deadline_ms);
	c->conn = conn_connect(c->tc, (const struct sockaddr *)&cs->addr, cs->addrlen, check_conn_cb, c);
	if (!c->conn) {
		check_fail_errno(c, errno == ENOMEM ? CHK_R_INTERNAL : CHK_R_L4_CONN, errno);
		return;
	}
	/* over TLS the check passes the handshake (and verification) too */
	conn_tls_client(c->conn, cs->tls);
	check_step(c);
}

/* The opening of an HTTP/2 connection with prior knowledge: the preface and
 * an empty SETTINGS frame. */
static const char chk_h2_hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" "\0\0\0\x04\0\0\0\0\0";
#define CHK_H2_HELLO_LEN (sizeof(chk_h2_hello) - 1)

/* Writes the request into the buffer. Returns 0, or -1 if it does not fit. */
static int check_build_request(struct check *c)
{
	const struct cfg_backend *be = chk_be(c);
	int n;

	if (c->srv->cfg->proto_h2) {
		if (b_room(&c->buf) < CHK_H2_HELLO_LEN)
			return -1;
		memcpy(b_tail(&c->buf), chk_h2_hello, CHK_H2_HELLO_LEN);
		b_add(&c->buf, CHK_H2_HELLO_LEN);
		return 0;
	}
	n = snprintf(b_tail(&c->buf), b_room(&c->buf),
			 "%s %s HTTP/1.0\r\nUser-Agent: sluice-check\r\nConnection: close\r\n\r\n",
			 be->chk_method, be->chk_uri);

	if (n < 0 || (size_t)n >= b_room(&c->buf))
		return -1;
	b_add(&c->buf, (size_t)n);
	return 0;
}

/* Parses the first frame an HTTP/2 server sent: a SETTINGS frame on stream
 * 0 means it speaks HTTP/2. Returns 1 when decided, 0 when more bytes are
 * needed. */
static int check_parse_h2(struct check *c, int eof)
{
	const unsigned char *p = (const unsigned char *)c->rx_area;

	if (b_data(&c->rx) < 9) {
		if (!eof)
			return 0;
		check_finish(c, 0, b_data(&c->rx) ? CHK_R_L7_RSP : CHK_R_L7_CLOSED);
		return 1;
	}
	if (p[3] == 0x04 && (p[5] | p[6] | p[7] | p[8]) == 0)
		check_finish(c, 1, CHK_R_L7_OK);
	else
		check_finish(c, 0, CHK_R_L7_RSP);
	return 1;
}

/* Parses the start of the answer. Returns 1 when it is decided (the check
 * has finished), 0 when more bytes are needed. */
static int check_parse_status(struct check *c, int eof)
{
	const char *p = c->rx_area;
	size_t len = b_data(&c->rx);
	int status, expect = chk_be(c)->chk_expect_status;

	if (c->srv->cfg->proto_h2)
		return check_parse_h2(c, eof);
	/* "HTTP/1.x SSS" is all a check needs; the rest is discarded */
	if (len < 12) {
		if (!eof)
			return 0;
		check_finish(c, 0, len ? CHK_R_L7_RSP : CHK_R_L7_CLOSED);
		return 1;
	}
	if (memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || p[9] < '1' || p[9] > '5' ||
	    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9') {
		check_finish(c, 0, CHK_R_L7_RSP);
		return 1;
	}
	status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	CHK_SET(c->last_status, status);
	if (expect ? status == expect : (status >= 200 && status < 400))
		check_finish(c, 1, CHK_R_L7_OK);
	else
		check_finish(c, 0, CHK_R_L7_STATUS);
	return 1;
}

/* Moves the running check forward as far as its socket and the pool let
 * it. Called on socket events, hand-offs and at the start. */
static void check_step(struct check *c)
{
	enum conn_connect cr;

	switch (c->step) {
	case CHK_IDLE:
		return;
	case CHK_CONNECT:
		cr = conn_connect_check(c->conn);
		if (cr == CONN_CONNECTING)
			return;
		if (cr == CONN_FAILED) {
			/* a connection with a TLS session failed in its handshake */
			check_fail_errno(c, c->conn->tls ? CHK_R_L6_RSP : CHK_R_L4_CONN, errno);
			return;
		}
		if (!chk_is_http(c)) {
			check_finish(c, 1, CHK_R_L4_OK);
			return;
		}
		CHK_SET(c->step, CHK_WAIT_BUF);
		/* fall through */
	case CHK_WAIT_BUF:
		if (!check_get_buffer(c))
			return;
		if (check_build_request(c) < 0) {
			check_finish(c, 0, CHK_R_INTERNAL);
			return;
		}
		CHK_SET(c->step, CHK_SEND);
		/* fall through */
	case CHK_SEND:
		(void)conn_send(c->conn, &c->buf, b_data(&c->buf));
		if (c->conn->ep.flags & CF_ERROR) {
			check_fail_errno(c, CHK_R_SOCKET, EPIPE);
			return;
		}
		if (!b_empty(&c->buf))
			return; /* the socket is full: the next write event resumes */
		/* sent: the buffer goes back at once, the answer needs none */
		check_drop_buffer(c);
		CHK_SET(c->step, CHK_RECV);
		/* fall through */
	case CHK_RECV:
		(void)conn_recv(c->conn, &c->rx, c->rx.size);
		if (c->conn->ep.flags & CF_ERROR) {
			check_fail_errno(c, CHK_R_SOCKET, ECONNRESET);
			return;
		}
		(void)check_parse_status(c, (c->conn->ep.flags & CF_RD_EOF) || b_full(&c->rx));
		return;
	}
}

/* Puts off the running check, which is still waiting for its buffer at its
 * deadline: it sent nothing, so it says nothing about the server. The wait
 * is cancelled (a buffer handed over meanwhile is passed on), the connection
 * closed, and the next check is due one interval after this one started. It
 * is neither passed nor failed: rise, fall, the UP/DOWN state and the last
 * reason are left as they were, so a buffer shortage cannot turn a healthy
 * server DOWN (nor a dead one UP). */
static void check_defer(struct check *c)
{
	uint64_t now = tc_now(c->tc);

	check_end_attempt(c);
	CHK_INC(c->n_deferred);
	c->next_ms = c->start_ms + c->inter_ms;
	if (c->next_ms < now + CHK_MIN_GAP_MS)
		c->next_ms = now + CHK_MIN_GAP_MS;
	task_schedule(&c->task, c->next_ms);
}

/* Ends a check that ran out of time: a failure, unless it never got the
 * buffer to send its request with, in which case it is deferred. */
static void check_timeout(struct check *c)
{
	switch (c->step) {
	case CHK_CONNECT:
		check_finish(c, 0, CHK_R_L4_TIMEOUT);
		break;
	case CHK_WAIT_BUF:
		check_defer(c);
		break;
	default:
		check_finish(c, 0, CHK_R_L7_TIMEOUT);
		break;
	}
}

/* The check's task: timer (next check or deadline) and buffer hand-offs. */
static void check_task_cb(struct tasklet *t, unsigned reasons)
{
	struct check *c = t->ctx;
	uint64_t now = tc_now(c->tc);

	if (c->stopped)
		return;
	if (c->step == CHK_IDLE) {
		if (now >= c->next_ms)
			check_begin(c);
		else
			task_schedule(&c->task, c->next_ms);
		return;
	}
	if (now >= c->deadline_ms) {
		check_timeout(c);
		return;
	}
	/* a hand-off, or a spurious wake-up: try to go on; the timer keeps
	 * the deadline */
	check_step(c);
	if (c->step != CHK_IDLE && !c->task.expire_ms)
		task_schedule(&c->task, c->deadline_ms);
}

/* The connection's tasklet: socket readiness. */
static void check_conn_cb(struct tasklet *t, unsigned reasons)
{
	struct conn *conn = t->ctx;
	struct check *c = conn->owner;

	conn_update_ready(conn, reasons);
	check_step(c);
}

/* ---- life ---- */

int check_start(struct thr_ctx *tc, struct server *srv, struct pool *pool)
{
	const struct cfg_server *cs = srv->cfg;
	struct check *c;
	unsigned idx, spread;

	if (!cs->check || cs->disabled)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return -1;
	}
	c->tc = tc;
	c->srv = srv;
	c->pool = pool;
	c->up = !__atomic_load_n(&srv->down, __ATOMIC_RELAXED);
	c->inter_ms = cs->inter_ms ? cs->inter_ms : CFG_SRV_DEFAULT_INTER_MS;
	c->timeout_ms = cfg_check_timeout_ms(srv->be->cfg, cs);
	if (!c->timeout_ms)
		c->timeout_ms = c->inter_ms;
	c->last_change_ms = tc_now(tc);
	pool_wait_init(&c->wait, tc->pool_tid, POOL_CRIT_REQUEST, check_buf_notify, c);
	task_init(&c->task, tc->thr, check_task_cb, c);
	/* the servers of a backend are checked at different moments of the
	 * interval rather than all at once */
	idx = (unsigned)(srv->cfg - srv->be->cfg->servers); /* configured servers only have checks */
	spread = (unsigned)((uint64_t)c->inter_ms * (idx % 16) / 16);
	c->next_ms = tc_now(tc) + 1 + spread;
	task_schedule(&c->task, c->next_ms);
	__atomic_store_n(&srv->check, c, __ATOMIC_RELEASE);
	return 0;
}

void check_stop(struct check *c)
{
	if (!c || c->stopped)
		return;
	c->stopped = 1;
	check_end_attempt(c);
	/* not freed here: a wake-up may still sit in the run queue, and the
	 * counters stay readable until check_free() */
	task_kill(&c->task, 0);
}

void check_free(struct check *c)
{
	free(c);
}

void check_read(const struct check *c, struct check_stats *out)
{
	*out = (struct check_stats){
		.ok = CHK_RD(c->n_ok),
		.failed = CHK_RD(c->n_failed),
		.buf_waits = CHK_RD(c->n_buf_waits),
		.deferred = CHK_RD(c->n_deferred),
		.buf_timeouts = CHK_RD(c->n_deferred),
		.bufs_taken = CHK_RD(c->n_taken),
		.bufs_released = CHK_RD(c->n_released),
		.changes = CHK_RD(c->n_changes),
		.last_change_ms = CHK_RD(c->last_change_ms),
		.up = CHK_RD(c->up),
		.running = CHK_RD(c->step) != CHK_IDLE,
		.last_reason = CHK_RD(c->last_reason),
		.last_status = CHK_RD(c->last_status),
		.last_errno = CHK_RD(c->last_errno),
		.last_duration_ms = CHK_RD(c->last_duration_ms),
		.consecutive = CHK_RD(c->consecutive),
	};
}

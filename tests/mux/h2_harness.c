/* h2_harness.c - see h2_harness.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "sched/sched.h"
#include "tests/mux/h2_harness.h"
#include "mux/h2_int.h"  /* h2h_dump() looks inside, for diagnostics only */

#define H2H_MAX_REC 1024

struct h2h_rec {
	char  *req;
	size_t len;
};

struct h2h {
	struct sched *sched;
	struct sched_thread *thr;
	struct pool *pool;
	int sv[2];
	struct h2c *c;              /* sched thread only; NULL once closed */
	struct h2_settings set;
	int hold_all;
	const char *const *raw;
	unsigned nb_raw;
	int defer;                  /* sched thread: fake streams wait for h2h_resume() */
	struct fs *deferred[64];    /* sched thread: the streams to wake then */
	unsigned nb_deferred;
	struct buf held[8];         /* sched thread: blocks of h2h_hold_blocks() */
	unsigned nb_held;
	pthread_mutex_t lock;       /* below */
	int closed;
	struct h2c_stats final;
	struct h2h_rec rec[H2H_MAX_REC];
	unsigned nb_rec, done, err;
	int live;                   /* fake streams not finished (atomic) */
	unsigned framed;            /* streams given with EP_SND_FRAMED (atomic) */
};

uint32_t h2h_fnv(uint32_t h, const uint8_t *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

uint32_t h2h_pat_fnv(uint64_t n)
{
	uint32_t h = 2166136261u;
	uint64_t i;

	for (i = 0; i < n; i++) {
		uint8_t b = h2h_pat(i);

		h = h2h_fnv(h, &b, 1);
	}
	return h;
}

uint64_t h2h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- running a function on the scheduler thread ---- */

struct h2h_call {
	struct tasklet tl;
	void (*fn)(void *ctx, void *arg);
	void *ctx;
	void *arg;
	int done;
};

static void h2h_call_cb(struct tasklet *t, unsigned reasons)
{
	struct h2h_call *call = t->ctx;

	call->fn(call->ctx, call->arg);
	__atomic_store_n(&call->done, 1, __ATOMIC_RELEASE);
}

int h2h_run_on(struct sched_thread *thr, void (*fn)(void *ctx, void *arg), void *ctx, void *arg)
{
	struct h2h_call *call = calloc(1, sizeof(*call));
	uint64_t end = h2h_now_ms() + 5000;
	int ok;

	if (!call)
		return -1;
	call->fn = fn;
	call->ctx = ctx;
	call->arg = arg;
	tasklet_init(&call->tl, thr, h2h_call_cb, call);
	tasklet_wakeup(&call->tl, SCHED_R_WAKE);
	while (!(ok = __atomic_load_n(&call->done, __ATOMIC_ACQUIRE)) && h2h_now_ms() < end)
		usleep(200);
	if (ok)
		free(call);  /* leaked on timeout rather than freed under the loop */
	return ok ? 0 : -1;
}

/* Runs <fn> on the scheduler thread of <h> and waits for it. */
static int h2h_call(struct h2h *h, void (*fn)(void *, void *), void *arg)
{
	return h2h_run_on(h->thr, fn, h, arg);
}

/* ---- the fake engine stream ---- */

enum { FS_READ, FS_WRITE };
enum { FS_CL, FS_CH, FS_CLOSE, FS_HOLD };

struct fs {
	struct tasklet tl;          /* first: tasklet_kill(..., 1) frees fs */
	struct h2h *h;
	struct mux_ep *ep;
	struct buf b;
	struct pool_wait w;
	int phase, mode, interim;
	int deferred, resumed;      /* see h2h_opts.defer */
	char *req;
	size_t req_len, req_cap;
	struct h2h_gen g;           /* the response */
};

static void fs_notify(struct pool_wait *w)
{
	struct fs *fs = w->ctx;

	tasklet_wakeup(&fs->tl, SCHED_R_BUFFER);
}

/* Returns 0 with a buffer in fs->b, or -1 (waiting for one). */
static int fs_buf(struct fs *fs)
{
	if (!b_is_null(&fs->b))
		return 0;
	if (pool_wait_state(&fs->w) != POOL_WAIT_IDLE)
		return pool_wait_take(fs->h->pool, &fs->w, &fs->b) ? 0 : -1;
	if (pool_alloc(fs->h->pool, 0, POOL_CRIT_RESPONSE, &fs->b) == 0)
		return 0;
	(void)pool_wait_subscribe(fs->h->pool, &fs->w);
	return -1;
}

/* Ends the fake stream: records it, releases the endpoint, frees. */
static void fs_finish(struct fs *fs, int error)
{
	struct h2h *h = fs->h;

	if (fs->mode == FS_CLOSE && !error)
		fs->ep->ops->shut_wr(fs->ep);
	fs->ep->ops->release(fs->ep);
	pool_wait_cancel(h->pool, &fs->w);
	pool_release(h->pool, 0, &fs->b);
	pthread_mutex_lock(&h->lock);
	if (h->nb_rec < H2H_MAX_REC && fs->req) {
		h->rec[h->nb_rec].req = fs->req;
		h->rec[h->nb_rec].len = fs->req_len;
		h->nb_rec++;
		fs->req = NULL;
	}
	if (error)
		h->err++;
	else
		h->done++;
	pthread_mutex_unlock(&h->lock);
	free(fs->req);
	__atomic_fetch_sub(&h->live, 1, __ATOMIC_RELEASE);
	tasklet_kill(&fs->tl, 1);
}

/* Chooses the response from the request line: see h2_harness.h. A HEAD
 * request gets the head only; /204 gets a 204 without a body. */
static void fs_plan(struct fs *fs)
{
	char path[128] = "", cl[64] = "", head[256];
	unsigned long long n = 5;
	const char *sp = memchr(fs->req, ' ', fs->req_len);
	int is_head = fs->req_len > 5 && !memcmp(fs->req, "HEAD ", 5);
	const char *status = "200 OK";
	unsigned idx;

	if (sp)
		sscanf(sp + 1, "%127s", path);
	fs->mode = FS_CL;
	if (sscanf(path, "/raw/%u", &idx) == 1 && idx < fs->h->nb_raw) {
		h2h_gen_init(&fs->g, fs->h->raw[idx], 0, 0);
		return;
	}
	if (sscanf(path, "/cl/%llu", &n) == 1)
		fs->mode = FS_CL;
	else if (sscanf(path, "/ch/%llu", &n) == 1)
		fs->mode = FS_CH;
	else if (sscanf(path, "/close/%llu", &n) == 1)
		fs->mode = FS_CLOSE;
	else if (sscanf(path, "/100/%llu", &n) == 1)
		fs->interim = 1;
	else
		n = 5;
	if (!strcmp(path, "/204")) {
		status = "204 No Content";
		n = 0;
	} else if (fs->mode == FS_CL) {
		snprintf(cl, sizeof(cl), "Content-Length: %llu\r\n", n);
	} else if (fs->mode == FS_CH) {
		snprintf(cl, sizeof(cl), "Transfer-Encoding: chunked\r\n");
	}
	snprintf(head, sizeof(head), "%s"
		"HTTP/1.1 %s\r\nX-Test: yes\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n%s\r\n",
		fs->interim ? "HTTP/1.1 100 Continue\r\n\r\n" : "", status, cl);
	h2h_gen_init(&fs->g, head, is_head ? 0 : n, fs->mode == FS_CH && !is_head);
}

void h2h_gen_init(struct h2h_gen *g, const char *head, uint64_t body_len, int chunked)
{
	memset(g, 0, sizeof(*g));
	g->pend_len = strlen(head);
	if (g->pend_len > sizeof(g->pend))
		g->pend_len = sizeof(g->pend);
	memcpy(g->pend, head, g->pend_len);
	g->body_len = body_len;
	g->chunked = chunked;
}

int h2h_gen_done(const struct h2h_gen *g)
{
	return g->pend_off >= g->pend_len && g->body_gen >= g->body_len &&
	       (!g->chunked || g->final_done);
}

void h2h_gen_fill(struct h2h_gen *g, struct buf *b)
{
	while (b_room(b)) {
		if (g->pend_off < g->pend_len) {
			g->pend_off += b_putblk(b, g->pend + g->pend_off, g->pend_len - g->pend_off);
			continue;
		}
		if (g->body_gen < g->body_len) {
			uint64_t n = g->body_len - g->body_gen;

			if (g->chunked && !g->chunk_left) {
				uint64_t sz = 1 + (g->k * 977u) % 4000u;

				g->chunk_left = sz < n ? sz : n;
				g->pend_len = (size_t)snprintf(g->pend, sizeof(g->pend), "%s%llx%s\r\n",
					g->k ? "\r\n" : "", (unsigned long long)g->chunk_left,
					g->k % 3 == 1 ? ";ext=1" : "");
				g->pend_off = 0;
				g->k++;
				continue;
			}
			if (g->chunked && n > g->chunk_left)
				n = g->chunk_left;
			if (n > b_contig_space(b))
				n = b_contig_space(b);
			for (uint64_t i = 0; i < n; i++)
				b_tail(b)[i] = (char)h2h_pat(g->body_gen + i);
			b_add(b, (size_t)n);
			g->body_gen += n;
			if (g->chunked)
				g->chunk_left -= n;
			continue;
		}
		if (g->chunked && !g->final_done) {
			g->final_done = 1;
			g->pend_len = (size_t)snprintf(g->pend, sizeof(g->pend), "%s0\r\nx-trailer: 1\r\n\r\n",
						       g->k ? "\r\n" : "");
			g->pend_off = 0;
			continue;
		}
		break;
	}
}

/* Reads the request. Returns 1 when complete, 0 to wait, -1 on error. */
static int fs_read(struct fs *fs)
{
	struct mux_ep *ep = fs->ep;

	while ((ep->flags & EP_RD_READY) && !(ep->flags & (EP_RD_EOF | EP_ERROR))) {
		size_t n;

		if (fs_buf(fs) < 0)
			return 0;
		n = ep->ops->rcv_buf(ep, &fs->b, fs->b.size);
		if (fs->req_len + b_data(&fs->b) + 1 > fs->req_cap) {
			size_t cap = (fs->req_len + b_data(&fs->b) + 1) * 2;
			char *p = realloc(fs->req, cap);

			if (!p)
				return -1;
			fs->req = p;
			fs->req_cap = cap;
		}
		fs->req_len += b_peek(&fs->b, 0, fs->req + fs->req_len, b_data(&fs->b));
		fs->req[fs->req_len] = 0;
		b_reset(&fs->b);
		if (!n)
			break;
	}
	pool_release(fs->h->pool, 0, &fs->b);
	if (ep->flags & EP_ERROR)
		return -1;
	return (ep->flags & EP_RD_EOF) ? 1 : 0;
}

/* Sends the response. Returns 1 when all was taken, 0 to wait, -1 on error. */
static int fs_write(struct fs *fs)
{
	struct mux_ep *ep = fs->ep;
	int rounds = 0;

	for (;;) {
		size_t n;

		if (ep->flags & EP_ERROR)
			return -1;
		if (fs_buf(fs) < 0)
			return 0;
		h2h_gen_fill(&fs->g, &fs->b);
		if (b_empty(&fs->b)) {
			pool_release(fs->h->pool, 0, &fs->b);
			return 1;
		}
		if (!(ep->flags & EP_WR_READY))
			return 0;
		n = ep->ops->snd_buf(ep, &fs->b, b_data(&fs->b));
		if (!n) {
			if (ep->flags & EP_WR_READY)
				tasklet_wakeup(&fs->tl, SCHED_R_WAKE);  /* retry later */
			return 0;
		}
		if (b_empty(&fs->b) && h2h_gen_done(&fs->g)) {
			pool_release(fs->h->pool, 0, &fs->b);
			return 1;
		}
		if (b_empty(&fs->b))
			pool_release(fs->h->pool, 0, &fs->b);  /* hold buffers only with data */
		if (++rounds > 64) {
			tasklet_wakeup(&fs->tl, SCHED_R_WAKE);
			return 0;
		}
	}
}

/* Forgets a deferred fake stream that is about to be freed. */
static void fs_undefer(struct fs *fs)
{
	struct h2h *h = fs->h;
	unsigned i;

	for (i = 0; i < h->nb_deferred; i++)
		if (h->deferred[i] == fs)
			h->deferred[i] = h->deferred[--h->nb_deferred];
	fs->deferred = 0;
}

static void fs_cb(struct tasklet *t, unsigned reasons)
{
	struct fs *fs = t->ctx;
	int r;

	if ((reasons & SCHED_R_BUFFER) && b_is_null(&fs->b))
		(void)pool_wait_take(fs->h->pool, &fs->w, &fs->b);
	if (fs->h->defer && !fs->resumed) {
		if (fs->ep->flags & EP_ERROR) {
			fs_undefer(fs);
			fs_finish(fs, 1);
		} else if (!fs->deferred && fs->h->nb_deferred < 64) {
			fs->deferred = 1;
			fs->h->deferred[fs->h->nb_deferred++] = fs;
		}
		return;
	}
	if (fs->mode == FS_HOLD) {
		if (fs->ep->flags & EP_ERROR)
			fs_finish(fs, 1);
		return;
	}
	if (fs->phase == FS_READ) {
		r = fs_read(fs);
		if (r < 0) {
			fs_finish(fs, 1);
			return;
		}
		if (r == 0)
			return;
		if (!memcmp(fs->req, "GET /hold", 9)) {
			fs->mode = FS_HOLD;
			return;
		}
		fs_plan(fs);
		fs->phase = FS_WRITE;
	}
	r = fs_write(fs);
	if (r)
		fs_finish(fs, r < 0);
}

static int h2h_new_stream(void *ctx, struct mux_ep *ep)
{
	struct h2h *h = ctx;
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return -1;
	fs->h = h;
	fs->ep = ep;
	fs->b = BUF_NULL;
	tasklet_init(&fs->tl, h->thr, fs_cb, fs);
	pool_wait_init(&fs->w, 0, POOL_CRIT_RESPONSE, fs_notify, fs);
	ep->owner = &fs->tl;
	if (ep->flags & EP_SND_FRAMED)
		__atomic_fetch_add(&h->framed, 1, __ATOMIC_RELAXED);
	if (h->hold_all)
		fs->mode = FS_HOLD;
	__atomic_fetch_add(&h->live, 1, __ATOMIC_RELAXED);
	return 0;
}

static void h2h_closed_cb(void *ctx)
{
	struct h2h *h = ctx;
	struct h2c_stats st;

	h2c_get_stats(h->c, &st);
	pthread_mutex_lock(&h->lock);
	h->final = st;
	h->closed = 1;
	pthread_mutex_unlock(&h->lock);
	h->c = NULL;
}

static const struct h2_callbacks h2h_cbs = { h2h_new_stream, h2h_closed_cb };

/* The pass-through transport: the socket itself, behind the mux's
 * transport interface, as TLS would be. */
static ssize_t pt_recv(void *ctx, void *buf, size_t len)
{
	return recv(*(int *)ctx, buf, len, 0);
}

static ssize_t pt_sendv(void *ctx, const struct iovec *iov, int cnt)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };

	return sendmsg(*(int *)ctx, &mh, MSG_NOSIGNAL);
}

static void pt_close(void *ctx)
{
	(void)ctx;  /* the harness closes the socket */
}

unsigned h2h_framed_eps(struct h2h *h)
{
	return __atomic_load_n(&h->framed, __ATOMIC_RELAXED);
}

static void h2h_open(void *ctx, void *arg)
{
	struct h2h *h = ctx;

	h->c = h2c_new(h->thr, 0, h->pool, h->sv[0], NULL, 0, &h->set, &h2h_cbs, h);
	*(int *)arg = h->c ? 0 : -1;
}

struct h2h *h2h_start(const struct h2h_opts *o)
{
	struct pool_config pc = { .bufsize = o->bufsize, .nbthread = 1,
				  .limit = o->pool_limit, .reserve = o->pool_reserve };
	struct h2h *h = calloc(1, sizeof(*h));
	int rv = -1;

	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->set = o->set;
	if (o->xprt_passthrough)
		h->set.xprt = (struct h2_transport){ .ctx = &h->sv[0], .recv = pt_recv,
						     .sendv = pt_sendv, .close = pt_close };
	h->hold_all = o->hold_all;
	h->raw = o->raw;
	h->nb_raw = o->nb_raw;
	h->defer = o->defer;
	h->pool = pool_create(&pc);
	h->sched = sched_create(1);
	if (!h->pool || !h->sched)
		goto fail;
	h->thr = sched_thread_get(h->sched, 0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, h->sv) < 0)
		goto fail;
	if (sched_start(h->sched) < 0)
		goto fail;
	if (h2h_call(h, h2h_open, &rv) < 0 || rv < 0) {
		sched_stop(h->sched);
		sched_join(h->sched);
		goto fail;
	}
	return h;
fail:
	fprintf(stderr, "h2h_start failed\n");
	return NULL;
}

int h2h_fd(struct h2h *h) { return h->sv[1]; }

int h2h_take_fd(struct h2h *h)
{
	int fd = h->sv[1];

	h->sv[1] = -1;
	return fd;
}

void h2h_close_client(struct h2h *h)
{
	if (h->sv[1] >= 0)
		close(h->sv[1]);
	h->sv[1] = -1;
}
struct pool *h2h_pool(struct h2h *h) { return h->pool; }

static void h2h_abort_fn(void *ctx, void *arg)
{
	struct h2h *h = ctx;

	if (h->c)
		h2c_abort(h->c, 0);
}

static void h2h_shutdown_fn(void *ctx, void *arg)
{
	struct h2h *h = ctx;

	if (h->c)
		h2c_shutdown(h->c);
}

static void h2h_resume_fn(void *ctx, void *arg)
{
	struct h2h *h = ctx;
	unsigned i;

	h->defer = 0;
	for (i = 0; i < h->nb_deferred; i++) {
		h->deferred[i]->resumed = 1;
		h->deferred[i]->deferred = 0;
		tasklet_wakeup(&h->deferred[i]->tl, SCHED_R_READ | SCHED_R_WRITE);
	}
	h->nb_deferred = 0;
}

void h2h_resume(struct h2h *h)
{
	(void)h2h_call(h, h2h_resume_fn, NULL);
}

static void h2h_hold_fn(void *ctx, void *arg)
{
	struct h2h *h = ctx;
	unsigned n = *(unsigned *)arg;

	while (n-- && h->nb_held < 8) {
		h->held[h->nb_held] = BUF_NULL;
		if (pool_alloc(h->pool, 0, POOL_CRIT_EMIT, &h->held[h->nb_held]) < 0)
			break;
		h->nb_held++;
	}
	*(unsigned *)arg = h->nb_held;
}

unsigned h2h_hold_blocks(struct h2h *h, unsigned n)
{
	unsigned before = h->nb_held;  /* only h2h_hold_fn and h2h_drop_fn change it */

	if (h2h_call(h, h2h_hold_fn, &n) < 0)
		return 0;
	return n - before;
}

static void h2h_drop_fn(void *ctx, void *arg)
{
	struct h2h *h = ctx;

	while (h->nb_held)
		pool_release(h->pool, 0, &h->held[--h->nb_held]);
}

void h2h_drop_blocks(struct h2h *h)
{
	(void)h2h_call(h, h2h_drop_fn, NULL);
}

void h2h_shutdown(struct h2h *h)
{
	(void)h2h_call(h, h2h_shutdown_fn, NULL);
}

long h2h_stop(struct h2h *h)
{
	struct pool_stats ps;
	unsigned i;

	uint64_t end = h2h_now_ms() + 3000;

	(void)h2h_call(h, h2h_drop_fn, NULL);
	(void)h2h_call(h, h2h_abort_fn, NULL);
	while (__atomic_load_n(&h->live, __ATOMIC_ACQUIRE) && h2h_now_ms() < end)
		usleep(1000);
	(void)h2h_wait_idle(h, 2000);
	sched_stop(h->sched);
	sched_join(h->sched);
	pool_stats(h->pool, -1u, &ps);
	if (ps.in_use == 0)
		pool_destroy(h->pool);
	sched_destroy(h->sched);
	h2h_close_client(h);
	for (i = 0; i < h->nb_rec; i++)
		free(h->rec[i].req);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return (long)ps.in_use;
}

int h2h_closed(struct h2h *h)
{
	int v;

	pthread_mutex_lock(&h->lock);
	v = h->closed;
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void h2h_stats_fn(void *ctx, void *arg)
{
	struct h2h *h = ctx;

	if (h->c)
		h2c_get_stats(h->c, arg);
	else
		*(struct h2c_stats *)arg = h->final;
}

void h2h_stats(struct h2h *h, struct h2c_stats *out)
{
	memset(out, 0, sizeof(*out));
	(void)h2h_call(h, h2h_stats_fn, out);
}

int64_t h2h_pool_in_use(struct h2h *h)
{
	struct pool_stats ps;

	pool_stats(h->pool, -1u, &ps);
	return ps.in_use;
}

int64_t h2h_wait_idle(struct h2h *h, int ms)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;
	int64_t v;

	while ((v = h2h_pool_in_use(h)) != 0 && h2h_now_ms() < end)
		usleep(1000);
	return v;
}

long h2h_request(struct h2h *h, const char *prefix, char **out)
{
	size_t pl = strlen(prefix);
	long len = -1;
	unsigned i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nb_rec; i++) {
		if (h->rec[i].len >= pl && !memcmp(h->rec[i].req, prefix, pl)) {
			*out = malloc(h->rec[i].len + 1);
			if (*out) {
				memcpy(*out, h->rec[i].req, h->rec[i].len);
				(*out)[h->rec[i].len] = 0;
				len = (long)h->rec[i].len;
			}
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return len;
}

unsigned h2h_streams_done(struct h2h *h)
{
	unsigned v;

	pthread_mutex_lock(&h->lock);
	v = h->done;
	pthread_mutex_unlock(&h->lock);
	return v;
}

unsigned h2h_streams_err(struct h2h *h)
{
	unsigned v;

	pthread_mutex_lock(&h->lock);
	v = h->err;
	pthread_mutex_unlock(&h->lock);
	return v;
}

/* Decodes a chunked body at <p> into <out> (room enough). Returns its
 * length or -1. */
long h2h_dechunk(const char *p, size_t len, uint8_t *out)
{
	size_t pos = 0, o = 0;

	for (;;) {
		char *end;
		unsigned long sz = strtoul(p + pos, &end, 16);

		if (end == p + pos || (size_t)(end - p) + 2 > len || memcmp(end, "\r\n", 2))
			return -1;
		pos = (size_t)(end - p) + 2;
		if (!sz)
			return (pos + 2 == len && !memcmp(p + pos, "\r\n", 2)) ? (long)o : -1;
		if (pos + sz + 2 > len || memcmp(p + pos + sz, "\r\n", 2))
			return -1;
		memcpy(out + o, p + pos, sz);
		o += sz;
		pos += sz + 2;
	}
}

/* ---- client ---- */

static struct cli_stream *cli_stream_of(nghttp2_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s, id);
}

static int cli_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
			 const uint8_t *v, size_t vl, uint8_t flags, void *user)
{
	struct cli_stream *cs = cli_stream_of(s, f->hd.stream_id);

	if (!cs || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (nl == 7 && !memcmp(n, ":status", 7)) {
		cs->status = atoi((const char *)v);
		if (cs->status < 200) {
			cs->interim++;
			return 0;
		}
		cs->hdrs_len = 0;
	}
	if (cs->status >= 200 && cs->hdrs_len + nl + vl + 3 < sizeof(cs->hdrs)) {
		memcpy(cs->hdrs + cs->hdrs_len, n, nl);
		cs->hdrs_len += nl;
		memcpy(cs->hdrs + cs->hdrs_len, ": ", 2);
		cs->hdrs_len += 2;
		memcpy(cs->hdrs + cs->hdrs_len, v, vl);
		cs->hdrs_len += vl;
		cs->hdrs[cs->hdrs_len++] = '\n';
		cs->hdrs[cs->hdrs_len] = 0;
	}
	return 0;
}

static int cli_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
		       void *user)
{
	struct cli_stream *cs = cli_stream_of(s, id);

	if (cs) {
		cs->bytes += len;
		cs->fnv = h2h_fnv(cs->fnv, d, len);
	}
	return 0;
}

static int cli_on_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
	struct cli_stream *cs = cli_stream_of(s, id);

	if (cs) {
		cs->closed = 1;
		cs->err = code;
	}
	return 0;
}

static int cli_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct cli *c = user;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		c->goaway = 1;
		c->goaway_code = f->goaway.error_code;
	}
	return 0;
}

static ssize_t cli_body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
			     uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct cli_stream *cs = src->ptr;
	uint64_t n = cs->body_len - cs->body_sent;
	uint64_t i;

	if (n > len)
		n = len;
	for (i = 0; i < n; i++)
		buf[i] = h2h_pat(cs->body_sent + i);
	cs->body_sent += n;
	if (cs->body_sent == cs->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

int cli_init(struct cli *c, int fd)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 } };
	int rv;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (nghttp2_session_callbacks_new(&cbs))
		return -1;
	nghttp2_session_callbacks_set_on_header_callback(cbs, cli_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cli_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cli_on_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cli_on_frame);
	rv = nghttp2_session_client_new(&c->sess, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -1;
	/* a big connection window so that many large responses run at once */
	(void)nghttp2_session_set_local_window_size(c->sess, NGHTTP2_FLAG_NONE, 0, 1 << 30);
	return nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, 1) ? -1 : 0;
}

void cli_free(struct cli *c)
{
	nghttp2_session_del(c->sess);
	free(c->out.buf);
	c->out = (struct h2h_out){ 0 };
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

int cli_request(struct cli *c, const char *method, const char *path, uint64_t body_len, int with_cl)
{
	struct cli_stream *cs;
	char cl[32];
	nghttp2_data_provider prd;
	nghttp2_nv nva[7] = {
		NV(":method", method), NV(":scheme", "http"), NV(":path", path),
		NV(":authority", "example.test"), NV("user-agent", "h2test"),
		NV("cookie", "a=1"), NV("cookie", "b=2"),
	};
	size_t nb = 7;
	nghttp2_nv all[8];
	int32_t id;

	if (c->nb >= sizeof(c->st) / sizeof(c->st[0]))
		return -1;
	cs = &c->st[c->nb];
	memset(cs, 0, sizeof(*cs));
	cs->fnv = 2166136261u;
	cs->body_len = body_len;
	memcpy(all, nva, sizeof(nva));
	if (body_len && with_cl) {
		snprintf(cl, sizeof(cl), "%llu", (unsigned long long)body_len);
		all[nb++] = (nghttp2_nv)NV("content-length", cl);
	}
	prd.source.ptr = cs;
	prd.read_callback = cli_body_read;
	id = nghttp2_submit_request(c->sess, NULL, all, nb, body_len ? &prd : NULL, cs);
	if (id < 0)
		return -1;
	cs->id = id;
	return (int)c->nb++;
}

int h2h_flush(int fd, nghttp2_session *sess, struct h2h_out *o, int *failed)
{
	for (;;) {
		const uint8_t *p;
		ssize_t n;

		if (o->len) {
			n = send(fd, o->buf, o->len, MSG_NOSIGNAL);
			if (n < 0)
				return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
			memmove(o->buf, o->buf + n, o->len - (size_t)n);
			o->len -= (size_t)n;
			if (o->len)
				return 0;
		}
		n = nghttp2_session_mem_send(sess, &p);
		if (n < 0) {
			*failed = 1;
			return -1;
		}
		if (n == 0)
			return 0;
		if (o->size < (size_t)n) {
			uint8_t *q = realloc(o->buf, (size_t)n);

			if (!q)
				return -1;
			o->buf = q;
			o->size = (size_t)n;
		}
		memcpy(o->buf, p, (size_t)n);
		o->len = (size_t)n;
	}
}

/* Writes the client's pending output; returns -1 when the socket failed. */
static int cli_flush(struct cli *c)
{
	return h2h_flush(c->fd, c->sess, &c->out, &c->failed);
}

/* One round: flush, wait up to <ms> for input, read and feed it. */
static void cli_step(struct cli *c, int ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	static __thread uint8_t in[65536];
	ssize_t n;

	if (cli_flush(c) < 0)
		c->out.len = 0;  /* the peer is closing: still read what it sent */
	if (c->out.len)
		pfd.events |= POLLOUT;
	if (poll(&pfd, 1, ms) <= 0)
		return;
	if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	n = recv(c->fd, in, sizeof(in), 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		c->eof = 1;
		return;
	}
	if (n > 0 && nghttp2_session_mem_recv(c->sess, in, (size_t)n) < 0)
		c->failed = 1;
}

int cli_run(struct cli *c, int ms)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;

	while (h2h_now_ms() < end) {
		unsigned i, open = 0;

		for (i = 0; i < c->nb; i++)
			open += !c->st[i].closed;
		if (!open) {
			(void)cli_flush(c);  /* WINDOW_UPDATE etc. */
			return 0;
		}
		if (c->eof || c->failed)
			return -1;
		cli_step(c, 20);
	}
	return -1;
}

void cli_pump(struct cli *c, int ms)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;

	while (h2h_now_ms() < end && !c->eof)
		cli_step(c, 10);
}

/* ---- raw bytes ---- */

size_t raw_write(int fd, const void *p, size_t n, int ms)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;
	size_t done = 0;

	while (done < n && h2h_now_ms() < end) {
		ssize_t k = send(fd, (const char *)p + done, n - done, MSG_NOSIGNAL);

		if (k > 0) {
			done += (size_t)k;
		} else if (k < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			(void)poll(&pfd, 1, 10);
		} else if (!(k < 0 && errno == EINTR)) {
			break;
		}
	}
	return done;
}

size_t raw_frame_hd(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
	p[0] = (uint8_t)(len >> 16);
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	p[3] = type;
	p[4] = flags;
	p[5] = (uint8_t)(sid >> 24);
	p[6] = (uint8_t)(sid >> 16);
	p[7] = (uint8_t)(sid >> 8);
	p[8] = (uint8_t)sid;
	return 9;
}

long raw_read_goaway(int fd, int ms, int *eof)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;
	static __thread uint8_t acc[1 << 16];
	size_t have = 0;
	long code = -1;

	*eof = 0;
	while (h2h_now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = recv(fd, acc + have, sizeof(acc) - have, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			*eof = 1;
			break;
		}
		if (n < 0)
			continue;
		have += (size_t)n;
		/* parse whole frames, keep the rest */
		for (;;) {
			uint32_t len;

			if (have < 9)
				break;
			len = (uint32_t)acc[0] << 16 | (uint32_t)acc[1] << 8 | acc[2];
			if (have < 9 + len) {
				if (9 + len > sizeof(acc))
					have = 0;  /* huge frame: drop */
				break;
			}
			if (acc[3] == NGHTTP2_GOAWAY && len >= 8)
				code = (long)((uint32_t)acc[13] << 24 | (uint32_t)acc[14] << 16 |
					      (uint32_t)acc[15] << 8 | acc[16]);
			memmove(acc, acc + 9 + len, have - 9 - len);
			have -= 9 + len;
		}
	}
	return code;
}

/* ---- diagnostics ---- */

static void h2h_dump_fn(void *ctx, void *arg)
{
	struct h2h *h = ctx;
	struct h2c *c = h->c;
	struct pool_stats ps;
	struct h2s *s;

	pool_stats(h->pool, -1u, &ps);
	fprintf(stderr, "pool: in_use %lld waiting %llu (req %llu rsp %llu emit %llu)\n", (long long)ps.in_use,
		(unsigned long long)ps.waiting, (unsigned long long)ps.waiting_by_crit[1],
		(unsigned long long)ps.waiting_by_crit[2], (unsigned long long)ps.waiting_by_crit[3]);
	if (!c) {
		fprintf(stderr, "h2c closed\n");
		return;
	}
	fprintf(stderr, "h2c state %d flags %#x dbuf %s/%zu dwait %d(crit %d) mbuf %s/%zu mwait %d out_len %zu rx_s %d rx_len %zu "
		"want r%d w%d conn-win %d\n", (int)c->state, c->flags, b_is_null(&c->dbuf) ? "-" : "B", b_data(&c->dbuf),
		pool_wait_state(&c->dwait), c->dwait.crit, b_is_null(&c->mbuf) ? "-" : "B", b_data(&c->mbuf),
		pool_wait_state(&c->mwait), c->out_len, c->rx_s ? c->rx_s->id : 0, c->rx_len,
		nghttp2_session_want_read(c->sess), nghttp2_session_want_write(c->sess),
		nghttp2_session_get_remote_window_size(c->sess));
	for (s = c->streams; s; s = s->next) {
		struct fs *fs = s->ep.owner ? s->ep.owner->ctx : NULL;

		fprintf(stderr, "  s%d flags %#x ep %#x win %d", s->id, s->flags, s->ep.flags,
			nghttp2_session_get_stream_remote_window_size(c->sess, s->id));
		if (fs)
			fprintf(stderr, " fs phase %d b %s/%zu w %d gen %llu/%llu", fs->phase,
				b_is_null(&fs->b) ? "-" : "B", b_data(&fs->b), pool_wait_state(&fs->w),
				(unsigned long long)fs->g.body_gen, (unsigned long long)fs->g.body_len);
		fputc('\n', stderr);
	}
}

void h2h_dump(struct h2h *h)
{
	(void)h2h_call(h, h2h_dump_fn, NULL);
}

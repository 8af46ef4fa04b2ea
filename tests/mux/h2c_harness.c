/* h2c_harness.c - see h2c_harness.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sched/sched.h"
#include "mux/h1.h"
#include "mux/h2_int.h"  /* mem_cur at close, for the accounting check only */
#include "tests/mux/h2c_harness.h"

#define H2CH_MAX_REQ 512

struct h2ch_slot {
	struct h2ch_req req;        /* its strings point to the copies below */
	char method[16], path[512], extra[1024], tail[64];
	struct h2ch_res res;
	char *resp;                 /* response bytes as rcv_buf gave them */
	size_t resp_len;
	int direct;                 /* opened by h2ch_open_now, not the dispatcher */
};

struct h2ch {
	struct sched *sched;
	struct sched_thread *thr;
	struct pool *pool;
	struct h2c *c;              /* sched thread only; NULL once closed */
	struct task disp;           /* opens queued requests while room allows */
	unsigned next_open;         /* sched thread: next queued request to open */
	unsigned held, max_held;    /* sched thread */
	pthread_mutex_t lock;       /* below */
	unsigned nb, ended;
	int closed;
	long mem_at_close;
	struct h2c_stats final;
	struct h2ch_slot slot[H2CH_MAX_REQ];
	int live;                   /* fake streams not finished (atomic) */
};

/* ---- the fake client stream ---- */

struct cst {
	struct tasklet tl;          /* first: tasklet_kill(..., 1) frees it */
	struct h2ch *h;
	int idx;
	struct mux_ep *ep;
	struct buf b, rb;           /* request bytes to send, response bytes read */
	struct pool_wait w, rw;
	struct h2h_gen g;
	size_t tail_len;
	int tail_added, wdone;
	char *resp;
	size_t resp_len, resp_cap;
};

static void cst_notify(struct pool_wait *w)
{
	struct cst *cs = w->ctx;

	tasklet_wakeup(&cs->tl, SCHED_R_BUFFER);
}

/* Returns 0 with a buffer in <b>, or -1 (waiting for one on <w>). */
static int cst_buf(struct cst *cs, struct buf *b, struct pool_wait *w, enum pool_crit crit)
{
	if (!b_is_null(b))
		return 0;
	if (pool_wait_state(w) != POOL_WAIT_IDLE)
		return pool_wait_take(cs->h->pool, w, b) ? 0 : -1;
	if (pool_alloc(cs->h->pool, 0, crit, b) == 0)
		return 0;
	pool_wait_init(w, 0, crit, cst_notify, cs);
	(void)pool_wait_subscribe(cs->h->pool, w);
	return -1;
}

/* Parses the response bytes of slot <sl> into its result. */
static void h2ch_parse(struct h2ch_slot *sl)
{
	struct h2ch_res *r = &sl->res;
	const char *p = sl->resp;
	size_t len = sl->resp_len, pos = 0;
	struct h1_msg m;
	int n;

	r->fnv = 2166136261u;
	for (;;) {
		n = h1_parse_head(p + pos, len - pos, 0, 65536, &m);
		if (n <= 0) {
			r->bad_framing = 1;
			return;
		}
		if (m.status >= 200)
			break;
		r->interim++;
		pos += (size_t)n;
	}
	r->status = m.status;
	snprintf(r->head, sizeof(r->head), "%.*s", n, p + pos);
	r->chunked = !!(m.flags & H1_F_CHUNKED);
	r->has_cl = !!(m.flags & H1_F_CLEN);
	pos += (size_t)n;
	if (r->chunked) {
		uint8_t *body = malloc(len - pos + 1);
		long bl = body ? h2h_dechunk(p + pos, len - pos, body) : -1;

		r->bad_framing = bl < 0;
		if (bl > 0) {
			r->body_len = (uint64_t)bl;
			r->fnv = h2h_fnv(r->fnv, body, (size_t)bl);
		}
		free(body);
		return;
	}
	r->body_len = len - pos;
	r->fnv = h2h_fnv(r->fnv, (const uint8_t *)p + pos, len - pos);
	if (r->has_cl && strcmp(sl->req.method, "HEAD") && m.status != 204 && m.status != 304)
		r->bad_framing = m.content_length != r->body_len;
}

/* Ends the fake stream: records its result, releases the endpoint. */
static void cst_finish(struct cst *cs, int state)
{
	struct h2ch *h = cs->h;
	struct h2ch_slot *sl = &h->slot[cs->idx];

	sl->res.tail_left = b_is_null(&cs->b) ? 0 : b_data(&cs->b);
	sl->res.req_done = cs->wdone;
	cs->ep->ops->release(cs->ep);
	pool_wait_cancel(h->pool, &cs->w);
	pool_wait_cancel(h->pool, &cs->rw);
	pool_release(h->pool, 0, &cs->b);
	pool_release(h->pool, 0, &cs->rb);
	h->held--;
	pthread_mutex_lock(&h->lock);
	sl->resp = cs->resp;
	sl->resp_len = cs->resp_len;
	sl->res.state = state;
	if (state == H2CH_DONE)
		h2ch_parse(sl);
	h->ended++;
	pthread_mutex_unlock(&h->lock);
	__atomic_fetch_sub(&h->live, 1, __ATOMIC_RELEASE);
	task_wakeup(&h->disp, SCHED_R_WAKE);
	tasklet_kill(&cs->tl, 1);
}

/* Returns non-zero once every request byte was generated and taken (the
 * tail, placed after the request, stays). */
static int cst_sent(struct cst *cs)
{
	return cs->tail_added && (b_is_null(&cs->b) || b_data(&cs->b) <= cs->tail_len);
}

/* Sends the request as far as the endpoint takes it. */
static void cst_write(struct cst *cs)
{
	struct mux_ep *ep = cs->ep;
	int rounds = 0;

	while (!cs->wdone && (ep->flags & EP_WR_READY) && !(ep->flags & EP_ERROR)) {
		size_t n;

		if (cst_buf(cs, &cs->b, &cs->w, POOL_CRIT_REQUEST) < 0)
			return;
		h2h_gen_fill(&cs->g, &cs->b);
		if (h2h_gen_done(&cs->g) && !cs->tail_added && b_room(&cs->b) >= cs->tail_len) {
			b_putblk(&cs->b, cs->h->slot[cs->idx].req.tail, cs->tail_len);
			cs->tail_added = 1;
		}
		n = ep->ops->snd_buf(ep, &cs->b, b_data(&cs->b));
		cs->wdone = cst_sent(cs);
		if (b_empty(&cs->b))
			pool_release(cs->h->pool, 0, &cs->b);  /* hold buffers only with data */
		if (!n)
			return;  /* EP_WR_READY was cleared, or the head waits for bytes */
		if (++rounds > 64) {
			tasklet_wakeup(&cs->tl, SCHED_R_WAKE);
			return;
		}
	}
}

/* Reads the response. Returns 1 when complete, 0 to wait, -1 on error. */
static int cst_read(struct cst *cs)
{
	struct mux_ep *ep = cs->ep;

	while ((ep->flags & EP_RD_READY) && !(ep->flags & (EP_RD_EOF | EP_ERROR))) {
		struct buf *rb = &cs->rb;
		size_t n;

		/* a separate buffer: the request one may hold unsent bytes */
		if (cst_buf(cs, rb, &cs->rw, POOL_CRIT_RESPONSE) < 0)
			return 0;
		n = ep->ops->rcv_buf(ep, rb, rb->size);
		if (cs->resp_len + b_data(rb) + 1 > cs->resp_cap) {
			size_t cap = (cs->resp_len + b_data(rb) + 1) * 2;
			char *p = realloc(cs->resp, cap);

			if (!p)
				return -1;
			cs->resp = p;
			cs->resp_cap = cap;
		}
		cs->resp_len += b_peek(rb, 0, cs->resp + cs->resp_len, b_data(rb));
		cs->resp[cs->resp_len] = 0;
		pool_release(cs->h->pool, 0, rb);  /* hold buffers only with data */
		if (!n)
			break;
	}
	if (ep->flags & EP_ERROR)
		return -1;
	return (ep->flags & EP_RD_EOF) ? 1 : 0;
}

static void cst_cb(struct tasklet *t, unsigned reasons)
{
	struct cst *cs = t->ctx;
	int r;

	if ((reasons & SCHED_R_BUFFER) && b_is_null(&cs->b))
		(void)pool_wait_take(cs->h->pool, &cs->w, &cs->b);
	if ((reasons & SCHED_R_BUFFER) && b_is_null(&cs->rb))
		(void)pool_wait_take(cs->h->pool, &cs->rw, &cs->rb);
	cst_write(cs);
	r = cst_read(cs);
	if (r)
		cst_finish(cs, r < 0 ? H2CH_ERROR : H2CH_DONE);
	else if (cs->resp_len && cs->h->slot[cs->idx].req.abandon)
		cst_finish(cs, H2CH_ABANDONED);
}

/* Builds the request head of <r> into <g>. */
static void h2ch_req_gen(const struct h2ch_req *r, struct h2h_gen *g)
{
	char head[1100], fr[64] = "";

	if (r->body == H2CH_CL)
		snprintf(fr, sizeof(fr), "Content-Length: %llu\r\n", (unsigned long long)r->body_len);
	else if (r->body == H2CH_CHUNKED)
		snprintf(fr, sizeof(fr), "Transfer-Encoding: chunked\r\n");
	snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n%sUser-Agent: h2ctest\r\n%s%s\r\n",
		 r->method, r->path, r->no_host ? "" : "Host: origin.test\r\n", r->extra ? r->extra : "", fr);
	h2h_gen_init(g, head, r->body == H2CH_NOBODY ? 0 : r->body_len, r->body == H2CH_CHUNKED);
}

/* Opens a stream for request <i> (sched thread). Returns 0 or -1 (errno). */
static int h2ch_open(struct h2ch *h, int i)
{
	struct cst *cs;
	struct mux_ep *ep;

	if (!h->c) {
		errno = ENOTCONN;
		return -1;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -1;
	ep = h2c_open_stream(h->c);
	if (!ep) {
		free(cs);
		return -1;
	}
	cs->h = h;
	cs->idx = i;
	cs->ep = ep;
	pthread_mutex_lock(&h->lock);
	h->slot[i].res.was_connecting = !!(ep->flags & EP_CONNECTING);
	pthread_mutex_unlock(&h->lock);
	cs->b = BUF_NULL;
	cs->rb = BUF_NULL;
	cs->tail_len = h->slot[i].req.tail ? strlen(h->slot[i].req.tail) : 0;
	h2ch_req_gen(&h->slot[i].req, &cs->g);
	tasklet_init(&cs->tl, h->thr, cst_cb, cs);
	pool_wait_init(&cs->w, 0, POOL_CRIT_REQUEST, cst_notify, cs);
	pool_wait_init(&cs->rw, 0, POOL_CRIT_RESPONSE, cst_notify, cs);
	ep->owner = &cs->tl;
	__atomic_fetch_add(&h->live, 1, __ATOMIC_RELAXED);
	if (++h->held > h->max_held)
		h->max_held = h->held;
	if (h2c_nb_streams(h->c) != h->held)
		fprintf(stderr, "h2c_nb_streams %u, held %u\n", h2c_nb_streams(h->c), h->held);
	tasklet_wakeup(&cs->tl, SCHED_R_WAKE);
	return 0;
}

/* Marks request <i> as not opened. */
static void h2ch_open_failed(struct h2ch *h, int i)
{
	pthread_mutex_lock(&h->lock);
	h->slot[i].res.state = H2CH_OPEN_FAILED;
	h->ended++;
	pthread_mutex_unlock(&h->lock);
}

/* The dispatcher: opens queued requests while the connection has room;
 * polls every 5 ms while some wait (room also grows with SETTINGS). */
static void h2ch_disp_cb(struct tasklet *t, unsigned reasons)
{
	struct h2ch *h = t->ctx;
	unsigned nb;

	pthread_mutex_lock(&h->lock);
	nb = h->nb;
	pthread_mutex_unlock(&h->lock);
	while (h->next_open < nb) {
		if (h->slot[h->next_open].direct) {
			h->next_open++;
			continue;
		}
		if (!h->c) {
			h2ch_open_failed(h, (int)h->next_open++);
			continue;
		}
		if (!h2c_open_room(h->c))
			break;
		if (h2ch_open(h, (int)h->next_open) < 0)
			h2ch_open_failed(h, (int)h->next_open);
		h->next_open++;
	}
	if (h->next_open < nb)
		task_schedule(&h->disp, sched_now_ms(h->thr) + 5);
}

/* ---- connection ---- */

static void h2ch_slot_set(struct h2ch_slot *sl, const struct h2ch_req *r);

static void h2ch_closed_cb(void *ctx)
{
	struct h2ch *h = ctx;
	struct h2c_stats st;

	h2c_get_stats(h->c, &st);
	pthread_mutex_lock(&h->lock);
	h->final = st;
	h->closed = 1;
	h->mem_at_close = (long)h->c->mem_cur;
	pthread_mutex_unlock(&h->lock);
	h->c = NULL;
	task_wakeup(&h->disp, SCHED_R_WAKE);
}

static const struct h2_callbacks h2ch_cbs = { NULL, h2ch_closed_cb };

struct h2ch_new_arg {
	const struct h2ch_opts *o;
	int fd, ok;
};

static void h2ch_new_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;
	struct h2ch_new_arg *a = arg;

	task_init(&h->disp, h->thr, h2ch_disp_cb, h);
	h->c = h2c_new_client(h->thr, 0, h->pool, a->fd, &a->o->set, &h2ch_cbs, h);
	a->ok = h->c != NULL;
	if (a->ok && a->o->first) {
		h2ch_slot_set(&h->slot[0], a->o->first);
		h->slot[0].direct = 1;
		h->nb = 1;
		if (h2ch_open(h, 0) < 0)
			h2ch_open_failed(h, 0);
	}
}

struct h2ch *h2ch_start(const struct h2ch_opts *o, int fd)
{
	struct pool_config pc = { .nbthread = 1, .limit = o->pool_limit, .reserve = o->pool_reserve };
	struct h2ch *h = calloc(1, sizeof(*h));
	struct h2ch_new_arg a = { o, fd, 0 };

	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->mem_at_close = -1;
	h->pool = pool_create(&pc);
	h->sched = sched_create(1);
	if (!h->pool || !h->sched)
		goto fail;
	h->thr = sched_thread_get(h->sched, 0);
	if (sched_start(h->sched) < 0)
		goto fail;
	/* h->c may already be NULL again: a failed connect closes at once */
	if (h2h_run_on(h->thr, h2ch_new_fn, h, &a) < 0 || !a.ok) {
		sched_stop(h->sched);
		sched_join(h->sched);
		goto fail;
	}
	return h;
fail:
	fprintf(stderr, "h2ch_start failed\n");
	return NULL;
}

/* Copies request <r> and its strings into <sl>. */
static void h2ch_slot_set(struct h2ch_slot *sl, const struct h2ch_req *r)
{
	sl->req = *r;
	snprintf(sl->method, sizeof(sl->method), "%s", r->method);
	snprintf(sl->path, sizeof(sl->path), "%s", r->path);
	snprintf(sl->extra, sizeof(sl->extra), "%s", r->extra ? r->extra : "");
	snprintf(sl->tail, sizeof(sl->tail), "%s", r->tail ? r->tail : "");
	sl->req.method = sl->method;
	sl->req.path = sl->path;
	sl->req.extra = sl->extra;
	sl->req.tail = sl->tail;
}

int h2ch_submit(struct h2ch *h, const struct h2ch_req *r)
{
	int i;

	pthread_mutex_lock(&h->lock);
	if (h->nb >= H2CH_MAX_REQ) {
		pthread_mutex_unlock(&h->lock);
		return -1;
	}
	i = (int)h->nb++;
	h2ch_slot_set(&h->slot[i], r);
	pthread_mutex_unlock(&h->lock);
	task_wakeup(&h->disp, SCHED_R_WAKE);
	return i;
}

struct h2ch_now_arg {
	int idx, err, rv;
};

static void h2ch_now_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;
	struct h2ch_now_arg *a = arg;

	if (h->next_open == (unsigned)a->idx)
		h->next_open++;
	a->rv = h2ch_open(h, a->idx);
	a->err = a->rv < 0 ? errno : 0;
	if (a->rv < 0)
		h2ch_open_failed(h, a->idx);
}

int h2ch_open_now(struct h2ch *h, const struct h2ch_req *r, int *err)
{
	struct h2ch_now_arg a = { 0 };

	pthread_mutex_lock(&h->lock);
	if (h->nb >= H2CH_MAX_REQ) {
		pthread_mutex_unlock(&h->lock);
		return -1;
	}
	a.idx = (int)h->nb++;
	h2ch_slot_set(&h->slot[a.idx], r);
	h->slot[a.idx].direct = 1;
	pthread_mutex_unlock(&h->lock);
	if (h2h_run_on(h->thr, h2ch_now_fn, h, &a) < 0)
		return -1;
	*err = a.err;
	return a.rv < 0 ? -1 : a.idx;
}

unsigned h2ch_ended(struct h2ch *h)
{
	unsigned v;

	pthread_mutex_lock(&h->lock);
	v = h->ended;
	pthread_mutex_unlock(&h->lock);
	return v;
}

void h2ch_result(struct h2ch *h, int i, struct h2ch_res *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->slot[i].res;
	pthread_mutex_unlock(&h->lock);
}

static void h2ch_max_held_fn(void *ctx, void *arg)
{
	*(unsigned *)arg = ((struct h2ch *)ctx)->max_held;
}

unsigned h2ch_max_held(struct h2ch *h)
{
	unsigned v = 0;

	(void)h2h_run_on(h->thr, h2ch_max_held_fn, h, &v);
	return v;
}

static void h2ch_room_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;

	*(unsigned *)arg = h->c ? h2c_open_room(h->c) : 0;
}

unsigned h2ch_room(struct h2ch *h)
{
	unsigned v = 0;

	(void)h2h_run_on(h->thr, h2ch_room_fn, h, &v);
	return v;
}

int h2ch_closed(struct h2ch *h)
{
	int v;

	pthread_mutex_lock(&h->lock);
	v = h->closed;
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void h2ch_stats_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;

	if (h->c)
		h2c_get_stats(h->c, arg);
	else
		*(struct h2c_stats *)arg = h->final;
}

void h2ch_stats(struct h2ch *h, struct h2c_stats *out)
{
	memset(out, 0, sizeof(*out));
	(void)h2h_run_on(h->thr, h2ch_stats_fn, h, out);
}

long h2ch_mem_at_close(struct h2ch *h)
{
	long v;

	pthread_mutex_lock(&h->lock);
	v = h->mem_at_close;
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void h2ch_shutdown_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;

	if (h->c)
		h2c_shutdown(h->c);
}

void h2ch_shutdown(struct h2ch *h)
{
	(void)h2h_run_on(h->thr, h2ch_shutdown_fn, h, NULL);
}

unsigned h2ch_wait(struct h2ch *h, unsigned n, int ms)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;
	unsigned v;

	while ((v = h2ch_ended(h)) < n && h2h_now_ms() < end)
		usleep(2000);
	return v;
}

int64_t h2ch_wait_idle(struct h2ch *h, int ms)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;
	struct pool_stats ps;

	for (;;) {
		pool_stats(h->pool, -1u, &ps);
		if (!ps.in_use || h2h_now_ms() >= end)
			return ps.in_use;
		usleep(1000);
	}
}

static void h2ch_abort_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;

	if (h->c)
		h2c_abort(h->c, 0);
}

static void h2ch_kill_disp_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;

	task_kill(&h->disp, 0);
}

long h2ch_stop(struct h2ch *h)
{
	uint64_t end = h2h_now_ms() + 3000;
	struct pool_stats ps;
	unsigned i;

	(void)h2h_run_on(h->thr, h2ch_abort_fn, h, NULL);
	while (__atomic_load_n(&h->live, __ATOMIC_ACQUIRE) && h2h_now_ms() < end)
		usleep(1000);
	(void)h2ch_wait_idle(h, 2000);
	(void)h2h_run_on(h->thr, h2ch_kill_disp_fn, h, NULL);
	sched_stop(h->sched);
	sched_join(h->sched);
	pool_stats(h->pool, -1u, &ps);
	if (ps.in_use == 0)
		pool_destroy(h->pool);
	sched_destroy(h->sched);
	for (i = 0; i < h->nb; i++)
		free(h->slot[i].resp);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return (long)ps.in_use;
}

/* ---- srv ---- */

static struct srv_stream *srv_stream_of(nghttp2_session *sess, int32_t id)
{
	return nghttp2_session_get_stream_user_data(sess, id);
}

static int srv_on_begin(nghttp2_session *sess, const nghttp2_frame *f, void *user)
{
	struct srv *s = user;
	struct srv_stream *st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (s->nb >= sizeof(s->st) / sizeof(s->st[0]))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	st = &s->st[s->nb++];
	memset(st, 0, sizeof(*st));
	st->id = f->hd.stream_id;
	st->fnv = 2166136261u;
	if (++s->open > s->peak_open)
		s->peak_open = s->open;
	return nghttp2_session_set_stream_user_data(sess, st->id, st) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* Copies <vl> bytes at <v> as a C string into <dst> of <size> bytes. */
static void srv_copy(char *dst, size_t size, const uint8_t *v, size_t vl)
{
	snprintf(dst, size, "%.*s", (int)vl, (const char *)v);
}

static int srv_on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *n, size_t nl,
			 const uint8_t *v, size_t vl, uint8_t flags, void *user)
{
	struct srv_stream *st = srv_stream_of(sess, f->hd.stream_id);
	size_t len;

	if (!st || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (nl == 7 && !memcmp(n, ":method", 7))
		srv_copy(st->method, sizeof(st->method), v, vl);
	else if (nl == 5 && !memcmp(n, ":path", 5))
		srv_copy(st->path, sizeof(st->path), v, vl);
	else if (nl == 10 && !memcmp(n, ":authority", 10))
		srv_copy(st->authority, sizeof(st->authority), v, vl);
	else if (nl && n[0] != ':' && (len = strlen(st->hdrs)) + nl + vl + 4 < sizeof(st->hdrs))
		snprintf(st->hdrs + len, sizeof(st->hdrs) - len, "%.*s: %.*s\n", (int)nl,
			 (const char *)n, (int)vl, (const char *)v);
	return 0;
}

static int srv_on_data(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
		       void *user)
{
	struct srv_stream *st = srv_stream_of(sess, id);

	if (st) {
		st->body_len += len;
		st->fnv = h2h_fnv(st->fnv, d, len);
	}
	return 0;
}

static ssize_t srv_body_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
			     uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct srv_stream *st = src->ptr;
	uint64_t n = st->resp_len - st->resp_sent;

	if (n > len)
		n = len;
	for (uint64_t i = 0; i < n; i++)
		buf[i] = h2h_pat(st->resp_sent + i);
	st->resp_sent += n;
	if (st->resp_sent == st->resp_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define SNV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

/* Answers stream <st> according to its path. */
static void srv_answer(struct srv *s, struct srv_stream *st)
{
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = srv_body_read };
	char len[32], fnv[32];
	nghttp2_nv nva[4] = { SNV(":status", "200"), SNV("x-srv", "raw") };
	size_t nb = 2;
	unsigned long long n = 0;
	int with_cl = 1, body = 1;

	st->answered = 1;
	if (!strcmp(st->path, "/rst")) {
		(void)nghttp2_submit_rst_stream(s->sess, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	if (!strcmp(st->method, "HEAD")) {
		nva[nb++] = (nghttp2_nv)SNV("content-length", "1234");
		(void)nghttp2_submit_response(s->sess, st->id, nva, nb, NULL);
		return;
	}
	if (!strcmp(st->path, "/204")) {
		nva[0] = (nghttp2_nv)SNV(":status", "204");
		(void)nghttp2_submit_response(s->sess, st->id, nva, nb, NULL);
		return;
	}
	if (!strcmp(st->path, "/bighdr")) {
		static char big[8001];

		memset(big, 'b', sizeof(big) - 1);
		nva[nb++] = (nghttp2_nv)SNV("x-big", big);
		(void)nghttp2_submit_response(s->sess, st->id, nva, nb, NULL);
		return;
	}
	if (!strcmp(st->path, "/echo")) {
		snprintf(len, sizeof(len), "%llu", (unsigned long long)st->body_len);
		snprintf(fnv, sizeof(fnv), "%u", st->fnv);
		nva[nb++] = (nghttp2_nv)SNV("x-len", len);
		nva[nb++] = (nghttp2_nv)SNV("x-fnv", fnv);
		(void)nghttp2_submit_response(s->sess, st->id, nva, nb, NULL);
		return;
	}
	if (sscanf(st->path, "/nocl/%llu", &n) == 1) {
		with_cl = 0;
	} else if (sscanf(st->path, "/100/%llu", &n) == 1) {
		nghttp2_nv cont[] = { SNV(":status", "100") };

		(void)nghttp2_submit_headers(s->sess, NGHTTP2_FLAG_NONE, st->id, NULL, cont, 1, NULL);
	} else if (sscanf(st->path, "/cl/%llu", &n) != 1) {
		n = 0;
		body = 0;
	}
	st->resp_len = n;
	if (with_cl) {
		snprintf(len, sizeof(len), "%llu", n);
		nva[nb++] = (nghttp2_nv)SNV("content-length", len);
	}
	(void)nghttp2_submit_response(s->sess, st->id, nva, nb, body && (n || !with_cl) ? &prd : NULL);
}

static int srv_on_frame(nghttp2_session *sess, const nghttp2_frame *f, void *user)
{
	struct srv *s = user;
	struct srv_stream *st;

	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = srv_stream_of(sess, f->hd.stream_id);
	if (!st)
		return 0;
	st->ended = 1;
	if (!s->hold_all && strcmp(st->path, "/hold"))
		srv_answer(s, st);
	return 0;
}

static int srv_on_close(nghttp2_session *sess, int32_t id, uint32_t code, void *user)
{
	struct srv *s = user;
	struct srv_stream *st = srv_stream_of(sess, id);

	if (st) {
		st->closed = 1;
		st->close_code = code;
		s->open--;
	}
	return 0;
}

int srv_init(struct srv *s, int fd, uint32_t max_streams)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams } };
	int rv;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	if (nghttp2_session_callbacks_new(&cbs))
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, srv_on_begin);
	nghttp2_session_callbacks_set_on_header_callback(cbs, srv_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, srv_on_close);
	rv = nghttp2_session_server_new(&s->sess, cbs, s);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -1;
	return nghttp2_submit_settings(s->sess, NGHTTP2_FLAG_NONE, iv, 1) ? -1 : 0;
}

void srv_free(struct srv *s)
{
	nghttp2_session_del(s->sess);
	free(s->out.buf);
	s->out = (struct h2h_out){ 0 };
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Writes the server's pending output; returns -1 when the socket failed. */
static int srv_flush(struct srv *s)
{
	return h2h_flush(s->fd, s->sess, &s->out, &s->failed);
}

void srv_pump(struct srv *s, int ms, int (*stop)(struct srv *s, void *arg), void *arg)
{
	uint64_t end = h2h_now_ms() + (uint64_t)ms;
	static __thread uint8_t in[65536];

	while (h2h_now_ms() < end && !s->eof && !s->failed) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		ssize_t n;

		if (srv_flush(s) < 0)
			s->out.len = 0;
		if (stop && stop(s, arg))
			return;
		if (s->out.len)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, 5) <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(s->fd, in, sizeof(in), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			s->eof = 1;
		else if (n > 0 && nghttp2_session_mem_recv(s->sess, in, (size_t)n) < 0)
			s->failed = 1;
	}
	(void)srv_flush(s);
}

void srv_release_held(struct srv *s, int32_t max_id)
{
	unsigned i;

	for (i = 0; i < s->nb; i++)
		if (s->st[i].ended && !s->st[i].answered && !s->st[i].closed && s->st[i].id <= max_id)
			srv_answer(s, &s->st[i]);
}

struct srv_stream *srv_find(struct srv *s, const char *path)
{
	unsigned i;

	for (i = 0; i < s->nb; i++)
		if (!strcmp(s->st[i].path, path))
			return &s->st[i];
	return NULL;
}

/* ---- diagnostics ---- */

static void h2ch_dump_fn(void *ctx, void *arg)
{
	struct h2ch *h = ctx;
	struct h2c *c = h->c;
	struct pool_stats ps;
	struct h2s *s;

	pool_stats(h->pool, -1u, &ps);
	fprintf(stderr, "client pool: in_use %lld waiting %llu\n", (long long)ps.in_use,
		(unsigned long long)ps.waiting);
	if (!c) {
		fprintf(stderr, "client h2c closed\n");
		return;
	}
	fprintf(stderr, "client h2c flags %#x streams %u held %u open %u want r%d w%d out_len %zu "
		"dbuf %s/%zu dwait %d mbuf %s/%zu mwait %d rx_s %d rx_len %zu stash %zu "
		"recv-unacked %d local-win %d\n",
		c->flags, c->nb_streams, c->nb_held, c->nb_open, nghttp2_session_want_read(c->sess),
		nghttp2_session_want_write(c->sess), c->out_len, b_is_null(&c->dbuf) ? "-" : "B",
		b_data(&c->dbuf), pool_wait_state(&c->dwait), b_is_null(&c->mbuf) ? "-" : "B",
		b_data(&c->mbuf), pool_wait_state(&c->mwait), c->rx_s ? c->rx_s->id : 0, c->rx_len,
		c->stash_total, nghttp2_session_get_effective_recv_data_length(c->sess),
		nghttp2_session_get_local_window_size(c->sess));
	for (s = c->streams; s; s = s->next) {
		if (!s->id)
			continue;
		fprintf(stderr, "  s%d flags %#x ep %#x stash %zu owed %zu recv-unacked %d\n", s->id, s->flags,
			s->ep.flags, s->rx_stash.len - s->rx_stash_off, s->rx_conn_owed,
			nghttp2_session_get_stream_effective_recv_data_length(c->sess, s->id));
	}
}

void h2ch_dump(struct h2ch *h)
{
	(void)h2h_run_on(h->thr, h2ch_dump_fn, h, NULL);
}

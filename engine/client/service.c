/* service.c - host services: applets whose code the embedding program
 * writes (sluice.h, "services"), and the built-in prometheus-exporter.
 *
 * A service stands where a server would: the stream stays in ST_FORWARD
 * with no server endpoint, the request channel receives the body for the
 * service to read (flow-controlled: bytes it has not consumed keep their
 * place, and a full buffer stops the client), and the service writes the
 * response at the tail of the response channel's buffer, which the
 * stream's byte moving sends. The response buffer is taken at response
 * level, like the engine's own answers: when the pool refuses, the channel
 * subscribes its one wait entry, the write says SLUICE_IO_WOULD_BLOCK, and
 * the hand-off wakes the stream's I/O tasklet, whose byte moving calls the
 * service's resume() (svc_pump). The service never holds a second buffer:
 * it writes into the one the channel has, and a drained buffer goes back
 * to the pool before the next is asked for.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/client/hostapi.h"
#include "engine/client/stream_int.h"

/* Room kept for a chunk's framing: an 8-digit size line and the CRLF
 * after the data. */
#define SVC_CHUNK_FRAMING 12

/* Where the answer stands. */
enum svc_state {
	SVC_HEAD = 0,   /* no head written yet */
	SVC_BODY,       /* head written, body being written */
	SVC_DONE,       /* finished: no more resume() */
};

struct sluice_svc {
	struct stream *s;
	const struct host_service *hs;
	void *ctx;                /* the host's */
	enum svc_state st;
	int chunked;              /* body framed as chunks (HTTP/1.1, no length) */
	int no_body;              /* HEAD request: body bytes are dropped */
	int64_t left;             /* announced length: bytes still due, else -1 */
	int kick;                 /* resume() once after start(): the head no
	                           * longer holds the request buffer then */
	int blocked;              /* a write would block: resume on room */
	int in_cb;                /* inside one of its callbacks */
	size_t body_seen;         /* request bytes readable after its last call */
	int end_seen;             /* the body's end was readable then */
	struct h1_body ck;        /* decoder of a chunked request body */
};

/* ---- reading the body ---- */

void sluice_svc_set_ctx(struct sluice_svc *v, void *ctx) { v->ctx = ctx; }
void *sluice_svc_ctx(const struct sluice_svc *v) { return v->ctx; }

enum sluice_io sluice_svc_body(struct sluice_svc *v, const void **data, size_t *len)
{
	struct stream *s = v->s;
	struct chan *ch = &s->req;
	struct buf *b = &ch->buf;

	*data = NULL;
	*len = 0;
	if (ch->body.mode == H1_BODY_NONE)
		return SLUICE_IO_END;
	if (s->st != ST_FORWARD)
		return SLUICE_IO_WOULD_BLOCK; /* still in start(): comes with resume() */
	if (ch->body.mode == H1_BODY_CHUNKED) {
		/* skip framing up to chunk data, within what the stream
		 * scanned (ch->fwd), so both decoders agree on every byte */
		while (ch->fwd && !v->ck.done && !h1_chunk_data_left(&v->ck)) {
			size_t n = b_contig_data(b) < ch->fwd ? b_contig_data(b) : ch->fwd;
			long k = h1_chunk_framing(&v->ck, b_head(b), n);

			if (k <= 0)
				break;
			b_del(b, (size_t)k);
			ch->fwd -= (size_t)k;
		}
		if (v->ck.done)
			return SLUICE_IO_END;
		if (!ch->fwd || !h1_chunk_data_left(&v->ck))
			return SLUICE_IO_WOULD_BLOCK;
		*len = b_contig_data(b) < ch->fwd ? b_contig_data(b) : ch->fwd;
		if (*len > h1_chunk_data_left(&v->ck))
			*len = (size_t)h1_chunk_data_left(&v->ck);
	} else {
		if (!ch->fwd)
			return ch->st == CH_DONE ? SLUICE_IO_END : SLUICE_IO_WOULD_BLOCK;
		*len = b_contig_data(b) < ch->fwd ? b_contig_data(b) : ch->fwd;
	}
	*data = b_head(b);
	return SLUICE_IO_OK;
}

void sluice_svc_body_consume(struct sluice_svc *v, size_t n)
{
	struct chan *ch = &v->s->req;

	if (n > ch->fwd || b_is_null(&ch->buf))
		return;
	if (ch->body.mode == H1_BODY_CHUNKED) {
		if (n > h1_chunk_data_left(&v->ck))
			return;
		h1_chunk_data_took(&v->ck, n);
	}
	b_del(&ch->buf, n);
	ch->fwd -= n;
	/* an empty request buffer goes back at once; the next receive takes
	 * one again */
	chan_release_if_empty(v->s, ch);
}

/* ---- writing the answer ---- */

/* Makes sure the response channel has a buffer. Returns its free bytes
 * (0 when it waits for one: the hand-off will resume the service). */
static size_t svc_space(struct sluice_svc *v)
{
	struct stream *s = v->s;
	struct buf *b = &s->res.buf;

	if (!chan_get_buf(s, &s->res))
		return 0;
	if (b_empty(b))
		b_reset(b);
	return b_room(b);
}

/* Accounts <n> bytes appended to the response: they may all leave. */
static void svc_added(struct sluice_svc *v, size_t n)
{
	struct stream *s = v->s;

	s->res.fwd = b_data(&s->res.buf);
	s->moved += n;
}

/* Says the service waits for room, and gives back a buffer it did not use. */
static enum sluice_io svc_block(struct sluice_svc *v)
{
	v->blocked = 1;
	chan_release_if_empty(v->s, &v->s->res);
	return SLUICE_IO_WOULD_BLOCK;
}

enum sluice_io sluice_svc_head(struct sluice_svc *v, int status, const struct sluice_header *hdrs,
			       unsigned nb, int64_t clen)
{
	struct stream *s = v->s;
	char *head = s->tc->trash;
	size_t size = s->tc->eng->cfg->g.bufsize, len, space;
	int n;

	if (v->st != SVC_HEAD || status < 200 || status > 599)
		return SLUICE_IO_ERROR;
	v->chunked = clen < 0 && s->req_version >= 11;
	/* an HTTP/1.0 client learns where a streamed body ends by the close */
	if (clen < 0 && !v->chunked)
		s->cli_close = 1;
	n = snprintf(head, size, "HTTP/1.1 %d %s\r\n", status, h1_reason(status));
	for (unsigned i = 0; i < nb && n > 0 && (size_t)n < size; i++) {
		if (!hdrs[i].name || !hdrs[i].value || strpbrk(hdrs[i].name, "\r\n:") ||
		    strpbrk(hdrs[i].value, "\r\n"))
			return SLUICE_IO_ERROR;
		n += snprintf(head + n, size - (size_t)n, "%s: %s\r\n", hdrs[i].name, hdrs[i].value);
	}
	if (n > 0 && (size_t)n < size) {
		if (clen >= 0)
			n += snprintf(head + n, size - (size_t)n, "Content-Length: %lld\r\n", (long long)clen);
		else if (v->chunked)
			n += snprintf(head + n, size - (size_t)n, "Transfer-Encoding: chunked\r\n");
	}
	if (n > 0 && (size_t)n < size)
		n += snprintf(head + n, size - (size_t)n, "%s\r\n",
			      s->cli_close ? "Connection: close\r\n" :
			      s->req_version == 10 ? "Connection: keep-alive\r\n" : "");
	if (n < 0 || (size_t)n >= size)
		return SLUICE_IO_ERROR; /* a head larger than a buffer */
	len = (size_t)n;
	space = svc_space(v);
	if (space < len)
		return svc_block(v);
	b_putblk(&s->res.buf, head, len);
	svc_added(v, len);
	v->st = SVC_BODY;
	v->left = clen;
	v->no_body = s->req_meth == H1_M_HEAD;
	s->rsp_started = 1;
	s->log_status = status;
	s->log_tr = (int64_t)(tc_now(s->tc) - s->log_fwd_ms);
	CNT_INC(s->tc, rsp_by_class[status / 100]);
	return SLUICE_IO_OK;
}

enum sluice_io sluice_svc_room(struct sluice_svc *v, size_t *room)
{
	size_t space;

	*room = 0;
	if (v->st != SVC_BODY)
		return SLUICE_IO_ERROR;
	if (v->no_body) {
		/* an answer to HEAD: bytes are counted, never stored */
		*room = SIZE_MAX / 2;
		return SLUICE_IO_OK;
	}
	space = svc_space(v);
	if (v->chunked)
		space = space > SVC_CHUNK_FRAMING ? space - SVC_CHUNK_FRAMING : 0;
	if (!space)
		return svc_block(v);
	*room = space;
	return SLUICE_IO_OK;
}

enum sluice_io sluice_svc_write(struct sluice_svc *v, const void *data, size_t len, size_t *written)
{
	struct buf *b = &v->s->res.buf;
	size_t room, n;
	char line[16];

	if (written)
		*written = 0;
	if (v->st != SVC_BODY || (v->left >= 0 && (uint64_t)v->left < len))
		return SLUICE_IO_ERROR;
	if (v->no_body || !len) {
		if (v->left >= 0)
			v->left -= (int64_t)len;
		if (written)
			*written = len;
		return SLUICE_IO_OK;
	}
	if (sluice_svc_room(v, &room) != SLUICE_IO_OK)
		return SLUICE_IO_WOULD_BLOCK;
	n = len < room ? len : room;
	if (v->chunked) {
		/* a zero-padded size: the framing's width is known first */
		snprintf(line, sizeof(line), "%08zx\r\n", n);
		b_putblk(b, line, 10);
		b_putblk(b, data, n);
		b_putblk(b, "\r\n", 2);
		svc_added(v, n + SVC_CHUNK_FRAMING);
	} else {
		b_putblk(b, data, n);
		svc_added(v, n);
	}
	if (v->left >= 0)
		v->left -= (int64_t)n;
	if (written)
		*written = n;
	if (n < len) {
		v->blocked = 1;
		return SLUICE_IO_WOULD_BLOCK;
	}
	return SLUICE_IO_OK;
}

enum sluice_io sluice_svc_finish(struct sluice_svc *v)
{
	struct stream *s = v->s;

	/* an answer to HEAD need not produce the body it announced */
	if (v->st != SVC_BODY || (v->left > 0 && !v->no_body))
		return SLUICE_IO_ERROR;
	if (v->chunked && !v->no_body) {
		if (svc_space(v) < 5)
			return svc_block(v);
		b_putblk(&s->res.buf, "0\r\n\r\n", 5);
		svc_added(v, 5);
	}
	v->st = SVC_DONE;
	s->res.st = CH_DONE;
	chan_release_if_empty(s, &s->res);
	return SLUICE_IO_OK;
}

/* ---- the applet's life ---- */

int svc_begin(struct stream *s, int idx, struct h1_msg *m, struct buf *b)
{
	struct engine *e = s->tc->eng;
	struct sluice_svc *v;
	struct sluice_req r = { .s = s, .m = m, .b = b, .read_only = 1, .head0 = m->head_len, .svc_idx = -1 };
	enum sluice_result ret;

	if (idx < 0 || (unsigned)idx >= e->host.nb_svcs)
		return -1;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -1;
	v->s = s;
	v->hs = &e->host.svcs[idx];
	v->left = -1;
	v->kick = 1;
	v->ck = s->req.body; /* the framing as h1_body_init() set it up */
	s->svc = v;
	s->res.st = CH_BODY; /* what the service writes is never parsed */
	s->log_fwd_ms = tc_now(s->tc);
	v->in_cb = 1;
	ret = v->hs->ops->start(v, &r, v->hs->arg);
	v->in_cb = 0;
	return ret == SLUICE_OK ? 0 : -1;
}

int svc_pump(struct stream *s)
{
	struct sluice_svc *v = s->svc;
	int call;

	if (!v || v->st == SVC_DONE || v->in_cb)
		return 0;
	call = v->kick || s->req.fwd != v->body_seen || (s->req.st == CH_DONE) != v->end_seen;
	/* a blocked writer goes on once there is room again (a buffer handed
	 * over, or the client took what was written) */
	if (!call && v->blocked) {
		const struct buf *b = &s->res.buf;

		call = b_is_null(b) ? pool_wait_state(&s->res.wait) == POOL_WAIT_IDLE
		                    : b_room(b) > SVC_CHUNK_FRAMING + 16;
	}
	if (!call)
		return 0;
	v->kick = 0;
	v->blocked = 0;
	v->in_cb = 1;
	v->hs->ops->resume(v, v->hs->arg);
	v->in_cb = 0;
	v->body_seen = s->req.fwd;
	v->end_seen = s->req.st == CH_DONE;
	chan_release_if_empty(s, &s->res);
	return v->st == SVC_DONE;
}

void svc_detach(struct stream *s)
{
	struct sluice_svc *v = s->svc;

	if (!v)
		return;
	s->svc = NULL;
	if (v->hs->ops->end)
		v->hs->ops->end(v, v->st != SVC_DONE, v->hs->arg);
	/* the body the service left unread is not the next request */
	if (!b_is_null(&s->req.buf) && s->req.fwd)
		b_del(&s->req.buf, s->req.fwd);
	s->req.fwd = 0;
	if (s->req.st != CH_DONE)
		s->cli_close = 1;
	chan_release_if_empty(s, &s->req);
	free(v);
}

/* ---- prometheus-exporter ---- */

/* The exporter's state for one scrape. */
struct svc_prom {
	enum statspage_fmt fmt;
	struct statspage_data *sp;
	struct statspage_cursor cur;
};

/* Reads the scrape's Accept header with the stats applet's own
 * negotiation; the snapshot waits for the first resume(), when the request
 * no longer holds a buffer, so that a quiet proxy shows none in use. */
static enum sluice_result prom_start(struct sluice_svc *v, const struct sluice_req *r, void *arg)
{
	struct svc_prom *p = calloc(1, sizeof(*p));

	(void)arg;
	if (!p)
		return SLUICE_E_NOMEM;
	p->fmt = stream_stats_prom_fmt(r->m, b_head(r->b));
	sluice_svc_set_ctx(v, p);
	return SLUICE_OK;
}

/* Writes the page a piece at a time, rendered straight into the room the
 * response buffer has (through the thread's scratch area). */
static void prom_resume(struct sluice_svc *v, void *arg)
{
	struct svc_prom *p = sluice_svc_ctx(v);
	struct stream *s = v->s;
	size_t room, n;

	(void)arg;
	if (v->st == SVC_HEAD) {
		struct sluice_header h[] = {
			{ "Content-Type", statspage_content_type(p->fmt) },
			{ "Cache-Control", "no-cache" },
		};

		if (!p->sp)
			p->sp = statspage_collect(s->tc->eng, 0);
		if (!p->sp || sluice_svc_head(v, 200, h, 2, -1) != SLUICE_IO_OK)
			return; /* no memory: the client timeout ends it; else resumed */
	}
	while (!p->cur.done) {
		if (sluice_svc_room(v, &room) != SLUICE_IO_OK)
			return;
		if (room > s->tc->eng->cfg->g.bufsize)
			room = s->tc->eng->cfg->g.bufsize;
		n = statspage_render(p->fmt, p->sp, &p->cur, s->tc->trash, room);
		if (!n && !p->cur.done) {
			v->blocked = 1; /* the next piece needs more room */
			return;
		}
		if (n && sluice_svc_write(v, s->tc->trash, n, NULL) != SLUICE_IO_OK)
			return;
	}
	statspage_free(p->sp);
	p->sp = NULL;
	(void)sluice_svc_finish(v);
}

static void prom_end(struct sluice_svc *v, int aborted, void *arg)
{
	struct svc_prom *p = sluice_svc_ctx(v);

	(void)aborted;
	(void)arg;
	if (p)
		statspage_free(p->sp);
	free(p);
}

const struct sluice_service_ops svc_prom_ops = {
	.start = prom_start,
	.resume = prom_resume,
	.end = prom_end,
};

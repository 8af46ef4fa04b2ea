/* h2_conn.c - the HTTP/2 connection, in either role: socket, demux/mux
 * buffers taken on demand, the accounted nghttp2 allocator, and the
 * connection's life. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "mux/h2_int.h"
#include "pool/usable.h"

/* recv() calls per tasklet run before yielding to other tasklets */
#define H2C_RX_ROUNDS 8

/* ---- accounted memory ---- */

/* A block is accounted at its usable size (what the allocator really set
 * aside, size class included), read back when it is freed or resized. The
 * blocks come from pool/usable.h's allocator family, which an embedding
 * program's malloc() cannot mix up. No size header is added in front of a
 * block: such a header would push nghttp2's 1 KiB HPACK rings into the
 * next size class (1280 B in jemalloc) and grow every small block that an
 * idle connection keeps. */

/* Returns non-zero when growing the account of <c> by <n> bytes stays
 * under the hard cap. Crossing the soft cap (mem_cap) only flags the
 * connection: nghttp2 gets its memory, and the session is ended with
 * ENHANCE_YOUR_CALM as soon as control comes back to us. */
static int h2_mem_admit(struct h2c *c, size_t n)
{
	if (n > c->mem_hard || c->mem_cur > c->mem_hard - n) {
		c->flags |= H2C_CALM;
		return 0;
	}
	return 1;
}

/* Adds <d> (which may be negative) to the heap gauge of <c>, if any. One
 * writer per gauge (the connections' thread): a relaxed load and store. */
static void h2_mem_gauge(struct h2c *c, int64_t d)
{
	if (c->heap_gauge)
		__atomic_store_n(c->heap_gauge,
				 __atomic_load_n(c->heap_gauge, __ATOMIC_RELAXED) + (uint64_t)d,
				 __ATOMIC_RELAXED);
}

/* Records <n> more bytes held by <c>. */
static void h2_mem_grow(struct h2c *c, size_t n)
{
	c->mem_cur += n;
	h2_mem_gauge(c, (int64_t)n);
	if (c->mem_cur > c->st.mem_peak)
		c->st.mem_peak = c->mem_cur;
	if (c->mem_cur > c->mem_cap)
		c->flags |= H2C_CALM;
}

/* ---- pages given back while idle ----
 *
 * A quiet HTTP/2 connection keeps what nghttp2 allocated with its session.
 * Two kinds of it can go back to the kernel without changing a byte that
 * nghttp2 could read, so blocks of a page or more are allocated apart,
 * page-aligned and page-rounded (no other object shares their pages), and
 * h2c_trim() gives back:
 *  - all the pages of the outbound frame buffer: nghttp2 keeps one chunk of
 *    NGHTTP2_FRAMEBUF_CHUNKLEN bytes (frame header, pad length, largest
 *    payload) for the session's life, grown by chunks of the same size for
 *    a long header block and cut back to one after that frame (its
 *    lib/nghttp2_session.h and nghttp2_buf.c). It is scratch for the frame
 *    being sent: nghttp2_session_mem_send() packs a frame into it and
 *    returns a pointer into it, valid until the next call, which resets
 *    the buffer before packing the next frame; nothing there is read back
 *    across frames. Once everything nghttp2 gave us has left (want_write
 *    is 0 and none of its output waits here), the contents are dead;
 *  - any other page of such a block that holds only zeros (nghttp2's
 *    stream map's table while it knows no stream): a page given back
 *    reads as zeros again, so nothing changes for nghttp2 whatever the
 *    block is.
 * MADV_DONTNEED keeps the mapping; a page written again is faulted back in
 * zero-filled. */
#define H2_FRAMEBUF_CHUNK (9 + 1 + 16384)

/* Returns the system's page size. getpagesize() reads what the loader
 * recorded, where sysconf() walks its switch on every nghttp2 allocation. */
static size_t h2_page(void)
{
	return (size_t)getpagesize();
}

/* Returns <n> rounded up to whole pages. */
static size_t h2_big_span(size_t n)
{
	size_t pg = h2_page();

	return (n + pg - 1) / pg * pg;
}

/* Allocates a block of <n> bytes (a page or more) for <c> on pages of its
 * own, in a free slot. Returns it, or NULL (no free slot, past the cap, or
 * no memory: the caller then takes the usual way, which fails likewise
 * past the cap). */
static void *h2_big_alloc(struct h2c *c, size_t n)
{
	void *p;

	for (unsigned i = 0; i < H2C_BIG_SLOTS; i++) {
		if (c->big[i].p)
			continue;
		if (!h2_mem_admit(c, n) || posix_memalign(&p, h2_page(), h2_big_span(n)) != 0)
			return NULL;
		c->big[i].p = p;
		c->big[i].size = n;
		h2_mem_grow(c, n);
		return p;
	}
	return NULL;
}

/* Returns the slot of <c> holding <p>, or -1. */
static int h2_big_find(const struct h2c *c, const void *p)
{
	for (unsigned i = 0; i < H2C_BIG_SLOTS; i++)
		if (c->big[i].p == p)
			return (int)i;
	return -1;
}

/* Frees <p> if it is a block of a slot of <c>. Returns 1 if it was. */
static int h2_big_free(struct h2c *c, void *p)
{
	int i = h2_big_find(c, p);

	if (i < 0)
		return 0;
	c->mem_cur -= c->big[i].size;
	h2_mem_gauge(c, -(int64_t)c->big[i].size);
	c->big[i].p = NULL;
	free(p);
	return 1;
}

/* Returns non-zero when the <len> bytes at <p> are all zero. */
static int h2_all_zero(const unsigned char *p, size_t len)
{
	return !len || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Gives back the pages of the block in slot <b>: all of them when <dead>
 * (contents no longer needed), else those holding only zeros. Returns the
 * bytes given back that were resident. */
static size_t h2_big_trim(const struct h2_big *b, int dead)
{
	size_t pg = h2_page(), span = h2_big_span(b->size), done = 0;
	unsigned char res;

	for (size_t off = 0; off < span; off += pg) {
		unsigned char *page = (unsigned char *)b->p + off;

		/* a page that is not resident costs nothing and is not read:
		 * reading it would fault it in */
		if (mincore(page, pg, &res) == 0 && !(res & 1))
			continue;
		if (!dead && !h2_all_zero(page, pg))
			continue;
		if (madvise(page, pg, MADV_DONTNEED) == 0)
			done += pg;
	}
	return done;
}

int h2c_trim(struct h2c *c, size_t *released)
{
	*released = 0;
	if (c->state >= H2C_CLOSED || !c->sess)
		return 0;
	if (c->nb_streams || c->out_len || !b_empty(&c->mbuf) || c->busy ||
	    nghttp2_session_want_write(c->sess))
		return 1;
	for (unsigned i = 0; i < H2C_BIG_SLOTS; i++)
		if (c->big[i].p)
			*released += h2_big_trim(&c->big[i], c->big[i].size == H2_FRAMEBUF_CHUNK);
	return 0;
}

/* Takes the block <p> just obtained from usable_malloc(<asked>) on the
 * account of <c> at its usable size. Returns <p>, or NULL (the block
 * freed) when that size passes the hard cap: the admission checked the
 * size asked, and a size class may be a little larger. */
static void *h2_mem_take(struct h2c *c, void *p, size_t asked)
{
	size_t got = usable_size_new(p, asked);

	if (!h2_mem_admit(c, got)) {
		usable_free(p, got);
		return NULL;
	}
	h2_mem_grow(c, got);
	return p;
}

/* Returns <n> bytes (a valid unique pointer even for 0) accounted to <c>,
 * or NULL past the hard cap or when malloc fails. */
void *h2_mem_alloc(struct h2c *c, size_t n)
{
	void *p;

	if (n >= h2_page()) {
		p = h2_big_alloc(c, n);
		if (p)
			return p;
	}
	if (!h2_mem_admit(c, n))
		return NULL;
	p = usable_malloc(n);
	return p ? h2_mem_take(c, p, n) : NULL;
}

/* Takes the block <p> of <c> off its account and frees it. */
static void h2_mem_drop(struct h2c *c, void *p)
{
	size_t was = usable_size(p);

	c->mem_cur -= was;
	h2_mem_gauge(c, -(int64_t)was);
	usable_free(p, was);
}

/* Frees <p> (NULL is a no-op) and takes it off the account of <c>. */
void h2_mem_free(struct h2c *c, void *p)
{
	if (!p || h2_big_free(c, p))
		return;
	h2_mem_drop(c, p);
}

/* Resizes <p> to <n> bytes (realloc(NULL, n) allocates). Returns the new
 * block, or NULL with <p> untouched. */
static void *h2_mem_realloc(struct h2c *c, void *p, size_t n)
{
	size_t old;
	void *np;
	int i;

	if (!p)
		return h2_mem_alloc(c, n);
	if ((i = h2_big_find(c, p)) >= 0) {
		/* a block on pages of its own: moved like any block */
		size_t was = c->big[i].size;

		np = h2_mem_alloc(c, n);
		if (!np)
			return NULL;
		memcpy(np, p, n < was ? n : was);
		(void)h2_big_free(c, p);
		return np;
	}
	old = usable_size(p);
	if (n <= old && n >= old / 2)
		return p;  /* the block has the room and is not much too big */
	if (n > old && !h2_mem_admit(c, n - old))
		return NULL;
	/* moved by hand, not with realloc(): the old block must stay valid and
	 * accounted until the new one is admitted at its usable size */
	np = usable_malloc(n);
	if (!np || !h2_mem_take(c, np, n))
		return NULL;
	memcpy(np, p, n < old ? n : old);
	h2_mem_drop(c, p);
	return np;
}

static void *ng_malloc(size_t n, void *ud) { return h2_mem_alloc(ud, n); }
static void ng_free(void *p, void *ud) { h2_mem_free(ud, p); }
static void *ng_realloc(void *p, size_t n, void *ud) { return h2_mem_realloc(ud, p, n); }

/* calloc for nghttp2: checks the multiplication before allocating. */
static void *ng_calloc(size_t nmemb, size_t size, void *ud)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = h2_mem_alloc(ud, nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

/* Appends <n> bytes at <p> to <sb>. Returns 0, or -1 when out of memory. */
int h2_sb_add(struct h2c *c, struct h2_sb *sb, const void *p, size_t n)
{
	/* nothing to add (an empty cookie value): the buffer may still be
	 * NULL, and memcpy from or to NULL is undefined even for 0 bytes */
	if (!n)
		return 0;
	if (sb->size - sb->len < n) {
		size_t want = sb->size ? sb->size * 2 : 64;
		char *np;

		while (want - sb->len < n)
			want *= 2;
		np = h2_mem_realloc(c, sb->p, want);
		if (!np)
			return -1;
		sb->p = np;
		sb->size = want;
	}
	memcpy(sb->p + sb->len, p, n);
	sb->len += n;
	return 0;
}

/* Appends <n> bytes at <p> to <sb>, growing it to the exact size needed
 * (for data that is held a while: no slack is accounted). Returns 0, or -1
 * when out of memory. */
int h2_sb_add_exact(struct h2c *c, struct h2_sb *sb, const void *p, size_t n)
{
	if (sb->size - sb->len < n) {
		char *np;

		if (n > SIZE_MAX - sb->len)
			return -1;
		np = h2_mem_realloc(c, sb->p, sb->len + n);
		if (!np)
			return -1;
		sb->p = np;
		sb->size = sb->len + n;
	}
	memcpy(sb->p + sb->len, p, n);
	sb->len += n;
	return 0;
}

/* Frees the storage of <sb> and empties it. */
void h2_sb_free(struct h2c *c, struct h2_sb *sb)
{
	h2_mem_free(c, sb->p);
	*sb = (struct h2_sb){ 0 };
}

/* ---- buffers ---- */

/* Wakes the connection tasklet with SCHED_R_BUFFER; runs on the releasing
 * thread under the pool's lock, so it only posts. */
static void h2c_buf_notify(struct pool_wait *w)
{
	struct h2c *c = w->ctx;

	tasklet_wakeup(&c->tl, SCHED_R_BUFFER);
}

/* Makes sure <b> holds a block of level <crit>. Returns 0, or -1 when the
 * pool refused (the wait entry <w> is then subscribed and the tasklet will
 * be woken with SCHED_R_BUFFER) or <w> still waits. */
static int h2c_buf_get(struct h2c *c, struct buf *b, struct pool_wait *w,
		       enum pool_crit crit, uint64_t *waits)
{
	if (!b_is_null(b))
		return 0;
	if (pool_wait_state(w) != POOL_WAIT_IDLE)
		return pool_wait_take(c->pool, w, b) ? 0 : -1;
	if (pool_alloc(c->pool, c->tid, crit, b) == 0)
		return 0;
	(*waits)++;
	(void)pool_wait_subscribe(c->pool, w);
	return -1;
}

/* Gives the demux buffer back (a heap one, accounted like nghttp2's
 * memory, is freed). */
static void h2c_dbuf_release(struct h2c *c)
{
	if (c->flags & H2C_DBUF_HEAP) {
		h2_mem_free(c, c->dbuf.area);
		c->dbuf = BUF_NULL;
		c->flags &= ~H2C_DBUF_HEAP;
		return;
	}
	pool_release(c->pool, c->tid, &c->dbuf);
}

/* ---- lifetime ---- */

/* Wakes the connection tasklet (demux resume, output to flush). */
void h2c_wake(struct h2c *c)
{
	if (c->state != H2C_CLOSED)
		tasklet_wakeup(&c->tl, SCHED_R_WAKE);
}

/* Frees <s>: its request head parts, its link, its memory. */
void h2s_unlink_free(struct h2s *s)
{
	struct h2c *c = s->c;

	if (c->rx_s == s) {
		c->rx_s = NULL;
		c->rx_len = 0;
	}
	h2s_rx_stash_drop(s);
	h2_sb_free(c, &s->method);
	h2_sb_free(c, &s->path);
	h2_sb_free(c, &s->auth);
	h2_sb_free(c, &s->hdrs);
	h2_sb_free(c, &s->cookie);
	h2_mem_free(c, s->rx_head);
	h2s_closed(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->nb_streams--;
	h2_mem_free(c, s);
}

/* Drops the DATA payload the demux paused on (its stream went away),
 * reopening the windows it held, and lets the demux go on. */
void h2c_rx_drop(struct h2c *c)
{
	struct h2s *s = c->rx_s;

	if (!s)
		return;
	if (c->sess && c->rx_len)
		(void)nghttp2_session_consume(c->sess, s->id, c->rx_len);
	c->rx_s = NULL;
	c->rx_len = 0;
	h2c_wake(c);
}

/* Closes <c> for good: wait entries, buffers, socket, session. Streams the
 * engine holds get EP_ERROR (unless they had ended normally) and stay
 * until released; the others are freed. Never frees <c> itself. */
static void h2c_kill(struct h2c *c)
{
	struct h2s *s, *next;

	if (c->state == H2C_CLOSED)
		return;
	c->state = H2C_CLOSED;
	/* after the cancels no notify can come, so the tasklet may die later */
	pool_wait_cancel(c->pool, &c->dwait);
	pool_wait_cancel(c->pool, &c->mwait);
	c->rx_s = NULL;
	c->rx_len = 0;
	h2c_dbuf_release(c);
	pool_release(c->pool, c->tid, &c->mbuf);
	c->out_ptr = NULL;
	c->out_len = 0;
	(void)sched_fd_del(c->thr, c->fd);
	if (c->xprt.close)
		c->xprt.close(c->xprt.ctx);
	close(c->fd);
	c->fd = -1;
	for (s = c->streams; s; s = next) {
		next = s->next;
		if (!(s->flags & H2S_GIVEN) || (s->flags & H2S_RELEASED))
			h2s_unlink_free(s);
		else
			h2s_set_error(s);
	}
	nghttp2_session_del(c->sess);
	c->sess = NULL;
	if (c->cb.closed)
		c->cb.closed(c->cb_ctx);
}

/* Frees <c> once it is dead and no stream is left. The tasklet is the
 * first member: killing it with free_it frees the whole connection, later
 * if it is still queued. */
static void h2c_maybe_free(struct h2c *c)
{
	if (c->state == H2C_CLOSED && !c->nb_streams && !c->busy)
		tasklet_kill(&c->tl, 1);
}

/* ---- socket I/O ---- */

/* Sends <iov>[0..cnt) on the socket of <c>, through its transport if it
 * has one. Returns as sendmsg() does. */
static ssize_t h2c_sendmsg(struct h2c *c, struct iovec *iov, size_t cnt)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = cnt };

	if (c->xprt.sendv)
		return c->xprt.sendv(c->xprt.ctx, iov, (int)cnt);
	return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
}

/* Reads once into the (empty) demux buffer and updates readiness. */
static void h2c_sock_recv(struct h2c *c)
{
	size_t room = b_contig_space(&c->dbuf);
	ssize_t n;

	do {
		if (c->xprt.recv)
			n = c->xprt.recv(c->xprt.ctx, b_tail(&c->dbuf), room);
		else
			n = recv(c->fd, b_tail(&c->dbuf), room, 0);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		b_add(&c->dbuf, (size_t)n);
		/* a short read drained the socket, unless an EOF follows; a
		 * transport's read may stop at a record's end: read on unless
		 * it knows the socket is drained */
		if (!(c->flags & H2C_RD_HUP) &&
		    (c->xprt.recv ? c->xprt.drained && c->xprt.drained(c->xprt.ctx) : (size_t)n < room))
			c->flags &= ~H2C_RD_READY;
	} else if (n == 0) {
		c->flags |= H2C_RD_EOF;
	} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->flags &= ~H2C_RD_READY;
	} else {
		c->flags |= H2C_SOCK_ERR;
	}
}

/* What a send on the socket that took no byte means. */
enum h2c_snd {
	H2C_SND_RETRY,  /* interrupted by a signal: send again */
	H2C_SND_FULL,   /* the socket takes no more now: H2C_WR_READY is cleared */
	H2C_SND_FAILED, /* the socket failed: H2C_SOCK_ERR is set */
};

/* Classifies a send on the socket of <c> that returned <n> < 1 (errno set
 * when negative) and updates the flags, the same way for the three send
 * paths (mux buffer, DATA without copy, nghttp2's output). A stream
 * socket never takes 0 of the bytes it is given without an error: 0 is
 * a failure. */
static enum h2c_snd h2c_snd_classify(struct h2c *c, ssize_t n)
{
	if (n < 0 && errno == EINTR)
		return H2C_SND_RETRY;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->flags &= ~H2C_WR_READY;
		return H2C_SND_FULL;
	}
	c->flags |= H2C_SOCK_ERR;
	return H2C_SND_FAILED;
}

/* Sends what the mux buffer holds, as far as the socket takes it. */
static void h2c_sock_send(struct h2c *c)
{
	struct buf *b = &c->mbuf;

	while (!b_empty(b) && (c->flags & H2C_WR_READY)) {
		size_t first = b_contig_data(b);
		struct iovec iov[2] = {
			{ .iov_base = b_head(b), .iov_len = first },
			{ .iov_base = b->area, .iov_len = b_data(b) - first },
		};
		ssize_t n = h2c_sendmsg(c, iov, iov[1].iov_len ? 2 : 1);

		if (n > 0)
			b_del(b, (size_t)n);
		else if (h2c_snd_classify(c, n) == H2C_SND_FAILED)
			break;
	}
}

/* ---- send path ---- */

/* DATA payloads from this size up leave straight from the stream's buffer
 * (h2c_send_data); smaller ones are copied into the mux buffer, where they
 * join the frames of the other streams of the turn in one send. */
#define H2C_ZC_MIN 4096

/* Fills <iov> with up to 2 entries describing <len> bytes at the head of
 * <b> (it is a ring). Returns the number of entries used. */
static int h2_buf_iov(const struct buf *b, size_t len, struct iovec *iov)
{
	size_t first = b_contig_data(b);

	if (!len)
		return 0;
	if (len <= first) {
		iov[0] = (struct iovec){ .iov_base = b_head(b), .iov_len = len };
		return 1;
	}
	iov[0] = (struct iovec){ .iov_base = b_head(b), .iov_len = first };
	iov[1] = (struct iovec){ .iov_base = b->area, .iov_len = len - first };
	return 2;
}

/* Moves <n> bytes from the head of <src> to the tail of <dst>, which has
 * room for them (h2c_data_room reserved it). */
static void h2_buf_move(struct buf *dst, struct buf *src, size_t n)
{
	struct iovec iov[2];
	int i, k = h2_buf_iov(src, n, iov);

	for (i = 0; i < k; i++)
		(void)b_putblk(dst, iov[i].iov_base, iov[i].iov_len);
	b_del(src, n);
}

/* Returns how many payload bytes a DATA frame written by h2c_send_data may
 * carry now: what the mux buffer has room for past the 9-byte header, so
 * that whatever the socket does not take always fits there. A buffer too
 * full for <want> bytes is sent first when the socket takes bytes. Returns
 * 0 without a mux buffer (output then leaves from nghttp2's memory). */
size_t h2c_data_room(struct h2c *c, size_t want)
{
	if (b_is_null(&c->mbuf))
		return 0;
	if (b_room(&c->mbuf) < want + 9 && !b_empty(&c->mbuf) && (c->flags & H2C_WR_READY))
		h2c_sock_send(c);  /* in order: everything before is in mbuf */
	return b_room(&c->mbuf) > 9 ? b_room(&c->mbuf) - 9 : 0;
}

/* Sends the frame header <hd> (9 bytes) and the <len> payload bytes at the
 * head of <src> in one sendmsg behind what the mux buffer holds. Returns
 * the number of bytes sent (0 when the socket is full), or -1 when the
 * socket failed. */
static ssize_t h2c_sendv(struct h2c *c, const uint8_t *hd, const struct buf *src, size_t len)
{
	struct iovec iov[5];
	size_t cnt;
	ssize_t n;

	cnt = (size_t)h2_buf_iov(&c->mbuf, b_data(&c->mbuf), iov);
	iov[cnt++] = (struct iovec){ .iov_base = (void *)hd, .iov_len = 9 };
	cnt += (size_t)h2_buf_iov(src, len, iov + cnt);
	for (;;) {
		n = h2c_sendmsg(c, iov, cnt);
		if (n > 0)
			return n;
		switch (h2c_snd_classify(c, n)) {
		case H2C_SND_RETRY:
			continue;
		case H2C_SND_FULL:
			return 0;
		default:
			return -1;
		}
	}
}

/* Writes a DATA frame without nghttp2 copying its payload: header <hd>
 * (9 bytes) then <len> bytes taken from the head of <src>. A large payload
 * leaves straight from <src> in one sendmsg with what the mux buffer
 * staged before it; a small one, or what the socket did not take, is
 * copied into the mux buffer (h2c_data_room kept room for it). Returns 0,
 * or -1 when the socket failed. */
int h2c_send_data(struct h2c *c, const uint8_t *hd, struct buf *src, size_t len)
{
	size_t sent = 0, k;

	if (len >= H2C_ZC_MIN && (c->flags & H2C_WR_READY)) {
		ssize_t n = h2c_sendv(c, hd, src, len);

		if (n < 0)
			return -1;
		sent = (size_t)n;
		k = sent < b_data(&c->mbuf) ? sent : b_data(&c->mbuf);
		b_del(&c->mbuf, k);
		sent -= k;
	}
	k = sent < 9 ? sent : 9;
	(void)b_putblk(&c->mbuf, (const char *)hd + k, 9 - k);
	sent -= k;
	b_del(src, sent);
	h2_buf_move(&c->mbuf, src, len - sent);
	return 0;
}

/* Moves nghttp2 output into the mux buffer until it is full or nghttp2 has
 * nothing more. Output that does not fit stays at out_ptr, which is valid
 * until the next mem_send(), so mem_send() is not called before it was
 * copied. Returns 0, or -1 when nghttp2 failed. */
static int h2c_fill(struct h2c *c)
{
	while (!b_full(&c->mbuf)) {
		size_t k;

		if (!c->out_len) {
			ssize_t n = nghttp2_session_mem_send(c->sess, &c->out_ptr);

			if (n < 0)
				return -1;
			if (n == 0)
				break;
			c->out_len = (size_t)n;
		}
		k = b_putblk(&c->mbuf, (const char *)c->out_ptr, c->out_len);
		c->out_ptr += k;
		c->out_len -= k;
	}
	return 0;
}

/* Without a mux buffer (the pool refused one and we wait for it), frames
 * leave straight from nghttp2's own output memory, one write per frame:
 * slower, but output never stops, because stream buffers waiting to be sent
 * could otherwise hold every block the mux buffer waits for. Returns 0, or
 * -1 when the socket or the session failed. */
static int h2c_send_direct(struct h2c *c)
{
	while (c->flags & H2C_WR_READY) {
		ssize_t n;

		if (!c->out_len) {
			n = nghttp2_session_mem_send(c->sess, &c->out_ptr);
			if (n < 0) {
				c->flags |= H2C_FATAL;
				return -1;
			}
			if (n == 0)
				break;
			c->out_len = (size_t)n;
		}
		struct iovec one = { .iov_base = (void *)c->out_ptr, .iov_len = c->out_len };

		n = h2c_sendmsg(c, &one, 1);
		if (n > 0) {
			c->out_ptr += n;
			c->out_len -= (size_t)n;
		} else if (h2c_snd_classify(c, n) == H2C_SND_FAILED) {
			return -1;
		}
	}
	return 0;
}

/* Nothing waits to be sent: gives the mux buffer back, or keeps it one turn
 * for blocked streams it was handed for. */
static void h2c_mbuf_idle(struct h2c *c)
{
	/* No mbuf: either none was needed, or we wait for one. While
	 * the socket takes bytes, blocked streams are woken anyway:
	 * their frames leave directly (h2c_send_direct), and their
	 * buffers may be the very ones the mbuf waits for. A stream
	 * blocks again only once the socket is full, which clears
	 * H2C_WR_READY, so this cannot loop. */
	if (b_is_null(&c->mbuf)) {
		if (c->flags & H2C_WR_READY)
			(void)h2c_wake_tx_all(c);
		return;
	}
	/* An mbuf that nobody filled (it was handed to us while the
	 * streams that need it were not running): keep it for one turn,
	 * wake those streams, which run before our tasklet does (FIFO),
	 * and give it up at our next turn if they did not use it. Giving
	 * it up at once would pass it from waiter to waiter forever. */
	if (!(c->flags & H2C_MBUF_KEPT) && (c->flags & H2C_WR_READY) && h2c_wake_tx_all(c)) {
		c->flags |= H2C_MBUF_KEPT;
		h2c_wake(c);
		return;
	}
	c->flags &= ~H2C_MBUF_KEPT;
	pool_release(c->pool, c->tid, &c->mbuf);
}

/* Runs the mux: takes the mux buffer while nghttp2 wants to write, fills
 * it, and gives it back once drained. With <flush> it sends everything the
 * socket takes; without, it only stages frames in the mux buffer and sends
 * just what must leave to make room (a full buffer), so that the frames of
 * every stream that runs in this turn leave together in one send from the
 * connection tasklet (h2c_stage). Returns 0, or -1 when the socket or the
 * session failed (flags say which). */
static int h2c_emit(struct h2c *c, int flush)
{
	if (c->state == H2C_CLOSED || (c->flags & (H2C_FATAL | H2C_SOCK_ERR)))
		return -1;
	if (c->flags & H2C_SOCK_PENDING)
		return 0;  /* the preface and requests wait in nghttp2 */
	for (;;) {
		if (!b_empty(&c->mbuf) && (flush || b_full(&c->mbuf) || c->out_len)) {
			h2c_sock_send(c);
			if (c->flags & H2C_SOCK_ERR)
				return -1;
			if (!b_empty(&c->mbuf) && (flush || b_full(&c->mbuf)))
				break;  /* the socket is full: wait for SCHED_R_WRITE */
		}
		if (!c->out_len && !nghttp2_session_want_write(c->sess))
			break;
		if (h2c_buf_get(c, &c->mbuf, &c->mwait, POOL_CRIT_EMIT, &c->st.mbuf_waits) < 0) {
			if (h2c_send_direct(c) < 0)
				return -1;
			break;
		}
		if (h2c_fill(c) < 0) {
			c->flags |= H2C_FATAL;
			return -1;
		}
		if (b_empty(&c->mbuf) || (!flush && !b_full(&c->mbuf)))
			break;  /* staged: nghttp2 has nothing more now */
	}
	if (!b_empty(&c->mbuf) || c->out_len) {
		if (!flush)
			h2c_wake(c);  /* the connection tasklet sends what was staged */
		return 0;
	}
	h2c_mbuf_idle(c);
	return 0;
}


/* Sends what nghttp2 has, as far as the socket takes it. Returns 0, or -1
 * when the socket or the session failed. */
int h2c_send(struct h2c *c)
{
	return h2c_emit(c, 1);
}

/* Stages what nghttp2 has in the mux buffer for the connection tasklet to
 * send after the streams of this turn ran (one send for many streams).
 * Returns 0, or -1 when the socket or the session failed. */
int h2c_stage(struct h2c *c)
{
	return h2c_emit(c, 0);
}

/* Wakes every stream waiting for room to send. */
unsigned h2c_wake_tx_all(struct h2c *c)
{
	struct h2s *s;
	unsigned n = 0;

	for (s = c->streams; s; s = s->next)
		if (s->flags & H2S_TX_BLOCKED)
			n += (unsigned)h2s_wake_tx(s);
	return n;
}

/* ---- receive path ---- */

/* Ends the session with GOAWAY(<code>) and stops reading. */
static void h2c_terminate(struct h2c *c, uint32_t code)
{
	if (c->state >= H2C_TERMINATED)
		return;
	c->state = H2C_TERMINATED;
	if (code == NGHTTP2_ENHANCE_YOUR_CALM)
		c->st.calm_kills++;
	if (nghttp2_session_terminate_session(c->sess, code) < 0)
		c->flags |= H2C_FATAL;
}

/* Handles an error returned by mem_recv: flooding or a broken session
 * closes at once; a limit we enforce ends with ENHANCE_YOUR_CALM; a bad
 * preface or other protocol error with PROTOCOL_ERROR. */
static void h2c_recv_failed(struct h2c *c, ssize_t err)
{
	h2c_rx_drop(c);
	b_reset(&c->dbuf);
	if (err == NGHTTP2_ERR_FLOODED)
		c->flags |= H2C_FATAL;
	else if (c->flags & H2C_CALM)
		h2c_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM);
	else if (err == NGHTTP2_ERR_NOMEM)
		c->flags |= H2C_FATAL;
	else
		h2c_terminate(c, NGHTTP2_PROTOCOL_ERROR);
	h2c_advance(c, H2C_TERMINATED);
}

/* Feeds the demux buffer to nghttp2 (an empty feed ends a DATA frame the
 * demux paused in). Returns 0, or -1 when the session failed. */
static int h2c_feed(struct h2c *c)
{
	static const uint8_t none[1];
	const uint8_t *p = b_empty(&c->dbuf) ? none : (const uint8_t *)b_head(&c->dbuf);
	ssize_t n;

	c->rx_flush = 0;
	n = nghttp2_session_mem_recv(c->sess, p, b_data(&c->dbuf));
	if (n < 0) {
		h2c_recv_failed(c, n);
		return -1;
	}
	/* a paused DATA payload lies in the bytes deleted here: nothing
	 * writes into dbuf before the stream took it (see h2c_recv) */
	b_del(&c->dbuf, (size_t)n);
	if (c->rx_s) {
		c->rx_flush = 1;
		c->flags &= ~H2C_RX_GRACE;  /* a new pause: its stream gets a turn */
	}
	if (c->flags & H2C_CALM)
		h2c_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM);
	return 0;
}

/* Returns the level the demux buffer is needed at now. In client role the
 * demux reads responses, so it asks at response level. In server role:
 * request data normally, but response level while a stream waits to send
 * (a WINDOW_UPDATE lets its response buffer drain) or waits for the rest
 * of a request whose head it took (its request buffer drains only with the
 * body): at the lower level the demux could starve behind the very buffers
 * it would free. The demux may use the reserve because it never holds its
 * buffer while waiting for another one: payload a stream does not take is
 * stashed (h2c_recv). */
static enum pool_crit h2c_dbuf_need(const struct h2c *c)
{
	const struct h2s *s;

	if (c->flags & H2C_CLIENT)
		return POOL_CRIT_RESPONSE;  /* a client demux reads responses */
	for (s = c->streams; s; s = s->next)
		if ((s->flags & H2S_TX_BLOCKED) ||
		    (s->flags & (H2S_HEAD_DONE | H2S_RX_EOS | H2S_RELEASED)) == H2S_HEAD_DONE)
			return POOL_CRIT_RESPONSE;
	return POOL_CRIT_REQUEST;
}

/* Returns the level the demux buffer is needed at (h2c_dbuf_need), and
 * sets the wait entry to it unless it waits already (h2c_dbuf_reeval
 * moves a waiting entry up). */
static enum pool_crit h2c_dbuf_level(struct h2c *c)
{
	enum pool_crit crit = h2c_dbuf_need(c);

	if (c->dwait.crit != crit && pool_wait_state(&c->dwait) == POOL_WAIT_IDLE)
		pool_wait_init(&c->dwait, c->tid, crit, h2c_buf_notify, c);
	return crit;
}

/* Moves the demux's wait entry up when the level it is needed at rose
 * while it waited, and wakes the connection tasklet. Called when a call
 * into the mux ends (h2c_leave), since what raises the level happens in
 * stream calls: a stream that took its request head and waits for the
 * body, or one that blocked on a closed window, now waits for what the
 * demux reads. Left waiting at the lower level, the demux could wait
 * forever behind the reserve, and since its socket's edge was used up
 * nothing else would make it read the DATA or WINDOW_UPDATE already
 * there. A buffer handed over while we cancel is passed on by the cancel
 * (another waiter or the pool gets it), never dropped; the subscription
 * at the new level then queues behind more critical waiters as any other
 * would (no barging). The woken tasklet takes the buffer if one came, or
 * reads on into the small heap buffer (h2c_dbuf_small). A level that fell
 * needs nothing: waiting higher than needed only serves the demux sooner. */
static void h2c_dbuf_reeval(struct h2c *c)
{
	enum pool_crit crit;

	if (c->state == H2C_CLOSED)
		return;
	/* cheap test first: the entry waits only under a buffer shortage */
	if (c->dwait.crit >= POOL_CRIT_RESPONSE || pool_wait_state(&c->dwait) != POOL_WAIT_WAITING)
		return;
	crit = h2c_dbuf_need(c);
	if (crit <= c->dwait.crit)
		return;
	pool_wait_cancel(c->pool, &c->dwait);
	pool_wait_init(&c->dwait, c->tid, crit, h2c_buf_notify, c);
	(void)pool_wait_subscribe(c->pool, &c->dwait);
	h2c_wake(c);
}

/* Size of the heap demux buffer used when the pool refuses one while
 * streams wait for what the demux reads (h2c_dbuf_small). */
#define H2C_SMALL_DBUF 4096

/* The pool refused the demux buffer. At request level (server role, no
 * stream waiting for the peer) receiving simply pauses: returns -1. At
 * response level, streams wait for what the demux reads (WINDOW_UPDATE,
 * responses in client role) while holding buffers themselves, and every
 * block may be held that way: the demux then reads on into a small heap
 * buffer, which never waits, instead of waiting. Returns 0 with that
 * buffer as dbuf (given back with the others when empty), or -1. */
static int h2c_dbuf_small(struct h2c *c, enum pool_crit crit)
{
	if (crit != POOL_CRIT_RESPONSE)
		return -1;
	/* no pool block may wait for us meanwhile: the next turn asks again */
	pool_wait_cancel(c->pool, &c->dwait);
	/* on the connection's memory account, so its cap bounds it too */
	c->dbuf.area = h2_mem_alloc(c, H2C_SMALL_DBUF);
	if (!c->dbuf.area) {
		c->dbuf = BUF_NULL;
		return -1;
	}
	c->dbuf.size = H2C_SMALL_DBUF;
	c->dbuf.head = c->dbuf.data = 0;
	c->flags |= H2C_DBUF_HEAP;
	return 0;
}

/* Runs the demux: takes the demux buffer only when the socket is readable,
 * feeds nghttp2, and gives the buffer back as soon as it is empty. Stops
 * while a DATA payload waits for its stream (the buffer then stays). */
static void h2c_recv(struct h2c *c)
{
	enum pool_crit crit;
	int rounds = 0;

	for (;;) {
		if (c->state >= H2C_TERMINATED || (c->flags & (H2C_FATAL | H2C_SOCK_PENDING)))
			break;
		if (c->rx_s) {
			/* The payload in dbuf waits for its stream, which was
			 * woken and runs before our next turn: most often it takes
			 * the bytes in place. If it did not (it waits for a buffer,
			 * or does not read), they are copied aside so that the
			 * demux goes on: a WINDOW_UPDATE behind them may be what
			 * frees the buffer that stream waits for. */
			if (!(c->flags & H2C_RX_GRACE)) {
				c->flags |= H2C_RX_GRACE;
				h2c_wake(c);
				return;
			}
			if (h2s_rx_stash(c->rx_s, c->rx_ptr, c->rx_len) < 0)
				return;  /* out of memory: H2C_CALM ends the session */
			c->rx_s = NULL;
			c->rx_len = 0;
			continue;
		}
		if (!b_empty(&c->dbuf) || c->rx_flush) {
			if (h2c_feed(c) < 0)
				break;
			continue;
		}
		/* The buffer is empty here. It is NOT given back before the
		 * next read: a buffer just handed to us would go straight to
		 * the next waiter, which would do the same, and the block would
		 * circle the wait queue forever with nobody reading. */
		if (!nghttp2_session_want_read(c->sess))
			break;
		if (!(c->flags & H2C_RD_READY) || (c->flags & (H2C_RD_EOF | H2C_SOCK_ERR)))
			break;
		if (++rounds > H2C_RX_ROUNDS) {
			h2c_wake(c);
			break;
		}
		crit = h2c_dbuf_level(c);
		if (h2c_buf_get(c, &c->dbuf, &c->dwait, c->dwait.crit, &c->st.dbuf_waits) < 0 &&
		    h2c_dbuf_small(c, crit) < 0)
			break;  /* only receiving pauses */
		h2c_sock_recv(c);
	}
	/* nothing to read now (or our share is used): an empty buffer goes */
	if (!c->rx_s && b_empty(&c->dbuf))
		h2c_dbuf_release(c);
}

/* After any work: ends the session if a limit was crossed, flushes output,
 * and closes when the session is over or the socket failed. */
void h2c_after_io(struct h2c *c)
{
	if (c->state == H2C_CLOSED)
		return;
	if (c->flags & H2C_CALM)
		h2c_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM);
	if (h2c_send(c) == 0 && (c->flags & H2C_CALM) && c->state < H2C_TERMINATED) {
		h2c_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM);
		(void)h2c_send(c);
	}
	if (c->flags & (H2C_FATAL | H2C_SOCK_ERR | H2C_RD_EOF)) {
		h2c_kill(c);
		return;
	}
	if (!nghttp2_session_want_read(c->sess) && !nghttp2_session_want_write(c->sess) &&
	    b_empty(&c->mbuf) && !c->out_len)
		h2c_kill(c);
}

/* After a stream's call (snd_buf, shut_wr): the frames it produced are
 * staged for the connection tasklet, which sends those of every stream of
 * this turn at once; a limit crossed or a failure is handled at once. */
void h2c_after_stream(struct h2c *c)
{
	if (c->state == H2C_CLOSED || (c->flags & (H2C_CALM | H2C_FATAL | H2C_SOCK_ERR | H2C_RD_EOF))) {
		h2c_after_io(c);
		return;
	}
	if (h2c_stage(c) < 0)
		h2c_after_io(c);  /* closes */
}

/* Marks the start of work on <c>: it is not freed before h2c_leave(). */
void h2c_enter(struct h2c *c)
{
	c->busy++;
}

/* Ends work on <c>: performs an abort asked meanwhile, moves the demux's
 * wait up if what the streams did meanwhile raised its level, and frees a
 * dead connection with no stream left. <c> may be gone when this returns. */
void h2c_leave(struct h2c *c)
{
	if (--c->busy)
		return;
	if ((c->flags & H2C_ABORT_REQ) && c->state != H2C_CLOSED) {
		c->busy++;
		h2c_terminate(c, c->abort_code);
		(void)h2c_send(c);
		h2c_kill(c);
		c->busy--;
	}
	h2c_dbuf_reeval(c);
	h2c_maybe_free(c);
}

/* Client role: the socket reported readiness while connecting. Returns 0
 * when the connection is established, -1 when it failed. */
static int h2c_connect_result(struct h2c *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		return -1;
	len = sizeof(ss);
	return getpeername(c->fd, (struct sockaddr *)&ss, &len);
}

/* The connection tasklet: socket readiness, buffers handed over, resumes. */
static void h2c_io_cb(struct tasklet *t, unsigned reasons)
{
	struct h2c *c = t->ctx;

	if (c->state == H2C_CLOSED)
		return;
	if (c->flags & H2C_SOCK_PENDING) {
		/* only the socket's first readiness tells how connect() ended */
		if (!(reasons & (SCHED_R_WRITE | SCHED_R_HUP | SCHED_R_READ | SCHED_R_RDHUP)))
			return;
		int ok = 1;

		if (!(c->flags & H2C_XPRT_HS)) {
			if (h2c_connect_result(c) < 0)
				ok = 0;
			else if (c->xprt.handshake)
				c->flags |= H2C_XPRT_HS;
		}
		if (c->flags & H2C_XPRT_HS) {
			int rc = c->xprt.handshake(c->xprt.ctx);

			if (rc == 0)
				return;  /* it waits for the socket: its next readiness */
			c->flags &= ~H2C_XPRT_HS;
			ok = rc > 0;
		}
		c->flags &= ~H2C_SOCK_PENDING;
		if (!ok) {
			c->flags |= H2C_SOCK_ERR;
		} else {
			c->flags |= H2C_RD_READY | H2C_WR_READY;
			h2c_advance(c, H2C_OPEN);  /* unless shut down meanwhile */
			h2c_connected(c);
		}
	}
	if (reasons & SCHED_R_READ)
		c->flags |= H2C_RD_READY;
	if (reasons & SCHED_R_WRITE)
		c->flags |= H2C_WR_READY;
	if (reasons & SCHED_R_RDHUP)
		c->flags |= H2C_RD_READY | H2C_RD_HUP;
	if (reasons & SCHED_R_HUP)
		c->flags |= H2C_RD_READY | H2C_WR_READY | H2C_RD_HUP;
	if (reasons & SCHED_R_BUFFER) {
		if (b_is_null(&c->dbuf) && !(c->flags & H2C_DBUF_HEAP))
			(void)pool_wait_take(c->pool, &c->dwait, &c->dbuf);
		if (b_is_null(&c->mbuf))
			(void)pool_wait_take(c->pool, &c->mwait, &c->mbuf);
	}
	h2c_enter(c);
	h2c_recv(c);
	h2c_after_io(c);
	h2c_leave(c);
}

/* ---- public API ---- */

/* Sends our SETTINGS (queued; they leave on the first run). A client
 * refuses server push instead of bounding concurrent streams. */
static int h2c_submit_settings(struct h2c *c, const struct h2_settings *set)
{
	nghttp2_settings_entry iv[] = {
		(c->flags & H2C_CLIENT) ?
			(nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 } :
			(nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
						  set->max_concurrent_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, set->initial_window_size },
		{ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, set->header_table_size },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, set->max_header_list_size },
	};

	return nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
}

/* Creates the nghttp2 session of <c> (server or client, per H2C_CLIENT)
 * with our allocator, its HPACK encoder table bounded by <set>. Returns 0
 * or -1. */
static int h2c_session_new(struct h2c *c, const struct h2_settings *set)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_mem mem = {
		.mem_user_data = c, .malloc = ng_malloc, .free = ng_free,
		.calloc = ng_calloc, .realloc = ng_realloc,
	};
	int rv;

	if (nghttp2_session_callbacks_new(&cbs))
		return -1;
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cbs);
		return -1;
	}
	h2_cb_setup(cbs);
	/* the receive window reopens only for bytes given to a stream */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/* nghttp2 forgets a stream once it is closed (in server role it would
	 * keep up to max_concurrent_streams of them, for RFC 7540 priorities
	 * we do not use): an idle connection then holds no stream state, and
	 * its stream map's table is all zeros again, which h2c_trim() gives
	 * back. Frames a client sent before it saw our RST_STREAM are then
	 * for an unknown id, which nghttp2 ignores; h2_lower_stream_id (h2_cb.c)
	 * tells those apart from a HEADERS opening a lower id. */
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* our encoder's dynamic table is bounded by our setting whatever the
	 * peer allows (none by default): entries it holds are memory per
	 * connection (h2_settings.encoder_table_size) */
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, set->encoder_table_size);
	if (c->flags & H2C_CLIENT) {
		/* what RFC 9113 suggests assuming until the server's SETTINGS */
		nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
		rv = nghttp2_session_client_new3(&c->sess, cbs, c, opt, &mem);
	} else {
		rv = nghttp2_session_server_new3(&c->sess, cbs, c, opt, &mem);
	}
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	return rv ? -1 : 0;
}

/* Fills the zero fields of <set> with defaults. */
static void h2_settings_fill(struct h2_settings *set)
{
	if (!set->max_concurrent_streams)
		set->max_concurrent_streams = 100;
	if (!set->initial_window_size)
		set->initial_window_size = 65535;
	if (!set->header_table_size)
		set->header_table_size = 4096;
	if (!set->max_header_list_size)
		set->max_header_list_size = 65536;
	if (set->max_heap && (!set->mem_cap || set->mem_cap >= set->max_heap))
		set->mem_cap = set->max_heap / 3 * 2;
	if (!set->mem_cap)
		set->mem_cap = 1u << 20;
	if (!set->max_heap)
		set->max_heap = set->mem_cap + set->mem_cap / 2 + 65536;
}

/* Sets up a connection on <fd> in the role given by <role_flags> (0 or
 * H2C_CLIENT | H2C_SOCK_PENDING), with <pre_len> pre-read bytes at <pre>.
 * Returns it, or NULL with errno set and <fd> left open. */
static struct h2c *h2c_create(struct sched_thread *thr, unsigned tid, struct pool *pool, int fd,
			      unsigned role_flags, const char *pre, size_t pre_len,
			      const struct h2_settings *set_in, const struct h2_callbacks *cb,
			      void *cb_ctx)
{
	struct h2_settings set = set_in ? *set_in : (struct h2_settings){ 0 };
	struct h2c *c;
	int one = 1, err;

	h2_settings_fill(&set);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->thr = thr;
	c->tid = tid;
	c->pool = pool;
	c->fd = fd;
	c->flags = role_flags;
	c->state = (role_flags & H2C_SOCK_PENDING) ? H2C_CONNECTING : H2C_OPEN;
	c->cb = *cb;
	c->cb_ctx = cb_ctx;
	c->mem_cap = set.mem_cap;
	c->stash_free = set.mem_cap / 2;
	/* over the soft cap, room for the GOAWAY that ends the session */
	c->mem_hard = set.max_heap;
	c->heap_gauge = set.heap_gauge;
	c->xprt = set.xprt;
	c->max_hdr_list = set.max_header_list_size;
	tasklet_init(&c->tl, thr, h2c_io_cb, c);
	pool_wait_init(&c->dwait, tid, POOL_CRIT_REQUEST, h2c_buf_notify, c);
	pool_wait_init(&c->mwait, tid, POOL_CRIT_EMIT, h2c_buf_notify, c);
	if (pre_len) {
		/* the engine's bytes are copied: they are the start of the demux */
		c->dbuf.area = h2_mem_alloc(c, pre_len);
		if (!c->dbuf.area) {
			errno = ENOMEM;
			goto fail;
		}
		memcpy(c->dbuf.area, pre, pre_len);
		c->dbuf.size = c->dbuf.data = pre_len;
		c->flags |= H2C_DBUF_HEAP;
	}
	errno = ENOMEM;  /* what nghttp2 failures mean */
	if (h2c_session_new(c, &set) < 0)
		goto fail;
	if (h2c_submit_settings(c, &set) < 0)
		goto fail;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sched_fd_add(&c->tl, fd) < 0)
		goto fail;  /* errno set */
	if (!(c->flags & H2C_SOCK_PENDING)) {
		c->flags |= H2C_RD_READY | H2C_WR_READY;
		tasklet_wakeup(&c->tl, SCHED_R_WAKE);
	}
	/* else the poller reports the end of connect(), even one that is
	 * already over: registering reports the current readiness */
	return c;
fail:
	err = errno;
	if (c->sess)
		nghttp2_session_del(c->sess);
	h2_mem_free(c, c->flags & H2C_DBUF_HEAP ? c->dbuf.area : NULL);
	free(c);
	errno = err;
	return NULL;
}

struct h2c *h2c_new(struct sched_thread *thr, unsigned tid, struct pool *pool, int fd,
		    const char *pre, size_t pre_len, const struct h2_settings *set,
		    const struct h2_callbacks *cb, void *cb_ctx)
{
	return h2c_create(thr, tid, pool, fd, 0, pre, pre_len, set, cb, cb_ctx);
}

struct h2c *h2c_new_client(struct sched_thread *thr, unsigned tid, struct pool *pool, int fd,
			   const struct h2_settings *set, const struct h2_callbacks *cb,
			   void *cb_ctx)
{
	return h2c_create(thr, tid, pool, fd, H2C_CLIENT | H2C_SOCK_PENDING, NULL, 0, set, cb, cb_ctx);
}

void h2c_shutdown(struct h2c *c)
{
	if (c->state == H2C_CLOSED)
		return;
	h2c_advance(c, H2C_DRAINING);
	h2c_enter(c);
	(void)nghttp2_submit_goaway(c->sess, NGHTTP2_FLAG_NONE,
				    nghttp2_session_get_last_proc_stream_id(c->sess),
				    NGHTTP2_NO_ERROR, NULL, 0);
	if (c->busy == 1)
		h2c_after_io(c);
	else
		h2c_wake(c);
	h2c_leave(c);
}

void h2c_abort(struct h2c *c, uint32_t error_code)
{
	if (c->state == H2C_CLOSED)
		return;
	c->flags |= H2C_ABORT_REQ;
	c->abort_code = error_code;
	h2c_enter(c);
	h2c_leave(c);
}

void h2c_get_stats(const struct h2c *c, struct h2c_stats *out)
{
	*out = c->st;
	out->mem_now = c->mem_cur;
}

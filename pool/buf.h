/* buf.h - the buffer: a ring of bytes over storage taken from a pool.
 *
 * A buffer is a plain struct passed by value or embedded in its owner. It
 * never owns its storage on its own: storage comes from the buffer pool
 * (pool.h) and goes back there with pool_release(). A buffer whose area is
 * NULL holds nothing and costs no memory; that is the resting state of every
 * connection that is not moving data.
 *
 * The data is <data> bytes starting at offset <head> and may wrap past the
 * end of the area to its start. Helpers below never allocate; those that
 * copy return how many bytes they moved.
 */
#ifndef SLUICE_POOL_BUF_H
#define SLUICE_POOL_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
	char  *area;   /* storage, or NULL when no buffer is held */
	size_t size;   /* storage size in bytes */
	size_t head;   /* offset of the first byte of data */
	size_t data;   /* number of bytes of data */
};

#define BUF_NULL ((struct buf){ .area = NULL, .size = 0, .head = 0, .data = 0 })

/* Returns non-zero when <b> holds no storage. */
static inline int b_is_null(const struct buf *b) { return b->area == NULL; }

/* Returns the number of bytes of data in <b>. */
static inline size_t b_data(const struct buf *b) { return b->data; }

/* Returns the free space in <b>, wrapped or not. */
static inline size_t b_room(const struct buf *b) { return b->size - b->data; }

/* Returns non-zero when <b> holds no data (storage or not). */
static inline int b_empty(const struct buf *b) { return b->data == 0; }

/* Returns non-zero when <b> has no free space left. */
static inline int b_full(const struct buf *b) { return b->data == b->size; }

/* Returns the offset of <ofs> bytes past the head, wrapped into the area. */
static inline size_t b_wrap_ofs(const struct buf *b, size_t ofs)
{
	size_t pos = b->head + ofs;
	return pos >= b->size ? pos - b->size : pos;
}

/* Returns a pointer to the first byte of data. */
static inline char *b_head(const struct buf *b) { return b->area + b->head; }

/* Returns a pointer to where the next byte of data would be written. */
static inline char *b_tail(const struct buf *b) { return b->area + b_wrap_ofs(b, b->data); }

/* Returns how many bytes of data can be read at b_head() without wrapping. */
static inline size_t b_contig_data(const struct buf *b)
{
	size_t to_end = b->size - b->head;
	return b->data < to_end ? b->data : to_end;
}

/* Returns how many bytes can be written at b_tail() without wrapping. */
static inline size_t b_contig_space(const struct buf *b)
{
	size_t tail;

	if (b->data == b->size)
		return 0;
	tail = b_wrap_ofs(b, b->data);
	return tail >= b->head ? b->size - tail : b->head - tail;
}

/* Records that <n> bytes were written at b_tail() (n <= b_contig_space()). */
static inline void b_add(struct buf *b, size_t n) { b->data += n; }

/* Drops <n> bytes from the head (n <= b_data()). An emptied buffer is
 * realigned so that the next write gets the whole area in one piece. */
static inline void b_del(struct buf *b, size_t n)
{
	b->data -= n;
	b->head = b->data ? b_wrap_ofs(b, n) : 0;
}

/* Empties <b> without touching its storage. */
static inline void b_reset(struct buf *b) { b->head = 0; b->data = 0; }

/* Copies up to <len> bytes from <src> to the tail of <b>, wrapping as needed.
 * Returns the number of bytes copied (less than <len> when <b> fills up). */
static inline size_t b_putblk(struct buf *b, const char *src, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t room = b_contig_space(b);
		size_t n = len - done < room ? len - done : room;

		if (!n)
			break;
		memcpy(b_tail(b), src + done, n);
		b_add(b, n);
		done += n;
	}
	return done;
}

/* Copies up to <len> bytes of data starting <ofs> bytes past the head into
 * <dst>, without consuming them. Returns the number of bytes copied. */
static inline size_t b_peek(const struct buf *b, size_t ofs, char *dst, size_t len)
{
	size_t done = 0;

	if (ofs >= b->data)
		return 0;
	if (len > b->data - ofs)
		len = b->data - ofs;
	while (done < len) {
		size_t pos = b_wrap_ofs(b, ofs + done);
		size_t n = b->size - pos;

		if (n > len - done)
			n = len - done;
		memcpy(dst + done, b->area + pos, n);
		done += n;
	}
	return done;
}

/* Returns the byte <ofs> bytes past the head (ofs < b_data()). */
static inline char b_byte(const struct buf *b, size_t ofs) { return b->area[b_wrap_ofs(b, ofs)]; }

/* Reverses bytes [from, to) of <area>; a helper of b_realign(). */
static inline void b_reverse(char *area, size_t from, size_t to)
{
	while (from + 1 < to) {
		char c = area[from];

		area[from++] = area[--to];
		area[to] = c;
	}
}

/* Moves the data so that it starts at offset 0 and is contiguous. Parsers
 * that need one contiguous view call it; it costs a copy only when the data
 * does not already start at 0. A wrapped buffer is rotated in place (three
 * reversals), so no scratch space is needed. */
static inline void b_realign(struct buf *b)
{
	if (b->head == 0)
		return;
	if (b->head + b->data <= b->size) {
		memmove(b->area, b->area + b->head, b->data);
	} else {
		b_reverse(b->area, 0, b->head);
		b_reverse(b->area, b->head, b->size);
		b_reverse(b->area, 0, b->size);
	}
	b->head = 0;
}

#endif /* SLUICE_POOL_BUF_H */

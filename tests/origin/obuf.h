/* obuf.h - a connection's growable output buffer.
 *
 * Bytes are appended at <len> and sent from <pos>. The buffer grows on
 * demand; producers stop filling it past OCONN_OUT_HIGH pending bytes, so
 * it stays small whatever the size of a body. A failed allocation latches
 * <failed> and turns later appends into no-ops: the owner checks it once
 * and drops the connection instead of testing every append.
 */
#ifndef SLUICE_ORIGIN_OBUF_H
#define SLUICE_ORIGIN_OBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Largest storage kept once empty. */
#define OBUF_KEEP_CAP (256 * 1024)

struct obuf {
	char  *data;
	size_t pos;     /* first byte not yet sent */
	size_t len;     /* end of the bytes appended */
	size_t cap;
	bool   failed;  /* an allocation failed: the content is incomplete */
};

/* Returns the number of bytes appended but not yet sent. */
static inline size_t obuf_pending(const struct obuf *b)
{
	return b->len - b->pos;
}

/* Releases the storage of <b>. */
void obuf_free(struct obuf *b);

/* Marks <n> pending bytes as sent; rewinds once everything went out, and
 * gives back storage that a large answer (a big chunk size, a long head)
 * made grow, so an idle connection keeps little. */
static inline void obuf_sent(struct obuf *b, size_t n)
{
	b->pos += n;
	if (b->pos == b->len) {
		b->pos = b->len = 0;
		if (b->cap > OBUF_KEEP_CAP)
			obuf_free(b);
	}
}

/* Returns a pointer where <n> more bytes may be written (then committed
 * with obuf_commit), or NULL when memory ran out. */
char *obuf_space(struct obuf *b, size_t n);

/* Commits <n> bytes written at obuf_space(). */
static inline void obuf_commit(struct obuf *b, size_t n)
{
	b->len += n;
}

/* Appends <n> bytes from <p>. */
void obuf_add(struct obuf *b, const void *p, size_t n);

/* Appends the NUL-terminated string <s>. */
void obuf_adds(struct obuf *b, const char *s);

/* Appends printf-style formatted text. */
void obuf_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

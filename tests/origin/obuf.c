/* obuf.c - growable output buffer of the origin's connections. */
#include "obuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBUF_MIN_CAP 4096

char *obuf_space(struct obuf *b, size_t n)
{
	if (b->failed)
		return NULL;
	if (b->cap - b->len >= n)
		return b->data + b->len;
	/* slide the unsent bytes down before growing */
	if (b->pos) {
		memmove(b->data, b->data + b->pos, b->len - b->pos);
		b->len -= b->pos;
		b->pos = 0;
		if (b->cap - b->len >= n)
			return b->data + b->len;
	}
	size_t cap = b->cap ? b->cap : OBUF_MIN_CAP;
	while (cap - b->len < n)
		cap *= 2;
	char *data = realloc(b->data, cap);
	if (!data) {
		b->failed = true;
		return NULL;
	}
	b->data = data;
	b->cap = cap;
	return b->data + b->len;
}

void obuf_add(struct obuf *b, const void *p, size_t n)
{
	char *dst = obuf_space(b, n);
	if (!dst)
		return;
	memcpy(dst, p, n);
	obuf_commit(b, n);
}

void obuf_adds(struct obuf *b, const char *s)
{
	obuf_add(b, s, strlen(s));
}

void obuf_printf(struct obuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		obuf_add(b, small, (size_t)n);
		return;
	}
	char *dst = obuf_space(b, (size_t)n + 1);
	if (!dst)
		return;
	va_start(ap, fmt);
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	obuf_commit(b, (size_t)n);
}

void obuf_free(struct obuf *b)
{
	free(b->data);
	*b = (struct obuf){ 0 };
}

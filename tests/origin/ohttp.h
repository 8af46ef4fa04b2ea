/* ohttp.h - the origin's HTTP/1.x request parsing: head and chunked bodies.
 *
 * The parser works in place on bytes the caller keeps: the head is parsed
 * once complete (ohttp_head_end says when), and the request struct points
 * into it. Chunked bodies are decoded incrementally without copying: the
 * decoder consumes the framing and tells the caller how many of the bytes
 * that follow are data. Anything malformed is refused with a status code;
 * nothing here allocates or can overrun its input.
 */
#ifndef SLUICE_ORIGIN_OHTTP_H
#define SLUICE_ORIGIN_OHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ohttp_method {
	OHTTP_OTHER = 0,
	OHTTP_GET,
	OHTTP_HEAD,
	OHTTP_POST,
	OHTTP_PUT,
};

struct ohttp_req {
	enum ohttp_method method;
	const char *path;          /* target up to '?' (not NUL-terminated) */
	size_t      path_len;
	const char *query;         /* after '?', or NULL when there is none */
	size_t      query_len;
	int         minor;         /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	bool        has_length;    /* a Content-Length header was present */
	uint64_t    content_length;
	bool        chunked;       /* Transfer-Encoding: chunked */
	bool        conn_close;    /* Connection: close */
	bool        conn_keep_alive; /* Connection: keep-alive */
	bool        expect_continue; /* Expect: 100-continue */
};

/* Returns the number of blank-line bytes (CR, LF) at the start of <buf>,
 * which a server ignores before a request line. */
size_t ohttp_skip_blank(const char *buf, size_t len);

/* Returns the length of the head at the start of <buf>, blank line
 * included, once it is complete; 0 while more bytes are needed. <*scanned>
 * must be 0 for a new head and is kept between calls on the same growing
 * head so each byte is examined about once. */
size_t ohttp_head_end(const char *buf, size_t len, size_t *scanned);

/* Parses the complete head <head>/<len> into <req>. Returns 0 when it is
 * acceptable, otherwise the status to answer with: 400 (malformed),
 * 501 (a transfer coding other than chunked), 505 (not HTTP/1.x). */
int ohttp_parse_head(const char *head, size_t len, struct ohttp_req *req);

/* Returns the decimal number at <s>/<len> in <*out> when it is made only of
 * digits and is at most <max>; returns false otherwise. */
bool ohttp_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

enum ohttp_chunk_state {
	OHTTP_CH_SIZE = 0,     /* reading the hex size (start state) */
	OHTTP_CH_EXT,          /* skipping chunk extensions up to LF */
	OHTTP_CH_SIZE_LF,      /* CR seen after the size line */
	OHTTP_CH_DATA,         /* <left> data bytes follow */
	OHTTP_CH_DATA_CR,      /* expecting CRLF after the data */
	OHTTP_CH_DATA_LF,
	OHTTP_CH_TRAILER,      /* at the start of a trailer line */
	OHTTP_CH_TRAILER_LINE, /* inside a trailer line */
	OHTTP_CH_FINAL_LF,     /* CR of the final blank line seen */
	OHTTP_CH_DONE,         /* body complete */
};

struct ohttp_chunked {
	enum ohttp_chunk_state state;
	uint64_t left;         /* data bytes left in the current chunk */
	unsigned digits;       /* hex digits read in the current size */
};

/* Prepares <d> for a new chunked body. */
void ohttp_chunked_init(struct ohttp_chunked *d);

/* Consumes framing bytes from <in>/<len>, stopping at the first data byte,
 * at the end of the body or at the end of the input. Returns the number of
 * bytes consumed, or -1 on a framing error. */
ssize_t ohttp_chunked_frame(struct ohttp_chunked *d, const char *in, size_t len);

/* Returns how many of <len> available input bytes are data the caller may
 * take now (0 unless the decoder stands in OHTTP_CH_DATA). */
static inline size_t ohttp_chunked_avail(const struct ohttp_chunked *d, size_t len)
{
	if (d->state != OHTTP_CH_DATA)
		return 0;
	return d->left < len ? (size_t)d->left : len;
}

/* Records that the caller took <n> data bytes (n <= ohttp_chunked_avail). */
static inline void ohttp_chunked_took(struct ohttp_chunked *d, size_t n)
{
	d->left -= n;
	if (d->left == 0)
		d->state = OHTTP_CH_DATA_CR;
}

/* Returns true once the whole chunked body, trailers included, was read. */
static inline bool ohttp_chunked_done(const struct ohttp_chunked *d)
{
	return d->state == OHTTP_CH_DONE;
}

#endif

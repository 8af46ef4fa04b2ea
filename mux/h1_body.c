/* h1_body.c - HTTP/1.x body framing (RFC 9112 sections 6 and 7.1).
 *
 * The proxy forwards bodies verbatim, chunk framing included; all it needs
 * is where the message ends. Lengths are counted down; chunked bodies go
 * through a byte-level state machine whose whole state is the current
 * grammar position, the chunk size and its digit count, so any split of the
 * input works and nothing is stored (chunk data is skipped in bulk,
 * extensions and trailers byte by byte). Framing lines must end in CRLF:
 * unlike in heads, a bare LF here is where peers disagree.
 */
#include <limits.h>
#include "mux/h1.h"
#include "mux/h1_int.h"

enum h1_chunk_state {
	H1_CS_SIZE0,      /* first hex digit of a chunk size */
	H1_CS_SIZE,       /* more hex digits, or what follows them */
	H1_CS_SIZE_WS,    /* blanks after the size: ';' or CR next */
	H1_CS_EXT,        /* chunk extensions, up to CR */
	H1_CS_SIZE_LF,    /* LF closing the chunk-size line */
	H1_CS_DATA,       /* <left> bytes of chunk data */
	H1_CS_DATA_CR,    /* CR after chunk data */
	H1_CS_DATA_LF,    /* LF after chunk data */
	H1_CS_TRL_START,  /* start of a trailer line, or CR of the final one */
	H1_CS_TRL_NAME,   /* trailer field name, up to ':' */
	H1_CS_TRL_VALUE,  /* trailer field value, up to CR */
	H1_CS_TRL_LF,     /* LF closing a trailer line */
	H1_CS_END_LF,     /* LF closing the message */
	H1_CS_ERROR,      /* framing error seen: every later call fails */
};

/* Sets <b> up for a body of exactly <len> bytes. */
static void h1_body_length(struct h1_body *b, uint64_t len)
{
	b->mode = H1_BODY_LENGTH;
	b->left = len;
	b->done = len == 0;
}

int h1_body_init(struct h1_body *b, const struct h1_msg *m, enum h1_meth req_meth)
{
	*b = (struct h1_body){ .mode = H1_BODY_NONE, .state = H1_CS_SIZE0 };

	if (m->is_request) {
		if (m->flags & H1_F_TE) {
			if (!(m->flags & H1_F_CHUNKED) || (m->flags & H1_F_CLEN))
				return H1_ERR_BAD;
			b->mode = H1_BODY_CHUNKED;
		} else if (m->flags & H1_F_CLEN) {
			h1_body_length(b, m->content_length);
		} else {
			b->done = 1;
		}
		return 0;
	}

	if (m->status < 100)
		return H1_ERR_BAD;
	if (req_meth == H1_M_HEAD || m->status < 200 || m->status == 204 || m->status == 304)
		b->done = 1;
	else if (req_meth == H1_M_CONNECT && m->status < 300)
		b->mode = H1_BODY_CLOSE;    /* a tunnel: bytes flow until one side closes */
	else if (m->flags & H1_F_CHUNKED)
		b->mode = H1_BODY_CHUNKED;
	else if (m->flags & H1_F_TE)
		b->mode = H1_BODY_CLOSE;    /* RFC 9112 6.3 rule 4: chunked not final */
	else if (m->flags & H1_F_CLEN)
		h1_body_length(b, m->content_length);
	else
		b->mode = H1_BODY_CLOSE;
	return 0;
}

/* Returns the value of hex digit <c> (which must be one). */
static inline unsigned h1_hexval(unsigned char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Adds hex digit <c> to the chunk size being read. Returns 0, or -1 when the
 * size has too many digits or exceeds H1_SIZE_MAX. */
static inline int h1_chunk_digit(struct h1_body *b, unsigned char c)
{
	unsigned d = h1_hexval(c);

	/* 16 digits hold 2^62; more are padding that peers might misread */
	if (++b->digits > 16 || b->left > (H1_SIZE_MAX - d) >> 4)
		return -1;
	b->left = (b->left << 4) | d;
	return 0;
}

/* Moves the chunked state machine over p[0..len). With <framing_only>, it
 * stops before chunk data instead of skipping it. Returns how many bytes
 * belong to the message (were consumed) or H1_ERR_BAD. */
static long h1_scan_chunked(struct h1_body *b, const char *p, size_t len, int framing_only)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)p[i];
		int st = b->state;

		if (st == H1_CS_DATA) {
			if (framing_only) {
				b->total += i;
				return (long)i;
			}
			size_t n = len - i < b->left ? len - i : (size_t)b->left;

			b->left -= n;
			i += n;
			if (!b->left)
				b->state = H1_CS_DATA_CR;
			continue;
		}
		switch (st) {
		case H1_CS_SIZE0:
			if (!h1_is(c, H1_C_HEX))
				goto bad;
			b->left = h1_hexval(c);
			b->digits = 1;
			st = H1_CS_SIZE;
			break;
		case H1_CS_SIZE:
			if (h1_is(c, H1_C_HEX)) {
				if (h1_chunk_digit(b, c) < 0)
					goto bad;
				break;
			}
			/* fall through */
		case H1_CS_SIZE_WS:
			if (h1_is(c, H1_C_OWS))
				st = H1_CS_SIZE_WS;
			else if (c == ';')
				st = H1_CS_EXT;
			else if (c == '\r')
				st = H1_CS_SIZE_LF;
			else
				goto bad;
			break;
		case H1_CS_EXT:
			/* extensions are skipped unread; only their bytes are checked */
			while (i < len && h1_is(p[i], H1_C_VALUE))
				i++;
			if (i == len)
				continue;
			if (p[i] != '\r')
				goto bad;
			st = H1_CS_SIZE_LF;
			break;
		case H1_CS_SIZE_LF:
			if (c != '\n')
				goto bad;
			st = b->left ? H1_CS_DATA : H1_CS_TRL_START;
			break;
		case H1_CS_DATA_CR:
			if (c != '\r')
				goto bad;
			st = H1_CS_DATA_LF;
			break;
		case H1_CS_DATA_LF:
			if (c != '\n')
				goto bad;
			st = H1_CS_SIZE0;
			break;
		case H1_CS_TRL_START:
			if (c == '\r')
				st = H1_CS_END_LF;
			else if (h1_is(c, H1_C_TCHAR))
				st = H1_CS_TRL_NAME;
			else
				goto bad;   /* obs-fold or junk */
			break;
		case H1_CS_TRL_NAME:
			if (c == ':')
				st = H1_CS_TRL_VALUE;
			else if (!h1_is(c, H1_C_TCHAR))
				goto bad;
			break;
		case H1_CS_TRL_VALUE:
			while (i < len && h1_is(p[i], H1_C_VALUE))
				i++;
			if (i == len)
				continue;
			if (p[i] != '\r')
				goto bad;
			st = H1_CS_TRL_LF;
			break;
		case H1_CS_TRL_LF:
			if (c != '\n')
				goto bad;
			st = H1_CS_TRL_START;
			break;
		case H1_CS_END_LF:
			if (c != '\n')
				goto bad;
			b->state = H1_CS_SIZE0;
			b->done = 1;
			i++;
			b->total += i;
			return (long)i;
		default:
			goto bad;
		}
		b->state = st;
		i++;
	}
	b->total += len;
	return (long)len;
bad:
	b->state = H1_CS_ERROR;
	return H1_ERR_BAD;
}

long h1_body_scan(struct h1_body *b, const char *p, size_t len)
{
	size_t n;

	if (b->state == H1_CS_ERROR)
		return H1_ERR_BAD;
	if (b->done)
		return 0;
	if (len > LONG_MAX)
		len = LONG_MAX;

	switch (b->mode) {
	case H1_BODY_LENGTH:
		n = len < b->left ? len : (size_t)b->left;
		b->left -= n;
		b->total += n;
		b->done = b->left == 0;
		return (long)n;
	case H1_BODY_CHUNKED:
		return h1_scan_chunked(b, p, len, 0);
	case H1_BODY_CLOSE:
		b->total += len;
		return (long)len;
	case H1_BODY_NONE:
	default:
		b->done = 1;
		return 0;
	}
}

long h1_chunk_framing(struct h1_body *b, const char *p, size_t len)
{
	if (b->state == H1_CS_ERROR)
		return H1_ERR_BAD;
	if (b->done || b->mode != H1_BODY_CHUNKED)
		return 0;
	if (len > LONG_MAX)
		len = LONG_MAX;
	return h1_scan_chunked(b, p, len, 1);
}

uint64_t h1_chunk_data_left(const struct h1_body *b)
{
	return b->mode == H1_BODY_CHUNKED && b->state == H1_CS_DATA ? b->left : 0;
}

void h1_chunk_data_took(struct h1_body *b, uint64_t n)
{
	if (n > h1_chunk_data_left(b))
		n = h1_chunk_data_left(b);  /* a caller bug must not wrap the count */
	b->left -= n;
	b->total += n;
	if (b->state == H1_CS_DATA && !b->left)
		b->state = H1_CS_DATA_CR;
}

long h1_body_scan_buf(struct h1_body *b, const struct buf *buf, size_t ofs)
{
	size_t left, pos;
	long total = 0;

	if (ofs >= b_data(buf))
		return 0;
	left = b_data(buf) - ofs;
	pos = b_wrap_ofs(buf, ofs);
	/* at most two contiguous pieces: up to the end of the area, then from 0 */
	while (left) {
		size_t n = buf->size - pos < left ? buf->size - pos : left;
		long r = h1_body_scan(b, buf->area + pos, n);

		if (r < 0)
			return r;
		total += r;
		if ((size_t)r < n || b->done)
			break;
		left -= n;
		pos = 0;
	}
	return total;
}

int h1_body_eof(struct h1_body *b)
{
	if (b->state == H1_CS_ERROR)
		return H1_ERR_BAD;
	if (b->done)
		return 0;
	if (b->mode != H1_BODY_CLOSE)
		return H1_ERR_BAD;
	b->done = 1;
	return 0;
}

/* h1.h - HTTP/1.x message parsing, body framing and head rewriting.
 *
 * Contract
 * --------
 * Pure functions over bytes the caller owns: nothing here allocates, does
 * I/O, keeps global state or knows about the buffer pool. A message head is
 * parsed from one contiguous area (the engine calls b_realign() first);
 * bodies are scanned incrementally, in any split, straight from the ring.
 *
 * The engine's cycle for one message:
 *   1. bytes arrive at area[0..n); h1_head_end() tells cheaply whether a
 *      complete head is there yet (optional: h1_parse_head() may be called
 *      on every read instead, heads are small);
 *   2. h1_parse_head() fills a struct h1_msg (spans point into the area);
 *   3. h1_body_init() derives the body framing from the head;
 *   4. h1_rewrite_head() rewrites the head in place (hop-by-hop headers out,
 *      Connection / X-Forwarded-For / Via in), keeping the bytes after it;
 *   5. the body is forwarded verbatim; h1_body_scan_buf() says how many
 *      bytes belong to this message and when it ends.
 *
 * Strictness: anything that two HTTP implementations could frame
 * differently (CL and TE together in a request, conflicting lengths,
 * obs-fold, a space before a colon, bare CR, chunk sizes with junk) is
 * rejected, since this proxy forwards bodies verbatim and must agree with
 * every peer on where a message ends.
 */
#ifndef SLUICE_MUX_H1_H
#define SLUICE_MUX_H1_H

#include <stddef.h>
#include <stdint.h>
#include "pool/buf.h"

/* Size of the header array. The parser accepts H1_MAX_HDRS - 1 headers; a
 * rewrite adds at most four (Host, Connection, X-Forwarded-For, Via) and
 * fails with H1_ERR_TOO_LARGE if they do not fit. */
#define H1_MAX_HDRS 101

/* Largest head the parser handles, whatever max_head says: spans are 32-bit
 * and results are int. */
#define H1_HEAD_LIMIT (1u << 30)

enum h1_err {
	H1_NEED_MORE      = 0,
	H1_ERR_BAD        = -1, /* 400 for a request, 502 for a response */
	H1_ERR_TOO_LARGE  = -2, /* 431 or 414 for a request, 502 for a response */
	H1_ERR_NOT_IMPL   = -3, /* 501: unknown transfer-coding, unsupported version */
};

/* A byte range, as offsets from the start of the message (area[0]). */
struct h1_span {
	uint32_t ofs, len;
};

struct h1_hdr {
	struct h1_span name, value; /* value trimmed of OWS */
};

enum h1_meth {
	H1_M_GET, H1_M_HEAD, H1_M_POST, H1_M_PUT, H1_M_DELETE, H1_M_OPTIONS,
	H1_M_CONNECT, H1_M_TRACE, H1_M_PATCH, H1_M_OTHER
};

/* Message flags (struct h1_msg.flags) */
#define H1_F_CLEN        0x0001 /* valid Content-Length present (and meaningful) */
#define H1_F_CHUNKED     0x0002 /* Transfer-Encoding ends with chunked */
#define H1_F_CONN_CLOSE  0x0004 /* Connection: close */
#define H1_F_CONN_KA     0x0008 /* Connection: keep-alive */
#define H1_F_EXPECT_100  0x0010 /* Expect: 100-continue (HTTP/1.1 requests only) */
#define H1_F_UPGRADE     0x0020 /* Connection: upgrade + Upgrade header; clear it to refuse */
#define H1_F_HOST        0x0040 /* Host header present */
#define H1_F_TE          0x0080 /* Transfer-Encoding present (chunked or not) */
#define H1_F_CLEN_DUP    0x0100 /* Content-Length repeated or a list: rewrite emits one */
#define H1_F_CONN_OTHER  0x0200 /* Connection names other headers (hop-by-hop) */
#define H1_F_ABS_FORM    0x0400 /* request target in absolute form: the next hop's
                                 * Host is its authority (RFC 9112 3.2.2) */

struct h1_msg {
	int is_request;
	enum h1_meth meth;            /* requests */
	struct h1_span method, uri;   /* requests */
	int status;                   /* responses: 100..599 */
	struct h1_span reason;        /* responses, may be empty */
	int version;                  /* 10 or 11 */
	unsigned flags;               /* H1_F_* */
	uint64_t content_length;      /* valid when H1_F_CLEN */
	uint32_t head_len;            /* bytes including the final CRLF CRLF (or LF LF) */
	/* On error: the offset of the byte that failed, and the status the
	 * engine should answer with (400, 414, 431, 501 for a request, 502 for a
	 * response). Undefined after a success. */
	uint32_t err_ofs;
	int err_status;
	unsigned nb_hdrs;
	struct h1_hdr hdrs[H1_MAX_HDRS];
};

/* Parses a message head at p[0..len); <is_request> selects a request line or
 * a status line. Leading empty lines before a request line are skipped (and
 * counted in head_len); bare LF line ends are accepted in the head.
 * Returns head_len (> 0) when complete, H1_NEED_MORE (0) when more bytes are
 * needed and len < max_head, H1_ERR_TOO_LARGE when max_head bytes hold no
 * complete head (or more than H1_MAX_HDRS - 1 headers), or another negative
 * enum h1_err (m->err_ofs / m->err_status then say where and what). */
int h1_parse_head(const char *p, size_t len, int is_request, size_t max_head, struct h1_msg *m);

/* Returns the length of the head at p[0..len) when it holds its final empty
 * line, else 0. It only looks for line ends, validates nothing, and resumes
 * where the previous call stopped: *resume must be 0 before the first call
 * on a message and kept untouched between calls, so a head trickling in byte
 * by byte costs O(total) instead of a full parse per read. Call
 * h1_parse_head() once it returns non-zero, or once len reaches the head
 * size limit (h1_parse_head() then reports the error). */
size_t h1_head_end(const char *p, size_t len, size_t *resume);

/* Returns the index of the first header named <name> (case-insensitive) at
 * or after index <from>, or -1. <msg> is the area the spans refer to. */
int h1_find_hdr(const struct h1_msg *m, const char *msg, const char *name, int from);

/* Returns non-zero when the connection must close after this message:
 * HTTP/1.0 without "Connection: keep-alive", or any "Connection: close". */
int h1_wants_close(const struct h1_msg *m);

/* Returns non-zero when every element of the comma-separated list
 * chosen[0..clen) appears, ignoring case, in the list offered[0..olen), and
 * chosen names at least one. Used to accept a 101: the protocols a server
 * switches to must be among those the request offered in its Upgrade. */
int h1_list_covers(const char *offered, size_t olen, const char *chosen, size_t clen);

/* Returns the method named by the <len> bytes at <s> (case-sensitive). */
enum h1_meth h1_meth_lookup(const char *s, size_t len);

/* ---- body framing ---- */

enum h1_body_mode { H1_BODY_NONE, H1_BODY_LENGTH, H1_BODY_CHUNKED, H1_BODY_CLOSE };

struct h1_body {
	enum h1_body_mode mode;
	uint64_t left;    /* LENGTH: bytes left; CHUNKED: data (or size) being read */
	int state;        /* CHUNKED: position in the chunk grammar (private) */
	int done;         /* the message is complete */
	uint64_t total;   /* bytes of this body scanned so far, framing included */
	uint8_t digits;   /* CHUNKED: hex digits of the current size (private) */
};

/* Sets up body framing for <m> (RFC 9112 section 6.3). For a response,
 * <req_meth> is the request's method: a response to HEAD, 1xx, 204 and 304
 * have no body (after a 101 the engine itself turns the connection into a
 * tunnel); 2xx to CONNECT is a tunnel (CLOSE); Transfer-Encoding not ending
 * in chunked, or no length at all, is close-delimited. For a request
 * without CL/TE there is no body.
 * <req_meth> is ignored for requests. Messages without a body, and
 * Content-Length: 0, start with b->done set.
 * Returns 0, or H1_ERR_BAD for framing a request cannot have. */
int h1_body_init(struct h1_body *b, const struct h1_msg *m, enum h1_meth req_meth);

/* Scans the next <len> bytes of body (framing included), in any split.
 * Returns how many of them belong to this message (<= len; the rest is the
 * next message), or H1_ERR_BAD on a bad chunk size / chunk CRLF / trailer,
 * or a chunk size over 2^62 (after an error every call fails). Sets b->done
 * once the message is complete: LENGTH when nothing is left, CHUNKED after
 * the last chunk and the trailer section's final CRLF, CLOSE never (see
 * h1_body_eof()). Trailers are checked line by line and not stored. */
long h1_body_scan(struct h1_body *b, const char *p, size_t len);

/* Same as h1_body_scan(), over the b_data(buf) - ofs bytes of <buf> that
 * start <ofs> bytes past its head (the ring may wrap). */
long h1_body_scan_buf(struct h1_body *b, const struct buf *buf, size_t ofs);

/* Decoding a chunked body for a peer that needs the payload itself (the
 * HTTP/2 side, which re-frames it as DATA), with the same grammar as
 * h1_body_scan(): both sides must agree on every framing byte, or a body
 * could end in one place for one peer and elsewhere for another.
 *
 * h1_chunk_framing() moves the CHUNKED framing <b> over p[0..len) and stops
 * before the first chunk-data byte, at the end of the message (b->done), or
 * at the end of the input. Returns how many framing bytes it consumed, or
 * H1_ERR_BAD (as h1_body_scan(); every later call fails). Trailers are
 * checked and skipped. h1_chunk_data_left() then says how many chunk-data
 * bytes come next (0 when not in chunk data); the caller takes up to that
 * many and reports them with h1_chunk_data_took() before framing again. */
long h1_chunk_framing(struct h1_body *b, const char *p, size_t len);
uint64_t h1_chunk_data_left(const struct h1_body *b);
void h1_chunk_data_took(struct h1_body *b, uint64_t n);

/* Tells the framing that the peer closed. Returns 0 and sets b->done when
 * that ends the message properly (close-delimited or already done), else
 * H1_ERR_BAD (a truncated message). */
int h1_body_eof(struct h1_body *b);

/* ---- head rewriting ---- */

struct h1_rewrite {
	int add_conn_close;        /* add "Connection: close" */
	int add_conn_keepalive;    /* add "Connection: keep-alive" (for HTTP/1.0 peers) */
	const char *xff;           /* if non-NULL: append "X-Forwarded-For: <xff>" (requests) */
	const char *via;           /* if non-NULL: append "Via: <via>" */
	int force_version_11;      /* write HTTP/1.1 in the start line */
};

/* Rewrites in place the head of <m> that sits at area[0..m->head_len),
 * followed by <tail_len> bytes (body already received, next messages) kept
 * right after the new head. The start line and each kept header are written
 * again in canonical form ("Name: value" CRLF, single spaces, CRLF ends).
 * Dropped: Connection and every header it names, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Upgrade unless H1_F_UPGRADE; also
 * Content-Length when Transfer-Encoding is present, and Expect in an
 * HTTP/1.0 request. Never dropped, even if Connection names them: Host,
 * Content-Length, Transfer-Encoding. A repeated Content-Length becomes one.
 * A request without Host that leaves as HTTP/1.1 gets one (the target's
 * authority, or empty). Then the headers asked by <rw> are added (one
 * Connection header carrying close or keep-alive and, with H1_F_UPGRADE,
 * upgrade). The new head is built in <scratch> and copied
 * back. m is updated (spans, nb_hdrs, head_len, connection flags) to
 * describe the new head.
 * Returns the new head length, H1_ERR_TOO_LARGE if it does not fit in
 * scratch, or with tail_len in area_size, or in H1_MAX_HDRS headers, or
 * H1_ERR_BAD if rw->xff / rw->via hold control characters or
 * head_len + tail_len exceeds area_size. On error the area is untouched. */
int h1_rewrite_head(struct h1_msg *m, char *area, size_t area_size, size_t tail_len,
                    const struct h1_rewrite *rw, char *scratch, size_t scratch_size);

/* ---- replies made by the proxy itself ---- */

/* Writes a complete error response for <status> (400..599) with a short
 * HTML body and "Connection: close" into dst[0..room). Returns its length,
 * or 0 if it does not fit or <status> is not an error status. */
size_t h1_make_error(int status, char *dst, size_t room);

/* Same as h1_make_error(), with the header lines <hdrs> (each ending in
 * CRLF, "" for none; the caller's constant, never client bytes) added,
 * e.g. WWW-Authenticate for a 401. */
size_t h1_make_error_hdr(int status, const char *hdrs, char *dst, size_t room);

/* Returns the reason phrase for <status> ("Unknown" for codes without one). */
const char *h1_reason(int status);

#endif /* SLUICE_MUX_H1_H */

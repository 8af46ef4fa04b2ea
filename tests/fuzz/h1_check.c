/* h1_check.c - see h1_check.h.
 *
 * Properties checked for every message found in the input:
 *   - the parser and the body scanner read only inside the input: it sits in
 *     a block of exactly its size (fz_dup), so ASan catches any overread;
 *   - results stay in their documented ranges; spans lie inside the head;
 *     no control byte in a value, none (nor space) in a request target;
 *   - a request never carries both Content-Length and Transfer-Encoding, and
 *     a chunked flag implies Transfer-Encoding (smuggling);
 *   - the head end is the same whether found by h1_head_end() at once, fed
 *     byte by byte with its resume cursor, or by h1_parse_head(); one byte
 *     less is "need more", the head alone parses to the same length;
 *   - the body ends at the same byte whether scanned at once, in pieces of
 *     any size, or from a ring buffer that wraps (h1_body_scan_buf);
 *   - a rewritten head parses again to exactly what the rewrite reported,
 *     the bytes after it are kept, and the body framing it announces ends
 *     the body at the same byte as the original head did: the proxy never
 *     forwards a head that frames the body differently from how it read it;
 *   - a failed rewrite leaves the area untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mux/h1.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/h1_check.h"

/* Messages looked at per input: enough for pipelining and interim heads. */
#define H1FZ_MAX_MSGS 8

/* Checks the description of a head of <hl> bytes at <p>. */
static void h1fz_check_msg(const struct h1_msg *m, const char *p, int hl)
{
	unsigned i;

	FZ_CHECK(m->head_len == (uint32_t)hl, "head_len %u vs %d", m->head_len, hl);
	FZ_CHECK(m->nb_hdrs < H1_MAX_HDRS, "%u headers", m->nb_hdrs);
	FZ_CHECK(m->version == 10 || m->version == 11, "version %d", m->version);
	if (m->is_request) {
		FZ_CHECK(m->method.len > 0 && m->method.ofs + m->method.len < (uint32_t)hl, "method");
		FZ_CHECK(m->uri.len > 0 && m->uri.ofs + m->uri.len < (uint32_t)hl, "uri");
		for (uint32_t k = 0; k < m->uri.len; k++) {
			unsigned char c = (unsigned char)p[m->uri.ofs + k];

			FZ_CHECK(c > 0x20 && c != 0x7f, "control byte or space in the target");
		}
		FZ_CHECK(!((m->flags & H1_F_CLEN) && (m->flags & H1_F_TE)), "CL and TE in a request");
	} else {
		FZ_CHECK(m->status >= 100 && m->status <= 599, "status %d", m->status);
		FZ_CHECK(m->reason.ofs + m->reason.len < (uint32_t)hl, "reason");
	}
	for (i = 0; i < m->nb_hdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		FZ_CHECK(h->name.len > 0 && h->name.ofs + h->name.len < (uint32_t)hl, "name %u", i);
		FZ_CHECK(h->value.ofs + h->value.len < (uint32_t)hl, "value %u", i);
		FZ_CHECK(p[h->name.ofs + h->name.len] == ':', "no colon after name %u", i);
		for (uint32_t k = 0; k < h->value.len; k++) {
			unsigned char c = (unsigned char)p[h->value.ofs + k];

			FZ_CHECK((c >= 0x20 || c == '\t') && c != 0x7f, "control byte in value %u", i);
		}
	}
	if (m->flags & H1_F_CHUNKED)
		FZ_CHECK(m->flags & H1_F_TE, "chunked without TE");
}

/* Checks that the end of the head at p[0..hl) is found the same way by
 * every route (see the file comment). */
static void h1fz_check_head_end(const char *p, size_t len, int hl, int is_request,
                                size_t max_head)
{
	struct h1_msg m;
	size_t resume = 0, end = 0, k;

	end = h1_head_end(p, len, &resume);
	FZ_CHECK(end == (size_t)hl, "head_end %zu vs parse %d", end, hl);
	/* byte by byte, as a trickled head arrives (bounded: O(n) per call) */
	if (hl <= 4096) {
		resume = 0;
		for (k = 1; k <= (size_t)hl; k++) {
			end = h1_head_end(p, k, &resume);
			if (end)
				break;
		}
		FZ_CHECK(end == (size_t)hl, "trickled head_end %zu at %zu vs %d", end, k, hl);
	}
	if ((size_t)hl - 1 < max_head)
		FZ_CHECK(h1_parse_head(p, (size_t)hl - 1, is_request, max_head, &m) == H1_NEED_MORE,
		         "a head minus one byte is complete");
	FZ_CHECK(h1_parse_head(p, (size_t)hl, is_request, max_head, &m) == hl,
	         "the head alone parses differently");
}

/* Scans body bytes p[0..len) at once, in pieces and through a wrapping ring
 * buffer; checks that all agree. Returns the bytes of the body (or -1 on a
 * framing error) and leaves the whole-scan state in *out. */
static long h1fz_scan_body(const struct h1_body *init, const char *p, size_t len,
                           struct fz_rng *rng, struct h1_body *out)
{
	struct h1_body whole = *init, parts = *init, ring = *init;
	struct buf b;
	long rw, rp = 0, rr;
	size_t from = 0, skip;

	rw = h1_body_scan(&whole, p, len);
	FZ_CHECK(rw >= H1_ERR_BAD && rw <= (long)len, "scan %ld of %zu", rw, len);
	while (from < len) {
		size_t n = fz_below(rng, len - from < 64 ? len - from : 64) + 1;
		long r = h1_body_scan(&parts, p + from, n);

		FZ_CHECK(r >= H1_ERR_BAD && r <= (long)n, "piece %ld of %zu", r, n);
		if (r < 0) {
			rp = r;
			break;
		}
		rp += r;
		if ((size_t)r < n || parts.done)
			break;
		from += n;
	}
	FZ_CHECK(rw == rp, "whole %ld vs pieces %ld", rw, rp);
	if (rw >= 0) {
		FZ_CHECK(whole.done == parts.done, "done %d vs pieces %d", whole.done, parts.done);
		FZ_CHECK(whole.total == (uint64_t)rw, "total %llu vs %ld",
		         (unsigned long long)whole.total, rw);
		if (rw < (long)len)
			FZ_CHECK(whole.done, "stopped early without being done");
	}

	/* the same bytes in a ring of exactly their size (plus <skip> bytes
	 * before them that h1_body_scan_buf must skip), wrapped at a random
	 * point */
	skip = fz_below(rng, 4);
	b.size = len + skip ? len + skip : 1;
	b.area = malloc(b.size);
	FZ_CHECK(b.area != NULL, "out of memory");
	b.head = fz_below(rng, b.size);
	b.data = 0;
	for (size_t i = 0; i < skip + len; i++)
		b.area[b_wrap_ofs(&b, i)] = i < skip ? 'X' : p[i - skip];
	b.data = skip + len;
	rr = h1_body_scan_buf(&ring, &b, skip);
	free(b.area);
	FZ_CHECK(rr == rw, "ring %ld vs whole %ld", rr, rw);
	if (rw >= 0)
		FZ_CHECK(ring.done == whole.done, "ring done %d vs %d", ring.done, whole.done);
	*out = whole;
	return rw;
}

/* Rewrites the head of <parsed> (at in[0..hl), <tail> bytes after it) with
 * options drawn from <rng> and checks the result (see the file comment).
 * <req_meth> frames a response's body. */
static void h1fz_check_rewrite(const struct h1_msg *parsed, const char *in, size_t len,
                               enum h1_meth req_meth, struct fz_rng *rng)
{
	static const char *const addrs[] = { "192.0.2.1", "2001:db8::7", "1.2.3.4, 5.6.7.8" };
	struct h1_rewrite rw = {
		.add_conn_close = (int)fz_below(rng, 2),
		.add_conn_keepalive = (int)fz_below(rng, 2),
		.xff = fz_below(rng, 2) ? addrs[fz_below(rng, 3)] : NULL,
		.via = fz_below(rng, 2) ? "1.1 sluice" : NULL,
		.force_version_11 = (int)fz_below(rng, 2),
	};
	size_t tail = len - parsed->head_len;
	size_t area_size = len + (fz_below(rng, 4) ? 1024 : fz_below(rng, 64));
	size_t scratch_size = fz_below(rng, 4) ? area_size : fz_below(rng, len + 128) + 1;
	char *area = malloc(area_size), *scratch = malloc(scratch_size);
	struct h1_msg m = *parsed, again;
	struct h1_body b1, b2, s1, s2;
	long l1, l2;
	int r, r2;

	FZ_CHECK(area && scratch, "out of memory");
	memcpy(area, in, len);
	r = h1_rewrite_head(&m, area, area_size, tail, &rw, scratch, scratch_size);
	FZ_CHECK(r == H1_ERR_TOO_LARGE || r > 0, "rewrite returned %d", r);
	if (r < 0) {
		FZ_CHECK(!memcmp(area, in, len), "area changed by a failed rewrite");
		goto out;
	}
	FZ_CHECK((size_t)r + tail <= area_size, "rewrite overflows the area");
	FZ_CHECK(m.head_len == (uint32_t)r, "head_len %u vs %d", m.head_len, r);
	FZ_CHECK(!memcmp(area + r, in + parsed->head_len, tail), "tail changed");
	/* h1.h lets a rewrite fill all H1_MAX_HDRS entries, one more than the
	 * parser accepts (test_h1_rewrite.c asserts it): such a head is sent
	 * on but cannot be parsed again, so the re-parse checks stop here */
	if (m.nb_hdrs >= H1_MAX_HDRS)
		goto out;
	r2 = h1_parse_head(area, (size_t)r, m.is_request, 65536, &again);
	FZ_CHECK(r2 == r, "rewritten head parses to %d, not %d: %.*s", r2, r, r, area);
	FZ_CHECK(again.flags == m.flags, "flags %#x vs %#x: %.*s", again.flags, m.flags, r, area);
	FZ_CHECK(again.nb_hdrs == m.nb_hdrs, "%u headers vs %u", again.nb_hdrs, m.nb_hdrs);
	FZ_CHECK(again.version == m.version, "version");
	FZ_CHECK(again.content_length == m.content_length, "content_length");
	for (unsigned i = 0; i < m.nb_hdrs; i++)
		FZ_CHECK(!memcmp(&again.hdrs[i], &m.hdrs[i], sizeof(m.hdrs[i])), "header %u spans", i);

	/* the next hop must frame the body as we did */
	if (h1_body_init(&b1, parsed, req_meth) == 0) {
		FZ_CHECK(h1_body_init(&b2, &again, req_meth) == 0,
		         "the rewritten head has a framing the original did not: %.*s", r, area);
		FZ_CHECK(b1.mode == b2.mode && b1.done == b2.done && b1.left == b2.left,
		         "framing changed by the rewrite (mode %d/%d left %llu/%llu): %.*s",
		         b1.mode, b2.mode, (unsigned long long)b1.left,
		         (unsigned long long)b2.left, r, area);
		s1 = b1;
		s2 = b2;
		l1 = h1_body_scan(&s1, in + parsed->head_len, tail);
		l2 = h1_body_scan(&s2, area + r, tail);
		FZ_CHECK(l1 == l2 && s1.done == s2.done, "body ends at %ld vs %ld after the rewrite",
		         l1, l2);
	}
out:
	free(area);
	free(scratch);
}

/* Checks one message at p[0..len). Returns the bytes it used (head and
 * body) when another message may follow, or 0 when the stream ends here
 * (error, incomplete, close-delimited, tunnel). <req_meth> is the method
 * a response answers (ignored for requests). */
static size_t h1fz_one(const char *p, size_t len, int is_request, enum h1_meth req_meth,
                       struct fz_rng *rng)
{
	size_t max_head = fz_below(rng, 8) ? 8192 : fz_below(rng, len + 64) + 1;
	struct h1_msg m;
	struct h1_body b, end;
	long used;
	int r;

	r = h1_parse_head(p, len, is_request, max_head, &m);
	FZ_CHECK(r >= H1_ERR_NOT_IMPL, "parse returned %d", r);
	FZ_CHECK(r <= 0 || ((size_t)r <= len && (size_t)r <= max_head), "head %d of %zu", r, len);
	FZ_CHECK(r != H1_NEED_MORE || len < max_head, "need more with %zu >= %zu", len, max_head);
	if (r < 0) {
		FZ_CHECK(m.err_status >= 400 && m.err_status <= 505, "err_status %d", m.err_status);
		FZ_CHECK(m.err_ofs <= len, "err_ofs %u of %zu", m.err_ofs, len);
		if (!is_request)
			FZ_CHECK(m.err_status == 502, "a bad response answers %d", m.err_status);
		return 0;
	}
	if (r == 0)
		return 0;
	h1fz_check_msg(&m, p, r);
	h1fz_check_head_end(p, len, r, is_request, max_head);
	h1fz_check_rewrite(&m, p, len, req_meth, rng);
	if (h1_body_init(&b, &m, req_meth) < 0) {
		FZ_CHECK(is_request, "a response without framing");
		return 0;
	}
	if (is_request)
		FZ_CHECK(b.mode == H1_BODY_NONE || b.mode == H1_BODY_LENGTH ||
		         b.mode == H1_BODY_CHUNKED, "a request body delimited by close");
	used = h1fz_scan_body(&b, p + r, len - (size_t)r, rng, &end);
	if (used < 0)
		return 0;
	if (!end.done) {
		/* the peer closes here */
		int eof = h1_body_eof(&end);

		FZ_CHECK(eof == 0 ? end.mode == H1_BODY_CLOSE : end.mode != H1_BODY_CLOSE,
		         "eof %d in mode %d", eof, end.mode);
		return 0;
	}
	if (!is_request && m.status == 101)
		return 0;  /* a tunnel follows */
	return (size_t)r + (size_t)used;
}

/* Contract in h1_check.h: every message of the stream, checked. */
void h1fz_run(const uint8_t *data, size_t size, int is_request)
{
	enum h1_meth req_meth = H1_M_GET;
	struct fz_rng rng;
	size_t off = 0, used;
	char *p;

	fz_rng_init(&rng, data, size);
	if (!is_request && size && data[0] == '@') {
		const uint8_t *nl = memchr(data, '\n', size);

		if (nl) {
			req_meth = h1_meth_lookup((const char *)data + 1, (size_t)(nl - data) - 1);
			off = (size_t)(nl - data) + 1;
		}
	}
	/* exactly the message bytes: a read past them is a read past the block */
	p = fz_dup(data + off, size - off);
	size -= off;
	off = 0;
	for (int i = 0; i < H1FZ_MAX_MSGS && off < size; i++) {
		used = h1fz_one(p + off, size - off, is_request, req_meth, &rng);
		if (!used)
			break;
		off += used;
	}
	free(p);
}

/* h1_testutil.h - small helpers shared by the HTTP/1 tests. */
#ifndef SLUICE_TESTS_MUX_H1_TESTUTIL_H
#define SLUICE_TESTS_MUX_H1_TESTUTIL_H

#include <string.h>
#include "mux/h1.h"

/* A byte string that may hold NULs: S("a\0b") keeps its 3 bytes. */
struct tstr {
	const char *s;
	size_t len;
};
#define S(lit) { (lit), sizeof(lit) - 1 }

#define TEST_MAX_HEAD 16384

/* Parses <s> as a request head. Returns what h1_parse_head() returns. */
static inline int parse_req(const char *s, size_t len, struct h1_msg *m)
{
	return h1_parse_head(s, len, 1, TEST_MAX_HEAD, m);
}

/* Parses <s> as a response head. Returns what h1_parse_head() returns. */
static inline int parse_rsp(const char *s, size_t len, struct h1_msg *m)
{
	return h1_parse_head(s, len, 0, TEST_MAX_HEAD, m);
}

/* Returns non-zero when span <sp> of <base> holds exactly <want>. */
static inline int span_is(const char *base, struct h1_span sp, const char *want)
{
	return sp.len == strlen(want) && !memcmp(base + sp.ofs, want, sp.len);
}

/* Returns non-zero when header <name> exists in <m> with value <want>. */
static inline int hdr_is(const struct h1_msg *m, const char *base, const char *name, const char *want)
{
	int i = h1_find_hdr(m, base, name, 0);

	return i >= 0 && span_is(base, m->hdrs[i].value, want);
}

#endif /* SLUICE_TESTS_MUX_H1_TESTUTIL_H */

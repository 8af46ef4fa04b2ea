/* h1_int.h - helpers shared by the HTTP/1 files (internal, not installed).
 *
 * One 256-entry table answers "may this byte appear here?" for every place
 * of the grammar with a single load, instead of chains of comparisons.
 */
#ifndef SLUICE_MUX_H1_INT_H
#define SLUICE_MUX_H1_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define H1_C_TCHAR 0x01 /* token: ALPHA DIGIT and !#$%&'*+-.^_`|~ */
#define H1_C_VALUE 0x02 /* field value, reason, chunk extension: HT SP VCHAR obs-text */
#define H1_C_URI   0x04 /* request-target: VCHAR but '#' (no CTL, SP, obs-text) */
#define H1_C_HEX   0x08 /* hexadecimal digit */
#define H1_C_OWS   0x10 /* SP or HT */

extern const uint8_t h1_ctype[256];

/* Returns non-zero when byte <c> is in any of the classes <cls>. */
static inline int h1_is(unsigned char c, unsigned cls) { return h1_ctype[c] & cls; }

/* Returns <c> lowered if it is an ASCII capital letter. */
static inline unsigned char h1_lower(unsigned char c) { return (unsigned)(c - 'A') < 26u ? c + 32 : c; }

/* Returns non-zero when the <n> bytes at <a> and <b> are equal ignoring
 * ASCII case. */
static inline int h1_ieq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (h1_lower((unsigned char)a[i]) != h1_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Returns non-zero when the <n> bytes at <s> spell the string literal <lit>
 * ignoring case. */
#define H1_IS(s, n, lit) ((n) == sizeof(lit) - 1 && h1_ieq((s), (lit), sizeof(lit) - 1))

/* Walks a comma-separated list inside s[*pos..end). Returns 1 with the next
 * element, trimmed of OWS, in s[*eofs..*eofs + *elen) (possibly empty: the
 * caller decides whether empty elements are allowed), or 0 past the last
 * element. *pos starts at the list's first byte. */
static inline int h1_list_next(const char *s, uint32_t *pos, uint32_t end,
                               uint32_t *eofs, uint32_t *elen)
{
	uint32_t i = *pos, b, e;

	if (i > end)
		return 0;
	while (i < end && h1_is(s[i], H1_C_OWS))
		i++;
	b = i;
	while (i < end && s[i] != ',')
		i++;
	e = i;
	while (e > b && h1_is(s[e - 1], H1_C_OWS))
		e--;
	*eofs = b;
	*elen = e - b;
	*pos = i + 1;
	return 1;
}

/* Same as h1_skip_words() with 0x21 for a request target, which must also
 * stop on obs-text (bytes 0x80 and up) and '#' (a fragment is never sent):
 * the word test above lets high bytes through. */
static inline uint32_t h1_skip_uri_words(const char *p, uint32_t i, uint32_t end)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);

	while (end - i >= 8) {
		uint64_t w, d, h;

		memcpy(&w, p + i, 8);
		d = w ^ (ones * 0x7f);
		h = w ^ (ones * '#');
		if ((((w - ones * 0x21) & ~w) | ((d - ones) & ~d) | ((h - ones) & ~h) | w) & highs)
			break;
		i += 8;
	}
	return i;
}

/* Returns non-zero when all <n> bytes at <s> are token characters. */
static inline int h1_all_tchar(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!h1_is(s[i], H1_C_TCHAR))
			return 0;
	return 1;
}

/* Returns the offset of the first 8-byte word of p[i..end) that may hold a
 * byte below <lowest> or a DEL, i.e. skips words made only of bytes in
 * [lowest, 0x7e] or 0x80-0xff (lowest <= 0x80). The byte loop that follows
 * does the exact checks; this only lets long values and targets go 8 bytes
 * per step. */
static inline uint32_t h1_skip_words(const char *p, uint32_t i, uint32_t end, uint8_t lowest)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);

	while (end - i >= 8) {
		uint64_t w, d;

		memcpy(&w, p + i, 8);
		d = w ^ (ones * 0x7f);
		/* "some byte below n" tests, exact as to whether any byte is */
		if ((((w - ones * lowest) & ~w) | ((d - ones) & ~d)) & highs)
			break;
		i += 8;
	}
	return i;
}

/* Largest Content-Length or chunk size accepted (2^62): far beyond any real
 * body, and sums of a few of them cannot overflow 64 bits. */
#define H1_SIZE_MAX (UINT64_C(1) << 62)

#endif /* SLUICE_MUX_H1_INT_H */

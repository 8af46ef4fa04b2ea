/* fuzz_common.h - helpers shared by the fuzz targets of tests/fuzz.
 *
 * Every target defines LLVMFuzzerTestOneInput(). It is linked either with
 * libFuzzer (meson option fuzz=true, clang) or with replay_main.c, which
 * runs it over corpus files, so that gcc builds and CI replay the corpora.
 *
 * Targets check invariants, not only crashes: FZ_CHECK prints what broke
 * and abort()s, which both libFuzzer and the replay driver report as a
 * failure with the input that caused it.
 */
#ifndef SLUICE_TESTS_FUZZ_COMMON_H
#define SLUICE_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message when <cond> is false. */
#define FZ_CHECK(cond, ...) do {                                            \
	if (!(cond)) {                                                      \
		fprintf(stderr, "fuzz: %s:%d: invariant broken: %s: ",         \
		        __FILE__, __LINE__, #cond);                             \
		fprintf(stderr, __VA_ARGS__);                                   \
		fputc('\n', stderr);                                            \
		abort();                                                        \
	}                                                                   \
} while (0)

/* Returns a malloc'ed copy of data[0..size) in a block of exactly <size>
 * bytes (one byte for an empty input), so that AddressSanitizer reports any
 * read past the end of the input: libFuzzer's own buffer has the same
 * property, but a corpus file replayed through a larger buffer would not. */
static inline char *fz_dup(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);

	FZ_CHECK(p != NULL, "out of memory");
	if (size)
		memcpy(p, data, size);
	return p;
}

/* Same as fz_dup() plus a terminating NUL, for parsers of C strings: a read
 * past the NUL is then a read past the block. */
static inline char *fz_strdup(const uint8_t *data, size_t size)
{
	char *p = malloc(size + 1);

	FZ_CHECK(p != NULL, "out of memory");
	if (size)
		memcpy(p, data, size);
	p[size] = '\0';
	return p;
}

/* A deterministic generator seeded from the input (FNV-1a), so that choices
 * a target makes (split points, sizes) repeat exactly when the input is
 * replayed, and change when the fuzzer mutates it. */
struct fz_rng {
	uint64_t s;
};

/* Seeds <r> from data[0..size). */
static inline void fz_rng_init(struct fz_rng *r, const uint8_t *data, size_t size)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < size; i++) {
		h ^= data[i];
		h *= 1099511628211ull;
	}
	r->s = h ? h : 1;
}

/* Returns a number in [0, n) (0 when n is 0); xorshift64*. */
static inline size_t fz_below(struct fz_rng *r, size_t n)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return n ? (size_t)((r->s * 2685821657736338717ull) % n) : 0;
}

#endif /* SLUICE_TESTS_FUZZ_COMMON_H */

/* opattern.h - the deterministic bytes served by /size/N and /chunked/N.
 *
 * Byte i of every generated body (i counted from 0 at the body's first
 * byte) is
 *
 *     OPATTERN_ALPHABET[i % OPATTERN_PERIOD]
 *
 * with the 61-character alphabet below. The period is prime on purpose: a
 * proxy that drops, repeats or reorders a run of 2^k bytes (a buffer, a
 * chunk, a frame) shifts the pattern and changes the digest, which a period
 * dividing 4096 or 16384 would hide. tests/integration/harness.py computes
 * the same bytes (pattern_bytes, pattern_sha256); keep the two in step.
 *
 * The bytes come from one read-only block built once, so a body of any size
 * is written straight from it without a per-connection copy.
 */
#ifndef SLUICE_ORIGIN_OPATTERN_H
#define SLUICE_ORIGIN_OPATTERN_H

#include <stddef.h>
#include <stdint.h>

#define OPATTERN_ALPHABET "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678"
#define OPATTERN_PERIOD   61

/* Returns a pointer to the pattern bytes of body offset <ofs>; stores in
 * <*avail> how many bytes are contiguous from there (always more than
 * 64 KiB - OPATTERN_PERIOD). Thread-safe. */
const char *opattern_at(uint64_t ofs, size_t *avail);

#endif

/* sha256.h - SHA-256 (FIPS 180-4), streaming.
 *
 * The origin hashes uploaded bodies as they arrive so that a test can check
 * a large upload end to end without the server ever holding the body.
 * Feed any number of sha256_update() calls between sha256_init() and
 * sha256_final(); the context holds at most one partial 64-byte block.
 */
#ifndef SLUICE_ORIGIN_SHA256_H
#define SLUICE_ORIGIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN    64

struct sha256 {
	uint32_t state[8];
	uint64_t total;        /* bytes hashed so far */
	uint8_t  block[64];    /* pending partial block */
	size_t   used;         /* bytes pending in block */
};

/* Prepares <ctx> for a new message. */
void sha256_init(struct sha256 *ctx);

/* Adds <len> bytes at <data> to the message. */
void sha256_update(struct sha256 *ctx, const void *data, size_t len);

/* Pads the message, writes its digest to <out>; <ctx> must be re-initialised
 * before reuse. */
void sha256_final(struct sha256 *ctx, uint8_t out[SHA256_DIGEST_LEN]);

/* Writes the lowercase hex form of <digest> to <hex> plus a NUL byte. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN + 1]);

#endif

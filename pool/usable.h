/* usable.h - the bytes the allocator really sets aside for a block.
 *
 * Contract
 * --------
 * The memory accounts that count blocks without a size header in front
 * of them (the HTTP/2 heap of mux/h2_conn.c, OpenSSL's heap of
 * engine/core/tlsmem.c) count each block at its usable size, read back
 * with malloc_usable_size() when the block is freed or resized.
 * usable_size_new() gives that same figure for a block just returned by
 * malloc(<asked>) or realloc(..., <asked>): with jemalloc it is the size
 * class of <asked>, computed without looking the block up (nallocx()
 * returns exactly what malloc_usable_size() will later read); with any
 * other allocator it is read from the block. usable_free() frees a block
 * whose usable size the caller has just read for its account: jemalloc
 * is then told the size and spared a second look-up of the block.
 */
#ifndef SLUICE_POOL_USABLE_H
#define SLUICE_POOL_USABLE_H

#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#ifdef SLUICE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static inline size_t usable_size_new(void *p, size_t asked)
{
#ifdef SLUICE_JEMALLOC
	(void)p;
	return nallocx(asked ? asked : 1, 0);
#else
	(void)asked;
	return malloc_usable_size(p);
#endif
}

static inline void usable_free(void *p, size_t usable)
{
#ifdef SLUICE_JEMALLOC
	sdallocx(p, usable, 0);
#else
	(void)usable;
	free(p);
#endif
}

#endif /* SLUICE_POOL_USABLE_H */

/* usable.h - blocks counted at the bytes the allocator really sets aside.
 *
 * Contract
 * --------
 * The memory accounts that count blocks without a size header in front
 * of them (the HTTP/2 heap of mux/h2_conn.c, OpenSSL's heap of
 * engine/core/tlsmem.c) count each block at its usable size: the size
 * class it was given, read back when the block is freed or resized.
 *
 * Such a block is made, sized and freed by one allocator family, through
 * these functions only:
 *   usable_malloc(n)           a block of at least n bytes (n may be 0);
 *   usable_size(p)             its usable size;
 *   usable_size_new(p, asked)  the same for a block just returned for
 *                              <asked> bytes, computed without looking it
 *                              up where the allocator allows;
 *   usable_free(p, usable)     frees it, <usable> being usable_size(p).
 *
 * With jemalloc they call jemalloc's own API (mallocx, sallocx, nallocx,
 * sdallocx), never malloc(), malloc_usable_size() or free(). The loader
 * binds those three to the first library of the process that defines
 * them: in the sluice binary that is jemalloc, but a program embedding
 * libsluice usually has the C library first, and a jemalloc block sized
 * or freed by the C library's functions (or the reverse) corrupts both
 * heaps. jemalloc's own names exist only in jemalloc. Without jemalloc,
 * malloc(), malloc_usable_size() and free().
 */
#ifndef SLUICE_POOL_USABLE_H
#define SLUICE_POOL_USABLE_H

#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#ifdef SLUICE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static inline void *usable_malloc(size_t n)
{
#ifdef SLUICE_JEMALLOC
	return mallocx(n ? n : 1, 0);  /* mallocx(0) is undefined */
#else
	return malloc(n);
#endif
}

static inline size_t usable_size(void *p)
{
#ifdef SLUICE_JEMALLOC
	return sallocx(p, 0);
#else
	return malloc_usable_size(p);
#endif
}

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

/* tlsmem.c - OpenSSL's heap, counted (see tlsmem.h). */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <openssl/crypto.h>
#ifdef SLUICE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include "engine/core/tlsmem.h"
#include "pool/usable.h"

/* How often a thread about to sleep gives its cache of OpenSSL blocks
 * back to OpenSSL's arena (tlsmem_idle). */
#define TLSMEM_FLUSH_MS 1000

/* Process-global because OpenSSL's allocator is (see tlsmem.h). */
static pthread_once_t tlsmem_once = PTHREAD_ONCE_INIT;
static int tlsmem_ok;                       /* written once under tlsmem_once, atomic reads */
static struct tlsmem_cnt tlsmem_shared;     /* unbound threads, atomic adds */
static __thread struct tlsmem_cnt *tlsmem_cur;

#ifdef SLUICE_JEMALLOC
/* OpenSSL's own jemalloc arena (see tlsmem.h for why): MALLOCX_ARENA of
 * it, or 0 when none could be made and OpenSSL shares the default ones. */
static int tlsmem_arena_flags;              /* written once under tlsmem_once, atomic reads */
static __thread unsigned tlsmem_tcache;     /* the thread's explicit tcache id + 1, 0: none */
static __thread uint64_t tlsmem_flush_ms;   /* last tlsmem_idle() flush */

/* Returns the mallocx() flags of an OpenSSL block for the calling thread:
 * OpenSSL's arena, through the thread's own cache of OpenSSL blocks (its
 * implicit tcache would mix them with everything else's) or, on threads
 * that have none, no cache at all. */
static inline int tlsmem_xflags(void)
{
	unsigned tc = tlsmem_tcache;

	return __atomic_load_n(&tlsmem_arena_flags, __ATOMIC_ACQUIRE) |
	       (tc ? MALLOCX_TCACHE(tc - 1) : MALLOCX_TCACHE_NONE);
}

/* Writes <val> to the ssize_t setting "arena.<a>.<name>". Returns 0 on
 * success, non-zero otherwise. */
static int tlsmem_arena_set(unsigned a, const char *name, ssize_t val)
{
	char key[64];

	snprintf(key, sizeof(key), "arena.%u.%s", a, name);
	return mallctl(key, NULL, NULL, &val, sizeof(val));
}

/* Makes OpenSSL's arena: pages it empties go back to the system at once. */
static void tlsmem_arena_make(void)
{
	unsigned a;
	size_t sz = sizeof(a);

	if (mallctl("arenas.create", &a, &sz, NULL, 0))
		return;
	/* if the decay cannot be set, a separate arena still keeps OpenSSL's
	 * short-lived blocks from sharing pages with long-lived ones */
	(void)tlsmem_arena_set(a, "dirty_decay_ms", 0);
	(void)tlsmem_arena_set(a, "muzzy_decay_ms", 0);
	__atomic_store_n(&tlsmem_arena_flags, MALLOCX_ARENA(a), __ATOMIC_RELEASE);
}

/* Gives the calling thread its cache of OpenSSL blocks (if it can). */
static void tlsmem_tcache_make(void)
{
	unsigned id;
	size_t sz = sizeof(id);

	if (tlsmem_tcache || !__atomic_load_n(&tlsmem_arena_flags, __ATOMIC_ACQUIRE))
		return;
	if (!mallctl("tcache.create", &id, &sz, NULL, 0))
		tlsmem_tcache = id + 1;
}

/* Flushes (<name> "tcache.flush") or destroys ("tcache.destroy") the
 * calling thread's cache of OpenSSL blocks; its blocks go to the arena. */
static void tlsmem_tcache_ctl(const char *name)
{
	unsigned id = tlsmem_tcache - 1;

	if (tlsmem_tcache)
		(void)mallctl(name, NULL, NULL, &id, sizeof(id));
}
#endif

/* Adds <bytes> and <blocks> to the calling thread's bucket. */
static inline void tlsmem_count(int64_t bytes, int64_t blocks)
{
	struct tlsmem_cnt *c = tlsmem_cur;

	if (c) {
		/* single writer: a relaxed load+store, no locked instruction */
		__atomic_store_n(&c->bytes, __atomic_load_n(&c->bytes, __ATOMIC_RELAXED) + bytes,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&c->blocks, __atomic_load_n(&c->blocks, __ATOMIC_RELAXED) + blocks,
				 __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&tlsmem_shared.bytes, bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&tlsmem_shared.blocks, blocks, __ATOMIC_RELAXED);
}

/* CRYPTO_malloc replacement. Returns NULL for 0 bytes, as OpenSSL's own
 * does. A block counts for its usable size, what the allocator really
 * holds for it. */
static void *tlsmem_malloc(size_t n, const char *file, int line)
{
	void *p;

	(void)file;
	(void)line;
	if (!n)
		return NULL;
#ifdef SLUICE_JEMALLOC
	p = mallocx(n, tlsmem_xflags());
#else
	p = malloc(n);
#endif
	if (p)
		tlsmem_count((int64_t)usable_size_new(p, n), 1);
	return p;
}

/* CRYPTO_free replacement. */
static void tlsmem_free(void *p, const char *file, int line)
{
	size_t usable;

	(void)file;
	(void)line;
	if (!p)
		return;
	usable = usable_size(p);
	tlsmem_count(-(int64_t)usable, -1);
#ifdef SLUICE_JEMALLOC
	/* the size counted above spares jemalloc its own lookup of it */
	sdallocx(p, usable, tlsmem_xflags());
#else
	free(p);
#endif
}

/* CRYPTO_realloc replacement: NULL grows from nothing, 0 frees. On
 * failure the old block stays valid and counted. */
static void *tlsmem_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *np;

	if (!p)
		return tlsmem_malloc(n, file, line);
	if (!n) {
		tlsmem_free(p, file, line);
		return NULL;
	}
	old = usable_size(p);
#ifdef SLUICE_JEMALLOC
	np = rallocx(p, n, tlsmem_xflags());
#else
	np = realloc(p, n);
#endif
	if (!np)
		return NULL;
	tlsmem_count((int64_t)usable_size_new(np, n) - (int64_t)old, 0);
	return np;
}

/* Installs the functions; OpenSSL refuses them once it has allocated. */
static void tlsmem_install(void)
{
#ifdef SLUICE_JEMALLOC
	tlsmem_arena_make();
#endif
	__atomic_store_n(&tlsmem_ok,
			 CRYPTO_set_mem_functions(tlsmem_malloc, tlsmem_realloc, tlsmem_free) == 1,
			 __ATOMIC_RELEASE);
}

int tlsmem_init(void)
{
	(void)pthread_once(&tlsmem_once, tlsmem_install);
	return tlsmem_counted();
}

int tlsmem_counted(void)
{
	return __atomic_load_n(&tlsmem_ok, __ATOMIC_ACQUIRE);
}

void tlsmem_bind(struct tlsmem_cnt *c)
{
	tlsmem_cur = c;
#ifdef SLUICE_JEMALLOC
	if (c) {
		tlsmem_tcache_make();
		return;
	}
	tlsmem_tcache_ctl("tcache.destroy");
	tlsmem_tcache = 0;
#endif
}

void tlsmem_idle(uint64_t now_ms)
{
#ifdef SLUICE_JEMALLOC
	if (now_ms - tlsmem_flush_ms < TLSMEM_FLUSH_MS)
		return;
	tlsmem_flush_ms = now_ms;
	tlsmem_tcache_ctl("tcache.flush");
#else
	(void)now_ms;
#endif
}

void tlsmem_add_shared(struct tlsmem_cnt *sum)
{
	tlsmem_add(sum, &tlsmem_shared);
}

void tlsmem_add(struct tlsmem_cnt *sum, const struct tlsmem_cnt *c)
{
	sum->bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
	sum->blocks += __atomic_load_n(&c->blocks, __ATOMIC_RELAXED);
}

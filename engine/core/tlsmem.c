/* tlsmem.c - OpenSSL's heap, counted (see tlsmem.h). */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include "engine/core/tlsmem.h"
#include "pool/usable.h"

/* Process-global because OpenSSL's allocator is (see tlsmem.h). */
static pthread_once_t tlsmem_once = PTHREAD_ONCE_INIT;
static int tlsmem_ok;                       /* written once under tlsmem_once, atomic reads */
static struct tlsmem_cnt tlsmem_shared;     /* unbound threads, atomic adds */
static __thread struct tlsmem_cnt *tlsmem_cur;

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
	p = malloc(n);
	if (p)
		tlsmem_count((int64_t)usable_size_new(p, n), 1);
	return p;
}

/* CRYPTO_free replacement. */
static void tlsmem_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!p)
		return;
	tlsmem_count(-(int64_t)malloc_usable_size(p), -1);
	free(p);
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
	old = malloc_usable_size(p);
	np = realloc(p, n);
	if (!np)
		return NULL;
	tlsmem_count((int64_t)usable_size_new(np, n) - (int64_t)old, 0);
	return np;
}

/* Installs the functions; OpenSSL refuses them once it has allocated. */
static void tlsmem_install(void)
{
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

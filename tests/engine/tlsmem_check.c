/* tlsmem_check.c - OpenSSL's heap counted (engine/core/tlsmem.c), as a plain
 * program so that it runs under every sanitizer, TSan included.
 *
 *   tlsmem_check counted      the functions are installed before OpenSSL's
 *                             first allocation: contexts are counted, and a
 *                             block allocated on one thread and freed on
 *                             another leaves the sum exact; under jemalloc,
 *                             OpenSSL's blocks come from an arena that no
 *                             malloc() of the same thread uses
 *   tlsmem_check uncounted    OpenSSL allocated first (as in a host program
 *                             that used it before Sluice): not counted,
 *                             nothing breaks
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#ifdef SLUICE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include "engine/core/tls.h"
#include "engine/core/tlsmem.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
	__LINE__, #c); return 1; } } while (0)

#define NB_CTX 8

static struct tlsmem_cnt bucket_a, bucket_b;
static SSL_CTX *ctxs[NB_CTX];
static int arena_apart = -1;      /* make_ctxs: 1 when OpenSSL's arena is its own */

#ifdef SLUICE_JEMALLOC
/* Returns the index of the arena that holds <p>, -1 on error. */
static int arena_of(void *p)
{
	unsigned a;
	size_t sz = sizeof(a);

	return mallctl("arenas.lookup", &a, &sz, &p, sizeof(p)) ? -1 : (int)a;
}

/* Returns 1 when OpenSSL's blocks and this thread's malloc()'s come from
 * different arenas, 0 otherwise. */
static int openssl_arena_apart(void)
{
	void *mine = malloc(64), *ossl = OPENSSL_malloc(64);
	int ret = mine && ossl && arena_of(ossl) >= 0 && arena_of(mine) >= 0 &&
		  arena_of(ossl) != arena_of(mine);

	free(mine);
	OPENSSL_free(ossl);
	return ret;
}
#endif

/* Returns the sum of every bucket. */
static struct tlsmem_cnt total(void)
{
	struct tlsmem_cnt t = { 0, 0 };

	tlsmem_add(&t, &bucket_a);
	tlsmem_add(&t, &bucket_b);
	tlsmem_add_shared(&t);
	return t;
}

/* Thread A: creates contexts, counted in its own bucket. */
static void *make_ctxs(void *arg)
{
	(void)arg;
	tlsmem_bind(&bucket_a);
	for (int i = 0; i < NB_CTX; i++)
		ctxs[i] = SSL_CTX_new(TLS_server_method());
#ifdef SLUICE_JEMALLOC
	arena_apart = openssl_arena_apart();   /* through the thread's own cache */
#endif
	tlsmem_idle(0);
	tlsmem_idle(5000);                     /* flushes the cache: blocks stay valid */
	tlsmem_bind(NULL);
	return NULL;
}

/* Thread B: frees them, counted (negatively) in its bucket. */
static void *free_ctxs(void *arg)
{
	(void)arg;
	tlsmem_bind(&bucket_b);
	for (int i = 0; i < NB_CTX; i++)
		SSL_CTX_free(ctxs[i]);
	tlsmem_bind(NULL);
	return NULL;
}

static int counted(void)
{
	struct tlsmem_cnt t0, t1, t2;
	struct tls_proto_opts o;
	char err[256];
	pthread_t a, b;

	CHECK(tlsmem_counted() == 0);     /* nothing installed yet */
	CHECK(tlsmem_init() == 1);
	CHECK(tlsmem_init() == 1);        /* idempotent */
	CHECK(tlsmem_counted() == 1);
	memset(&o, 0, sizeof(o));
	o.curves = "X25519";
	CHECK(tls_proto_check(&o, 0, err, sizeof(err)) == 0);  /* initialises OpenSSL */
	t0 = total();
	CHECK(t0.bytes > 0 && t0.blocks > 0);   /* OpenSSL's global state, counted */
	CHECK(pthread_create(&a, NULL, make_ctxs, NULL) == 0);
	CHECK(pthread_join(a, NULL) == 0);
	for (int i = 0; i < NB_CTX; i++)
		CHECK(ctxs[i] != NULL);
	t1 = total();
	CHECK(__atomic_load_n(&bucket_a.bytes, __ATOMIC_RELAXED) > 1000 * NB_CTX);
	CHECK(t1.bytes > t0.bytes && t1.blocks > t0.blocks);
#ifdef SLUICE_JEMALLOC
	CHECK(arena_apart == 1);
	CHECK(openssl_arena_apart() == 1);     /* an unbound thread: no cache */
#else
	CHECK(arena_apart == -1);
#endif
	CHECK(pthread_create(&b, NULL, free_ctxs, NULL) == 0);
	CHECK(pthread_join(b, NULL) == 0);
	t2 = total();
	CHECK(__atomic_load_n(&bucket_b.bytes, __ATOMIC_RELAXED) < 0);  /* freed there */
	/* the sum is back where it was, to the byte (OpenSSL's caches of
	 * fetched algorithms were filled by the first context, before t0) */
	CHECK(t2.bytes == t0.bytes && t2.blocks == t0.blocks);
	printf("counted: OpenSSL global state %lld bytes in %lld blocks; %d contexts %lld bytes; "
	       "after freeing them on another thread %lld bytes\n", (long long)t0.bytes,
	       (long long)t0.blocks, NB_CTX, (long long)(t1.bytes - t0.bytes), (long long)t2.bytes);
	return 0;
}

static int uncounted(void)
{
	struct tls_proto_opts o;
	struct tlsmem_cnt t = { 0, 0 };
	char err[256];
	void *p = OPENSSL_malloc(16);     /* a host program's OpenSSL use */

	CHECK(p != NULL);
	CHECK(tlsmem_init() == 0);
	CHECK(tlsmem_counted() == 0);
	memset(&o, 0, sizeof(o));
	CHECK(tls_proto_check(&o, 1, err, sizeof(err)) == 0);
	tlsmem_add_shared(&t);
	CHECK(t.bytes == 0 && t.blocks == 0);
	OPENSSL_free(p);
	printf("uncounted: OpenSSL allocated first, not counted, contexts still work\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "counted") == 0)
		return counted();
	if (argc == 2 && strcmp(argv[1], "uncounted") == 0)
		return uncounted();
	fprintf(stderr, "usage: tlsmem_check counted|uncounted\n");
	return 2;
}

/* tlsmem.h - OpenSSL's heap, counted: bytes and blocks it holds now.
 *
 * OpenSSL takes its allocator through CRYPTO_set_mem_functions(), which is
 * process-wide and only accepted before OpenSSL's very first allocation.
 * This is the one process-global thing in Sluice, because OpenSSL's
 * allocator is: tlsmem_init() installs the counting functions once per
 * process (idempotent, thread-safe), and must run before the first
 * SSL_CTX; tls.c calls it first thing whenever it builds a context.
 *
 * Embedders: if the host program (or another library in it) already made
 * OpenSSL allocate before the first Sluice TLS context, OpenSSL refuses the
 * functions. Nothing breaks: OpenSSL keeps its own allocator and the stats
 * say "not counted" (tls_heap_counted 0). If Sluice installed them first,
 * the host's OpenSSL allocations are counted too (they land in the bucket
 * of threads that are not Sluice workers) and live where Sluice's do (see
 * below).
 *
 * A block counts for its usable size, which the free subtracts again, so
 * counting costs no memory (a size header would cost 16 bytes on each of
 * the ~40 blocks of an idle TLS connection, and push small blocks up a
 * size class). Blocks are made, sized and freed through jemalloc's own
 * names under jemalloc (pool/usable.h): a host program's malloc() and
 * malloc_usable_size() may be the C library's.
 *
 * Where the blocks live. Under libc (sanitizer builds) they are ordinary
 * malloc() blocks. Under jemalloc (the default build) OpenSSL gets an
 * arena of its own that returns emptied pages to the system at once
 * (decay 0), and each bound thread an explicit cache of OpenSSL blocks in
 * front of it. Why: a full handshake allocates and frees tens of KiB of
 * short-lived blocks; in the shared arenas the pages they free were
 * reused, already resident, by the long-lived blocks of idle connections
 * (HTTP/2 sessions, SSL objects), so an idle HTTPS/2 connection held
 * about 4 KiB of pages nobody used (bench/RESULTS.md section R: 23.6 KiB
 * per connection, 19.5 with the arena). Decay 0 on every arena fixed that
 * too, but made every keep-alive request refault its buffers; on
 * OpenSSL's arena alone it costs nothing measurable, as the per-thread
 * cache absorbs the handshake's churn. The cache must be an explicit one:
 * the thread's implicit tcache would hand OpenSSL's blocks to everyone
 * else's malloc() and the reverse. Threads that are not bound use the
 * arena without a cache. A thread bound before OpenSSL's arena existed
 * (tlsmem_init after its tlsmem_bind) has no cache either; it is correct,
 * only slower. Blocks may still be freed with free() by code that did not
 * allocate them through OpenSSL: jemalloc finds their arena itself. Each worker thread
 * counts into its own struct tlsmem_cnt (tlsmem_bind), written only by that
 * thread with relaxed stores: no shared cache line on the hot path. A block
 * freed by another thread than the one that allocated it makes one
 * thread's figure fall and the other's rise: only the sum means something,
 * and that sum is exact. Threads that are not bound (the main thread while
 * the configuration builds the contexts, a host's threads) count into one
 * shared bucket with atomic adds.
 */
#ifndef SLUICE_ENGINE_TLSMEM_H
#define SLUICE_ENGINE_TLSMEM_H

#include <stdint.h>

/* One thread's share: may go negative, only the sum over all is real. */
struct tlsmem_cnt {
	int64_t bytes;            /* bytes of the blocks (headers not included) */
	int64_t blocks;           /* blocks allocated and not yet freed */
};

/* Installs the counting allocator into OpenSSL if it is not done yet.
 * Returns 1 when OpenSSL's heap is counted, 0 when OpenSSL had already
 * allocated (the stats then say "not counted"). */
int tlsmem_init(void);

/* Returns 1 when OpenSSL's heap is counted (tlsmem_init ran and succeeded). */
int tlsmem_counted(void);

/* Makes the calling thread count into <c> (NULL: back to the shared
 * bucket). <c> must outlive the thread's OpenSSL calls or the next bind.
 * Under jemalloc, binding also gives the thread its cache of OpenSSL
 * blocks, and unbinding (NULL) destroys it: a thread that binds must
 * unbind before it exits, or the cache (one of jemalloc's 4095 explicit
 * ones) and the blocks in it are lost. */
void tlsmem_bind(struct tlsmem_cnt *c);

/* The calling thread is about to sleep (<now_ms>: a monotonic clock): at
 * most once a second, its cache of OpenSSL blocks goes back to OpenSSL's
 * arena, which returns the pages that empties. jemalloc collects only
 * implicit tcaches by itself; without this, an explicit one keeps what it
 * holds until the thread unbinds. No-op without jemalloc. */
void tlsmem_idle(uint64_t now_ms);

/* Adds the shared bucket to <sum> (the caller adds the bound threads'). */
void tlsmem_add_shared(struct tlsmem_cnt *sum);

/* Adds <c>, written by another thread, to <sum> (relaxed reads). */
void tlsmem_add(struct tlsmem_cnt *sum, const struct tlsmem_cnt *c);

#endif /* SLUICE_ENGINE_TLSMEM_H */

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
 * of threads that are not Sluice workers) and go to the same allocator as
 * before, as the functions only add a size header around malloc().
 *
 * The blocks come from the process allocator as before (jemalloc in the
 * default build, libc under sanitizers), unchanged: a block counts for its
 * malloc_usable_size(), which free() subtracts again, so counting costs no
 * memory (a size header would cost 16 bytes on each of the ~40 blocks of
 * an idle TLS connection, and push small blocks up a size class). Each worker thread
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
 * bucket). <c> must outlive the thread's OpenSSL calls or the next bind. */
void tlsmem_bind(struct tlsmem_cnt *c);

/* Adds the shared bucket to <sum> (the caller adds the bound threads'). */
void tlsmem_add_shared(struct tlsmem_cnt *sum);

/* Adds <c>, written by another thread, to <sum> (relaxed reads). */
void tlsmem_add(struct tlsmem_cnt *sum, const struct tlsmem_cnt *c);

#endif /* SLUICE_ENGINE_TLSMEM_H */
